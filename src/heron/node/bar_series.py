"""Bars turned into what the backtest loop reads: integer ticks on the instrument grid.

Prices arrive as float64 columns (parsed from text by the readers); each is scaled
to ticks and checked to lie on the grid, so an off-grid price is an error naming the
bar, never a silently rounded fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.errors import DataError
from heron.model.instrument import Instrument

_PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One instrument's bars as NumPy arrays: ``ts`` ns, prices in ticks, float volume."""

    instrument: Instrument
    ts: NDArray[np.int64]
    open: NDArray[np.int64]
    high: NDArray[np.int64]
    low: NDArray[np.int64]
    close: NDArray[np.int64]
    volume: NDArray[np.float64]
    prices: dict[str, NDArray[np.float64]]  # float prices for indicators ("close", ...)

    def __len__(self) -> int:
        return len(self.ts)


def bar_series(frame: pl.DataFrame, instrument: Instrument, source: str) -> BarSeries:
    """Convert a validated bar frame (ts, open, high, low, close, volume) to ticks."""
    ts = frame["ts"].to_numpy().astype(np.int64, copy=False)
    prices = {name: frame[name].to_numpy().astype(np.float64, copy=False)
              for name in _PRICE_COLUMNS}
    ticks = {name: to_ticks(prices[name], instrument, name, ts, source)
             for name in _PRICE_COLUMNS}
    volume = frame["volume"].to_numpy().astype(np.float64, copy=False)
    prices = {**prices, "volume": volume}
    return BarSeries(instrument, ts, ticks["open"], ticks["high"], ticks["low"],
                     ticks["close"], volume, prices)


def to_ticks(values: NDArray[np.float64], inst: Instrument, column: str,
             ts: NDArray[np.int64], source: str) -> NDArray[np.int64]:
    """Exact ticks of float prices; DataError naming the first price off the grid."""
    scaled = values * float(10 ** inst.price_precision)
    raw = np.rint(scaled)
    bad = np.abs(scaled - raw) > 1e-6 * np.maximum(1.0, np.abs(raw)) + 1e-3
    raw_int = raw.astype(np.int64)
    if inst.tick_raw != 1:
        bad |= (raw_int % inst.tick_raw) != 0
    if bad.any():
        i = int(np.argmax(bad))
        when = datetime.fromtimestamp(int(ts[i]) / 1e9, tz=UTC).isoformat()
        raise DataError(
            f"{source}: {column} price {Decimal(repr(float(values[i])))} at {when} is not a "
            f"multiple of the tick {inst.price_increment} of {inst.symbol}; pass a finer "
            "--tick-size")
    return raw_int // inst.tick_raw
