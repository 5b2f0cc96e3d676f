"""The backtest node: one composition of clock, kernel, venue, portfolio and strategies.

Paper and live trading build the same parts with a wall clock and a live data feed
(and, for live, a real venue client); only this file's data loop is backtest-only.

The loop walks a time-sorted merge of every instrument's bars. For each bar it fires
due timers, lets the simulated venue work that instrument's orders (only when it has
any, or a margined position to watch), updates the mark, and calls the strategies.
It is the hot path of every backtest: reads go through ``memoryview`` (plain Python
scalars, no NumPy boxing), bars are small structs, and everything else happens only
when an order or fill does. Bars go straight to the strategies' ``on_bar``; every
journaled command and event is also published on the message bus (topic ``records``)
for observers such as metrics exporters and, later, the API's live stream.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from heron.core.bus import MessageBus
from heron.core.clock import SimClock
from heron.core.ids import IdGenerator
from heron.core.journal import JournalWriter
from heron.core.kernel import Kernel
from heron.execution.order_manager import OrderManager
from heron.model.data import Bar
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
from heron.model.orders import VENUE_ORIGIN, OrderStatus
from heron.model.portfolio import Portfolio
from heron.node.bar_series import BarSeries
from heron.node.equity import EquityRecorder
from heron.strategy.base import Strategy
from heron.strategy.context import StrategyContext
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.venue import SimVenue

Progress = Callable[[int, int], None]
#: bus topic carrying every journaled command and event, in journal order
RECORDS = "records"
CHUNK = 1 << 16


class BacktestEngine:
    """Runs strategies over bars against the simulated venue; journals everything."""

    def __init__(self, *, series: list[BarSeries], strategies: list[Strategy],
                 cash: Decimal, venue: SimVenueConfig, journal_path: Any = None,
                 funding: dict[str, list[tuple[int, Decimal]]] | None = None,
                 money_precision: int | None = None) -> None:
        self.series = series
        self.instruments = [s.instrument for s in series]
        precision = money_precision or max(
            [8, *(i.notional_precision for i in self.instruments)])
        self.clock = SimClock(int(series[0].ts[0]) if len(series[0]) else 0)
        self.kernel = Kernel(self.clock)
        self.ids = IdGenerator("H")
        self.portfolio = Portfolio(self.instruments, int(cash.scaleb(precision)), precision)
        self.om = OrderManager(self.portfolio)
        self.strategies = strategies
        self._by_id = {s.strategy_id: s for s in strategies}
        if len(self._by_id) != len(strategies):
            raise ValueError("two strategies share a strategy_id; give each its own")
        self.journal = JournalWriter(journal_path, self._header(cash, venue, precision))
        self.bus = MessageBus()
        self._observers = self.bus.handlers(RECORDS)
        self.venue = SimVenue(instruments=self.instruments, portfolio=self.portfolio,
                              ids=self.ids, clock=self.clock, emit=self.emit, config=venue)
        self.equity = EquityRecorder(self.portfolio, self.instruments)
        self.ctx = StrategyContext(
            instruments=self.instruments, portfolio=self.portfolio, om=self.om, ids=self.ids,
            clock=self.clock, send=self.send, deny=self.deny, schedule=self.kernel.schedule,
            series=[s.prices for s in series])
        for iid, events in (funding or {}).items():
            for ts, rate in events:
                self.kernel.schedule(ts, _funding_callback(self.venue, iid, rate))
        self.bars_processed = 0
        self._hooks = self._order_hooks()

    def _header(self, cash: Decimal, venue: SimVenueConfig, precision: int) -> dict[str, Any]:
        return {
            "kind": "backtest", "money_precision": precision, "starting_cash": str(cash),
            "instruments": [i.to_dict() for i in self.instruments],
            "strategies": [{"id": s.strategy_id, "name": s.name,
                            "params": {k: str(v) for k, v in s.param_values.items()}}
                           for s in self.strategies],
            "venue": {k: (str(v) if v is not None else None)
                      for k, v in zip(venue.__struct_fields__, _fields(venue), strict=True)},
            "bars": {s.instrument.id: len(s) for s in self.series},
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
            self.equity.record(event.ts_event, event.instrument_id)  # type: ignore[attr-defined]
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

    # -- the run ---------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> None:
        for strategy in self.strategies:
            strategy.bind(self.ctx)
            strategy.on_start()
        ts, slots, index = _timeline(self.series)
        total = len(ts)
        single = len(self.series) == 1
        try:
            for start in range(0, total, CHUNK):
                # Orders, fills and round trips are long-lived acyclic objects: without
                # this, every full collection rescans all of them (about a quarter of the
                # order path at 1M bars). Frozen objects are still freed by refcount.
                gc.freeze()
                if single:
                    self._loop_single(start, min(start + CHUNK, total))
                else:
                    self._loop(ts, slots, index, start, min(start + CHUNK, total))
                if progress is not None:
                    progress(min(start + CHUNK, total), total)
            for strategy in self.strategies:
                strategy.on_stop()
            self.journal.close()
        except BaseException:
            self.journal.abort()
            raise
        finally:
            gc.unfreeze()
        self.bars_processed = total

    def _loop(self, ts_mv: Any, slot_mv: Any, idx_mv: Any, start: int, stop: int) -> None:
        """Bars ``start..stop`` of the merged timeline (several instruments)."""
        ctx, clock, venue = self.ctx, self.clock, self.venue
        heap, run_due = self.kernel.heap, self.kernel.run_due
        marks, last_index, bars_now = self.portfolio.marks, ctx.last_index, venue.bars
        insts = self.instruments
        iids = [inst.id for inst in insts]
        cols = [_columns(s) for s in self.series]
        working = [venue.working[iid] for iid in iids]
        positions = ctx.positions
        watch = [inst.is_perpetual and inst.margin_maint > 0 for inst in insts]
        handlers = self._handlers()
        for k in range(start, stop):
            ts = ts_mv[k]
            s = slot_mv[k]
            j = idx_mv[k]
            if heap and heap[0][0] <= ts:
                run_due(ts)
            clock.ts = ts
            o, h, lo, c, v = cols[s]
            bar = Bar(insts[s], ts, j, o[j], h[j], lo[j], c[j], v[j])
            iid = iids[s]
            if working[s] or (watch[s] and positions[s].qty):
                venue.on_bar(iid, bar)
            bars_now[iid] = bar
            marks[iid] = bar.close
            ctx.slot = s
            ctx.index = j
            last_index[s] = j
            for handler in handlers[s]:
                handler(bar)

    def _loop_single(self, start: int, stop: int) -> None:
        """The same loop specialised for one instrument, the common case.

        It is :meth:`_loop` with the per-bar slot lookups hoisted out; kept separate
        because it is the measured hot path of every single-instrument backtest
        (bench/bench_backtest.py), where those lookups cost a fifth of the time.
        """
        ctx, clock, venue = self.ctx, self.clock, self.venue
        heap, run_due = self.kernel.heap, self.kernel.run_due
        marks, last_index, bars_now = self.portfolio.marks, ctx.last_index, venue.bars
        series = self.series[0]
        inst, iid = series.instrument, series.instrument.id
        ts_mv, (o, h, lo, c, v) = series.ts.data, _columns(series)
        working = venue.working[iid]
        position = ctx.positions[0]
        watch = inst.is_perpetual and inst.margin_maint > 0
        handlers = self._handlers()[0]
        only = handlers[0] if len(handlers) == 1 else self._fan_out(handlers)
        ctx.slot = 0
        for j in range(start, stop):
            ts = ts_mv[j]
            if heap and heap[0][0] <= ts:
                run_due(ts)
            clock.ts = ts
            close = c[j]
            bar = Bar(inst, ts, j, o[j], h[j], lo[j], close, v[j])
            if working or (watch and position.qty):
                venue.on_bar(iid, bar)
            bars_now[iid] = bar
            marks[iid] = close
            ctx.index = j  # ctx.slot stays 0: emit() restores it after any callback
            only(bar)
        last_index[0] = stop - 1

    @staticmethod
    def _fan_out(handlers: list[Callable[[Bar], None]]) -> Callable[[Bar], None]:
        def call_all(bar: Bar) -> None:
            for handler in handlers:
                handler(bar)

        return call_all

    def _handlers(self) -> list[list[Callable[[Bar], None]]]:
        out: list[list[Callable[[Bar], None]]] = []
        for inst in self.instruments:
            out.append([s.on_bar for s in self.strategies
                        if s.instrument_filter is None or inst.id in s.instrument_filter
                        or inst.symbol in s.instrument_filter])
        return out


def _columns(s: BarSeries) -> tuple[memoryview, ...]:
    """Per-bar columns as memoryviews: indexing yields plain ints/floats, no NumPy boxing."""
    return (s.open.data, s.high.data, s.low.data, s.close.data, s.volume.data)


def _timeline(series: list[BarSeries]) -> tuple[memoryview, memoryview, memoryview]:
    """All bars merged by time (ties: instrument order), as (ts, slot, index) views."""
    if len(series) == 1:
        empty = np.zeros(0, dtype=np.int64).data
        return series[0].ts.data, empty, empty
    ts = np.concatenate([s.ts for s in series])
    slots = np.concatenate([np.full(len(s), k, dtype=np.int64) for k, s in enumerate(series)])
    index = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
    order = np.lexsort((index, slots, ts))
    return (np.ascontiguousarray(ts[order]).data, np.ascontiguousarray(slots[order]).data,
            np.ascontiguousarray(index[order]).data)


def _funding_callback(venue: SimVenue, iid: str, rate: Decimal) -> Callable[[int], None]:
    def apply(ts: int) -> None:
        venue.on_funding(iid, rate, ts)

    return apply


def _fields(struct: Any) -> list[Any]:
    return [getattr(struct, name) for name in struct.__struct_fields__]


__all__ = ["RECORDS", "BacktestEngine"]
