"""heron on the benchmark workload: ``heron.backtest`` with the built-in sma_cross strategy.

Input is the polars DataFrame read from the cached parquet (ts int64 ns, open, high,
low, close, volume); everything heron does with it, conversion included, is timed.
"""

from __future__ import annotations

import sys

import common
import polars as pl


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("heron")
    except PackageNotFoundError:
        return "unknown"


def _load(path: str) -> pl.DataFrame:
    return pl.read_parquet(path)


def _head(bars: pl.DataFrame, n: int) -> pl.DataFrame:
    return bars.head(n)


def _run(bars: pl.DataFrame) -> common.Outcome:
    import heron

    result = heron.backtest(
        bars,
        strategy="sma_cross",
        params={"fast": common.FAST, "slow": common.SLOW, "quantity": str(common.QUANTITY)},
        symbol="SYN",
        cash=str(common.CASH),
        fee_bps=str(round(common.FEE_RATE * 10_000)),
        fill="close",
        lot_size="1",
        tick_size="0.00000001",
    )
    return result.trades.height + result.open_trades, result.final_equity


if __name__ == "__main__":
    sys.exit(common.main("heron", _version, load=_load, head=_head, run=_run))
