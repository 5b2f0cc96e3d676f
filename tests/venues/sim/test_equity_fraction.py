"""Orders sized as a fraction of free equity, fixed at the fill price (fees included)."""

from __future__ import annotations

from decimal import Decimal

from simkit import fills, order, run

from heron.model.events import OrderCanceled, OrderRejected
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")


def test_full_equity_spot_buy_spends_cash_and_fee() -> None:
    # one lot (0.001) costs 0.1 + 0.0001 fee = 0.1001: floor(10000 / 0.1001) = 99900 lots
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size=s.equity_fraction("1"))})

    assert fills(result) == [(1, "buy", D("99.9"), D("100.00"), D("9.99"), "taker")]
    placed = order(result, strat.sent[0])
    assert (placed.status, placed.quantity) == (OrderStatus.FILLED, 99_900)
    assert result.engine.portfolio.money(result.engine.portfolio.balance) == D("0.01")


def test_half_equity_spot_buy() -> None:
    # floor(5000 / 0.1001) = 49950 lots
    result, _ = run([FLAT, FLAT], {0: lambda s: s.buy(size=s.equity_fraction("0.5"))})

    assert fills(result)[0][2] == D("49.95")


def test_full_equity_perp_buy_with_leverage_fits_margin_and_fee() -> None:
    # per lot: initial margin 0.1 / 10 = 0.01 plus the fee on the full notional 0.0001:
    # floor(10000 / 0.0101) = 990099 lots. Margin 9900.99 + fee 99.0099 = 9999.9999.
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size=s.equity_fraction("1"))},
                        kind="perp", leverage="10")

    assert strat.events_of(OrderCanceled) == []
    assert fills(result) == [(1, "buy", D("990.099"), D("100.00"), D("99.0099"), "taker")]


def test_equity_fraction_on_limit_order_rejected() -> None:
    result, strat = run([FLAT, FLAT], {0: lambda s: s.buy(size=s.equity_fraction("1"),
                                                          price="99.00")})

    [rejected] = strat.events_of(OrderRejected)
    assert "equity-fraction" in rejected.reason
    assert fills(result) == []
