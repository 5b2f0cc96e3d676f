"""API tokens: who may call ``heron serve``, and with which role.

A token is a random secret (``heron_`` + 32 url-safe random bytes) shown once, when it is
created; the server keeps only its SHA-256, so a copy of the database lets nobody in. A
secret is checked against every live token's hash with :func:`hmac.compare_digest`, so
how long a check takes says nothing about how close a guess was. Roles, widest last:
``viewer`` (read), ``trader`` (+ create, start, stop and kill runs, place and cancel
orders), ``admin`` (+ tokens, resume).

The ``api_tokens`` table lives in the server database beside the run registry
(``HOME/server.sqlite`` or the ``--db`` PostgreSQL database). A revoked token stays in
the table (``revoked_at`` set) so the ids in old logs still name something.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Literal

import msgspec
import sqlalchemy as sa

from heron.errors import InputError
from heron.node.run_registry import server_engine

Role = Literal["viewer", "trader", "admin"]
ROLES: tuple[str, ...] = ("viewer", "trader", "admin")
PREFIX = "heron_"
#: last_used_at is written at most this often per token (a check must not be a write)
TOUCH_EVERY_NS = 60_000_000_000

metadata = sa.MetaData()
api_tokens = sa.Table(
    "api_tokens", metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
)


class TokenInfo(msgspec.Struct, frozen=True):
    """A token as listed: never its secret, nor the secret's hash."""

    token_id: str
    name: str
    role: str
    created_at: int
    last_used_at: int | None


_INFO = [api_tokens.c[name] for name in TokenInfo.__struct_fields__]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Whether ``role`` may do what ``needed`` may (roles are ordered)."""
    return ROLES.index(role) >= ROLES.index(needed)


class TokenStore:
    """The tokens of one server database."""

    def __init__(self, location: str | Path) -> None:
        self.engine = server_engine(location)
        metadata.create_all(self.engine, checkfirst=True)

    def create(self, role: str, name: str = "") -> tuple[TokenInfo, str]:
        """A new token; the secret is returned here and never again."""
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}; pass one of: {', '.join(ROLES)}")
        secret = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(token_id="tok_" + secrets.token_hex(6), name=name.strip()[:200],
                         role=role, created_at=time.time_ns(), last_used_at=None)
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(
                **msgspec.structs.asdict(info), secret_sha256=digest(secret)))
        return info, secret

    def verify(self, secret: str) -> TokenInfo | None:
        """The live token whose secret this is, or None (constant time per token)."""
        wanted = digest(secret).encode()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_INFO, api_tokens.c.secret_sha256).where(
                api_tokens.c.revoked_at.is_(None))).all()
        match = None
        for row in rows:  # no early exit: every live token is compared
            if hmac.compare_digest(wanted, str(row.secret_sha256).encode()):
                match = row
        if match is None:
            return None
        info = TokenInfo(*match[:len(_INFO)])
        return self._touch(info)

    def _touch(self, info: TokenInfo) -> TokenInfo:
        now = time.time_ns()
        if info.last_used_at is not None and now - info.last_used_at < TOUCH_EVERY_NS:
            return info
        with self.engine.begin() as conn:
            conn.execute(api_tokens.update().where(
                api_tokens.c.token_id == info.token_id).values(last_used_at=now))
        return msgspec.structs.replace(info, last_used_at=now)

    def list(self) -> list[TokenInfo]:
        """Live tokens, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_INFO).where(api_tokens.c.revoked_at.is_(None))
                                .order_by(api_tokens.c.created_at, api_tokens.c.token_id))
            return [TokenInfo(*row) for row in rows]

    def revoke(self, token_id: str) -> bool:
        """Revoke a live token; False when there is no live token with that id."""
        with self.engine.begin() as conn:
            result = conn.execute(api_tokens.update().where(
                api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None),
            ).values(revoked_at=time.time_ns()))
        return bool(result.rowcount)

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["PREFIX", "ROLES", "Role", "TokenInfo", "TokenStore", "digest", "role_allows"]
