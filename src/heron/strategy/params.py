"""Typed, validated strategy parameters.

A strategy declares parameters as class attributes::

    fast: int = Param(10, ge=2, doc="bars in the fast average")

Values arrive as Python objects (API) or strings (CLI ``--param fast=10``, TOML); they
are coerced to the annotated type and checked against the bounds. Every failure is an
:class:`~heron.errors.InvalidConfiguration` naming the strategy, the parameter and
the fix, so a typo never silently runs a different backtest.
"""

from __future__ import annotations

import difflib
from decimal import Decimal, InvalidOperation
from typing import Any

from heron.errors import InvalidConfiguration


class Param:
    """Declaration of one strategy parameter: default, bounds, allowed values, help."""

    def __init__(self, default: Any, *, ge: Any = None, le: Any = None, gt: Any = None,
                 lt: Any = None, choices: tuple[Any, ...] | None = None, doc: str = "") -> None:
        self.default = default
        self.ge, self.le, self.gt, self.lt = ge, le, gt, lt
        self.choices = choices
        self.doc = doc
        self.name = ""
        self.type: type = type(default)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def coerce(self, owner: str, value: Any) -> Any:
        """Convert ``value`` to this parameter's type and check its bounds."""
        try:
            converted = _convert(self.type, value)
        except (TypeError, ValueError, InvalidOperation):
            raise InvalidConfiguration(
                f"{owner}: parameter {self.name}={value!r} is not a valid "
                f"{self.type.__name__}; pass e.g. {self.name}={self.default}") from None
        self._check(owner, converted)
        return converted

    def _check(self, owner: str, value: Any) -> None:
        problems = [
            (self.ge is not None and value < self.ge, f">= {self.ge}"),
            (self.gt is not None and value <= self.gt, f"> {self.gt}"),
            (self.le is not None and value > self.le, f"<= {self.le}"),
            (self.lt is not None and value >= self.lt, f"< {self.lt}"),
            (self.choices is not None and value not in self.choices,
             f"one of {', '.join(map(str, self.choices or ()))}"),
        ]
        for failed, rule in problems:
            if failed:
                raise InvalidConfiguration(
                    f"{owner}: parameter {self.name}={value} is out of range; it must be {rule}")

    def describe(self) -> dict[str, Any]:
        bounds = {k: v for k, v in (("ge", self.ge), ("gt", self.gt), ("le", self.le),
                                    ("lt", self.lt)) if v is not None}
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "bounds": bounds, "choices": self.choices, "doc": self.doc}


def _convert(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        if isinstance(value, str):
            return int(value.strip())
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value)
    if kind is Decimal:
        if isinstance(value, float | bool):
            raise TypeError(value)
        result = Decimal(str(value).strip())
        if not result.is_finite():
            raise ValueError(value)
        return result
    if kind is str:
        return str(value)
    raise TypeError(f"unsupported parameter type {kind.__name__}")


def collect_params(cls: type) -> dict[str, Param]:
    """Every ``Param`` declared on ``cls`` and its bases, in declaration order."""
    found: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                found[name] = value
    return found


def resolve_params(owner: str, declared: dict[str, Param],
                   given: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``given``, coerced and checked; unknown names refused."""
    for name in given:
        if name not in declared:
            close = difflib.get_close_matches(name, list(declared), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(declared) or "none"
            raise InvalidConfiguration(
                f"{owner} has no parameter {name!r}{hint}; its parameters are: {known}")
    values = {}
    for name, param in declared.items():
        raw = given.get(name, param.default)
        values[name] = param.coerce(owner, raw) if raw is not None else None
    return values
