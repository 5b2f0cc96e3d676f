"""Each library strategy's example config under examples/ runs as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "least_trades"), [
    ("momentum", 20), ("mean_reversion", 20), ("grid", 5)])
def test_example_config_runs_and_trades(name: str, least_trades: int, tmp_path: Path) -> None:
    config = ROOT / "examples" / f"{name}.toml"
    proc = subprocess.run([sys.executable, "-m", "heron", "backtest", str(config), "--quiet",
                           "--json", str(tmp_path / "r.json"),
                           "--report", str(tmp_path / "r.html")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["bars"] == 45031
    assert doc["trades"] > least_trades
    assert (tmp_path / "r.html").stat().st_size > 0


def test_market_maker_example_script_replays_the_bundled_book(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "market_maker.py"),
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    fills, maker = (int(x) for x in re.findall(r"fills (\d+), maker (\d+)", proc.stdout)[0])
    assert fills > 20 and maker == fills  # post-only quotes fill as maker or not at all
    assert (tmp_path / "market_maker.html").stat().st_size > 0
