"""``/metrics`` over HTTP, served in the run's own event loop.

Why aiohttp in the run's loop rather than prometheus_client's thread server: a scrape
then runs between two engine steps, never during one, so the account gauges it
refreshes (:meth:`~heron.observe.metrics.NodeMetrics.refresh`) read a consistent
portfolio without a lock on the trading path. The server listens on 127.0.0.1 unless
told otherwise (metrics say what an account holds), starts before the feed so a port
in use refuses the run at once (an :class:`~heron.errors.InputError` naming the port
and the fix), and stops with the run. A scrape that fails after that answers 500, is
counted and logged once; the run goes on.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from heron.errors import InputError
from heron.observe.metrics import NodeMetrics

log = logging.getLogger(__name__)

#: how often the account and state gauges are refreshed between scrapes (drawdown peak)
REFRESH_S = 0.1


@dataclass(frozen=True, slots=True)
class MetricsEndpoint:
    """Where to serve: ``--metrics-host`` / ``--metrics-port`` (0: any free port)."""

    port: int
    host: str = "127.0.0.1"


class MetricsServer:
    """A run's :class:`NodeMetrics` and the HTTP server that shows them."""

    def __init__(self, metrics: NodeMetrics, runner: web.AppRunner) -> None:
        self.metrics = metrics
        self._runner = runner
        self._timer: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, endpoint: MetricsEndpoint, run: str) -> MetricsServer:
        """Listen on ``endpoint`` (in the running loop) for the run named ``run``."""
        metrics = NodeMetrics(run)
        app = web.Application()
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        server = cls(metrics, runner)
        app.router.add_get("/metrics", server._scrape)
        await runner.setup()
        try:
            await web.TCPSite(runner, endpoint.host, endpoint.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise _listen_error(endpoint, exc) from None
        server._timer = asyncio.get_running_loop().create_task(server._refresh_every())
        log.info("metrics at http://%s:%d/metrics", endpoint.host, server.port)
        return server

    @property
    def port(self) -> int:
        """The port listened on (the one picked when asked for 0)."""
        address = self._runner.addresses[0]
        return int(address[1])

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        await self._runner.cleanup()

    async def _scrape(self, _: web.Request) -> web.Response:
        try:
            self.metrics.refresh()
            body = generate_latest(self.metrics.registry)
        except Exception as exc:  # reported, answered, never raised into the run
            self.metrics.failed("scrape", exc)
            return web.Response(status=500, text="heron: metrics failed; see the run's log\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refresh_every(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            self.metrics.refresh()  # catches and counts its own failures


def _listen_error(endpoint: MetricsEndpoint, exc: OSError) -> InputError:
    where = f"{endpoint.host}:{endpoint.port}"
    if exc.errno == errno.EADDRINUSE:
        return InputError(f"--metrics-port {endpoint.port}: {where} is already in use; pass "
                          "another --metrics-port (a run per port) or stop what listens there")
    return InputError(f"--metrics-host/--metrics-port {where}: cannot listen there "
                      f"({exc.strerror or exc}); use an address of this machine and a free "
                      "port (below 1024 needs root)")


async def start_metrics(endpoint: MetricsEndpoint | None, run: str) -> MetricsServer | None:
    """A started server, or None when the run serves no metrics."""
    return None if endpoint is None else await MetricsServer.start(endpoint, run)


__all__ = ["MetricsEndpoint", "MetricsServer", "start_metrics"]
