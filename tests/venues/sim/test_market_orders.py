"""Market orders on the simulated venue: when and at what price they fill."""

from __future__ import annotations

from decimal import Decimal

from simkit import Scripted, fills, order, run, ts

from heron.model.events import OrderAccepted, OrderFilled
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

BARS = [
    ("100.00", "101.00", "99.00", "100.50"),
    ("101.00", "102.00", "100.00", "101.50"),
    ("102.00", "103.00", "101.00", "102.50"),
]


def test_market_buy_next_open_fills_at_next_bar_open_as_taker() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="1")})

    # 1 * 101.00 = 101.00 notional; 10 bps taker fee = 0.101
    assert fills(result) == [(1, "buy", D("1"), D("101.00"), D("0.101"), "taker")]
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
    pf = result.engine.portfolio
    assert pf.positions["TEST.SIM"].qty == 1000  # lots of 0.001
    assert pf.money(pf.balance) == D("10000") - D("101.00") - D("0.101")
    # marked at the last close 102.50: 9898.899 + 102.50
    assert result.final_equity == D("10001.399")


def test_market_sell_next_open_fills_at_next_bar_open() -> None:
    result, _ = run(BARS, {0: lambda s: s.buy(size="2"), 1: lambda s: s.sell(size="2")})

    assert fills(result) == [
        (1, "buy", D("2"), D("101.00"), D("0.202"), "taker"),
        (2, "sell", D("2"), D("102.00"), D("0.204"), "taker"),
    ]
    pf = result.engine.portfolio
    assert pf.positions["TEST.SIM"].qty == 0
    # +2 * (102 - 101) - fees
    assert result.final_equity == D("10000") + D("2") - D("0.406")


def test_market_buy_fill_close_fills_at_signal_bar_close() -> None:
    result, strat = run(BARS, {0: lambda s: s.buy(size="1")}, fill="close")

    assert fills(result) == [(0, "buy", D("1"), D("100.50"), D("0.1005"), "taker")]
    fill = strat.fills[0]
    assert fill.ts_event == ts(0)
    assert order(result, strat.sent[0]).status is OrderStatus.FILLED


def test_market_order_on_last_bar_next_open_never_fills() -> None:
    result, strat = run(BARS, {2: lambda s: s.buy(size="1")})

    assert fills(result) == []
    placed = order(result, strat.sent[0])
    assert placed.status is OrderStatus.ACCEPTED
    assert placed.client_order_id in result.engine.om.open_orders
    assert [type(e) for e in strat.events][-1] is OrderAccepted
    assert result.final_equity == D("10000")


def test_market_order_on_last_bar_fill_close_fills_at_its_close() -> None:
    result, _ = run(BARS, {2: lambda s: s.buy(size="1")}, fill="close")

    assert fills(result) == [(2, "buy", D("1"), D("102.50"), D("0.1025"), "taker")]


def test_market_orders_fill_in_submission_order_within_a_bar() -> None:
    def two(s: Scripted) -> str:
        s.sent.append(s.buy(size="1", tag="first"))
        return s.sell(size="0.5", tag="second")

    result, strat = run(BARS, {0: two})

    assert [f.client_order_id for f in strat.fills] == strat.sent
    assert fills(result) == [
        (1, "buy", D("1"), D("101.00"), D("0.101"), "taker"),
        (1, "sell", D("0.5"), D("101.00"), D("0.0505"), "taker"),
    ]
    assert all(isinstance(f, OrderFilled) for f in strat.fills)
