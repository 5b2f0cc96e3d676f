"""The audit log: an append-only, hash-chained table that names the first broken row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from heron.core.audit import GENESIS, AuditLog, canonical, chain_hash
from journal_backend import Backend


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path)
    return Backend("postgresql", tmp_path, request.getfixturevalue("pg_url"))


@pytest.fixture
def filled(backend: Backend) -> str:
    location = backend.location("audit")
    log = AuditLog(location)
    log.append("run-1", "alice", "kill", {"flatten": True, "reason": "fat finger"}, ts_ns=1)
    log.append("run-1", "bob", "state_override", {"from": "HALTED", "to": "READY"}, ts_ns=2)
    log.append("run-2", "alice", "limit_change", {"max_qty": "5"}, ts_ns=3)
    log.append("run-1", "carol", "kill", {"flatten": False}, ts_ns=4)
    log.close()
    return location


def _unguarded(backend: Backend, location: str, sql: str) -> None:
    """Tamper as the database owner would: drop the append-only trigger first."""
    if backend.kind == "sqlite":
        backend.execute(location, "DROP TRIGGER audit_no_update")
        backend.execute(location, "DROP TRIGGER audit_no_delete")
    else:
        backend.execute(location, "DROP TRIGGER audit_append_only ON audit")
    backend.execute(location, sql)


def test_audit_chain_links_each_row_to_the_one_before(filled: str) -> None:
    log = AuditLog(filled)
    rows = log.entries()
    assert [(e.seq, e.actor, e.action) for e in rows] == [
        (1, "alice", "kill"), (2, "bob", "state_override"), (3, "alice", "limit_change"),
        (4, "carol", "kill")]
    assert rows[0].prev_hash == GENESIS
    assert rows[0].hash == chain_hash(GENESIS, canonical(
        1, 1, "run-1", "alice", "kill", {"flatten": True, "reason": "fat finger"}))
    assert [e.prev_hash for e in rows[1:]] == [e.hash for e in rows[:-1]]
    assert [e.seq for e in log.entries("run-2")] == [3]
    assert log.verify() == []
    assert log.verify(head=rows[-1].hash, count=4) == []
    log.close()


def test_audit_update_and_delete_are_refused_by_the_database(backend: Backend,
                                                             filled: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        backend.execute(filled, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        backend.execute(filled, "DELETE FROM audit WHERE seq = 2")


def test_audit_edited_row_is_named(backend: Backend, filled: str) -> None:
    _unguarded(backend, filled, "UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    problems = AuditLog(filled).verify()
    assert problems[0] == "row 2: hash does not match its contents (the row was edited)"


def test_audit_deleted_row_is_named(backend: Backend, filled: str) -> None:
    _unguarded(backend, filled, "DELETE FROM audit WHERE seq = 2")
    problems = AuditLog(filled).verify()
    assert problems[0].startswith("row 3: expected seq 2")
    assert any("row 3: prev_hash does not match" in p for p in problems)


def test_audit_reordered_rows_are_named(backend: Backend, filled: str) -> None:
    # swap rows 2 and 3 (their seq numbers), keeping each row's own hash
    _unguarded(backend, filled, "UPDATE audit SET seq = CASE seq WHEN 2 THEN 102 "
               "WHEN 3 THEN 2 ELSE seq END WHERE seq IN (2, 3)")
    backend.execute(filled, "UPDATE audit SET seq = 3 WHERE seq = 102")
    problems = AuditLog(filled).verify()
    assert problems[0].startswith("row 2: prev_hash does not match")


def test_audit_rows_cut_from_the_end_need_the_known_head(backend: Backend,
                                                         filled: str) -> None:
    head = AuditLog(filled).entries()[-1].hash
    _unguarded(backend, filled, "DELETE FROM audit WHERE seq = 4")
    log = AuditLog(filled)
    assert log.verify() == []  # a chain cut at its end is still a chain
    assert log.verify(count=4)[0].startswith("row 4: missing (3 rows, expected 4")
    assert "is not the expected" in log.verify(head=head)[0]


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", "audit", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_audit_cli_verify_exits_0_intact_and_4_naming_the_broken_row(backend: Backend,
                                                                      filled: str) -> None:
    ok = _audit("verify", "--db", filled)
    assert ok.returncode == 0, ok.stderr
    assert "ok: 4 audit rows, chain intact" in ok.stdout
    listed = _audit("list", "--db", filled, "--run", "run-2")
    assert listed.returncode == 0, listed.stderr
    assert "limit_change" in listed.stdout and "rows: 4" in listed.stdout
    _unguarded(backend, filled, "UPDATE audit SET details = '{}' WHERE seq = 3")
    broken = _audit("verify", "--db", filled)
    assert broken.returncode == 4
    assert "audit chain broken at row 3: hash does not match" in broken.stderr


def test_audit_cli_missing_database_is_input_error(tmp_path: Path) -> None:
    proc = _audit("verify", "--db", str(tmp_path / "absent.sqlite"))
    assert proc.returncode == 2
    assert "journal database not found" in proc.stderr
