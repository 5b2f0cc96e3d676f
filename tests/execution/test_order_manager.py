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
    OrderRejected,
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


def test_forgetting_closed_orders_changes_no_position_balance_or_trip_count() -> None:
    records = history(95)  # 31 fills, alternating sides: a position is left
    bounded, full = make_om(), make_om()
    bounded.retain_closed(3)
    run(records, bounded)
    run(records, full)
    assert len(bounded.orders) < len(full.orders)
    assert bounded.portfolio.positions[IID].qty == full.portfolio.positions[IID].qty != 0
    assert bounded.portfolio.snapshot() == full.portfolio.snapshot()
    assert len(full.trips.closed) == full.trips.closed_count == 15
    assert bounded.trips.closed_count == 15
    assert list(bounded.trips.closed) == full.trips.closed[-3:]   # the newest three
    assert bounded.trips.open == full.trips.open
    assert bounded.trade_ids == full.trade_ids  # fewer than the trade ids kept: all


def test_rejections_and_adoptions_keep_only_the_newest() -> None:
    om = make_om()
    om.retain_closed(2)
    for k in range(5):
        cid, ts = f"r{k}", 10 + k
        om.apply(SubmitOrder(ts, ts, cid, "s1", IID, OrderSide.BUY, OrderType.LIMIT, 10,
                             PRICE))
        om.apply(OrderSubmitted(ts, ts, cid, IID))
        om.apply(OrderRejected(ts, ts, cid, IID, f"no {k}"))
        om.apply(filled(f"venue-{k}", ts))  # a fill heron never sent: adopted
    assert list(om.rejections) == [("r3", "no 3"), ("r4", "no 4")]
    assert list(om.adopted) == ["venue-3", "venue-4"]


def test_trade_ids_keep_the_newest_and_every_open_orders_fills() -> None:
    """A resting order filled bit by bit keeps its first fill's id however many fills
    came since: live execution's catch-up reads an open order's fills from its start."""
    om = make_om()
    om.retain_closed(2, trade_ids=4)
    run(placed("rest", 1), om)
    om.apply(OrderFilled(2, 2, "rest", IID, "Vrest", "T-first", "s1", OrderSide.BUY, 2, PRICE,
                         1, "maker", 10))                    # partly filled: stays open
    sizes = []
    for k in range(40):
        run(placed(f"o{k}", 10 + k), om)
        om.apply(filled(f"o{k}", 10 + k))
        sizes.append(len(om.trade_ids))
    assert (IID, "T-first") in om.trade_ids
    assert [(IID, f"To{k}") in om.trade_ids for k in (36, 37, 38, 39)] == [True] * 4
    assert (IID, "To0") not in om.trade_ids                 # closed long ago: let go of
    assert max(sizes) < 2 * (4 + 1) + 1                      # swept when it doubles
    om.apply(OrderCanceled(60, 60, "rest", IID, "done"))
    for k in range(40, 50):
        run(placed(f"o{k}", 10 + k), om)
        om.apply(filled(f"o{k}", 10 + k))
    assert (IID, "T-first") not in om.trade_ids             # its order closed since


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
    with pytest.raises(ValueError, match="1 trade id"):
        make_om().retain_closed(5, trade_ids=0)
