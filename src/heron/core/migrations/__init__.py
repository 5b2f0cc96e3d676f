"""Alembic scripts for the journal database, applied by :func:`heron.core.db.upgrade`.

No ``alembic.ini`` is needed: heron builds the Alembic config in code and hands ``env.py``
the open connection. Each revision also sets ``meta.schema_version`` so the version heron
checks and the Alembic revision never disagree.
"""
