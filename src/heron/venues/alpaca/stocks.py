"""Alpaca US equities live market data through alpaca-py.

ccxt's ``alpaca`` is crypto only, and Alpaca's equity stream speaks msgpack, so this
venue runs on alpaca-py's ``StockDataStream(raw_data=True)``: it connects to
``wss://stream.data.alpaca.markets/v2/{feed}``, authenticates, subscribes, decodes each
msgpack frame and hands every record, a dict, to heron's handler, which gives it to
:meth:`~heron.venues.alpaca.parse.AlpacaParser.parse_records`. Streams: trades and
quotes (the best bid and offer: the national one on SIP, IEX's own on IEX). There is no
equity order book on Alpaca's stream, and equities have no funding, mark price or
liquidations. Two venue names: ``alpaca-stocks`` (the IEX feed: free, IEX's own trades
and quotes, a few percent of the volume) and ``alpaca-stocks-sip`` (every US exchange,
with a paid data plan; without one Alpaca refuses the login with "insufficient
subscription").

**Market hours.** The regular session is 9:30-16:00 New York time on exchange days;
Alpaca streams the extended hours too (4:00-9:30 and 16:00-20:00), thinly, and nothing
overnight, on weekends or on holidays. :class:`AlpacaStocksSession` reads ``GET
/v2/clock`` and lets its streams be silent while the clock says closed (re-reading the
clock when it says the market opens or closes); a quiet thin symbol in open hours is
reported STALE, and the connection is reopened only when *every* stream on it has gone
quiet, because Alpaca allows one connection per feed and account, so all symbols and
streams of a session share it.

**Running alpaca-py inside heron's event loop.** ``StockDataStream.run()`` calls
``asyncio.run`` and cannot run inside a loop; its coroutine ``_run_forever()`` can. That
loop reconnects by itself, with its own delays and no word to its caller. heron wants its
own backoff and health, the same as for every venue
(:class:`~heron.data.feeds.live_session.LiveSession`), so :class:`_Stream` ends
``_run_forever`` at its first failure (it raises from ``_wait_before_reconnect``, the one
place alpaca-py waits before retrying) and heron opens a fresh stream after its backoff.
Stopping: alpaca-py's ``stop_ws()`` (a flag it checks between receives), then the task
cancelled and the socket closed.

**Times and raw frames.** ``ts_recv`` is taken when alpaca-py hands a record over, just
after it decoded the frame. alpaca-py decodes frames before heron sees them, so a
``FeedOptions.raw`` sink receives each record as JSON (``t`` as RFC-3339 text with nine
digits, numbers as their shortest round-trip text): the shape of Alpaca's crypto text
frames, which :meth:`~heron.venues.alpaca.parse.AlpacaParser.parse` reads back exactly.
A frame alpaca-py cannot decode is logged by alpaca-py and never reaches heron.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import msgspec
from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream

from heron.data.download_venues import with_endpoint
from heron.data.feeds.adapter import VenueAdapter
from heron.data.feeds.live_session import LOGGED_TEXT, FeedOptions, LiveSession, Subscription
from heron.data.feeds.session import endpoint_urls
from heron.data.feeds.streams import STREAM_OF, Stream
from heron.errors import InvalidConfiguration
from heron.model.instrument import Instrument
from heron.venues.alpaca.parse import AlpacaParser
from heron.venues.alpaca.trading import (
    MarketClock,
    TradingApi,
    equity_instrument,
    keys,
    trading_url,
)
from heron.venues.wire import BadMessage

__all__ = ["STOCK_STREAM", "AlpacaSipAdapter", "AlpacaStocksAdapter", "AlpacaStocksSession"]

log = logging.getLogger("heron.feed")

STOCK_STREAM = "wss://stream.data.alpaca.markets/v2/{feed}"
_CLOCK_RETRY_NS = 60 * 1_000_000_000  # a failed clock read is tried again after a minute
_RETURNED = ("alpaca-py ended the stream by itself (it does that when Alpaca answers "
             "'insufficient subscription': the SIP feed needs a paid data plan; "
             "--venue alpaca-stocks streams IEX)")


class AlpacaStocksAdapter(VenueAdapter):
    """Alpaca US equities on the IEX feed; :meth:`session` runs them (not ccxt)."""

    name: ClassVar[str] = "alpaca-stocks"
    ccxt_id: ClassVar[str] = ""  # not a ccxt venue: alpaca-py speaks to it
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.TRADES, Stream.QUOTES})
    unavailable: ClassVar[Mapping[Stream, str]] = {
        Stream.BOOK: ("Alpaca's equity stream has no order book; its quotes are the best "
                      "bid and offer (--streams quotes)"),
        Stream.FUNDING: "US equities have no funding",
        Stream.MARK: "US equities have no mark or index price; use trades or quotes",
        Stream.LIQUIDATIONS: "US equities have no liquidation stream",
    }
    feed: ClassVar[DataFeed] = DataFeed.IEX

    def __init__(self) -> None:
        _check_alpaca_py()
        keys()  # missing keys fail here, before a session opens anything

    def parser(self, instruments: Mapping[str, Instrument]) -> AlpacaParser:
        return AlpacaParser(instruments)

    def session(self, symbols: Sequence[str], streams: Sequence[Stream],
                emit: Callable[[object], None], options: FeedOptions) -> AlpacaStocksSession:
        return AlpacaStocksSession(self, symbols, streams, emit, options)


class AlpacaSipAdapter(AlpacaStocksAdapter):
    """Alpaca US equities on the SIP feed (every exchange; a paid Alpaca data plan)."""

    name: ClassVar[str] = "alpaca-stocks-sip"
    feed: ClassVar[DataFeed] = DataFeed.SIP


class _ConnectionLost(Exception):
    """alpaca-py's stream failed; heron, not alpaca-py, decides when to try again."""


class _Stream(StockDataStream):
    """alpaca-py's equity stream, ended at its first failure instead of retried."""

    async def _wait_before_reconnect(self, retries: int) -> None:
        # alpaca-py calls this from the except clause that caught the failure
        raise _ConnectionLost(_why(sys.exc_info()[1]))


class AlpacaStocksSession(LiveSession):
    """Live trades and quotes of some US equities, on one alpaca-py connection."""

    def __init__(self, adapter: AlpacaStocksAdapter, symbols: Sequence[str],
                 streams: Sequence[Stream], emit: Callable[[object], None],
                 options: FeedOptions | None = None) -> None:
        for stream in streams:
            adapter.check_stream(stream)
        super().__init__(adapter.name, emit, options)
        self.adapter = adapter
        self.symbols = [symbol.strip().upper() for symbol in symbols]
        self.streams = list(streams)
        self._keys = keys()
        endpoint = self.options.endpoint
        stream_url = STOCK_STREAM.format(feed=adapter.feed.value)
        self.url = endpoint_urls(stream_url, endpoint) if endpoint else stream_url
        rest_url = with_endpoint(trading_url(), endpoint) if endpoint else trading_url()
        self.api = TradingApi(rest_url, self._keys, attempts=self.options.start_attempts,
                              backoff=self.options.backoff)
        self._parser: AlpacaParser | None = None
        self._by_key: dict[tuple[Stream, str], Subscription] = {}
        self._clock: MarketClock | None = None
        self._clock_due_ns = 0      # not before: a failed read waits
        self._stream: _Stream | None = None
        self._ended: asyncio.Future[str] | None = None  # a reason ends the connection

    # -- start ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Read each symbol's asset (tick, lot, minimums) and the market clock.

        An unknown symbol is an :class:`~heron.errors.InputError` with the closest ones
        Alpaca lists; keys Alpaca refuses are one too, naming the variables.
        """
        instruments: dict[str, Instrument] = {}
        for symbol in self.symbols:
            asset = await self.api.equity(symbol)
            inst = equity_instrument(asset)
            instruments[inst.symbol] = inst
            for stream in self.streams:
                if (stream, inst.id) not in self._by_key:
                    sub = Subscription(stream, inst.symbol, asset, inst)
                    self.subscriptions.append(sub)
                    self._by_key[(stream, inst.id)] = sub
        self._clock = await self.api.clock()
        self._parser = self.adapter.parser(instruments)

    # -- run -----------------------------------------------------------------------------
    async def run(self) -> None:
        if self._parser is None:
            await self.open()
        await self._run_loops([self._keep(self.subscriptions, self._connect)])

    async def stop(self) -> None:
        self._stop_loops()
        stream = self._stream
        if stream is not None:
            await stream.close()

    async def _connect(self) -> None:
        """One connection: alpaca-py's stream, until it fails, goes quiet or is stopped."""
        stream = _Stream(self._keys["apiKey"], self._keys["secret"], raw_data=True,
                         feed=self.adapter.feed, url_override=self.url)
        symbols = sorted({sub.symbol for sub in self.subscriptions})
        if Stream.TRADES in self.streams:
            stream.subscribe_trades(self._handle, *symbols)
        if Stream.QUOTES in self.streams:
            stream.subscribe_quotes(self._handle, *symbols)
        ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        run = asyncio.create_task(stream._run_forever())
        self._stream, self._ended = stream, ended
        either: set[asyncio.Future[Any]] = {run, ended}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stream = self._ended = None
            await _shut(stream, run)
        if ended.done():
            raise ConnectionError(ended.result())
        run.result()  # raises _ConnectionLost with alpaca-py's reason
        raise ConnectionError(_RETURNED)

    def _end(self, reason: str) -> None:
        ended = self._ended
        if ended is not None and not ended.done():
            ended.set_result(reason)

    # -- records -------------------------------------------------------------------------
    async def _handle(self, record: object) -> None:
        """alpaca-py's handler for trades and quotes (``raw_data=True``: the dict)."""
        self._on_record(record, time.time_ns())

    def _on_record(self, record: object, ts_recv: int) -> None:
        parser = self._parser
        if self._stopping or parser is None:
            return
        raw_sink = self.options.raw
        if raw_sink is not None:
            raw_sink(self.venue, self.url, ts_recv, record_text(record))
        records: list[Any] = [record]  # the parser refuses a record that is not a dict
        out = parser.parse_records(records, ts_recv)
        if out is None:
            return
        if isinstance(out, BadMessage):
            self.parse_errors += 1
            log.warning("%s: unusable record (%s: %s): %s", self.venue, out.kind, out.detail,
                        out.raw[:LOGGED_TEXT])
            return
        for event in out:
            stream = STREAM_OF.get(type(event))
            sub = self._by_key.get((stream, event.instrument.id)) if stream else None
            if sub is not None:
                self._arrived(sub, self.url, ts_recv)
                self.emit(event)

    # -- quiet hours and stale connections -------------------------------------------------
    def _may_be_quiet(self, sub: Subscription, now: int) -> bool:
        """Quiet is fine while the market clock says closed."""
        clock = self._clock
        if clock is None:
            return False
        if now >= max(clock.changes_ns, self._clock_due_ns):
            self._clock_due_ns = now + _CLOCK_RETRY_NS
            self._tasks.append(asyncio.get_running_loop().create_task(self._read_clock()))
        return not clock.open_at(now)

    async def _read_clock(self) -> None:
        try:
            self._clock = await self.api.clock()
        except Exception as exc:  # the old clock stays; tried again after a minute
            log.warning("%s: cannot read the market clock: %s", self.venue, exc)

    def _drop_stale(self, sub: Subscription) -> None:
        """Reopen the connection only when every stream on it has gone quiet: a thin
        symbol's silence must not cut the others (one connection carries them all)."""
        now, quiet_ns = time.time_ns(), int(self.options.stale_after_s * 1e9)
        if all(now - max(s.last_ns, s.armed_ns) > quiet_ns for s in self.subscriptions):
            self._end(f"no data on any stream for {self.options.stale_after_s:g}s")


async def _shut(stream: _Stream, run: asyncio.Task[None]) -> None:
    """Stop alpaca-py's loop and close its socket, whatever state it is in."""
    await stream.stop_ws()
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    await stream.close()


def _why(failure: BaseException | None) -> str:
    """The reason a connection ended, as health and the log say it."""
    if failure is None:
        return "the connection ended"
    text = str(failure).strip().splitlines()
    first = text[0][:300] if text else ""
    if isinstance(failure, ValueError):  # alpaca-py's handshake refusals: Alpaca's words
        return f"alpaca: {first or 'the connection was refused'}"
    return f"{type(failure).__name__}: {first}" if first else type(failure).__name__


def record_text(record: object) -> str:
    """A decoded stream record as JSON text: ``t`` as RFC-3339 with nine digits."""
    if not isinstance(record, dict):
        return repr(record)
    out = dict(record)
    stamp = out.get("t")
    to_ns = getattr(stamp, "to_unix_nano", None)
    if to_ns is not None:
        seconds, nanos = divmod(int(to_ns()), 1_000_000_000)
        out["t"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
    try:
        return msgspec.json.encode([out]).decode()
    except (TypeError, msgspec.EncodeError):
        return repr([out])


def _check_alpaca_py() -> None:
    """alpaca-py's reconnect hook, which :class:`_Stream` depends on, must exist."""
    if not hasattr(StockDataStream, "_wait_before_reconnect"):
        from importlib.metadata import version

        raise InvalidConfiguration(
            f"alpaca-py {version('alpaca-py')} is too old for heron's equity feed (its "
            "stream has no reconnect hook): pip install -U alpaca-py")
