"""Protective orders: a stop-loss and a take-profit that cancel each other (OCO, emulated).

``Strategy.protect(stop=..., take=...)`` places, for the position it holds, a reduce-only
stop (the stop-loss) and a reduce-only limit (the take-profit), tagged
``oco:<group>:sl`` / ``oco:<group>:tp``. Both rest **at the venue** (a stop in Binance's
Algo Service, OKX's and Bybit's trigger books; in a backtest, in the simulated venue), so
they protect the position even while heron is down. What is **emulated by heron** is the
link between them: no supported venue offers a one-cancels-the-other pair for futures
positions through ccxt's unified API, so :class:`ProtectiveGroups` watches the journal's
records and, when one leg fills, shrinks the other to what is left of the position, or
cancels it once the position is closed.

While heron is down the link is not watched: if one leg fills then, the other still
rests; being reduce-only it cannot open a position (the venue refuses or expires it when
the position is flat), and at the next start :meth:`ProtectiveGroups.rebuild` finds the
pair from the tags and the first records after the catch-up finish the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from heron.execution.order_manager import OrderManager
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    Record,
    SubmitOrder,
)
from heron.model.orders import Order

log = logging.getLogger(__name__)

PREFIX = "oco:"


class ProtectiveGroups:
    """Linked legs by group; keeps each group's other legs in step with the position."""

    def __init__(self, om: OrderManager, send: Callable[[Record], None],
                 now: Callable[[], int], watch: Callable[[], None] | None = None) -> None:
        self.om = om
        self.send = send
        self.now = now
        self.groups: dict[str, set[str]] = {}   # group -> client ids of its open legs
        self._group_of: dict[str, str] = {}
        self._watch = watch
        self._next = 0

    def new_group(self) -> str:
        self._next += 1
        return str(self._next)

    def ensure_watching(self) -> None:
        """Subscribe to the records (once, when the first group is made: a run without
        protective orders pays nothing per record)."""
        if self._watch is not None:
            self._watch()
            self._watch = None

    def link(self, group: str, client_order_id: str) -> None:
        self.ensure_watching()
        self.groups.setdefault(group, set()).add(client_order_id)
        self._group_of[client_order_id] = group

    def rebuild(self) -> None:
        """Groups from the open orders' tags (a restart)."""
        for order in self.om.open_orders.values():
            if order.tag.startswith(PREFIX):
                group = order.tag.split(":")[1]
                self.link(group, order.client_order_id)
                self._next = max(self._next, int(group) if group.isdigit() else 0)

    def observe(self, record: Record) -> None:
        kind = type(record)
        if kind is SubmitOrder:  # linked when journaled: before the venue can fill it
            tag = record.tag  # type: ignore[attr-defined]
            if tag.startswith(PREFIX):
                self.link(tag.split(":")[1], record.client_order_id)  # type: ignore[attr-defined]
        elif kind is OrderFilled:
            self._on_fill(record)  # type: ignore[arg-type]
        elif kind is OrderCanceled or kind is OrderExpired or kind is OrderRejected:
            self._leave(record.client_order_id)  # type: ignore[attr-defined]

    def _leave(self, cid: str) -> None:
        group = self._group_of.pop(cid, None)
        if group is not None:
            legs = self.groups.get(group, set())
            legs.discard(cid)
            if not legs:
                self.groups.pop(group, None)

    def _on_fill(self, fill: OrderFilled) -> None:
        """Observers see a record before the order manager applies it, so the position
        and the leg after this fill are worked out from the fill itself."""
        group = self._group_of.get(fill.client_order_id)
        if group is None:
            return
        order = self.om.orders[fill.client_order_id]
        if order.filled + fill.last_qty >= max(order.quantity, fill.order_qty):
            self._leave(fill.client_order_id)
        before = self.om.portfolio.positions[fill.instrument_id].qty
        left = abs(before + fill.side.sign * fill.last_qty)
        for cid in sorted(self.groups.get(group, set()) - {fill.client_order_id}):
            leg = self.om.orders.get(cid)  # a closed leg a long-running run let go of
            if leg is not None:
                self._fit(leg, left)

    def _fit(self, leg: Order, left: int) -> None:
        """Cancel the other leg when nothing is left to protect, else shrink it."""
        if not leg.is_open:
            return
        now = self.now()
        if left == 0:
            log.info("protective %s: the other leg filled, position flat: cancel",
                     leg.client_order_id)
            self.send(CancelOrder(now, now, leg.client_order_id, leg.strategy_id,
                                  leg.instrument_id))
        elif leg.leaves > left:
            self.send(AmendOrder(now, now, leg.client_order_id, leg.strategy_id,
                                 leg.instrument_id, quantity=leg.filled + left))


__all__ = ["PREFIX", "ProtectiveGroups"]
