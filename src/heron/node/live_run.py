"""``heron live``: one resumable live run, from its state directory to a venue account.

Start: take the state's lock, read or write its config, open the venue's private client
(keys from the environment or a 0600 key file) and its market-data session; the
instruments must not have changed since the run began. A first start records the run's
tag (the prefix of every client order id, so two runs on one account never collide),
its start time (fills before it are not the run's) and the wallet balance. Then:

1. **restore**: the previous process's journal (committed records, sealed or not) is
   re-journaled into a fresh one and applied, rebuilding orders, positions and balance;
2. **catch up**: the fills since the last one journaled and the state of every order
   heron holds open, from the venue (what happened while heron was down);
3. **reconcile** (:mod:`heron.execution.reconcile`): the venue's open orders, positions
   and balances against heron's; differences are saved as evidence under
   ``STATE/reconcile/`` and keep the run ``REDUCE_ONLY`` until they are resolved (by
   the gated remediation, or by hand and a restart);
4. **live**: market events go to the engine, the private streams and a periodic REST
   catch-up to the execution; the journal is flushed every 100 ms.

Stop (``stop_after`` market events, ``duration_s``, SIGINT, SIGTERM): the market feed
and the private streams close, every in-flight request gets its answer, the journal is
sealed. Orders stay at the venue: stopping is not flattening.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from heron.core.journal import decode_record
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.session import FeedOptions, LiveSession
from heron.data.feeds.streams import Stream, parse_streams
from heron.errors import HeronError, InputError
from heron.execution.port import VenueClient
from heron.model.events import Record
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument
from heron.node.live import LiveEngine
from heron.node.paper_run import bar_ns, fetch_warmup, run_until_stopped
from heron.node.paper_state import PaperConfig, PaperState
from heron.node.run_desk import RunDesk, ignore_wakeups, restore_wakeups
from heron.node.run_journal import RunJournal
from heron.observe.logs import bind_run, end_order_context, watch_orders
from heron.observe.metrics import NodeMetrics
from heron.observe.metrics_server import MetricsEndpoint, start_metrics
from heron.risk.config import parse_risk
from heron.strategy.registry import strategy_class

_TAG_ALPHABET = string.ascii_lowercase + string.digits
log = logging.getLogger(__name__)


class LiveConfig(PaperConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a live run is: the paper run's fields, the venue environment, and what the
    first start fixed (tag, start time, wallet balance then)."""

    testnet: bool = False
    run_tag: str = ""
    started_ns: int = 0


class LiveState(PaperState):
    """A live run's state directory: ``run.json``, ``journal.sqlite``, ``reconcile/``."""

    config_type = LiveConfig
    kind = "live"

    def stored(self) -> tuple[LiveConfig, list[Instrument]] | None:
        got = super().stored()
        if got is None:
            return None
        assert isinstance(got[0], LiveConfig)  # config_type decoded it
        return got[0], got[1]

    @property
    def evidence(self) -> Path:
        return self.dir / "reconcile"


@dataclass(slots=True)
class LiveStatus:
    """What the status line shows; refreshed by the run."""

    engine: LiveEngine
    cash: Decimal
    health: dict[tuple[str, str], FeedHealth] = field(default_factory=dict)
    restored: int = 0
    mismatches: int = 0
    live: int = 0


def new_tag() -> str:
    """A run tag: 5 letters/digits, random once per run, then read from ``run.json``."""
    return "h" + "".join(secrets.choice(_TAG_ALPHABET) for _ in range(5))


def build_engine(cfg: LiveConfig, client: VenueClient, instruments: list[Instrument],
                 journal: str | Path | None, book_rules: dict[str, Any],
                 run_id: str | None = None) -> LiveEngine:
    streams = set(parse_streams(",".join(cfg.streams)))
    iids = {inst.id for inst in instruments}
    strategy = strategy_class(cfg.strategy)(**cfg.params)
    engine = LiveEngine(
        client=client, instruments=instruments, strategies=[strategy], cash=Decimal(cfg.cash),
        journal_path=journal, bar_ns=bar_ns(cfg.bar),
        book_streams=iids if Stream.BOOK in streams else set(),
        quote_streams=iids if Stream.QUOTES in streams else set(), book_rules=book_rules,
        header={"live": msgspec.to_builtins(cfg)}, id_tag=cfg.run_tag, journal_run_id=run_id)
    engine.execution.since_ns = cfg.started_ns
    return engine


async def first_config(cfg: LiveConfig, client: VenueClient,
                       instruments: list[Instrument]) -> LiveConfig:
    """Fix the run's tag, start time and starting balance (the quote currency's wallet)."""
    currency = instruments[0].quote_currency
    balances = {b.currency: b for b in await client.balances()}
    wallet = balances.get(currency)
    if wallet is None:
        raise InputError(f"the {cfg.venue} account holds no {currency}; fund it (or pick "
                         f"symbols quoted in what it holds: {', '.join(balances) or 'none'})")
    return msgspec.structs.replace(cfg, run_tag=cfg.run_tag or new_tag(),
                                   started_ns=time.time_ns(), cash=str(wallet.total))


def previous_records(state: LiveState) -> list[Record]:
    """What the previous process committed (sealed or not); its journal stays whole
    (``journal.prev.sqlite``, or the run's rows in a ``--db`` database) until the new one
    holds it all (:mod:`heron.node.run_journal`). Call before building the engine: the
    engine's journal takes the file's place."""
    return [decode_record(p) for p in _journal(state).previous()]


def restore(engine: LiveEngine, state: LiveState, records: list[Record]) -> int:
    """Re-journal ``records`` into the engine's journal, which then replaces the old
    one; returns their count."""
    engine.restore(records)
    _journal(state).complete(engine.journal)
    return len(records)


def _journal(state: LiveState) -> RunJournal:
    return state.run_journal or RunJournal(state.dir)


async def run_live(cfg: LiveConfig, state: LiveState, client: VenueClient, *,
                   endpoint: str | None = None, stop_after: int | None = None,
                   duration_s: float | None = None, options: FeedOptions | None = None,
                   on_status: Callable[[LiveStatus], None] | None = None,
                   poll_s: float = 30.0, reconcile_s: float = 300.0,
                   metrics_at: MetricsEndpoint | None = None) -> LiveStatus:
    """Run (or resume) the live run in ``state`` on ``client`` until a stop condition;
    with ``metrics_at``, serve its metrics there while it runs."""
    adapter = adapter_for(cfg.venue)
    base = options or FeedOptions()
    session = adapter.session(cfg.symbols, parse_streams(",".join(cfg.streams)), _ignore,
                              replace(base, endpoint=endpoint) if endpoint else base)
    bind_run(run=state.dir.name, strategy=cfg.strategy, venue=cfg.venue)
    wakeups = ignore_wakeups()  # a command before the run listens waits in its inbox
    server = await start_metrics(metrics_at, state.dir.name)  # a port in use: refused now
    try:
        await client.open()
    except BaseException:
        if server is not None:
            await server.stop()
        restore_wakeups(wakeups)
        raise
    try:
        await session.open()
        instruments = _instruments(state, cfg, list(client.instruments.values()))
        stored = state.stored()
        if stored is None:
            cfg = await first_config(cfg, client, instruments)
            state.save(cfg, instruments)
        else:
            cfg = stored[0]
        return await _run(cfg, state, client, session, instruments, adapter.book_rule,
                          stop_after, duration_s, on_status, poll_s, reconcile_s,
                          server.metrics if server else None)
    finally:
        await session.stop()
        await client.close()
        if server is not None:
            await server.stop()
        restore_wakeups(wakeups)


def _ignore(event: object) -> None:
    """Events before the engine is ready."""


def _instruments(state: LiveState, cfg: LiveConfig, live: list[Instrument]
                 ) -> list[Instrument]:
    stored = state.stored()
    if stored is None:
        return live
    old = stored[1]
    if [i.to_dict() for i in old] != [i.to_dict() for i in live]:
        raise InputError(f"{cfg.venue} changed an instrument (tick, lot, fees or limits) "
                         "since this run started; start a new --state")
    return old


async def _run(cfg: LiveConfig, state: LiveState, client: VenueClient,
               session: LiveSession, instruments: list[Instrument], rule: Any,
               stop_after: int | None, duration_s: float | None,
               on_status: Callable[[LiveStatus], None] | None, poll_s: float,
               reconcile_s: float, metrics: NodeMetrics | None = None) -> LiveStatus:
    from heron.execution.reconcile_run import reconcile_at_start

    records = previous_records(state)
    journal = _journal(state)
    engine = build_engine(cfg, client, instruments, journal.location,
                          {i.id: rule for i in instruments}, journal.writer_run_id)
    engine.ctx.run_dir = state.dir  # the strategy's own files belong with the run
    status = LiveStatus(engine, Decimal(cfg.cash))
    desk = RunDesk(engine, state.dir, kind="live", health=status.health,
                   aliases=dict(zip(cfg.symbols, [i.id for i in instruments], strict=True)))
    try:
        status.restored = restore(engine, state, records)  # before watching: not news
        engine.bound_memory()
        if cfg.risk is not None:  # after the restore: the checks see the restored orders
            engine.use_risk_config(parse_risk(cfg.risk, "the run's risk file"))
        watch_orders(engine)
        if metrics is not None:
            metrics.attach(engine)
        engine.start()
        end_order_context()  # an order on_start sent names its own lines, not the start's
        await engine.execution.catch_up()
        status.mismatches = await reconcile_at_start(engine, state.dir)
        if cfg.warmup:
            for bar in await fetch_warmup(session, cfg, instruments, time.time_ns()):
                if engine.is_new(bar):
                    engine.consume(bar)
        gc.freeze()  # ccxt's and the restore's long-lived objects: short full collections
        engine.journal.flush()
        desk.publish()
        await _live(session, engine, status, stop_after, duration_s, on_status, poll_s,
                    desk, reconcile_s, metrics)
        desk.close()
        engine.journal.close()
    except BaseException:
        engine.journal.abort()
        raise
    return status


async def _live(session: LiveSession, engine: LiveEngine, status: LiveStatus,
                stop_after: int | None, duration_s: float | None,
                on_status: Callable[[LiveStatus], None] | None, poll_s: float,
                desk: RunDesk, reconcile_s: float, metrics: NodeMetrics | None = None) -> None:
    done = asyncio.Event()

    def on_event(event: Any) -> None:
        if done.is_set():
            return
        end_order_context()  # the last event's order is not this one's
        if isinstance(event, FeedHealth):
            status.health[(event.symbol, event.stream)] = event
            engine.feed_health(event)  # stale or gapped: DEGRADED until live again
            if metrics is not None:
                metrics.feed_health(event)
            return
        if not engine.is_new(event):
            return
        if metrics is not None:
            metrics.market_event(event)
        engine.consume(event)
        status.live += 1
        if stop_after is not None and status.live >= stop_after:
            done.set()

    session.redirect(on_event)
    desk.drain()  # what was sent while the run started
    try:
        await run_until_stopped(session, done, duration_s, [
            engine.execution.run_streams(done, poll_s=poll_s),
            _flush(engine, status, on_status, desk),
            _reconcile_every(engine, status, desk.dir, reconcile_s, done)], desk.drain)
    finally:
        await engine.execution.drain()  # every request sent gets its answer journaled
        if on_status is not None:
            on_status(status)


async def _reconcile_every(engine: LiveEngine, status: LiveStatus, run_dir: Path,
                           every_s: float, done: asyncio.Event) -> None:
    """Reconcile with the venue every ``every_s`` seconds while the run lives: funding,
    transfers and fees in other currencies reach the balance this way, and a difference
    that appears mid-run restricts the run as one found at start would."""
    from heron.execution.reconcile_run import reconcile_pass

    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), every_s)
        except TimeoutError:
            try:
                report = await reconcile_pass(engine, run_dir)
            except HeronError as exc:  # the venue unreachable for now: next time
                log.warning("periodic reconciliation failed: %s", exc)
                continue
            status.mismatches = len(report.blocking)


async def _flush(engine: LiveEngine, status: LiveStatus,
                 on_status: Callable[[LiveStatus], None] | None, desk: RunDesk) -> None:
    published = time.monotonic()
    while True:
        await asyncio.sleep(0.1)
        await engine.journal.flush_off_loop()  # the commit waits for the disk: not on the loop
        if on_status is not None:
            on_status(status)
        if time.monotonic() - published >= 1.0:  # commands, status.json (the desk)
            published = time.monotonic()
            await desk.tick()


__all__ = ["LiveConfig", "LiveState", "LiveStatus", "build_engine", "new_tag", "run_live"]
