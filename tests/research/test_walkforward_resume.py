"""Walk-forward folds kept in the study storage: an interrupted run resumes the folds it
finished and stitches exactly the uninterrupted result; several objectives pick each
fold's parameters by the first. Real BTC bars (the first 6.5 days: three folds of 3d/1d
on a 12-point grid, vectorised path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import optuna
import polars as pl
import pytest

from heron.cli.config import BacktestConfig
from heron.data.bars import read_bars
from heron.research.evaluate import resolve_strategy
from heron.research.executors import SerialExecutor
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings, optimize
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry
from heron.research.walkforward import FoldSpec, WalkResult, WalkSettings, walk_forward

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400 * 10**9
WINDOWS = WalkSettings(train_ns=3 * DAY, test_ns=DAY)
SPACE = {"fast": SpaceEntry(choices=[10, 20, 30]), "slow": SpaceEntry(choices=[60, 120, 180,
                                                                               240])}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> BacktestConfig:
    frame = read_bars(ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz").frame
    frame = frame.filter(pl.col("ts") < frame["ts"][0] + int(6.5 * DAY))
    path = tmp_path_factory.mktemp("bars") / "days.parquet"
    frame.with_columns(timestamp=pl.from_epoch("ts", time_unit="ns")).drop("ts").write_parquet(
        path)
    return BacktestConfig(strategy="sma_cross", data=str(path), symbol="BTC-PERP",
                          fee_bps="4", params={"mode": "long-short"})


def _settings(config: BacktestConfig, storage: str | None,
              objectives: Sequence[str] = ("sharpe",)) -> StudySettings:
    return StudySettings(objectives=parse_objectives(list(objectives)), sampler="tpe",
                         trials=8, batch=4, seed=2, study="wf", storage=storage,
                         space=build_space(resolve_strategy(config), config.params, SPACE),
                         engine="vector")


class _Interrupted(Exception):
    pass


class _StopsAfter:
    """An executor that runs the first ``n`` folds, then is interrupted (Ctrl-C)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        for item in items[: self.n]:
            fn(item)
        raise _Interrupted


def _same(a: WalkResult, b: WalkResult) -> None:
    assert [f.params for f in a.folds] == [f.params for f in b.folds]
    assert [f.oos_metrics for f in a.folds] == [f.oos_metrics for f in b.folds]
    assert a.metrics == b.metrics and np.array_equal(a.equity, b.equity)


def test_an_interrupted_walk_forward_resumes_the_finished_folds(config: BacktestConfig,
                                                                 tmp_path: Path) -> None:
    whole = walk_forward(config, _settings(config, None), WINDOWS, SerialExecutor())
    assert len(whole.folds) == 3
    storage = f"sqlite:///{tmp_path / 'wf.sqlite'}"
    settings = _settings(config, storage)
    with pytest.raises(_Interrupted):
        walk_forward(config, settings, WINDOWS, _StopsAfter(1))
    # fold 1 was cut off half-way: its study holds 4 of 8 trials and never finished
    names = sorted(optuna.study.get_all_study_names(storage))
    assert [n.split("-")[1] for n in names] == ["fold0"]
    spec = _fold1_spec(config, settings)
    optimize(config, msgspec.structs.replace(spec.study, trials=4), SerialExecutor(),
             start_ns=spec.fold.train_start, end_ns=spec.fold.train_end)
    resumed = walk_forward(config, settings, WINDOWS, SerialExecutor())
    assert [f.resumed for f in resumed.folds] == [True, False, False]
    _same(resumed, whole)
    again = walk_forward(config, settings, WINDOWS, SerialExecutor())
    assert all(f.resumed for f in again.folds)
    _same(again, whole)
    assert len(optuna.load_study(study_name=spec.study.study, storage=storage).trials) == 8
    other = _fold1_spec(config, msgspec.structs.replace(settings, seed=3))
    assert other.study.study != spec.study.study  # changed settings: a new study, not this


def _fold1_spec(config: BacktestConfig, settings: StudySettings) -> FoldSpec:
    from heron.research.evaluate import data_span
    from heron.research.walkforward import _fold_spec, layout

    first, last = data_span(config)
    return _fold_spec(config, settings, layout(first, last, WINDOWS)[1])


def test_multi_objective_folds_take_the_front_trial_best_on_the_first_objective(
        config: BacktestConfig, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'mo.sqlite'}"
    result = walk_forward(config, _settings(config, storage, ("return", "drawdown")), WINDOWS,
                          SerialExecutor())
    assert result.objective == "return"
    for fold in result.folds:
        name = next(n for n in optuna.study.get_all_study_names(storage)
                    if f"-fold{fold.fold.index}-" in n)
        front = optuna.load_study(study_name=name, storage=storage).best_trials
        best = max(t.values[0] for t in front)
        assert fold.is_value == best
        assert fold.oos_metrics["return_pct"] == fold.oos_value
