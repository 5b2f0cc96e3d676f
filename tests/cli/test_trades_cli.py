"""``heron trades`` end to end: a real backtest's journal through the real command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.node.round_trip_table import journal_round_trips

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def heron(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sma_cross 2/3 on ten ADABTC bars: one closed round trip and one left open."""
    path = tmp_path_factory.mktemp("trades") / "j.sqlite"
    proc = heron("backtest", "--strategy", "sma_cross", "--data", SMALL, "--param", "fast=2",
                 "--param", "slow=3", "--cash", "1000", "--journal", path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return path


def test_trades_shows_closed_trips_and_totals(journal: Path) -> None:
    proc = heron("trades", journal)
    assert proc.returncode == 0, proc.stderr
    expected = journal_round_trips(journal)
    assert expected.height == 1
    net = expected["net_pnl"][0].quantize(Decimal("1e-8"))
    assert "ADABTC.SIM" in proc.stdout and "long" in proc.stdout
    assert f"1 round trips (0 open), 0 won; net {net.normalize():f}" in proc.stdout
    assert "open │" not in proc.stdout


def test_trades_open_flag_adds_the_open_trip_and_writes_csv(journal: Path,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "trips.csv"
    proc = heron("trades", journal, "--open", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "2 round trips (1 open)" in proc.stdout and "open" in proc.stdout
    written = pl.read_csv(out, infer_schema=False)
    expected = journal_round_trips(journal, include_open=True)
    assert written.height == 2
    assert [Decimal(v) for v in written["net_pnl"]] == expected["net_pnl"].to_list()
    assert [Decimal(v) for v in written["entry_slippage_bps"]] == \
        expected["entry_slippage_bps"].to_list()


def test_trades_parquet_is_exact_and_state_directory_is_accepted(journal: Path,
                                                                 tmp_path: Path) -> None:
    state = tmp_path / "paper-state"
    state.mkdir()
    shutil.copy(journal, state / "journal.sqlite")
    out = tmp_path / "trips.parquet"
    proc = heron("trades", state, "--out", out, "--instrument", "ADABTC")
    assert proc.returncode == 0, proc.stderr
    assert pl.read_parquet(out).equals(journal_round_trips(journal))


@pytest.mark.parametrize(("args", "needle"), [
    (["{tmp}/missing.sqlite"], "journal file not found; check the path"),
    (["{tmp}/foreign.txt"], "not a heron journal"),
    (["{journal}", "--out", "{tmp}/t.xlsx"], "name the file .parquet or .csv"),
    (["{journal}", "--out", "{tmp}/nodir/t.csv"], "does not exist; create it first"),
    (["{journal}", "--instrument", "ETHUSDT"], "pass one of those to --instrument"),
])
def test_trades_bad_input_exits_2_with_one_line(journal: Path, tmp_path: Path,
                                                args: list[str], needle: str) -> None:
    (tmp_path / "foreign.txt").write_text("not a journal at all " * 10)
    proc = heron("trades", *(a.format(tmp=tmp_path, journal=journal) for a in args))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.txt"]
