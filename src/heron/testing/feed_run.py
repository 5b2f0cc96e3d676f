"""A live feed run against a :class:`~heron.testing.venue_server.VenueServer`, with everything
it emitted: the harness of heron's per-venue feed tests, and of yours.

A strategy or a venue adapter of your own is tested the way heron tests its venues: the
real client (ccxt.pro, or the venue's own library) in a real session, against the
loopback venue replaying recorded messages, until what you expect has arrived::

    from heron.data.feeds.adapter import adapter_for
    from heron.data.feeds.streams import Stream
    from heron.model.data import Trade
    from heron.testing.feed_run import run_feed
    from heron.testing.venues.binance import BinanceUsdmProfile

    run = run_feed(BinanceUsdmProfile.recorded(venue_dir, lines=3000),
                   adapter_for("binanceusdm"), ["BTC/USDT:USDT"], [Stream.TRADES],
                   until=lambda r: len(r.of(Trade)) >= 400, subscribes=1)
    assert run.session.parse_errors == 0

:func:`run_feed` starts the server; opens the session (markets over REST) and runs it;
holds the data back until ``subscribes`` subscribe requests arrived, so that every
stream gets the recording from its start; calls ``before(server)`` (a knob turned before
any data flows: a frame skipped, garbage injected); releases the data; awaits
``during(run)`` (steps mid-stream: wait for the first book, then drop the connection);
waits until ``until(run)`` holds; and stops the session, whatever happened. Every wait
has ``timeout_s`` and fails with an :class:`AssertionError` naming what it waited for
and the health so far; a session whose ``run()`` failed fails the wait with its error.

:func:`running_feed` is the same run as an ``async with`` block over a server of your
own, for a test written as a script of steps (see ``tests/data/feeds``).

On a clean stop the run also checks what every session promises: ``run()`` returns, and
nothing but STOPPED health is emitted once the first STOPPED has been.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from heron.data.feeds.adapter import VenueAdapter
from heron.data.feeds.session import FeedOptions, LiveSession
from heron.data.feeds.streams import Stream
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument
from heron.testing.venue_server import VenueProfile, VenueServer

__all__ = ["FeedRun", "run_feed", "running_feed"]

E = TypeVar("E")
_POLL_S = 0.01


class FeedRun:
    """One session run against one server: both ends, and what the session emitted.

    ``server`` and ``session`` stay readable once the run is over: what the clients sent
    (``server.received``, ``server.subscribes()``, ``server.requests``), the session's
    counters and subscriptions.
    """

    def __init__(self, server: VenueServer, session: LiveSession, events: list[object],
                 frames: list[str], timeout_s: float) -> None:
        self.server = server
        self.session = session
        #: everything the session emitted (market events and health), in order
        self.events = events
        #: the text of every frame received, when asked for (``keep_frames``)
        self.frames = frames
        self.timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    def of(self, kind: type[E]) -> list[E]:
        """The events of ``kind``, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def split(self, state: FeedState, *, last: bool = False
              ) -> tuple[list[object], list[object]]:
        """The events before, and from, the first (``last``: the last) health report of
        ``state``; all of them and none when there is no such report."""
        at = [i for i, e in enumerate(self.events)
              if isinstance(e, FeedHealth) and e.state is state]
        cut = (at[-1] if last else at[0]) if at else len(self.events)
        return self.events[:cut], self.events[cut:]

    def states(self, since: int = 0) -> list[tuple[FeedState, str]]:
        """``(state, reason)`` of each health change from event index ``since`` on."""
        out: list[tuple[FeedState, str]] = []
        for event in self.events[since:]:
            if isinstance(event, FeedHealth) and (event.state, event.reason) not in out[-1:]:
                out.append((event.state, event.reason))
        return out

    def instrument(self, symbol: str) -> Instrument:
        """The instrument subscribed as ``symbol`` (ccxt's unified symbol)."""
        return next(s.instrument for s in self.session.subscriptions if s.symbol == symbol)

    async def wait(self, done: Callable[[], bool], what: str,
                   timeout_s: float | None = None) -> None:
        """Return once ``done()`` holds; fail after ``timeout_s`` (the run's by default),
        or at once with its error if the session's ``run()`` failed."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not done():
            task = self._task
            if task is not None and task.done():
                task.result()
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {limit:g} s waiting for {what}; "
                                     f"health: {self.states()}")
            await asyncio.sleep(_POLL_S)

    async def _start(self) -> None:
        await self.session.open()
        self._task = asyncio.create_task(self.session.run())

    async def _stop(self, *, check: bool) -> None:
        """Stop the session; with ``check``, its ``run()`` must then end by itself and the
        events must end as a stopped session's do."""
        await self.session.stop()
        task = self._task
        if task is None:
            return
        if check:
            await asyncio.wait_for(task, self.timeout_s)
            self._check_stopped()
        else:  # the test failed already: its error is the one to see
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _check_stopped(self) -> None:
        """STOPPED health was reported, and nothing else after the first of it (frames may
        still have been arriving)."""
        stopped = [isinstance(e, FeedHealth) and e.state is FeedState.STOPPED
                   for e in self.events]
        if True not in stopped:
            raise AssertionError("the session stopped without saying so (no STOPPED health)")
        first = stopped.index(True)
        late = [e for e, is_stop in zip(self.events[first:], stopped[first:], strict=True)
                if not is_stop]
        if late:
            raise AssertionError(f"emitted after STOPPED: {late[:3]}")


@asynccontextmanager
async def running_feed(server: VenueServer, adapter: VenueAdapter, symbols: Sequence[str],
                       streams: Sequence[Stream], *, subscribes: int = 0,
                       before: Callable[[VenueServer], None] | None = None,
                       timeout_s: float = 5.0, keep_frames: bool = False,
                       **options: Any) -> AsyncIterator[FeedRun]:
    """``adapter``'s session of ``streams`` of ``symbols``, open and running against
    ``server`` for the block; stopped (and checked, see :class:`FeedRun`) at its end.

    ``subscribes``: hold the data back until that many subscribe requests arrived
    (:meth:`VenueServer.subscribes`; ``0``: do not hold); ``before(server)`` runs then,
    before the data is released. ``options`` are :class:`FeedOptions` fields; the
    endpoint is the server.
    """
    events: list[object] = []
    frames: list[str] = []
    if keep_frames:
        if "raw" in options:
            raise TypeError("keep_frames collects the frames itself: pass no raw sink")
        options["raw"] = lambda venue, url, ts_recv, text: frames.append(text)
    session = adapter.session(symbols, streams, events.append,
                              FeedOptions(endpoint=server.url, **options))
    run = FeedRun(server, session, events, frames, timeout_s)
    if subscribes:
        server.hold()
    await run._start()
    try:
        if subscribes:
            await run.wait(lambda: len(server.subscribes()) >= subscribes,
                           f"{subscribes} subscribe requests")
        if before is not None:
            before(server)
        server.release()
        yield run
    except BaseException:
        await run._stop(check=False)
        raise
    await run._stop(check=True)


def run_feed(profile: VenueProfile, adapter: VenueAdapter, symbols: Sequence[str],
             streams: Sequence[Stream], *, until: Callable[[FeedRun], bool],
             subscribes: int = 0, before: Callable[[VenueServer], None] | None = None,
             during: Callable[[FeedRun], Awaitable[None]] | None = None,
             speed: float = 0.0, timeout_s: float = 5.0, keep_frames: bool = False,
             **options: Any) -> FeedRun:
    """Serve ``profile`` (at ``speed``, see :class:`VenueServer`), run ``adapter``'s session
    on it until ``until(run)`` holds, and return the stopped run.

    ``during(run)`` is awaited once the data flows, before waiting for ``until``: steps
    mid-stream, which wait with :meth:`FeedRun.wait` and turn the server's knobs. The
    rest is :func:`running_feed`'s.
    """
    async def main(server: VenueServer) -> FeedRun:
        async with running_feed(server, adapter, symbols, streams, subscribes=subscribes,
                                before=before, timeout_s=timeout_s, keep_frames=keep_frames,
                                **options) as run:
            if during is not None:
                await during(run)
            await run.wait(lambda: until(run), "the expected events")
        return run

    with VenueServer(profile, speed=speed) as server:
        return asyncio.run(main(server))
