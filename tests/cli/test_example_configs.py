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


def test_mirror_example_follows_the_sma_cross_example(tmp_path: Path) -> None:
    reference = tmp_path / "sma_cross.sqlite"
    heron = [sys.executable, "-m", "heron", "backtest", "--quiet"]
    first = subprocess.run([*heron, str(ROOT / "examples" / "sma_cross.toml"), "--journal",
                            str(reference), "--json", str(tmp_path / "ref.json"), "--report",
                            str(tmp_path / "ref.html")],
                           capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    copy = subprocess.run([*heron, str(ROOT / "examples" / "mirror.toml"), "--param",
                           f"source={reference}", "--json", str(tmp_path / "copy.json"),
                           "--report", str(tmp_path / "copy.html")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert copy.returncode == 0, copy.stderr
    ref, doc = (json.loads((tmp_path / n).read_text()) for n in ("ref.json", "copy.json"))
    # a long-short flip is two reference fills on one bar and one copy order (the copy
    # trades to the reference's position after the bar's fills), two minutes later
    moments = sorted({f["ts"] for f in ref["fills_list"]})
    assert ref["fills"] > 20 and doc["fills"] == len(moments)
    assert [f["ts"] for f in doc["fills_list"]] == [t + 120_000_000_000 for t in moments]
    assert {f["side"] for f in doc["fills_list"]} == {"buy", "sell"}
    assert max(abs(float(f["qty"])) for f in doc["fills_list"]) <= 2.0  # cap 1 each side
