"""``heron montecarlo`` end to end on a real backtest's JSON, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def heron(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def result_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mc") / "r.json"
    proc = heron("backtest", "--strategy", "sma_cross", "--data", DATA, "--symbol", "BTC-PERP",
                 "--kind", "perp", "--leverage", "2", "--param", "fast=30", "--param",
                 "slow=240", "--param", "mode=long-short", "--json", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out


def test_montecarlo_writes_json_and_report_reproducibly(result_json: Path,
                                                        tmp_path: Path) -> None:
    args = ("montecarlo", result_json, "--paths", "10000", "--seed", "42", "--ruin", "0.3")
    first = heron(*args, "--json", tmp_path / "a.json", "--report", tmp_path / "a.html")
    assert first.returncode == 0, first.stderr
    assert "probability of ruin" in first.stdout
    again = heron(*args, "--json", tmp_path / "b.json")
    assert again.returncode == 0, again.stderr
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc == json.loads((tmp_path / "b.json").read_text())
    backtest = json.loads(result_json.read_text())
    assert doc["paths"] == 10000 and doc["method"] == "trades" and doc["scheme"] == "iid"
    assert doc["steps"] == backtest["trades"] > 0
    assert doc["ruin_equity"] == pytest.approx(70_000.0)
    assert 0.0 <= doc["probability_of_ruin"] <= 1.0
    dist = doc["final_equity"]
    assert dist["p5"] <= dist["p25"] <= dist["p50"] <= dist["p75"] <= dist["p95"]
    page = (tmp_path / "a.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page


def test_montecarlo_daily_block_bootstrap(result_json: Path, tmp_path: Path) -> None:
    proc = heron("montecarlo", result_json, "--method", "daily", "--block", "5", "--scheme",
                 "moving", "--paths", "2000", "--seed", "1", "--json", tmp_path / "d.json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "d.json").read_text())
    assert (doc["method"], doc["scheme"], doc["block"], doc["steps"]) == ("daily", "moving",
                                                                           5, 33)


def test_montecarlo_refuses_bad_input_with_one_line(result_json: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"bars": 3}')
    no_trades = tmp_path / "none.json"
    made = heron("backtest", "--strategy", "sma_cross", "--data", SMALL, "--param", "fast=10",
                 "--param", "slow=1400", "--json", no_trades, "--quiet")
    assert made.returncode == 0, made.stderr
    cases = [((tmp_path / "missing.json",), "no such file"),
             ((foreign,), "not a heron backtest result"),
             ((result_json, "--paths", "0"), "paths 0"),
             ((no_trades,), "no closed trades"),
             ((result_json, "--method", "weekly"), "--method 'weekly'")]
    for args, message in cases:
        proc = heron("montecarlo", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
