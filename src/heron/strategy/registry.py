"""Finding strategies: built-ins, installed plugins, and a folder of the user's own.

Three sources, looked up in this order (the first to claim a name keeps it):

1. **built-in**: the library in :mod:`heron.strategy.library` (:data:`BUILTIN`);
2. **entry points**: installed distributions that declare
   ``[project.entry-points."heron.strategies"] my_name = "my_pkg.module:MyStrategy"``;
3. **strategy path**: the folders given with ``--strategy-path DIR`` and in
   ``HERON_STRATEGY_PATH`` (``os.pathsep``-separated), whose ``*.py`` files are listed
   from their syntax tree without being run (:mod:`heron.strategy.plugin_scan`).

Listing never imports a plugin file: a file is imported when one of its strategies is
chosen for a run, under a private module name so two folders may both hold a
``strategy.py``. An entry point's module is read the same way where its source file can
be found on ``sys.path``, and imported for its listing only where it cannot (it is
installed code, trusted as much as any dependency). A plugin that cannot be listed
(a syntax error, an unreadable or vanished file, a clashing name) becomes a line in
:attr:`StrategyRegistry.problems` and the others carry on; one that raises when chosen
is an :class:`~heron.errors.InvalidConfiguration` naming the file and the exception.

``"package.module:ClassName"`` still names any importable class directly.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from heron.errors import InvalidConfiguration
from heron.strategy.base import Strategy
from heron.strategy.info import StrategyInfo, describe_class
from heron.strategy.library.cross_venue_arb import CrossVenueArb
from heron.strategy.library.grid import Grid
from heron.strategy.library.market_maker import MarketMaker
from heron.strategy.library.mean_reversion import MeanReversion
from heron.strategy.library.mirror import Mirror
from heron.strategy.library.ml_signal import MlSignal
from heron.strategy.library.momentum import Momentum
from heron.strategy.library.news_sentiment import NewsSentiment
from heron.strategy.library.pairs import Pairs
from heron.strategy.library.sma_cross import SmaCross
from heron.strategy.plugin_scan import PluginError, module_file, scan_directory, scan_file

BUILTIN: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (SmaCross, Momentum, MeanReversion, Grid, MarketMaker,
                                      Mirror, Pairs, NewsSentiment, CrossVenueArb, MlSignal)}
ENTRY_POINT_GROUP = "heron.strategies"
PATH_ENV = "HERON_STRATEGY_PATH"
#: plugin files are imported as ``heron_plugin_<stem>_<hash of the path>`` modules
PLUGIN_PREFIX = "heron_plugin_"

log = logging.getLogger(__name__)

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "PATH_ENV", "StrategyInfo", "StrategyRegistry",
           "strategy_class", "strategy_paths"]


def strategy_paths(paths: Iterable[str | Path] = (), *, env: bool = True) -> list[Path]:
    """The strategy folders: ``paths`` first, then those in ``HERON_STRATEGY_PATH``."""
    found = [Path(p) for p in paths]
    if env:
        found += [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


class StrategyRegistry:
    """Every strategy heron can run here, listed without importing plugin files.

    ``problems`` holds one line per plugin that was skipped, naming the file and the
    fix; the registry is built again (cheaply) for each listing or run.
    """

    def __init__(self, paths: Iterable[str | Path] = (), *, env: bool = True,
                 entry_points: bool = True) -> None:
        self.paths = strategy_paths(paths, env=env)
        self.infos: dict[str, StrategyInfo] = {}
        self.problems: list[str] = []
        self._entry_points: dict[str, EntryPoint] = {}
        for cls in BUILTIN.values():
            self._add(describe_class(cls, "builtin"))
        if entry_points:
            self._scan_entry_points()
        for folder in self.paths:
            infos, problems = scan_directory(folder)
            self.problems += problems
            for info in infos:
                self._add(info)

    def names(self) -> list[str]:
        return sorted(self.infos)

    def get(self, name: str) -> StrategyInfo:
        """The listing of ``name``; an ``InvalidConfiguration`` with the fix if unknown."""
        info = self.infos.get(name)
        if info is None:
            raise InvalidConfiguration(unknown_message(name, self.names()))
        return info

    def load(self, name: str) -> type[Strategy]:
        """The class of ``name``, importing its plugin file or entry point only now."""
        info = self.get(name)
        if info.source == "builtin":
            return BUILTIN[name]
        if info.source == "entry-point":
            return _load_entry_point(self._entry_points[name])
        return load_plugin_file(Path(info.location), info)

    def _add(self, info: StrategyInfo) -> None:
        taken = self.infos.get(info.name)
        if taken is not None:
            self.problems.append(
                f"{info.location}: strategy name {info.name!r} is already taken by "
                f"{taken.location} ({taken.source}); skipped: give it another name "
                "(the class attribute name, or STRATEGY_META['name'])")
            return
        self.infos[info.name] = info

    def _scan_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self.infos:  # a plugin may not replace a built-in either
                self._add(StrategyInfo(name=ep.name, source="entry-point", location=ep.value))
                continue
            try:
                info = _describe_entry_point(ep)
            except (InvalidConfiguration, PluginError) as exc:
                self.problems.append(f"{exc}; skipped")
                continue
            self._entry_points[ep.name] = ep
            self._add(info)


def _describe_entry_point(ep: EntryPoint) -> StrategyInfo:
    """An entry point's listing: from its module's source, or by importing it if need be."""
    source = module_file(ep.module)
    if source is not None:
        for info in scan_file(source, "entry-point", ep.value):
            if info.class_name == ep.attr:
                return _renamed(info, ep.name)
    cls = _load_entry_point(ep)
    return _renamed(describe_class(cls, "entry-point", ep.value), ep.name)


def _renamed(info: StrategyInfo, name: str) -> StrategyInfo:
    """An entry point is chosen by its own name, whatever the class calls itself."""
    return replace(info, name=name)


def _load_entry_point(ep: EntryPoint) -> type[Strategy]:
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin's own bug must not become heron's traceback
        raise InvalidConfiguration(
            f"strategy entry point {ep.name} = {ep.value!r} failed to import "
            f"({_one_line(exc)}); fix or uninstall the package that provides it") from None
    return _check_class(cls, f"entry point {ep.name} = {ep.value!r}")


def load_plugin_file(path: Path, info: StrategyInfo) -> type[Strategy]:
    """Import the plugin file ``path`` (a fresh private module) and return its class."""
    if not path.is_file():
        raise InvalidConfiguration(f"strategy plugin {path} no longer exists; restore it or "
                                   "pick another strategy (heron strategies list)")
    module = _import_file(path)
    if info.class_name:
        return _check_class(getattr(module, info.class_name, None),
                            f"{path}: class {info.class_name}")
    candidates = [c for c in vars(module).values() if isinstance(c, type)
                  and issubclass(c, Strategy) and c.__module__ == module.__name__]
    chosen = [c for c in candidates if c.name == info.name] or candidates
    if len(chosen) != 1:
        raise InvalidConfiguration(f"{path}: cannot tell which class is strategy "
                                   f"{info.name!r}; add 'class': 'ClassName' to STRATEGY_META")
    return chosen[0]


def _import_file(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"{PLUGIN_PREFIX}{path.stem}_{digest}"
    if name in sys.modules:  # chosen before in this process: the same classes again
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidConfiguration(f"strategy plugin {path} cannot be imported as a Python "
                                   "file; give it a .py name")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickling and typing look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the plugin's own error, reported in one line
        del sys.modules[name]
        raise InvalidConfiguration(
            f"strategy plugin {path} raised on import ({_one_line(exc)}); "
            "fix the file or pick another strategy") from None
    return module


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, however many lines the message has."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _check_class(cls: object, what: str) -> type[Strategy]:
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise InvalidConfiguration(f"{what} is not a heron Strategy subclass; name a class "
                                   "that derives from heron.Strategy")
    return cls


def unknown_message(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"unknown strategy {name!r}{hint}; known strategies: {', '.join(known)} "
            "(heron strategies list); or pass module:ClassName, or --strategy-path DIR "
            "for a folder of your own")


def strategy_class(name: str, *, paths: Iterable[str | Path] = ()) -> type[Strategy]:
    """The class for ``name``: a built-in, an entry point, a strategy-path plugin (``paths``
    and ``HERON_STRATEGY_PATH``), or ``module:Class``."""
    if name in BUILTIN:
        return BUILTIN[name]
    if ":" in name:
        return _import(name)
    registry = StrategyRegistry(paths)
    for problem in registry.problems:
        log.warning("strategy plugin skipped: %s", problem)
    return registry.load(name)


def _import(path: str) -> type[Strategy]:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidConfiguration(f"cannot import strategy module {module_name!r} ({exc}); "
                                   "check it is on PYTHONPATH") from None
    return _check_class(getattr(module, attr, None), path)
