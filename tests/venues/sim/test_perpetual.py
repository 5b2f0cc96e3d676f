"""Linear perpetuals: leverage, funding and liquidation at maintenance margin."""

from __future__ import annotations

from decimal import Decimal

from simkit import fills, order, records, run, ts

from heron.model.events import FundingApplied, OrderCanceled, OrderFilled, PositionLiquidated
from heron.model.orders import OrderSide, OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")
PERP = {"kind": "perp"}


# -- leverage ----------------------------------------------------------------------------------
def test_leverage_lets_position_notional_exceed_cash() -> None:
    # 50 * 100 = 5000 notional on 1000 cash: initial margin 5000 / 10 = 500 <= 1000 - 5 fee
    bars = [FLAT, FLAT, ("100.00", "101.00", "99.50", "101.00")]
    result, _ = run(bars, {0: lambda s: s.buy(size="50")}, cash="1000", leverage="10",
                        **PERP)

    assert fills(result) == [(1, "buy", D("50"), D("100.00"), D("5"), "taker")]
    pf = result.engine.portfolio
    # a perpetual's balance moves only by realised PnL, fees and funding
    assert pf.money(pf.balance) == D("995")
    assert result.final_equity == D("995") + D("50")  # +1.00 on 50 units at the 101 close


def test_perp_without_leverage_needs_full_notional() -> None:
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size="50")}, cash="1000", **PERP)

    assert fills(result) == []
    [canceled] = strat.events_of(OrderCanceled)
    assert canceled.reason.startswith("insufficient margin")


def test_leverage_too_low_for_the_size_canceled() -> None:
    # needs 5000 / 4 = 1250 > 995
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size="50")}, cash="1000",
                        leverage="4", **PERP)

    assert order(result, strat.sent[0]).status is OrderStatus.CANCELED


def test_perp_short_is_margined_like_long() -> None:
    bars = [FLAT, FLAT, ("100.00", "100.00", "98.00", "98.00")]
    result, _ = run(bars, {0: lambda s: s.sell(size="50")}, cash="1000", leverage="10", **PERP)

    assert fills(result)[0][:4] == (1, "sell", D("50"), D("100.00"))
    assert result.final_equity == D("995") + D("100")  # 50 * (100 - 98)


# -- funding -----------------------------------------------------------------------------------
FUNDING_BARS = [
    FLAT,
    ("100.00", "101.50", "99.50", "101.00"),   # entry at 100.00
    ("101.00", "103.00", "100.50", "102.50"),  # last close before funding: 102.50
    ("102.50", "103.00", "101.00", "101.00"),
]


def test_funding_positive_rate_charges_long_at_last_close() -> None:
    result, _ = run(FUNDING_BARS, {0: lambda s: s.buy(size="10")}, leverage="2",
                    funding={"TEST": [(ts(3), "0.0001")]}, **PERP)

    # 10 * 102.50 * 0.0001 = 0.1025 paid by the long
    [event] = records(result, FundingApplied)
    assert (event.ts_event, event.rate, event.mark_px, event.position) == (
        ts(3), "0.0001", 10250, 10000)
    pf = result.engine.portfolio
    assert pf.money(event.amount) == D("-0.1025")
    assert pf.money(pf.funding) == D("-0.1025")
    assert pf.money(pf.positions["TEST.SIM"].funding) == D("-0.1025")
    # 10000 - 1.00 fee - 0.1025 funding, plus 10 * (101 - 100) unrealised
    assert pf.money(pf.balance) == D("9998.8975")
    assert result.final_equity == D("10008.8975")


def test_funding_positive_rate_pays_short() -> None:
    result, _ = run(FUNDING_BARS, {0: lambda s: s.sell(size="10")}, leverage="2",
                    funding={"TEST": [(ts(3), "0.0001")]}, **PERP)

    [event] = records(result, FundingApplied)
    assert result.engine.portfolio.money(event.amount) == D("0.1025")


def test_funding_negative_rate_pays_long() -> None:
    result, _ = run(FUNDING_BARS, {0: lambda s: s.buy(size="10")}, leverage="2",
                    funding={"TEST": [(ts(3), "-0.0003")]}, **PERP)

    [event] = records(result, FundingApplied)
    assert result.engine.portfolio.money(event.amount) == D("0.3075")


def test_funding_between_bars_uses_the_close_before_it() -> None:
    # due halfway through bar 2's minute: applied before bar 3, at bar 2's close
    result, _ = run(FUNDING_BARS, {0: lambda s: s.buy(size="10")}, leverage="2",
                    funding={"TEST": [(ts(2) + 30_000_000_000, "0.0001")]}, **PERP)

    [event] = records(result, FundingApplied)
    assert (event.ts_event, event.mark_px) == (ts(2) + 30_000_000_000, 10250)


def test_funding_without_position_or_on_spot_applies_nothing() -> None:
    flat, _ = run(FUNDING_BARS, {}, funding={"TEST": [(ts(2), "0.0001")]}, **PERP)
    spot, _ = run(FUNDING_BARS, {0: lambda s: s.buy(size="10")},
                  funding={"TEST": [(ts(3), "0.0001")]})

    assert records(flat, FundingApplied) == []
    assert records(spot, FundingApplied) == []


def test_funding_several_times_accumulates() -> None:
    result, _ = run(FUNDING_BARS, {0: lambda s: s.buy(size="10")}, leverage="2",
                    funding={"TEST": [(ts(2), "0.0001"), (ts(3), "0.0002")]}, **PERP)

    # 10 * 101.00 * 0.0001 + 10 * 102.50 * 0.0002 = 0.101 + 0.205
    amounts = [result.engine.portfolio.money(e.amount) for e in records(result, FundingApplied)]
    assert amounts == [D("-0.101"), D("-0.205")]


# -- liquidation -------------------------------------------------------------------------------
LIQ = {"cash": "10000", "leverage": "10", "maintenance_margin": "0.05", **PERP}
ENTRY = ("100.00", "101.00", "99.00", "100.00")


def test_long_liquidated_when_low_breaches_maintenance() -> None:
    # long 500 at 100.00 (fee 50): balance 9950. Equity at price p is 9950 + 500 (p - 100)
    # and maintenance 500 p 0.05; they meet at p = (50000 - 9950) / 475 = 84.3157...,
    # rounded up against the long to 84.32. The bar's low 80.00 is below: liquidated there.
    bars = [FLAT, ENTRY, ("100.00", "100.00", "80.00", "90.00"), FLAT]
    result, strat = run(bars, {0: lambda s: s.buy(size="500")}, **LIQ)

    [liq] = records(result, PositionLiquidated)
    pf = result.engine.portfolio
    assert liq.instrument_id == "TEST.SIM"
    assert liq.ts_event == ts(2)
    # equity and maintenance at the bar's low: 9950 - 10000 = -50 and 500 * 80 * 0.05
    assert (pf.money(liq.equity), pf.money(liq.maintenance)) == (D("-50"), D("2000"))
    # 500 * 84.32 = 42160; taker fee 42.16
    assert fills(result)[1] == (2, "sell", D("500"), D("84.32"), D("42.16"), "taker")
    assert pf.positions["TEST.SIM"].qty == 0
    # 9950 + 500 * (84.32 - 100) - 42.16
    assert pf.money(pf.balance) == D("2067.84")
    assert result.final_equity == D("2067.84")
    # the liquidation's fill is adopted by the order manager as a filled market order
    om = result.engine.om
    assert om.adopted == [liq.client_order_id]
    adopted = om.orders[liq.client_order_id]
    assert (adopted.status, adopted.filled, adopted.strategy_id) == (
        OrderStatus.FILLED, 500_000, "venue")
    # the strategy trading the instrument is told of the liquidation through on_fill
    assert [f.client_order_id for f in strat.fills] == [strat.sent[0], liq.client_order_id]
    assert records(result, OrderFilled)[-1].side is OrderSide.SELL


def test_long_liquidation_gap_below_liquidation_price_fills_at_open() -> None:
    bars = [FLAT, ENTRY, ("82.00", "83.00", "79.00", "80.00")]
    result, _ = run(bars, {0: lambda s: s.buy(size="500")}, **LIQ)

    assert fills(result)[1] == (2, "sell", D("500"), D("82.00"), D("41"), "taker")
    # 9950 + 500 * (82 - 100) - 41
    assert result.final_equity == D("909")


def test_short_liquidated_when_high_breaches_maintenance() -> None:
    # short 500 at 100: p = (-50000 - 9950) / (-500 - 25) = 114.1904..., rounded down
    # against the short to 114.19
    bars = [FLAT, ENTRY, ("100.00", "120.00", "99.00", "110.00")]
    result, _ = run(bars, {0: lambda s: s.sell(size="500")}, **LIQ)

    assert len(records(result, PositionLiquidated)) == 1
    # 500 * 114.19 = 57095; fee 57.095
    assert fills(result)[1] == (2, "buy", D("500"), D("114.19"), D("57.095"), "taker")
    # 9950 - 500 * 14.19 - 57.095
    assert result.final_equity == D("2797.905")
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0


def test_no_liquidation_while_above_maintenance() -> None:
    # at 85.00: equity 9950 - 7500 = 2450 >= 500 * 85 * 0.05 = 2125
    bars = [FLAT, ENTRY, ("100.00", "100.00", "85.00", "90.00")]
    result, _ = run(bars, {0: lambda s: s.buy(size="500")}, **LIQ)

    assert records(result, PositionLiquidated) == []
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 500_000


def test_spot_is_never_liquidated() -> None:
    bars = [FLAT, ENTRY, ("100.00", "100.00", "1.00", "1.00")]
    result, _ = run(bars, {0: lambda s: s.buy(size="50")})

    assert records(result, PositionLiquidated) == []
