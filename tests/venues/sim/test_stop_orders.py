"""Stop and stop-limit orders: triggering on the bar path, gaps, resting after trigger."""

from __future__ import annotations

from decimal import Decimal

from simkit import fills, journal_kinds, order, records, run

from heron.model.events import OrderFilled, OrderTriggered
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")


def test_buy_stop_triggers_on_path_and_fills_at_trigger_as_taker() -> None:
    # bullish bar: 100 -> 99.50 -> 103 -> 102.50 crosses 102.00 on the way up
    bars = [FLAT, ("100.00", "103.00", "99.50", "102.50"), FLAT]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", trigger="102.00")})

    assert fills(result) == [(1, "buy", D("1"), D("102.00"), D("0.102"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
    # a stop-market fills without a separate OrderTriggered event
    assert records(result, OrderTriggered) == []


def test_buy_stop_not_reached_stays_open() -> None:
    bars = [FLAT, ("100.00", "101.99", "99.50", "101.50")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", trigger="102.00")})

    assert fills(result) == []
    assert order(result, strat.sent[0]).status is OrderStatus.ACCEPTED


def test_buy_stop_gap_through_trigger_fills_at_open() -> None:
    bars = [FLAT, ("100.00", "101.00", "99.50", "100.50"), ("103.00", "104.00", "102.50", "103.50")]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", trigger="102.00")})

    assert fills(result) == [(2, "buy", D("1"), D("103.00"), D("0.103"), "taker")]


def test_sell_stop_triggers_on_path_and_fills_at_trigger() -> None:
    bars = [
        FLAT,
        ("100.00", "100.50", "99.50", "100.00"),   # entry at 100.00; stop placed
        ("100.00", "100.50", "97.00", "97.50"),    # bearish: 100 -> 100.50 -> 97 -> 97.50
    ]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", trigger="98.00")}
    result, _ = run(bars, script)

    assert fills(result)[1] == (2, "sell", D("1"), D("98.00"), D("0.098"), "taker")
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0


def test_sell_stop_gap_through_trigger_fills_at_open() -> None:
    bars = [FLAT, ("100.00", "100.50", "99.50", "100.00"), ("96.00", "96.50", "95.00", "95.50")]
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", trigger="98.00")}
    result, _ = run(bars, script)

    assert fills(result)[1] == (2, "sell", D("1"), D("96.00"), D("0.096"), "taker")


def test_stop_limit_triggers_then_rests_as_limit_and_fills_as_maker() -> None:
    bars = [
        FLAT,
        # 100 -> 99.50 -> 103 -> 102.80: triggers at 102.00, never back to 101.50
        ("100.00", "103.00", "99.50", "102.80"),
        # bearish: 102.50 -> 102.60 -> 101.00 -> 101.20: the resting 101.50 limit fills
        ("102.50", "102.60", "101.00", "101.20"),
    ]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="101.50", trigger="102.00")})

    coid = strat.sent[0]
    triggered = strat.events_of(OrderTriggered, coid)
    assert len(triggered) == 1
    assert triggered[0].ts_event == result.engine.series[0].ts[1]
    assert fills(result) == [(2, "buy", D("1"), D("101.50"), D("0.1015"), "maker")]
    assert order(result, coid).status is OrderStatus.FILLED
    # event order: accepted, triggered, then the fill on the next bar
    assert journal_kinds(result, coid) == ["SubmitOrder", "OrderSubmitted", "OrderAccepted",
                                           "OrderTriggered", "OrderFilled"]


def test_stop_limit_triggered_status_while_resting() -> None:
    bars = [FLAT, ("100.00", "103.00", "99.50", "102.80")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="101.50", trigger="102.00")})

    assert fills(result) == []
    assert order(result, strat.sent[0]).status is OrderStatus.TRIGGERED


def test_stop_limit_with_limit_above_trigger_fills_at_trigger_as_taker() -> None:
    bars = [FLAT, ("100.00", "103.00", "99.50", "102.80")]
    result, strat = run(bars, {0: lambda s: s.buy(size="1", price="102.50", trigger="102.00")})

    assert len(strat.events_of(OrderTriggered)) == 1
    assert fills(result) == [(1, "buy", D("1"), D("102.00"), D("0.102"), "taker")]


def test_stop_limit_gap_through_trigger_and_limit_rests_then_fills_later_in_bar() -> None:
    # opens at 104.00 (through the 102.00 trigger and the 102.50 limit); the bullish path
    # 104 -> 101 -> 105 -> 104.50 comes back to the limit after the open
    bars = [FLAT, ("104.00", "105.00", "101.00", "104.50")]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="102.50", trigger="102.00")})

    assert fills(result) == [(1, "buy", D("1"), D("102.50"), D("0.1025"), "maker")]


def test_sell_stop_limit_triggers_and_fills_at_limit() -> None:
    bars = [
        FLAT,
        ("100.00", "100.50", "99.50", "100.00"),  # entry at 100.00
        # bearish 100 -> 100.20 -> 97.00 -> 97.50: triggers at 98.00; 97.80 limit fills at
        # the trigger point (marketable at trigger: the trigger price is at/above the limit)
        ("100.00", "100.20", "97.00", "97.50"),
    ]
    script = {0: lambda s: s.buy(size="1"),
              1: lambda s: s.sell(size="1", price="97.80", trigger="98.00")}
    result, _ = run(bars, script)

    sell = [r for r in records(result, OrderFilled) if r.side == "sell"]
    assert len(sell) == 1
    assert fills(result)[1] == (2, "sell", D("1"), D("98.00"), D("0.098"), "taker")
