"""One writer per account: a lock held in the journal database for a live run's life.

Two live nodes trading one venue account into one journal would each believe they own
its orders and positions. The lock's key is ``venue:account``; where it lives follows
the journal:

* PostgreSQL: ``pg_try_advisory_lock`` on a 64-bit hash of the key, on a connection of
  its own kept open for the run (the server frees it if the process dies). The holder is
  named through that connection's ``application_name`` (``heron pid=... host=...``).
* SQLite: an ``fcntl`` lock on a file beside the database
  (``journal.sqlite.writer-<hash>.lock``) holding ``pid=... host=...``; the kernel frees
  it when the process dies.

A second holder gets :class:`~heron.errors.InputError` naming the holder and the fix.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import Any, BinaryIO

from heron.core.db import create_engine, display, sqlite_path
from heron.errors import InputError


def lock_key(key: str) -> int:
    """A signed 64-bit advisory-lock key for ``key`` (PostgreSQL's bigint)."""
    raw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _me() -> str:
    return f"heron pid={os.getpid()} host={socket.gethostname()}"


def _refusal(key: str, where: str, holder: str) -> InputError:
    return InputError(f"another live run already writes account {key} into {where} "
                      f"({holder or 'holder unknown'}); stop it first, or give this run "
                      "another account or journal")


class WriterLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process ends)."""

    def __init__(self, location: str | Path, key: str) -> None:
        self.location = location
        self.key = key
        self.where = display(location)
        self._file: BinaryIO | None = None
        self._engine: Any = None
        self._conn: Any = None

    def acquire(self) -> WriterLock:
        path = sqlite_path(self.location)
        if path is None:
            self._acquire_pg()
        else:
            self._acquire_file(path)
        return self

    def _acquire_file(self, db_path: Path) -> None:
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:12]
        lock_path = db_path.with_name(f"{db_path.name}.writer-{digest}.lock")
        handle = open(lock_path, "a+b")  # noqa: SIM115 - held for the run's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().decode(errors="replace").strip()
            handle.close()
            raise _refusal(self.key, self.where, holder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(_me().encode())
        handle.flush()
        self._file = handle

    def _acquire_pg(self) -> None:
        import sqlalchemy as sa

        try:
            self._engine = create_engine(self.location)
            conn = self._engine.connect()
            conn.execute(sa.text("SELECT set_config('application_name', :me, false)"),
                         {"me": _me()[:63]})
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                               {"k": lock_key(self.key)}).scalar()
            conn.commit()
        except (sa.exc.DatabaseError, sa.exc.ArgumentError) as exc:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            why = str(exc.args[0] if exc.args else exc).splitlines()[0][:200]
            raise InputError(f"{self.where}: cannot take the account's writer lock ({why}); "
                             "check the --db URL and that the server is up") from None
        if got:
            self._conn = conn
            return
        holder = _pg_holder(conn, lock_key(self.key))
        conn.close()
        self._engine.dispose()
        self._engine = None
        raise _refusal(self.key, self.where, holder)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            import sqlalchemy as sa

            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"),
                               {"k": lock_key(self.key)})
            self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pg_holder(conn: Any, key: int) -> str:
    """The holding session's application_name (and its client address), if visible."""
    import sqlalchemy as sa

    unsigned = key & ((1 << 64) - 1)
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.client_addr, a.pid FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
        "AND l.granted AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"),
        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).first()
    if row is None:
        return ""
    name = row[0] or "a session"
    return f"{name}, server backend {row[2]}" + (f" from {row[1]}" if row[1] else "")
