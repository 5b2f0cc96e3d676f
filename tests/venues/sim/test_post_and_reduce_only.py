"""Post-only (never takes) and reduce-only (never opens or grows a position) orders."""

from __future__ import annotations

from decimal import Decimal

from simkit import fills, journal_kinds, order, run

from heron.model.events import OrderCanceled, OrderRejected
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")


# -- post-only -------------------------------------------------------------------------------
def test_post_only_buy_that_would_take_on_arrival_canceled_without_fill() -> None:
    bars = [FLAT, ("100.20", "100.60", "99.90", "100.40")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="100.50", post_only=True)})
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.CANCELED
    [canceled] = strat.events_of(OrderCanceled, coid)
    assert "post-only" in canceled.reason


def test_post_only_buy_through_close_rejected_with_fill_close() -> None:
    bars = [("100.00", "100.80", "99.60", "100.40"), FLAT]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="100.50", post_only=True)},
                        fill="close")
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.REJECTED
    [rejected] = strat.events_of(OrderRejected, coid)
    assert "post-only" in rejected.reason
    assert (coid, rejected.reason) in result.rejections


def test_post_only_buy_below_market_rests_and_fills_as_maker() -> None:
    bars = [FLAT, ("100.00", "100.20", "99.00", "99.40")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="99.50", post_only=True)})

    assert fills(result) == [(1, "buy", D("1"), D("99.50"), D("0.0995"), "maker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED


def test_post_only_sell_above_market_rests_and_fills_as_maker() -> None:
    bars = [FLAT, ("100.00", "100.50", "99.50", "100.00"), ("100.00", "101.20", "99.80", "101.00")]
    script = {0: lambda s: s.buy(size="1"),
              1: lambda s: s.sell(size="1", price="101.00", post_only=True)}
    result, _ = run(bars, script)

    assert fills(result)[1] == (2, "sell", D("1"), D("101.00"), D("0.101"), "maker")


def test_post_only_ioc_rejected() -> None:
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size="1", price="99.00",
                                                              post_only=True,
                                                              time_in_force="ioc")})
    [rejected] = strat.events_of(OrderRejected)
    assert rejected.reason == "post-only orders must be GTC"
    assert order(result, strat.sent[0]).status is OrderStatus.REJECTED


def test_post_only_market_rejected() -> None:
    _, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size="1", post_only=True)})

    [rejected] = strat.events_of(OrderRejected)
    assert rejected.reason == "post-only applies to limit orders only"


# -- reduce-only -----------------------------------------------------------------------------
def test_reduce_only_without_position_rejected() -> None:
    result, strat = run([FLAT, FLAT], {0: lambda s: s.sell(size="1", reduce_only=True)})
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.REJECTED
    [rejected] = strat.events_of(OrderRejected, coid)
    assert "reduce-only" in rejected.reason


def test_reduce_only_same_side_as_position_rejected() -> None:
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.buy(size="1", reduce_only=True)}
    result, strat = run([FLAT, FLAT, FLAT], script)

    assert order(result, strat.sent[1]).status is OrderStatus.REJECTED
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 1000


def test_reduce_only_larger_than_position_clipped_to_position() -> None:
    bars = [FLAT, FLAT, ("101.00", "101.00", "101.00", "101.00")]
    script = {0: lambda s: s.buy(size="2"), 1: lambda s: s.sell(size="5", reduce_only=True)}
    result, strat = run(bars, script)
    coid = strat.sent[1]

    assert fills(result) == [
        (1, "buy", D("2"), D("100.00"), D("0.2"), "taker"),
        (2, "sell", D("2"), D("101.00"), D("0.202"), "taker"),
    ]
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0
    placed = order(result, coid)
    assert (placed.status, placed.filled) == (OrderStatus.CANCELED, 2000)
    assert journal_kinds(result, coid)[-2:] == ["OrderFilled", "OrderCanceled"]
    [canceled] = strat.events_of(OrderCanceled, coid)
    assert "reduce-only" in canceled.reason


def test_reduce_only_smaller_than_position_fills_fully() -> None:
    script = {0: lambda s: s.buy(size="2"), 1: lambda s: s.sell(size="0.5", reduce_only=True)}
    result, strat = run([FLAT, FLAT, FLAT], script)

    assert order(result, strat.sent[1]).status is OrderStatus.FILLED
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 1500


def test_close_position_flattens_with_reduce_only_market() -> None:
    bars = [FLAT, FLAT, ("102.00", "102.00", "102.00", "102.00")]
    script = {0: lambda s: s.buy(size="1.5"), 1: lambda s: s.close_position()}
    result, strat = run(bars, script)

    assert order(result, strat.sent[1]).reduce_only
    assert fills(result)[1] == (2, "sell", D("1.5"), D("102.00"), D("0.153"), "taker")
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0
