"""Schema 1: a single-run SQLite journal (``meta`` key/values, ``records`` by seq).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    op.bulk_insert(sa.table("meta", sa.column("key"), sa.column("value")),
                   [{"key": "app", "value": "heron-journal"},
                    {"key": "schema_version", "value": "1"}])
