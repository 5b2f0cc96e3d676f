"""Market data events. Prices are ``int`` ticks and sizes ``int`` lots of ``instrument``.

``Bar`` is built once per bar in a backtest's hot loop, so it is a compact positional
struct; the ``*_price`` helpers turn ticks into ``Decimal`` when a strategy needs them.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from heron.model.instrument import Instrument


class Bar(msgspec.Struct, frozen=True, gc=False):
    """One OHLCV bar; ``ts`` is the bar's *open* time, ``index`` its position in the series."""

    instrument: Instrument
    ts: int
    index: int
    open: int
    high: int
    low: int
    close: int
    volume: float

    @property
    def close_price(self) -> Decimal:
        return self.instrument.price(self.close)

    @property
    def open_price(self) -> Decimal:
        return self.instrument.price(self.open)


class Trade(msgspec.Struct, frozen=True, gc=False):
    instrument: Instrument
    ts_event: int
    ts_recv: int
    price: int
    size: int
    aggressor: str  # "buy", "sell" or ""
    trade_id: str = ""


class Quote(msgspec.Struct, frozen=True, gc=False):
    instrument: Instrument
    ts_event: int
    ts_recv: int
    bid: int
    ask: int
    bid_size: int
    ask_size: int


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    """A funding rate that applies at ``ts_event`` (a decimal string, e.g. ``"0.0001"``)."""

    instrument: Instrument
    ts_event: int
    rate: str
