"""The parameter search space, from the strategy's ``Param`` declarations and the config.

By default every parameter that declares a closed range is searched: ``choices``,
booleans, and ``int``/``float``/``Decimal`` parameters with both an inclusive lower
(``ge``) and upper (``le``) bound (an ``int`` may use ``gt``/``lt`` too). A parameter
fixed in ``[params]`` is not searched. ``[optimize.space]`` adds or narrows a parameter:
``{ low, high, step, log }`` or ``{ choices = [...] }``; an empty ``{}`` asks for the
declared range (and is refused, with the fix, when the parameter has none). Every bound
is checked against the ``Param`` so a search never proposes a value the strategy refuses.

Decimal parameters are searched as floats on a ``step`` grid and handed to the strategy
as exact decimals of that step's precision (``0.05`` stays ``Decimal("0.05")``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from heron.errors import InvalidConfiguration
from heron.research.study_config import SpaceEntry
from heron.strategy.base import Strategy
from heron.strategy.params import Param

__all__ = ["Dimension", "build_space", "distributions", "grid_values", "to_params"]

Value = int | float | str | bool


class Dimension(msgspec.Struct, kw_only=True, frozen=True):
    """One searched parameter: an int/float range (``step``, ``log``) or a set of choices."""

    name: str
    kind: str  # "int", "float" or "categorical"
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Value, ...] = ()
    decimal: bool = False


def build_space(cls: type[Strategy], fixed: Mapping[str, Any],
                overrides: Mapping[str, SpaceEntry]) -> list[Dimension]:
    """The dimensions to search, in the strategy's declaration order."""
    declared = cls.params
    for name in overrides:
        if name not in declared:
            raise InvalidConfiguration(
                f"[optimize.space] names {name!r}, which {cls.name} does not have; its "
                f"parameters are: {', '.join(declared) or 'none'}")
    space = []
    for name, param in declared.items():
        dim = (_dimension(cls.name, param, overrides[name], required=True) if name in overrides
               else None if name in fixed else _declared(cls.name, param))
        if dim is not None:
            space.append(dim)
    if not space:
        raise InvalidConfiguration(
            f"nothing to optimise: {cls.name} declares no closed parameter range; list "
            "parameters under [optimize.space], e.g. fast = { low = 5, high = 50 }")
    return space


def _declared(owner: str, param: Param[Any]) -> Dimension | None:
    """The declared range as a dimension, or None when the parameter has no closed one."""
    return _dimension(owner, param, SpaceEntry(), required=False)


def _dimension(owner: str, param: Param[Any], entry: SpaceEntry,
               required: bool) -> Dimension | None:
    where = f"[optimize.space] {param.name}"
    if entry.choices is not None:
        if not entry.choices:
            raise InvalidConfiguration(f"{where}: choices is empty; list at least one value")
        values = tuple(param.coerce(owner, c) for c in entry.choices)
        return Dimension(name=param.name, kind="categorical", choices=_plain(values))
    if entry.low is None and entry.high is None and (param.choices or param.type is bool):
        choices = param.choices or (False, True)
        return Dimension(name=param.name, kind="categorical", choices=_plain(tuple(choices)))
    if param.type not in (int, float, Decimal):
        if required:
            raise InvalidConfiguration(f"{where}: a {param.type.__name__} parameter needs "
                                       "choices = [...]")
        return None
    low = entry.low if entry.low is not None else _declared_low(param)
    high = entry.high if entry.high is not None else _declared_high(param)
    if low is None or high is None:
        if not required:
            return None
        side = "lower" if low is None else "upper"
        raise InvalidConfiguration(f"{where}: {owner} declares no {side} bound for it; give "
                                   f"{param.name} = {{ low = ..., high = ... }}")
    return _range(owner, param, low, high, entry)


def _range(owner: str, param: Param[Any], low: Any, high: Any, entry: SpaceEntry) -> Dimension:
    where = f"[optimize.space] {param.name}"
    lo, hi = float(param.coerce(owner, low)), float(param.coerce(owner, high))
    if lo > hi:
        raise InvalidConfiguration(f"{where}: the range {low}..{high} is empty; make low <= "
                                   "high")
    step = None if entry.step is None else float(entry.step)
    if step is not None and step <= 0:
        raise InvalidConfiguration(f"{where}: step must be positive, got {entry.step}")
    if param.type is int:
        step = step or 1.0
        if not step.is_integer():
            raise InvalidConfiguration(f"{where}: an int parameter needs an integer step")
    if param.type is Decimal and step is None:
        raise InvalidConfiguration(f"{where}: a decimal parameter needs a step, e.g. "
                                   "step = 0.05")
    if entry.log and (step is not None or lo <= 0):
        raise InvalidConfiguration(f"{where}: log = true needs low > 0 and no step")
    if step is not None:  # the last grid point at or below high, as Optuna expects
        hi = lo + math.floor((hi - lo) / step + 1e-9) * step
    return Dimension(name=param.name, kind="int" if param.type is int else "float", low=lo,
                     high=hi, step=step, log=entry.log, decimal=param.type is Decimal)


def _declared_low(param: Param[Any]) -> Any:
    if param.ge is not None:
        return param.ge
    return param.gt + 1 if param.type is int and param.gt is not None else None


def _declared_high(param: Param[Any]) -> Any:
    if param.le is not None:
        return param.le
    return param.lt - 1 if param.type is int and param.lt is not None else None


def _plain(values: tuple[Any, ...]) -> tuple[Value, ...]:
    """Choices as values Optuna can store (a Decimal becomes its exact string)."""
    return tuple(str(v) if isinstance(v, Decimal) else v for v in values)


def distributions(space: Sequence[Dimension]) -> dict[str, Any]:
    """Optuna distributions for ``study.ask`` (Optuna is imported here, not at startup)."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for dim in space:
        if dim.kind == "categorical":
            out[dim.name] = CategoricalDistribution(dim.choices)
        elif dim.kind == "int":
            out[dim.name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log,
                                            step=int(dim.step or 1))
        else:
            out[dim.name] = FloatDistribution(dim.low, dim.high, log=dim.log, step=dim.step)
    return out


def grid_values(space: Sequence[Dimension]) -> dict[str, list[Value]]:
    """Every point of each dimension, for the grid sampler; a float needs a step."""
    grid: dict[str, list[Value]] = {}
    for dim in space:
        if dim.kind == "categorical":
            grid[dim.name] = list(dim.choices)
            continue
        if dim.step is None:
            raise InvalidConfiguration(f"[optimize.space] {dim.name}: the grid sampler needs "
                                       "a step for a float range; add step = ...")
        count = round((dim.high - dim.low) / dim.step) + 1
        points = [dim.low + i * dim.step for i in range(count)]
        grid[dim.name] = [int(p) if dim.kind == "int" else p for p in points]
    return grid


def to_params(space: Sequence[Dimension], values: Mapping[str, Any]) -> dict[str, Any]:
    """Sampled values as strategy parameters (decimals exact at the step's precision)."""
    out = dict(values)
    for dim in space:
        if dim.decimal and dim.name in out and dim.step is not None:
            places = max(0, -Decimal(repr(dim.step)).normalize().as_tuple().exponent)  # type: ignore[operator]
            out[dim.name] = str(round(Decimal(repr(float(out[dim.name]))), places))
    return out
