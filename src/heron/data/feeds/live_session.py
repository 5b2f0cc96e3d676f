"""What every live market-data session shares, whatever library speaks to the venue.

A session holds subscriptions (a stream of a symbol) and their health, keeps each one
up with its own reconnect loop (exponential backoff with jitter), and runs a watchdog
that reports and drops streams gone quiet for longer than ``stale_after_s`` (funding and
liquidations are exempt: venues publish them rarely). ccxt.pro venues use
:class:`~heron.data.feeds.session.VenueSession`; a venue reached through a library of its
own (Alpaca's US equities, through alpaca-py) subclasses :class:`LiveSession` too, so
health means the same on every venue.

Everything leaves through one callable, ``emit``: market events, and
:class:`~heron.model.feed.FeedHealth` on every state change and every
``health_every_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heron.data.feeds.backoff import Backoff
from heron.data.feeds.streams import Stream
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument

log = logging.getLogger("heron.feed")

Emit = Callable[[object], None]
#: ``(venue, url, ts_recv, text)`` for every frame received, control frames included
RawSink = Callable[[str, str, int, str], None]

_QUIET = frozenset({Stream.FUNDING, Stream.LIQUIDATIONS})
LOGGED_TEXT = 500  # characters of a bad frame written to the log


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How hard to try and how soon to worry. Times in seconds."""

    stale_after_s: float = 30.0
    health_every_s: float = 5.0
    start_attempts: int = 4          # tries to load the venue's markets before giving up
    endpoint: str | None = None      # another host for REST and WebSocket, paths kept
    raw: RawSink | None = None
    backoff: Callable[[], Backoff] = field(default=Backoff)
    ccxt_config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Subscription:
    """One stream of one symbol, and what has happened to it."""

    stream: Stream
    symbol: str                 # ccxt's unified symbol
    market: dict[str, Any]
    instrument: Instrument
    state: FeedState = FeedState.CONNECTING
    reason: str = ""
    url: str = ""
    last_ns: int = 0
    armed_ns: int = 0           # when it last (re)subscribed: the stale clock starts there
    messages: int = 0
    reconnects: int = 0
    gaps: int = 0


class LiveSession:
    """What every live session shares, whichever client library speaks to the venue.

    Its subscriptions and their :class:`FeedHealth`, one loop per connection that
    reconnects with backoff (:meth:`_keep`), the watchdog that reports health on a timer
    and drops connections gone quiet (:meth:`_watch`), and the one ``emit`` everything
    leaves through. A subclass connects (``open``, ``run`` through :meth:`_run_loops`,
    ``stop``) and says what dropping a stale connection means (:meth:`_drop_stale`).
    """

    def __init__(self, venue: str, emit: Emit, options: FeedOptions | None) -> None:
        self.venue = venue
        self.emit = emit
        self.options = options or FeedOptions()
        self.subscriptions: list[Subscription] = []
        self.parse_errors = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        """Reach the venue's REST API, resolve the symbols: before any data flows."""
        raise NotImplementedError

    async def run(self) -> None:
        """Keep every subscription up until :meth:`stop` (or cancellation)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop every loop and close the connections; health says STOPPED."""
        raise NotImplementedError

    def redirect(self, emit: Emit) -> None:
        """Send everything to ``emit`` from now on (a paper run, once it has replayed)."""
        self.emit = emit

    @property
    def instruments(self) -> list[Instrument]:
        seen: dict[str, Instrument] = {}
        for sub in self.subscriptions:
            seen.setdefault(sub.instrument.id, sub.instrument)
        return list(seen.values())

    # -- the loops ---------------------------------------------------------------------------
    async def _run_loops(self, loops: Sequence[Coroutine[Any, Any, None]]) -> None:
        """Run ``loops`` and the watchdog until :meth:`stop` (or cancellation)."""
        self._tasks = [asyncio.create_task(loop) for loop in loops]
        self._tasks.append(asyncio.create_task(self._watch()))
        try:
            await asyncio.gather(*self._tasks)
        except asyncio.CancelledError:
            if not self._stopping:  # stop() cancelled the loops: that is a normal end
                raise
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _stop_loops(self) -> None:
        """The first half of every ``stop``: no more reconnecting, health says STOPPED."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for sub in self.subscriptions:
            self._set(sub, FeedState.STOPPED, "stopped")

    async def _keep(self, subs: Sequence[Subscription], connect: Callable[[], Awaitable[None]],
                    on_drop: Callable[[], None] | None = None) -> None:
        """Connect, wait until the connection ends, back off, connect again: until stop.

        ``connect`` returns or raises when the connection ends; every subscription in
        ``subs`` rides on that connection and changes state with it. ``on_drop`` runs
        when it has ended (a book must not be trusted across the gap).
        """
        backoff = self.options.backoff()
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            armed = time.time_ns()
            for sub in subs:
                sub.armed_ns = armed
            try:
                await connect()
                reason = "the connection ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = first_line(exc)
            if self._stopping:
                return
            backoff.connected_for(loop.time() - started)
            if on_drop is not None:
                on_drop()
            for sub in subs:
                sub.reconnects += 1
                self._set(sub, FeedState.RECONNECTING, reason)
            await asyncio.sleep(backoff.next_delay())
            for sub in subs:
                if sub.state is FeedState.RECONNECTING:
                    self._set(sub, FeedState.CONNECTING, reason)

    async def _watch(self) -> None:
        """Health on a timer; stale streams dropped so their loops reconnect."""
        opts = self.options
        tick = min(1.0, opts.stale_after_s / 4, opts.health_every_s)
        stale_ns = int(opts.stale_after_s * 1e9)
        next_report = 0.0
        started = time.time_ns()
        while not self._stopping:
            await asyncio.sleep(tick)
            now = time.time_ns()
            for sub in self.subscriptions:
                if self._may_be_quiet(sub, now):
                    sub.armed_ns = now  # the stale clock starts when quiet is not allowed
                    continue
                if sub.state in (FeedState.RECONNECTING, FeedState.RESYNCING):
                    continue
                since = max(sub.last_ns, sub.armed_ns) or started
                if now - since > stale_ns and sub.state is not FeedState.STALE:
                    self._set(sub, FeedState.STALE,
                              f"no {sub.stream.value} message for {opts.stale_after_s:g}s")
                    self._drop_stale(sub)
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + opts.health_every_s
                for sub in self.subscriptions:
                    self.emit(self.health(sub, now))

    def _may_be_quiet(self, sub: Subscription, now: int) -> bool:
        """Whether ``sub`` may go without data at ``now`` (funding and liquidations: venues
        publish them rarely)."""
        return sub.stream in _QUIET

    def _drop_stale(self, sub: Subscription) -> None:
        """End the connection ``sub`` rides on, so that its loop reconnects."""
        raise NotImplementedError

    def _arrived(self, sub: Subscription, url: str, ts_recv: int) -> None:
        """Data for ``sub`` came in at ``ts_recv``: counted, and LIVE if it was not."""
        sub.last_ns, sub.url = ts_recv, url
        sub.messages += 1
        if sub.state is not FeedState.LIVE and sub.state is not FeedState.RESYNCING:
            self._set(sub, FeedState.LIVE, "data arriving")

    # -- health --------------------------------------------------------------------------
    def _set(self, sub: Subscription, state: FeedState, reason: str) -> None:
        if sub.state is state and sub.reason == reason:
            return
        sub.state, sub.reason = state, reason
        if state in (FeedState.RECONNECTING, FeedState.STALE, FeedState.RESYNCING):
            log.warning("%s %s %s: %s (%s)", self.venue, sub.symbol, sub.stream.value,
                        state.value, reason)
        self.emit(self.health(sub, time.time_ns()))

    def health(self, sub: Subscription, now: int) -> FeedHealth:
        return FeedHealth(
            ts=now, venue=self.venue, symbol=sub.instrument.symbol,
            stream=sub.stream.value,
            state=sub.state, last_message_age_ns=now - sub.last_ns if sub.last_ns else -1,
            messages=sub.messages, reconnects=sub.reconnects, gaps=sub.gaps,
            parse_errors=self.parse_errors, reason=sub.reason)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (venue errors can be pages of HTML)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
