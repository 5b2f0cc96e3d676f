"""The journal in a database: SQLite files and PostgreSQL through one SQLAlchemy Core path.

Kept apart from :mod:`heron.core.journal` so that a run without ``--journal`` never
imports SQLAlchemy (a third of heron's import time). The schema and the locations it
accepts are in :mod:`heron.core.db`; a database holds many runs, each named by a run id
(a SQLite journal written by ``--journal`` holds one, ``main``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from heron.core.db import (
    create_engine,
    display,
    ensure_schema,
    records_table,
    runs_table,
    schema_version,
    sqlite_path,
)
from heron.core.journal import SCHEMA_VERSION, SQLITE_MAGIC, decode_record
from heron.errors import JournalError
from heron.model.events import Record

#: the run id of a single-run SQLite journal (and of every schema-1 file after upgrade)
DEFAULT_RUN = "main"
#: new rows of a run in a PostgreSQL journal, announced to listeners (heron serve)
_NOTIFY = sa.text("SELECT pg_notify('heron_journal', :run)")


@dataclass(frozen=True)
class RunInfo:
    """One run in a journal database, as ``heron journal list`` shows it."""

    run_id: str
    kind: str
    record_count: int | None
    sha256: str | None
    sealed: bool


class JournalStore:
    """A new run in the journal database at ``location``: header first, rows in batches,
    count and hash last (the seal)."""

    def __init__(self, location: str | Path, run_id: str, header: dict[str, Any]) -> None:
        self.where = display(location)
        self.run_id = run_id
        self.engine = create_engine(location)
        try:
            ensure_schema(self.engine, self.where)
            with self.engine.begin() as conn:
                taken = conn.execute(sa.select(runs_table.c.run_id).where(
                    runs_table.c.run_id == run_id)).first()
                if taken is not None:
                    raise JournalError(f"{self.where}: run {run_id!r} is already in this "
                                       "journal; pick another run id")
                conn.execute(runs_table.insert().values(
                    run_id=run_id, header=_header_json(header), sealed=False))
        except sa.exc.DatabaseError as exc:
            self.engine.dispose()
            raise JournalError(f"{self.where}: cannot write the journal ({_first_line(exc)}); "
                               "check the database and its permissions") from None
        except BaseException:
            self.engine.dispose()
            raise

    def insert(self, rows: list[dict[str, Any]]) -> None:
        """Commit ``rows``; on PostgreSQL the same transaction sends ``NOTIFY
        heron_journal, '<run id>'`` (delivered at commit), which wakes ``heron serve``'s
        follower of this run instead of it polling the table."""
        run_id = self.run_id
        for row in rows:
            row["run_id"] = run_id
        with self.engine.begin() as conn:
            conn.execute(records_table.insert(), rows)
            if conn.dialect.name == "postgresql":
                conn.execute(_NOTIFY, {"run": run_id})

    def seal(self, header: dict[str, Any], record_count: int, sha256: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == self.run_id).values(
                header=_header_json(header), record_count=record_count, sha256=sha256,
                sealed=True))

    def drop(self) -> None:
        """Delete this run's rows (a backtest that failed in a shared database)."""
        drop_run(self.engine, self.run_id)

    def adopt(self, run_id: str) -> None:
        """Make the rows written so far the whole of run ``run_id``, in one transaction:
        its old rows go, these take its id, and later rows are written under it.

        A paper or live run restarting in a shared database rebuilds its journal under a
        scratch id and adopts its own at the end, so a crash leaves the old journal or
        the new one, never a mix; no other run's rows are touched."""
        old = self.run_id
        with self.engine.begin() as conn:
            conn.execute(records_table.delete().where(records_table.c.run_id == run_id))
            conn.execute(runs_table.delete().where(runs_table.c.run_id == run_id))
            conn.execute(records_table.update().where(records_table.c.run_id == old)
                         .values(run_id=run_id))
            conn.execute(runs_table.update().where(runs_table.c.run_id == old)
                         .values(run_id=run_id))
            if conn.dialect.name == "postgresql":
                conn.execute(_NOTIFY, {"run": run_id})
        self.run_id = run_id

    def close(self) -> None:
        self.engine.dispose()


def _header_json(header: dict[str, Any]) -> str:
    return json.dumps(header, sort_keys=True)


def drop_run(engine: sa.Engine, run_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(records_table.delete().where(records_table.c.run_id == run_id))
        conn.execute(runs_table.delete().where(runs_table.c.run_id == run_id))


class JournalReader:
    """An opened, verified run. Raises :class:`JournalError` naming what is wrong.

    ``run_id`` may be left out when the database holds one run (every ``--journal`` file).
    An older schema is upgraded in place first (the payloads and so the hash unchanged).
    """

    def __init__(self, location: str | Path, run_id: str | None = None) -> None:
        self.location = location
        self.path = Path(location) if sqlite_path(location) is not None else None
        self.where = display(location)
        path = sqlite_path(location)
        if path is not None:
            _check_file(path)
        try:
            self._engine = open_engine(location)
            self.run_id = _resolve_run(self._engine, self.where, run_id)
            run = self._run_row()
            self.header: dict[str, Any] = json.loads(run.header)
            self.record_count = -1 if run.record_count is None else int(run.record_count)
            self.sha256 = str(run.sha256 or "")
            self.sealed = bool(run.sealed)
            self._verify_rows()
        except sa.exc.DatabaseError as exc:
            raise JournalError(f"{self.where}: journal is corrupt ({_first_line(exc)}); "
                               "restore it from a copy or re-run the backtest") from None
        finally:
            if hasattr(self, "_engine"):
                self._engine.dispose()  # reopened by records(), disposed again at its end

    def _run_row(self) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(runs_table).where(
                runs_table.c.run_id == self.run_id)).one()

    def _verify_rows(self) -> None:
        hasher = hashlib.sha256()
        count = 0
        with contextlib.closing(self._rows()) as rows:  # a server-side cursor: close it
            for seq, _type, payload in rows:
                count += 1
                if seq != count:
                    raise JournalError(f"{self.where}: record {count} missing (found seq "
                                       f"{seq}); the journal was edited or damaged")
                hasher.update(payload)
        if not self.sealed or not self.sha256:
            raise JournalError(f"{self.where}: journal was never sealed (the run stopped "
                               "before finishing); re-run it")
        if count != self.record_count or hasher.hexdigest() != self.sha256:
            raise JournalError(f"{self.where}: journal is truncated or altered ({count} "
                               f"records, header says {self.record_count}); re-run to "
                               "rebuild it")

    def _rows(self) -> Generator[tuple[int, str, bytes], None, None]:
        yield from _rows(self._engine, self.run_id)

    def records(self) -> Iterator[Record]:
        """Decode every record in sequence order."""
        try:
            with contextlib.closing(self._rows()) as rows:
                for _seq, _type, payload in rows:
                    yield decode_record(payload)
        finally:
            self._engine.dispose()


def _rows(engine: sa.Engine, run_id: str) -> Generator[tuple[int, str, bytes], None, None]:
    with engine.connect() as conn:
        query = sa.select(records_table.c.seq, records_table.c.type,
                          records_table.c.payload).where(
            records_table.c.run_id == run_id).order_by(records_table.c.seq)
        result = conn.execution_options(yield_per=5000).execute(query)
        try:
            for seq, type_name, payload in result:
                yield int(seq), str(type_name), bytes(payload)
        finally:
            result.close()


def open_engine(location: str | Path) -> sa.Engine:
    """An engine on an existing journal database, upgraded to this heron's schema.

    SQLite files are read through a read-only connection unless they need the upgrade.
    """
    where = display(location)
    readonly = sqlite_path(location) is not None
    engine = create_engine(location, readonly=readonly)
    try:
        with engine.connect() as conn:
            version = schema_version(conn, where)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        if readonly:
            raise
        raise JournalError(f"{where}: cannot open the journal database ({_first_line(exc)}); "
                           "check the URL and that the server is up") from None
    except BaseException:
        engine.dispose()
        raise
    if version is None:
        engine.dispose()
        raise JournalError(f"{where}: not a heron journal (no tables); pass a file written "
                           "with --journal, or a database written with --db")
    if version < SCHEMA_VERSION:
        engine.dispose()
        engine = create_engine(location)
        ensure_schema(engine, where, create=False)
    return engine


def _resolve_run(engine: sa.Engine, where: str, run_id: str | None) -> str:
    with engine.connect() as conn:
        ids = [str(r) for r in conn.execute(
            sa.select(runs_table.c.run_id).order_by(runs_table.c.run_id)).scalars()]
    if run_id is not None:
        if run_id not in ids:
            raise JournalError(f"{where}: no run {run_id!r} in this journal; `heron journal "
                               "list` shows the runs it holds")
        return run_id
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise JournalError(f"{where}: the journal holds no run; pass one written with "
                           "--journal or --db")
    raise JournalError(f"{where}: the journal holds {len(ids)} runs; pass --run ID "
                       "(`heron journal list` shows them)")


def list_runs(location: str | Path) -> list[RunInfo]:
    """Every run in a journal database, by run id."""
    path = sqlite_path(location)
    if path is not None:
        _check_file(path)
    engine = open_engine(location)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(runs_table).order_by(runs_table.c.run_id)).all()
    finally:
        engine.dispose()
    return [RunInfo(str(r.run_id), str(json.loads(r.header).get("kind", "")),
                    None if r.record_count is None else int(r.record_count),
                    r.sha256, bool(r.sealed)) for r in rows]


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise JournalError(f"{path}: journal file not found; check the path")
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        raise JournalError(f"{path}: not a heron journal (not an SQLite database); "
                           "pass a file written with --journal")


def _first_line(exc: BaseException) -> str:
    return str(exc.args[0] if exc.args else exc).splitlines()[0][:200]


def check_database(location: str) -> None:
    """Refuse now, in one line, a journal database that cannot be reached or written
    (a run checks before it connects to its venue); creates the schema in an empty one."""
    _writable(location).dispose()


def _writable(location: str) -> sa.Engine:
    where = display(location)
    try:
        engine = create_engine(location)
    except sa.exc.ArgumentError as exc:
        raise JournalError(f"{where}: not a database URL ({_first_line(exc)}); pass "
                           "postgresql://user@host:port/dbname or sqlite:///PATH") from None
    try:
        ensure_schema(engine, where)
    except sa.exc.DatabaseError as exc:
        engine.dispose()
        raise JournalError(f"{where}: cannot open the journal database ({_first_line(exc)}); "
                           "check the URL and that the server is up") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def resume_payloads(location: str, run_id: str, scratch: str) -> list[bytes]:
    """What run ``run_id`` committed in a shared database (sealed or not; none for a new
    run), after dropping run ``scratch``: a rebuild that a crash left unfinished."""
    where = display(location)
    engine = _writable(location)
    try:
        drop_run(engine, scratch)
        with engine.connect() as conn:
            known = conn.execute(sa.select(runs_table.c.run_id).where(
                runs_table.c.run_id == run_id)).first()
        if known is None:
            return []
        return [payload for _seq, _type, payload in _rows(engine, run_id)]
    except sa.exc.DatabaseError as exc:
        raise JournalError(f"{where}: cannot open the journal database ({_first_line(exc)}); "
                           "check the URL and that the server is up") from None
    finally:
        engine.dispose()


def committed_payloads(location: str | Path, run_id: str | None = None) -> list[bytes]:
    """The payloads a run committed, in order, sealed or not (a killed run's journal).

    Not verified against the seal: a paper restart uses this to check that the journal it
    rebuilds from the run's inputs starts with exactly what the killed process wrote.
    """
    where = display(location)
    try:
        engine = open_engine(location)
    except sa.exc.DatabaseError as exc:
        raise JournalError(f"{where}: not a readable journal ({_first_line(exc)})") from None
    try:
        run = _resolve_run(engine, where, run_id)
        return [payload for _seq, _type, payload in _rows(engine, run)]
    except sa.exc.DatabaseError as exc:
        raise JournalError(f"{where}: not a readable journal ({_first_line(exc)})") from None
    finally:
        engine.dispose()
