"""Schema 2: many runs per database (``runs`` + ``records`` keyed by run id) and the
append-only ``audit`` table.

A schema-1 file held one run: its header, count and hash move from ``meta`` to a
``runs`` row with run id ``main`` (what a SQLite journal's run is called), and its rows
keep their payloads byte for byte, so the journal's SHA-256 still verifies.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from heron.core.db import append_only_ddl, audit_table, runs_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None



def upgrade() -> None:
    bind = op.get_bind()
    runs_table.create(bind)
    audit_table.create(bind)
    for statement in append_only_ddl(bind.dialect.name):
        op.execute(statement)
    op.create_table(
        "records_v2",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute("INSERT INTO records_v2 (run_id, seq, ts, type, payload) "
               "SELECT 'main', seq, ts, type, payload FROM records")
    op.drop_table("records")
    op.rename_table("records_v2", "records")
    meta: dict[str, str] = dict(bind.execute(sa.text("SELECT key, value FROM meta")).all())
    if "header" in meta:
        count = meta.get("record_count")
        bind.execute(runs_table.insert().values(
            run_id="main", header=meta["header"],
            record_count=int(count) if count is not None else None,
            sha256=meta.get("sha256"), sealed="sha256" in meta))
    bind.execute(sa.text("DELETE FROM meta WHERE key IN ('header', 'record_count', 'sha256')"))
    bind.execute(sa.text("UPDATE meta SET value = '2' WHERE key = 'schema_version'"))
