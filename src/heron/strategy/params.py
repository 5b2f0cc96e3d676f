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
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar, overload

from heron.errors import InvalidConfiguration

T = TypeVar("T")


class Param(Generic[T]):
    """Declaration of one strategy parameter: default, bounds, allowed values, help.

    On an instance the attribute holds the resolved value (set by ``Strategy``), so
    reading ``self.fast`` is a plain attribute read; the ``__get__`` overloads only tell
    type checkers that ``self.fast`` is an ``int`` when declared ``Param(10)``.
    """

    def __init__(self, default: T, *, ge: Any = None, le: Any = None, gt: Any = None,
                 lt: Any = None, choices: tuple[Any, ...] | None = None, doc: str = "") -> None:
        self.default = default
        self.ge, self.le, self.gt, self.lt = ge, le, gt, lt
        self.choices = choices
        self.doc = doc
        self.name = ""
        self.type: type = type(default)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Param[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object, owner: type | None = None) -> Param[T] | T:
        if obj is None:
            return self
        return self.default  # only reached before Strategy.__init__ set the value

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
    """Convert ``value`` to ``kind``; ValueError/TypeError when it does not fit."""
    converter = _CONVERTERS.get(kind)
    if converter is None:
        raise TypeError(f"unsupported parameter type {kind.__name__}")
    return converter(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value.strip()) if isinstance(value, str) else int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError(value)  # a float is not an exact decimal: pass a string
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise ValueError(value)
    return result


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: _to_bool, int: _to_int, float: _to_float, Decimal: _to_decimal, str: str,
}


def collect_params(cls: type) -> dict[str, Param[Any]]:
    """Every ``Param`` declared on ``cls`` and its bases, in declaration order."""
    found: dict[str, Param[Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                found[name] = value
    return found


def resolve_params(owner: str, declared: dict[str, Param[Any]],
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
