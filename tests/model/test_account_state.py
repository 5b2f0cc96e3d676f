"""AccountState: the venue's wallet adopted by the portfolio, the jump kept visible."""

from __future__ import annotations

from decimal import Decimal

from heron.execution.order_manager import OrderManager
from heron.model.events import AccountState, OrderFilled, OrderSubmitted, SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.model.portfolio import Portfolio

PERP = Instrument("BTCUSDT", "BINANCE", InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.1"), size_increment=Decimal("0.001"))


def test_portfolio_account_state_sets_balance_and_accumulates_the_jump() -> None:
    pf = Portfolio([PERP], 1_000_00000000, 8)
    assert pf.apply_account_state(AccountState(1, 1, "v", "USDT", 1_010_00000000,
                                               900_00000000)) == 10_00000000
    assert pf.apply_account_state(AccountState(2, 2, "v", "USDT", 1_005_00000000,
                                               905_00000000)) == -5_00000000
    assert (pf.balance, pf.adjustments, pf.free) == (1_005_00000000, 5_00000000,
                                                     905_00000000)
    assert pf.starting_balance == 1_000_00000000


def test_order_manager_routes_account_state_and_records_trade_ids() -> None:
    om = OrderManager(Portfolio([PERP], 1_000_00000000, 8))
    om.apply(SubmitOrder(1, 1, "H-1", "s", PERP.id, OrderSide.BUY, OrderType.MARKET, 2))
    om.apply(OrderSubmitted(1, 1, "H-1", PERP.id))
    om.apply(OrderFilled(2, 2, "H-1", PERP.id, "V1", "T1", "s", OrderSide.BUY, 2, 500_000,
                         100, "taker", 2))
    assert om.trade_ids == {(PERP.id, "T1"): "H-1"}  # the fill, and whose it is
    assert om.apply(AccountState(3, 3, "v", "USDT", 7, 7)) is None
    assert om.portfolio.balance == 7
