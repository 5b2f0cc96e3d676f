"""The order manager: heron's own record of every order, kept by applying events.

Commands create orders; venue events move them through the transition table in
:mod:`heron.model.orders` and, for fills and funding, change the portfolio and the
round trips. The engine feeds it live; a journal replay feeds it the same records in
the same order, which is why replay rebuilds the state exactly. An event for an order
heron never sent (a liquidation, or an order placed by hand on a live venue) is
adopted, never dropped.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, MutableSequence
from decimal import Decimal
from typing import Any, NoReturn

from heron.model.events import (
    AccountState,
    FundingApplied,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderDenied,
    OrderEvent,
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
from heron.model.orders import Order, OrderEventKind, OrderStatus, OrderType
from heron.model.portfolio import Portfolio
from heron.model.round_trips import RoundTripBook

_KIND: dict[type[OrderEvent], OrderEventKind] = {
    OrderSubmitted: OrderEventKind.SUBMITTED,
    OrderDenied: OrderEventKind.DENIED,
    OrderAccepted: OrderEventKind.ACCEPTED,
    OrderRejected: OrderEventKind.REJECTED,
    OrderTriggered: OrderEventKind.TRIGGERED,
    OrderCancelRequested: OrderEventKind.CANCEL_REQUESTED,
    OrderCancelRejected: OrderEventKind.CANCEL_REJECTED,
    OrderCanceled: OrderEventKind.CANCELED,
    OrderUpdateRequested: OrderEventKind.UPDATE_REQUESTED,
    OrderUpdated: OrderEventKind.UPDATED,
    OrderUpdateRejected: OrderEventKind.UPDATE_REJECTED,
    OrderExpired: OrderEventKind.EXPIRED,
}

#: the state a refused request moves an order back from
_PENDING_OF: dict[type[Record], OrderStatus] = {
    OrderCancelRejected: OrderStatus.PENDING_CANCEL,
    OrderUpdateRejected: OrderStatus.PENDING_UPDATE}
#: trade ids a bounded manager keeps beyond its open orders' (about 3 MB): far more
#: fills than any venue reports in the 5 s a REST catch-up looks back
TRADE_IDS_KEPT = 20_000


class OrderManager:
    """Orders by client id, the portfolio, and round trips, all driven by records."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[str, Order] = {}
        self.trips = RoundTripBook()
        #: ids of orders adopted and (id, reason) of refusals: all of them, or the newest
        #: few once :meth:`retain_closed` bounds the manager
        self.adopted: MutableSequence[str] = []
        self.rejections: MutableSequence[tuple[str, str]] = []
        # (instrument_id, trade_id) of every fill applied -> its order's client id, in the
        # order applied: a venue's trade ids may be unique per symbol only (Binance's
        # are), so the instrument is part of the key. Live execution drops duplicates
        # with it; reconciliation finds missed fills. Bounded by :meth:`retain_closed`.
        self.trade_ids: dict[tuple[str, str], str] = {}
        self._trade_ids_kept = 0
        self._trade_ids_sweep = 1 << 62  # unbounded until retain_closed
        #: closed orders, oldest first, once :meth:`retain_closed` bounds them (else None);
        #: an OrderedDict, whose popitem(last=False) is O(1): a plain dict's first key
        #: costs a scan past every key deleted from its front since its last resize
        self._closed: OrderedDict[str, None] | None = None
        self._closed_kept = 0
        #: called with each closed order the manager lets go of (live maps drop its ids)
        self.forget_hooks: list[Callable[[Order], None]] = []
        # One lookup per record instead of a chain of isinstance checks (hot path).
        # Records not listed (cancel/amend commands, PositionLiquidated) change nothing
        # here: a liquidation's fill follows it and is adopted like any unknown fill.
        self._handlers: dict[type, Callable[[Any], Order | None]] = {
            kind: self._on_order_event for kind in _KIND}
        self._handlers.update({
            OrderFilled: self._on_fill, SubmitOrder: self._on_submit,
            FundingApplied: self._on_funding, OrderAccepted: self._on_accepted,
            OrderUpdated: self._on_updated, OrderRejected: self._on_refused,
            OrderDenied: self._on_refused, OrderCancelRejected: self._on_request_refused,
            OrderUpdateRejected: self._on_request_refused,
            AccountState: self._on_account_state})

    def retain_closed(self, latest: int, *, trade_ids: int = TRADE_IDS_KEPT) -> None:
        """From now on keep only the ``latest`` closed orders; open ones are always kept.
        Closed round trips, rejections and adoptions keep their newest ``latest`` too.

        A run left trading for months would otherwise hold every order it ever sent. A
        closed order gets no more news, its history is in the journal, and the newest
        ``latest`` stay for strategies, the API and races with the venue.

        :attr:`trade_ids` keeps the ids of every open order's fills and of the newest
        ``trade_ids`` fills: a late copy of a fill comes from a stream resent or a REST
        read that looks back 5 s past the last fill, or to an open order's start (live
        execution's catch-up and reconciliation), all inside what is kept."""
        if latest < 1 or trade_ids < 1:
            raise ValueError(f"keep at least 1 closed order and 1 trade id in memory, not "
                             f"{latest} and {trade_ids}")
        self._trade_ids_kept = trade_ids
        self._prune_trade_ids()
        self.trips.retain(latest)  # closed trips, rejections and adoptions: the same bound
        self.rejections = deque(self.rejections, maxlen=latest)
        self.adopted = deque(self.adopted, maxlen=latest)
        self._closed_kept = latest
        self._closed = OrderedDict((cid, None) for cid, o in self.orders.items()
                                   if o.is_closed)
        self._forget_oldest()

    @property
    def bounded(self) -> bool:
        """Whether closed orders beyond the newest few are let go of."""
        return self._closed is not None

    def _closing(self, order: Order) -> None:
        """``order`` left the open set: count it among the closed ones, if bounded."""
        closed = self._closed
        if closed is not None and order.is_closed:
            closed[order.client_order_id] = None
            if len(closed) > self._closed_kept:
                self._forget_oldest()

    def _forget_oldest(self) -> None:
        closed = self._closed
        assert closed is not None
        while len(closed) > self._closed_kept:
            cid, _ = closed.popitem(last=False)
            order = self.orders.pop(cid)  # closed orders never reopen
            for hook in self.forget_hooks:
                hook(order)

    def _prune_trade_ids(self) -> None:
        """Keep the trade ids of open orders' fills and the newest ones; run when the
        table has doubled, so a fill pays O(1) for it on average."""
        kept = self._trade_ids_kept
        ids = self.trade_ids
        if len(ids) > kept:
            cut = len(ids) - kept
            is_open = self.open_orders.__contains__
            ids = self.trade_ids = {key: cid for k, (key, cid) in enumerate(ids.items())
                                    if k >= cut or is_open(cid)}
        self._trade_ids_sweep = 2 * max(len(ids), kept)

    def apply(self, record: Record) -> Order | None:
        """Apply one journal record; return the order it concerns (if any)."""
        handler = self._handlers.get(type(record))
        return handler(record) if handler is not None else None

    def _on_funding(self, record: FundingApplied) -> None:
        self.portfolio.apply_funding(record)
        self.trips.on_funding(record.instrument_id, record.amount)

    def _on_account_state(self, record: AccountState) -> None:
        self.portfolio.apply_account_state(record)

    def _on_submit(self, cmd: SubmitOrder) -> Order:
        order = Order(
            client_order_id=cmd.client_order_id, strategy_id=cmd.strategy_id,
            instrument_id=cmd.instrument_id, side=cmd.side, order_type=cmd.order_type,
            quantity=cmd.quantity, ts_init=cmd.ts_init, price=cmd.price,
            trigger_price=cmd.trigger_price, time_in_force=cmd.time_in_force,
            post_only=cmd.post_only, reduce_only=cmd.reduce_only,
            equity_fraction=Decimal(cmd.equity_fraction) if cmd.equity_fraction else None,
            tag=cmd.tag)
        self.orders[order.client_order_id] = order
        return order

    def _on_order_event(self, event: OrderEvent) -> Order:
        """Move the order through the table; keep ``open_orders`` in step."""
        order = self.orders.get(event.client_order_id)
        if order is None:
            raise_unknown(event)
        if order.apply(_KIND[type(event)], event.ts_event).is_open:
            self.open_orders[order.client_order_id] = order
        else:
            self.open_orders.pop(order.client_order_id, None)
            self._closing(order)
        return order

    def _on_accepted(self, event: OrderAccepted) -> Order:
        order = self._on_order_event(event)
        order.venue_order_id = event.venue_order_id
        return order

    def _on_updated(self, event: OrderUpdated) -> Order:
        order = self._on_order_event(event)
        order.quantity, order.price = event.quantity, event.price
        order.trigger_price = event.trigger_price
        return order

    def _on_refused(self, event: OrderRejected | OrderDenied) -> Order:
        self.rejections.append((event.client_order_id, event.reason))
        return self._on_order_event(event)

    def _on_request_refused(self, event: OrderCancelRejected | OrderUpdateRejected
                            ) -> Order | None:
        """A refused cancel/amend: back from its own pending state, or news only (the
        order filled or closed before the request arrived, a normal race; an amend refused
        while a cancel is in flight leaves the cancel pending)."""
        self.rejections.append((event.client_order_id, event.reason))
        order = self.orders.get(event.client_order_id)
        if order is None or order.status is not _PENDING_OF[type(event)]:
            return order
        return self._on_order_event(event)

    def _on_fill(self, fill: OrderFilled) -> Order:
        order = self.orders.get(fill.client_order_id)
        if order is None:
            order = self._adopt(fill)
        ids = self.trade_ids
        ids[(fill.instrument_id, fill.trade_id)] = order.client_order_id
        if len(ids) >= self._trade_ids_sweep:
            self._prune_trade_ids()
        order.quantity = fill.order_qty
        order.record_fill(fill.last_qty, fill.last_px)
        kind = OrderEventKind.FILLED if order.filled >= order.quantity \
            else OrderEventKind.PARTIALLY_FILLED
        status = order.apply(kind, fill.ts_event)
        if status.is_open:
            self.open_orders[order.client_order_id] = order
        else:
            self.open_orders.pop(order.client_order_id, None)
            self._closing(order)
        pos = self.portfolio.positions[fill.instrument_id]
        before = pos.qty
        realised = self.portfolio.apply_fill(fill)
        signed = fill.last_qty if fill.side == "buy" else -fill.last_qty
        self.trips.on_fill(fill.instrument_id, before, signed, fill.last_px, fill.fee,
                           realised, fill.ts_event, fill.client_order_id)
        return order

    def _adopt(self, fill: OrderFilled) -> Order:
        """A fill for an order heron did not send: record it as an accepted market order."""
        order = Order(client_order_id=fill.client_order_id, strategy_id=fill.strategy_id,
                      instrument_id=fill.instrument_id, side=fill.side,
                      order_type=OrderType.MARKET, quantity=fill.order_qty,
                      ts_init=fill.ts_event, tag="adopted")
        order.apply(OrderEventKind.SUBMITTED, fill.ts_event)
        order.apply(OrderEventKind.ACCEPTED, fill.ts_event)
        order.venue_order_id = fill.venue_order_id
        self.orders[order.client_order_id] = order
        self.adopted.append(order.client_order_id)
        return order

    def open_for(self, instrument_id: str, strategy_id: str | None = None) -> list[Order]:
        return [o for o in self.open_orders.values() if o.instrument_id == instrument_id
                and (strategy_id is None or o.strategy_id == strategy_id)]


def raise_unknown(event: OrderEvent) -> NoReturn:
    from heron.errors import EngineError

    raise EngineError(f"{type(event).__name__} for unknown order {event.client_order_id}")
