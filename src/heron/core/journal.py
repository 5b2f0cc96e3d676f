"""The journal: every command and event of a run, in order, with a sequence number.

Records are ``msgspec`` structs (:mod:`heron.model.events`) encoded as MessagePack.
The journal keeps a running SHA-256 over the payloads of all records in sequence order
(MessagePack is self-delimiting, so the concatenation is unambiguous), so
two runs can be compared by one hash, and a file whose rows do not hash to the value
in its header is known to be truncated or edited.

On disk it is a SQLite database written through SQLAlchemy Core (PostgreSQL will use
the same code path)::

    meta(key TEXT PRIMARY KEY, value TEXT)      app, schema_version, header JSON, sha256
    records(seq INTEGER PRIMARY KEY, ts INTEGER, type TEXT, payload BLOB)

Rows are inserted in batches (one transaction per ``batch_size`` records) so the journal
never becomes the bottleneck of a backtest. A backtest journal is written to a temporary
file beside the target and renamed into place on :meth:`JournalWriter.close`: it exists
whole or not at all. Market data is never journaled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from heron.errors import JournalError
from heron.model.events import JournalRecord, Record

APP = "heron-journal"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

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

#: schema_version -> function upgrading a connection from that version to the next.
MIGRATIONS: dict[int, Any] = {}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(JournalRecord)




class JournalWriter:
    """Appends records; keeps them in memory, and on disk when given a path."""

    def __init__(self, path: str | Path | None, header: dict[str, Any], *,
                 batch_size: int = 20_000, keep: bool = True) -> None:
        self.header = header
        self.seq = 0
        self.records: list[Record] = []
        self._keep = keep
        self._hasher = hashlib.sha256()
        self._unhashed: list[bytes] = []  # payloads not yet fed to the hasher
        self._pending: list[dict[str, Any]] = []
        self._batch = batch_size
        self._target = Path(path) if path is not None else None
        self._engine: sa.Engine | None = None
        if self._target is not None:
            self._tmp = self._target.with_name(f".{self._target.name}.{os.getpid()}.tmp")
            self._tmp.unlink(missing_ok=True)
            self._engine = _sqlite_engine(self._tmp)
            _metadata.create_all(self._engine)
            self._write_meta({"app": APP, "schema_version": str(SCHEMA_VERSION),
                              "header": json.dumps(header, sort_keys=True)})

    def append(self, record: Record) -> int:
        self.seq += 1
        payload = _encoder.encode(record)
        unhashed = self._unhashed
        unhashed.append(payload)
        if len(unhashed) >= 8192:
            self._hash_pending()
        if self._keep:
            self.records.append(record)
        if self._engine is not None:
            self._pending.append({"seq": self.seq, "ts": record.ts_event,
                                  "type": type(record).__name__, "payload": payload})
            if len(self._pending) >= self._batch:
                self.flush()
        return self.seq

    def _hash_pending(self) -> None:
        """Feed pending payloads to the hasher in one call (cheaper than one per record)."""
        self._hasher.update(b"".join(self._unhashed))
        self._unhashed.clear()

    @property
    def sha256(self) -> str:
        self._hash_pending()
        return self._hasher.hexdigest()

    def flush(self) -> None:
        if self._engine is not None and self._pending:
            with self._engine.begin() as conn:
                conn.execute(records_table.insert(), self._pending)
            self._pending = []

    def close(self) -> str:
        """Seal the journal (count + hash in ``meta``) and move it into place."""
        if self._engine is not None and self._target is not None:
            self.flush()
            self._write_meta({"record_count": str(self.seq), "sha256": self.sha256})
            self._engine.dispose()
            self._engine = None
            os.replace(self._tmp, self._target)
        return self.sha256

    def abort(self) -> None:
        """Drop a journal that will not be finished (the run failed)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._tmp.unlink(missing_ok=True)

    def _write_meta(self, values: dict[str, str]) -> None:
        assert self._engine is not None
        with self._engine.begin() as conn:
            for key, value in values.items():
                conn.execute(sa.delete(meta_table).where(meta_table.c.key == key))
                conn.execute(meta_table.insert().values(key=key, value=value))


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
                yield _decoder.decode(payload)
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
