"""One venue's live market data: connect, subscribe, keep it up, and say how it is doing.

What every session shares whatever library speaks to the venue (subscriptions and their
health, reconnecting with backoff, the stale watchdog) is :class:`LiveSession`; a venue
reached through a library of its own rather than ccxt (Alpaca's US equities, through
alpaca-py) subclasses it too, so health means the same on every venue.

A :class:`VenueSession` owns one ccxt.pro exchange (tapped: heron parses the frames,
:mod:`heron.data.feeds.tap`) and one subscription per ``(stream, symbol)``. Each
subscription runs its own loop: ask ccxt to subscribe, wait until the connection ends,
back off (exponential, jittered: :class:`~heron.data.feeds.backoff.Backoff`), subscribe
again. A watchdog drops connections whose streams went quiet for longer than
``stale_after_s`` (funding and liquidations are exempt: venues publish them rarely),
and book gaps force a new snapshot (:class:`~heron.data.feeds.book_sync.BookSync`).
Malformed frames are counted and logged with their text; they never stop the feed.

Everything leaves through one callable, ``emit``: market events as the parser made them,
and :class:`~heron.model.feed.FeedHealth` on every state change and every
``health_every_s``. ``emit`` runs on the event loop, inside the frame's callback, so a
strategy behind it sees the data with no queue in between.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heron.data.download_venues import instrument_of, market_named, with_endpoint
from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.book_sync import BookSync
from heron.data.feeds.streams import STREAM_OF, Stream
from heron.data.feeds.tap import tapped_exchange
from heron.errors import InputError, VenueUnavailable
from heron.model.data import BookDelta, BookSnapshot
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument
from heron.venues.wire import BadKind, BadMessage, text_of

log = logging.getLogger("heron.feed")

Emit = Callable[[object], None]
#: ``(venue, url, ts_recv, text)`` for every frame received, control frames included
RawSink = Callable[[str, str, int, str], None]

_QUIET = frozenset({Stream.FUNDING, Stream.LIQUIDATIONS})
_LOGGED_TEXT = 500  # characters of a bad frame written to the log


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
                reason = _first_line(exc)
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


class VenueSession(LiveSession):
    """Live market data of some symbols and streams of one venue, through ccxt.pro."""

    def __init__(self, adapter: VenueAdapter, symbols: Sequence[str],
                 streams: Sequence[Stream], emit: Emit,
                 options: FeedOptions | None = None) -> None:
        for stream in streams:
            adapter.check_stream(stream)
        super().__init__(adapter.name, emit, options)
        self.adapter = adapter
        self.symbols, self.streams = list(symbols), list(streams)
        self.ccxt_errors = 0
        self.exchange: Any = None
        self._parser: FeedParser | None = None
        self._by_key: dict[tuple[Stream, str], Subscription] = {}
        self._books: dict[str, BookSync] = {}
        self._resyncing: set[str] = set()   # instruments with a REST snapshot on its way

    # -- start ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect to the venue's REST API, resolve the symbols, build the parser.

        A venue unreachable after ``start_attempts`` tries is a
        :class:`VenueUnavailable`; an unknown symbol an :class:`InputError` with the
        closest names the venue has.
        """
        config = {"enableRateLimit": True, **self.adapter.options,
                  **self.options.ccxt_config}
        self.exchange = tapped_exchange(self.adapter.ccxt_id, config, self._on_frame,
                                        self._on_ccxt_error)
        if self.options.endpoint:
            with_endpoint("", self.options.endpoint)  # refuses a malformed URL up front
            self.exchange.urls["api"] = endpoint_urls(self.exchange.urls["api"],
                                                      self.options.endpoint)
        try:
            await self._load_markets()
            self._subscribe_all()
        except BaseException:
            await self.exchange.close()
            raise

    def _subscribe_all(self) -> None:
        instruments: dict[str, Instrument] = {}
        for symbol in self.symbols:
            market = market_named(self.exchange, symbol)
            inst = instrument_of(self.exchange, market)
            instruments[self.adapter.native_symbol(market)] = inst
            for stream in self.streams:
                self.adapter.check_market(stream, market)
                sub = Subscription(stream, str(market["symbol"]), market, inst)
                self.subscriptions.append(sub)
                self._by_key[(stream, inst.id)] = sub
            if Stream.BOOK in self.streams:
                self._books[inst.id] = BookSync(
                    self.adapter.book_rule, hold_before_snapshot=self.adapter.rest_book_snapshot,
                    emit=self.emit, on_gap=self._gap_handler(market, inst))
        self._parser = self.adapter.parser(instruments)

    async def _load_markets(self) -> None:
        backoff = self.options.backoff()
        for attempt in range(1, self.options.start_attempts + 1):
            try:
                await self.exchange.load_markets()
                return
            except Exception as exc:
                if _is_refusal(exc):
                    raise InputError(f"{self.adapter.name} refused the market list: "
                                     f"{_first_line(exc)}") from None
                if attempt == self.options.start_attempts:
                    where = self.options.endpoint or "its API"
                    raise VenueUnavailable(
                        f"{self.adapter.name}: cannot reach {where} after {attempt} tries "
                        f"({_first_line(exc)}); check the network or --endpoint") from None
                await asyncio.sleep(backoff.next_delay())

    def redirect(self, emit: Emit) -> None:
        super().redirect(emit)
        for book in self._books.values():
            book.emit = emit

    # -- run -----------------------------------------------------------------------------
    async def run(self) -> None:
        if self._parser is None:
            await self.open()
        await self._run_loops([
            self._keep([sub], functools.partial(self._subscribed, sub),
                       functools.partial(self._dropped, sub))
            for sub in self.subscriptions])

    async def stop(self) -> None:
        self._stop_loops()
        if self.exchange is not None:
            await self.exchange.close()

    async def _subscribed(self, sub: Subscription) -> None:
        """Subscribe through ccxt; returns at stop, raises when the connection ends."""
        while not self._stopping:  # a watch that resolves is simply re-armed
            await self.adapter.subscribe(self.exchange, sub.stream, sub.market)

    def _dropped(self, sub: Subscription) -> None:
        book = self._books.get(sub.instrument.id)
        if book is not None and sub.stream is Stream.BOOK:
            book.reset()

    def _drop_stale(self, sub: Subscription) -> None:
        self._drop(sub.url, "stale stream")

    # -- frames --------------------------------------------------------------------------
    def _on_frame(self, url: str, raw: bytes | str, ts_recv: int) -> bool:
        if self._stopping:  # read while closing: after STOPPED, nothing more is emitted
            return True
        raw_sink = self.options.raw
        if raw_sink is not None:
            raw_sink(self.adapter.name, url, ts_recv, text_of(raw))
        parser = self._parser
        if parser is None:
            return False
        out = parser.parse(raw, ts_recv)
        if out is None:
            return False
        if isinstance(out, BadMessage):
            self.parse_errors += 1
            log.warning("%s: unusable frame (%s: %s): %s", self.adapter.name, out.kind,
                        out.detail, out.raw[:_LOGGED_TEXT])
            return out.kind is not BadKind.VENUE_ERROR  # ccxt may be waiting for an error
        start, n = 0, len(out)
        while start < n:  # one book's deltas in a row (a venue message) routed at once
            event, end = out[start], start + 1
            if type(event) is BookDelta:
                inst = event.instrument
                while end < n and type(out[end]) is BookDelta and out[end].instrument is inst:
                    end += 1
            if end - start > 1:
                self._route_deltas(out[start:end], url, ts_recv)
            else:
                self._route(event, url, ts_recv)
            start = end
        return True

    def _route_deltas(self, deltas: list[BookDelta], url: str, ts_recv: int) -> None:
        """:meth:`_route` for several deltas of one book: looked up and counted once, not
        delta by delta (a depth message is tens of deltas; this halves its routing)."""
        iid = deltas[0].instrument.id
        sub = self._by_key.get((Stream.BOOK, iid))
        if sub is None:
            return
        self._arrived(sub, url, ts_recv)
        sub.messages += len(deltas) - 1  # health counts events, as _route does
        book = self._books[iid]
        for delta in deltas:
            book.delta(delta)
        if not book.synced and sub.state is not FeedState.RESYNCING:
            self._need_snapshot(sub, "book stream started: waiting for a snapshot")

    def _route(self, event: Any, url: str, ts_recv: int) -> None:
        stream = STREAM_OF.get(type(event))
        if stream is None:  # a venue-specific event type: a subclass of a model type
            stream = next(s for t, s in STREAM_OF.items() if isinstance(event, t))
        sub = self._by_key.get((stream, event.instrument.id))
        if sub is None:
            return  # a stream nobody asked for (a venue pushing extra): not ours to pass on
        self._arrived(sub, url, ts_recv)
        if stream is Stream.BOOK:
            book = self._books[event.instrument.id]
            if isinstance(event, BookDelta):
                book.delta(event)
                if not book.synced and sub.state is not FeedState.RESYNCING:
                    self._need_snapshot(sub, "book stream started: waiting for a snapshot")
            else:
                if sub.state is FeedState.RESYNCING:
                    self._set(sub, FeedState.LIVE, "snapshot received")
                book.snapshot(event)
            return
        self.emit(event)

    def _on_ccxt_error(self, url: str, raw: bytes | str, exc: BaseException) -> None:
        self.ccxt_errors += 1
        log.warning("%s: ccxt failed on a control frame (%s): %s", self.adapter.name,
                    _first_line(exc), text_of(raw)[:_LOGGED_TEXT])

    # -- books ---------------------------------------------------------------------------
    def _gap_handler(self, market: dict[str, Any], inst: Instrument) -> Callable[[str], None]:
        def on_gap(reason: str) -> None:
            sub = self._by_key[(Stream.BOOK, inst.id)]
            sub.gaps += 1
            self._need_snapshot(sub, reason)
        return on_gap

    def _need_snapshot(self, sub: Subscription, reason: str) -> None:
        """Get the book a new snapshot: from REST, or by subscribing again."""
        self._set(sub, FeedState.RESYNCING, reason)
        if not self.adapter.rest_book_snapshot:  # the venue sends one when (re)subscribed
            self._drop(sub.url, "book gap: resubscribing for a new snapshot")
        elif sub.instrument.id not in self._resyncing:  # one REST loop per book at a time
            self._resyncing.add(sub.instrument.id)
            task = asyncio.get_running_loop().create_task(self._resync(sub))
            self._tasks.append(task)

    async def _resync(self, sub: Subscription) -> None:
        """Fetch REST snapshots until one syncs the book; LIVE only then.

        A snapshot older than the updates held since the gap cannot be joined to them
        (the venue's REST cache lags its stream): fetch another after a backoff rather
        than call a book with a hole live.
        """
        backoff = self.options.backoff()
        book = self._books[sub.instrument.id]
        try:
            while not self._stopping and sub.state is FeedState.RESYNCING:
                snapshot = await self._fetch_snapshot(sub)
                if sub.state is not FeedState.RESYNCING:
                    return  # the connection dropped meanwhile: the next one asks again
                if snapshot is not None:
                    book.snapshot(snapshot)
                    if book.synced:
                        self._set(sub, FeedState.LIVE, "book resynced from a REST snapshot")
                        return
                    self._set(sub, FeedState.RESYNCING,
                              "the REST snapshot is older than the stream: fetching another")
                await asyncio.sleep(backoff.next_delay())
        finally:
            self._resyncing.discard(sub.instrument.id)

    async def _fetch_snapshot(self, sub: Subscription) -> BookSnapshot | None:
        """The venue's REST book for ``sub``, or None (the reason is logged or in health)."""
        parser = self._parser
        assert parser is not None
        try:
            raw = await self.adapter.book_snapshot(self.exchange, sub.market)
        except Exception as exc:
            sub.reason = f"snapshot request failed: {_first_line(exc)}"
            return None
        out = self.adapter.parse_snapshot(parser, raw, time.time_ns(), sub.market)
        if isinstance(out, BadMessage):
            self.parse_errors += 1
            log.warning("%s: unusable book snapshot (%s)", self.adapter.name, out.detail)
            return None
        return next((event for event in out if isinstance(event, BookSnapshot)), None)

    # -- connections -----------------------------------------------------------------------
    def _drop(self, url: str, reason: str) -> None:
        """Fail the connection at ``url`` so its loops reconnect.

        ``url`` is unknown (``""``) for a subscription that never had a message; then
        the connections that brought no subscription any data are dropped, never one
        that is evidently alive (a quiet symbol must not cut its neighbours' streams).
        """
        import ccxt

        alive = {sub.url for sub in self.subscriptions if sub.url}
        clients = dict(getattr(self.exchange, "clients", None) or {})
        for client_url, client in clients.items():
            if client_url == url or (not url and client_url not in alive):
                client.on_error(ccxt.NetworkError(reason))


def endpoint_urls(urls: Any, endpoint: str) -> Any:
    """ccxt's ``urls['api']`` with every host moved to ``endpoint``'s, paths kept:
    ``http(s)`` URLs to ``endpoint`` itself, ``ws(s)`` URLs to the same host with
    ``ws://`` (``wss://`` for an https endpoint). Template hosts (``{hostname}``) too."""
    from urllib.parse import urlsplit, urlunsplit

    if isinstance(urls, dict):
        return {key: endpoint_urls(value, endpoint) for key, value in urls.items()}
    if not isinstance(urls, str):
        return urls
    old = urlsplit(urls)
    if old.scheme not in ("ws", "wss"):
        return with_endpoint(urls, endpoint)
    new = urlsplit(endpoint)
    scheme = "wss" if new.scheme == "https" else "ws"
    return urlunsplit((scheme, new.netloc, old.path, old.query, old.fragment))


def _is_refusal(exc: BaseException) -> bool:
    import ccxt

    return isinstance(exc, ccxt.ExchangeError) and not isinstance(exc, ccxt.NetworkError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
