"""The simulated venue: accepts, rests, triggers and fills orders against market data.

It implements the same venue seam as the live adapters (``submit``, ``cancel``,
``amend``, ``cancel_all``, ``snapshot``); every answer is an event passed to ``emit``,
never a return value. Backtest and paper trading both use it, so fills are computed
by one piece of code in both modes.

Fills against bars follow :mod:`heron.venues.sim.bar_path`; market orders fill at the
next bar's open or at the current close (:class:`~heron.venues.sim.config.FillAt`).
Takers pay the taker fee and slippage; an order that was resting when the price came
to it is a maker. Sizes sized from an equity fraction are fixed at fill time.

With ``latency_ns`` each command waits that long on the node's kernel before the venue
handles it (an order is accepted and matched on arrival, a cancel may find it filled).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from heron.core.ids import IdGenerator
from heron.model.book import L2Book
from heron.model.data import Bar, BookSide
from heron.model.events import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
    OrderUpdateRejected,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN, OrderSide, OrderType, TimeInForce
from heron.model.portfolio import Portfolio, fraction_of
from heron.venues.sim import bar_path as bp
from heron.venues.sim.config import FillAt, SimVenueConfig
from heron.venues.sim.margin import MarginDesk
from heron.venues.sim.orders import SimOrder
from heron.venues.sim.validation import check_reduce_only, check_shape, check_size


class SimVenue:
    """One simulated account on one simulated exchange."""

    #: the engine emits a command's event (``OrderSubmitted``, ``OrderCancelRequested``,
    #: ``OrderUpdateRequested``) before it hands the command over (a live venue emits its
    #: own once the request is out: ``LiveExecution.announces_requests``)
    announces_requests = False

    def __init__(self, *, instruments: list[Instrument], portfolio: Portfolio,
                 ids: IdGenerator, clock: Any, emit: Callable[[Record], None],
                 config: SimVenueConfig,
                 schedule: Callable[[int, Callable[[int], None]], None] | None = None) -> None:
        if config.latency_ns and schedule is None:
            raise ValueError("an order latency needs the node's kernel to delay commands; "
                             "pass schedule")
        self.config = config
        self._schedule = schedule
        self.instruments = {inst.id: inst for inst in instruments}
        self.portfolio = portfolio
        self.ids = ids
        self.clock = clock
        self.emit = emit
        self.working: dict[str, list[SimOrder]] = {iid: [] for iid in self.instruments}
        self._by_id: dict[str, SimOrder] = {}
        self.bars: dict[str, Bar] = {}
        #: L2 books of instruments replayed with depth data: orders then fill against them
        self.books: dict[str, L2Book] = {}
        self._seq = 0
        self._budget_left: dict[str, tuple[int, int]] = {}  # iid -> (bar ts, lots left)
        self._slip = Fraction(config.slippage_bps) / 10_000
        self.margin = MarginDesk(portfolio, self.instruments, config.leverage)

    # -- the venue seam ----------------------------------------------------------------------
    def submit(self, cmd: SubmitOrder) -> None:
        self._arrive(self._submit, cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        self._arrive(self._cancel, cmd)

    def cancel_all(self, cmd: CancelAllOrders) -> None:
        self._arrive(self._cancel_all, cmd)

    def amend(self, cmd: AmendOrder) -> None:
        self._arrive(self._amend, cmd)

    def _arrive(self, handle: Callable[[Any], None], cmd: Record) -> None:
        """Handle ``cmd`` now, or ``latency_ns`` later (commands keep their order: the
        kernel runs equal times first in, first out)."""
        latency = self.config.latency_ns
        if not latency:
            handle(cmd)
            return
        assert self._schedule is not None
        self._schedule(self.clock.now() + latency, lambda _ts: handle(cmd))

    def _submit(self, cmd: SubmitOrder) -> None:
        now = self.clock.now()
        inst = self.instruments.get(cmd.instrument_id)
        if inst is None:
            self._reject(cmd, f"unknown instrument {cmd.instrument_id}", now)
            return
        bar = self.bars.get(cmd.instrument_id)
        pos = self.portfolio.positions[cmd.instrument_id].qty
        reason = (check_shape(cmd) or check_size(cmd, inst, bar.close if bar else None)
                  or check_reduce_only(cmd, pos))
        if reason is None and cmd.post_only and bar and self.config.fill_at is FillAt.CLOSE:
            reason = self._post_only_conflict(cmd, bar.close)
        if reason:
            self._reject(cmd, reason, now)
            return
        self._seq += 1
        order = SimOrder(cmd, self.ids.venue_order_id(), self._seq)
        self.emit(OrderAccepted(now, now, cmd.client_order_id, cmd.instrument_id,
                                order.venue_order_id))
        self._by_id[order.client_order_id] = order
        self.working[order.instrument_id].append(order)
        book = self.books.get(order.instrument_id)
        if book is not None and not book.needs_snapshot:
            if order.triggered:  # a stop waits for a trade at its trigger
                self._arrive_at_book(order, book)
        elif self.config.fill_at is FillAt.CLOSE and bar is not None:
            self._arrive_at_close(order, bar)

    def _cancel(self, cmd: CancelOrder) -> None:
        now = self.clock.now()
        order = self._by_id.get(cmd.client_order_id)
        if order is None:
            self.emit(OrderCancelRejected(now, now, cmd.client_order_id, cmd.instrument_id,
                                          "order is not open at the venue"))
            return
        self._close(order, OrderCanceled(now, now, order.client_order_id,
                                         order.instrument_id, "canceled by strategy"))

    def _cancel_all(self, cmd: CancelAllOrders) -> None:
        for order in list(self.working.get(cmd.instrument_id, ())):
            if order.strategy_id == cmd.strategy_id:
                now = self.clock.now()
                self._close(order, OrderCanceled(now, now, order.client_order_id,
                                                 order.instrument_id, "canceled by strategy"))

    def _amend(self, cmd: AmendOrder) -> None:
        now = self.clock.now()
        order = self._by_id.get(cmd.client_order_id)
        reason = _amend_problem(order, cmd)
        if order is None or reason:
            self.emit(OrderUpdateRejected(now, now, cmd.client_order_id, cmd.instrument_id,
                                          reason or "order is not open at the venue"))
            return
        if cmd.quantity is not None:
            order.quantity = cmd.quantity
        if cmd.price is not None:
            order.price = cmd.price
        if cmd.trigger_price is not None:
            order.trigger = cmd.trigger_price
        self.emit(OrderUpdated(now, now, order.client_order_id, order.instrument_id,
                               order.quantity, order.price, order.trigger))

    def snapshot(self) -> dict[str, Any]:
        """Orders, positions and balance as the venue holds them (for reconciliation)."""
        return {
            "orders": sorted(self._by_id),
            "positions": {iid: p.qty for iid, p in self.portfolio.positions.items() if p.qty},
            "balance": self.portfolio.balance,
        }

    # -- market data ---------------------------------------------------------------------------
    def on_bar(self, iid: str, bar: Bar) -> None:
        """Work the instrument's orders through one bar, then check its margin."""
        self.bars[iid] = bar
        orders = self.working[iid]
        if orders:
            self._work_bar(iid, orders, bar)
        if self.margin.watching(iid):
            liquidation = self.margin.check(iid, bar)
            if liquidation is not None:
                self._liquidate(iid, liquidation)
        self.portfolio.marks[iid] = bar.close

    def on_funding(self, iid: str, rate: Decimal, ts: int) -> None:
        event = self.margin.funding(iid, rate, ts)
        if event is not None:
            self.emit(event)

    # -- tick and book data ----------------------------------------------------------------------
    def on_trade(self, iid: str, price: int, size: int) -> None:
        """A trade printed: triggers stops at or through it and fills resting limits it
        trades *through* (strictly better than the limit: the queue at the limit itself
        is unknown, so touching it is not assumed to fill), up to the traded size."""
        orders = self.working[iid]
        if not orders:
            return
        budget = size
        for order in list(orders):
            if order.client_order_id not in self._by_id or budget <= 0:
                continue
            if not order.triggered:
                assert order.trigger is not None
                hit = price >= order.trigger if order.is_buy else price <= order.trigger
                if not hit:
                    continue
                self._trigger(order)
                self._arrive_at_book_or_price(order, price)
            elif order.is_limit and order.arrived:
                assert order.price is not None
                through = price < order.price if order.is_buy else price > order.price
                if through:
                    budget = self._execute(order, order.price, False, budget) or 0

    def on_book(self, iid: str) -> None:
        """The book changed (end of a venue message): resting limits that the opposite
        side now reaches fill at their limit as makers; working market orders take what
        the book offers."""
        book = self.books[iid]
        if book.needs_snapshot:
            return
        for order in list(self.working[iid]):
            if order.client_order_id not in self._by_id or not order.triggered:
                continue
            if order.order_type is OrderType.MARKET or not order.arrived:
                self._arrive_at_book(order, book)
                continue
            assert order.price is not None
            available = self._depth_up_to(book, order, order.price)
            if available:
                self._execute(order, order.price, False, available)

    def _arrive_at_book(self, order: SimOrder, book: L2Book) -> None:
        """Take liquidity level by level (taker) up to the limit; the rest rests (GTC),
        waits for liquidity (market), or is canceled (IOC/FOK)."""
        order.arrived = True
        side = BookSide.ASK if order.is_buy else BookSide.BID
        levels = book.levels(side)
        if order.price is not None:
            limit = order.price
            levels = [(p, q) for p, q in levels if (p <= limit if order.is_buy else p >= limit)]
        if order.post_only and levels:
            self._close(order, _canceled(self, order, "post-only order would take liquidity"))
            return
        if order.time_in_force is TimeInForce.FOK and order.quantity and \
                sum(q for _, q in levels) < order.leaves:
            self._expire_unfilled(order)
            return
        order.sweeping = True
        try:
            for price, lots in levels:
                if order.client_order_id not in self._by_id:
                    return
                self._execute(order, price, True, lots)
        finally:
            order.sweeping = False
        if order.client_order_id in self._by_id and order.is_immediate:
            self._expire_unfilled(order)

    def _arrive_at_book_or_price(self, order: SimOrder, price: int) -> None:
        """A triggered stop: against the book when there is one, else at the trade."""
        book = self.books.get(order.instrument_id)
        if book is not None and not book.needs_snapshot:
            self._arrive_at_book(order, book)
        elif order.order_type is OrderType.STOP:
            self._execute(order, price, True, None)
        else:
            order.arrived = True

    @staticmethod
    def _depth_up_to(book: L2Book, order: SimOrder, limit: int) -> int:
        side = BookSide.ASK if order.is_buy else BookSide.BID
        return sum(q for p, q in book.levels(side)
                   if (p <= limit if order.is_buy else p >= limit))

    # -- working orders ---------------------------------------------------------------------
    def _work_bar(self, iid: str, orders: list[SimOrder], bar: Bar) -> None:
        path = bp.bar_path(bar.open, bar.high, bar.low, bar.close)
        touched: list[tuple[bp.Touch, int, SimOrder, bool]] = []
        for order in list(orders):
            result = self._touch(order, path)
            # IOC/FOK take what is there when they arrive; a level reached later in the
            # bar would be a resting (maker) fill, which they may not wait for.
            if result is not None and (result[1] or not order.is_immediate):
                touch, taker = result
                touched.append((touch, order.seq, order, taker))
            elif not order.arrived and order.is_immediate:
                self._expire_unfilled(order)
            order.arrived = True
        budget = self._volume_budget(iid, bar)
        for touch, _seq, order, taker in sorted(touched, key=lambda t: (t[0], t[1])):
            if order.client_order_id in self._by_id:
                budget = self._execute(order, touch[2], taker, budget)
        self._spend(iid, bar, budget)

    def _touch(self, order: SimOrder, path: tuple[int, ...]) -> tuple[bp.Touch, bool] | None:
        """Where on ``path`` the order first trades, and whether it takes liquidity."""
        arriving = not order.arrived
        if not order.triggered:
            assert order.trigger is not None
            finder = bp.first_at_or_above if order.is_buy else bp.first_at_or_below
            hit = finder(path, order.trigger)
            if hit is None:
                return None
            self._trigger(order)
            if order.order_type is OrderType.STOP:
                return hit, True
            path, arriving = bp.rest_of_path(path, hit), True
            limit_hit = self._limit_touch(order, path)
            return None if limit_hit is None else (
                (hit[0], hit[1], limit_hit[2]), arriving and limit_hit[0] == 0)
        if order.order_type in (OrderType.MARKET, OrderType.STOP):  # a triggered stop is one
            return (0, 0, path[0]), True
        hit = self._limit_touch(order, path)
        if hit is None:
            return None
        return hit, arriving and hit[0] == 0

    def _limit_touch(self, order: SimOrder, path: tuple[int, ...]) -> bp.Touch | None:
        assert order.price is not None
        finder = bp.first_at_or_below if order.is_buy else bp.first_at_or_above
        return finder(path, order.price)

    def _arrive_at_close(self, order: SimOrder, bar: Bar) -> None:
        """``fill_at=close``: the order meets the market at the current bar's close."""
        path = (bar.close,)
        result = self._touch(order, path)
        order.arrived = True
        if result is not None:
            budget = self._volume_budget(order.instrument_id, bar)
            budget = self._execute(order, result[0][2], result[1], budget)
            self._spend(order.instrument_id, bar, budget)
        elif order.is_immediate:
            self._expire_unfilled(order)

    def _trigger(self, order: SimOrder) -> None:
        order.triggered = True
        now = self.clock.now()
        if order.order_type is OrderType.STOP_LIMIT:
            self.emit(OrderTriggered(now, now, order.client_order_id, order.instrument_id))

    def _post_only_conflict(self, cmd: SubmitOrder, market: int) -> str | None:
        assert cmd.price is not None
        crosses = cmd.price >= market if cmd.side == "buy" else cmd.price <= market
        return "post-only order would take liquidity; move the price away" if crosses else None

    # -- fills -----------------------------------------------------------------------------------
    def _execute(self, order: SimOrder, ticks: int, taker: bool, budget: int | None) -> int | None:
        """Fill as much of ``order`` as rules allow at ``ticks``; return the budget left."""
        if taker and order.post_only:
            self._close(order, _canceled(self, order, "post-only order would take liquidity"))
            return budget
        if taker and self._slip:
            ticks = self._slipped(order, ticks)
        if order.fraction is not None and not order.quantity:
            order.quantity = self.margin.size_for_fraction(order, ticks, self._fee_rate(order,
                                                                                        taker))
            if order.quantity <= 0:
                self._close(order, _canceled(self, order, "equity buys less than one lot"))
                return budget
        lots = self._fillable(order, budget)
        if lots is None:
            return budget
        problem = self.margin.problem(order, lots, ticks, self._fee_rate(order, taker))
        if problem:
            self._close(order, _canceled(self, order, problem))
            return budget
        self._fill(order, lots, ticks, taker)
        if budget is not None:
            budget -= lots
        return budget

    def _fillable(self, order: SimOrder, budget: int | None) -> int | None:
        """Lots that may fill now (volume cap, reduce-only, FOK); None cancels nothing."""
        lots = order.leaves
        if order.reduce_only:
            pos = self.portfolio.positions[order.instrument_id].qty
            if (pos > 0) == order.is_buy or pos == 0:
                self._close(order, _canceled(self, order, "reduce-only: position already closed"))
                return None
            lots = min(lots, abs(pos))
        if budget is not None and budget < lots:
            if order.time_in_force is TimeInForce.FOK or budget <= 0:
                if order.is_immediate:
                    self._expire_unfilled(order)
                return None
            lots = budget
        return lots

    def _fill(self, order: SimOrder, lots: int, ticks: int, taker: bool) -> None:
        inst = self.instruments[order.instrument_id]
        pos = self.portfolio.positions[order.instrument_id]
        fee = fraction_of(pos.money(ticks * lots), self._fee_rate(order, taker))
        order.filled += lots
        now = self.clock.now()
        done = order.leaves <= 0 or (order.reduce_only and self._would_flatten(order, lots))
        if done:
            self._forget(order)
        self.emit(OrderFilled(now, now, order.client_order_id, inst.id, order.venue_order_id,
                              self.ids.trade_id(), order.strategy_id, order.side, lots, ticks,
                              fee, "taker" if taker else "maker", order.quantity))
        if not done and order.is_immediate and not order.sweeping:
            self._expire_unfilled(order)
        elif done and order.leaves > 0:
            self.emit(OrderCanceled(now, now, order.client_order_id, inst.id,
                                    "reduce-only remainder: position closed"))

    def _would_flatten(self, order: SimOrder, lots: int) -> bool:
        pos = self.portfolio.positions[order.instrument_id].qty
        return abs(pos) == lots

    def _slipped(self, order: SimOrder, ticks: int) -> int:
        exact = ticks * (1 + self._slip) if order.is_buy else ticks * (1 - self._slip)
        whole = int(exact)
        slipped = whole + 1 if order.is_buy and whole != exact else whole
        if order.is_limit and order.price is not None:  # never worse than the limit
            return min(slipped, order.price) if order.is_buy else max(slipped, order.price)
        return slipped

    def _fee_rate(self, order: SimOrder, taker: bool) -> Decimal:
        if self.config.fee_rate is not None:
            return self.config.fee_rate
        inst = self.instruments[order.instrument_id]
        return inst.taker_fee if taker else inst.maker_fee

    def _volume_budget(self, iid: str, bar: Bar) -> int | None:
        """Lots all orders together may still fill on ``bar`` (None: no cap)."""
        share = self.config.volume_share
        if share is None:
            return None
        left = self._budget_left.get(iid)
        if left is not None and left[0] == bar.ts:
            return left[1]  # fill_at=close: the bar's path already used some of it
        inst = self.instruments[iid]
        return int(Decimal(repr(bar.volume)) * share / inst.size_increment)

    def _spend(self, iid: str, bar: Bar, budget: int | None) -> None:
        if budget is not None:
            self._budget_left[iid] = (bar.ts, budget)

    def _liquidate(self, iid: str, ticks: int) -> None:
        pos = self.portfolio.positions[iid]
        now = self.clock.now()
        cmd_side = OrderSide.SELL if pos.qty > 0 else OrderSide.BUY
        cmd = SubmitOrder(now, now, f"LIQ-{self.ids.venue_order_id()}", VENUE_ORIGIN, iid,
                          cmd_side, OrderType.MARKET, abs(pos.qty))
        self._seq += 1
        order = SimOrder(cmd, cmd.client_order_id, self._seq)
        self.emit(self.margin.liquidation_event(iid, order.client_order_id, now))
        self._fill(order, order.quantity, ticks, True)

    # -- bookkeeping -------------------------------------------------------------------------------
    def _expire_unfilled(self, order: SimOrder) -> None:
        self._close(order, _canceled(self, order, f"{order.time_in_force.value.upper()}: "
                                     "not filled on arrival"))

    def _close(self, order: SimOrder, event: Record) -> None:
        self._forget(order)
        self.emit(event)

    def _forget(self, order: SimOrder) -> None:
        if self._by_id.pop(order.client_order_id, None) is not None:
            self.working[order.instrument_id].remove(order)

    def _reject(self, cmd: SubmitOrder, reason: str, now: int) -> None:
        self.emit(OrderRejected(now, now, cmd.client_order_id, cmd.instrument_id, reason))


def _canceled(venue: SimVenue, order: SimOrder, reason: str) -> OrderCanceled:
    now = venue.clock.now()
    return OrderCanceled(now, now, order.client_order_id, order.instrument_id, reason)


def _amend_problem(order: SimOrder | None, cmd: AmendOrder) -> str | None:
    if order is None:
        return None
    if cmd.quantity is not None and cmd.quantity <= order.filled:
        return f"new quantity {cmd.quantity} is not above the filled {order.filled} lots"
    if cmd.price is not None and not order.is_limit:
        return "only limit and stop-limit orders have a price to amend"
    if cmd.trigger_price is not None and (order.trigger is None or order.triggered):
        return "the order has no pending trigger to amend"
    return None
