"""The server's list of managed runs: one row per run in ``managed_runs``.

The registry lives in the server database, ``HOME/server.sqlite`` by default or the
PostgreSQL database of ``heron serve --db`` (the same SQLAlchemy Core path as the journal,
:mod:`heron.core.db`). It is the truth about what was created and started; what a run
*did* is in its journal. A row changes status only through :meth:`RunRegistry.update`
with the status it is expected to have, so two callers racing to start or reap one run
cannot both win.

In a PostgreSQL server database the journal schema is created first: backtest journals
are written into the same database, and a journal refuses a database that holds foreign
tables only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from heron.core.db import create_engine, display, ensure_schema, is_postgres

metadata = sa.MetaData()
managed_runs = sa.Table(
    "managed_runs", metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=True),
    sa.Column("ended_at", sa.BigInteger, nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("directory", sa.Text, nullable=False),
    # what the operator asked of a running run ("stop", "kill"): decides its final status
    sa.Column("requested", sa.String(16), nullable=True),
    sa.Index("managed_runs_created", "created_at", "run_id"),
)


class RunRecord(msgspec.Struct, frozen=True):
    """One managed run as the API and ``heron status`` show it."""

    run_id: str
    kind: str
    name: str
    status: str
    config: str
    created_at: int
    started_at: int | None
    ended_at: int | None
    pid: int | None
    exit_code: int | None
    error: str | None
    directory: str


_FIELDS = RunRecord.__struct_fields__


def server_engine(location: str | Path) -> sa.Engine:
    """An engine on the server database; its parent folder must exist (SQLite)."""
    engine = create_engine(location)
    if is_postgres(location):
        ensure_schema(engine, display(location))
    return engine


class RunRegistry:
    """The ``managed_runs`` table of one server database."""

    def __init__(self, location: str | Path) -> None:
        self.engine = server_engine(location)
        metadata.create_all(self.engine, checkfirst=True)

    def insert(self, record: RunRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(managed_runs.insert().values(msgspec.structs.asdict(record)))

    def get(self, run_id: str) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_columns()).where(
                managed_runs.c.run_id == run_id)).first()
        return None if row is None else _record(row)

    def requested(self, run_id: str) -> str | None:
        """What the operator asked of the run (``stop``, ``kill``), if anything."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(managed_runs.c.requested).where(
                managed_runs.c.run_id == run_id)).scalar()
        return None if value is None else str(value)

    def update(self, run_id: str, expect: Iterable[str], **values: Any) -> bool:
        """Set ``values`` on the run if its status is one of ``expect``; False otherwise."""
        with self.engine.begin() as conn:
            result = conn.execute(managed_runs.update().where(
                managed_runs.c.run_id == run_id,
                managed_runs.c.status.in_(list(expect))).values(**values))
        return bool(result.rowcount)

    def select(self, *, status: str | None = None, kind: str | None = None,
               limit: int = 100, after: str | None = None) -> list[RunRecord]:
        """Runs newest first (created_at, then run id), after the run ``after``."""
        query = sa.select(*_columns())
        if status is not None:
            query = query.where(managed_runs.c.status == status)
        if kind is not None:
            query = query.where(managed_runs.c.kind == kind)
        with self.engine.connect() as conn:
            if after is not None:
                created = conn.execute(sa.select(managed_runs.c.created_at).where(
                    managed_runs.c.run_id == after)).scalar()
                if created is None:
                    return []
                query = query.where(sa.or_(
                    managed_runs.c.created_at < created,
                    sa.and_(managed_runs.c.created_at == created,
                            managed_runs.c.run_id < after)))
            query = query.order_by(managed_runs.c.created_at.desc(),
                                   managed_runs.c.run_id.desc()).limit(limit)
            return [_record(row) for row in conn.execute(query)]

    def active(self) -> list[RunRecord]:
        """Runs whose process may be alive: running or stopping."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_columns()).where(
                managed_runs.c.status.in_(["running", "stopping"])))
            return [_record(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Number of runs per status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(managed_runs.c.status, sa.func.count()).group_by(
                managed_runs.c.status))
            return {str(status): int(count) for status, count in rows}

    def close(self) -> None:
        self.engine.dispose()


def _columns() -> list[sa.Column[Any]]:
    return [managed_runs.c[name] for name in _FIELDS]


def _record(row: sa.Row[Any]) -> RunRecord:
    return RunRecord(**dict(zip(_FIELDS, row, strict=True)))


__all__ = ["RunRecord", "RunRegistry", "managed_runs", "server_engine"]
