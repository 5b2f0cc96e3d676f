"""Schema migrations (Alembic, applied at open) and many runs in one database."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from heron.core.journal import SCHEMA_VERSION, JournalWriter
from heron.core.journal_store import DEFAULT_RUN, JournalReader, list_runs
from heron.errors import JournalError
from heron.model.events import SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.replay import replay_journal
from journal_backend import Backend

#: a schema-1 journal written by heron before PostgreSQL support (sma_cross 10/50 on the
#: first 3,000 bars of data/btc-perp-20211231-20220201_1m.csv.gz); its seal and result:
V1 = Path(__file__).parent / "data" / "journal_v1.sqlite"
V1_SHA = "b55b92b7b15cfaac5e5e2b5fe1aa4dcf730276667089a313a5fd0caa9c678bff"


def test_migrations_schema_1_file_upgrades_and_replays_exactly(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(V1, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone() == ("1",)
    replayed = replay_journal(path)
    assert replayed.records == 368
    assert replayed.sha256 == V1_SHA  # payloads moved byte for byte
    assert str(replayed.portfolio.money(replayed.portfolio.balance)) == "89966.3478138521"
    assert len(replayed.orders.trips.closed) == 46
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'"
                            ).fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)
        assert conn.execute("SELECT run_id, record_count, sealed FROM runs").fetchall() == [
            (DEFAULT_RUN, 368, 1)]
        assert {k for (k,) in conn.execute("SELECT key FROM meta")} == {"app",
                                                                        "schema_version"}
    assert JournalReader(path).sha256 == V1_SHA  # opening again: nothing left to do


def _cmd(ts: int) -> SubmitOrder:
    return SubmitOrder(ts, ts, f"H-x-{ts}", "x", "A.SIM", OrderSide.BUY, OrderType.MARKET, 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path)
    return Backend("postgresql", tmp_path, request.getfixturevalue("pg_url"))


def test_migrations_many_runs_share_a_database_by_run_id(backend: Backend) -> None:
    location = backend.location("shared")
    if "://" not in location:
        pytest.skip("a SQLite journal file holds one run, 'main'")
    shas = {}
    for run_id, n in (("a", 2), ("b", 3)):
        writer = JournalWriter(location, {"kind": "test", "n": n}, run_id=run_id)
        for ts in range(1, n + 1):
            writer.append(_cmd(ts))
        shas[run_id] = writer.close()
    runs = list_runs(location)
    assert [(r.run_id, r.record_count, r.sealed, r.sha256) for r in runs] == [
        ("a", 2, True, shas["a"]), ("b", 3, True, shas["b"])]
    assert [rec.ts_event for rec in JournalReader(location, "b").records()] == [1, 2, 3]
    assert JournalReader(location, "a").header == {"kind": "test", "n": 2}
    with pytest.raises(JournalError, match="holds 2 runs; pass --run ID"):
        JournalReader(location)
    with pytest.raises(JournalError, match="no run 'c'"):
        JournalReader(location, "c")
    with pytest.raises(JournalError, match="run 'a' is already in this journal"):
        JournalWriter(location, {"kind": "test"}, run_id="a")


def test_migrations_server_runs_get_distinct_ids_and_a_failed_one_is_dropped(
        backend: Backend) -> None:
    location = backend.location("ids")
    if "://" not in location:
        pytest.skip("a SQLite journal file holds one run, 'main'")
    first = JournalWriter(location, {"kind": "backtest"})
    first.append(_cmd(1))
    first.close()
    failed = JournalWriter(location, {"kind": "backtest"}, batch_size=1)
    failed.append(_cmd(1))
    assert failed.run_id != first.run_id and failed.run_id.startswith("backtest-")
    assert len(list_runs(location)) == 2
    failed.abort()
    assert [r.run_id for r in list_runs(location)] == [first.run_id]
