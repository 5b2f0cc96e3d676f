"""Finding a strategy class by name.

Built-in strategies are listed here; ``"package.module:ClassName"`` loads a user's
strategy from an importable module (plugin discovery grows from this).
"""

from __future__ import annotations

import difflib
import importlib

from heron.errors import InvalidConfiguration
from heron.strategy.base import Strategy
from heron.strategy.library.sma_cross import SmaCross

BUILTIN: dict[str, type[Strategy]] = {cls.name: cls for cls in (SmaCross,)}


def strategy_class(name: str) -> type[Strategy]:
    """The class for ``name`` (a built-in name or ``module:Class``)."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" in name:
        return _import(name)
    close = difflib.get_close_matches(name, list(BUILTIN), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidConfiguration(
        f"unknown strategy {name!r}{hint}; built-in strategies: {', '.join(sorted(BUILTIN))}, "
        "or pass module:ClassName")


def _import(path: str) -> type[Strategy]:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidConfiguration(f"cannot import strategy module {module_name!r} ({exc}); "
                                   "check it is on PYTHONPATH") from None
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise InvalidConfiguration(f"{path}: not a heron Strategy subclass; "
                                   "name a class that derives from heron.Strategy")
    return cls
