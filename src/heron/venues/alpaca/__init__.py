"""Alpaca market data: the crypto stream (JSON, through ccxt.pro) and US equities (msgpack,
through alpaca-py), both turned into heron events by :class:`AlpacaParser`.

:mod:`heron.venues.alpaca.parse` holds the parser, :mod:`heron.venues.alpaca.text` the
exact reading of Alpaca's numbers (JSON numbers, msgpack floats) and RFC-3339 times.
The live feeds: :mod:`heron.venues.alpaca.feed` (crypto, ccxt.pro: ``--venue alpaca``),
:mod:`heron.venues.alpaca.stocks` (US equities, alpaca-py: ``--venue alpaca-stocks``,
``alpaca-stocks-sip``) and :mod:`heron.venues.alpaca.trading` (the keys, the trading API's
assets and market clock, an equity's tick and lot). They are imported on first use, not
here: alpaca-py imports pandas.
"""

from heron.venues.alpaca.parse import BOOK_SEQUENCE, AlpacaParser
from heron.venues.alpaca.text import rfc3339_ns
from heron.venues.wire import BadKind, BadMessage

__all__ = ["BOOK_SEQUENCE", "AlpacaParser", "BadKind", "BadMessage", "rfc3339_ns"]
