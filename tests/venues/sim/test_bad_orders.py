"""Bad orders are answered with events (denied, rejected, canceled), never exceptions.

Denied: heron refuses before the venue sees the order (values off the grid or not
numbers). Rejected: the venue refuses it on arrival (shape, size, reduce-only).
Canceled: accepted, but it cannot fill when its time comes (margin, cash).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from simkit import Scripted, fills, order, run

from heron.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderRejected,
    SubmitOrder,
)
from heron.model.orders import OrderSide, OrderStatus, OrderType

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")
BARS = [FLAT, FLAT, FLAT]


def _only(strat: Scripted, kind: type[OrderEvent]) -> OrderEvent:
    [event] = strat.events_of(kind, strat.sent[0])
    return event


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"size": "100.005", "price": "100.005"}, "price 100.005 is not a multiple of 0.01"),
    ({"size": "1", "price": "100.005"}, "price 100.005 is not a multiple of 0.01"),
    ({"size": "0.0005"}, "quantity 0.0005 is not a multiple of 0.001"),
    ({"size": "1", "trigger": "101.001"}, "price 101.001 is not a multiple of 0.01"),
    ({"size": "1", "price": "NaN"}, "not a finite number"),
    ({"size": 1.5}, "binary floats"),
])
def test_off_grid_or_invalid_values_denied_with_reason(kwargs: dict[str, Any],
                                                       reason: str) -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(**kwargs)})

    denied = _only(strat, OrderDenied)
    assert isinstance(denied, OrderDenied)
    assert reason in denied.reason
    assert order(result, strat.sent[0]).status is OrderStatus.DENIED
    assert (strat.sent[0], denied.reason) in result.rejections
    assert fills(result) == []


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"size": "0"}, "quantity must be at least one lot"),
    ({"size": "-1"}, "quantity must be at least one lot"),
    ({"size": "1", "price": "0"}, "limit price must be positive"),
    ({"size": "1", "price": "-1.00"}, "limit price must be positive"),
    ({"size": "1", "trigger": "0"}, "trigger price must be positive"),
    ({"size": "1", "price": "0", "trigger": "100.00"}, "limit price must be positive"),
])
def test_invalid_size_or_price_rejected_by_venue_with_reason(kwargs: dict[str, Any],
                                                             reason: str) -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(**kwargs)})

    rejected = _only(strat, OrderRejected)
    assert isinstance(rejected, OrderRejected)
    assert reason in rejected.reason
    assert order(result, strat.sent[0]).status is OrderStatus.REJECTED
    assert fills(result) == []


def _send_raw(s: Scripted, order_type: OrderType, *, price: int | None = None,
              trigger: int | None = None) -> str:
    """A command a buggy client could build by hand, bypassing Strategy.submit."""
    coid = s.ctx.ids.client_order_id(s.strategy_id)
    s.ctx.send(SubmitOrder(s.now, s.now, coid, s.strategy_id, s.instrument.id, OrderSide.BUY,
                           order_type, 1000, price, trigger))
    return coid


@pytest.mark.parametrize(("order_type", "price", "trigger", "reason"), [
    (OrderType.STOP, None, None, "stop order needs a trigger price"),
    (OrderType.STOP_LIMIT, 9900, None, "stop_limit order needs a trigger price"),
    (OrderType.LIMIT, None, None, "limit order needs a limit price"),
    (OrderType.MARKET, 9900, None, "market order takes no limit price"),
    (OrderType.LIMIT, 9900, 9800, "limit order takes no trigger price"),
])
def test_malformed_command_rejected_with_reason(order_type: OrderType, price: int | None,
                                                trigger: int | None, reason: str) -> None:
    result, strat = run(BARS, {0: lambda s: _send_raw(s, order_type, price=price,
                                                      trigger=trigger)})

    rejected = _only(strat, OrderRejected)
    assert isinstance(rejected, OrderRejected)
    assert rejected.reason.startswith(reason)
    assert order(result, strat.sent[0]).status is OrderStatus.REJECTED


def test_insufficient_cash_canceled_at_fill_with_reason() -> None:
    # 200 * 100.00 = 20000 > 10000 cash
    result, strat = run(BARS, {0: lambda s: s.buy(size="200")})

    canceled = _only(strat, OrderCanceled)
    assert isinstance(canceled, OrderCanceled)
    assert canceled.reason.startswith("insufficient margin")
    assert order(result, strat.sent[0]).status is OrderStatus.CANCELED
    assert fills(result) == []
    assert result.final_equity == D("10000")


def test_cash_check_includes_the_fee() -> None:
    # 99.9 * 100 = 9990 plus 9.99 fee = 9999.99 fits; 100 units (10000 + 10 fee) does not
    result, strat = run(BARS, {0: lambda s: s.buy(size="99.9"), 1: lambda s: s.buy(size="0.1")})

    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
    assert order(result, strat.sent[1]).status is OrderStatus.CANCELED


def test_many_bad_orders_then_a_good_one_run_completes() -> None:
    def bad_then_good(s: Scripted) -> str:
        s.buy(size="0")
        s.buy(size="1", price="100.001")
        s.buy(size="1", price="0")
        _send_raw(s, OrderType.STOP)
        s.buy(size="1000")
        s.sell(size="1", reduce_only=True)
        return s.buy(size="1")

    result, strat = run(BARS, {0: bad_then_good})

    assert result.bars == 3
    assert fills(result) == [(1, "buy", D("1"), D("100.00"), D("0.1"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
    statuses = sorted(o.status.value for o in result.engine.om.orders.values())
    assert statuses == ["canceled", "denied", "filled", "rejected", "rejected", "rejected",
                        "rejected"]
    assert len(result.rejections) == 5
