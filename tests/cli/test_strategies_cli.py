"""``heron strategies list|show`` and ``heron backtest --strategy-path``, through the real
command: built-ins, a folder with a good and a broken plugin, JSON and tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"

PLUGIN = '''
"""Buy the first bar."""
from heron import Bar, Param, Strategy


class FirstBar(Strategy):
    """Buy on the first bar and hold to the end."""

    name = "first_bar"
    fraction = Param(0.5, gt=0.0, le=1.0, doc="share of equity to buy")

    def on_bar(self, bar: Bar) -> None:
        if self.position.is_flat and not self.has_open_orders():
            self.buy(size=self.equity_fraction(str(self.fraction)))
'''


def heron(*args: str | Path, env: dict[str, str] | None = None,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "first_bar.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "broken.py").write_text("def broken(:\n")
    return tmp_path


def test_list_json_has_the_builtins_with_their_params() -> None:
    proc = heron("strategies", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = {s["name"]: s for s in json.loads(proc.stdout)}
    assert {"sma_cross", "momentum", "mean_reversion"} <= set(doc)
    momentum = {p["name"]: p for p in doc["momentum"]["params"]}
    assert momentum["lookback"] == {"name": "lookback", "type": "int", "default": 60, "ge": 1,
                                    "le": 100000, "gt": None, "lt": None, "choices": None,
                                    "doc": momentum["lookback"]["doc"]}
    assert momentum["fraction"]["default"] == "1"  # a Decimal as exact text
    assert momentum["mode"]["choices"] == ["long-only", "long-short"]
    assert doc["mean_reversion"]["source"] == "builtin"


def test_list_with_a_folder_shows_the_plugin_and_warns_about_the_broken_file(
        folder: Path) -> None:
    proc = heron("strategies", "list", "--strategy-path", folder)
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "first_bar" in line)
    assert "path" in row and "fraction" in row and "Buy on the first bar" in row
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1
    assert warnings[0].startswith("warning:") and str(folder / "broken.py") in warnings[0]
    assert "syntax error on line 1" in warnings[0]


def test_show_prints_types_defaults_ranges_and_the_docstring() -> None:
    proc = heron("strategies", "show", "mean_reversion")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in ("mean_reversion", "builtin", "period", ">= 2, <= 100000", "width",
                   "> 0.0, <= 10.0", "long-only | long-short", "Decimal",
                   "exit at the mean", "Rules, on each bar"):
        assert needle in text, needle


def test_show_json_of_a_plugin_reads_it_from_source(folder: Path) -> None:
    proc = heron("strategies", "show", "first_bar", "--json", env={
        "HERON_STRATEGY_PATH": str(folder)})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["source"], doc["location"]) == ("path", str(folder / "first_bar.py"))
    assert doc["params"] == [{"name": "fraction", "type": "float", "default": 0.5, "ge": None,
                              "le": 1.0, "gt": 0.0, "lt": None, "choices": None,
                              "doc": "share of equity to buy"}]


def test_show_unknown_strategy_is_one_line_with_a_suggestion() -> None:
    proc = heron("strategies", "show", "momentun")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "did you mean 'momentum'" in lines[0]


def test_backtest_runs_a_plugin_by_name_from_the_strategy_path(folder: Path,
                                                                tmp_path: Path) -> None:
    proc = heron("backtest", "--strategy", "first_bar", "--strategy-path", folder,
                 "--data", SMALL, "--cash", "1", "--quiet", "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["orders"] == 1


def test_backtest_plugin_that_raises_on_import_exits_2_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("from heron import Strategy\n"
                                     "import no_such_module_for_heron\n"
                                     "class Bad(Strategy):\n    name = 'bad'\n")
    proc = heron("backtest", "--strategy", "bad", "--strategy-path", tmp_path,
                 "--data", SMALL, "--quiet")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert str(tmp_path / "bad.py") in lines[0]
    assert "ModuleNotFoundError" in lines[0] and "no_such_module_for_heron" in lines[0]
