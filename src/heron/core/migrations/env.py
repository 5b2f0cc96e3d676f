"""Alembic environment: migrate on the connection heron passes (online mode only)."""

from __future__ import annotations

from alembic import context

from heron.core.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
