"""``heron token``: create prints the secret once, list never shows it, revoke ends it."""

from __future__ import annotations

from pathlib import Path

from heron.api.tokens import TokenStore
from managed_runs import heron


def test_token_create_list_revoke(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = heron("token", "create", "--role", "trader", "--name", "ci", "--home", str(home))
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("heron_") and "\n" not in secret   # alone on stdout
    assert "shown once" in made.stderr
    token_id = made.stderr.split()[1]
    store = TokenStore(home / "server.sqlite")
    found = store.verify(secret)
    store.close()
    assert found is not None and (found.token_id, found.role) == (token_id, "trader")

    listed = heron("token", "list", "--home", str(home))
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "trader" in listed.stdout and "ci" in listed.stdout
    assert secret not in listed.stdout + listed.stderr

    revoked = heron("token", "revoke", token_id, "--home", str(home))
    assert revoked.returncode == 0 and f"revoked {token_id}" in revoked.stdout
    assert token_id not in heron("token", "list", "--home", str(home)).stdout
    again = heron("token", "revoke", token_id, "--home", str(home))
    assert again.returncode == 2 and "no live token" in again.stderr


def test_token_bad_input_exits_2(tmp_path: Path) -> None:
    role = heron("token", "create", "--role", "root", "--home", str(tmp_path / "h"))
    assert role.returncode == 2 and "unknown role 'root'" in role.stderr
    assert role.stdout == ""
    missing = heron("token", "list", "--home", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no heron server home" in missing.stderr
