"""Live-execution benchmark: strategy decision to request bytes, and order throughput.

    python bench/bench_exec.py [--quick] [--orders N] [--modes submit,router]
        [--throughput-orders N] [--concurrency 1,8,32] [--no-streams] [--no-ccxt]
        [--log-json] [--profile FILE] [--data DIR] [--markdown FILE] [--json FILE]

Venue: ``heron emulator --venue binanceusdm`` (the loopback Binance USD-M exchange, no
added latency) started as **a subprocess** on a free port, so its request handling and
matching do not share the client's event loop or GIL (the machine has 2 cores); each
phase (a latency mode, a throughput series, the peer's) gets a fresh one, stopped by its
PID at the phase's end whatever happens: the emulator's margin check walks every order
it ever took, so its replies slow down as orders pile up.

The client is what ``heron live`` runs: a :class:`~heron.venues.ccxt.client.CcxtClient`
(ccxt.pro ``binanceusdm`` + heron's Binance dialect; every REST request through heron's
:class:`~heron.execution.rate_limit.RateLimiter`), a :class:`~heron.node.live.LiveEngine`
(journal, order manager, portfolio, trading-state gate, router; memory bounded as
``heron live`` bounds it, ``LiveEngine.bound_memory``) with its
:class:`~heron.execution.live.LiveExecution`, the private user-data stream followed
(``run_streams``, as ``heron live``; ``--no-streams`` leaves it off; its periodic REST
catch-up held off, see ``POLL_S``), the order log watching the records
(``watch_orders``; with ``--log-json`` its lines rendered as JSON to a file, as
``heron live --log-json 2>FILE``) and the journal flushed every 100 ms. The rate
limiter is the real one with the venue's own buckets (weight, orders per 10 s and per
minute, fed by the emulator's usage headers) but limits of 10^12, so it does all its
work and never throttles: the emulator does not enforce limits, and a throttled request
would measure the budget, not the code.

1. **Internal latency** (sequential: each decision waits for the previous reply, so no
   queueing is measured). One cycle = a post-only limit order far from the book (it
   rests: buys at 30,000, sells at 90,000, alternating, 0.001 BTC), then its cancel once
   accepted: the emulator's book and heron's open orders stay at one order, and both
   requests are measured. Two modes of decision:

   * ``submit``: ``strategy.buy/sell(size=, price=, post_only=True)`` (grid checks, id,
     ``SubmitOrder``), then ``strategy.cancel(id)``;
   * ``router``: ``strategy.target_orders([Target(...)])`` (the smart order router plans
     a new order against what rests), then ``strategy.target_orders([])`` (it plans the
     cancel).

   Stamps (``time.perf_counter_ns``): ``t0`` right before the strategy's call; ``t_ccxt``
   when ``exchange.create_order`` / ``cancel_order`` is entered (heron's part ends);
   the rate limiter's ``acquire`` (heron's code, called from inside ccxt's request:
   counted as heron's, not ccxt's); ``t1`` when aiohttp writes the request (an
   ``aiohttp.TraceConfig`` on the session ccxt uses: ``on_request_chunk_sent`` for a
   request with a body -- the order POST, signed form in the body -- and
   ``on_request_headers_sent`` for one without -- the DELETE; aiohttp calls both just
   before its ``transport.write``). heron = ``t_ccxt - t0`` + limiter;
   ccxt = ``t1 - t_ccxt`` - limiter (ccxt builds and signs the request, aiohttp takes a
   pooled connection and serialises it); total = ``t1 - t0``. ``reply`` is ``t0`` to the
   strategy's ``on_order`` seeing the order accepted (canceled): it includes the
   emulator. 200 warm-up cycles are not counted. heron's part is also split at the
   command's task taking its first step (``_submit``/``_cancel`` entered): commands
   start eagerly (``heron.core.eager``), so that step runs inside the strategy's call
   and part 2 (the task waiting on the event loop after the call returned) is zero
   unless a command had to wait for an earlier one on the same order.

2. **Throughput**: ``K`` workers (``--concurrency``), each cycling place → accepted →
   cancel → canceled, ``--throughput-orders`` placements in all per K: orders/s (and
   requests/s, twice that) end to end, replies received.

3. **Bare ccxt** (``--no-ccxt`` skips it): what a ccxt-based bot does (freqtrade,
   hummingbot's ccxt connectors): ``ccxt.async_support.binanceusdm`` at the same
   emulator, ``create_order(..., {"postOnly": True})`` then ``cancel_order``, ccxt's own
   throttle off (on, it would pace Binance's 20 requests/s); latency from the call to
   the bytes (the same trace), and the same throughput loop. It has no journal, order
   state, risk gate, rate limiter, lost-reply handling or private stream.

``--profile FILE`` runs one sequential ``submit`` pass (``--orders`` cycles) under
cProfile and writes the stats (the place to look when heron's part is slow).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from heron.execution.router import Target
from heron.model.orders import OrderSide, OrderStatus
from heron.strategy.base import Strategy

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENUE = ROOT.parent / "shared" / "data" / "venues" / "binance_usdm"
SYMBOL = "BTC/USDT:USDT"
KEY, SECRET = "emulator-key", "emulator-secret"
QTY = Decimal("0.001")
BUY_PX, SELL_PX = Decimal("30000"), Decimal("90000")
ORDER_PATH = "/fapi/v1/order"
WARMUP = 200
#: the periodic REST catch-up (30 s in ``heron live``) is held off: its ``refresh`` of a
#: placement still in flight can find no order at the venue and, since a live engine's
#: ``ts_init`` is its (market-data) clock, reject the order as "never arrived"
POLL_S = 3600.0
HUGE = Fraction(10**12)
now_ns = time.perf_counter_ns


# -- the emulator (its own process) ---------------------------------------------------------
class Emulator:
    """``heron emulator`` in a subprocess on a free port; :meth:`stop` ends it by PID."""

    def __init__(self, venue_dir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "HERON_EMULATOR_API_KEY": KEY, "HERON_EMULATOR_SECRET": SECRET}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heron", "emulator", "--venue", "binanceusdm",
             "--port", str(self.port), "--recording", str(venue_dir), "--fund",
             "USDT=1000000"], stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "emulator on" not in line:
            self.stop()
            raise SystemExit(f"the emulator did not start: {line!r}")
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# -- stamps ---------------------------------------------------------------------------------
@dataclass
class Stamps:
    """The stamps of the one request in flight (sequential mode), set by the hooks."""

    ccxt: int = 0
    lim_ns: int = 0
    task: int = 0  # the order's task took its first step
    sent: dict[str, int] = field(default_factory=dict)  # method -> last write of ORDER_PATH

    def reset(self) -> None:
        self.ccxt = self.lim_ns = self.task = 0
        self.sent.clear()


def traced_session(stamps: Stamps) -> Any:
    """An aiohttp session that stamps each write of an order request (POST/DELETE)."""
    import aiohttp

    async def on_write(_: Any, __: Any, params: Any) -> None:
        if params.url.path == ORDER_PATH:
            stamps.sent[params.method] = now_ns()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_write)
    trace.on_request_chunk_sent.append(on_write)
    return aiohttp.ClientSession(trace_configs=[trace])


async def use_session(exchange: Any, stamps: Stamps) -> None:
    """Give ``exchange`` the traced session (ccxt keeps using ``exchange.session``)."""
    exchange.open()
    if exchange.session is not None:
        await exchange.session.close()
    exchange.session = traced_session(stamps)


def stamp_calls(exchange: Any, stamps: Stamps, names: Sequence[str]) -> None:
    """Stamp when each of ccxt's ``names`` is entered."""
    for name in names:
        original = getattr(exchange, name)

        def wrap(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def entered(*args: Any, **kwargs: Any) -> Any:
                stamps.ccxt = now_ns()
                return await original(*args, **kwargs)
            return entered
        setattr(exchange, name, wrap(original))


def stamp_tasks(execution: Any, stamps: Stamps, names: Sequence[str]) -> None:
    """Stamp when the task of a command (``_submit``, ``_cancel``) takes its first step:
    inside the strategy's call when it starts eagerly; a task that only starts after
    the call returned waited on the event loop's ready queue behind whatever else was
    due (stream messages, other orders' replies)."""
    for name in names:
        original = getattr(execution, name)

        def wrap(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            async def started(*args: Any, **kwargs: Any) -> Any:
                stamps.task = now_ns()
                return await original(*args, **kwargs)
            return started
        setattr(execution, name, wrap(original))


def stamp_limiter(limiter: Any, stamps: Stamps) -> None:
    """Time each ``RateLimiter.acquire`` (heron's code inside ccxt's request)."""
    original = limiter.acquire

    async def acquire(cost: Any) -> int:
        start = now_ns()
        waited: int = await original(cost)
        stamps.lim_ns += now_ns() - start
        return waited
    limiter.acquire = acquire


def unthrottled_limiter() -> Any:
    """heron's limiter for binanceusdm (ccxt's weights, the venue's buckets and usage
    headers) with limits of 10^12: all its work, never a wait."""
    import ccxt.pro

    from heron.core.clock import WallClock
    from heron.execution.rate_limit import (
        LimiterConfig,
        RateLimiter,
        WindowLimit,
        limiter_config_from_ccxt,
    )

    base = limiter_config_from_ccxt(ccxt.pro.binanceusdm())

    def huge(limit: WindowLimit) -> WindowLimit:
        return WindowLimit(name=limit.name, limit=HUGE, window_ns=limit.window_ns)
    config = LimiterConfig(venue=base.venue, weight=huge(base.weight),
                           orders=tuple(huge(w) for w in base.orders), costs=base.costs,
                           usage_headers=base.usage_headers, backoff=base.backoff)
    return RateLimiter(config, clock=WallClock())


class Samples:
    """Named int64 columns, one row per measured cycle."""

    NAMES = ("heron", "call", "queue", "task", "code", "ccxt", "total", "limiter", "reply",
             "c_heron", "c_call", "c_queue", "c_task", "c_code", "c_ccxt", "c_total",
             "c_reply")

    def __init__(self, capacity: int) -> None:
        self.cols = {name: array("q", bytes(8 * capacity)) for name in self.NAMES}
        self.n = 0

    def add(self, **values: int) -> None:
        for name, value in values.items():
            self.cols[name][self.n] = value
        self.n += 1

    def values(self, name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.frombuffer(self.cols[name], dtype=np.int64)[:self.n].copy()


def stats(ns: np.ndarray[Any, Any]) -> dict[str, float]:
    """p50, p90, p99, p99.9, max and mean in microseconds."""
    if not len(ns):
        return {"count": 0}
    q = np.percentile(ns, [50, 90, 99, 99.9]) / 1000
    return {"count": len(ns), "p50": float(q[0]), "p90": float(q[1]),
            "p99": float(q[2]), "p999": float(q[3]), "max": float(ns.max()) / 1000,
            "mean": float(ns.mean()) / 1000}


class GcWatch:
    """Full (gen 2) collections while measuring, and their wall time."""

    def __init__(self) -> None:
        self.active = False
        self.full_ms: list[float] = []
        self._start = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = now_ns()
        elif self.active and info["generation"] == 2:
            self.full_ms.append((now_ns() - self._start) / 1e6)

    def take(self) -> list[float]:
        out, self.full_ms = self.full_ms, []
        return out


GC = GcWatch()


# -- heron's client -------------------------------------------------------------------------
class Trader(Strategy):
    """Sends nothing by itself; wakes the bench when an order reaches a wanted state."""

    name = "bench_exec"

    def setup(self) -> None:
        self.waits: dict[str, tuple[frozenset[Any], asyncio.Future[int]]] = {}

    def expect(self, cid: str, *states: Any) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waits[cid] = (frozenset(states), future)
        return future

    def on_order(self, order: Any, event: Any) -> None:
        wait = self.waits.get(order.client_order_id)
        if wait is None:
            return
        wanted, future = wait
        if order.status in wanted:
            del self.waits[order.client_order_id]
            future.set_result(now_ns())
        elif order.status in (OrderStatus.REJECTED, OrderStatus.DENIED):
            del self.waits[order.client_order_id]
            future.set_exception(RuntimeError(f"{order.client_order_id}: {order.status} "
                                              f"({getattr(event, 'reason', '')})"))

    def on_fill(self, order: Any, fill: Any) -> None:
        self.on_order(order, fill)  # a fill moves the order too (bench_memory waits on it)


class Heron:
    """``heron live``'s path on the emulator: client, engine, streams, journal flushes."""

    def __init__(self, url: str, tmp: Path, streams: bool, *, bounded: bool = True,
                 log_json: bool = False) -> None:
        self.url, self.tmp, self.streams = url, tmp, streams
        self.bounded = bounded  # heron live's memory bound (bench_memory compares both)
        self.log_json = log_json  # heron live --log-json: order lines rendered to a file
        self.stamps = Stamps()
        self.trader = Trader()
        self.trader.setup()
        self.client: Any = None
        self.engine: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()

    async def open(self) -> None:
        from heron.node.live import LiveEngine
        from heron.venues.binance.orders import BinanceUsdmDialect
        from heron.venues.ccxt.client import CcxtClient
        from heron.venues.credentials import Credentials

        limiter = unthrottled_limiter()
        stamp_limiter(limiter, self.stamps)
        self.client = CcxtClient(
            BinanceUsdmDialect(), Credentials("binanceusdm", "bench", api_key=KEY,
                                              api_secret=SECRET),
            [SYMBOL], endpoint=self.url, limiter=limiter)
        await self.client.open()
        await use_session(self.client.exchange, self.stamps)
        stamp_calls(self.client.exchange, self.stamps, ("create_order", "cancel_order"))
        self.engine = LiveEngine(
            client=self.client, instruments=list(self.client.instruments.values()),
            strategies=[self.trader], cash=Decimal(1_000_000),
            journal_path=self.tmp / "journal.sqlite", bar_ns=60_000_000_000,
            book_streams=set(), quote_streams=set(), book_rules={}, header={"bench": "exec"},
            id_tag="B")
        if self.bounded:
            self.engine.bound_memory()  # as heron live does once restored
        from heron.observe.logs import bind_run, configure_logging, watch_orders

        if self.log_json:  # heron live --log-json 2>FILE: INFO lines to a file
            self._log = (self.tmp / "log.jsonl").open("w", encoding="utf-8")
            self._handler = configure_logging(json=True, stream=self._log)
            bind_run(run="bench", strategy=self.trader.name, venue="binanceusdm")
        watch_orders(self.engine)  # as heron live does: the order log (lines at INFO)
        self.engine.start()
        gc.freeze()  # as heron live does once started: long-lived objects out of full GCs
        stamp_tasks(self.engine.execution, self.stamps, ("_submit", "_cancel"))
        self._tasks.append(asyncio.create_task(self._flush()))
        if self.streams:
            self._tasks.append(asyncio.create_task(
                self.engine.execution.run_streams(self._stop, poll_s=POLL_S)))
            for _ in range(100):  # until the user stream has delivered once
                if self.engine.execution.streams_up.get("orders"):
                    break
                await self._cycle("submit", 0)
                await asyncio.sleep(0.05)
            else:
                raise SystemExit("the user-data stream never delivered an update")

    async def _flush(self) -> None:
        """live_run._flush: the journal written through every 100 ms (off the loop)."""
        while True:
            await asyncio.sleep(0.1)
            await self.engine.journal.flush_off_loop()

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.engine is not None:
            await self.engine.execution.drain()
            self.engine.journal.close()
        if self.client is not None:
            await self.client.close()
        if self.log_json:
            root = logging.getLogger()  # the next phase starts as this one did
            root.removeHandler(self._handler)
            root.setLevel(logging.WARNING)
            self._log.close()

    def _decide(self, mode: str, i: int) -> str:
        """The strategy's decision: one resting order on alternating sides."""
        trader = self.trader
        buy = i % 2 == 0
        if mode == "submit":
            order = trader.buy if buy else trader.sell
            return order(size=QTY, price=BUY_PX if buy else SELL_PX, post_only=True)
        inst = self.engine.instruments[0]
        side = OrderSide.BUY if buy else OrderSide.SELL
        trader.target_orders([Target(side, inst.lots(QTY), inst.ticks(BUY_PX if buy
                                                                        else SELL_PX),
                                     key="q", post_only=True)])
        return str(next(reversed(self.engine.om.orders)))

    def _undo(self, mode: str, cid: str) -> None:
        if mode == "submit":
            self.trader.cancel(cid)
        else:
            self.trader.target_orders([])

    async def _cycle(self, mode: str, i: int, samples: Samples | None = None) -> None:
        """Place, wait for the acceptance, cancel, wait for the cancel."""
        st, trader = self.stamps, self.trader
        st.reset()
        t0 = now_ns()
        cid = self._decide(mode, i)
        back = now_ns()
        reply = await trader.expect(cid, OrderStatus.ACCEPTED)
        place = (t0, st.ccxt, st.lim_ns, st.sent.get("POST", 0), reply, back, st.task)
        st.reset()
        c0 = now_ns()
        self._undo(mode, cid)
        c_back = now_ns()
        c_reply = await trader.expect(cid, OrderStatus.CANCELED)
        if samples is not None:
            t0, ccxt, lim, t1, reply, back, task = place
            c1 = st.sent.get("DELETE", 0)
            # the command's task starts inside the strategy's call (eager) or after it,
            # from the event loop's queue: "call" is up to whichever comes first
            call, c_call = min(back, task) - t0, min(c_back, st.task) - c0
            queue, c_queue = max(0, task - back), max(0, st.task - c_back)
            samples.add(heron=ccxt - t0 + lim, call=call, queue=queue,
                        task=ccxt - task + lim, code=call + ccxt - task + lim,
                        ccxt=t1 - ccxt - lim, total=t1 - t0,
                        limiter=lim, reply=reply - t0, c_heron=st.ccxt - c0 + st.lim_ns,
                        c_call=c_call, c_queue=c_queue,
                        c_task=st.ccxt - st.task + st.lim_ns,
                        c_code=c_call + st.ccxt - st.task + st.lim_ns,
                        c_ccxt=c1 - st.ccxt - st.lim_ns, c_total=c1 - c0,
                        c_reply=c_reply - c0)

    async def sequential(self, mode: str, n: int) -> tuple[Samples, float]:
        for i in range(WARMUP):
            await self._cycle(mode, i)
        samples = Samples(n)
        cpu = time.process_time()
        GC.active = True
        try:
            for i in range(n):
                await self._cycle(mode, i, samples)
                if i and i % 10_000 == 0:
                    print(f"  {mode}: {i:,} cycles", file=sys.stderr, flush=True)
        finally:
            GC.active = False
        return samples, time.process_time() - cpu

    async def worker(self, k: int, count: int) -> None:
        for i in range(count):
            await self._cycle("submit", k + i)


# -- bare ccxt (the peer) ---------------------------------------------------------------------
class BareCcxt:
    """``ccxt.async_support.binanceusdm``: create_order then cancel_order, nothing else."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stamps = Stamps()
        self.exchange: Any = None

    async def open(self) -> None:
        import ccxt.async_support as ccxt_async

        from heron.data.feeds.session import endpoint_urls

        exchange = ccxt_async.binanceusdm({
            "apiKey": KEY, "secret": SECRET, "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "defaultType": "future"}})
        exchange.urls["api"] = endpoint_urls(exchange.urls["api"], self.url)
        await use_session(exchange, self.stamps)
        await exchange.load_markets()
        self.exchange = exchange

    async def close(self) -> None:
        if self.exchange is not None:
            await self.exchange.close()

    async def _cycle(self, i: int, samples: Samples | None = None) -> None:
        st, ex = self.stamps, self.exchange
        buy = i % 2 == 0
        st.reset()
        t0 = now_ns()
        order = await ex.create_order(SYMBOL, "limit", "buy" if buy else "sell", float(QTY),
                                      float(BUY_PX if buy else SELL_PX), {"postOnly": True})
        reply, t1 = now_ns(), st.sent.get("POST", 0)
        c0 = now_ns()
        await ex.cancel_order(order["id"], SYMBOL)
        c_reply, c1 = now_ns(), st.sent.get("DELETE", 0)
        if samples is not None:
            samples.add(heron=0, ccxt=t1 - t0, total=t1 - t0, limiter=0, reply=reply - t0,
                        c_heron=0, c_ccxt=c1 - c0, c_total=c1 - c0, c_reply=c_reply - c0)

    async def sequential(self, n: int) -> tuple[Samples, float]:
        for i in range(WARMUP):
            await self._cycle(i)
        samples = Samples(n)
        cpu = time.process_time()
        GC.active = True
        try:
            for i in range(n):
                await self._cycle(i, samples)
        finally:
            GC.active = False
        return samples, time.process_time() - cpu

    async def worker(self, k: int, count: int) -> None:
        for i in range(count):
            await self._cycle(k + i)


# -- runs -----------------------------------------------------------------------------------
async def throughput(client: Heron | BareCcxt, ks: Sequence[int], total: int
                     ) -> list[dict[str, Any]]:
    rows = []
    for k in ks:
        per = max(1, total // k)
        await asyncio.gather(*(client.worker(j, 20) for j in range(k)))  # warm K connections
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client.worker(j, per) for j in range(k)))
        seconds = time.perf_counter() - start
        rows.append({"k": k, "orders": per * k, "seconds": seconds,
                     "orders_s": per * k / seconds, "requests_s": 2 * per * k / seconds,
                     "cpu_us_per_order": (time.process_time() - cpu) / (per * k) * 1e6})
        print(f"  throughput K={k}: {per * k / seconds:,.0f} orders/s", file=sys.stderr,
              flush=True)
    return rows


def _by_tenth(r: dict[str, Any]) -> str:
    p50 = " ".join(f"{v:.0f}" for v in r["heron_p50_by_tenth"])
    p99 = " ".join(f"{v:.0f}" for v in r["heron_p99_by_tenth"])
    return (f"; heron part by tenth of the run, in order: p50 {p50} µs; p99 {p99} µs "
            f"(median of the tenths' p99: {float(np.median(r['heron_p99_by_tenth'])):.0f} µs)")


def result(client: str, mode: str, samples: Samples, cpu_s: float) -> dict[str, Any]:
    cols = {name: stats(samples.values(name)) for name in Samples.NAMES}
    # by tenth of the run, in order: a shared VM has slow spells (neighbours, steal) that
    # move a whole run's p99; the tenths show whether a figure is the code or the spell
    tenths = [part for part in np.array_split(samples.values("heron"), 10) if len(part)]
    return {"client": client, "mode": mode, "orders": samples.n, **cols,
            "heron_p50_by_tenth": [float(np.median(t)) / 1000 for t in tenths],
            "heron_p99_by_tenth": [float(np.percentile(t, 99)) / 1000 for t in tenths],
            "cpu_us_per_cycle": cpu_s / max(samples.n, 1) * 1e6, "gc_full_ms": GC.take()}


async def run_heron(args: argparse.Namespace, venue_dir: Path, tmp: Path) -> dict[str, Any]:
    """Each phase on a fresh emulator (the emulator's margin check walks every order it
    ever took, so its replies slow down as a run's orders pile up)."""
    out: dict[str, Any] = {"latency": [], "throughput": [], "counters": {}}
    phases = [(mode, False) for mode in args.modes] + [("submit", True)] * bool(
        args.concurrency)
    for mode, load in phases:
        name = f"{mode}-throughput" if load else mode
        (tmp / name).mkdir()
        with Emulator(venue_dir) as emulator:
            heron = Heron(emulator.url, tmp / name, streams=not args.no_streams,
                          log_json=args.log_json)
            await heron.open()
            try:
                if load:
                    out["throughput"] = await throughput(heron, args.concurrency,
                                                         args.throughput_orders)
                else:
                    print(f"heron {mode}: {args.orders:,} cycles ...", file=sys.stderr,
                          flush=True)
                    samples, cpu = await heron.sequential(mode, args.orders)
                    out["latency"].append(result("heron", mode, samples, cpu))
                out["counters"][name] = dict(heron.engine.execution.counters)
            finally:
                await heron.close()
    return out


async def run_ccxt(args: argparse.Namespace, venue_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"latency": [], "throughput": []}
    for load in (False, True) if args.concurrency else (False,):
        with Emulator(venue_dir) as emulator:
            bare = BareCcxt(emulator.url)
            await bare.open()
            try:
                if load:
                    out["throughput"] = await throughput(bare, args.concurrency,
                                                         args.throughput_orders)
                else:
                    print(f"bare ccxt: {args.orders:,} cycles ...", file=sys.stderr,
                          flush=True)
                    samples, cpu = await bare.sequential(args.orders)
                    out["latency"].append(result("bare ccxt", "create_order", samples, cpu))
            finally:
                await bare.close()
    return out


async def profile(args: argparse.Namespace, venue_dir: Path, tmp: Path) -> None:
    with Emulator(venue_dir) as emulator:
        heron = Heron(emulator.url, tmp, streams=not args.no_streams)
        await heron.open()
        try:
            prof = cProfile.Profile()
            prof.enable()
            await heron.sequential("submit", args.orders)
            prof.disable()
            prof.dump_stats(str(args.profile))
        finally:
            await heron.close()


# -- report ---------------------------------------------------------------------------------
def _us(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


LAT_HEADERS = ["client", "decision", "request", "part", "p50 µs", "p90 µs", "p99 µs",
               "p99.9 µs", "max µs"]


def latency_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    parts = [("place", "heron", "heron"),
             ("place", "call", "1. the strategy's call to the order's task (risk, OM, journal)"),
             ("place", "queue", "2. the order's task waits on the event loop"),
             ("place", "task", "3. the task, to ccxt (rate limiter included)"),
             ("place", "limiter", "of which rate limiter"),
             ("place", "code", "heron's own code (1 + 3)"),
             ("place", "ccxt", "ccxt + aiohttp"),
             ("place", "total", "total → bytes"), ("place", "reply", "reply (round trip)"),
             ("cancel", "c_heron", "heron"),
             ("cancel", "c_call", "1. the strategy's call to the order's task (risk, OM, journal)"),
             ("cancel", "c_queue", "2. the order's task waits on the event loop"),
             ("cancel", "c_task", "3. the task, to ccxt (rate limiter included)"),
             ("cancel", "c_code", "heron's own code (1 + 3)"),
             ("cancel", "c_ccxt", "ccxt + aiohttp"),
             ("cancel", "c_total", "total → bytes"), ("cancel", "c_reply", "reply (round trip)")]
    for r in results:
        for request, key, label in parts:
            if r["client"] == "bare ccxt" and key not in ("ccxt", "reply", "c_ccxt",
                                                           "c_reply"):
                continue
            s = r[key]
            rows.append([r["client"], r["mode"], request, label, _us(s["p50"]), _us(s["p90"]),
                         _us(s["p99"]), _us(s["p999"]), _us(s["max"])])
    return rows


THR_HEADERS = ["client", "in flight K", "orders", "orders/s", "requests/s", "client CPU µs/order"]


def throughput_rows(client: str, rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[client, str(r["k"]), f"{r['orders']:,}", f"{r['orders_s']:,.0f}",
             f"{r['requests_s']:,.0f}", f"{r['cpu_us_per_order']:.0f}"] for r in rows]


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i < 3 else "---:" for i in range(len(headers))]
    return "\n".join("| " + " | ".join(line) + " |" for line in [headers, align, *rows])


def report(out: dict[str, Any], command: str) -> str:
    from bench_backtest import machine_facts

    lat = out["heron"]["latency"] + (out["ccxt"]["latency"] if out.get("ccxt") else [])
    thr = throughput_rows("heron", out["heron"]["throughput"])
    if out.get("ccxt"):
        thr += throughput_rows("bare ccxt", out["ccxt"]["throughput"])
    notes = []
    for r in lat:
        full = r["gc_full_ms"]
        notes.append(f"* {r['client']} {r['mode']}: {r['orders']:,} cycles, client CPU "
                     f"{r['cpu_us_per_cycle']:.0f} µs per cycle (place + cancel, replies "
                     f"and stream included); full GCs {len(full)}"
                     + (f" (longest {max(full):.0f} ms)" if full else "")
                     + (_by_tenth(r) if r["client"] == "heron" else ""))
    facts = machine_facts()
    facts["load"] = f"1-min load average {out['load'][0]:.1f}-{out['load'][1]:.1f}"
    return "\n".join([f"Command: `{command}`", "", "Internal latency, sequential (µs):", "",
                      markdown(LAT_HEADERS, latency_rows(lat)), "", *notes, "",
                      "Throughput (place → accepted → cancel → canceled per worker):", "",
                      markdown(THR_HEADERS, thr), "",
                      "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items())])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2,000 cycles and 2,000 orders per throughput level")
    parser.add_argument("--orders", type=int, default=None, help="cycles (default 100,000)")
    parser.add_argument("--modes", default="submit,router")
    parser.add_argument("--throughput-orders", type=int, default=None,
                        help="orders per concurrency level (default 20,000)")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--no-streams", action="store_true",
                        help="do not follow the private user-data stream")
    parser.add_argument("--no-ccxt", action="store_true", help="skip the bare ccxt peer")
    parser.add_argument("--log-json", action="store_true",
                        help="heron as `heron live --log-json`: its JSON order lines "
                             "rendered to a file")
    parser.add_argument("--profile", type=Path, help="cProfile one submit pass into FILE")
    parser.add_argument("--data", type=Path, default=DEFAULT_VENUE)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.orders = args.orders or (2_000 if args.quick else 100_000)
    args.throughput_orders = args.throughput_orders or (2_000 if args.quick else 20_000)
    args.modes = [m for m in args.modes.split(",") if m]
    args.concurrency = [int(k) for k in args.concurrency.split(",") if k]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.data / "ws_capture_BTCUSDT_2024-08-08.txt.gz").exists():
        print(f"no recording at {args.data}: pass --data", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"load": [os.getloadavg()[0]]}
    with tempfile.TemporaryDirectory(prefix="heron-bench-exec-") as tmp:
        if args.profile:
            asyncio.run(profile(args, args.data, Path(tmp)))
            print(f"profile written to {args.profile}", file=sys.stderr)
            return 0
        out["heron"] = asyncio.run(run_heron(args, args.data, Path(tmp)))
    if not args.no_ccxt:
        out["ccxt"] = asyncio.run(run_ccxt(args, args.data))
    out["load"].append(os.getloadavg()[0])
    command = " ".join(["python bench/bench_exec.py", *(argv or sys.argv[1:])])
    print(json.dumps({"bench": "exec", **out}))
    text = report(out, command)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
