"""A run against the simulated venue: the composition root shared by every mode.

A ``SimNode`` wires clock, kernel, ids, portfolio, order manager, journal, bus, the
simulated venue and the strategies, and routes between them: commands from strategies
are journaled and handed to the venue; venue events are journaled, applied to orders and
the portfolio, shown to bus observers and given to the strategy that owns the order. Bar
backtests (:class:`~heron.node.backtest.BacktestEngine`) and tick replays
(:class:`~heron.node.replay_engine.ReplayEngine`) differ only in the data loop on top;
paper trading will put a live feed and a wall clock under the same node.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.core.bus import MessageBus
from heron.core.clock import SimClock
from heron.core.ids import IdGenerator
from heron.core.journal import JournalWriter
from heron.core.kernel import Kernel
from heron.execution.order_manager import OrderManager
from heron.execution.protective import ProtectiveGroups
from heron.execution.router import TradingState, VenueTraits
from heron.execution.targets import TargetExecutor
from heron.model.events import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    FundingApplied,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUpdateRejected,
    OrderUpdateRequested,
    Record,
    SubmitOrder,
    TradingStateChanged,
)
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN, OrderStatus
from heron.model.portfolio import Portfolio
from heron.risk.config import RiskConfig
from heron.risk.kill import StateDriver
from heron.risk.limits import RiskLimits
from heron.risk.portfolio_risk import PortfolioRiskMonitor
from heron.risk.portfolio_watch import watch_portfolio
from heron.risk.pretrade import Denial, PreTradeEngine
from heron.risk.state import RunState, TradingMachine
from heron.risk.triggers import StateLimits, TriggerMonitor
from heron.strategy.base import Strategy
from heron.strategy.context import StrategyContext
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.venue import SimVenue

#: bus topic carrying every journaled command and event, in journal order
RECORDS = "records"


class SimNode:
    """Strategies, portfolio, journal and the simulated venue, wired for one run."""

    def __init__(self, *, instruments: list[Instrument], strategies: list[Strategy],
                 cash: Decimal, venue: SimVenueConfig, start_ts: int,
                 journal_path: Any = None,
                 funding: dict[str, list[tuple[int, Decimal]]] | None = None,
                 money_precision: int | None = None,
                 series: list[dict[str, NDArray[np.float64]]] | None = None,
                 header: dict[str, Any] | None = None,
                 journal_in_place: bool = False, id_tag: str = "H",
                 journal_run_id: str | None = None) -> None:
        self.instruments = instruments
        precision = money_precision or max([8, *(i.notional_precision for i in instruments)])
        self.clock = SimClock(start_ts)
        self.kernel = Kernel(self.clock)
        self.ids = IdGenerator(id_tag)
        self.portfolio = Portfolio(instruments, int(cash.scaleb(precision)), precision)
        self.om = OrderManager(self.portfolio)
        self.strategies = strategies
        self._by_id = {s.strategy_id: s for s in strategies}
        if len(self._by_id) != len(strategies):
            raise ValueError("two strategies share a strategy_id; give each its own")
        self.journal = JournalWriter(journal_path, {
            **self._header(cash, venue, precision), **(header or {})},
            in_place=journal_in_place, run_id=journal_run_id)
        self.bus = MessageBus()
        self._observers = self.bus.handlers(RECORDS)
        self.venue = SimVenue(instruments=instruments, portfolio=self.portfolio, ids=self.ids,
                              clock=self.clock, emit=self.emit, config=venue,
                              schedule=self.kernel.schedule)
        self.ctx = StrategyContext(
            instruments=instruments, portfolio=self.portfolio, om=self.om, ids=self.ids,
            clock=self.clock, send=self.send, deny=self.deny, schedule=self.kernel.schedule,
            series=series or [])
        self.state_driver = StateDriver(self)
        self.machine = TradingMachine(now=self.clock.now, record=self.state_driver.changed)
        self.monitor: TriggerMonitor | None = None
        self.denied_by_state = 0
        self.repeated_cancels = 0  # cancels not sent: one was in flight (see _request)
        self._watch_events = False  # restricted, or triggers configured: see every event
        #: timers that start with market time: scheduled at a paper/live node's first event
        self.deferred: list[Callable[[int], None]] = []
        self.portfolio_risk: PortfolioRiskMonitor | None = None
        self._portfolio_start: Callable[[int], None] | None = None
        self.targets = TargetExecutor(
            instruments, self.om, self.send, self.ids.client_order_id, self.clock.now,
            VenueTraits(supports_amend=True), lambda: self.trading_state,
            watch=lambda: self.bus.subscribe(RECORDS, self.targets.observe))
        self.ctx.targets = self.targets
        self.protective = ProtectiveGroups(
            self.om, self.send, self.clock.now,
            watch=lambda: self.bus.subscribe(RECORDS, self.protective.observe))
        self.ctx.protective = self.protective
        for iid, events in (funding or {}).items():
            for ts, rate in events:
                self.kernel.schedule(ts, _funding_callback(self.venue, iid, rate))
        self._hooks = self._order_hooks()
        self.bars_processed = 0
        self._unchecked = False  # routing self-trade prevention's own cancels/amends
        self.use_risk(RiskLimits.none())

    def use_risk(self, limits: RiskLimits) -> None:
        """Check every order command against ``limits`` from now on (the default,
        :meth:`RiskLimits.none`, checks only minimum size and notional)."""
        self.risk = PreTradeEngine(limits, portfolio=self.portfolio, om=self.om,
                                   now=self.clock.now)
        self._risk_watch = self.risk.watching

    # -- trading state (heron.risk.state) -----------------------------------------------------
    @property
    def trading_state(self) -> TradingState:
        """What the run's trading state allows (the router's and the gate's view)."""
        return self.machine.allows

    def use_state_limits(self, limits: StateLimits) -> TriggerMonitor:
        """Watch the ``[state]`` triggers (call before the run starts)."""
        self.monitor = TriggerMonitor(limits, self.machine, self.portfolio, self.om)
        self._watch_events = True
        if self.machine.state is not RunState.INIT:  # a running node: arm its timers now
            self._arm(self.monitor)
        return self.monitor

    def start_trading(self) -> None:
        """INIT -> READY as the strategies start; arm the configured timers."""
        self.machine.start()
        if self.monitor is not None:
            self._arm(self.monitor)
        if self._portfolio_start is not None:
            self._at_market_time(self._portfolio_start)

    def use_risk_config(self, cfg: RiskConfig) -> None:
        """A whole risk file (heron.risk.config): pre-trade limits, the ``[state]``
        triggers and the ``[portfolio]`` monitor. Call before the run starts (a live run:
        after its restore, so the pre-trade engine sees the restored orders)."""
        self.use_risk(cfg.limits)
        if cfg.state is not None:
            self.use_state_limits(cfg.state)
        if cfg.portfolio is not None:
            self.portfolio_risk, start = watch_portfolio(
                cfg.portfolio, self.portfolio, self.kernel.schedule, self.machine.fire)
            self._portfolio_start = start
            if self.machine.state is not RunState.INIT:
                self._at_market_time(start)

    def _at_market_time(self, start: Callable[[int], None]) -> None:
        """Schedule ``start`` at the clock's time in a backtest; at the first event in
        paper and live (their clock has no time before it)."""
        if self.clock.ts:
            self.kernel.schedule(self.clock.ts, start)
        else:
            self.deferred.append(start)

    def _arm(self, monitor: TriggerMonitor) -> None:
        """Schedule the configured kill switch and the equity checks on the kernel."""
        kill_at = monitor.limits.kill_at_ns()
        if kill_at is not None:
            def kill(ts: int) -> None:
                self.kill(flatten=monitor.limits.kill_flatten,
                          reason=f"kill_at {monitor.limits.kill_at}", actor="config")

            self.kernel.schedule(kill_at, kill)
        if monitor.limits.watches_equity:
            every = monitor.limits.check_every_s * 1_000_000_000

            def check(ts: int) -> None:
                monitor.check_equity(ts)
                self.kernel.schedule(ts + every, check)

            self._at_market_time(check)

    def kill(self, *, flatten: bool, reason: str, actor: str) -> bool:
        """The kill switch (CLI, API, configured): HALTED now, or REDUCING with
        ``flatten`` (then HALTED once flat). True if the state moved."""
        return self.machine.kill(flatten=flatten, reason=reason, actor=actor)

    def resume(self, *, reason: str, actor: str) -> bool:
        """An operator brings a DEGRADED or HALTED run back to READY."""
        if self.monitor is not None:
            self.monitor.rebase()
        return self.machine.resume(reason=reason, actor=actor)

    def feed_health(self, health: FeedHealth) -> None:
        """A feed's health report (paper and live): stale or gapped degrades the run."""
        monitor = self.monitor or self.use_state_limits(StateLimits())  # feed: on by default
        monitor.on_feed(health)

    def journal_state(self, change: TradingStateChanged) -> None:
        """Journal a state change (the machine's record callback, via the driver)."""
        self._record(change)
        self._watch_events = (self.monitor is not None
                              or self.machine.state is not RunState.READY)

    def account_changed(self, ts: int, instrument_id: str) -> None:
        """A fill or funding changed the account (the modes record equity here)."""

    def equity_curve(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        """``(ts, equity, exposed)`` of the run; each mode samples it its own way."""
        raise NotImplementedError

    def _header(self, cash: Decimal, venue: SimVenueConfig, precision: int) -> dict[str, Any]:
        return {
            "kind": "backtest", "money_precision": precision, "starting_cash": str(cash),
            "instruments": [i.to_dict() for i in self.instruments],
            "strategies": [{"id": s.strategy_id, "name": s.name,
                            "params": {k: str(v) for k, v in s.param_values.items()}}
                           for s in self.strategies],
            "venue": {k: (str(v) if v is not None else None)
                      for k, v in zip(venue.__struct_fields__, _fields(venue), strict=True)},
        }

    # -- commands from strategies --------------------------------------------------------------
    def send(self, cmd: Record) -> None:
        """Route a strategy's command: journal it, then hand it to the venue -- unless
        the trading state forbids it (a denial or a rejected amend, journaled)."""
        if self.machine.state is not RunState.READY and self._refused(cmd):
            return
        if not self._unchecked:
            checked = self._pretrade(cmd)
            if checked is None:
                return
            cmd = checked
        self._record(cmd)
        if isinstance(cmd, SubmitOrder):
            self._submit(cmd)
        elif isinstance(cmd, CancelOrder):
            if self._request(cmd, OrderCancelRequested, OrderCancelRejected):
                self.venue.cancel(cmd)
        elif isinstance(cmd, AmendOrder):
            if self._request(cmd, OrderUpdateRequested, OrderUpdateRejected):
                self.venue.amend(cmd)
        elif isinstance(cmd, CancelAllOrders):
            self.venue.cancel_all(cmd)

    def _pretrade(self, cmd: Record) -> Record | None:
        """The pre-trade risk engine's answer: the command to route (maybe reduced by
        self-trade prevention, whose cancels/amends go first), or None when refused."""
        if isinstance(cmd, SubmitOrder):
            verdict = self.risk.check_submit(cmd)
            if verdict is None:
                return cmd
            if isinstance(verdict, Denial):
                self.deny(cmd, verdict.reason, verdict.rule)
                return None
            self._unchecked = True
            try:
                for before in verdict.before:
                    self.send(before)
            finally:
                self._unchecked = False
            if verdict.denial is not None:  # decrement-both took all of it
                self.deny(cmd, verdict.denial.reason, verdict.denial.rule)
                return None
            return verdict.cmd
        if isinstance(cmd, (AmendOrder, CancelOrder)):
            denial = (self.risk.check_amend(cmd) if isinstance(cmd, AmendOrder)
                      else self.risk.check_cancel(cmd))
            if denial is not None:  # the order stays as it was: a venue-style refusal
                self._record(cmd)
                self.risk.count(denial.rule)
                now = self.clock.ts
                kind = OrderUpdateRejected if isinstance(cmd, AmendOrder) else OrderCancelRejected
                self.emit(kind(now, now, cmd.client_order_id, cmd.instrument_id, denial.reason))
                return None
        return cmd

    def _submit(self, cmd: SubmitOrder) -> None:
        order = self.om.apply(cmd)
        assert order is not None  # a SubmitOrder always makes an order
        if self.venue.announces_requests:  # live: OrderSubmitted once the request is out
            self.venue.submit(cmd)
        else:
            now = self.clock.ts
            self.emit(OrderSubmitted(now, now, cmd.client_order_id, cmd.instrument_id))
            if order.status is OrderStatus.SUBMITTED:  # not canceled by its on_order
                self.venue.submit(cmd)
        if order.status is OrderStatus.SUBMITTED:  # a live venue answers later
            self.state_driver.track(order)

    def _refused(self, cmd: Record) -> bool:
        why = self.state_driver.refusal(cmd)
        if why is None:
            return False
        self.denied_by_state += 1
        if isinstance(cmd, SubmitOrder):
            self.deny(cmd, why)
        elif isinstance(cmd, AmendOrder):  # the order stays as it is
            self._record(cmd)
            now = self.clock.ts
            self.emit(OrderUpdateRejected(now, now, cmd.client_order_id, cmd.instrument_id,
                                          why))
        return True

    def _record(self, record: Record) -> None:
        """Journal a command or event and show it to the bus's ``records`` subscribers."""
        self.journal.append(record)
        if self._observers:
            for observer in tuple(self._observers):
                observer(record)

    def _request(self, cmd: CancelOrder | AmendOrder, requested: type[OrderEvent],
                 refused: type[OrderEvent]) -> bool:
        """Mark an open order as pending the cancel/amend (a live venue marks it once the
        request is out), or refuse it: not open, or on its way out. A cancel while a
        cancel is in flight is not sent again (the first one's answer answers both), and
        is only counted: a strategy that cancels on every tick until it hears back must
        neither double its requests nor be refused for it."""
        order = self.om.orders.get(cmd.client_order_id)
        now = self.clock.ts
        if order is not None and order.status is OrderStatus.PENDING_CANCEL:
            if isinstance(cmd, CancelOrder):
                self.repeated_cancels += 1
                return False
            why = "order is being canceled"
        elif order is None or not order.is_open:
            why = f"order is {'unknown' if order is None else order.status.value}, not open"
        else:
            if not self.venue.announces_requests:  # live: once the request is out
                self.emit(requested(now, now, cmd.client_order_id, cmd.instrument_id))
            return True
        self.emit(refused(now, now, cmd.client_order_id, cmd.instrument_id,  # type: ignore[call-arg]
                          why))
        return False

    def deny(self, cmd: SubmitOrder, reason: str, rule: str = "validity") -> None:
        """Refuse an order before any venue sees it (bad price grid, bad size, a risk
        limit ...); ``rule`` names what refused it, counted in ``risk.denials_by_rule``."""
        self._record(cmd)
        self.om.apply(cmd)
        self.risk.count(rule)
        now = self.clock.ts
        self.emit(OrderDenied(now, now, cmd.client_order_id, cmd.instrument_id, reason, rule))

    # -- events from the venue ------------------------------------------------------------------
    def emit(self, event: Record) -> None:
        """Journal an event, apply it to orders and portfolio, then tell the strategy."""
        self._record(event)
        order = self.om.apply(event)
        if self._risk_watch and order is not None:
            self.risk.observe(order, event)
        kind = type(event)
        if kind is OrderFilled or kind is FundingApplied:
            self.account_changed(event.ts_event, event.instrument_id)  # type: ignore[attr-defined]
        if self._watch_events:
            self._state_event(event, kind)
        if order is None:
            return
        if order.strategy_id == VENUE_ORIGIN and kind is OrderFilled:
            self._tell_traders(order, event)  # a liquidation: every strategy of it must know
            return
        hook = self._hooks.get((order.strategy_id, kind is OrderFilled))
        if hook is None:
            return  # not our strategy's order, or the strategy does not override the hook
        self._call(hook, order, event)

    def _state_event(self, event: Record, kind: type) -> None:
        """Triggers from events (fills, rejections), then the state's own actions."""
        monitor = self.monitor
        if monitor is not None:
            if kind is OrderFilled:
                monitor.on_fill(self.clock.ts)
            elif kind is OrderRejected:
                monitor.on_rejection(self.clock.ts, event.reason)  # type: ignore[attr-defined]
        self.state_driver.on_event(event)

    def _tell_traders(self, order: Any, event: Record) -> None:
        """Show a venue-originated fill to each strategy trading its instrument."""
        inst = self.portfolio.instruments[order.instrument_id]
        for strategy in self.strategies:
            hook = self._hooks.get((strategy.strategy_id, True))
            wanted = strategy.instrument_filter
            if hook is not None and (wanted is None or inst.id in wanted
                                     or inst.symbol in wanted):
                self._call(hook, order, event)

    def _call(self, hook: Callable[[Any, Any], None], order: Any, event: Record) -> None:
        """Run a strategy hook in the context of the order's instrument."""
        ctx = self.ctx
        slot = ctx.slots.get(order.instrument_id, ctx.slot)
        if slot == ctx.slot:
            hook(order, event)
            return
        saved = ctx.slot, ctx.index  # handle the event in its instrument's context
        ctx.slot, ctx.index = slot, ctx.last_index[slot]
        try:
            hook(order, event)
        finally:
            ctx.slot, ctx.index = saved

    def _order_hooks(self) -> dict[tuple[str, bool], Callable[[Any, Any], None]]:
        """``(strategy_id, is_fill) -> bound hook``, only for hooks a strategy overrides:
        calling an empty ``on_order`` for every accepted order costs for nothing."""
        hooks: dict[tuple[str, bool], Callable[[Any, Any], None]] = {}
        for strategy in self.strategies:
            cls = type(strategy)
            if cls.on_fill is not Strategy.on_fill:
                hooks[(strategy.strategy_id, True)] = strategy.on_fill
            if cls.on_order is not Strategy.on_order:
                hooks[(strategy.strategy_id, False)] = strategy.on_order
        return hooks


def _funding_callback(venue: SimVenue, iid: str, rate: Decimal) -> Callable[[int], None]:
    def apply(ts: int) -> None:
        venue.on_funding(iid, rate, ts)

    return apply


def _fields(struct: Any) -> list[Any]:
    return [getattr(struct, name) for name in struct.__struct_fields__]
