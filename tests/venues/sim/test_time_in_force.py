"""IOC, FOK and GTC under the per-bar volume cap (``volume_share``)."""

from __future__ import annotations

from decimal import Decimal

from simkit import Scripted, fills, journal_kinds, order, run

from heron.model.events import OrderCanceled, OrderFilled
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

# volume 20 per bar with volume_share 0.1: at most 2 units (2000 lots) fill per bar
BARS = [
    ("100.00", "100.50", "99.50", "100.00", "20"),
    ("101.00", "101.50", "100.50", "101.00", "20"),
    ("102.00", "102.50", "101.50", "102.00", "20"),
    ("103.00", "103.50", "102.50", "103.00", "20"),
    ("104.00", "104.50", "103.50", "104.00", "20"),
]


def test_ioc_partial_fill_under_volume_cap_then_rest_canceled() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="5", time_in_force="ioc")},
                        volume_share="0.1")
    coid = strat.sent[0]

    assert fills(result) == [(1, "buy", D("2"), D("101.00"), D("0.202"), "taker")]
    placed = order(result, coid)
    assert placed.status is OrderStatus.CANCELED
    assert placed.filled == 2000
    [canceled] = strat.events_of(OrderCanceled, coid)
    assert canceled.reason.startswith("IOC")
    assert journal_kinds(result, coid)[-2:] == ["OrderFilled", "OrderCanceled"]


def test_ioc_fully_fillable_fills_completely() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="2", time_in_force="ioc")},
                        volume_share="0.1")

    assert fills(result) == [(1, "buy", D("2"), D("101.00"), D("0.202"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED


def test_fok_not_fully_fillable_canceled_without_fill() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="5", time_in_force="fok")},
                        volume_share="0.1")
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.CANCELED
    assert order(result, coid).filled == 0
    [canceled] = strat.events_of(OrderCanceled, coid)
    assert canceled.reason.startswith("FOK")


def test_fok_fully_fillable_fills() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="2", time_in_force="fok")},
                        volume_share="0.1")

    assert fills(result) == [(1, "buy", D("2"), D("101.00"), D("0.202"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED


def test_gtc_partial_fill_continues_next_bars_under_cap() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="5")}, volume_share="0.1")
    coid = strat.sent[0]

    # 2 + 2 + 1 units at each bar's open (the rest of a market order stays a market order)
    assert fills(result) == [
        (1, "buy", D("2"), D("101.00"), D("0.202"), "taker"),
        (2, "buy", D("2"), D("102.00"), D("0.204"), "taker"),
        (3, "buy", D("1"), D("103.00"), D("0.103"), "taker"),
    ]
    assert order(result, coid).status is OrderStatus.FILLED
    assert journal_kinds(result, coid) == ["SubmitOrder", "OrderSubmitted", "OrderAccepted",
                                           "OrderFilled", "OrderFilled", "OrderFilled"]
    assert [f.order_qty for f in strat.fills] == [5000, 5000, 5000]
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 5000


def test_gtc_partially_filled_status_between_bars() -> None:
    result, strat = run(BARS[:2], {0: lambda s: s.buy(size="5")}, volume_share="0.1")

    placed = order(result, strat.sent[0])
    assert placed.status is OrderStatus.PARTIALLY_FILLED
    assert (placed.filled, placed.leaves) == (2000, 3000)


def test_volume_cap_is_shared_by_orders_in_submission_order() -> None:
    def two(s: Scripted) -> str:
        s.sent.append(s.buy(size="1.5"))
        return s.buy(size="1.5")

    result, strat = run(BARS[:3], {0: two}, volume_share="0.1")
    first, second = strat.sent

    got = [(f.client_order_id, f.last_qty, f.ts_event) for f in strat.fills]
    bar1, bar2 = result.engine.series[0].ts[1:3]
    assert got == [(first, 1500, bar1), (second, 500, bar1), (second, 1000, bar2)]


def test_no_volume_cap_by_default() -> None:
    result, _ = run(BARS, {0: lambda s: s.buy(size="50")})

    assert fills(result) == [(1, "buy", D("50"), D("101.00"), D("5.05"), "taker")]


def test_ioc_limit_not_marketable_at_arrival_canceled_without_fill() -> None:
    # Arrives at the 101.00 open above its 100.80 limit; the bar later trades at 100.50,
    # but an IOC order only takes what is there on arrival: it must not rest and fill.
    result, strat = run(BARS, {0: lambda s: s.buy(size="1", price="100.80",
                                                    time_in_force="ioc")})
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.CANCELED


def test_fok_limit_not_marketable_at_arrival_canceled_without_fill() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="1", price="100.80",
                                                    time_in_force="fok")})

    assert fills(result) == []
    assert order(result, strat.sent[0]).status is OrderStatus.CANCELED


def test_ioc_limit_marketable_at_arrival_fills_at_open() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="1", price="101.20",
                                                    time_in_force="ioc")})

    assert fills(result) == [(1, "buy", D("1"), D("101.00"), D("0.101"), "taker")]
    assert isinstance(strat.fills[0], OrderFilled)


def test_volume_cap_applies_with_fill_close() -> None:
    # the close of bar 0 fills at most 2 units; the GTC rest fills at bar 1's open
    result, _ = run(BARS, {0: lambda s: s.buy(size="3")}, volume_share="0.1", fill="close")

    assert fills(result) == [
        (0, "buy", D("2"), D("100.00"), D("0.2"), "taker"),
        (1, "buy", D("1"), D("101.00"), D("0.101"), "taker"),
    ]


def test_ioc_partial_fill_with_fill_close() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="3", time_in_force="ioc")},
                        volume_share="0.1", fill="close")

    assert fills(result) == [(0, "buy", D("2"), D("100.00"), D("0.2"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.CANCELED


def test_volume_cap_with_fill_close_shared_with_orders_worked_earlier_in_the_bar() -> None:
    # bar 1: the 1-unit rest of the first order fills at the open and uses half the
    # 2-unit cap; the second order gets the other unit at the close, its rest at bar 2
    script = {0: lambda s: s.buy(size="3"), 1: lambda s: s.buy(size="2")}
    _, strat = run(BARS, script, volume_share="0.1", fill="close")
    first, second = strat.sent

    got = [(f.client_order_id, f.last_qty, f.last_px) for f in strat.fills]
    assert got == [(first, 2000, 10000), (first, 1000, 10100), (second, 1000, 10100),
                   (second, 1000, 10200)]


def test_gtc_stop_partially_filled_under_cap_rest_fills_next_bar_as_market() -> None:
    # the stop triggers at 101.20 on bar 1 (2 units fill there); once triggered it is a
    # market order, so the rest fills at the next bars' opens
    result, strat = run(BARS, {0: lambda s: s.buy(size="3", trigger="101.20")},
                        volume_share="0.1")

    assert fills(result) == [
        (1, "buy", D("2"), D("101.20"), D("0.2024"), "taker"),
        (2, "buy", D("1"), D("102.00"), D("0.102"), "taker"),
    ]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
