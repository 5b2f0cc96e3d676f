"""Shared plumbing for the per-engine benchmark scripts in bench/peers/.

Every ``peer_<name>.py`` runs in its own interpreter (heron's venv, or the peer's venv
under ``.bench-venvs/``), so this module uses the standard library only; pandas is
imported lazily by :func:`load_pandas`, for the peers that take a DataFrame.

Protocol (read by bench/bench_backtest.py)::

    python bench/peers/peer_<name>.py --bars-file PATH [--warmup W]
    -> one JSON line {engine, version, bars, seconds, trades, final_equity}
    python bench/peers/peer_<name>.py --version
    -> the engine's version string

``final_equity`` is a decimal string, so heron's exact Decimal survives the trip.
``seconds`` covers only the backtest of the full series: loading the parquet file and
a warm-up run on the first W bars (default 2,000, which pays for lazy imports and any
JIT compilation) come before the timer starts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sized
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import pandas as pd

# The workload: SMA(close, FAST) / SMA(close, SLOW) cross, long QUANTITY units or flat.
FAST = 10
SLOW = 50
QUANTITY = 1
CASH = 100_000
FEE_RATE = 0.001  # 10 bps of notional on every fill
DEFAULT_WARMUP = 2_000

Data = TypeVar("Data", bound=Sized)
Outcome = tuple[int, float | Decimal]  # (round trips, final equity)


def load_pandas(path: str) -> pd.DataFrame:
    """Read the cached bars as a pandas DataFrame with a tz-naive DatetimeIndex.

    Columns: open, high, low, close, volume (float64). The index is tz-naive because
    some engines spend seconds converting a tz-aware index element by element.
    """
    import pandas as pd

    frame = pd.read_parquet(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("ts").to_numpy(), unit="ns"), name="ts")
    frame.index = index
    return frame[["open", "high", "low", "close", "volume"]].astype("float64")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run one engine on the benchmark workload.")
    parser.add_argument("--bars-file", help="parquet file written by bench_backtest.py")
    parser.add_argument(
        "--warmup",
        type=int,
        default=DEFAULT_WARMUP,
        help="untimed run on this many leading bars first (0: none)",
    )
    parser.add_argument("--version", action="store_true", help="print the engine version")
    return parser.parse_args(argv)


def main(
    engine: str,
    version: Callable[[], str],
    *,
    load: Callable[[str], Data],
    head: Callable[[Data, int], Data],
    run: Callable[[Data], Outcome],
    argv: list[str] | None = None,
) -> int:
    """Load the bars, warm up, time one full backtest and print the JSON line."""
    args = _parse_args(argv)
    if args.version:
        print(version())
        return 0
    if not args.bars_file:
        print("--bars-file is required", file=sys.stderr)
        return 2
    data = load(args.bars_file)
    bars = len(data)
    if args.warmup > 0:
        run(head(data, min(args.warmup, bars)))
    start = time.perf_counter()
    trades, final_equity = run(data)
    seconds = time.perf_counter() - start
    record = {
        "engine": engine,
        "version": version(),
        "bars": bars,
        "seconds": seconds,
        "trades": trades,
        "final_equity": str(final_equity)
        if isinstance(final_equity, Decimal)
        else repr(float(final_equity)),
    }
    print(json.dumps(record), flush=True)
    return 0
