"""Optuna pruning for trials that run in batches on executors.

Optuna prunes *inside* a trial: the objective calls ``trial.report(value, step)`` and
``trial.should_prune()`` against the live study. heron's trials run on workers (a
process pool, Ray) that never talk to the study, and must give the same answer
whatever ran them, so pruning is split in two:

* **The driver** (:func:`prune_spec`), before it dispatches a batch, takes a snapshot
  of the study's *finished* trials: their state, intermediate values and the pruner's
  own per-trial records (successive halving's rung values). Trials of one batch are
  therefore judged against the trials finished before the batch, as if they ran at
  the same time: the same rule on one core or a cluster, and the same for a fixed seed.
* **The worker** (:class:`Judge`) rebuilds that snapshot as a private in-memory study
  with the *real* Optuna pruner, and at each checkpoint ``k`` of ``n`` (the objective
  measured on the first ``k/n`` of the trial's window) reports the value and asks
  ``should_prune()``, exactly as an in-trial objective would. When it says prune, the
  backtest stops there: the rest of the window is never run.
* **The driver** then reports the trial's intermediate values into the real study (and
  lets the pruner see each step, so it keeps its records) and tells it ``PRUNED`` or
  ``COMPLETE`` (:func:`record`).

An undefined value at a checkpoint (a Sharpe ratio before the first trade) is not
reported, so it is never judged: a slow strategy is not pruned for not having traded
yet. Only single-objective studies prune (Optuna's pruners judge one value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from heron.errors import InvalidConfiguration

__all__ = ["PRUNERS", "Checkpoints", "Judge", "PastTrial", "PruneSpec", "check_pruning",
           "checkpoint_positions", "make_pruner", "prune_spec", "record"]

PRUNERS = ("none", "median", "successive-halving")


class PastTrial(msgspec.Struct, frozen=True, array_like=True):
    """What a pruner reads of one finished trial (small: it travels to every worker)."""

    state: str  # COMPLETE or PRUNED
    value: float | None
    intermediate: dict[int, float]
    records: dict[str, float]  # the pruner's per-trial system attributes


class PruneSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How a worker judges its trial: pruner, checkpoints, the metric, the past trials."""

    pruner: str
    checkpoints: int
    metric: str
    direction: str
    history: tuple[PastTrial, ...] = ()


def check_pruning(pruner: str, checkpoints: int, objectives: int) -> None:
    """Refuse an unknown pruner, too few checkpoints, or pruning several objectives."""
    if pruner not in PRUNERS:
        raise InvalidConfiguration(f"unknown pruner {pruner!r}; use one of: {', '.join(PRUNERS)}")
    if pruner == "none":
        return
    if checkpoints < 2:
        raise InvalidConfiguration(f"pruning needs at least 2 checkpoints, got {checkpoints}; "
                                   "pass --checkpoints 4 (or --pruner none)")
    if objectives != 1:
        raise InvalidConfiguration("Optuna prunes single-objective studies only; pass one "
                                   "--objective or --pruner none")


def make_pruner(name: str) -> Any:
    """The Optuna pruner called ``name``, with settings fixed for checkpointed trials.

    ``median``: a trial stops when its best value so far is worse than the median of the
    completed trials at the same checkpoint, once 5 trials have completed. ``successive-
    halving``: rungs at checkpoints 1, 3, 9... (``min_resource=1``, reduction factor 3),
    keeping the best third at each rung.
    """
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def prune_spec(study: Any, pruner: str, checkpoints: int, metric: str) -> PruneSpec | None:
    """The snapshot a batch's workers judge against (None: no pruning)."""
    if pruner == "none":
        return None
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    history = tuple(
        PastTrial(state=t.state.name, value=t.value, intermediate=dict(t.intermediate_values),
                  records={k: float(v) for k, v in t.system_attrs.items()
                           if isinstance(v, int | float)})
        for t in study.get_trials(deepcopy=False, states=states))
    return PruneSpec(pruner=pruner, checkpoints=checkpoints, metric=metric,
                     direction=study.direction.name.lower(), history=history)


class Judge:
    """One trial's pruning decisions, by the real pruner on the batch's snapshot."""

    def __init__(self, spec: PruneSpec) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        direction = optuna.study.StudyDirection[spec.direction.upper()]
        self.study = optuna.create_study(direction=direction,
                                         pruner=make_pruner(spec.pruner),
                                         sampler=optuna.samplers.RandomSampler(seed=0))
        state = optuna.trial.TrialState
        self.study.add_trials([optuna.trial.create_trial(
            state=state[p.state], value=p.value, intermediate_values=dict(p.intermediate),
            system_attrs=dict(p.records)) for p in spec.history])
        self.trial = self.study.ask()
        self.values: dict[int, float] = {}

    def stop(self, step: int, value: float | None) -> bool:
        """Report checkpoint ``step``'s value; True when the pruner says stop here."""
        if value is None:
            return False  # undefined so far (no trade yet): not reported, not judged
        self.values[step] = value
        self.trial.report(value, step)
        return bool(self.trial.should_prune())


def record(trial: Any, values: Mapping[int, float]) -> None:
    """Report a finished trial's checkpoint values into the real study, step by step.

    ``should_prune`` is asked after each report only so that the pruner keeps its own
    records (successive halving's rung values) for the batches to come; the decision
    itself was the worker's, made against the snapshot.
    """
    for step in sorted(values):
        trial.report(values[step], step)
        trial.should_prune()


def checkpoint_positions(bars: int, checkpoints: int) -> list[tuple[int, int]]:
    """``(step, bar position)`` of checkpoints ``1 .. n-1`` of ``n`` in a window of ``bars``
    (checkpoint ``n`` is the whole window: the trial's value itself)."""
    out: list[tuple[int, int]] = []
    for step in range(1, checkpoints):
        position = bars * step // checkpoints
        if 1 < position < bars and (not out or position > out[-1][1]):
            out.append((step, position))
    return out


class Checkpoints:
    """Where one trial pauses, and what it does there: its objective so far to the judge."""

    def __init__(self, spec: PruneSpec, bars: int) -> None:
        self.judge = Judge(spec)
        self.metric = spec.metric
        cuts = checkpoint_positions(bars, spec.checkpoints)
        self.steps = [step for step, _ in cuts]
        self.positions = [position for _, position in cuts]
        self.pruned_at: int | None = None
        self._next = 0

    def keep_going(self, metrics: Mapping[str, float | int | None]) -> bool:
        """The next checkpoint's metrics in; False when the trial is pruned there."""
        step = self.steps[self._next]
        self._next += 1
        raw = metrics.get(self.metric)
        value = float(raw) if raw is not None and math.isfinite(raw) else None
        if self.judge.stop(step, value):
            self.pruned_at = step
            return False
        return True
