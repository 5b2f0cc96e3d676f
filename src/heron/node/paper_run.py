"""``heron paper``: one resumable paper run, from its state directory to a live feed.

Start: take the state's lock, read or write its config, connect to the venue (its
instruments must not have changed since the run began), rebuild the engine by
replaying the run's input log (:mod:`heron.node.input_log`) -- which regenerates the
journal, checked record for record against what the previous process had committed --
then go live. Live: each market event newer than what the run consumed, and each
change of the feed's health (the feed trigger's input), is appended to the input log,
then handed to the engine; a timer writes the log and the journal
through to the OS every 100 ms (``fsync`` every 2 s). Stop (``stop_after`` events in
all, ``duration_s``, SIGINT, SIGTERM): close the feed, seal the journal. A ``kill -9``
loses nothing the engine acted on: its inputs were written first.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.session import FeedOptions, LiveSession
from heron.data.feeds.streams import Stream, parse_streams
from heron.errors import DataError, EngineError, InputError
from heron.model.data import Bar
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument, OffGrid
from heron.node.input_log import InputLog
from heron.node.paper import PaperEngine
from heron.node.paper_state import PaperConfig, PaperState
from heron.node.run_desk import RunDesk, ignore_wakeups, restore_wakeups
from heron.node.run_journal import RunJournal
from heron.observe.logs import bind_instruments, bind_run, end_order_context, watch_orders
from heron.observe.metrics import NodeMetrics
from heron.observe.metrics_server import MetricsEndpoint, start_metrics
from heron.risk.config import parse_risk
from heron.strategy.registry import strategy_class
from heron.venues.sim.config import FillAt, SimVenueConfig

_UNITS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


@dataclass(slots=True)
class PaperStatus:
    """What the status line shows; refreshed by the run, read by whoever draws it."""

    engine: PaperEngine
    cash: Decimal
    health: dict[tuple[str, str], FeedHealth] = field(default_factory=dict)
    replayed: int = 0
    live: int = 0


def bar_ns(text: str) -> int:
    """``"1m"`` -> ns; ``s``, ``m``, ``h`` units."""
    unit = _UNITS.get(text[-1:])
    try:
        count = int(text[:-1])
    except ValueError:
        count = 0
    if unit is None or count <= 0:
        raise InputError(f"--bar {text!r} is not a bar length; use e.g. 30s, 1m, 5m, 1h")
    return count * unit


def _venue_config(cfg: PaperConfig) -> SimVenueConfig:
    try:
        fee = None if cfg.fee_bps is None else Decimal(cfg.fee_bps) / 10_000
        slip = Decimal(cfg.slippage_bps)
        Decimal(cfg.cash)
    except InvalidOperation:
        raise InputError("--cash, --fee-bps and --slippage-bps take decimal numbers") from None
    return SimVenueConfig(fill_at=FillAt.NEXT_OPEN, fee_rate=fee, slippage_bps=slip)


def build_engine(cfg: PaperConfig, instruments: list[Instrument], journal: str | Path,
                 book_rules: dict[str, Any], run_id: str | None = None) -> PaperEngine:
    streams = set(parse_streams(",".join(cfg.streams)))
    iids = {inst.id for inst in instruments}
    strategy = strategy_class(cfg.strategy)(**cfg.params)
    engine = PaperEngine(
        instruments=instruments, strategies=[strategy], cash=Decimal(cfg.cash),
        venue=_venue_config(cfg), journal_path=journal, bar_ns=bar_ns(cfg.bar),
        book_streams=iids if Stream.BOOK in streams else set(),
        quote_streams=iids if Stream.QUOTES in streams else set(),
        book_rules=book_rules, header={"paper": msgspec.to_builtins(cfg)},
        journal_run_id=run_id)
    if cfg.risk is not None:  # before the replay: the rebuilt journal is the same
        engine.use_risk_config(parse_risk(cfg.risk, "the run's risk file"))
    return engine


def replay_inputs(engine: PaperEngine, log: InputLog, previous: list[bytes],
                  desk: RunDesk, kept: str = "journal.prev.sqlite") -> int:
    """Rebuild the engine from the log; the journal must start with ``previous``.
    Operator commands (``heron kill``, manual orders) are replayed at the input count
    they came at, feed-health changes where they were logged."""
    engine.start()
    n = 0
    for event in log.replay():
        if isinstance(event, FeedHealth):
            desk.apply_due()
            engine.feed_health(event)
        elif engine.is_new(event):
            desk.apply_due()
            engine.consume(event)
            n += 1
    desk.apply_due()
    encode = msgspec.msgpack.Encoder().encode
    rebuilt = [encode(r) for r in engine.journal.records[:len(previous)]]
    if rebuilt != previous:
        at = next((i for i, (a, b) in enumerate(zip(rebuilt, previous, strict=False))
                   if a != b), min(len(rebuilt), len(previous)))
        raise EngineError(f"the journal rebuilt from {log.path.name} differs from the one "
                          f"the previous process wrote at record {at + 1}; it is kept as "
                          f"{kept} (a bug: please report it)")
    return n


async def fetch_warmup(session: LiveSession, cfg: PaperConfig, instruments: list[Instrument],
                       now_ns: int) -> list[Bar]:
    """The last ``cfg.warmup`` *closed* bars of each instrument from the venue's history
    (ccxt ``fetch_ohlcv`` at ``cfg.bar``), oldest first; exact ticks or a DataError."""
    exchange = getattr(session, "exchange", None)
    if exchange is None or not exchange.has.get("fetchOHLCV"):
        raise InputError(f"{cfg.venue} gives no bar history here; run without --warmup")
    if cfg.bar not in (exchange.timeframes or {}):
        raise InputError(f"--warmup: {cfg.venue} has no {cfg.bar} bars; use one of "
                         f"{', '.join(exchange.timeframes or {})} for --bar")
    step = bar_ns(cfg.bar)
    out: list[Bar] = []
    for symbol, inst in zip(cfg.symbols, instruments, strict=True):
        rows = await exchange.fetch_ohlcv(symbol, cfg.bar, limit=cfg.warmup + 1)
        closed = [r for r in rows if int(r[0]) * 1_000_000 + step <= now_ns][-cfg.warmup:]
        out += [_history_bar(inst, k, row) for k, row in enumerate(closed)]
    return out


def _history_bar(inst: Instrument, index: int, row: list[Any]) -> Bar:
    try:
        o, h, lo, c = (inst.ticks(Decimal(str(v))) for v in row[1:5])
    except (OffGrid, InvalidOperation) as exc:
        raise DataError(f"{inst.id}: a history bar is off the price grid ({exc})") from None
    return Bar(inst, int(row[0]) * 1_000_000, index, o, h, lo, c, float(row[5] or 0))


async def run_paper(cfg: PaperConfig, state: PaperState, *, endpoint: str | None = None,
                    stop_after: int | None = None, duration_s: float | None = None,
                    options: FeedOptions | None = None,
                    on_status: Callable[[PaperStatus], None] | None = None,
                    metrics_at: MetricsEndpoint | None = None) -> PaperStatus:
    """Run (or resume) the paper run in ``state`` until a stop condition; with
    ``metrics_at``, serve its metrics there while it runs."""
    adapter = adapter_for(cfg.venue)
    session = adapter.session(cfg.symbols, parse_streams(",".join(cfg.streams)), _ignore,
                              _with_endpoint(options, endpoint))
    bind_run(run=state.dir.name, strategy=cfg.strategy, venue=cfg.venue)
    wakeups = ignore_wakeups()  # a command before the run listens waits in its inbox
    server = await start_metrics(metrics_at, state.dir.name)  # a port in use: refused now
    try:
        await session.open()
        instruments = _instruments(state, cfg, session.instruments)
        return await _run(cfg, state, session, instruments, adapter.book_rule, stop_after,
                          duration_s, on_status, server.metrics if server else None)
    finally:
        await session.stop()
        if server is not None:
            await server.stop()
        restore_wakeups(wakeups)


def _ignore(event: object) -> None:
    """Events before the engine is ready (none: the feed starts after the replay)."""


def _with_endpoint(options: FeedOptions | None, endpoint: str | None) -> FeedOptions:
    base = options or FeedOptions()
    return replace(base, endpoint=endpoint) if endpoint else base


def _instruments(state: PaperState, cfg: PaperConfig, live: list[Instrument]
                 ) -> list[Instrument]:
    stored = state.stored()
    if stored is None:
        state.save(cfg, live)
        return live
    old = stored[1]
    if [i.to_dict() for i in old] != [i.to_dict() for i in live]:
        changed = next((o.symbol for o, n in zip(old, live, strict=False)
                        if o.to_dict() != n.to_dict()), "an instrument")
        raise InputError(f"{cfg.venue} changed {changed} (tick, lot, fees or limits) since this "
                         "run started; a resumed run must trade the same instruments: start "
                         "a new --state")
    return old


async def _run(cfg: PaperConfig, state: PaperState, session: LiveSession,
               instruments: list[Instrument], rule: Any, stop_after: int | None,
               duration_s: float | None,
               on_status: Callable[[PaperStatus], None] | None,
               metrics: NodeMetrics | None = None) -> PaperStatus:
    journal = state.run_journal or RunJournal(state.dir)
    previous = journal.previous()
    engine = build_engine(cfg, instruments, journal.location,
                          {i.id: rule for i in instruments}, journal.writer_run_id)
    engine.ctx.run_dir = state.dir  # the strategy's own files belong with the run
    bind_instruments(instruments)
    log = InputLog(state.inputs, instruments)
    status = PaperStatus(engine, Decimal(cfg.cash))
    desk = RunDesk(engine, state.dir, kind="paper", health=status.health,
                   aliases=dict(zip(cfg.symbols, [i.id for i in instruments], strict=True)),
                   sync_inputs=lambda: log.flush(sync=True))
    try:
        status.replayed = replay_inputs(engine, log, previous, desk, journal.kept)
        engine.bound_memory()  # after the replay's check, which reads every record
        watch_orders(engine)  # after the replay: what this process does is news
        if metrics is not None:
            metrics.attach(engine)
        if status.replayed == 0 and cfg.warmup:
            for bar in await fetch_warmup(session, cfg, instruments, time.time_ns()):
                if engine.is_new(bar):
                    log.append(bar)
                    engine.consume(bar)
        gc.freeze()  # ccxt's and the replay's long-lived objects: short full collections live
        journal.complete(engine.journal)  # the old journal goes: the new one holds it all
        desk.publish()
        if stop_after is None or engine.consumed < stop_after:
            await _live(session, engine, log, status, stop_after, duration_s, on_status,
                        metrics, desk)
        desk.close()
        engine.journal.close()
    except BaseException:
        engine.journal.abort()
        raise
    finally:
        log.close()
    return status


async def _live(session: LiveSession, engine: PaperEngine, log: InputLog,
                status: PaperStatus, stop_after: int | None, duration_s: float | None,
                on_status: Callable[[PaperStatus], None] | None,
                metrics: NodeMetrics | None, desk: RunDesk) -> None:
    done = asyncio.Event()

    def on_event(event: Any) -> None:
        if done.is_set():
            return
        if isinstance(event, FeedHealth):
            status.health[(event.symbol, event.stream)] = event
            if metrics is not None:
                metrics.feed_health(event)
            if log.health_changed(event):  # an input: logged before the engine acts on it
                log.append(event)
                end_order_context()
                engine.feed_health(event)  # stale or gapped: DEGRADED until live again
            return
        if not engine.is_new(event):
            return
        log.append(event)
        end_order_context()
        if metrics is not None:
            metrics.market_event(event)
        engine.consume(event)
        status.live += 1
        if stop_after is not None and engine.consumed >= stop_after:
            done.set()

    session.redirect(on_event)
    try:
        desk.drain()  # what was sent while the run started
        await run_until_stopped(session, done, duration_s,
                                [_flush(engine, log, status, on_status, desk)], desk.drain)
    finally:
        log.flush(sync=True)
        if on_status is not None:
            on_status(status)


async def run_until_stopped(session: LiveSession, done: asyncio.Event,
                            duration_s: float | None,
                            workers: list[Coroutine[Any, Any, None]],
                            on_control: Callable[[], None] | None = None) -> None:
    """Run the feed and ``workers`` until ``done`` is set (a stop condition, SIGINT,
    SIGTERM) or ``duration_s`` has passed; then stop the feed and the workers (paper and
    live runs stop the same way). ``on_control`` handles SIGUSR1 (``heron kill``, the
    API's commands) within one turn of the event loop; once stopped, SIGUSR1 is ignored
    (its default would end the process before the journal is sealed)."""
    end_order_context()  # an order the start sent (on_start, warm-up): not the tasks'
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    if on_control is not None:
        loop.add_signal_handler(signal.SIGUSR1, on_control)
    feed = asyncio.create_task(session.run())
    tasks = [asyncio.create_task(work) for work in workers]
    try:
        await asyncio.wait_for(done.wait(), duration_s)
    except TimeoutError:
        pass
    finally:
        done.set()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
            loop.remove_signal_handler(sig)
        if on_control is not None:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        for task in tasks:
            task.cancel()
        await session.stop()
        feed.cancel()
        await asyncio.gather(feed, *tasks, return_exceptions=True)


async def _flush(engine: PaperEngine, log: InputLog, status: PaperStatus,
                 on_status: Callable[[PaperStatus], None] | None, desk: RunDesk) -> None:
    synced = published = time.monotonic()
    while True:
        await asyncio.sleep(0.1)
        log.flush()
        await engine.journal.flush_off_loop()  # the commit waits for the disk: not on the loop
        if time.monotonic() - synced >= 2.0:
            log.flush(sync=True)
            synced = time.monotonic()
        if on_status is not None:
            on_status(status)
        if time.monotonic() - published >= 1.0:
            published = time.monotonic()
            await desk.tick()


__all__ = ["PaperConfig", "PaperState", "PaperStatus", "bar_ns", "build_engine", "run_paper",
           "run_until_stopped"]
