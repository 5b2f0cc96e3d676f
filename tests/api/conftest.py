"""Fixtures of the API tests: a server home with real runs (backtests run to the end by
the real run manager, in processes of their own), the real app over httpx, and the real
app under uvicorn on a free loopback port for the streams."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from heron.api.app import create_app
from heron.api.settings import ServerSettings
from heron.node.runs import RunManager
from managed_runs import MONTH_BARS, REPO, backtest_config, free_port, stop_runs, wait_status

MONTH_CONFIG = (f'strategy = "sma_cross"\ndata = "{MONTH_BARS}"\nkind = "perp"\n'
                'leverage = "2"\nfee_bps = "4"\n[params]\nfast = 30\nslow = 240\n'
                'mode = "long-short"\nfraction = "0.95"\n')
PAPER_CONFIG = ('strategy = "sma_cross"\nvenue = "binanceusdm"\nsymbol = "BTC/USDT:USDT"\n'
                "[params]\nfast = 2\nslow = 3\n")


@dataclass(frozen=True)
class Home:
    manager: RunManager
    root: Path
    month: str      # a finished backtest with hundreds of orders
    tiny: str       # a finished backtest of 10 bars
    created: str    # a backtest created, never started
    paper: str      # a paper run created, never started (its journal is ours to write)

    def settings(self, **changes: Any) -> ServerSettings:
        base = ServerSettings(home=self.manager.home, root=REPO,
                              web_dist=self.root / "no-dist")
        return replace(base, **changes)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    root = tmp_path_factory.mktemp("api")
    manager = RunManager(root / "home", root=root)
    try:
        month = manager.start(manager.create("backtest", MONTH_CONFIG,
                                             name="month").run_id).run_id
        tiny = manager.start(manager.create("backtest", backtest_config(),
                                            name="tiny").run_id).run_id
        for run_id in (month, tiny):
            done = wait_status(manager, run_id)
            assert done.status == "finished", done.error
        created = manager.create("backtest", backtest_config(), name="idle").run_id
        paper = manager.create("paper", PAPER_CONFIG, name="paper idle").run_id
        yield Home(manager, root, month, tiny, created, paper)
    finally:
        stop_runs(manager)
        manager.close()


@contextlib.asynccontextmanager
async def api_client(settings: ServerSettings, manager: RunManager, *,
                     client: tuple[str, int] = ("127.0.0.1", 50000),
                     token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over httpx's ASGI transport; its background work stopped after."""
    app = create_app(manager, settings)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app, client=client)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://heron",
                                     headers=headers) as http:
            yield http
    finally:
        await app.state.heron.close()


@contextlib.contextmanager
def served(settings: ServerSettings, manager: RunManager) -> Iterator[str]:
    """The real app under uvicorn on a free 127.0.0.1 port (a thread of this process),
    stopped at the end whatever the test did."""
    port = free_port()
    with serving(create_app(manager, replace(settings, port=port)), port) as url:
        yield url


@contextlib.contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    """``app`` under uvicorn on ``port`` of 127.0.0.1, in a thread; stopped at the end."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "uvicorn did not stop"


def error_code(response: httpx.Response) -> str:
    """The error body's code (and that the body has the documented shape)."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"] and "\n" not in body["error"]["message"]
    return str(body["error"]["code"])


@dataclass(frozen=True)
class SseEvent:
    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        import json

        return json.loads(self.data)


async def sse_events(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """The events of a text/event-stream response as they arrive (comments skipped)."""
    event, event_id, data = "message", None, []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield SseEvent(event, event_id, "\n".join(data))
            event, event_id, data = "message", None, []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data.append(line[6:])
