"""Time heron's event-driven backtest against peer backtesters on one shared workload.

Usage::

    .venv/bin/python bench/bench_backtest.py [--bars N] [--only heron,backtesting]
        [--skip-slow] [--repeat K] [--warmup W] [--markdown FILE]

Workload (identical for every engine):

* Data: N synthetic 1-minute bars (default 1,000,000), a geometric random walk with seed
  42: close = 100·exp(cumsum N(0, 0.001)); open = previous close·exp(N(0, 0.0002)) (the
  first bar's previous close is 100); high = max(open, close)·exp(|N(0, 0.0005)|), low =
  min(open, close)·exp(−|N(0, 0.0005)|); volume a whole number in [1, 10,000); prices
  rounded to 8 dp; timestamps every minute from 2020-01-01T00:00Z. Each column draws from
  its own child of SeedSequence(42), so a shorter series is a prefix of a longer one.
  Written once to ``<data-dir>/bars_N.parquet`` (default /tmp/heron-bench) and read by
  each engine's process before its timer starts.
* Strategy: fast = SMA(close, 10), slow = SMA(close, 50). From bar 49, the first with a
  full slow window: fast > slow → long a fixed 1 unit, otherwise flat. (Fixed size, not
  all-in: all-in sizing drives equity to ~1e-8 over 1M bars and the comparison then
  measures float range effects, not logic.)
* Fills: market orders fill at the close of the signal bar; fee 0.1% of notional on
  every fill; no slippage; starting cash 100,000.
* Trades = round trips, an open one at the end included. Final equity = cash + position
  marked at the last close (no exit fee for an open position).

Measurement: every engine runs in its own subprocess with its own interpreter (heron in
``.venv``, each peer in ``.bench-venvs/<peer>``, made by ``bench/install_peers.sh``; a
peer without a venv is skipped with a note). ``seconds`` is the full backtest from the
engine's natural in-memory input (a polars DataFrame for heron, a pandas DataFrame for
the peers) to its results, the engine's own data conversion included, after an untimed
warm-up run on the first W bars (default 2,000). ``peak MiB`` is the process's
``ru_maxrss`` (interpreter, imports, data and backtest). With ``--repeat K`` each engine
runs K times in fresh processes: best seconds, highest peak. ``agrees`` means the same
trade count and final equity within 1e-6 relative of heron (of the exact numpy
``reference`` when heron did not run). ``heron ×`` is heron's bars/s over the engine's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

# Run as a script, so bench/ is on sys.path.
from bench_report import write_report
from bench_support import ENGINES, Engine, Row, run_engine_best

DEFAULT_DATA_DIR = Path("/tmp/heron-bench")
SEED = 42
START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
MINUTE_NS = 60 * 1_000_000_000


def generate_bars(n: int, seed: int = SEED) -> pl.DataFrame:
    """The synthetic random-walk bars described in the module docstring."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    close = np.round(100.0 * np.exp(np.cumsum(streams[0].normal(0.0, 0.001, n))), 8)
    previous = np.concatenate(([100.0], close[:-1]))
    open_ = np.round(previous * np.exp(streams[1].normal(0.0, 0.0002, n)), 8)
    up = np.abs(streams[2].normal(0.0, 0.0005, n))
    down = np.abs(streams[3].normal(0.0, 0.0005, n))
    high = np.round(np.maximum(open_, close) * np.exp(up), 8)
    low = np.round(np.minimum(open_, close) * np.exp(-down), 8)
    volume = streams[4].integers(1, 10_000, n).astype(np.float64)
    start_ns = int(START.timestamp()) * 1_000_000_000
    ts = start_ns + np.arange(n, dtype=np.int64) * MINUTE_NS
    return pl.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


def cached_bars(n: int, data_dir: Path) -> Path:
    """Path of the parquet file with ``n`` bars, generating it on first use."""
    path = data_dir / f"bars_{n}.parquet"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        generate_bars(n).write_parquet(partial)
        partial.replace(path)
    return path


def select_engines(only: str | None) -> list[Engine]:
    """The engines named by --only (all by default), in table order."""
    known = {engine.name: engine for engine in ENGINES}
    if only:
        names = [name.strip() for name in only.split(",") if name.strip()]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise SystemExit(f"unknown engine(s) {unknown}; known: {', '.join(known)}")
        return [engine for engine in ENGINES if engine.name in names]
    return list(ENGINES)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="number of 1-minute bars")
    parser.add_argument(
        "--only", help="comma-separated engines: " + ",".join(e.name for e in ENGINES)
    )
    parser.add_argument(
        "--skip-slow", action="store_true", help="skip backtrader and NautilusTrader"
    )
    parser.add_argument("--repeat", type=int, default=1, help="best of K fresh runs")
    parser.add_argument(
        "--warmup", type=int, default=2_000, help="untimed warm-up run on W bars (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--markdown", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    if args.bars < 100 or args.repeat < 1 or args.warmup < 0:
        parser.error("need --bars >= 100, --repeat >= 1 and --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    engines = select_engines(args.only)
    bars_file = cached_bars(args.bars, args.data_dir)
    rows: list[Row] = []
    for engine in engines:
        if args.skip_slow and engine.slow:
            rows.append(Row(engine, args.bars, note="skipped (--skip-slow)"))
            continue
        print(f"running {engine.name} on {args.bars:,} bars ...", file=sys.stderr, flush=True)
        rows.append(
            run_engine_best(
                engine,
                bars_file,
                bars=args.bars,
                repeat=args.repeat,
                warmup=args.warmup,
                timeout=args.timeout,
            )
        )
    command = " ".join(["python bench/bench_backtest.py", *(argv or sys.argv[1:])])
    write_report(rows, command, machine_facts(), args.markdown)
    return 0


def machine_facts() -> dict[str, str]:
    """Cores, CPU, memory, Python and date, for the report header."""
    cpu = "unknown"
    memory = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                cpu,
            )
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kib = int(handle.readline().split()[1])
            memory = f"{kib / 1024**2:.0f} GiB"
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


if __name__ == "__main__":
    sys.exit(main())
