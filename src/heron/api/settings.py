"""What ``heron serve`` was started with, as the HTTP API needs it.

Kept apart from the app so the CLI can build it from flags and the tests from keyword
arguments. ``require_token`` is forced on when the server binds anything but a loopback
address: a token-less request may act as the local user only when nobody else can reach
the port (see :mod:`heron.api.auth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: addresses that only this machine can reach
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: the built dashboard, beside the package in a source checkout (``make web``)
DEFAULT_WEB_DIST = Path(__file__).resolve().parents[3] / "web" / "dist"


@dataclass(frozen=True, kw_only=True)
class ServerSettings:
    """The server's options; every field has the default ``heron serve`` uses.

    ``home`` is the server home (runs, ``server.sqlite``); ``db`` the PostgreSQL URL
    that holds the registry and tokens instead, when given. ``root`` is where relative
    data paths of a run config resolve (the data files listed are under ``root/data``).
    ``catalog`` is the market-data catalog listed by ``/api/catalog`` (``None``: heron's
    default catalog). ``cors_origins`` empty means no CORS headers at all.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    require_token: bool = False
    home: Path = field(default_factory=lambda: Path("heron-home"))
    db: str | None = None
    root: Path = field(default_factory=Path.cwd)
    web_dist: Path = DEFAULT_WEB_DIST
    catalog: Path | None = None
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()
    #: per-client SSE queue bound (events); a client further behind is dropped
    sse_queue_events: int = 50_000
    #: seconds between ``: ping`` comments on an idle stream
    sse_ping_s: float = 15.0

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the server."""
        return self.host in LOOPBACK_HOSTS

    @property
    def open_locally(self) -> bool:
        """A request without a token acts as admin (the local user)."""
        return self.loopback and not self.require_token

    @property
    def server_db(self) -> str | Path:
        """Where the token table lives: the ``--db`` database or ``HOME/server.sqlite``."""
        return self.db if self.db is not None else self.home / "server.sqlite"
