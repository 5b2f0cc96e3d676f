"""Walk-forward analysis: optimise in sample, trade the winner out of sample, repeat.

Windows are laid over the data's time range. Fold ``k`` trains on
``[train_start, train_end)`` (rolling: it moves by ``step``; anchored: it always starts
at the first bar and grows), skips ``purge`` (so the last training bars, whose
outcomes reach into the future, never touch the test), and tests on
``[test_start, test_end)``. ``embargo`` keeps a gap after each test window: the next
fold's test starts at least that long after the previous one ended. Out-of-sample
windows never overlap (``step >= test``), so each stretch of time is traded once.

Each fold is one item for the executor: the worker optimises on the training window
only (the fold's own study and seed ``seed + k``), then runs the best parameters on the
test window. With several objectives the fold takes, from the in-sample Pareto front,
the trial best on the **first** objective (the primary: list it first), and the
in-sample/out-of-sample figures below are the primary objective's.

**Resuming.** Each fold's study is kept in the study storage (the SQLite file or
PostgreSQL URL of ``heron optimize``), named ``STUDY-foldK-DIGEST`` where the digest
covers everything that decides the fold (config, search settings, windows, the data
files' size and time). Running the same walk-forward again reads back the folds whose
study finished and runs only the others; a fold interrupted half-way is run afresh.
Since the out-of-sample run is deterministic, a resumed walk-forward stitches exactly
the result of an uninterrupted one. Changed settings make new studies, never reuse
stale ones. Both windows are cut from the bars before the engine
sees them (see :mod:`heron.research.evaluate`), so a fold's choice depends on nothing
at or after its test window, and its out-of-sample result on nothing but the test
window's bars.

The headline is the **stitched out-of-sample equity curve**: each fold's test equity,
rescaled so it starts where the previous segment ended, and the metrics computed on it
(float64 statistics). The degradation ratio is ``mean(OOS objective) / mean(IS
objective)`` over the folds: near 1 the in-sample edge carried over, near 0 or below it
did not (it is meaningless when the in-sample mean is near 0 or negative).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from heron.analytics.metrics import compute_metrics
from heron.cli.config import BacktestConfig
from heron.errors import InvalidConfiguration
from heron.research.evaluate import Metrics, TrialSpec, data_span, evaluate, metrics_dict
from heron.research.executors import Executor, SerialExecutor
from heron.research.objectives import objective_values
from heron.research.optimize import StudySettings, TrialRow, optimize_once, prepare_storage
from heron.research.space import to_params

__all__ = ["Fold", "FoldResult", "WalkResult", "WalkSettings", "layout", "walk_forward"]

_DAY = 86_400 * 10**9


class WalkSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Window lengths in nanoseconds."""

    train_ns: int
    test_ns: int
    step_ns: int | None = None  # None: the test length
    anchored: bool = False
    purge_ns: int = 0
    embargo_ns: int = 0


class Fold(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


class FoldSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One fold's work item: small, so any executor can ship it."""

    config: BacktestConfig
    study: StudySettings
    fold: Fold


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    params: dict[str, Any] | None
    is_value: float | None
    is_metrics: Metrics
    oos_value: float | None
    oos_metrics: Metrics
    trials: int
    equity_ts: NDArray[np.int64]
    equity: NDArray[np.float64]
    note: str = ""
    resumed: bool = False  # its study was read back from the storage, not run again


@dataclass(frozen=True)
class WalkResult:
    folds: list[FoldResult]
    equity_ts: NDArray[np.int64]
    equity: NDArray[np.float64]
    metrics: Metrics
    degradation: float | None
    objective: str
    storage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective, "storage": self.storage, "metrics": self.metrics,
            "degradation_ratio": self.degradation,
            "folds": [{**msgspec.to_builtins(f.fold), "params": f.params,
                       "trials": f.trials, "in_sample": f.is_value,
                       "out_of_sample": f.oos_value, "in_sample_metrics": f.is_metrics,
                       "out_of_sample_metrics": f.oos_metrics, "note": f.note,
                       "resumed": f.resumed}
                      for f in self.folds],
            "equity": {"ts": self.equity_ts.tolist(), "equity": self.equity.tolist()},
        }


def layout(first_ts: int, last_ts: int, w: WalkSettings) -> list[Fold]:
    """The folds that fit in ``[first_ts, last_ts]``; refused when not even one fits."""
    step = w.step_ns if w.step_ns is not None else w.test_ns
    if min(w.train_ns, w.test_ns, step) <= 0 or min(w.purge_ns, w.embargo_ns) < 0:
        raise InvalidConfiguration("--train, --test and --step must be positive and --purge, "
                                   "--embargo not negative; e.g. --train 30d --test 7d")
    if step < w.test_ns:
        raise InvalidConfiguration(f"--step ({_span(step)}) is shorter than --test "
                                   f"({_span(w.test_ns)}): out-of-sample windows would overlap; "
                                   "make step >= test")
    end = last_ts + 1  # windows are half-open
    folds: list[Fold] = []
    previous_end: int | None = None
    while True:
        k = len(folds)
        train_end = first_ts + w.train_ns + k * step
        test_start = train_end + w.purge_ns
        if previous_end is not None:
            test_start = max(test_start, previous_end + w.embargo_ns)
        test_end = train_end + w.purge_ns + w.test_ns
        if test_end > end or test_start >= test_end:
            break
        folds.append(Fold(index=k, train_start=first_ts if w.anchored else first_ts + k * step,
                          train_end=train_end, test_start=test_start, test_end=test_end))
        previous_end = test_end
    if not folds:
        need = w.train_ns + w.purge_ns + w.test_ns
        raise InvalidConfiguration(
            f"one fold needs {_span(need)} (train + purge + test) but the data covers only "
            f"{_span(end - first_ts)}; use shorter --train/--test or more data")
    return folds


def walk_forward(config: BacktestConfig, study: StudySettings, windows: WalkSettings,
                 executor: Executor | None = None) -> WalkResult:
    """Run every fold through ``executor`` and stitch the out-of-sample results."""
    first, last = data_span(config)
    folds = layout(first, last, windows)
    prepare_storage(study.storage)  # tables made once, before the workers open the file
    specs = [_fold_spec(config, study, f) for f in folds]
    results = (executor or SerialExecutor()).map(run_fold, specs)
    ts, equity = stitch(results, float(config.cash))
    headline: Metrics = {}
    if len(ts):
        headline = metrics_dict(compute_metrics(ts=ts, equity=equity,
                                                starting_cash=float(config.cash)))
        headline["trades"] = sum(int(r.oos_metrics.get("trades") or 0) for r in results)
    return WalkResult(folds=results, equity_ts=ts, equity=equity, metrics=headline,
                      degradation=_degradation(results), objective=study.objectives[0].name,
                      storage=study.storage)


def _fold_spec(config: BacktestConfig, study: StudySettings, fold: Fold) -> FoldSpec:
    """Fold ``k``'s work item: seed ``seed + k`` and a study name unique to its inputs."""
    settings = msgspec.structs.replace(study, seed=study.seed + fold.index)
    paths = sorted((config.data_files or {}).values()) or [str(config.data)]
    stamps = [(p, st.st_size, st.st_mtime_ns) for p in paths if (st := _stat(p)) is not None]
    key = msgspec.json.encode([config, msgspec.structs.replace(settings, storage=None), fold,
                               stamps])
    digest = hashlib.sha256(key).hexdigest()[:12]
    return FoldSpec(config=config, fold=fold, study=msgspec.structs.replace(
        settings, study=f"{study.study}-fold{fold.index}-{digest}"))


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None  # evaluate names a missing file with the fix


def run_fold(spec: FoldSpec) -> FoldResult:
    """Optimise on the fold's training window, then trade the best on its test window."""
    f = spec.fold
    found = optimize_once(spec.config, spec.study, SerialExecutor(),
                          start_ns=f.train_start, end_ns=f.train_end)
    empty_ts, empty_eq = np.empty(0, np.int64), np.empty(0, np.float64)
    if not found.best:
        return FoldResult(fold=f, params=None, is_value=None, is_metrics={}, oos_value=None,
                          oos_metrics={}, trials=len(found.trials), equity_ts=empty_ts,
                          equity=empty_eq, note="no in-sample trial completed",
                          resumed=found.added == 0)
    best = min(found.best, key=lambda r: (_rank(r, spec.study), r.number))  # primary objective
    params = {**spec.config.params, **to_params(spec.study.space, best.params)}
    oos = evaluate(TrialSpec(config=spec.config, params=params, start_ns=f.test_start,
                             end_ns=f.test_end, engine=spec.study.engine, keep_equity=True))
    values = objective_values(oos.metrics, spec.study.objectives)
    return FoldResult(fold=f, params=params, is_value=best.values[0] if best.values else None,
                      is_metrics=best.metrics, oos_value=None if values is None else values[0],
                      oos_metrics=oos.metrics, trials=len(found.trials),
                      equity_ts=oos.equity_ts, equity=oos.equity, resumed=found.added == 0)


def _rank(row: TrialRow, study: StudySettings) -> float:
    """Sort key of a Pareto-front trial: its primary (first) objective, best first."""
    value = row.values[0] if row.values else float("inf")
    return -value if study.objectives[0].direction == "maximize" else value


def stitch(results: list[FoldResult], cash: float) -> tuple[NDArray[np.int64],
                                                            NDArray[np.float64]]:
    """Chain the test equity curves: each segment starts at the previous one's end."""
    level = cash
    parts_ts, parts_eq = [], []
    for r in results:
        if len(r.equity) == 0:
            continue
        scaled = r.equity * (level / cash)  # each fold's backtest starts with ``cash``
        parts_ts.append(r.equity_ts)
        parts_eq.append(scaled)
        level = float(scaled[-1])
    if not parts_ts:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    return np.concatenate(parts_ts), np.concatenate(parts_eq)


def _degradation(results: list[FoldResult]) -> float | None:
    pairs = [(r.is_value, r.oos_value) for r in results
             if r.is_value is not None and r.oos_value is not None]
    if not pairs:
        return None
    mean_is = float(np.mean([p[0] for p in pairs]))
    mean_oos = float(np.mean([p[1] for p in pairs]))
    return None if abs(mean_is) < 1e-12 else mean_oos / mean_is


def _span(ns: int) -> str:
    days, rest = divmod(ns, _DAY)
    hours, rest = divmod(rest, 3600 * 10**9)
    minutes = rest // (60 * 10**9)
    return " ".join(p for p in (f"{days}d" if days else "", f"{hours}h" if hours else "",
                                f"{minutes}m" if minutes else "") if p) or "0m"
