"""One ccxt.pro venue's live market data: connect, subscribe, keep it up, report.

A :class:`VenueSession` owns one ccxt.pro exchange (tapped: heron parses the frames,
:mod:`heron.data.feeds.tap`) and one subscription per ``(stream, symbol)``, each kept up
by :class:`~heron.data.feeds.live_session.LiveSession`'s loops. Book gaps force a new
snapshot (:class:`~heron.data.feeds.book_sync.BookSync`), from REST or by subscribing
again. Malformed frames are counted and logged with their text; they never stop the feed.
``emit`` runs on the event loop, inside the frame's callback, so a strategy behind it sees
the data with no queue in between.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from heron.data.download_venues import instrument_of, market_named, with_endpoint
from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.book_sync import BookSync
from heron.data.feeds.live_session import (
    LOGGED_TEXT,
    Emit,
    FeedOptions,
    LiveSession,
    RawSink,
    Subscription,
    first_line,
    log,
)
from heron.data.feeds.streams import STREAM_OF, Stream
from heron.data.feeds.tap import tapped_exchange
from heron.errors import InputError, VenueUnavailable
from heron.model.data import BookDelta, BookSnapshot
from heron.model.feed import FeedState
from heron.model.instrument import Instrument
from heron.venues.wire import BadKind, BadMessage, text_of

__all__ = ["Emit", "FeedOptions", "LiveSession", "RawSink", "Subscription", "VenueSession",
           "endpoint_urls"]


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
                                     f"{first_line(exc)}") from None
                if attempt == self.options.start_attempts:
                    where = self.options.endpoint or "its API"
                    raise VenueUnavailable(
                        f"{self.adapter.name}: cannot reach {where} after {attempt} tries "
                        f"({first_line(exc)}); check the network or --endpoint") from None
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
                        out.detail, out.raw[:LOGGED_TEXT])
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
                    first_line(exc), text_of(raw)[:LOGGED_TEXT])

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
            sub.reason = f"snapshot request failed: {first_line(exc)}"
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
