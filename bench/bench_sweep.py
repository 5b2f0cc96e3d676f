"""Time a 1,000-combination SMA-cross sweep on heron's vectorised path against vectorbt.

Usage::

    .venv/bin/python bench/bench_sweep.py [--bars N] [--chunk C] [--skip-vectorbt]
        [--markdown FILE]

Workload:

* Data: the peers' bars (bench/bench_backtest.py's generator: a geometric random walk
  with seed 42, 1-minute bars, prices to 8 dp), ``/tmp/peers-data/bars_N.parquet`` when
  it exists, else generated once into ``/tmp/heron-bench``.
* Grid: ``fast`` 5..54 (step 1) x ``slow`` 60..250 (step 10): 50 x 20 = 1,000
  combinations, all with fast < slow, 70 distinct SMA periods.
* Strategy: heron's ``sma_cross`` (long while SMA(fast) > SMA(slow), else flat) with a
  fixed size of 1 unit; vectorbt: ``MA.run`` for both windows, ``entries = fast > slow``,
  ``exits = ~entries``, ``Portfolio.from_signals`` with all combinations of a chunk as
  columns (bench/peers/sweep_vectorbt.py).
* Fills, the same on both sides: market orders at the signal bar's close, fee 10 bps
  of notional on every fill, no slippage, starting cash 100,000.

Measured (each after a warm-up on the first 2,000 bars that pays for numba's
compilation, which is left out): heron's :func:`heron.research.vector.sweep` over the
whole grid, indicators included; vectorbt in its own venv's process
(``bench/install_peers.sh vectorbt``), summed over chunks of ``--chunk`` combinations;
and a plain single-pass numba loop (running sums, one combination, fast=10 slow=50),
the practical speed limit of one backtest. ``bars/s`` is combinations x bars / seconds.
``trades equal`` compares round trips (an open one at the end counted) per combination
between heron and vectorbt, and ``equity`` the largest relative gap of final equity.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench_backtest import DEFAULT_DATA_DIR, cached_bars, machine_facts

ROOT = Path(__file__).resolve().parents[1]
PEERS_DATA = Path("/tmp/peers-data")
FAST = list(range(5, 55))
SLOW = list(range(60, 260, 10))
CASH, FEE_BPS, QTY = 100_000.0, 10.0, 1


def grid() -> list[dict[str, int]]:
    return [{"fast": f, "slow": s, "quantity": QTY} for f in FAST for s in SLOW]


def bars_file(n: int, data_dir: Path) -> Path:
    peers = PEERS_DATA / f"bars_{n}.parquet"
    return peers if peers.exists() else cached_bars(n, data_dir)


def run_heron(path: Path, combos: list[dict[str, int]]) -> dict[str, Any]:
    from heron.research.vector import BarArrays, Costs, sweep
    from heron.strategy.library.sma_cross import SmaCross

    bars = BarArrays.from_file(path)
    costs = Costs(cash=CASH, fee_bps=FEE_BPS, fill="close")
    sweep(bars.window(None, int(bars.ts[2_000])), SmaCross, combos[:2], costs)  # compile
    start = time.perf_counter()
    rows = sweep(bars, SmaCross, combos, costs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bars": len(bars),
            "trades": [r.trades + r.open_trades for r in rows],
            "final_equity": [r.final_equity for r in rows]}


def run_reference(path: Path) -> dict[str, Any]:
    from heron.research.vector import BarArrays
    from heron.research.vector_kernels import sma_cross_reference

    close = BarArrays.from_file(path).close
    fee = FEE_BPS / 10_000
    sma_cross_reference(close[:2_000], 10, 50, CASH, fee, 1.0)  # compile
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        trades, final = sma_cross_reference(close, 10, 50, CASH, fee, 1.0)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "bars": len(close), "trades": [trades], "final_equity": [final]}


def run_vectorbt(path: Path, combos: list[dict[str, int]], chunk: int) -> dict[str, Any] | str:
    python = ROOT / ".bench-venvs" / "vectorbt" / "bin" / "python"
    if not python.exists():
        return "skipped: no venv (run bench/install_peers.sh vectorbt)"
    spec = {"fast": [c["fast"] for c in combos], "slow": [c["slow"] for c in combos],
            "fee": FEE_BPS / 10_000, "cash": CASH, "qty": QTY}
    grid_file = DEFAULT_DATA_DIR / f"sweep_grid_{os.getpid()}.json"
    grid_file.parent.mkdir(parents=True, exist_ok=True)
    grid_file.write_text(json.dumps(spec))
    try:
        done = subprocess.run(
            [str(python), str(ROOT / "bench" / "peers" / "sweep_vectorbt.py"),
             "--bars-file", str(path), "--grid-file", str(grid_file), "--chunk", str(chunk)],
            capture_output=True, text=True, timeout=3600, check=False)
    finally:
        grid_file.unlink(missing_ok=True)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def table(n: int, combos: int, heron: dict[str, Any], ref: dict[str, Any],
          vbt: dict[str, Any] | str) -> str:
    def rate(row: dict[str, Any], k: int) -> float:
        return float(k * row["bars"] / row["seconds"])

    heron_rate = rate(heron, combos)
    lines = ["| engine | combinations | bars | seconds | bars/s (combos x bars / s) "
             "| heron x | trades equal to heron | final equity, max rel. gap |",
             "|---|---|---|---|---|---|---|---|"]
    lines.append(f"| heron vectorised sweep | {combos:,} | {n:,} | {heron['seconds']:.3f} | "
                 f"{heron_rate:,.0f} | 1.0 | | |")
    if isinstance(vbt, str):
        lines.append(f"| vectorbt | {combos:,} | {n:,} | {vbt} | | | | |")
    else:
        same = sum(a == b for a, b in zip(heron["trades"], vbt["trades"], strict=True))
        gap = float(np.max(np.abs(np.array(vbt["final_equity"]) / np.array(
            heron["final_equity"]) - 1.0)))
        lines.append(
            f"| vectorbt {vbt['version']} (chunks of {vbt['chunk']}, peak "
            f"{vbt['peak_mib']:,.0f} MiB) | {combos:,} | {n:,} | {vbt['seconds']:.2f} | "
            f"{rate(vbt, combos):,.0f} | {heron_rate / rate(vbt, combos):.1f} | "
            f"{same:,} of {combos:,} | {gap:.1e} |")
    lines.append(f"| numba single-pass loop (fast=10, slow=50) | 1 | {n:,} | "
                 f"{ref['seconds']:.5f} | {rate(ref, 1):,.0f} | "
                 f"{heron_rate / rate(ref, 1):.2f} | | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100, help="vectorbt columns per run")
    parser.add_argument("--skip-vectorbt", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    path = bars_file(args.bars, args.data_dir)
    combos = grid()
    print(f"heron sweep: {len(combos):,} combinations on {path} ...", file=sys.stderr)
    heron = run_heron(path, combos)
    heron_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ref = run_reference(path)
    vbt: dict[str, Any] | str = "skipped (--skip-vectorbt)"
    if not args.skip_vectorbt:
        print("vectorbt sweep ...", file=sys.stderr)
        vbt = run_vectorbt(path, combos, args.chunk)
    facts = machine_facts()
    command = " ".join(["python bench/bench_sweep.py", *(argv or sys.argv[1:])])
    report = (f"`{command}` on {facts['date']}: {facts['cores']} cores, {facts['cpu']}, "
              f"{facts['memory']}, Python {facts['python']}; data {path.name}; heron peak "
              f"{heron_peak:,.0f} MiB\n\n" + table(heron["bars"], len(combos), heron, ref, vbt))
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
