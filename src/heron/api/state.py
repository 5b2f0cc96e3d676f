"""What the app shares between requests: the run manager, tokens, followers, watcher.

Background work (the run watcher, journal followers) starts on the first request or at
server startup, on the loop that serves requests, and stops with :meth:`ApiState.close`
(the server's shutdown, or a test's teardown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from heron.api.follow import StreamHub
from heron.api.read_models import RunView
from heron.api.settings import ServerSettings
from heron.api.tokens import TokenStore
from heron.api.watch import RunWatcher
from heron.node.runs import RunManager, RunRecord

T = TypeVar("T")


class ApiState:
    def __init__(self, manager: RunManager, settings: ServerSettings) -> None:
        self.manager = manager
        self.settings = settings
        self.tokens = TokenStore(settings.server_db)
        self.hub = StreamHub(manager.journal_location, queue_limit=settings.sse_queue_events)
        self.watcher = RunWatcher(manager, self.hub)

    def ensure_started(self) -> None:
        """Start the watcher on the running loop (once)."""
        self.watcher.start()

    async def record(self, run_id: str) -> RunRecord:
        """The run's record (RunNotFound: 404)."""
        return await run_in_threadpool(self.manager.get, run_id)

    async def view(self, run_id: str) -> RunView | None:
        """The run's view, current to what its follower last read; None: no journal yet."""
        follower = await self.hub.follower(run_id)
        return await follower.get_view()

    async def read_view(self, run_id: str, read: Callable[[RunView], T], empty: T) -> T:
        """``read(view)`` under the view's lock, on a worker thread; ``empty`` without one."""
        view = await self.view(run_id)
        if view is None:
            return empty

        def locked() -> T:
            with view.lock:
                return read(view)

        return await self.hub.run(locked)

    async def close(self) -> None:
        await self.watcher.close()
        await self.hub.close()
        self.tokens.close()


def api_state(request: Request) -> ApiState:
    app: Any = request.app
    return cast(ApiState, app.state.heron)
