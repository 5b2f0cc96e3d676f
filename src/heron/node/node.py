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
    OrderSubmitted,
    OrderUpdateRejected,
    OrderUpdateRequested,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN, OrderStatus
from heron.model.portfolio import Portfolio
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
                 journal_in_place: bool = False, id_tag: str = "H") -> None:
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
            in_place=journal_in_place)
        self.bus = MessageBus()
        self._observers = self.bus.handlers(RECORDS)
        self.venue = SimVenue(instruments=instruments, portfolio=self.portfolio, ids=self.ids,
                              clock=self.clock, emit=self.emit, config=venue)
        self.ctx = StrategyContext(
            instruments=instruments, portfolio=self.portfolio, om=self.om, ids=self.ids,
            clock=self.clock, send=self.send, deny=self.deny, schedule=self.kernel.schedule,
            series=series or [])
        self.trading_state = TradingState.NORMAL
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
        """Route a strategy's command: journal it, then hand it to the venue."""
        self._record(cmd)
        if isinstance(cmd, SubmitOrder):
            order = self.om.apply(cmd)
            now = self.clock.ts
            self.emit(OrderSubmitted(now, now, cmd.client_order_id, cmd.instrument_id))
            if order is not None and order.status is OrderStatus.SUBMITTED:
                self.venue.submit(cmd)
        elif isinstance(cmd, CancelOrder):
            if self._request(cmd, OrderCancelRequested, OrderCancelRejected):
                self.venue.cancel(cmd)
        elif isinstance(cmd, AmendOrder):
            if self._request(cmd, OrderUpdateRequested, OrderUpdateRejected):
                self.venue.amend(cmd)
        elif isinstance(cmd, CancelAllOrders):
            self.venue.cancel_all(cmd)

    def _record(self, record: Record) -> None:
        """Journal a command or event and show it to the bus's ``records`` subscribers."""
        self.journal.append(record)
        if self._observers:
            for observer in tuple(self._observers):
                observer(record)

    def _request(self, cmd: CancelOrder | AmendOrder, requested: type[OrderEvent],
                 refused: type[OrderEvent]) -> bool:
        """Mark an open order as pending the cancel/amend, or refuse it if not open."""
        order = self.om.orders.get(cmd.client_order_id)
        now = self.clock.ts
        if order is None or not order.is_open:
            state = "unknown" if order is None else order.status.value
            self.emit(refused(now, now, cmd.client_order_id, cmd.instrument_id,  # type: ignore[call-arg]
                              f"order is {state}, not open"))
            return False
        self.emit(requested(now, now, cmd.client_order_id, cmd.instrument_id))
        return True

    def deny(self, cmd: SubmitOrder, reason: str) -> None:
        """Refuse an order before any venue sees it (bad price grid, bad size ...)."""
        self._record(cmd)
        self.om.apply(cmd)
        now = self.clock.ts
        self.emit(OrderDenied(now, now, cmd.client_order_id, cmd.instrument_id, reason))

    # -- events from the venue ------------------------------------------------------------------
    def emit(self, event: Record) -> None:
        """Journal an event, apply it to orders and portfolio, then tell the strategy."""
        self._record(event)
        order = self.om.apply(event)
        kind = type(event)
        if kind is OrderFilled or kind is FundingApplied:
            self.account_changed(event.ts_event, event.instrument_id)  # type: ignore[attr-defined]
        if order is None:
            return
        if order.strategy_id == VENUE_ORIGIN and kind is OrderFilled:
            self._tell_traders(order, event)  # a liquidation: every strategy of it must know
            return
        hook = self._hooks.get((order.strategy_id, kind is OrderFilled))
        if hook is None:
            return  # not our strategy's order, or the strategy does not override the hook
        self._call(hook, order, event)

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
