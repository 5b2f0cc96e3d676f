"""``heron live --db``: a live run journaled to PostgreSQL, one writer per account there.

The real command in subprocesses against the loopback Binance USD-M exchange; the
journal database is the test session's PostgreSQL server, passed in ``HERON_DB`` (never
in the argv). A second live node on the same account and database is refused in one line
while the first holds the account's advisory lock; a restart restores the run from the
database, under the same run id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import loopback_exchange
from heron.core.db import create_engine
from heron.core.journal_store import JournalReader
from heron.testing.exchange import ExchangeServer

KEY, SECRET = "db-live-key", "db-live-secret"


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as srv:
        yield srv


def _args(server: ExchangeServer, state: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "heron", "live", "--strategy", "sma_cross", "--param",
            "fast=2", "--param", "slow=3", "--param", "fraction=0.1", "--venue",
            "binanceusdm", "--symbol", "BTC/USDT:USDT", "--bar", "1s", "--endpoint",
            server.url, "--state", str(state), "--quiet", *extra]


def _env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | {"HERON_BINANCEUSDM_API_KEY": KEY, "HERON_BINANCEUSDM_API_SECRET": SECRET,
                  "HERON_DB": db}


def _advisory_locks(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"))
                .scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_live_run_journals_to_postgresql_with_one_writer_per_account(
        pg_url: str, server: ExchangeServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = subprocess.Popen(_args(server, state, "--duration", "60"), env=_env(pg_url),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _advisory_locks(pg_url) == 0:  # the first node holds the account's lock
            assert first.poll() is None and time.monotonic() < deadline, first.stderr
            time.sleep(0.1)
        second = subprocess.run(_args(server, tmp_path / "other", "--duration", "5"),
                                env=_env(pg_url), capture_output=True, text=True,
                                timeout=120, check=False)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[0].startswith("journal: "), second.stderr
        assert "another live run already writes account binanceusdm:live:" in lines[1]
        assert "postgresql://" in lines[1] and "pid=" in lines[1]
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    run_id = json.loads((state / "run.json").read_text())["run_id"]
    assert f"journal: {pg_url} run {run_id}" in err
    records = list(JournalReader(pg_url, run_id).records())
    assert len(records) > 1
    assert not (state / "journal.sqlite").exists()

    again = subprocess.run(_args(server, state, "--duration", "2"), env=_env(pg_url),
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    restored = list(JournalReader(pg_url, run_id).records())
    assert restored[:len(records)] == records  # restored from the database, then on


def test_a_live_state_keeps_its_journal_database(pg_url: str, server: ExchangeServer,
                                                 tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "run.json").write_text(json.dumps({
        "config": {"strategy": "sma_cross", "venue": "binanceusdm", "bar": "1s",
                   "symbols": ["BTC/USDT:USDT"],
                   "params": {"fast": "2", "slow": "3", "fraction": "0.1"}},
        "instruments": [], "run_id": "lv-1",
        "journal": "postgresql://elsewhere/db"}))
    done = subprocess.run(_args(server, state), env=_env(pg_url), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "journals to postgresql://elsewhere/db, not" in done.stderr
