"""Exact vectorised reference for the benchmark workload (numpy, integer arithmetic).

Not an engine: a referee. Prices have 8 decimals, so they are exact as integer
1e-8 units; the SMA cross compares window sums (fast/10 > slow/50 <=> 5*fast > slow)
without rounding, and the final equity is assembled in Decimal. It runs in heron's venv.
"""

from __future__ import annotations

import sys
from decimal import Decimal

import common
import numpy as np
import numpy.typing as npt
import polars as pl

SCALE = 10**8


def _version() -> str:
    return f"numpy {np.__version__}"


def _load(path: str) -> npt.NDArray[np.int64]:
    close = pl.read_parquet(path, columns=["close"])["close"].to_numpy()
    units: npt.NDArray[np.int64] = np.rint(close * SCALE).astype(np.int64)
    return units


def _head(close: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.int64]:
    return close[:n]


def _run(close: npt.NDArray[np.int64]) -> common.Outcome:
    n = len(close)
    sums = np.concatenate(([0], np.cumsum(close)))
    index = np.arange(common.SLOW - 1, n)
    fast = sums[index + 1] - sums[index + 1 - common.FAST]
    slow = sums[index + 1] - sums[index + 1 - common.SLOW]
    long = np.zeros(n, dtype=np.int8)
    long[index] = common.SLOW * fast > common.FAST * slow
    step = np.diff(long, prepend=np.int8(0))
    entries = int(close[step == 1].sum())
    exits = int(close[step == -1].sum())
    still_open = int(long[-1]) if n else 0
    qty = common.QUANTITY
    notional_units = qty * (entries + exits)
    fee = Decimal(str(common.FEE_RATE)) * notional_units / SCALE
    pnl = Decimal(qty * (exits - entries + still_open * int(close[-1]))) / SCALE
    return int((step == 1).sum()), common.CASH + pnl - fee


if __name__ == "__main__":
    sys.exit(common.main("reference", _version, load=_load, head=_head, run=_run))
