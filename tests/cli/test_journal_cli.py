"""``heron backtest --db``, ``heron journal verify|list`` and ``heron trades`` on both
journal backends, through the real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heron.node.round_trip_table import journal_round_trips
from journal_backend import Backend

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "data" / "ADABTC-1m-2021-11-27.csv"


def heron(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A journal database with two backtests of sma_cross on ten ADABTC bars."""
    folder = tmp_path_factory.mktemp("jcli")
    if request.param == "sqlite":
        url = "sqlite:///" + str(folder / "j.sqlite")
    else:
        url = Backend("postgresql", folder, request.getfixturevalue("pg_url")).location("cli")
    runs = 2 if request.param == "postgresql" else 1
    for _ in range(runs):
        proc = heron("backtest", "--strategy", "sma_cross", "--data", SMALL, "--param",
                     "fast=2", "--param", "slow=3", "--cash", "1000", "--db", url, "--quiet")
        assert proc.returncode == 0, proc.stderr
    return url


def _runs(url: str) -> list[str]:
    from heron.core.journal_store import list_runs

    return [r.run_id for r in list_runs(url if url.startswith("postgresql") else
                                        url[len("sqlite:///"):])]


def test_journal_cli_verify_and_list_name_the_runs(db: str) -> None:
    runs = _runs(db)
    listed = heron("journal", "list", db)
    assert listed.returncode == 0, listed.stderr
    assert all(run in listed.stdout for run in runs)
    verified = heron("journal", "verify", db, "--run", runs[-1])
    assert verified.returncode == 0, verified.stderr
    assert "ok: the journal is whole" in verified.stdout
    if len(runs) > 1:
        ambiguous = heron("journal", "verify", db)
        assert ambiguous.returncode == 2
        assert "holds 2 runs; pass --run ID" in ambiguous.stderr


def test_journal_cli_trades_reads_the_database(db: str) -> None:
    run = _runs(db)[0]
    proc = heron("trades", db, "--run", run)
    assert proc.returncode == 0, proc.stderr
    location = db if db.startswith("postgresql") else db[len("sqlite:///"):]
    expected = journal_round_trips(location, run_id=run)
    assert expected.height == 1
    assert "1 round trips (0 open)" in proc.stdout


def test_journal_cli_backtest_refuses_journal_and_db_together(tmp_path: Path) -> None:
    proc = heron("backtest", "--strategy", "sma_cross", "--data", SMALL, "--journal",
                 tmp_path / "a.sqlite", "--db", "postgresql://u@127.0.0.1:1/x", "--quiet")
    assert proc.returncode == 2
    assert "pass --journal PATH or --db URL, not both" in proc.stderr
