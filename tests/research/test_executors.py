"""Executors: the same results in the same order, wherever the work runs.

Workers read the bars from the path in each spec; nothing but specs and metrics cross
process boundaries. The Ray test starts a private local Ray (slow to start, so marked
slow; it still runs in ``make test``) and checks that a seeded optimisation gives the
same best parameters and metrics as the local process pool.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from heron.cli.config import BacktestConfig
from heron.errors import InvalidConfiguration
from heron.research.evaluate import TrialSpec, evaluate, resolve_strategy
from heron.research.executors import Executor, LocalExecutor, SerialExecutor, executor_for
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings, optimize
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry
from heron.research.walkforward import WalkResult, WalkSettings, walk_forward

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
CONFIG = BacktestConfig(strategy="sma_cross", data=str(DATA), symbol="BTC-PERP", fee_bps="4",
                        params={"mode": "long-short"})
DAY = 86_400 * 10**9
START = 1_640_995_200 * 10**9  # 2022-01-01
SPECS = [TrialSpec(config=CONFIG, params={**CONFIG.params, "fast": fast, "slow": 120},
                   start_ns=START, end_ns=START + 7 * DAY, engine="event")
         for fast in (5, 20, 40, 60, 10)]


def test_local_pool_matches_serial_in_item_order() -> None:
    serial = SerialExecutor().map(evaluate, SPECS)
    with LocalExecutor(workers=2) as pool:
        local = pool.map(evaluate, SPECS)
        again = pool.map(evaluate, SPECS[:2])  # the pool lives between batches
    assert [o.metrics for o in local] == [o.metrics for o in serial]
    assert [o.metrics for o in again] == [o.metrics for o in serial[:2]]
    assert len({o.metrics["sharpe"] for o in serial}) == len(SPECS)  # order is observable
    assert all(o.bars == serial[0].bars for o in serial) and serial[0].bars == 7 * 1440


def test_a_worker_error_reaches_the_caller_unchanged() -> None:
    bad = TrialSpec(config=BacktestConfig(strategy="sma_cross", data=str(ROOT / "nope.csv")),
                    params={})
    with LocalExecutor(workers=1) as pool, pytest.raises(InvalidConfiguration,
                                                         match=r"nope\.csv: data file not found"):
        pool.map(evaluate, [bad])


@pytest.mark.parametrize(("name", "address", "workers", "needle"), [
    ("cluster", None, None, "unknown executor 'cluster'"),
    ("local", "ray://head:10001", None, "--address is for --executor ray"),
    ("local", None, 0, "--workers must be at least 1"),
])
def test_bad_executor_input(name: str, address: str | None, workers: int | None,
                            needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        executor_for(name, address, workers)
    assert needle in str(info.value) and "\n" not in str(info.value)


def _walk(executor: Executor) -> WalkResult:
    """Four folds (3d train, 1d test, every 9 days) of a 4-point grid."""
    space = {"fast": SpaceEntry(choices=[10, 30]), "slow": SpaceEntry(choices=[60, 180])}
    settings = StudySettings(objectives=parse_objectives(["sharpe"]), sampler="grid",
                             space=build_space(resolve_strategy(CONFIG), CONFIG.params, space),
                             trials=4, engine="event")
    windows = WalkSettings(train_ns=3 * DAY, test_ns=DAY, step_ns=9 * DAY)
    return walk_forward(CONFIG, settings, windows, executor)


def _same_walk(a: WalkResult, b: WalkResult) -> None:
    assert len(a.folds) == len(b.folds) == 4
    assert [(f.fold, f.params, f.is_value, f.oos_metrics) for f in a.folds] == [
        (f.fold, f.params, f.is_value, f.oos_metrics) for f in b.folds]
    assert a.metrics == b.metrics and a.equity.tolist() == b.equity.tolist()


def test_walk_forward_folds_run_on_the_local_pool() -> None:
    with LocalExecutor(workers=2) as pool:
        _same_walk(_walk(pool), _walk(SerialExecutor()))


def _settings() -> StudySettings:
    space = {"fast": SpaceEntry(low=5, high=60, step=5), "slow": SpaceEntry(low=80, high=400,
                                                                          step=40)}
    return StudySettings(objectives=parse_objectives(["sharpe"]),
                         space=build_space(resolve_strategy(CONFIG), CONFIG.params, space),
                         trials=12, sampler="tpe", seed=11, batch=4, study="ray", engine="event")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="Ray is not installed (pip install 'heron[ray]'; make test does)")
def test_ray_gives_the_same_best_parameters_and_metrics_as_the_local_pool(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # nothing of Ray's may land in a real home
    window = {"start_ns": START, "end_ns": START + 10 * DAY}
    with executor_for("local", None, 2) as pool:
        local = optimize(CONFIG, _settings(), pool, **window)
        local_walk = _walk(pool)
    with executor_for("ray", None, 2) as ray:
        remote = optimize(CONFIG, _settings(), ray, **window)
        remote_walk = _walk(ray)
    _same_walk(remote_walk, local_walk)  # walk-forward folds too
    assert remote.best[0].params == local.best[0].params
    assert remote.best[0].metrics == local.best[0].metrics
    assert [(t.params, t.values) for t in remote.trials] == [
        (t.params, t.values) for t in local.trials]
    assert len({tuple(t.params.items()) for t in local.trials}) > 8  # a real search
    assert not (tmp_path / ".ray").exists()
