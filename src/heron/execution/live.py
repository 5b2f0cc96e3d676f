"""``LiveExecution``: the venue seam of a live run, answered by a real venue's account.

The node hands it commands exactly as it hands them to the simulated venue (``submit``,
``cancel``, ``amend``, ``cancel_all``: synchronous, answers come back as events through
``emit``). Here each command becomes an asyncio task talking to a
:class:`~heron.execution.port.VenueClient`; the venue's replies, its private streams and
REST catch-ups all become the same journaled events a backtest produces.

The three promises, and where they are kept:

* **Never twice.** A placement whose reply is lost (:class:`~heron.errors.ResponseLost`)
  is looked up by its client order id before anything else (:meth:`_resolve_lost`); only
  a venue that says "no such order" after a grace period gets the *same* client id again,
  and a placement that cannot be resolved at all is left pending and never resent (the
  catch-up keeps asking). Client ids are heron's deterministic ids in the venue's format.
* **Never forgotten.** Fills are keyed by trade id (duplicates from stream + REST are
  dropped); a fill or order the venue reports for an order heron never sent is adopted
  (:class:`~heron.execution.order_manager.OrderManager` does it for fills); a stream that
  drops triggers a REST catch-up of fills and of every open order's state.
* **Venue is truth.** An order's terminal state (canceled, expired, filled) is applied
  only after its fills are: if the venue's filled size is ahead of heron's, heron fetches
  the fills first, so a position never misses an execution that preceded a cancel.

Commands for one order run one after another (a cancel waits for its placement's reply),
commands for different orders run concurrently, bounded by the rate limiter.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from heron.core.eager import start_eager
from heron.errors import ResponseLost, VenueRejected, VenueUnavailable
from heron.execution.order_manager import OrderManager
from heron.execution.port import Amend, VenueClient
from heron.execution.reconcile_report import ADOPTED
from heron.model.account import VenueFill, VenueOrder, VenueOrderStatus
from heron.model.events import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    OrderUpdateRejected,
    OrderUpdateRequested,
    Record,
    SubmitOrder,
)
from heron.model.orders import VENUE_ORIGIN, Order, OrderStatus, OrderType

log = logging.getLogger(__name__)

Emit = Callable[[Record], None]
Now = Callable[[], int]
#: the events a live venue emits for a command once its request is out
_Announced = OrderSubmitted | OrderCancelRequested | OrderUpdateRequested


class LiveExecution:
    """Commands to a venue account, and the account's news back as events."""

    #: the engine leaves a command's event (``OrderSubmitted``, ``OrderCancelRequested``,
    #: ``OrderUpdateRequested``) to this venue: it is emitted once the request is written
    #: (or refused inside the call), not before, so the event, its journal append and the
    #: strategy's ``on_order`` for it stay off the path to the venue
    announces_requests = True

    def __init__(self, client: VenueClient, om: OrderManager, emit: Emit, now: Now, *,
                 lost_grace_s: float = 1.0, lost_attempts: int = 3,
                 fill_wait_s: float = 0.5) -> None:
        self.client = client
        self.om = om
        self.emit = emit
        self.now = now
        self.lost_grace_s = lost_grace_s
        self.lost_attempts = lost_attempts
        self.fill_wait_s = fill_wait_s
        #: fills before this are not the run's (a new run on an account with history)
        self.since_ns = 0
        self.streams_up: dict[str, bool] = {}
        # SimVenue's attributes the node touches; a live venue keeps none of them
        self.working: dict[str, list[Any]] = {iid: [] for iid in client.instruments}
        self.bars: dict[str, Any] = {}
        self.books: dict[str, Any] = {}
        self.counters: Counter[str] = Counter()
        self.to_heron: dict[str, str] = {}              # venue client id -> heron id
        self.by_venue_id: dict[str, str] = {}           # venue order id -> heron id
        self.unresolved: set[str] = set()               # lost placements not yet found
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._shape_ts: dict[str, int] = {}   # venue time of each order's applied shape
        self._sent_at: dict[str, int] = {}    # wall time each placement was started
        #: client id -> the event its command still owes (see ``announces_requests``)
        self._unannounced: dict[str, tuple[type[_Announced], str]] = {}
        self._unbookable: set[tuple[str, str]] = set()  # fills of orders heron closed
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_fill_ns = 0
        #: ``(action, client_order_id)`` just before each venue call a command makes
        #: (metrics time decision -> venue with it); None: nothing to call, nothing paid
        self.observer: Callable[[str, str], None] | None = None
        om.forget_hooks.append(self._forget)

    # -- state from the journal ----------------------------------------------------------
    def learn(self, record: Record) -> None:
        """Take what the journal knows (a restart feeds every record through here)."""
        if isinstance(record, SubmitOrder):
            self._register(record.client_order_id)
        elif isinstance(record, OrderAccepted):
            self.by_venue_id[record.venue_order_id] = record.client_order_id
        elif isinstance(record, OrderFilled):  # its trade id: the order manager's trade_ids
            self.by_venue_id.setdefault(record.venue_order_id, record.client_order_id)
            self.last_fill_ns = max(self.last_fill_ns, record.ts_event)

    def _register(self, client_order_id: str) -> str:
        venue_id = self.client.venue_client_id(client_order_id)
        self.to_heron[venue_id] = client_order_id
        return venue_id

    def _forget(self, order: Order) -> None:
        """The order manager let go of a closed order: so do this client's maps (a late
        message about it is then counted as unknown, as for any order heron never had)."""
        cid = order.client_order_id
        self.to_heron.pop(self.client.venue_client_id(cid), None)
        if self.by_venue_id.get(order.venue_order_id) == cid:
            del self.by_venue_id[order.venue_order_id]
        self._sent_at.pop(cid, None)
        self._shape_ts.pop(cid, None)

    # -- the venue seam (synchronous, as SimVenue's) -------------------------------------
    def submit(self, cmd: SubmitOrder) -> None:
        cid = cmd.client_order_id
        if cmd.tag == ADOPTED:  # an order the venue already has: journaled, never sent
            self.counters["adopted_not_sent"] += 1
            self._emit_now(OrderSubmitted, cid, cmd.instrument_id)
            return
        problem = self.client.check(cmd)
        if problem is not None:
            self.counters["refused_before_sending"] += 1
            self._emit_now(OrderSubmitted, cid, cmd.instrument_id)
            now = self.now()
            self.emit(OrderRejected(now, now, cid, cmd.instrument_id, f"not sent: {problem}"))
            return
        self._send(cmd, OrderSubmitted, self._submit(cmd))

    def cancel(self, cmd: CancelOrder) -> None:
        self._send(cmd, OrderCancelRequested, self._cancel(cmd))

    def amend(self, cmd: AmendOrder) -> None:
        if not self.client.supports_amend:
            self._emit_now(OrderUpdateRequested, cmd.client_order_id, cmd.instrument_id)
            now = self.now()
            self.emit(OrderUpdateRejected(
                now, now, cmd.client_order_id, cmd.instrument_id,
                f"{self.client.venue} cannot amend orders; cancel and place a new one"))
            return
        self._send(cmd, OrderUpdateRequested, self._amend(cmd))

    def _send(self, cmd: SubmitOrder | CancelOrder | AmendOrder, kind: type[_Announced],
              work: Coroutine[Any, Any, None]) -> None:
        """Start ``work`` (eagerly: its request is written before this returns), then
        emit the command's event ``kind``, unless a refusal inside the call already did."""
        self._unannounced[cmd.client_order_id] = (kind, cmd.instrument_id)
        self._chain(cmd.client_order_id, work)
        self._announce(cmd.client_order_id)

    def _announce(self, client_order_id: str) -> None:
        """The event a command sent through :meth:`_send` still owes, if it does."""
        pending = self._unannounced.pop(client_order_id, None)
        if pending is not None:
            kind, instrument_id = pending
            self._emit_now(kind, client_order_id, instrument_id)

    def _emit_now(self, kind: type[_Announced], client_order_id: str,
                  instrument_id: str) -> None:
        now = self.now()
        self.emit(kind(now, now, client_order_id, instrument_id))

    def cancel_all(self, cmd: CancelAllOrders) -> None:
        self._chain(f"*{cmd.instrument_id}", self._cancel_all(cmd))

    def on_trade(self, *_: Any) -> None:
        """Market data: fills are the venue's, nothing to match here."""

    on_bar = on_book = on_funding = on_trade

    # -- tasks ---------------------------------------------------------------------------
    def _chain(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the previous work on the same order.

        The task starts eagerly: with nothing before it, its request is built and written
        before the strategy's call returns, instead of waiting in the event loop's queue
        behind other news (``heron.core.eager``). What the venue can answer at once (a
        refusal before sending) reaches the strategy inside its call, as in a backtest."""
        before = self._chains.get(key)
        if before is not None and before.done():  # finished, its done-callback still due
            before = None
        task = start_eager(self._after(before, key, work))
        self._chains[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._done(key))

    async def _after(self, before: asyncio.Task[None] | None, key: str,
                     work: Coroutine[Any, Any, None]) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        try:
            await work
        except Exception:  # a bug must not kill the run silently, nor stop other orders
            self.counters["task_errors"] += 1
            log.exception("live execution: %s failed", key)

    def _done(self, key: str) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if self._chains.get(key) is task:
                del self._chains[key]
        return done

    async def drain(self) -> None:
        """Wait until every command sent so far has its answer (tests, clean stops)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- placements ----------------------------------------------------------------------
    async def _submit(self, cmd: SubmitOrder) -> None:
        venue_id = self._register(cmd.client_order_id)
        self._sent_at[cmd.client_order_id] = self.now()
        inst = self.client.instruments[cmd.instrument_id]
        for _ in range(self.lost_attempts):
            if self.observer is not None:
                self.observer("submit", cmd.client_order_id)
            try:
                reply = await self.client.place(cmd, venue_id)
            except VenueRejected as exc:
                if exc.kind == "duplicate":  # it exists: a lost reply's order, found
                    existing = await self.client.fetch_order(inst, client_id=venue_id)
                    if existing is not None:
                        await self.sync_order(existing)
                        return
                self._reject(cmd, str(exc))
                return
            except VenueUnavailable as exc:
                self._reject(cmd, f"not placed: {exc}")
                return
            except ResponseLost:
                self.counters["lost_replies"] += 1
                found = await self._resolve_lost(cmd, venue_id)
                if found is None:
                    continue  # the venue says it has no such order: send it again
                if isinstance(found, VenueOrder):
                    await self.sync_order(found)
                return
            self.counters["placed"] += 1
            await self.sync_order(reply)
            return
        self.unresolved.add(cmd.client_order_id)

    async def _resolve_lost(self, cmd: SubmitOrder, venue_id: str
                            ) -> VenueOrder | bool | None:
        """After a lost reply: the order as found, ``None`` when the venue has none (safe
        to resend), ``False`` when the venue cannot be asked (never resend then)."""
        inst = self.client.instruments[cmd.instrument_id]
        await asyncio.sleep(self.lost_grace_s)
        try:
            found = await self.client.fetch_order(
                inst, client_id=venue_id,
                conditional=cmd.order_type in (OrderType.STOP, OrderType.STOP_LIMIT))
        except (VenueUnavailable, ResponseLost, VenueRejected) as exc:
            log.warning("%s: cannot look up lost order %s (%s); it stays pending until the "
                        "catch-up finds it", self.client.venue, cmd.client_order_id, exc)
            self.unresolved.add(cmd.client_order_id)
            return False
        self.counters["lost_found" if found is not None else "lost_absent"] += 1
        return found

    def _reject(self, cmd: SubmitOrder, reason: str) -> None:
        self._announce(cmd.client_order_id)  # refused inside the strategy's call
        order = self.om.orders.get(cmd.client_order_id)
        if order is not None and order.status is OrderStatus.SUBMITTED:
            now = self.now()
            self.counters["rejected"] += 1
            self.emit(OrderRejected(now, now, cmd.client_order_id, cmd.instrument_id, reason))

    # -- cancels and amends --------------------------------------------------------------
    async def _cancel(self, cmd: CancelOrder) -> None:
        order = self.om.orders.get(cmd.client_order_id)
        if order is None:
            return
        inst = self.client.instruments[cmd.instrument_id]
        if self.observer is not None:
            self.observer("cancel", cmd.client_order_id)
        try:
            reply = await self.client.cancel(inst, **self._ref(order))
        except (VenueRejected, VenueUnavailable, ResponseLost) as exc:
            await self._request_failed(order, exc, OrderCancelRejected)
            return
        await self.sync_order(reply)

    async def _amend(self, cmd: AmendOrder) -> None:
        order = self.om.orders.get(cmd.client_order_id)
        if order is None:
            return
        inst = self.client.instruments[cmd.instrument_id]
        amend = Amend(instrument=inst, venue_order_id=order.venue_order_id,
                      client_id=self.client.venue_client_id(order.client_order_id),
                      side=order.side, order_type=order.order_type,
                      quantity=cmd.quantity if cmd.quantity is not None else order.quantity,
                      price=cmd.price if cmd.price is not None else order.price,
                      trigger_price=(cmd.trigger_price if cmd.trigger_price is not None
                                     else order.trigger_price))
        if self.observer is not None:
            self.observer("amend", cmd.client_order_id)
        try:
            reply = await self.client.amend(amend)
        except (VenueRejected, VenueUnavailable, ResponseLost) as exc:
            await self._request_failed(order, exc, OrderUpdateRejected)
            return
        self.counters["amended"] += 1
        await self.sync_order(reply, amended=True)

    async def _request_failed(self, order: Order, exc: Exception,
                              refused: type[OrderCancelRejected] | type[OrderUpdateRejected]
                              ) -> None:
        """A cancel/amend that failed: tell the order manager, then learn the order's real
        state (it may have filled or closed, or the lost request may have worked)."""
        self._announce(order.client_order_id)  # failed inside the strategy's call
        if order.is_open:  # the order manager moves it back only from this kind's pending
            now = self.now()
            self.emit(refused(now, now, order.client_order_id, order.instrument_id, str(exc)))
        await self.refresh(order)

    async def _cancel_all(self, cmd: CancelAllOrders) -> None:
        inst = self.client.instruments[cmd.instrument_id]
        mine = [o for o in self.om.open_for(cmd.instrument_id, cmd.strategy_id)]
        if not mine:
            return
        try:
            await self.client.cancel_all(inst)
        except (VenueRejected, VenueUnavailable, ResponseLost) as exc:
            log.warning("%s: cancel-all on %s failed (%s)", self.client.venue, inst.symbol, exc)
        for order in mine:  # the venue's word on each, whatever cancel-all answered
            await self.refresh(order)

    async def refresh(self, order: Order) -> None:
        """Ask the venue for one order's state and apply it."""
        inst = self.client.instruments[order.instrument_id]
        try:
            found = await self.client.fetch_order(inst, **self._ref(order))
        except (VenueUnavailable, ResponseLost, VenueRejected) as exc:
            log.warning("%s: cannot read order %s (%s)", self.client.venue,
                        order.client_order_id, exc)
            return
        if found is not None:
            await self.sync_order(found)
        elif order.status is OrderStatus.SUBMITTED and self._absent_long_enough(order):
            self._reject_absent(order)

    def _ref(self, order: Order) -> dict[str, Any]:
        """How to name ``order`` to the venue. A stop that has triggered became another
        order at some venues (Binance: a new order id, the same client id), so it is
        named by client id; one still waiting may sit in a separate book."""
        stop = order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        status = order.status_before_pending if order.status in (
            OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE) else order.status
        triggered = stop and status is OrderStatus.TRIGGERED
        return {"venue_order_id": "" if triggered else order.venue_order_id,
                "client_id": self.client.venue_client_id(order.client_order_id),
                "conditional": stop and not triggered}

    def _absent_long_enough(self, order: Order) -> bool:
        """Whether a placement the venue does not know is over: not in flight here, and
        sent (wall time) longer ago than three lost-reply grace periods."""
        cid = order.client_order_id
        if cid in self._chains:
            return False
        sent = self._sent_at.get(cid)
        return sent is None or self.now() - sent > int(self.lost_grace_s * 3e9)

    def _reject_absent(self, order: Order) -> None:
        now = self.now()
        self.unresolved.discard(order.client_order_id)
        self.emit(OrderRejected(now, now, order.client_order_id, order.instrument_id,
                                "the venue has no such order (its placement never arrived)"))

    # -- the venue's news ----------------------------------------------------------------
    async def sync_order(self, venue: VenueOrder, *, amended: bool = False) -> None:
        """Bring heron's order to the venue's state: accepted, fills, updates, the end."""
        cid = self._heron_id(venue)
        order = self.om.orders.get(cid) if cid else None
        if order is None:
            self.counters["unknown_orders"] += 1  # adoption is reconciliation's (next pass)
            return
        self.unresolved.discard(order.client_order_id)
        self.by_venue_id[venue.venue_order_id] = cid  # a triggered stop's child order too
        now = self.now()
        ts = venue.ts or now
        if venue.status is VenueOrderStatus.REJECTED:
            if order.status is OrderStatus.SUBMITTED:
                self.emit(OrderRejected(ts, now, cid, order.instrument_id,
                                        venue.reason or "rejected by the venue"))
            return
        if order.status is OrderStatus.SUBMITTED:
            self.by_venue_id[venue.venue_order_id] = cid
            self.emit(OrderAccepted(ts, now, cid, order.instrument_id, venue.venue_order_id))
        if venue.filled > order.filled:
            await self._await_fills(order, venue)
        self._apply_shape(order, venue, ts, now, amended)
        self._apply_end(order, venue, ts, now)

    def _apply_shape(self, order: Order, venue: VenueOrder, ts: int, now: int,
                     amended: bool) -> None:
        """Triggered, and amended size or price. A shape only moves forward in venue
        time: a stream update older than the amend reply already applied (the order's
        ``NEW`` arriving late) must not undo the amend."""
        if not order.is_open:
            return
        if venue.status is VenueOrderStatus.OPEN and order.order_type is OrderType.STOP_LIMIT \
                and order.status is OrderStatus.ACCEPTED and venue.order_type is OrderType.LIMIT:
            self.emit(OrderTriggered(ts, now, order.client_order_id, order.instrument_id))
        if order.status is OrderStatus.PENDING_CANCEL or not venue.status.is_open:
            return
        cid = order.client_order_id
        seen = self._shape_ts.get(cid, 0)
        newer = amended or venue.ts > seen
        changed = (venue.quantity, venue.price) != (order.quantity, order.price)
        if newer and (changed or (amended and order.status is OrderStatus.PENDING_UPDATE)):
            self.emit(OrderUpdated(ts, now, cid, order.instrument_id, venue.quantity,
                                   venue.price, venue.trigger_price))
        if newer:
            self._shape_ts[cid] = max(seen, venue.ts)

    def _apply_end(self, order: Order, venue: VenueOrder, ts: int, now: int) -> None:
        if not (order.is_open or order.status is OrderStatus.SUBMITTED):
            return
        if venue.status is VenueOrderStatus.CANCELED:
            self.emit(OrderCanceled(ts, now, order.client_order_id, order.instrument_id,
                                    venue.reason or "canceled at the venue"))
        elif venue.status is VenueOrderStatus.EXPIRED:
            self.emit(OrderExpired(ts, now, order.client_order_id, order.instrument_id))

    async def _await_fills(self, order: Order, venue: VenueOrder) -> None:
        """Give the private stream a moment to bring the fills, then fetch them."""
        if all(self.streams_up.values()) and self.streams_up:
            waited = 0.0
            while order.filled < venue.filled and waited < self.fill_wait_s:
                await asyncio.sleep(0.01)
                waited += 0.01
        if order.filled < venue.filled:
            await self._catch_up_fills(order, venue)

    async def _catch_up_fills(self, order: Order, venue: VenueOrder) -> None:
        """Fetch the fills the venue has for ``order`` and heron does not."""
        inst = self.client.instruments[order.instrument_id]
        try:
            fills = await self.client.fills(inst, since_ns=max(order.ts_init - 60_000_000_000,
                                                               0))
        except (VenueUnavailable, ResponseLost, VenueRejected) as exc:
            log.warning("%s: cannot read fills of %s (%s)", self.client.venue,
                        order.client_order_id, exc)
            return
        self.on_fills(f for f in fills if f.venue_order_id == venue.venue_order_id)

    def on_fills(self, fills: Iterable[VenueFill]) -> None:
        """Apply executions (stream or REST), each once."""
        booked = self.om.trade_ids  # filled as each OrderFilled is applied
        for fill in fills:
            if (fill.instrument_id, fill.trade_id) in booked:
                self.counters["duplicate_fills"] += 1
                continue
            self._apply_fill(fill)

    def _apply_fill(self, fill: VenueFill) -> None:
        cid = self._heron_id(fill)
        order = self.om.orders.get(cid) if cid else None
        now = self.now()
        if order is None:  # not heron's: adopted by the order manager
            cid = cid or fill.client_order_id or f"venue-{fill.venue_order_id}"
            strategy, order_qty = VENUE_ORIGIN, fill.quantity
            self.counters["adopted_fills"] += 1
        else:
            strategy, order_qty = order.strategy_id, order.quantity
            if order.status is OrderStatus.SUBMITTED:
                self.by_venue_id[fill.venue_order_id] = cid
                self.emit(OrderAccepted(fill.ts, now, cid, order.instrument_id,
                                        fill.venue_order_id))
            if not (order.is_open or order.status is OrderStatus.SUBMITTED):
                key = (fill.instrument_id, fill.trade_id)
                if key not in self._unbookable:  # reconciliation reports it as a mismatch
                    self._unbookable.add(key)
                    self.counters["fills_after_close"] += 1
                    log.error("%s: fill %s for closed order %s", self.client.venue,
                              fill.trade_id, cid)
                return
        self.counters["fills"] += 1
        self.last_fill_ns = max(self.last_fill_ns, fill.ts)
        self.emit(OrderFilled(
            fill.ts or now, now, cid, fill.instrument_id, fill.venue_order_id, fill.trade_id,
            strategy, fill.side, fill.quantity, fill.price,
            money_raw(fill.fee, self.om.portfolio.money_precision), fill.liquidity,
            max(order_qty, fill.quantity)))

    def _heron_id(self, item: VenueOrder | VenueFill) -> str:
        return (self.to_heron.get(item.client_order_id)
                or self.by_venue_id.get(item.venue_order_id, ""))

    def on_orders(self, orders: Iterable[VenueOrder]) -> None:
        """Order updates from the private stream: applied in arrival order, per order."""
        for venue in orders:
            cid = self._heron_id(venue) or f"?{venue.venue_order_id}"
            self._chain(cid, self.sync_order(venue))


    # -- catching up and the private streams ------------------------------------------------
    async def catch_up(self) -> None:
        """REST: the fills since the last one heron has, then the state of every order
        that is open or pending: what a dropped stream or a restart may have missed."""
        since = max(self.last_fill_ns - 5_000_000_000, self.since_ns)
        for inst in list(self.client.instruments.values()):
            try:
                fills = await self.client.fills(inst, since_ns=since or None)
            except (VenueUnavailable, ResponseLost, VenueRejected) as exc:
                log.warning("%s: catch-up cannot read fills (%s)", self.client.venue, exc)
                continue
            self.on_fills(f for f in fills if f.ts >= self.since_ns)
        pending = [o for o in self.om.orders.values()
                   if o.is_open or o.status is OrderStatus.SUBMITTED]
        for order in pending:
            await self.refresh(order)
        self.counters["catch_ups"] += 1

    async def run_streams(self, stop: asyncio.Event, *, poll_s: float = 30.0) -> None:
        """Follow the private streams until ``stop``; catch up by REST after each drop
        and every ``poll_s`` seconds (the fallback when a venue has no streams)."""
        workers = [self._poll(stop, poll_s)]
        if self.client.has_private_streams:
            workers += [self._watch("orders", self.client.watch_orders, self.on_orders, stop),
                        self._watch("fills", self.client.watch_fills, self.on_fills, stop)]
        await asyncio.gather(*workers)

    async def _watch(self, name: str, fetch: Callable[[], Coroutine[Any, Any, Any]],
                     apply: Callable[[Any], None], stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                batch = await fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped socket, an expired listen key ...
                self.streams_up[name] = False
                self.counters["stream_drops"] += 1
                log.warning("%s: %s stream dropped (%s); reconnecting in %.1f s",
                            self.client.venue, name, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                self._later(1.0, self.catch_up())  # once the next watch has resubscribed
                continue
            self.streams_up[name] = True
            delay = 0.5
            apply(batch)

    def _later(self, seconds: float, work: Coroutine[Any, Any, None]) -> None:
        async def run() -> None:
            await asyncio.sleep(seconds)
            await work
        self._chain("*catch-up", run())

    async def _poll(self, stop: asyncio.Event, poll_s: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), poll_s)
            except TimeoutError:
                self._chain("*catch-up", self.catch_up())


def money_raw(value: Decimal, precision: int) -> int:
    """A money amount at the run's precision (half-even past it: venues quote fees to
    8 places, heron keeps at least 8)."""
    return int(value.scaleb(precision).to_integral_value(ROUND_HALF_EVEN))


__all__ = ["LiveExecution", "money_raw"]
