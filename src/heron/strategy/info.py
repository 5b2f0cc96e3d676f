"""What a strategy listing shows: a strategy's name, origin, summary and parameters.

``heron strategies list|show`` print these, and the registry keeps one per strategy
it can load. They are built either from an imported class (built-ins, entry points)
or from a plugin file's source without running it (:mod:`heron.strategy.plugin_scan`),
so an info never holds a class, only plain values.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from heron.strategy.base import Strategy

Source = Literal["builtin", "entry-point", "path"]


class Expression(str):
    """A default or bound written as code (not a literal): shown as its source text."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter: its type name, default, bounds and allowed values."""

    name: str
    type: str
    default: Any
    ge: Any = None
    le: Any = None
    gt: Any = None
    lt: Any = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def range_text(self) -> str:
        """The bounds as ``>= 1, <= 500`` or the choices as ``a | b`` ("" when free)."""
        if self.choices is not None:
            return " | ".join(str(c) for c in self.choices)
        rules = [(">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)]
        return ", ".join(f"{op} {value}" for op, value in rules if value is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a ``Decimal`` as its exact text, choices as a list."""
        return {"name": self.name, "type": self.type, "default": plain(self.default),
                "ge": plain(self.ge), "le": plain(self.le), "gt": plain(self.gt),
                "lt": plain(self.lt), "choices": plain(self.choices), "doc": self.doc}


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    """A strategy as a listing shows it; ``location`` says where its code lives.

    ``location`` is ``module:Class`` for a built-in or an entry point and the file's
    path for a strategy-path plugin; ``class_name`` is the class to load from it.
    """

    name: str
    source: Source
    location: str
    doc: str = ""
    params: tuple[ParamInfo, ...] = field(default_factory=tuple)
    class_name: str = ""

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring, on one line."""
        return " ".join(self.doc.strip().split("\n\n")[0].split())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "location": self.location,
                "summary": self.summary, "doc": self.doc,
                "params": [p.to_dict() for p in self.params]}


def describe_class(cls: type[Strategy], source: Source, location: str = "") -> StrategyInfo:
    """The info of an imported strategy class, from its declared ``Param`` objects."""
    params = tuple(
        ParamInfo(name=name, type=p.type.__name__, default=p.default, ge=p.ge, le=p.le,
                  gt=p.gt, lt=p.lt, choices=p.choices, doc=p.doc)
        for name, p in cls.params.items())
    where = location or f"{cls.__module__}:{cls.__qualname__}"
    module = sys.modules.get(cls.__module__)
    doc = full_doc(inspect.getdoc(cls), inspect.getdoc(module) if module else None)
    return StrategyInfo(name=cls.name, source=source, location=where, doc=doc, params=params,
                        class_name=cls.__qualname__)


def full_doc(class_doc: str | None, module_doc: str | None) -> str:
    """The class docstring (its first paragraph is the summary), then the module's, which
    usually spells out the rules; either alone when the other is missing."""
    parts = [d.strip() for d in (class_doc, module_doc) if d and d.strip()]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts.pop()
    return "\n\n".join(parts)


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: ``Decimal`` as text, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value
