"""The registry: built-ins, entry points from a real dist-info, and a strategy folder with
a good plugin, a broken one and one that raises on import. Listing never imports a
plugin; choosing one imports it, or fails in one line naming the file."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import heron
from heron.errors import InvalidConfiguration
from heron.strategy.library.mean_reversion import MeanReversion
from heron.strategy.library.momentum import Momentum
from heron.strategy.library.sma_cross import SmaCross
from heron.strategy.registry import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    PATH_ENV,
    StrategyRegistry,
    strategy_class,
)

SMALL = Path(__file__).resolve().parents[2] / "data" / "ADABTC-1m-2021-11-27.csv"

GOOD = '''
"""A test plugin."""
from pathlib import Path

from heron import Bar, Param, Strategy

Path(__file__).with_name("good-was-imported").write_text("yes")


class Holder(Strategy):
    """Buy on the first bar and hold."""

    name = "holder"
    fraction = Param("0.5", doc="share of equity")
    bars = Param(3, ge=1, le=10)

    def on_bar(self, bar: Bar) -> None:
        if self.position.is_flat and not self.has_open_orders():
            self.buy(size=self.equity_fraction(self.fraction))
'''

RAISES = '''
from heron import Param, Strategy

raise RuntimeError("database is down")


class Exploder(Strategy):
    name = "exploder"
    size = Param(1, ge=1)
'''


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "good.py").write_text(textwrap.dedent(GOOD))
    (folder / "broken.py").write_text("class Broken(Strategy:\n    pass\n")
    (folder / "raises.py").write_text(textwrap.dedent(RAISES))
    return folder


def plugin_modules() -> list[str]:
    return [name for name in sys.modules if name.startswith("heron_plugin_")]


def test_builtins_are_listed_and_loaded_by_name() -> None:
    assert {"sma_cross": SmaCross, "momentum": Momentum,
            "mean_reversion": MeanReversion}.items() <= dict(BUILTIN).items()
    assert all(cls.name == name for name, cls in BUILTIN.items())
    registry = StrategyRegistry(env=False, entry_points=False)
    assert registry.names() == sorted(BUILTIN)
    info = registry.get("momentum")
    assert info.source == "builtin"
    assert info.location == "heron.strategy.library.momentum:Momentum"
    assert [p.name for p in info.params][:4] == ["lookback", "window", "entry", "exit"]
    assert strategy_class("mean_reversion") is MeanReversion


def test_listing_a_folder_imports_nothing_and_reports_the_broken_file(plugins: Path) -> None:
    before = plugin_modules()
    registry = StrategyRegistry([plugins], env=False, entry_points=False)
    assert {"holder", "exploder"} <= set(registry.names())
    assert registry.get("holder").source == "path"
    assert [(p.name, p.default, p.ge, p.le) for p in registry.get("holder").params] == [
        ("fraction", "0.5", None, None), ("bars", 3, 1, 10)]
    assert len(registry.problems) == 1
    assert registry.problems[0].startswith(f"{plugins / 'broken.py'}: syntax error on line 1")
    assert not (plugins / "good-was-imported").exists()
    assert plugin_modules() == before


def test_choosing_a_plugin_imports_it_and_runs_it_by_name(plugins: Path) -> None:
    cls = strategy_class("holder", paths=[plugins])
    assert (plugins / "good-was-imported").read_text() == "yes"
    assert cls.name == "holder" and cls.__name__ == "Holder"
    result = heron.backtest(SMALL, strategy=cls, params={"fraction": "0.5"}, cash="1")
    assert result.orders == 1


def test_a_plugin_that_raises_on_import_is_one_line_naming_file_and_error(
        plugins: Path) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        strategy_class("exploder", paths=[plugins])
    message = str(caught.value)
    assert "\n" not in message
    assert str(plugins / "raises.py") in message
    assert "RuntimeError: database is down" in message
    # the others still load
    assert strategy_class("holder", paths=[plugins]).name == "holder"


def test_a_plugin_deleted_after_listing_is_reported_when_chosen(plugins: Path) -> None:
    registry = StrategyRegistry([plugins], env=False, entry_points=False)
    (plugins / "good.py").unlink()
    with pytest.raises(InvalidConfiguration, match="no longer exists"):
        registry.load("holder")


def test_strategy_path_from_the_environment(plugins: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    other = plugins.parent / "more"
    other.mkdir()
    (other / "extra.py").write_text("from heron import Strategy\n\n"
                                    "class Extra(Strategy):\n    name = 'extra'\n")
    monkeypatch.setenv(PATH_ENV, f"{plugins}{os.pathsep}{other}")
    assert strategy_class("extra").__name__ == "Extra"
    assert strategy_class("holder").__name__ == "Holder"


def test_a_plugin_may_not_take_a_builtin_name(tmp_path: Path) -> None:
    (tmp_path / "clash.py").write_text("from heron import Strategy\n\n"
                                       "class Mine(Strategy):\n    name = 'sma_cross'\n")
    registry = StrategyRegistry([tmp_path], env=False, entry_points=False)
    assert registry.get("sma_cross").source == "builtin"
    assert len(registry.problems) == 1 and "already taken" in registry.problems[0]
    assert strategy_class("sma_cross", paths=[tmp_path]) is SmaCross


def test_unknown_strategy_names_the_known_ones_and_the_fix(plugins: Path) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        strategy_class("holdr", paths=[plugins])
    message = str(caught.value)
    assert "did you mean 'holder'" in message
    assert "momentum" in message and "--strategy-path" in message


# -- entry points ---------------------------------------------------------------------------

EP_MODULE = '''
"""Installed strategies."""
from pathlib import Path

from heron import Param, Strategy

Path(__file__).with_name("ep-was-imported").write_text("yes")


class Installed(Strategy):
    """An installed strategy."""

    name = "installed_internal_name"
    level = Param(5, ge=0, le=9)
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory on sys.path holding a package and its dist-info with entry points."""
    root = tmp_path / "site"
    package = root / "heron_ep_probe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "strategies.py").write_text(textwrap.dedent(EP_MODULE))
    (package / "failing.py").write_text("from heron import Strategy\n"
                                        "raise ImportError('missing dependency: talib')\n"
                                        "class Failing(Strategy): pass\n")
    dist = root / "heron_ep_probe-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: heron-ep-probe\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "installed = heron_ep_probe.strategies:Installed\n"
        "failing = heron_ep_probe.failing:Failing\n"
        "ghost = heron_ep_probe.ghost:Ghost\n"
        "momentum = heron_ep_probe.strategies:Installed\n")
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("heron_ep_probe")]:
        del sys.modules[name]


def test_entry_points_are_listed_from_source_without_importing(site: Path) -> None:
    registry = StrategyRegistry(env=False)
    info = registry.get("installed")
    assert (info.source, info.location) == ("entry-point", "heron_ep_probe.strategies:Installed")
    assert [(p.name, p.default, p.ge, p.le) for p in info.params] == [("level", 5, 0, 9)]
    assert info.summary == "An installed strategy."
    assert "heron_ep_probe.strategies" not in sys.modules
    assert not (site / "heron_ep_probe" / "ep-was-imported").exists()
    # a module that cannot be found is skipped with a line; a built-in name is not taken
    problems = "\n".join(registry.problems)
    assert "ghost = 'heron_ep_probe.ghost:Ghost' failed to import" in problems
    assert "'momentum' is already taken" in problems
    assert registry.get("momentum").source == "builtin"


def test_entry_point_is_loaded_when_chosen(site: Path) -> None:
    cls = strategy_class("installed")
    assert cls.__name__ == "Installed" and cls.params["level"].default == 5
    assert (site / "heron_ep_probe" / "ep-was-imported").exists()


def test_entry_point_that_raises_on_import_is_one_line(site: Path) -> None:
    assert StrategyRegistry(env=False).get("failing").source == "entry-point"
    with pytest.raises(InvalidConfiguration) as caught:
        strategy_class("failing")
    message = str(caught.value)
    assert "\n" not in message
    assert "heron_ep_probe.failing:Failing" in message
    assert "ImportError: missing dependency: talib" in message
