"""Any number of venues, symbols and streams as one live event stream.

:func:`run_feeds` opens one session per venue request (``adapter.session``: a
:class:`~heron.data.feeds.session.VenueSession`, or the venue's own), all of them before
any data flows, so a bad symbol fails the whole command at once, before output starts;
runs them on one event loop, and stops on a count of market events, a duration, or a
signal. Every event, health included, goes to one ``emit``; they arrive in the order the
frames were read.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.session import FeedOptions, LiveSession
from heron.data.feeds.streams import Stream
from heron.model.feed import FeedHealth


@dataclass(frozen=True, slots=True)
class FeedRequest:
    """Some symbols and streams of one venue (``endpoint``: another host for it)."""

    venue: str
    symbols: tuple[str, ...]
    streams: tuple[Stream, ...]
    endpoint: str | None = None


@dataclass(slots=True)
class FeedRun:
    """What a run did: market events passed on, and the sessions (for their counters)."""

    events: int = 0
    sessions: list[LiveSession] = field(default_factory=list)
    stopped_by: str = ""


def sessions_for(requests: Sequence[FeedRequest], emit: Callable[[object], None],
                 options: FeedOptions) -> list[LiveSession]:
    """One session per request; unknown venues and streams fail here, before any I/O."""
    out = []
    for req in requests:
        opts = replace(options, endpoint=req.endpoint or options.endpoint)
        out.append(adapter_for(req.venue).session(req.symbols, req.streams, emit, opts))
    return out


async def run_feeds(requests: Sequence[FeedRequest], emit: Callable[[object], None], *,
                    options: FeedOptions | None = None, count: int | None = None,
                    duration_s: float | None = None) -> FeedRun:
    """Stream until ``count`` market events, ``duration_s`` seconds, SIGINT or SIGTERM."""
    run = FeedRun()
    done = asyncio.Event()

    def counted(event: object) -> None:
        if done.is_set():
            return
        emit(event)
        if not isinstance(event, FeedHealth):
            run.events += 1
            if count is not None and run.events >= count:
                run.stopped_by = "count"
                done.set()

    run.sessions = sessions_for(requests, counted, options or FeedOptions())
    await asyncio.gather(*(s.open() for s in run.sessions))
    # ccxt leaves ~250k long-lived objects behind at import and market loading; frozen,
    # a full collection takes ~10 ms instead of 100-150 ms in the middle of the stream
    gc.freeze()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, functools.partial(_stop, run, done, sig.name))
    tasks = [asyncio.create_task(s.run()) for s in run.sessions]
    try:
        if count == 0:
            done.set()
        await asyncio.wait_for(done.wait(), duration_s)
    except TimeoutError:
        run.stopped_by = "duration"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await _close(run.sessions, tasks)
    return run


async def _close(sessions: Sequence[LiveSession], tasks: Sequence[asyncio.Task[None]]) -> None:
    for session in sessions:
        await session.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _stop(run: FeedRun, done: asyncio.Event, name: str) -> None:
    run.stopped_by = name
    done.set()
