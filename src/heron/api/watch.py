"""Telling streams what changed about runs: their status, and a paper or live run's
``status.json``.

Every second the watcher asks the run manager to reap ended runs (and adopt runs found
again after a restart) and sends each changed record as ``event: run``; a route that
changes a run announces it at once. For every running paper or live run that someone
streams, it reads ``STATE/status.json`` when the run rewrote it (about once a second)
and sends it as ``event: status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from heron.api.follow import StreamHub
from heron.node.control import STATUS_FILE, read_status
from heron.node.runs import RunManager, RunRecord

log = logging.getLogger("heron.api")
_json = msgspec.json.Encoder()
INTERVAL_S = 1.0


def run_frame(record: RunRecord) -> bytes:
    return b"event: run\ndata: %b\n\n" % _json.encode(record)


def status_frame(run_id: str, status: dict[str, Any]) -> bytes:
    return b"event: status\ndata: %b\n\n" % _json.encode({"run_id": run_id, **status})


class RunWatcher:
    def __init__(self, manager: RunManager, hub: StreamHub) -> None:
        self.manager = manager
        self.hub = hub
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, int] = {}  # run id -> status.json mtime sent
        self._pending: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            try:
                await self.tick()
            except Exception:  # the watcher must outlive one bad turn
                log.exception("watching runs failed; retrying")

    async def tick(self) -> None:
        changed = await self.hub.run(self.manager.refresh)
        for record in changed:
            self.announce(record)
        if self.hub.everyone or any(f.subscribers for f in self.hub.followers.values()):
            await self._statuses()

    def announce(self, record: RunRecord) -> None:
        """Send a run's new record to its streams; make sure all-runs streams follow it."""
        self.hub.notify(record.run_id, run_frame(record))
        follower = self.hub.followers.get(record.run_id)
        if follower is not None:
            follower.wake.set()  # the run may have written its last rows
        elif self.hub.everyone:
            task = asyncio.get_running_loop().create_task(self.hub.follower(record.run_id))
            self._pending.add(task)
            task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cannot follow a new run: %s", task.exception())

    async def _statuses(self) -> None:
        running = await self.hub.run(lambda: self.manager.list(status="running", limit=1000))
        for record in running:
            follower = self.hub.followers.get(record.run_id)
            if record.kind == "backtest" or not (
                    self.hub.everyone or (follower is not None and follower.subscribers)):
                continue
            state = Path(record.directory) / "state"
            try:
                mtime = os.stat(state / STATUS_FILE).st_mtime_ns
            except OSError:
                continue
            if self._seen.get(record.run_id) == mtime:
                continue
            status = await self.hub.run(read_status, state)
            if status is not None:
                self._seen[record.run_id] = mtime
                self.hub.notify(record.run_id, status_frame(record.run_id, status))
