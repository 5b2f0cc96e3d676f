"""Bars as plain float64 columns for the vectorised fast path.

The event engine turns prices into integer ticks on the instrument's grid; the fast
path works on the float columns the bar readers produce (the same values the event
strategies' indicators read) and keeps ``price_decimals`` so that it can put fills
on the same tick grid. Read once, then cut windows out of it for free (views).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from heron.data.bars import BarFrame, read_bars
from heron.errors import InvalidConfiguration

_INT64 = np.iinfo(np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class BarArrays:
    """One instrument's bars: ``ts`` (int64 ns) and float64 OHLCV, time-ordered."""

    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    price_decimals: int = 8
    symbol: str = "DATA"

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_frame(cls, bars: BarFrame, symbol: str | None = None) -> BarArrays:
        """From checked bars (:func:`heron.data.bars.read_bars` / ``bars_from_frame``)."""
        frame = bars.frame

        def col(name: str) -> NDArray[np.float64]:
            return np.ascontiguousarray(frame[name].to_numpy(), dtype=np.float64)

        return cls(ts=np.ascontiguousarray(frame["ts"].to_numpy(), dtype=np.int64),
                   open=col("open"), high=col("high"), low=col("low"), close=col("close"),
                   volume=col("volume"), price_decimals=bars.price_decimals,
                   symbol=symbol or bars.symbol or "DATA")

    @classmethod
    def from_file(cls, path: str | Path, symbol: str | None = None,
                  start_ns: int | None = None, end_ns: int | None = None) -> BarArrays:
        """Read and check a bar file (any format ``read_bars`` takes), optionally windowed.

        The symbol defaults to the file's own, else the first part of its name, as
        :func:`heron.node.api.backtest` names it.
        """
        bars = read_bars(path)
        name = symbol or bars.symbol or Path(str(path)).name.split(".")[0].split("_")[0]
        return cls.from_frame(bars, name).window(start_ns, end_ns)

    def window(self, start_ns: int | None = None, end_ns: int | None = None) -> BarArrays:
        """The bars with ``start_ns <= ts < end_ns`` (views, no copy).

        Cut before any indicator runs, so nothing outside the window is seen; fewer
        than two bars is an error naming the window.
        """
        if start_ns is None and end_ns is None:
            return self
        lo = int(np.searchsorted(self.ts, start_ns if start_ns is not None else _INT64.min,
                                 side="left"))
        hi = int(np.searchsorted(self.ts, end_ns if end_ns is not None else _INT64.max,
                                 side="left"))
        if hi - lo < 2:
            raise InvalidConfiguration(
                f"the window [{start_ns}, {end_ns}) holds {max(hi - lo, 0)} bars of "
                f"{self.symbol}; widen it or check the data's time range")
        cut = slice(lo, hi)
        return BarArrays(ts=self.ts[cut], open=self.open[cut], high=self.high[cut],
                         low=self.low[cut], close=self.close[cut], volume=self.volume[cut],
                         price_decimals=self.price_decimals, symbol=self.symbol)
