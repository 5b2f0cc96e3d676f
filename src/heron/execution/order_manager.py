"""The order manager: heron's own record of every order, kept by applying events.

Commands create orders; venue events move them through the transition table in
:mod:`heron.model.orders` and, for fills and funding, change the portfolio and the
round trips. The engine feeds it live; a journal replay feeds it the same records in
the same order, which is why replay rebuilds the state exactly. An event for an order
heron never sent (a liquidation, or an order placed by hand on a live venue) is
adopted, never dropped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NoReturn

from heron.model.events import (
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


class OrderManager:
    """Orders by client id, the portfolio, and round trips, all driven by records."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[str, Order] = {}
        self.trips = RoundTripBook()
        self.adopted: list[str] = []
        self.rejections: list[tuple[str, str]] = []

    def apply(self, record: Record) -> Order | None:
        """Apply one journal record; return the order it concerns (if any)."""
        if isinstance(record, OrderFilled):
            return self._on_fill(record)
        if isinstance(record, OrderEvent):
            return self._on_order_event(record)
        if isinstance(record, SubmitOrder):
            return self._on_submit(record)
        if isinstance(record, FundingApplied):
            self.portfolio.apply_funding(record)
            self.trips.on_funding(record.instrument_id, record.amount)
        # PositionLiquidated needs no action here: the liquidation's fill follows it and
        # is adopted like any fill of an order heron did not send.
        return None

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

    def _on_order_event(self, event: OrderEvent) -> Order | None:
        order = self.orders.get(event.client_order_id)
        if isinstance(event, OrderCancelRejected | OrderUpdateRejected):
            self.rejections.append((event.client_order_id, event.reason))
            pending = (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE)
            if order is None or order.status not in pending:
                return order  # a refused request for an order that was not pending: news only
        if order is None:
            raise_unknown(event)
        status = order.apply(_KIND[type(event)], event.ts_event)
        if isinstance(event, OrderAccepted):
            order.venue_order_id = event.venue_order_id
        elif isinstance(event, OrderUpdated):
            order.quantity, order.price = event.quantity, event.price
            order.trigger_price = event.trigger_price
        elif isinstance(event, OrderRejected | OrderDenied):
            self.rejections.append((event.client_order_id, event.reason))
        if status.is_open:
            self.open_orders[order.client_order_id] = order
        else:
            self.open_orders.pop(order.client_order_id, None)
        return order

    def _on_fill(self, fill: OrderFilled) -> Order:
        order = self.orders.get(fill.client_order_id)
        if order is None:
            order = self._adopt(fill)
        order.quantity = fill.order_qty
        order.record_fill(fill.last_qty, fill.last_px)
        kind = OrderEventKind.FILLED if order.filled >= order.quantity \
            else OrderEventKind.PARTIALLY_FILLED
        status = order.apply(kind, fill.ts_event)
        if status.is_open:
            self.open_orders[order.client_order_id] = order
        else:
            self.open_orders.pop(order.client_order_id, None)
        pos = self.portfolio.positions[fill.instrument_id]
        before = pos.qty
        realised = self.portfolio.apply_fill(fill)
        signed = fill.last_qty if fill.side == "buy" else -fill.last_qty
        self.trips.on_fill(fill.instrument_id, before, signed, fill.last_px, fill.fee,
                           realised, fill.ts_event)
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
