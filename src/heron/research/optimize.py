"""Parameter optimisation with Optuna, trials evaluated through an executor.

Trials are asked from the study in **batches of a fixed size** (``batch``), evaluated
together by the executor, and told back in trial order. The batch size is a setting of
the study, not of the machine: the sampler sees the same history before every ask
whatever ran the trials, so a fixed seed proposes the same parameters (and the
deterministic engine gives the same metrics) on a one-core serial run, a process
pool or a Ray cluster.

The study lives in Optuna's RDB storage (a SQLite file by default, or PostgreSQL):
running again with the same study name *adds* trials to it. The sampler's seed on a
resumed run is ``seed + trials already stored``, so a resumed random or TPE search
continues rather than replaying the proposals it already made (a grid keeps its seed,
which fixes the order of the grid's points). A grid search stops when every grid point
has been tried.

A parameter combination the strategy itself refuses (``fast >= slow``), or one whose
objective is undefined (no variance: a run that never traded), is recorded as a
*failed* trial with the reason, never as a made-up value.

**Pruning** (``pruner = "median"`` or ``"successive-halving"``; default ``"none"``)
stops unpromising trials early: each trial's window is run in ``checkpoints`` parts and
judged after each against the trials finished before its batch, by the real Optuna
pruner (see :mod:`heron.research.pruning`); a pruned trial's backtest really stops
there. It is off by default because the start of a window is a noisy guide to the
whole of it in markets: pruning trades some chance of missing the best parameters
for speed, and that choice is the user's.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from heron.cli.config import BacktestConfig
from heron.errors import InvalidConfiguration
from heron.research.evaluate import (
    ENGINES,
    Metrics,
    TrialOutcome,
    TrialSpec,
    check_data,
    evaluate,
    resolve_strategy,
    trial_params,
)
from heron.research.executors import Executor, SerialExecutor
from heron.research.objectives import Objective, objective_values
from heron.research.pruning import check_pruning, make_pruner, prune_spec, record
from heron.research.space import Dimension, distributions, grid_values, to_params
from heron.strategy.base import Strategy

__all__ = ["SAMPLERS", "StudyResult", "StudySettings", "TrialRow", "optimize", "optimize_once",
           "prepare_storage"]

SAMPLERS = ("tpe", "random", "grid")


class StudySettings(msgspec.Struct, frozen=True, kw_only=True):
    """How to search: objectives, budget, sampler, seed, where the study is kept."""

    objectives: list[Objective]
    space: list[Dimension]
    trials: int = 50
    sampler: str = "tpe"
    seed: int = 0
    batch: int = 8
    study: str = "heron"
    storage: str | None = None  # None: in memory
    engine: str = "auto"
    pruner: str = "none"
    checkpoints: int = 4  # pruning: the objective is judged after each quarter by default


@dataclass(frozen=True)
class TrialRow:
    """One trial as the results table shows it."""

    number: int
    params: dict[str, Any]
    values: list[float] | None
    state: str
    metrics: Metrics
    note: str = ""
    intermediate: dict[int, float] = field(default_factory=dict)  # checkpoint -> objective
    bars: int | None = None  # bars the trial ran (fewer when pruned)


@dataclass(frozen=True)
class StudyResult:
    """A study after this run: every trial (old and new), the best ones, importances."""

    study: str
    storage: str | None
    objectives: list[Objective]
    trials: list[TrialRow]
    best: list[TrialRow]
    importance: dict[str, float] | None
    added: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study, "storage": self.storage, "added_trials": self.added,
            "objectives": [{"name": o.name, "direction": o.direction} for o in self.objectives],
            "best": [_row_dict(r) for r in self.best],
            "importance": self.importance,
            "trials": [_row_dict(r) for r in self.trials],
        }


def _row_dict(row: TrialRow) -> dict[str, Any]:
    return {"number": row.number, "state": row.state, "params": row.params,
            "values": row.values, "metrics": row.metrics, "note": row.note,
            "intermediate": {str(k): v for k, v in row.intermediate.items()}, "bars": row.bars}


def optimize(config: BacktestConfig, settings: StudySettings, executor: Executor | None = None,
             *, start_ns: int | None = None, end_ns: int | None = None) -> StudyResult:
    """Run ``settings.trials`` more trials of the study on ``[start_ns, end_ns)`` of the data."""
    _check(config, settings)
    optuna = _optuna()
    cls = resolve_strategy(config)
    unknown = sorted(set(config.params) - set(cls.params))
    if unknown:
        raise InvalidConfiguration(f"{cls.name} has no parameter {unknown[0]!r}; its "
                                   f"parameters are: {', '.join(cls.params)}")
    study = _open_study(optuna, settings)
    return _search(optuna, study, config, cls, settings, executor, start_ns, end_ns)


def optimize_once(config: BacktestConfig, settings: StudySettings,
                  executor: Executor | None = None, *, start_ns: int | None = None,
                  end_ns: int | None = None) -> StudyResult:
    """Run the study to ``settings.trials`` trials *once* (walk-forward folds).

    A stored study that an earlier call finished is read back, not run again; one left
    unfinished (an interrupted run) is deleted and run afresh, so the result is the
    one an uninterrupted run gives (a resumed sampler would propose differently).
    """
    optuna = _optuna()
    if settings.storage is not None:
        storage = _storage(optuna, settings.storage)
        if settings.study in optuna.study.get_all_study_names(storage):
            study = optuna.load_study(study_name=settings.study, storage=storage)
            if study.user_attrs.get(_FINISHED):
                return _result(optuna, study, settings, 0)
            optuna.delete_study(study_name=settings.study, storage=storage)
    result = optimize(config, settings, executor, start_ns=start_ns, end_ns=end_ns)
    if settings.storage is not None:
        study = optuna.load_study(study_name=settings.study,
                                  storage=_storage(optuna, settings.storage))
        study.set_user_attr(_FINISHED, True)
    return result


_FINISHED = "heron_finished"


def _search(optuna: Any, study: Any, config: BacktestConfig, cls: type[Strategy],
            settings: StudySettings, executor: Executor | None, start_ns: int | None,
            end_ns: int | None) -> StudyResult:
    """Ask, evaluate and tell ``settings.trials`` more trials in batches."""
    existing = len(study.get_trials(deepcopy=False))
    study.sampler = _sampler(optuna, settings, existing)
    study.pruner = make_pruner(settings.pruner)  # keeps its records as the workers' judge
    todo = settings.trials
    if settings.sampler == "grid":
        size = 1
        for values in grid_values(settings.space).values():
            size *= len(values)
        todo = min(todo, max(0, size - existing))
    dists = distributions(settings.space)
    run = executor or SerialExecutor()
    done = 0
    while done < todo:
        asked = [study.ask(dists) for _ in range(min(settings.batch, todo - done))]
        _run_batch(optuna, study, asked, config, cls, settings, start_ns, end_ns, run)
        done += len(asked)
    return _result(optuna, study, settings, done)


def prepare_storage(url: str | None) -> None:
    """Create the storage's tables now, in this process, before workers open it at once."""
    if url is not None:
        _storage(_optuna(), url)


def _check(config: BacktestConfig, settings: StudySettings) -> None:
    if settings.trials < 1:
        raise InvalidConfiguration(f"--trials must be at least 1, got {settings.trials}")
    if settings.batch < 1:
        raise InvalidConfiguration(f"batch must be at least 1, got {settings.batch}")
    if settings.sampler not in SAMPLERS:
        raise InvalidConfiguration(f"unknown sampler {settings.sampler!r}; use one of: "
                                   f"{', '.join(SAMPLERS)}")
    check_pruning(settings.pruner, settings.checkpoints, len(settings.objectives))
    if settings.engine not in ENGINES:
        raise InvalidConfiguration(f"unknown engine {settings.engine!r}; use one of: "
                                   f"{', '.join(ENGINES)}")
    check_data(config)


def _optuna() -> Any:
    """Optuna, imported on first use, with its per-trial INFO lines off."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _open_study(optuna: Any, settings: StudySettings) -> Any:
    directions = [o.direction for o in settings.objectives]
    storage = settings.storage
    study = optuna.create_study(storage=_storage(optuna, storage), study_name=settings.study,
                                directions=directions, load_if_exists=True,
                                sampler=optuna.samplers.RandomSampler(seed=settings.seed))
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise InvalidConfiguration(
            f"study {settings.study!r} was created to {', '.join(stored)}, not "
            f"{', '.join(directions)}; pass another --study name or the same objectives")
    return study


def _storage(optuna: Any, url: str | None) -> Any:
    """Optuna's storage for ``url``; SQLite waits for a writer rather than failing at
    once, since walk-forward folds write one file from several processes."""
    if url is None or not url.startswith("sqlite"):
        return url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        folder = Path(url[len("sqlite:///"):]).parent
        if not folder.is_dir():
            raise InvalidConfiguration(f"storage folder {folder} does not exist; create it "
                                       "or pass another --storage")
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})


def _sampler(optuna: Any, settings: StudySettings, existing: int) -> Any:
    seed = settings.seed + existing  # a resumed search continues, not replays
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "grid":
        from heron.research.grid_sampler import BatchGridSampler

        # the seed orders the grid: it must stay the same when a study resumes
        return BatchGridSampler(grid_values(settings.space), seed=settings.seed)
    return optuna.samplers.TPESampler(seed=seed)


def _run_batch(optuna: Any, study: Any, asked: Sequence[Any], config: BacktestConfig,
               cls: type[Strategy], settings: StudySettings, start_ns: int | None,
               end_ns: int | None, executor: Executor) -> None:
    """Evaluate one batch through the executor and tell every result, in trial order."""
    prune = prune_spec(study, settings.pruner, settings.checkpoints,
                       settings.objectives[0].metric)  # judged against trials done before
    specs: list[TrialSpec] = []
    refused: dict[int, str] = {}
    for i, trial in enumerate(asked):
        params = trial_params(config, to_params(settings.space, trial.params))
        try:
            cls(**params)  # the strategy's own checks (fast < slow ...), before any work
        except InvalidConfiguration as exc:
            refused[i] = str(exc)
            continue
        specs.append(TrialSpec(config=config, params=params, start_ns=start_ns, end_ns=end_ns,
                               engine=settings.engine, prune=prune))
    outcomes = iter(executor.map(evaluate, specs))
    told = [(trial, None if i in refused else next(outcomes)) for i, trial in enumerate(asked)]
    for trial, outcome in told:  # every report before any tell: the batch's snapshot holds
        if outcome is not None and outcome.intermediate:
            record(trial, outcome.intermediate)
    for i, (trial, outcome) in enumerate(told):
        if outcome is None:
            trial.set_user_attr("note", refused[i])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            _tell(optuna, study, trial, outcome, settings)


def _tell(optuna: Any, study: Any, trial: Any, outcome: TrialOutcome,
          settings: StudySettings) -> None:
    trial.set_user_attr("metrics", outcome.metrics)
    trial.set_user_attr("bars", outcome.bars)
    if outcome.pruned_at is not None:
        trial.set_user_attr("note", f"pruned at checkpoint {outcome.pruned_at} of "
                                    f"{settings.checkpoints} ({outcome.bars} bars run)")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    values = objective_values(outcome.metrics, settings.objectives)
    if values is None:
        trial.set_user_attr("note", "objective undefined (no variance or no drawdown)")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        study.tell(trial, values)


def _result(optuna: Any, study: Any, settings: StudySettings, added: int) -> StudyResult:
    rows = [_row(t) for t in study.get_trials(deepcopy=False)]
    complete = [t for t in study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.COMPLETE]
    if len(settings.objectives) == 1:
        best = [_row(study.best_trial)] if complete else []
    else:
        best = [_row(t) for t in sorted(study.best_trials, key=lambda t: t.number)]
    return StudyResult(study=settings.study, storage=settings.storage,
                       objectives=settings.objectives, trials=rows, best=best,
                       importance=_importance(optuna, study, complete), added=added)


def _row(trial: Any) -> TrialRow:
    return TrialRow(number=trial.number, params=dict(trial.params),
                    values=list(trial.values) if trial.values is not None else None,
                    state=trial.state.name, metrics=trial.user_attrs.get("metrics", {}),
                    note=trial.user_attrs.get("note", ""),
                    intermediate=dict(trial.intermediate_values),
                    bars=trial.user_attrs.get("bars"))


def _importance(optuna: Any, study: Any, complete: Sequence[Any]) -> dict[str, float] | None:
    """Parameter importances for the first objective; None when too few trials differ."""
    if len(complete) < 2 or not complete[0].params:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" notices are not for the user
            found = optuna.importance.get_param_importances(
                study, target=lambda t: t.values[0])
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None
    return {str(k): float(v) for k, v in found.items()}
