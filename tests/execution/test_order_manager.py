"""The order manager's memory bound: a run left trading keeps its open orders and only
the newest closed ones, and what it lets go of changes nothing it computes.

Everything here is a real OrderManager and Portfolio driven by journal records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conftest import BTC_GRID
from heron.execution.order_manager import OrderManager
from heron.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
)
from heron.model.orders import Order, OrderSide, OrderStatus, OrderType
from heron.model.portfolio import Portfolio

IID = BTC_GRID.id
PRICE = 6_000_000  # ticks


def make_om() -> OrderManager:
    return OrderManager(Portfolio([BTC_GRID], int(Decimal(100_000).scaleb(8)), 8))


def placed(cid: str, ts: int, side: OrderSide = OrderSide.BUY) -> list[Record]:
    return [SubmitOrder(ts, ts, cid, "s1", IID, side, OrderType.LIMIT, 10, PRICE),
            OrderSubmitted(ts, ts, cid, IID), OrderAccepted(ts, ts, cid, IID, f"V{cid}")]


def filled(cid: str, ts: int, side: OrderSide = OrderSide.BUY) -> OrderFilled:
    return OrderFilled(ts, ts, cid, IID, f"V{cid}", f"T{cid}", "s1", side, 10, PRICE, 5,
                       "maker", 10)


def history(n: int) -> list[Record]:
    """``n`` orders: every third one stays open, the others alternate canceled / filled
    (buys and sells, so the position goes up and down)."""
    records: list[Record] = []
    for k in range(n):
        cid, ts = f"o{k}", 1_000 + k
        side = OrderSide.BUY if k % 2 else OrderSide.SELL
        records += placed(cid, ts, side)
        if k % 3 == 1:
            records.append(OrderCanceled(ts, ts, cid, IID, "by the strategy"))
        elif k % 3 == 2:
            records.append(filled(cid, ts, side))
    return records


def run(records: list[Record], om: OrderManager) -> OrderManager:
    for record in records:
        om.apply(record)
    return om


def test_only_the_newest_closed_orders_are_kept_and_every_open_one_stays() -> None:
    forgotten: list[Order] = []
    om = make_om()
    om.retain_closed(5)
    om.forget_hooks.append(forgotten.append)
    run(history(60), om)
    closed = [cid for cid, o in om.orders.items() if o.is_closed]
    expected_closed = [f"o{k}" for k in range(60) if k % 3][-5:]
    assert closed == expected_closed                        # the newest five, in order
    assert sorted(om.open_orders) == sorted(f"o{k}" for k in range(60) if k % 3 == 0)
    assert all(o.status is OrderStatus.ACCEPTED for o in om.open_orders.values())
    assert [o.client_order_id for o in forgotten] == \
        [f"o{k}" for k in range(60) if k % 3][:-5]         # each once, oldest first
    assert all(o.client_order_id not in om.orders for o in forgotten)


def test_forgetting_closed_orders_changes_no_position_balance_trip_or_trade_id() -> None:
    records = history(95)  # 31 fills, alternating sides: a position is left
    bounded, full = make_om(), make_om()
    bounded.retain_closed(3)
    run(records, bounded)
    run(records, full)
    assert len(bounded.orders) < len(full.orders)
    assert bounded.portfolio.positions[IID].qty == full.portfolio.positions[IID].qty != 0
    assert bounded.portfolio.snapshot() == full.portfolio.snapshot()
    assert bounded.trips.closed == full.trips.closed
    assert bounded.trade_ids == full.trade_ids  # a late duplicate fill is still known


def test_bounding_late_forgets_the_oldest_closed_orders_already_there() -> None:
    om = run(history(30), make_om())
    open_before = dict(om.open_orders)
    om.retain_closed(4)
    assert sum(o.is_closed for o in om.orders.values()) == 4
    assert om.open_orders == open_before
    assert all(cid in om.orders for cid in open_before)


def test_an_order_closing_later_joins_the_newest_and_a_fill_of_one_does_too() -> None:
    om = make_om()
    om.retain_closed(2)
    run(placed("a", 1) + placed("b", 2) + placed("c", 3), om)
    om.apply(filled("a", 4))                   # closed by a fill
    om.apply(OrderCanceled(5, 5, "b", IID, "x"))
    om.apply(OrderCanceled(6, 6, "c", IID, "x"))
    assert list(om.orders) == ["b", "c"]       # "a" closed first: the first to go


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 closed order"):
        make_om().retain_closed(0)
