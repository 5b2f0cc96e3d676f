"""The journal database: one SQLAlchemy Core schema for SQLite files and PostgreSQL.

A journal location is a URL or a plain path::

    runs/bt.sqlite                       a SQLite file (what ``--journal`` always wrote)
    sqlite:///runs/bt.sqlite             the same, spelled as a URL
    postgresql://user@host:5432/heron    a PostgreSQL database (psycopg 3)

Schema 2 (schema 1 was a single-run SQLite file: ``meta`` + ``records(seq, ...)``)::

    meta(key PK, value)                   app, schema_version: what the database is
    runs(run_id PK, header, record_count, sha256, sealed)
    records(run_id, seq, ts, type, payload BYTEA/BLOB)    PK (run_id, seq)
    audit(seq PK, ts_ns, run_id, actor, action, details, prev_hash, hash)
    alembic_version(version_num)          the Alembic revision, kept in step with meta

A new database gets the current schema at once (``create_all`` and a stamp, no Alembic
import: a backtest's journal opens as fast as before); an older one is upgraded by the
Alembic scripts shipped in :mod:`heron.core.migrations` the first time heron opens it.
psycopg is imported by SQLAlchemy only when a ``postgresql`` URL is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from heron.core.journal import APP, SCHEMA_VERSION
from heron.errors import JournalError

#: the Alembic revision that matches SCHEMA_VERSION (migrations/versions/)
HEAD_REVISION = "0002"
#: schema_version -> the Alembic revision of a database at that version
REVISIONS = {1: "0001", 2: "0002"}

metadata = sa.MetaData()
meta_table = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
runs_table = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("header", sa.Text, nullable=False),
    sa.Column("record_count", sa.BigInteger, nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("sealed", sa.Boolean, nullable=False, default=False),
)
records_table = sa.Table(
    "records", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sqlite_with_rowid=False,  # clustered on (run_id, seq), as seq alone was in schema 1
)
audit_table = sa.Table(
    "audit", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("ts_ns", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
_alembic_table = sa.Table(
    "alembic_version", sa.MetaData(),
    sa.Column("version_num", sa.String(32), primary_key=True),
)

#: refuse UPDATE and DELETE on the audit table (the hash chain still catches an owner
#: who drops the trigger first)
_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION heron_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN RAISE EXCEPTION 'audit is append-only'; END$$",
        "CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION heron_audit_refuse()",
    ],
}


def append_only_ddl(dialect: str) -> list[str]:
    """The statements that make ``audit`` refuse UPDATE/DELETE on ``dialect``."""
    return _APPEND_ONLY.get(dialect, [])


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location


def is_postgres(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql:", "postgres:",
                                                              "postgresql+"))


def sqlalchemy_url(location: str | Path) -> str:
    """The SQLAlchemy URL for a journal location; refuses other databases by name."""
    if not is_url(location):
        return f"sqlite:///{Path(location)}"
    text = str(location)
    scheme, _, rest = text.partition("://")
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme == "sqlite":
        return text
    raise JournalError(f"{_redact(text)}: unsupported database {scheme!r}; pass a file path, "
                       "sqlite:///PATH or postgresql://user@host:port/dbname")


def sqlite_path(location: str | Path) -> Path | None:
    """The file behind a SQLite location; ``None`` for a server database."""
    if not is_url(location):
        return Path(location)
    text = str(location)
    return Path(text[len("sqlite:///"):]) if text.startswith("sqlite:///") else None


def display(location: str | Path) -> str:
    """The location as shown in messages: never a password."""
    return _redact(str(location))


def _redact(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def create_engine(location: str | Path, *, readonly: bool = False,
                  pooled: bool = True) -> sa.Engine:
    """An engine on ``location``; SQLite files get heron's pragmas (and ``mode=ro``).

    ``pooled=False``: a connection per use, closed after it (an object that lives long
    and writes rarely, e.g. the audit log, then holds no idle server connection)."""
    path = sqlite_path(location)
    if path is None:
        extra: dict[str, Any] = {} if pooled else {"poolclass": sa.pool.NullPool}
        return sa.create_engine(sqlalchemy_url(location), **extra)
    url = (f"sqlite:///file:{path.resolve()}?mode=ro&uri=true" if readonly
           else f"sqlite:///{path}")
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if not readonly:
            cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def schema_version(conn: sa.Connection, where: str) -> int | None:
    """The database's schema version; ``None`` when it is empty; refuses foreign ones."""
    tables = set(sa.inspect(conn).get_table_names())
    if not tables - {"alembic_version"}:
        return None
    if not {"meta", "records"} <= tables:
        raise JournalError(f"{where}: not a heron journal (tables {sorted(tables)}); "
                           "pass a file written with --journal")
    meta = dict(conn.execute(sa.select(meta_table.c.key, meta_table.c.value)).all())
    if meta.get("app") != APP:
        raise JournalError(f"{where}: not a heron journal (app={meta.get('app')!r}); "
                           "pass a file written with --journal")
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        raise JournalError(f"{where}: journal schema {version} is newer than this heron "
                           f"reads ({SCHEMA_VERSION}); upgrade heron to open it")
    if version not in REVISIONS:
        raise JournalError(f"{where}: journal schema {version} is older than "
                           f"{SCHEMA_VERSION} and has no migration; re-run to rebuild it")
    return version


def ensure_schema(engine: sa.Engine, where: str, *, create: bool = True) -> None:
    """Create the schema in an empty database (``create``; else an empty one is refused),
    or upgrade an older one to this heron's."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # two processes opening one new database
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7262737186)"))
        version = schema_version(conn, where)
        if version is None:
            if not create:
                raise JournalError(f"{where}: no heron journal there (an empty database); "
                                   "pass one written with --journal or --db")
            _create(conn)
            return
    if version < SCHEMA_VERSION:
        upgrade(engine, version, where)


def _create(conn: sa.Connection) -> None:
    metadata.create_all(conn)
    for statement in append_only_ddl(conn.dialect.name):
        conn.execute(sa.text(statement))
    _alembic_table.create(conn, checkfirst=True)
    conn.execute(sa.delete(_alembic_table))
    conn.execute(_alembic_table.insert().values(version_num=HEAD_REVISION))
    conn.execute(meta_table.insert(), [{"key": "app", "value": APP},
                                       {"key": "schema_version", "value": str(SCHEMA_VERSION)}])


def upgrade(engine: sa.Engine, version: int, where: str) -> None:
    """Run the shipped Alembic scripts from ``version`` to the head, in one transaction.

    A schema-1 file predates Alembic: it is stamped at revision 0001 first.
    """
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            has_stamp = sa.inspect(conn).has_table("alembic_version")
            if not has_stamp:
                command.stamp(cfg, REVISIONS[version])
            command.upgrade(cfg, HEAD_REVISION)
    except sa.exc.OperationalError as exc:
        raise JournalError(f"{where}: journal schema {version} needs an "
                           f"upgrade to {SCHEMA_VERSION} and the database is not writable "
                           f"({str(exc.orig).splitlines()[0]}); copy it somewhere writable "
                           "and open the copy") from None
