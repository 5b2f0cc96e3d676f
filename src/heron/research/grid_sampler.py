"""Optuna's grid sampler, usable with ask/tell batches.

``GridSampler.after_trial`` calls ``study.stop()`` once every grid point has been
started, which Optuna only allows inside ``study.optimize``; with ask/tell (how heron
spreads trials over an executor) it raises instead. heron never asks for more trials
than there are unvisited grid points, so the stop is not needed: this subclass drops it.
Imported only when a grid search runs, so Optuna stays off the CLI's startup path.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.samplers import GridSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["BatchGridSampler"]


class BatchGridSampler(GridSampler):
    """A grid sampler that leaves stopping to the caller."""

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Nothing to do: the caller asks for at most the unvisited grid points."""
