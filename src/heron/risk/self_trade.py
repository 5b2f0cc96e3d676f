"""Working orders by strategy and instrument, and self-trade prevention against them.

The order manager knows every order; finding a strategy's resting orders on one
instrument there means scanning all open orders, which a risk check cannot afford
with thousands resting. :class:`WorkingOrders` keeps the index the checks need,
updated from the same records the order manager applies (the node shows it every
journaled record): per ``(strategy, instrument)`` the working orders with a price on
the book, and per instrument the lots still to fill on each side (what
``max_position`` adds to the position for the worst case).

Self-trade prevention (:func:`crossing`, :func:`decrement_plan`) looks at the new
order's own strategy only: two strategies of one account trading with each other is
the venue's matter (most venues have their own STP modes for that).
"""

from __future__ import annotations

from collections.abc import Iterator

from heron.model.events import SubmitOrder
from heron.model.orders import Order, OrderSide, OrderStatus, OrderType

_BUY = OrderSide.BUY
_SUBMITTED = OrderStatus.SUBMITTED
_TRIGGERED = OrderStatus.TRIGGERED
_LIMIT = OrderType.LIMIT


class WorkingOrders:
    """Orders not yet closed, indexed for the pre-trade checks."""

    __slots__ = ("_seen", "orders", "pending_buy", "pending_sell", "resting")

    def __init__(self, orders: dict[str, Order]) -> None:
        self.orders = orders  # the order manager's, by client order id
        # (strategy_id, instrument_id) -> {client_order_id: order} with a price on the book
        self.resting: dict[tuple[str, str], dict[str, Order]] = {}
        self.pending_buy: dict[str, int] = {}   # instrument -> lots still to fill
        self.pending_sell: dict[str, int] = {}
        self._seen: dict[str, tuple[str, bool, int]] = {}  # coid -> (iid, is_buy, lots)

    def sync(self, order: Order) -> None:
        """Bring one order up to date after the order manager applied an event of it."""
        coid = order.client_order_id
        iid = order.instrument_id
        seen = self._seen.pop(coid, None)
        if seen is not None:
            pending = self.pending_buy if seen[1] else self.pending_sell
            pending[seen[0]] -= seen[2]
            book = self.resting.get((order.strategy_id, iid))
            if book is not None:
                book.pop(coid, None)
        status = order.status
        if status is not _SUBMITTED and not status.is_open:
            return
        left = order.quantity - order.filled
        is_buy = order.side is _BUY
        pending = self.pending_buy if is_buy else self.pending_sell
        pending[iid] = pending.get(iid, 0) + left
        self._seen[coid] = (iid, is_buy, left)
        if order.price is not None and (order.order_type is _LIMIT or status is _TRIGGERED):
            self.resting.setdefault((order.strategy_id, iid), {})[coid] = order

    def pending(self, instrument_id: str, is_buy: bool) -> int:
        """Lots still to fill on one side of an instrument, all strategies together."""
        return (self.pending_buy if is_buy else self.pending_sell).get(instrument_id, 0)


def crossing(working: WorkingOrders, cmd: SubmitOrder) -> Iterator[Order]:
    """The strategy's resting orders on the other side that ``cmd`` would trade with,
    best price first (the order a venue's matching would meet them in)."""
    book = working.resting.get((cmd.strategy_id, cmd.instrument_id))
    if not book:
        return iter(())
    is_buy = cmd.side is _BUY
    limit = cmd.price  # None (market, stop): it takes any price
    hits = [o for o in book.values() if (o.side is _BUY) != is_buy and (
        limit is None or (o.price <= limit if is_buy else o.price >= limit))]  # type: ignore[operator]
    hits.sort(key=lambda o: (o.price if is_buy else -o.price, o.ts_init))  # type: ignore[operator]
    return iter(hits)


def decrement_plan(hits: list[Order], lots: int) -> tuple[list[tuple[Order, int]], int]:
    """decrement-both: ``[(resting order, lots it keeps)]`` and the new order's lots left.

    Each crossing resting order and the new one shrink by their overlap; a resting
    order left with nothing is cancelled (kept lots ``0``), and a new order left with
    nothing is denied.
    """
    plan: list[tuple[Order, int]] = []
    left = lots
    for order in hits:
        if not left:
            break
        remaining = order.quantity - order.filled
        take = min(left, remaining)
        plan.append((order, remaining - take))
        left -= take
    return plan, left


__all__ = ["WorkingOrders", "crossing", "decrement_plan"]
