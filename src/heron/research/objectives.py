"""What an optimisation maximises (or minimises): named figures of one trial's metrics.

An objective reads one number from a trial's metrics (see :mod:`heron.research.evaluate`)
and has a natural direction (Sharpe up, drawdown down), which ``--direction`` may
override. A figure that is undefined for a trial (a Sharpe ratio with no variance: a
run that never traded) makes that trial *failed* rather than worst-valued, so it never
wins and never skews the sampler's model with an invented number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from heron.errors import InvalidConfiguration

__all__ = ["DIRECTIONS", "OBJECTIVES", "Objective", "objective_values", "parse_objectives"]

DIRECTIONS: Final = ("maximize", "minimize")


class Objective(msgspec.Struct, frozen=True, kw_only=True):
    """One objective: its name, the metrics key it reads and the direction to push it."""

    name: str
    metric: str
    direction: str


OBJECTIVES: Final[dict[str, Objective]] = {
    o.name: o for o in (
        Objective(name="sharpe", metric="sharpe", direction="maximize"),
        Objective(name="sortino", metric="sortino", direction="maximize"),
        Objective(name="calmar", metric="calmar", direction="maximize"),
        Objective(name="return", metric="return_pct", direction="maximize"),
        Objective(name="drawdown", metric="max_drawdown_pct", direction="minimize"),
    )
}


def parse_objectives(names: Sequence[str], directions: Sequence[str] = ()) -> list[Objective]:
    """Objectives for ``names`` with ``directions`` (none: natural; one: for all; or one each)."""
    if not names:
        raise InvalidConfiguration("no objective given; pass --objective sharpe (or one of: "
                                   f"{', '.join(OBJECTIVES)})")
    if len(set(names)) != len(names):
        raise InvalidConfiguration(f"objective listed twice in {', '.join(names)}; "
                                   "give each --objective once")
    for direction in directions:
        if direction not in DIRECTIONS:
            raise InvalidConfiguration(f"unknown direction {direction!r}; use maximize or "
                                       "minimize")
    if len(directions) not in (0, 1, len(names)):
        raise InvalidConfiguration(f"{len(directions)} directions for {len(names)} objectives; "
                                   "give one --direction for all or one per --objective")
    out = []
    for i, name in enumerate(names):
        known = OBJECTIVES.get(name)
        if known is None:
            raise InvalidConfiguration(f"unknown objective {name!r}; use one of: "
                                       f"{', '.join(OBJECTIVES)}")
        direction = (directions[0] if len(directions) == 1 else
                     directions[i] if directions else known.direction)
        out.append(msgspec.structs.replace(known, direction=direction))
    return out


def objective_values(metrics: Mapping[str, float | int | None],
                     objectives: Sequence[Objective]) -> list[float] | None:
    """The objectives' values in order, or ``None`` when any is undefined for this trial."""
    values = []
    for objective in objectives:
        value = metrics.get(objective.metric)
        if value is None:
            return None
        values.append(float(value))
    return values
