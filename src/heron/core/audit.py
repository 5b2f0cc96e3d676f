"""The audit log: manual interventions (kill, state override, limit change), append-only,
each row chained to the one before by a SHA-256.

A row's ``hash`` is ``sha256(prev_hash || canonical(row))``, where ``canonical`` is the
compact, key-sorted JSON of ``seq, ts_ns, run_id, actor, action, details`` and the first
row's ``prev_hash`` is 64 zeros. Editing a row breaks its own hash; deleting or
reordering rows breaks a ``seq`` or a ``prev_hash``. Only dropping rows from the *end*
keeps the chain whole, which is why :meth:`AuditLog.verify` can be given the head hash
and count seen earlier (``heron audit list`` prints them) to check against.

The table lives in the journal database (:mod:`heron.core.db`), where triggers refuse
UPDATE and DELETE; the chain is what proves it to someone who can drop triggers.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from heron.core.db import audit_table, create_engine, display, ensure_schema, sqlite_path
from heron.errors import JournalError

GENESIS = "0" * 64
_APPEND_TRIES = 5


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts_ns: int
    run_id: str
    actor: str
    action: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def canonical(seq: int, ts_ns: int, run_id: str, actor: str, action: str,
              details: dict[str, Any]) -> bytes:
    """The bytes a row's hash covers (details as stored: key-sorted compact JSON)."""
    body = {"seq": seq, "ts_ns": ts_ns, "run_id": run_id, "actor": actor, "action": action,
            "details": details}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def chain_hash(prev_hash: str, row: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + row).hexdigest()


class AuditLog:
    """The audit table of one journal database (a SQLite path or a PostgreSQL URL)."""

    def __init__(self, url: str | Path, *, create: bool = True) -> None:
        self.where = display(url)
        path = sqlite_path(url)
        if not create and path is not None and not path.is_file():
            raise JournalError(f"{path}: journal database not found; check --db")
        self.engine = create_engine(url, pooled=False)
        try:
            ensure_schema(self.engine, self.where, create=create)
        except BaseException:
            self.engine.dispose()
            raise

    def append(self, run_id: str, actor: str, action: str, details: dict[str, Any], *,
               ts_ns: int | None = None) -> AuditEntry:
        """Add one row at the end of the chain. Two writers at once: the loser retries
        (the primary key on ``seq`` refuses a fork of the chain)."""
        text = json.dumps(details, sort_keys=True, separators=(",", ":"))
        stored = json.loads(text)  # what verify will read back
        ts = time.time_ns() if ts_ns is None else ts_ns
        for attempt in range(_APPEND_TRIES):
            try:
                return self._append(run_id, actor, action, stored, text, ts)
            except sa.exc.IntegrityError:
                if attempt == _APPEND_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _append(self, run_id: str, actor: str, action: str, details: dict[str, Any],
                text: str, ts: int) -> AuditEntry:
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262737187)"))
            last = conn.execute(sa.select(audit_table.c.seq, audit_table.c.hash).order_by(
                audit_table.c.seq.desc()).limit(1)).first()
            seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
            digest = chain_hash(prev, canonical(seq, ts, run_id, actor, action, details))
            conn.execute(audit_table.insert().values(
                seq=seq, ts_ns=ts, run_id=run_id, actor=actor, action=action, details=text,
                prev_hash=prev, hash=digest))
        return AuditEntry(seq, ts, run_id, actor, action, details, prev, digest)

    def entries(self, run_id: str | None = None) -> list[AuditEntry]:
        """The rows in chain order (``run_id``: only that run's)."""
        query = sa.select(audit_table).order_by(audit_table.c.seq)
        if run_id is not None:
            query = query.where(audit_table.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AuditEntry(int(r.seq), int(r.ts_ns), r.run_id, r.actor, r.action,
                           json.loads(r.details), r.prev_hash, r.hash) for r in rows]

    def verify(self, *, head: str | None = None, count: int | None = None) -> list[str]:
        """Problems with the chain, first broken row first; ``[]`` when intact. ``head``
        and ``count`` (seen earlier) also catch rows cut from the end."""
        problems: list[str] = []
        prev = GENESIS
        entries = self.entries()
        for expected, row in enumerate(entries, start=1):
            if row.seq != expected:
                problems.append(f"row {row.seq}: expected seq {expected} (a row was deleted "
                                "or rows were reordered)")
            if row.prev_hash != prev:
                problems.append(f"row {row.seq}: prev_hash does not match the row before it "
                                "(deleted, inserted or reordered rows)")
            digest = chain_hash(row.prev_hash, canonical(row.seq, row.ts_ns, row.run_id,
                                                         row.actor, row.action, row.details))
            if digest != row.hash:
                problems.append(f"row {row.seq}: hash does not match its contents (the row "
                                "was edited)")
            prev = row.hash
        if count is not None and len(entries) < count:
            problems.append(f"row {len(entries) + 1}: missing ({len(entries)} rows, expected "
                            f"{count}: rows were cut from the end)")
        if head is not None and prev != head and (count is None or len(entries) >= count):
            problems.append(f"head {prev[:16]}… is not the expected {head[:16]}… (rows were "
                            "cut from or added at the end)")
        return problems

    def close(self) -> None:
        self.engine.dispose()
