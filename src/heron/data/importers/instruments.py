"""Instruments for imported files: venue, kind and grid from hints and what the file shows.

Files rarely state their instrument's tick and lot; importers pass what they saw (the
most decimals written) and what the user gave, and these functions build the
:class:`~heron.model.instrument.Instrument` the catalog stores beside the rows.
"""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl

from heron.data.bar_columns import float_decimals
from heron.data.bars import BarFrame
from heron.data.importers.batch import ImportBatch
from heron.data.importers.text_columns import (
    Hints,
    frame_of,
)
from heron.data.schemas import DataKind, to_grid
from heron.errors import DataError
from heron.model.instrument import Instrument, InstrumentKind

FINE_INCREMENT = Decimal("0.00000001")
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "JPY", "AUD", "CAD",
           "CHF", "TRY", "BRL", "BTC", "ETH", "BNB")
_DERIVATIVE_VENUE_WORDS = ("USDM", "COINM", "FUTURES", "PERP", "SWAP", "DELIVERY", "DERIV",
                           "BITMEX", "DERIBIT")




def quote_currency(symbol: str) -> str:
    """The quote currency a symbol spells (``XRP/ETH`` ETH, ``BTCUSDT`` USDT), else USD.

    ccxt-style symbols say it after the slash; concatenated ones end with it, or carry
    it as their second ``-``/``_`` part (``BTC-USDT-SWAP``).
    """
    pair = symbol.split(":", maxsplit=1)[0]
    if "/" in pair:
        return pair.split("/")[1].upper()
    parts = re.split(r"[-_]", pair.upper())
    if len(parts) > 1 and parts[1] in _QUOTES:
        return parts[1]
    head = parts[0]
    return next((q for q in _QUOTES if head.endswith(q) and len(head) > len(q)), "USD")


def is_derivative(venue: str, symbol: str) -> bool:
    """Whether the venue or symbol names a futures/perpetual market."""
    upper = venue.upper()
    return (any(word in upper for word in _DERIVATIVE_VENUE_WORDS) or ":" in symbol
            or "PERP" in symbol.upper() or "SWAP" in symbol.upper())


def increment(given: Decimal | None, decimals: int | None) -> Decimal:
    """The caller's increment, else ``10**-decimals``, else :data:`FINE_INCREMENT`."""
    if given is not None:
        return given
    return FINE_INCREMENT if decimals is None else Decimal(1).scaleb(-decimals)


def make_instrument(hints: Hints, *, symbol: str, venue: str, derivative: bool,
                    price_places: int | None, size_places: int | None) -> Instrument:
    """The instrument of an import: grid from the caller or the file, kind from the market.

    A derivative is stored as a linear perpetual, the only derivative kind heron has.
    """
    perpetual = derivative or is_derivative(venue, symbol)
    return Instrument(
        symbol=symbol, venue=venue,
        kind=InstrumentKind.LINEAR_PERPETUAL if perpetual else InstrumentKind.SPOT,
        price_increment=increment(hints.tick_size, price_places),
        size_increment=increment(hints.lot_size, size_places),
        quote_currency=quote_currency(symbol))


# -- bars -----------------------------------------------------------------------------------
def bar_interval(ts: pl.Series, name: str) -> int:
    """The bars' length: the median spacing of their opens (gaps do not move it)."""
    if ts.len() < 2:
        raise DataError(f"{name}: one bar only, so its length cannot be told from the "
                        "spacing; import a file with at least two bars")
    steps = ts.diff().drop_nulls().sort()
    return int(steps[steps.len() // 2])


def bars_instrument(bars: BarFrame, hints: Hints, *, symbol: str, venue: str,
                    derivative: bool) -> Instrument:
    """Tick from the decimals the source wrote; lot from the fewest that hold the volume."""
    volume = bars.frame["volume"]
    lot_places = float_decimals(volume) if bool((volume != 0).any()) else None
    return make_instrument(hints, symbol=symbol, venue=venue, derivative=derivative,
                           price_places=bars.price_decimals, size_places=lot_places)


def bars_batch(bars: BarFrame, instrument: Instrument) -> ImportBatch:
    """Checked float bars as catalog bars: ``ts_recv`` is each bar's close."""
    ts = bars.frame["ts"]
    interval = bar_interval(ts, bars.source)
    tick, what = instrument.price_increment, bars.source
    columns: dict[str, pl.Series | int] = {
        "ts_event": ts, "ts_recv": ts + interval, "interval_ns": interval}
    for name in ("open", "high", "low", "close"):
        columns[name] = to_grid(bars.frame[name], tick, what=f"{what}: {name}")
    columns["volume"] = to_grid(bars.frame["volume"], instrument.size_increment,
                                what=f"{what}: volume")
    return ImportBatch(instrument, DataKind.BARS, frame_of(DataKind.BARS, columns), what)


def mark_batch(bars: BarFrame, instrument: Instrument) -> ImportBatch:
    """Mark-price candles as mark rows: each close, stamped at the candle's close.

    The close is the mark at the end of the candle; stamping it at the open would show a
    price before it existed.
    """
    ts = bars.frame["ts"] + bar_interval(bars.frame["ts"], bars.source)
    price = to_grid(bars.frame["close"], instrument.price_increment,
                    what=f"{bars.source}: close")
    frame = frame_of(DataKind.MARK, {"ts_event": ts, "ts_recv": ts, "price": price})
    return ImportBatch(instrument, DataKind.MARK, frame, bars.source)


# -- generic CSV ------------------------------------------------------------------------------
