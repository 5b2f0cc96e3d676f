"""Live-feed benchmark: receive-to-strategy latency over a loopback venue, and normalising.

    python bench/bench_feed.py [--quick] [--passes N] [--only heron|ccxt.pro]
        [--no-normalise] [--data DIR] [--markdown FILE]

Venue: :class:`~heron.testing.venue_server.VenueServer` with the Binance USD-M profile,
replaying the real BTCUSDT capture of 2024-08-08 (345 s: 21,313 trades, 66,089
bookTicker quotes, 6,551 depth diffs of about 68 levels each), in **its own process**
(the machine has 2 cores: the server's CPU does not share the client's event loop or
GIL). ccxt opens one connection per stream and each connection replays its stream from
the recording's start; a pass ends when the last recorded message of every subscribed
stream has reached the client. A scenario runs ``--passes`` passes one after another
(default 5: 106,565 trades; ``--quick``: 1), each with a fresh client (new session, new
connections, markets loaded again outside the measurement).

1. Receive-to-strategy. heron's client is what ``heron paper`` runs: a
   :class:`~heron.data.feeds.session.VenueSession` (ccxt.pro ``binanceusdm``, heron's tap,
   ``BinanceParser``) whose ``emit`` appends each event to the run's input log and hands
   it to a :class:`~heron.node.paper.PaperEngine` (one instance across the passes), whose
   strategy records ``time.time_ns() - trade.ts_recv`` in ``on_trade`` into a
   preallocated array; a timer flushes the log and the journal every 100 ms, as a paper
   run does. The only step of ``heron paper`` left out is the ``is_new`` dedupe: every
   pass replays the same trades, which it would drop. ``ts_recv`` is stamped by heron's
   tap when ccxt's receive loop takes the WebSocket message from aiohttp (aiohttp has
   read the bytes from the socket, inflated them -- the connection negotiates
   permessage-deflate, as ccxt offers it and Binance accepts it -- and queued the
   message): the latency is from there to the strategy, and a message waiting in
   aiohttp's queue behind others (a burst) is not counted. ``send→strategy`` covers
   what that leaves out: the server stamps each trade frame just before handing it to
   its WebSocket writer, and the client's callback time is matched to it by trade id
   (same machine, same clock); it includes the server's own compress-and-write.
   The peer is ccxt.pro's own path, which heron replaces: ``watch_trades`` (ccxt decodes
   and parses the same frames into its unified trades), stamped at the same point by the
   same kind of tap, latency taken when the watching coroutine gets the trades. ccxt
   keeps the last 1,000 trades and hands each ``watch_trades`` call the new ones: when the
   caller falls further behind, trades are lost (``trades`` counts those that arrived).

   Pacing: ``flood`` sends as fast as the client reads (the server's speed 0: msgs/s is
   the rate the client sustains; send→strategy is then mostly queueing); ``Nx`` replays
   at N times real time (50x for trades: ~3.1k trades/s on average; 10x for all
   streams: ~2.7k messages/s; bursts as recorded): the honest live figure. ``all``
   subscribes trades + quotes + book (the book synced from a REST snapshot); its table
   adds quote latency (bookTicker quotes, and the quotes the engine makes when a book
   message moves the top: those wait for the whole message) and depth-message latency
   (from receipt of the diff to its last delta consumed: book applied, strategies told;
   counted once the book has synced, not for diffs held for the snapshot).

2. Normalising: ``BinanceParser.parse`` and ``EnvelopeWriter.encode`` over the recorded
   frames in a tight loop (no network), per stream, repeated to at least 100k messages
   (``--quick``: 20k): messages/s and events/s, best of 3 warm runs; ccxt.pro's own
   handling (json decode + its unified structures, through its client's message handler)
   of the same trade and quote frames beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from heron.model.data import BookDelta, BookSnapshot, Quote, Trade
from heron.model.feed import FeedHealth
from heron.strategy.base import Strategy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENUE = ROOT.parent / "shared" / "data" / "venues" / "binance_usdm"
CAPTURE = "ws_capture_BTCUSDT_2024-08-08.txt.gz"
SYMBOL = "BTC/USDT:USDT"
TRADE, QUOTE, DEPTH = "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@depth"
PASS_TIMEOUT_S = 180.0


# -- the venue (its own process) ---------------------------------------------------------------
def venue_profile(venue_dir: Path) -> Any:
    """The Binance USD-M profile over the shared capture, stamping trade frames as sent."""
    from heron.testing.venues.binance import BinanceUsdmProfile

    class Stamped(BinanceUsdmProfile):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.trade_ids = {id(f): json.loads(f.text)["t"] for f in self.frames()
                              if f.topic == TRADE}
            self.sent_ids: list[int] = []
            self.sent_ns: list[int] = []
            self.sent = Counter[str]()

        def render(self, session: Any, frame: Any) -> str | bytes:
            text: str | bytes = super().render(session, frame)
            self.sent[frame.topic] += 1
            tid = self.trade_ids.get(id(frame))
            if tid is not None:
                self.sent_ids.append(tid)
                self.sent_ns.append(time.time_ns())
            return text

        def take(self) -> dict[str, Any]:
            ids, ns, sent = self.sent_ids, self.sent_ns, self.sent
            self.sent_ids, self.sent_ns, self.sent = [], [], Counter()
            return {"ids": ids, "ns": ns, "sent": dict(sent)}

    extra = [(venue_dir / "fixtures" / name).read_text()
             for name in ("mark_price_stream.json", "liquidation_stream.json")]
    return Stamped(venue_dir / CAPTURE, exchange_info(venue_dir), extra=extra)


def exchange_info(venue_dir: Path) -> bytes:
    """The real exchangeInfo body from the cryptofeed REST capture."""
    with gzip.open(venue_dir / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz", "rt") as f:
        for line in f:
            record = json.loads(line)
            if record["dir"] == "http_response" and "exchangeInfo" in record["url"]:
                return str(record["raw"]).encode()
    raise SystemExit("no exchangeInfo body in the REST capture")


def serve(venue_dir: Path, speed: float) -> None:
    """Server process: print the URL and the recording's facts, then answer ``take``
    (the send stamps and counts since the last take) until stdin closes."""
    from heron.testing.venue_server import VenueServer

    profile = venue_profile(venue_dir)
    trades = [f for f in profile.frames() if f.topic == TRADE]
    with VenueServer(profile, speed=speed) as server:
        print(json.dumps({"url": server.url, "trades": len(trades), "last": last_ids(profile),
                          "topics": Counter(f.topic for f in profile.frames())}), flush=True)
        for line in sys.stdin:
            if line.strip() == "take":
                print(json.dumps(profile.take()), flush=True)


def last_ids(profile: Any) -> dict[str, int]:
    """The id of each stream's last recorded message (trade id, book update id): a client
    has the whole pass once it has seen all three (ccxt opens a connection per stream,
    and each connection replays its own stream)."""
    last: dict[str, int] = {}
    for frame in profile.frames():
        if frame.topic in (TRADE, QUOTE, DEPTH):
            body = json.loads(frame.text)
            last[frame.topic] = body["t"] if frame.topic == TRADE else body["u"]
    return last


class Venue:
    """The server process, seen from the client."""

    def __init__(self, venue_dir: Path, speed: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(speed), "--data", str(venue_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in, self._out = self.proc.stdin, self.proc.stdout
        self.meta: dict[str, Any] = json.loads(self._out.readline())
        self.url: str = self.meta["url"]

    def take(self) -> dict[str, Any]:
        self._in.write("take\n")
        self._in.flush()
        out: dict[str, Any] = json.loads(self._out.readline())
        return out

    def close(self) -> None:
        self._in.close()
        self.proc.wait(30)


# -- what the clients record ----------------------------------------------------------------
class Samples:
    """Latencies (ns) into a preallocated array; callback times and trade ids beside them."""

    def __init__(self, capacity: int, *, with_ids: bool = False) -> None:
        self.lat = array("q", bytes(8 * capacity))
        self.at = array("q", bytes(8 * capacity))
        self.ids: list[str] | None = [] if with_ids else None
        self.n = 0

    def add(self, now: int, recv: int, trade_id: str = "") -> None:
        n = self.n
        self.lat[n] = now - recv
        self.at[n] = now
        self.n = n + 1
        if self.ids is not None:
            self.ids.append(trade_id)

    def values(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.frombuffer(self.lat, dtype=np.int64)[:self.n].copy()


@dataclass
class PassClock:
    """First and last receive time of each pass, frames the server sent in it, and the
    send→strategy latencies of its trades."""

    spans: list[tuple[int, int]]
    frames: Counter[str]
    send_lat: list[int]

    @classmethod
    def empty(cls) -> PassClock:
        return cls([], Counter(), [])

    def close_pass(self, venue: Venue, trades: Samples, first: int, start: int) -> None:
        """After a pass: join the server's send stamps to this pass's trade callbacks."""
        sent = venue.take()
        self.frames.update(sent["sent"])
        assert trades.ids is not None
        at = {trades.ids[i]: trades.at[i] for i in range(start, trades.n)}
        for tid, ns in zip(sent["ids"], sent["ns"], strict=True):
            done = at.get(str(tid))
            if done is not None:
                self.send_lat.append(done - ns)
        if trades.n > start:  # from the first trade's receipt to the last one's callback
            first = trades.at[start] - trades.lat[start]
            self.spans.append((first, trades.at[trades.n - 1]))


class GcWatch:
    """Garbage collections while a pass is receiving: full (gen 2) ones and their wall
    time, the usual cause of a millisecond maximum."""

    def __init__(self) -> None:
        self.active = False
        self.full_ms: list[float] = []
        self.young_ms = 0.0
        self._start = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        elif self.active:
            ms = (time.perf_counter_ns() - self._start) / 1e6
            if info["generation"] == 2:
                self.full_ms.append(ms)
            else:
                self.young_ms += ms


GC = GcWatch()


def stats(ns: Sequence[int] | np.ndarray[Any, Any]) -> dict[str, float]:
    """count, p50, p99, p99.9, max and mean in microseconds."""
    values = np.asarray(ns, dtype=np.int64)
    if not len(values):
        return {"count": 0}
    q = np.percentile(values, [50, 99, 99.9]) / 1000
    return {"count": len(values), "p50": float(q[0]), "p99": float(q[1]),
            "p999": float(q[2]), "max": float(values.max()) / 1000,
            "mean": float(values.mean()) / 1000}


# -- heron's client ---------------------------------------------------------------------------
class PassEnd:
    """Set once the last recorded message of every subscribed stream has arrived."""

    def __init__(self, last: dict[str, int], streams: Sequence[str]) -> None:
        self.topics = {TRADE} | {QUOTE for s in streams if s == "quotes"} \
            | {DEPTH for s in streams if s == "book"}
        self.trade, self.quote, self.depth = str(last[TRADE]), last[QUOTE], last[DEPTH]
        self.pending: set[str] = set()
        self.event = asyncio.Event()

    def start(self) -> None:
        self.pending = set(self.topics)
        self.event.clear()

    def seen(self, topic: str) -> None:
        self.pending.discard(topic)
        if not self.pending:
            self.event.set()

    async def wait(self) -> None:
        try:
            await asyncio.wait_for(self.event.wait(), PASS_TIMEOUT_S)
        except TimeoutError:
            raise SystemExit(f"pass incomplete after {PASS_TIMEOUT_S:g}s: no end of "
                             f"{sorted(self.pending)}") from None


class LatencyRecorder(Strategy):
    """A strategy that only records when each trade and quote reached it."""

    name = "latency_recorder"

    def setup(self, trades: Samples, quotes: Samples) -> None:
        self.trades, self.quotes = trades, quotes

    def on_trade(self, trade: Trade) -> None:
        self.trades.add(time.time_ns(), trade.ts_recv, trade.trade_id)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.add(time.time_ns(), quote.ts_recv)


class HeronClient:
    """``heron paper``'s live path (session -> input log -> paper engine -> strategy)."""

    def __init__(self, streams: Sequence[str], capacity: int, end: PassEnd, tmp: Path) -> None:
        from heron.data.feeds.streams import parse_streams

        self.streams = parse_streams(",".join(streams))
        self.tmp = tmp
        self.trades = Samples(capacity, with_ids=True)
        self.quotes = Samples(capacity * 4 if {"quotes", "book"} & set(streams) else 1)
        self.depth = Samples(capacity if "book" in streams else 1)
        self.deltas = 0
        self.cpu = 0.0  # process CPU seconds while passes were receiving
        self.end = end
        self.strategy = LatencyRecorder()
        self.strategy.setup(self.trades, self.quotes)
        self.engine: Any = None
        self.log: Any = None
        self.synced_ns = 1 << 62  # depth latency counted once a snapshot synced the book

    def build(self, instruments: list[Any], book_rule: Any) -> None:
        """The engine as ``heron paper`` builds it (paper_run.build_engine), our strategy."""
        from decimal import Decimal

        from heron.data.feeds.streams import Stream
        from heron.node.input_log import InputLog
        from heron.node.paper import PaperEngine
        from heron.venues.sim.config import FillAt, SimVenueConfig

        iids = {inst.id for inst in instruments}
        self.engine = PaperEngine(
            instruments=instruments, strategies=[self.strategy], cash=Decimal(100_000),
            venue=SimVenueConfig(fill_at=FillAt.NEXT_OPEN), journal_path=self.tmp / "j.sqlite",
            bar_ns=60_000_000_000,
            book_streams=iids if Stream.BOOK in self.streams else set(),
            quote_streams=iids if Stream.QUOTES in self.streams else set(),
            book_rules={iid: book_rule for iid in iids}, header={"bench": "feed"})
        self.engine.start()
        self.log = InputLog(self.tmp / "inputs.bin", instruments)

    def on_event(self, event: Any) -> None:
        """paper_run._live's on_event, without the is_new dedupe (see the docstring)."""
        if isinstance(event, FeedHealth) or self.engine is None:
            return
        self.log.append(event)
        self.engine.consume(event)
        kind, end = type(event), self.end
        if kind is BookDelta:
            self.deltas += 1
            if event.is_last:
                if event.ts_recv > self.synced_ns:
                    self.depth.add(time.time_ns(), event.ts_recv)
                if event.sequence == end.depth:
                    end.seen(DEPTH)
        elif kind is Trade:
            if event.trade_id == end.trade:
                end.seen(TRADE)
        elif kind is Quote:
            if event.sequence == end.quote:
                end.seen(QUOTE)
        elif kind is BookSnapshot:
            self.synced_ns = time.time_ns()

    async def flush(self) -> None:
        """paper_run._flush: write the log and journal through every 100 ms."""
        synced = time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            self.log.flush()
            self.engine.journal.flush()
            if time.monotonic() - synced >= 2.0:
                self.log.flush(sync=True)
                synced = time.monotonic()

    async def one_pass(self, url: str) -> int:
        """One connection, until the recording's last trade reached the strategy."""
        from heron.data.feeds.adapter import adapter_for
        from heron.data.feeds.session import FeedOptions, VenueSession

        adapter = adapter_for("binanceusdm")
        session = VenueSession(adapter, [SYMBOL], self.streams, self.on_event,
                               FeedOptions(endpoint=url))
        await session.open()
        if self.engine is None:
            self.build(session.instruments, adapter.book_rule)
        self.end.start()
        self.synced_ns = 1 << 62
        first, cpu = time.time_ns(), time.process_time()
        run = asyncio.create_task(session.run())
        GC.active = True
        try:
            await self.end.wait()
            self.cpu += time.process_time() - cpu
        finally:
            GC.active = False
            await session.stop()
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
        return first

    def close(self) -> None:
        self.log.close()
        self.engine.journal.close()


# -- ccxt.pro's own path (the peer) -----------------------------------------------------------
def ccxt_exchange(url: str) -> Any:
    """ccxt.pro binanceusdm at ``url``; each frame stamped where heron's tap stamps it, the
    stamp put in the decoded message (so a trade's ``info`` carries it)."""
    import ccxt.pro

    from heron.data.feeds.session import endpoint_urls

    class Stamped(ccxt.pro.binanceusdm):  # type: ignore[misc]
        recv = 0

        def client(self, ws_url: str) -> Any:
            client = super().client(ws_url)
            if not getattr(client, "bench_stamped", False):
                handle = client.handle_text_or_binary_message

                def stamped(data: bytes | str) -> None:
                    self.recv = time.time_ns()
                    handle(data)
                client.handle_text_or_binary_message = stamped
                client.bench_stamped, client.bench_unstamped = True, handle
            return client

        def handle_message(self, client: Any, message: Any) -> Any:
            if isinstance(message, dict):
                message["bench_recv"] = self.recv
            return super().handle_message(client, message)

    exchange = Stamped({"enableRateLimit": False})
    exchange.urls["api"] = endpoint_urls(exchange.urls["api"], url)
    return exchange


class CcxtClient:
    """``watch_trades`` (plus ``watch_bids_asks`` and ``watch_order_book`` for all streams)."""

    def __init__(self, streams: Sequence[str], capacity: int, end: PassEnd) -> None:
        self.streams = streams
        self.trades = Samples(capacity, with_ids=True)
        self.quotes = Samples(capacity * 4 if "quotes" in streams else 1)
        self.depth = Samples(1)
        self.deltas = 0
        self.cpu = 0.0
        self.end = end
        self.books = 0

    async def _trades(self, exchange: Any) -> None:
        add, end = self.trades.add, self.end
        while True:
            trades = await exchange.watch_trades(SYMBOL)
            now = time.time_ns()
            for trade in trades:
                add(now, trade["info"]["bench_recv"], trade["id"])
                if trade["id"] == end.trade:
                    end.seen(TRADE)

    async def _quotes(self, exchange: Any) -> None:
        end = self.end
        while True:
            tickers = await exchange.watch_bids_asks([SYMBOL])
            now = time.time_ns()
            for ticker in tickers.values():
                self.quotes.add(now, ticker["info"]["bench_recv"])
                if ticker["info"]["u"] == end.quote:
                    end.seen(QUOTE)

    async def _book(self, exchange: Any) -> None:
        while True:
            book = await exchange.watch_order_book(SYMBOL)
            self.books += 1
            if book["nonce"] == self.end.depth:
                self.end.seen(DEPTH)

    async def one_pass(self, url: str) -> int:
        exchange = ccxt_exchange(url)
        await exchange.load_markets()
        self.end.start()
        first, cpu = time.time_ns(), time.process_time()
        loops = [self._trades(exchange)]
        if "quotes" in self.streams:
            loops.append(self._quotes(exchange))
        if "book" in self.streams:
            loops.append(self._book(exchange))
        tasks = [asyncio.create_task(loop) for loop in loops]
        GC.active = True
        try:
            await self.end.wait()
            self.cpu += time.process_time() - cpu
        finally:
            GC.active = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await exchange.close()
        return first

    def close(self) -> None:
        pass


# -- one scenario (its own process) -------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    client: str          # "heron" or "ccxt.pro"
    streams: tuple[str, ...]
    speed: float         # 0: flood

    @property
    def key(self) -> str:
        return f"{self.client}/{'+'.join(self.streams)}/{self.speed:g}"


def run_scenario(scenario: Scenario, venue_dir: Path, passes: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    venue = Venue(venue_dir, scenario.speed)
    meta = venue.meta
    capacity = meta["trades"] * passes + 1000
    clock = PassClock.empty()
    with tempfile.TemporaryDirectory(prefix="heron-bench-feed-") as tmp:
        client: HeronClient | CcxtClient
        end = PassEnd({k: int(v) for k, v in meta["last"].items()}, scenario.streams)
        if scenario.client == "heron":
            client = HeronClient(scenario.streams, capacity, end, Path(tmp))
        else:
            client = CcxtClient(scenario.streams, capacity, end)

        async def main() -> None:
            flush = (asyncio.create_task(client.flush()) if isinstance(client, HeronClient)
                     else None)
            for _ in range(passes):
                start = client.trades.n
                first = await client.one_pass(venue.url)
                clock.close_pass(venue, client.trades, first, start)
            if flush is not None:
                flush.cancel()

        try:
            asyncio.run(main())
        finally:
            venue.close()
        client.close()
    result = scenario_result(scenario, passes, client, clock)
    result["load"] = [load, os.getloadavg()[0]]  # 1-minute load average before and after
    return result


def scenario_result(scenario: Scenario, passes: int, client: HeronClient | CcxtClient,
                    clock: PassClock) -> dict[str, Any]:
    seconds = sum((last - first) / 1e9 for first, last in clock.spans)
    messages = sum(clock.frames.values())
    return {"scenario": scenario.key, "client": scenario.client,
            "streams": "+".join(scenario.streams), "speed": scenario.speed, "passes": passes,
            "seconds": seconds, "messages": messages, "frames": dict(clock.frames),
            "deltas": client.deltas, "trade": stats(client.trades.values()),
            "quote": stats(client.quotes.values()), "depth": stats(client.depth.values()),
            "send": stats(clock.send_lat), "cpu_s": client.cpu,
            "gc_full_ms": GC.full_ms, "gc_young_ms": GC.young_ms}


# -- the machine's floor ---------------------------------------------------------------------
FLOOR_MESSAGES = 300


def floor_child(port: int) -> None:
    """Write the wall clock to ``port`` every 10 ms (the other end of :func:`loopback_floor`)."""
    async def main() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(FLOOR_MESSAGES):
            await asyncio.sleep(0.01)
            writer.write(b"%d\n" % time.time_ns())
            await writer.drain()
        writer.close()
    asyncio.run(main())


def loopback_floor() -> dict[str, float]:
    """One-way latency of a bare asyncio message between two processes on this machine,
    the receiver idle between messages (as a paced client is): the floor under any
    send→strategy figure, whatever the client library."""
    lat: list[int] = []

    async def handle(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            lat.append(time.time_ns() - int(line))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        child = await asyncio.create_subprocess_exec(sys.executable, __file__, "--floor-child",
                                                     str(port))
        await child.wait()
        await asyncio.sleep(0.1)
        server.close()
    asyncio.run(main())
    return stats(lat)


# -- normalising (no network) ----------------------------------------------------------------
def _best(run: Callable[[], int], repeat: int = 3) -> tuple[float, int]:
    best, events = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        events = run()
        best = min(best, time.perf_counter() - start)
    return best, events


def normalise(venue_dir: Path, target: int) -> list[dict[str, Any]]:
    """Messages/s and events/s of parse, parse+encode and ccxt's parse, per stream."""
    return asyncio.run(_normalise(venue_dir, target))


async def _normalise(venue_dir: Path, target: int) -> list[dict[str, Any]]:
    """heron's parser and a ccxt exchange get their markets from the loopback venue;
    the timed loops read no network."""
    from heron.data.feeds.adapter import adapter_for
    from heron.data.feeds.session import FeedOptions, VenueSession
    from heron.data.feeds.streams import Stream
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    profile = BinanceUsdmProfile(venue_dir / CAPTURE, exchange_info(venue_dir))
    with VenueServer(profile) as server:
        adapter = adapter_for("binanceusdm")
        session = VenueSession(adapter, [SYMBOL], [Stream.TRADES], lambda _: None,
                               FeedOptions(endpoint=server.url))
        await session.open()
        await session.stop()
        exchange = ccxt_exchange(server.url)
        await exchange.load_markets()
    try:
        parser = adapter.parser({"BTCUSDT": session.instruments[0]})
        return [normalise_row(name, profile, topic, parser, exchange, target)
                for topic, name in ((TRADE, "trades"), (QUOTE, "quotes"), (DEPTH, "depth"))]
    finally:
        await exchange.close()


def normalise_row(name: str, profile: Any, topic: str, parser: Any, exchange: Any,
                  target: int) -> dict[str, Any]:
    from heron.data.feeds.envelope import EnvelopeWriter

    encode = EnvelopeWriter().encode
    ts = time.time_ns()
    texts = [frame.text for frame in profile.frames() if frame.topic == topic]
    frames = texts * max(1, -(-target // len(texts)))

    def parse() -> int:
        n = 0
        for text in frames:
            n += len(parser.parse(text, ts))
        return n

    def parse_encode() -> int:
        n = 0
        for text in frames:
            for event in parser.parse(text, ts):
                encode(event)
                n += 1
        return n

    parse_s, events = _best(parse)
    both_s, _ = _best(parse_encode)
    ccxt_s = None
    if topic != DEPTH:  # ccxt's depth handler needs a live subscription's book state
        ccxt_s = _best(ccxt_parser(exchange, frames))[0]
    return {"stream": name, "messages": len(frames), "events": events, "parse_s": parse_s,
            "encode_s": both_s, "ccxt_s": ccxt_s}


def ccxt_parser(exchange: Any, frames: list[str]) -> Callable[[], int]:
    """ccxt.pro's handling of ``frames`` (its client's json decode, then its handlers)."""
    client = exchange.client(exchange.get_ws_url("linear", "public") + "/0")
    handle = client.bench_unstamped  # no receive stamp: ccxt's own handling only

    def run() -> int:
        for text in frames:
            handle(text)
        return len(frames)
    return run


# -- report -----------------------------------------------------------------------------------
def scenarios(quick: bool) -> list[Scenario]:
    trades, every = ("trades",), ("trades", "quotes", "book")
    paced_trades, paced_all = (100.0, 20.0) if quick else (50.0, 10.0)
    return [Scenario("heron", trades, 0.0), Scenario("ccxt.pro", trades, 0.0),
            Scenario("heron", trades, paced_trades), Scenario("ccxt.pro", trades, paced_trades),
            Scenario("heron", every, 0.0), Scenario("ccxt.pro", every, 0.0),
            Scenario("heron", every, paced_all), Scenario("ccxt.pro", every, paced_all)]


def _us(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def latency_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        t, s = r["trade"], r["send"]
        pacing = "flood" if not r["speed"] else f"{r['speed']:g}x"
        full = r["gc_full_ms"]
        gcs = f"{len(full)} ({max(full):.0f} ms)" if full else "0"
        rows.append([r["client"], r["streams"], pacing, f"{t['count']:,}",
                     f"{r['messages'] / r['seconds']:,.0f}", _us(t["p50"]), _us(t["p99"]),
                     _us(t["p999"]), _us(t["max"]), _us(s.get("p50")), _us(s.get("p99")),
                     f"{r['cpu_s'] / r['messages'] * 1e6:.1f}", gcs])
    return rows


LATENCY_HEADERS = ["client", "streams", "pacing", "trades", "msgs/s", "p50 µs", "p99 µs",
                   "p99.9 µs", "max µs", "send→strategy p50 µs", "send→strategy p99 µs",
                   "client CPU µs/msg", "full GCs (longest)"]


def book_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in results:
        if "book" not in r["streams"]:
            continue
        pacing = "flood" if not r["speed"] else f"{r['speed']:g}x"
        q, d = r["quote"], r["depth"]
        deltas = f"{r['deltas'] / r['seconds']:,.0f}" if r["deltas"] else ""
        rows.append([r["client"], pacing, f"{r['frames'].get(DEPTH, 0):,}", deltas,
                     f"{q.get('count', 0):,}", _us(q.get("p50")), _us(q.get("p99")),
                     _us(q.get("max")), _us(d.get("p50")), _us(d.get("p99")),
                     _us(d.get("max"))])
    return rows


BOOK_HEADERS = ["client", "pacing", "depth msgs", "deltas/s", "quotes", "quote p50 µs",
                "quote p99 µs", "quote max µs", "depth p50 µs", "depth p99 µs",
                "depth max µs"]


def normalise_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        ccxt = "" if r["ccxt_s"] is None else f"{r['messages'] / r['ccxt_s']:,.0f}"
        out.append([r["stream"], f"{r['messages']:,}", f"{r['events']:,}",
                    f"{r['messages'] / r['parse_s']:,.0f}",
                    f"{r['messages'] / r['encode_s']:,.0f}",
                    f"{r['events'] / r['encode_s']:,.0f}",
                    f"{r['encode_s'] / r['events'] * 1e6:.2f}", ccxt])
    return out


NORMALISE_HEADERS = ["stream", "messages", "events", "parse msgs/s",
                     "parse+encode msgs/s", "parse+encode events/s", "µs/event",
                     "ccxt.pro parse msgs/s"]


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i < 3 else "---:" for i in range(len(headers))]
    return "\n".join("| " + " | ".join(line) + " |" for line in [headers, align, *rows])


def report(results: list[dict[str, Any]], norm: list[dict[str, Any]],
           floor: dict[str, float] | None, command: str) -> str:
    from bench_backtest import machine_facts

    facts = machine_facts()
    loads = [x for r in results for x in r.get("load", [])]
    if loads:
        facts["load"] = f"1-min load average {min(loads):.1f}-{max(loads):.1f} during the run"
    parts = [f"Command: `{command}`", "",
             "Receive-to-strategy, trades (µs):", "", markdown(LATENCY_HEADERS,
                                                             latency_rows(results)), ""]
    if floor:
        parts += [f"Floor: a bare asyncio message between two processes here, receiver idle: "
                  f"p50 {floor['p50']:.0f} µs, p99 {floor['p99']:.0f} µs one way "
                  f"({floor['count']} messages, 10 ms apart).", ""]
    book = book_rows(results)
    if book:
        parts += ["All streams: the book path (µs):", "", markdown(BOOK_HEADERS, book), ""]
    if norm:
        parts += ["Normalising to the JSON Lines envelope (no network):", "",
                  markdown(NORMALISE_HEADERS, normalise_rows(norm)), ""]
    parts.append("Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    return "\n".join(parts)


def _spawn(scenario: Scenario, venue_dir: Path, passes: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--scenario", scenario.client,
               ",".join(scenario.streams), str(scenario.speed), "--passes", str(passes),
               "--data", str(venue_dir)]
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one pass per scenario and faster paced replays")
    parser.add_argument("--passes", type=int, default=None,
                        help="connections per scenario (default 5; --quick: 1)")
    parser.add_argument("--data", type=Path, default=DEFAULT_VENUE,
                        help="the binance_usdm shared data directory")
    parser.add_argument("--only", default=None, help="heron or ccxt.pro")
    parser.add_argument("--no-normalise", action="store_true")
    parser.add_argument("--markdown", type=Path, help="write the Markdown report here")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--floor-child", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    passes = args.passes or (1 if args.quick else 5)
    if args.floor_child is not None:
        floor_child(args.floor_child)
        return 0
    if not (args.data / CAPTURE).exists():
        print(f"no capture at {args.data}: pass --data", file=sys.stderr)
        return 2
    if args.serve is not None:
        serve(args.data, args.serve)
        return 0
    if args.scenario:
        client, streams, speed = args.scenario
        scenario = Scenario(client, tuple(streams.split(",")), float(speed))
        print(json.dumps(run_scenario(scenario, args.data, passes)))
        return 0
    results = []
    for scenario in scenarios(args.quick):
        if args.only and scenario.client != args.only:
            continue
        print(f"running {scenario.key} x{passes} ...", file=sys.stderr, flush=True)
        results.append(_spawn(scenario, args.data, passes))
    floor = loopback_floor()
    norm = [] if args.no_normalise else normalise(args.data, 20_000 if args.quick else 100_000)
    command = " ".join(["python bench/bench_feed.py", *(argv or sys.argv[1:])])
    text = report(results, norm, floor, command)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
