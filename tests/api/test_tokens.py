"""API tokens: secrets shown once and kept only as SHA-256, checked in constant time,
revoked for good; on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from heron.api.tokens import TokenStore, role_allows
from heron.errors import InputError


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TokenStore]:
    location: str | Path = (tmp_path / "server.sqlite" if request.param == "sqlite"
                            else request.getfixturevalue("pg_url"))
    tokens = TokenStore(location)
    for info in tokens.list():   # a PostgreSQL database is shared by the session
        tokens.revoke(info.token_id)
    try:
        yield tokens
    finally:
        tokens.close()


def test_a_secret_is_stored_only_as_its_sha256(store: TokenStore) -> None:
    info, secret = store.create("trader", "ci bot")
    assert secret.startswith("heron_") and len(secret) >= len("heron_") + 43
    assert (info.role, info.name, info.last_used_at) == ("trader", "ci bot", None)
    with store.engine.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(sa.text(
            "SELECT * FROM api_tokens WHERE token_id = :t"), {"t": info.token_id})]
    assert len(rows) == 1
    assert not any(secret in value for value in rows[0])
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]


def test_verify_finds_the_token_and_notes_its_use(store: TokenStore) -> None:
    viewer, viewer_secret = store.create("viewer")
    admin, admin_secret = store.create("admin", "me")
    found = store.verify(admin_secret)
    assert found is not None and found.token_id == admin.token_id and found.role == "admin"
    assert found.last_used_at is not None
    assert store.verify(viewer_secret) is not None
    assert store.verify(admin_secret[:-1]) is None
    assert store.verify("") is None
    assert store.verify("heron_" + "x" * 43) is None
    listed = {t.token_id: t for t in store.list()}
    assert listed[admin.token_id].last_used_at == found.last_used_at
    assert listed[viewer.token_id].role == "viewer"


def test_a_revoked_token_is_refused_and_unlisted(store: TokenStore) -> None:
    info, secret = store.create("admin")
    assert store.revoke(info.token_id) is True
    assert store.verify(secret) is None
    assert info.token_id not in {t.token_id for t in store.list()}
    assert store.revoke(info.token_id) is False
    assert store.revoke("tok_nothing") is False


def test_listing_never_shows_a_secret_or_its_hash(store: TokenStore) -> None:
    _, secret = store.create("viewer", "dash")
    listed = msgspec.json.encode(store.list()).decode()
    assert secret not in listed
    assert hashlib.sha256(secret.encode()).hexdigest() not in listed
    assert '"role":"viewer"' in listed


def test_unknown_role_is_refused(store: TokenStore) -> None:
    with pytest.raises(InputError, match="unknown role 'root'"):
        store.create("root")


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "trader") and role_allows("trader", "trader")
    assert role_allows("trader", "viewer") and not role_allows("viewer", "trader")
    assert not role_allows("trader", "admin")
