"""``heron token``: API tokens for ``heron serve`` (create, list, revoke).

The secret is printed once, alone on stdout (``SECRET=$(heron token create --role
viewer)`` works); the server keeps only its hash. Exit codes: 0 done; 2 bad input (an
unknown role, no server home, no such token).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from heron.errors import InputError

token_app = typer.Typer(no_args_is_help=True, help="API tokens for heron serve.")
out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[Path, typer.Option(help="the server home (heron serve --home)")]
DbOpt = Annotated[str | None, typer.Option(help="the server's PostgreSQL database "
                                           "(heron serve --db) instead of the home's")]


def server_db(home: Path, db: str | None, *, create: bool = False) -> str | Path:
    """The server database of ``home`` (or ``db``); refuses a home that is not one."""
    if db is not None:
        return db
    location = home / "server.sqlite"
    if create:
        home.mkdir(parents=True, exist_ok=True)
    elif not location.exists():
        raise InputError(f"no heron server home at {home} (no server.sqlite); pass the "
                         "--home that heron serve uses")
    return location


@token_app.command("create")
def create_command(
    role: Annotated[str, typer.Option(help="viewer (read), trader (+ runs and orders) or "
                                      "admin (+ tokens, resume)")],
    name: Annotated[str, typer.Option(help="what the token is for")] = "",
    home: HomeOpt = Path("heron-home"),
    db: DbOpt = None,
) -> None:
    """Create a token and print its secret (shown once: keep it)."""
    from heron.api.tokens import TokenStore

    store = TokenStore(server_db(home, db, create=True))
    try:
        info, secret = store.create(role, name)
    finally:
        store.close()
    err.print(f"token {info.token_id} ({info.role}{', ' + info.name if info.name else ''}); "
              "the secret below is shown once: keep it", highlight=False)
    print(secret)


@token_app.command("list")
def list_command(home: HomeOpt = Path("heron-home"), db: DbOpt = None) -> None:
    """List the live tokens (never their secrets)."""
    from heron.api.tokens import TokenStore

    store = TokenStore(server_db(home, db))
    try:
        tokens = store.list()
    finally:
        store.close()
    table = Table(title="heron API tokens")
    for column in ("id", "name", "role", "created", "last used"):
        table.add_column(column)
    for t in tokens:
        table.add_row(t.token_id, t.name, t.role, _when(t.created_at), _when(t.last_used_at))
    out.print(table)


@token_app.command("revoke")
def revoke_command(token_id: Annotated[str, typer.Argument(help="the token's id (tok_...)")],
                   home: HomeOpt = Path("heron-home"), db: DbOpt = None) -> None:
    """Revoke a token: requests with its secret get 401 from now on."""
    from heron.api.tokens import TokenStore

    store = TokenStore(server_db(home, db))
    try:
        revoked = store.revoke(token_id)
    finally:
        store.close()
    if not revoked:
        raise InputError(f"no live token {token_id!r}; see `heron token list`")
    out.print(f"revoked {token_id}", highlight=False)


def _when(ns: int | None) -> str:
    if ns is None:
        return "never"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
