"""``heron serve``: the HTTP API, live events and dashboard for the runs of one home.

The server binds 127.0.0.1 by default, where a request without a token acts as the local
user. Bound to any other address it requires a token on every request, and refuses to
start before one exists (``heron token create --role admin``). Runs are processes of
their own: stopping the server leaves them running, and the next ``heron serve`` on the
same home finds them again.

Exit codes: 0 stopped (Ctrl-C, SIGTERM); 2 bad input (no token yet where one is
required, a bad --db URL, a port in use).
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from heron.errors import InputError

if TYPE_CHECKING:
    from heron.api.settings import ServerSettings
    from heron.node.runs import HomeLock, RunManager

err = Console(stderr=True)
Opt = typer.Option
DEMO_CONFIG = Path("examples") / "sma_cross.toml"


def serve_command(
    host: Annotated[str, Opt(help="address to bind; anything but loopback requires tokens")
                    ] = "127.0.0.1",
    port: Annotated[int, Opt(min=1, max=65535, help="port")] = 8000,
    home: Annotated[Path, Opt(help="server home: runs/ and server.sqlite")] = Path(
        "heron-home"),
    db: Annotated[str | None, Opt(help="keep the run registry, tokens and backtest journals "
                                  "in this PostgreSQL database (postgresql://...)")] = None,
    root: Annotated[Path, Opt(help="folder that relative paths in run configs (data, "
                              "risk) resolve against")] = Path("."),
    require_token: Annotated[bool, Opt(help="require a token on loopback too")] = False,
    demo: Annotated[bool, Opt(help="start a demo backtest (examples/sma_cross.toml) when "
                              "the home has no runs")] = False,
) -> None:
    """Serve the HTTP API, live events and dashboard of this home's runs."""
    from heron.api.settings import ServerSettings

    settings = ServerSettings(host=host, port=port, home=home, db=db, root=root.resolve(),
                              require_token=require_token)
    if not settings.open_locally:
        _require_a_token(settings)
    _check_port(settings.host, settings.port)
    lock = _hold_home(settings.home)
    try:
        manager = _manager(settings)
        manager.refresh()
        if demo and not manager.list(limit=1):
            record = manager.start(manager.create("backtest", demo_config(settings.root),
                                                  name="demo: sma_cross on BTC-PERP").run_id)
            err.print(f"demo backtest {record.run_id} started", highlight=False)
        _run_server(manager, settings)
    finally:
        lock.release()


def _require_a_token(settings: ServerSettings) -> None:
    from heron.api.tokens import TokenStore

    home = settings.home
    if settings.db is None:
        home.mkdir(parents=True, exist_ok=True)
    store = TokenStore(settings.server_db)
    try:
        if store.list():
            return
    finally:
        store.close()
    reach = "" if settings.loopback else f" on {settings.host} (not loopback)"
    raise InputError(f"a token is required{reach} and none exists yet; run `heron token "
                     f"create --role admin --home {home}` first, then pass it as "
                     "Authorization: Bearer <secret>")


def _check_port(host: str, port: int) -> None:
    """Refuse a port already taken, in one line (before any run is started)."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another "
                         "--port, or stop what uses it") from None


def _hold_home(home: Path) -> HomeLock:
    from heron.node.runs import HomeLock

    lock = HomeLock(home)
    if not lock.try_acquire():
        raise InputError(f"another heron serve (pid {lock.holder()}) uses {home}; stop it, "
                         "or pass another --home")
    return lock


def _manager(settings: ServerSettings) -> RunManager:
    from heron.node.runs import RunManager

    return RunManager(settings.home, db=settings.db, root=settings.root)


def _run_server(manager: RunManager, settings: ServerSettings) -> None:
    import uvicorn

    from heron.api.app import create_app

    app = create_app(manager, settings)
    err.print(f"heron serve: http://{_url_host(settings.host)}:{settings.port} "
              f"(home {settings.home})", highlight=False)
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        manager.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def demo_config(root: Path) -> str:
    """examples/sma_cross.toml as a run config: outputs left to the server, paths made
    relative to ``root`` (they are relative to the example's folder there)."""
    from heron.node.run_config import BACKTEST_OUTPUTS, path_keys, toml_text

    example = root / DEMO_CONFIG
    if not example.exists():
        example = Path(__file__).resolve().parents[3] / DEMO_CONFIG
    if not example.exists():
        raise InputError(f"{DEMO_CONFIG} not found under {root}; run heron serve --demo "
                         "from a heron checkout, or pass --root")
    raw = tomllib.loads(example.read_text(encoding="utf-8"))
    values = {k: v for k, v in raw.items() if k not in BACKTEST_OUTPUTS}
    for key in path_keys("backtest"):
        if isinstance(values.get(key), str):
            values[key] = _relative((example.parent / values[key]).resolve(), root)
    return toml_text(values)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.resolve()))
    except ValueError:
        return str(path)
