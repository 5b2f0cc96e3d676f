"""Limit orders: resting as maker, price improvement on gaps, taking on arrival."""

from __future__ import annotations

from decimal import Decimal

from simkit import fills, order, run

from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")


def test_limit_buy_rests_then_fills_at_limit_as_maker() -> None:
    bars = [
        FLAT,
        ("100.00", "100.50", "99.50", "99.80"),   # does not reach 99.00: rests
        ("99.80", "100.20", "98.50", "99.10"),    # trades through 99.00
        FLAT,
    ]
    result, strat = run(bars, {0: lambda s: s.buy(size="2", price="99.00")})

    # 2 * 99.00 = 198.00; fee 10 bps = 0.198
    assert fills(result) == [(2, "buy", D("2"), D("99.00"), D("0.198"), "maker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED


def test_limit_buy_touched_exactly_at_the_limit_fills() -> None:
    bars = [FLAT, ("99.50", "100.00", "99.00", "99.50"), FLAT]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="99.00")})

    assert fills(result) == [(1, "buy", D("1"), D("99.00"), D("0.099"), "maker")]


def test_limit_buy_gap_below_limit_fills_at_open_as_maker() -> None:
    bars = [
        FLAT,
        ("100.00", "100.50", "99.50", "99.80"),   # rests
        ("98.00", "98.40", "97.60", "98.20"),     # gaps below the 99.00 limit
    ]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="99.00")})

    # a resting order is a maker; the gap gives it the better open price
    assert fills(result) == [(2, "buy", D("1"), D("98.00"), D("0.098"), "maker")]


def test_limit_buy_marketable_on_arrival_fills_at_open_as_taker() -> None:
    bars = [FLAT, ("100.20", "100.60", "99.90", "100.40"), FLAT]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="101.00")})

    assert fills(result) == [(1, "buy", D("1"), D("100.20"), D("0.1002"), "taker")]


def test_limit_buy_marketable_at_signal_close_fills_close_as_taker() -> None:
    bars = [("100.00", "100.80", "99.60", "100.50"), FLAT]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="101.00")}, fill="close")

    assert fills(result) == [(0, "buy", D("1"), D("100.50"), D("0.1005"), "taker")]


def test_limit_buy_below_close_with_fill_close_rests_as_maker() -> None:
    bars = [("100.00", "100.80", "99.60", "100.50"), ("100.50", "100.60", "99.00", "99.20")]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="99.50")}, fill="close")

    assert fills(result) == [(1, "buy", D("1"), D("99.50"), D("0.0995"), "maker")]


def test_limit_sell_rests_then_fills_at_limit_as_maker() -> None:
    bars = [
        FLAT,
        ("101.00", "101.50", "100.50", "101.20"),  # entry at 101.00; sell placed here
        ("101.00", "103.50", "100.50", "103.00"),  # reaches 103.00
        FLAT,
    ]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", price="103.00")}
    result, strat = run(bars, script)

    assert fills(result) == [
        (1, "buy", D("1"), D("101.00"), D("0.101"), "taker"),
        (2, "sell", D("1"), D("103.00"), D("0.103"), "maker"),
    ]
    assert order(result, strat.sent[1]).status is OrderStatus.FILLED
    assert result.final_equity == D("10000") + D("2.00") - D("0.204")


def test_limit_sell_gap_above_limit_fills_at_open_as_maker() -> None:
    bars = [
        FLAT,
        ("101.00", "101.50", "100.50", "101.20"),  # entry; sell placed here
        ("101.20", "102.00", "101.00", "101.80"),  # sell rests (below 103.00)
        ("104.00", "104.50", "103.80", "104.20"),  # gaps above it
    ]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", price="103.00")}
    result, _ = run(bars, script)

    assert fills(result)[1] == (3, "sell", D("1"), D("104.00"), D("0.104"), "maker")


def test_limit_sell_gap_on_arrival_fills_at_open_as_taker() -> None:
    bars = [FLAT, ("101.00", "101.50", "100.50", "101.20"),
            ("104.00", "104.50", "103.80", "104.20")]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", price="103.00")}
    result, _ = run(bars, script)

    # it was never resting: it arrives at the 104.00 open and takes
    assert fills(result)[1] == (2, "sell", D("1"), D("104.00"), D("0.104"), "taker")


def test_limit_sell_marketable_on_arrival_fills_at_open_as_taker() -> None:
    bars = [FLAT, ("101.00", "101.50", "100.50", "101.20"), ("101.30", "101.40", "99.00", "99.50")]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", price="100.00")}
    result, _ = run(bars, script)

    assert fills(result)[1] == (2, "sell", D("1"), D("101.30"), D("0.1013"), "taker")


def test_limit_never_reached_stays_open() -> None:
    bars = [FLAT, ("100.00", "100.50", "99.50", "99.80"), ("99.80", "100.00", "99.01", "99.50")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="99.00")})

    assert fills(result) == []
    assert order(result, strat.sent[0]).status is OrderStatus.ACCEPTED
    assert strat.open_orders()[0].client_order_id == strat.sent[0]
