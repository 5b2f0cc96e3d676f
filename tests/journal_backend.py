"""The journal backends the journal tests run on: a SQLite file and a real PostgreSQL
database. Each ``location`` is a fresh journal database (a new file, or a new database
on the session's server), so a test sees the same thing on both."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path

import sqlalchemy as sa

from heron.core.db import create_engine

_names = itertools.count(1)


class Backend:
    def __init__(self, kind: str, folder: Path, pg_url: str | None = None) -> None:
        self.kind = kind
        self.folder = folder
        self._pg = pg_url

    def __repr__(self) -> str:
        return self.kind

    def location(self, name: str) -> str:
        """A new, empty journal database."""
        if self._pg is None:
            return str(self.folder / f"{name}.sqlite")
        db = f"j_{name.replace('-', '_')}_{next(_names)}"
        self._admin(f'CREATE DATABASE "{db}"')
        return self._pg.rsplit("/", 1)[0] + f"/{db}"

    def copy(self, location: str, name: str) -> str:
        """A copy of a journal database (a file copy; CREATE DATABASE ... TEMPLATE)."""
        if self._pg is None:
            dst = self.folder / f"{name}.sqlite"
            shutil.copyfile(location, dst)
            return str(dst)
        db = f"j_{name.replace('-', '_')}_{next(_names)}"
        self._admin(f'CREATE DATABASE "{db}" TEMPLATE "{location.rsplit("/", 1)[1]}"')
        return self._pg.rsplit("/", 1)[0] + f"/{db}"

    def execute(self, location: str, sql: str) -> None:
        engine = create_engine(location)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(sql))
        finally:
            engine.dispose()

    def fingerprint(self, location: str) -> str:
        """What must be identical for two identical runs: the file's bytes (SQLite), or
        the header and payloads (PostgreSQL, where run ids differ)."""
        if self._pg is None:
            return hashlib.sha256(Path(location).read_bytes()).hexdigest()
        engine = create_engine(location)
        try:
            with engine.connect() as conn:
                header = conn.execute(sa.text("SELECT header FROM runs")).scalar_one()
                rows = conn.execute(sa.text(
                    "SELECT seq, ts, type, payload FROM records ORDER BY seq")).all()
        finally:
            engine.dispose()
        digest = hashlib.sha256(header.encode())
        for seq, ts, kind, payload in rows:
            digest.update(f"{seq}:{ts}:{kind}:".encode() + bytes(payload))
        return digest.hexdigest()

    def _admin(self, sql: str) -> None:
        assert self._pg is not None
        engine = sa.create_engine(self._pg.replace("postgresql://", "postgresql+psycopg://"),
                                  isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(sql))
        finally:
            engine.dispose()
