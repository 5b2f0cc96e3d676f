"""The journal on disk: SQLite through SQLAlchemy Core (PostgreSQL will share the path).

Kept apart from :mod:`heron.core.journal` so that a run without ``--journal`` never
imports SQLAlchemy (a third of heron's import time)::

    meta(key TEXT PRIMARY KEY, value TEXT)      app, schema_version, header JSON, sha256
    records(seq INTEGER PRIMARY KEY, ts INTEGER, type TEXT, payload BLOB)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from heron.core.journal import APP, MIGRATIONS, SCHEMA_VERSION, SQLITE_MAGIC, decode_record
from heron.errors import JournalError
from heron.model.events import Record

_metadata = sa.MetaData()
meta_table = sa.Table(
    "meta", _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
records_table = sa.Table(
    "records", _metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)


class JournalStore:
    """A new journal database at ``path``: header first, rows in batches, meta last."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.engine = _sqlite_engine(path)
        _metadata.create_all(self.engine)
        self.write_meta({"app": APP, "schema_version": str(SCHEMA_VERSION),
                         "header": json.dumps(header, sort_keys=True)})

    def insert(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(records_table.insert(), rows)

    def write_meta(self, values: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            for key, value in values.items():
                conn.execute(sa.delete(meta_table).where(meta_table.c.key == key))
                conn.execute(meta_table.insert().values(key=key, value=value))

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_engine(path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class JournalReader:
    """An opened, verified journal. Raises :class:`JournalError` naming what is wrong."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_file(self.path)
        self._engine = sa.create_engine(f"sqlite:///file:{self.path.resolve()}?mode=ro&uri=true")
        try:
            self.meta = self._read_meta()
            self._check_schema()
            self.header: dict[str, Any] = json.loads(self.meta["header"])
            self.record_count = int(self.meta.get("record_count", "-1"))
            self.sha256 = self.meta.get("sha256", "")
            self._verify_rows()
        except sa.exc.DatabaseError as exc:
            raise JournalError(f"{self.path}: journal is corrupt ({_first_line(exc)}); "
                               "restore it from a copy or re-run the backtest") from None
        finally:
            self._engine.dispose()

    def _read_meta(self) -> dict[str, str]:
        with self._engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            if not {"meta", "records"} <= tables:
                raise JournalError(f"{self.path}: not a heron journal (tables {sorted(tables)}); "
                                   "pass a file written with --journal")
            rows = conn.execute(sa.select(meta_table.c.key, meta_table.c.value)).all()
        meta = {str(k): str(v) for k, v in rows}
        if meta.get("app") != APP:
            raise JournalError(f"{self.path}: not a heron journal (app={meta.get('app')!r}); "
                               "pass a file written with --journal")
        return meta

    def _check_schema(self) -> None:
        version = int(self.meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise JournalError(f"{self.path}: journal schema {version} is newer than this "
                               f"heron reads ({SCHEMA_VERSION}); upgrade heron to open it")
        if version < SCHEMA_VERSION and version not in MIGRATIONS:
            raise JournalError(f"{self.path}: journal schema {version} is older than "
                               f"{SCHEMA_VERSION} and has no migration; re-run to rebuild it")

    def _verify_rows(self) -> None:
        hasher = hashlib.sha256()
        count = 0
        for seq, _type, payload in self._rows():
            count += 1
            if seq != count:
                raise JournalError(f"{self.path}: record {count} missing (found seq {seq}); "
                                   "the journal was edited or damaged")
            hasher.update(payload)
        if not self.sha256:
            raise JournalError(f"{self.path}: journal was never sealed (the run stopped before "
                               "finishing); re-run it")
        if count != self.record_count or hasher.hexdigest() != self.sha256:
            raise JournalError(f"{self.path}: journal is truncated or altered ({count} records, "
                               f"header says {self.record_count}); re-run to rebuild it")

    def _rows(self) -> Iterator[tuple[int, str, bytes]]:
        with self._engine.connect() as conn:
            query = sa.select(records_table.c.seq, records_table.c.type,
                              records_table.c.payload).order_by(records_table.c.seq)
            for seq, type_name, payload in conn.execute(query):
                yield int(seq), str(type_name), bytes(payload)

    def records(self) -> Iterator[Record]:
        """Decode every record in sequence order."""
        try:
            for _seq, _type, payload in self._rows():
                yield decode_record(payload)
        finally:
            self._engine.dispose()


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


def committed_payloads(path: Path) -> list[bytes]:
    """The payloads a journal committed, in order, sealed or not (a killed run's file).

    Not verified against the seal: a paper restart uses this to check that the journal it
    rebuilds from the run's inputs starts with exactly what the killed process wrote.
    """
    engine = _sqlite_engine(path)
    try:
        with engine.connect() as conn:
            query = sa.select(records_table.c.payload).order_by(records_table.c.seq)
            return [bytes(row[0]) for row in conn.execute(query)]
    except sa.exc.DatabaseError as exc:
        raise JournalError(f"{path}: not a readable journal ({_first_line(exc)})") from None
    finally:
        engine.dispose()
