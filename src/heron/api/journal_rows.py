"""Reading a run's journal rows by sequence number while another process writes them.

Two sources behind one small interface, both read-only and safe to call from a worker
thread while the run appends:

* :class:`SqliteRows`: a SQLite journal file (``--journal``, a paper or live run's
  ``STATE/journal.sqlite``). The file may not exist yet (a backtest's appears whole when
  sealed), and a paper restart renames it aside and rebuilds it with the same sequence
  numbers: the source notices the new inode and reopens, and reading on by sequence
  number stays right. :meth:`SqliteRows.probe` tells cheaply, without taking a lock,
  whether the file changed (its inode, size, mtime and SQLite's file change counter).
* :class:`PgRows`: a run in a PostgreSQL journal database; new rows are announced by
  ``NOTIFY heron_journal, '<run id>'`` from :meth:`heron.core.journal_store.JournalStore.insert`
  (heard by :class:`PgListener`, one connection per database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from heron.core.db import create_engine, records_table, runs_table

log = logging.getLogger("heron.api")

#: (seq, ts, type name, MessagePack payload)
Row = tuple[int, int, str, bytes]
CHANNEL = "heron_journal"
#: how long a read waits for a writer's commit to finish: history, and following
BUSY_WAIT_S = 2.0
LIVE_WAIT_S = 0.05


class RowSource(Protocol):
    """What a follower needs from a journal, whatever holds it."""

    kind: str

    def read(self, after: int, limit: int, *, wait: bool = True) -> list[Row]: ...
    def read_type(self, after: int, limit: int, type_name: str) -> list[Row]: ...
    def read_type_before(self, before: int, limit: int, type_name: str) -> list[Row]: ...
    def last_seq(self) -> int: ...
    def header(self) -> dict[str, Any] | None: ...
    def sealed(self) -> bool: ...
    def close(self) -> None: ...


class SqliteRows:
    """A SQLite journal file, opened read-only, reopened when the file is replaced."""

    kind = "sqlite"

    def __init__(self, path: Path, run_id: str = "main") -> None:
        self.path = path
        self.run_id = run_id
        self._conn: sqlite3.Connection | None = None
        self._ino: int | None = None
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int, bytes] | None = None
        self._fd: int | None = None
        self._fd_ino: int | None = None
        self._busy = False  # a read found the writer mid-commit: read again next probe

    def probe(self) -> bool:
        """Did the file change since the last probe? (stat + the header's change counter:
        no lock, no query; a writer in rollback mode bumps the counter on every commit)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        if self._fd_ino != st.st_ino:
            self._close_fd()
            with contextlib.suppress(OSError):
                self._fd = os.open(self.path, os.O_RDONLY)
                self._fd_ino = os.fstat(self._fd).st_ino
        counter = b""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                counter = os.pread(self._fd, 4, 24)
        seen = (st.st_ino, st.st_size, st.st_mtime_ns, counter)
        changed = seen != self._seen or self._busy
        self._seen = seen
        self._busy = False
        return changed

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._fd_ino = None

    def _connection(self) -> sqlite3.Connection | None:
        """The connection on the file as it is now; ``None`` while there is no file."""
        try:
            ino = os.stat(self.path).st_ino
        except OSError:
            self._drop()
            return None
        if self._conn is None or ino != self._ino:
            self._drop()
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False,
                                         isolation_level=None)
            self._ino = ino
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._ino = None

    def _query(self, sql: str, args: tuple[Any, ...], *, wait: bool = True) -> list[Any]:
        """Rows of ``sql``; none while the file is missing or unreadable.

        A writer in rollback-journal mode locks readers out while it commits, and a run
        that commits every few milliseconds would keep SQLite's own busy handler (sleeps
        growing to 25 ms and more) behind it for long stretches; so the lock is tried
        again every millisecond, for up to ``LIVE_WAIT_S`` (``wait=False``: the follower
        then asks again at its next probe) or ``BUSY_WAIT_S`` (history)."""
        deadline = time.monotonic() + (BUSY_WAIT_S if wait else LIVE_WAIT_S)
        with self._lock:
            while True:
                try:
                    conn = self._connection()
                    return [] if conn is None else conn.execute(sql, args).fetchall()
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        return self._unreadable(exc)
                    if time.monotonic() >= deadline:
                        self._busy = True
                        return []
                    time.sleep(0.001)
                except sqlite3.Error as exc:
                    return self._unreadable(exc)

    def _unreadable(self, exc: sqlite3.Error) -> list[Any]:
        """Not written yet, or mid-rebuild: read it again next time."""
        log.debug("journal %s not readable now: %s", self.path, exc)
        self._drop()
        return []

    def read(self, after: int, limit: int, *, wait: bool = True) -> list[Row]:
        return self._query("SELECT seq, ts, type, payload FROM records WHERE run_id = ? "
                           "AND seq > ? ORDER BY seq LIMIT ?", (self.run_id, after, limit),
                           wait=wait)

    def read_type(self, after: int, limit: int, type_name: str) -> list[Row]:
        return self._query("SELECT seq, ts, type, payload FROM records WHERE run_id = ? "
                           "AND seq > ? AND type = ? ORDER BY seq LIMIT ?",
                           (self.run_id, after, type_name, limit))

    def read_type_before(self, before: int, limit: int, type_name: str) -> list[Row]:
        """The last ``limit`` records of a type before ``before``, newest first."""
        return self._query("SELECT seq, ts, type, payload FROM records WHERE run_id = ? "
                           "AND seq < ? AND type = ? ORDER BY seq DESC LIMIT ?",
                           (self.run_id, before, type_name, limit))

    def last_seq(self) -> int:
        rows = self._query("SELECT max(seq) FROM records WHERE run_id = ?", (self.run_id,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def header(self) -> dict[str, Any] | None:
        rows = self._query("SELECT header FROM runs WHERE run_id = ?", (self.run_id,))
        return dict(json.loads(rows[0][0])) if rows else None

    def sealed(self) -> bool:
        rows = self._query("SELECT sealed FROM runs WHERE run_id = ?", (self.run_id,))
        return bool(rows and rows[0][0])

    def close(self) -> None:
        with self._lock:
            self._drop()
            self._close_fd()


class PgRows:
    """One run in a PostgreSQL journal database (one pooled connection per source)."""

    kind = "postgresql"

    def __init__(self, url: str, run_id: str) -> None:
        self.url = url
        self.run_id = run_id
        self._engine = create_engine(url)

    def _rows(self, query: Any) -> list[Any]:
        try:
            with self._engine.connect() as conn:
                return list(conn.execute(query).all())
        except sa.exc.DatabaseError as exc:
            log.warning("journal run %s not readable now: %s", self.run_id,
                        str(exc).splitlines()[0])
            return []

    def read(self, after: int, limit: int, *, wait: bool = True) -> list[Row]:
        t = records_table.c
        return self._records(sa.select(t.seq, t.ts, t.type, t.payload).where(
            t.run_id == self.run_id, t.seq > after).order_by(t.seq).limit(limit))

    def read_type(self, after: int, limit: int, type_name: str) -> list[Row]:
        t = records_table.c
        return self._records(sa.select(t.seq, t.ts, t.type, t.payload).where(
            t.run_id == self.run_id, t.seq > after, t.type == type_name
        ).order_by(t.seq).limit(limit))

    def read_type_before(self, before: int, limit: int, type_name: str) -> list[Row]:
        t = records_table.c
        return self._records(sa.select(t.seq, t.ts, t.type, t.payload).where(
            t.run_id == self.run_id, t.seq < before, t.type == type_name
        ).order_by(t.seq.desc()).limit(limit))

    def _records(self, query: Any) -> list[Row]:
        return [(int(s), int(ts), str(k), bytes(p)) for s, ts, k, p in self._rows(query)]

    def last_seq(self) -> int:
        t = records_table.c
        rows = self._rows(sa.select(sa.func.max(t.seq)).where(t.run_id == self.run_id))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def header(self) -> dict[str, Any] | None:
        rows = self._rows(sa.select(runs_table.c.header).where(
            runs_table.c.run_id == self.run_id))
        return dict(json.loads(rows[0][0])) if rows else None

    def sealed(self) -> bool:
        rows = self._rows(sa.select(runs_table.c.sealed).where(
            runs_table.c.run_id == self.run_id))
        return bool(rows and rows[0][0])

    def close(self) -> None:
        self._engine.dispose()


class PgListener:
    """``LISTEN heron_journal`` on one database; calls ``on_notify(run_id)`` on the loop.

    Reconnects after a lost connection (waking every run then, since notifications sent
    while disconnected are gone) until :meth:`close`."""

    def __init__(self, url: str, on_notify: Callable[[str | None], None]) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        import psycopg

        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._on_notify(None)  # anything committed before we listened
                    async for note in conn.notifies():
                        self._on_notify(note.payload)
            except psycopg.Error as exc:
                log.warning("LISTEN %s lost (%s); reconnecting", CHANNEL,
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self._on_notify(None)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def open_rows(location: str | Path, run_id: str | None) -> RowSource:
    """The source for a journal location as :meth:`RunManager.journal_location` gives it."""
    text = str(location)
    if text.startswith(("postgresql:", "postgres:", "postgresql+")):
        return PgRows(text, run_id or "main")
    path = Path(text[len("sqlite:///"):]) if text.startswith("sqlite:///") else Path(text)
    return SqliteRows(path, run_id or "main")
