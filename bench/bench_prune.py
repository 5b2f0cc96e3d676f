"""Trials per second of ``heron optimize`` with and without pruning, on real bars.

Usage::

    .venv/bin/python bench/bench_prune.py [--trials 48] [--engine event|vector]

Workload: data/btc-perp-20211231-20220201_1m.csv.gz (one month of BTC perpetual 1m
bars, 44,640 bars), ``sma_cross`` long-short, fee 4 bps, slippage 1 bp; TPE with seed 5
over ``fast`` 5..60 step 5 x ``slow`` 80..400 step 20, batches of 8, 4 checkpoints,
trials run one after the other in this process (``SerialExecutor``: the per-trial work,
without a pool's start-up). One study per pruner (none, median, successive-halving),
each after a warm-up study of one batch (imports, numba compilation). ``bars run`` is
the bars the backtests actually ran (a pruned trial stops at its checkpoint).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from heron.cli.config import BacktestConfig
from heron.research.evaluate import resolve_strategy
from heron.research.executors import SerialExecutor
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings, optimize
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
SPACE = {"fast": SpaceEntry(low=5, high=60, step=5),
         "slow": SpaceEntry(low=80, high=400, step=20)}


def _settings(config: BacktestConfig, trials: int, engine: str, pruner: str) -> StudySettings:
    return StudySettings(objectives=parse_objectives(["sharpe"]), trials=trials, seed=5,
                         space=build_space(resolve_strategy(config), config.params, SPACE),
                         sampler="tpe", batch=8, study=f"bench-{pruner}", engine=engine,
                         pruner=pruner, checkpoints=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--engine", default="event", choices=("event", "vector"))
    args = parser.parse_args()
    config = BacktestConfig(strategy="sma_cross", data=str(DATA), symbol="BTC-PERP",
                            fee_bps="4", slippage_bps="1", params={"mode": "long-short"})
    optimize(config, _settings(config, 8, args.engine, "median"), SerialExecutor())  # warm-up
    print(f"engine {args.engine}, {args.trials} trials, TPE seed 5, batches of 8\n")
    print("| pruner | trials | pruned | bars run | seconds | trials/s | × none | best sharpe |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = 0.0
    for pruner in ("none", "median", "successive-halving"):
        start = time.perf_counter()
        found = optimize(config, _settings(config, args.trials, args.engine, pruner),
                         SerialExecutor())
        seconds = time.perf_counter() - start
        rate = len(found.trials) / seconds
        base = base or rate
        pruned = sum(t.state == "PRUNED" for t in found.trials)
        bars = sum(t.bars or 0 for t in found.trials)
        best = found.best[0].values[0] if found.best and found.best[0].values else float("nan")
        print(f"| {pruner} | {len(found.trials)} | {pruned} | {bars:,} | {seconds:.2f} | "
              f"{rate:.2f} | {rate / base:.2f} | {best:.3f} |")


if __name__ == "__main__":
    main()
