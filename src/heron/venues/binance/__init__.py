"""Binance spot, USD-M and COIN-M: market-data parsing and instruments.

The same :class:`BinanceParser` turns live WebSocket text and recorded captures into
heron events (:mod:`heron.venues.binance.parse`); :class:`BinanceMarket` tells the three
venues apart and :mod:`heron.venues.binance.instruments` builds their instruments.
"""

from heron.venues.binance.instruments import (
    BinanceMarket,
    DecimalsSeen,
    inferred_instrument,
    instruments_from_exchange_info,
)
from heron.venues.binance.parse import (
    BadKind,
    BadMessage,
    BinanceParser,
    decode,
)

__all__ = [
    "BadKind", "BadMessage", "BinanceMarket", "BinanceParser", "DecimalsSeen",
    "decode", "inferred_instrument", "instruments_from_exchange_info",
]
