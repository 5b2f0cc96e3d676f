"""Hyperliquid perpetuals: market-data parsing.

:class:`HyperliquidParser` turns the public WebSocket's text (live or recorded) into
heron events, for instruments keyed by coin name (``BTC``); see
:mod:`heron.venues.hyperliquid.parse` for what each channel becomes and what the venue
does not publish.
"""

from heron.venues.hyperliquid.parse import (
    BOOK_SEQUENCE,
    BadKind,
    BadMessage,
    HyperliquidParser,
    decode,
    next_funding_ns,
)

__all__ = [
    "BOOK_SEQUENCE", "BadKind", "BadMessage", "HyperliquidParser", "decode", "next_funding_ns",
]
