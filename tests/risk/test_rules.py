"""Each pre-trade rule: passes at its limit, denies one step past it, with the exact reason.

The engine is built on a real portfolio and order manager; orders are plain
``SubmitOrder`` commands in ticks and lots of the instrument (tick 0.1, lot 0.001).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from heron.execution.order_manager import OrderManager
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    SubmitOrder,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.model.portfolio import Portfolio
from heron.risk.limits import parse_limits
from heron.risk.pretrade import Denial, PreTradeEngine

BTC = Instrument("BTCUSDT", venue="BINANCE", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.1"), size_increment=Decimal("0.001"),
                 min_quantity=Decimal("0.002"), min_notional=Decimal("5"),
                 quote_currency="USDT", margin_init=Decimal("0.1"))
ETH = Instrument("ETHUSDT", venue="BINANCE", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.01"), size_increment=Decimal("0.001"),
                 quote_currency="USDT", margin_init=Decimal("0.1"))
PRECISION = 8
MARK = 1_000_000  # ticks: 100,000.0 USDT


class Account:
    """A real portfolio, order manager and engine; records applied as the node does."""

    def __init__(self, limits: dict[str, object], cash: str = "100000") -> None:
        self.pf = Portfolio([BTC, ETH], int(Decimal(cash).scaleb(PRECISION)), PRECISION)
        self.pf.marks.update({BTC.id: MARK, ETH.id: 300_000})  # ETH at 3,000.00
        self.om = OrderManager(self.pf)
        self.ts = 1_000_000_000
        self.engine = PreTradeEngine(parse_limits({"limits": limits}), portfolio=self.pf,
                                     om=self.om, now=lambda: self.ts)

    def check(self, cmd: SubmitOrder) -> object:
        return self.engine.check_submit(cmd)

    def reason(self, cmd: SubmitOrder) -> str:
        verdict = self.check(cmd)
        assert isinstance(verdict, Denial), verdict
        return verdict.reason

    def rest(self, cmd: SubmitOrder) -> None:
        """The order is working at the venue."""
        self._apply(cmd, OrderSubmitted(0, 0, cmd.client_order_id, cmd.instrument_id),
                    OrderAccepted(0, 0, cmd.client_order_id, cmd.instrument_id, "V"))

    def fill(self, lots: int, side: OrderSide = OrderSide.BUY, inst: Instrument = BTC,
             px: int = MARK) -> None:
        """A filled market order: the account holds the position."""
        cmd = _order(lots, side=side, inst=inst)
        self.rest(cmd)
        self._apply(OrderFilled(0, 0, cmd.client_order_id, inst.id, "V", f"T{cmd.client_order_id}",
                                "s", side, lots, px, 0, "taker", lots))

    def _apply(self, *records: object) -> None:
        for record in records:
            order = self.om.apply(record)  # type: ignore[arg-type]
            if order is not None and not isinstance(record, SubmitOrder):
                self.engine.observe(order, record)  # type: ignore[arg-type]


_n = iter(range(1_000_000))


def _order(lots: int, *, price: int | None = None, side: OrderSide = OrderSide.BUY,
           inst: Instrument = BTC, strategy: str = "s", reduce_only: bool = False
           ) -> SubmitOrder:
    kind = OrderType.MARKET if price is None else OrderType.LIMIT
    return SubmitOrder(0, 0, f"O-{next(_n)}", strategy, inst.id, side, kind, lots, price,
                       reduce_only=reduce_only)


def test_min_quantity_passes_at_minimum_and_denies_one_lot_below() -> None:
    acct = Account({})

    assert acct.check(_order(2)) is None
    assert acct.reason(_order(1)) == "min_quantity: quantity 0.001 < minimum 0.002 of BTCUSDT"


def test_min_notional_passes_at_minimum_and_denies_one_tick_below() -> None:
    acct = Account({})

    assert acct.check(_order(2, price=25_000)) is None  # 2,500.0 x 0.002 = 5
    assert acct.reason(_order(2, price=24_999)) == (
        "min_notional: notional 4.9998 USDT < minimum 5 of BTCUSDT")


def test_max_order_quantity_per_instrument_overrides_the_default() -> None:
    acct = Account({"max_order_quantity": "10",
                    "instruments": {"BTCUSDT.BINANCE": {"max_order_quantity": "0.5"}}})

    assert acct.check(_order(500)) is None
    assert acct.reason(_order(501)) == "max_order_quantity: quantity 0.501 > limit 0.5"
    assert acct.check(_order(10_000, inst=ETH)) is None
    assert acct.reason(_order(10_001, inst=ETH)) == (
        "max_order_quantity: quantity 10.001 > limit 10")


def test_max_order_notional_at_mark_for_market_orders_and_limit_price_otherwise() -> None:
    acct = Account({"max_order_notional": "10000"})

    assert acct.check(_order(100)) is None  # 0.1 at 100,000.0
    assert acct.reason(_order(101)) == (
        "max_order_notional: notional 10,100.00 USDT > limit 10,000.00")
    assert acct.check(_order(200, price=500_000)) is None  # 0.2 at 50,000.0
    assert acct.reason(_order(200, price=500_001)) == (
        "max_order_notional: notional 10,000.02 USDT > limit 10,000.00")


def test_price_band_both_sides_of_the_mark() -> None:
    acct = Account({"price_band_bps": 500})

    assert acct.check(_order(10, price=1_050_000)) is None
    assert acct.reason(_order(10, price=1_050_001)) == (
        "price_band: price 105000.1 is 500.01 bps from mark 100000.0 > band 500 bps")
    assert acct.check(_order(10, price=950_000, side=OrderSide.SELL)) is None
    assert acct.reason(_order(10, price=949_999, side=OrderSide.SELL)) == (
        "price_band: price 94999.9 is 500.01 bps from mark 100000.0 > band 500 bps")


def test_price_band_accepts_fractional_bps() -> None:
    acct = Account({"price_band_bps": "2.5"})

    assert acct.check(_order(10, price=1_000_250)) is None
    assert acct.reason(_order(10, price=1_000_251)) == (
        "price_band: price 100025.1 is 2.51 bps from mark 100000.0 > band 2.5 bps")


def test_max_position_counts_the_position_and_working_orders() -> None:
    acct = Account({"max_position": "1"})
    acct.fill(500)
    acct.rest(_order(300, price=990_000))

    assert acct.check(_order(200)) is None
    assert acct.reason(_order(201)) == (
        "max_position: position would be 1.001 (now 0.5, working orders 0.3, "
        "this order 0.201) > limit 1")
    assert acct.check(_order(1500, side=OrderSide.SELL)) is None  # to -1: at the limit
    assert acct.reason(_order(1501, side=OrderSide.SELL)) == (
        "max_position: position would be -1.001 (now 0.5, working orders 0, "
        "this order -1.501) > limit 1")


def test_max_position_lets_an_order_reduce_a_position_above_the_limit() -> None:
    acct = Account({"max_position": "1"})
    acct.fill(3000)  # 3 BTC, above the limit (set before a restart, say)

    assert acct.check(_order(1000, side=OrderSide.SELL)) is None
    assert acct.check(_order(2, reduce_only=True, side=OrderSide.SELL)) is None
    assert acct.reason(_order(2)).startswith("max_position: position would be 3.002")


def test_max_gross_exposure_sums_every_position_at_its_mark() -> None:
    acct = Account({"max_gross_exposure": "150000"})
    acct.fill(1000)                                   # 100,000 long BTC
    acct.fill(10_000, side=OrderSide.SELL, inst=ETH, px=300_000)  # 30,000 short ETH

    assert acct.check(_order(200)) is None            # 120,000 + 30,000
    assert acct.reason(_order(201)) == (
        "max_gross_exposure: gross exposure 150,100.00 USDT > limit 150,000.00")


def test_exposure_follows_marks_written_after_the_engine_was_built() -> None:
    acct = Account({"max_gross_exposure": "150000"})
    acct.fill(1000)                                   # 1 BTC long at 100,000
    acct.fill(10_000, side=OrderSide.SELL, inst=ETH, px=300_000)  # 10 ETH short at 3,000
    acct.pf.marks[BTC.id] = 1_100_000                 # the node marks BTC at 110,000
    acct.pf.marks[ETH.id] = 250_000                   # and ETH at 2,500: gross 135,000

    assert acct.check(_order(136, inst=BTC)) is None  # 135,000 + 14,960
    assert acct.reason(_order(137)) == (
        "max_gross_exposure: gross exposure 150,070.00 USDT > limit 150,000.00")
    acct.fill(1000, side=OrderSide.SELL, px=1_100_000)  # BTC closed: gross 25,000
    assert acct.check(_order(1136)) is None           # 25,000 + 124,960


def test_max_net_exposure_and_orders_that_lower_it() -> None:
    acct = Account({"max_net_exposure": "120000"})
    acct.fill(1000)

    assert acct.check(_order(200)) is None
    assert acct.reason(_order(201)) == (
        "max_net_exposure: net exposure 120,100.00 USDT > limit 120,000.00")
    assert acct.check(_order(50_000, side=OrderSide.SELL, inst=ETH)) is None  # net -50,000
    assert acct.check(_order(2_200, side=OrderSide.SELL)) is None  # to -120,000
    assert acct.reason(_order(2_201, side=OrderSide.SELL)) == (
        "max_net_exposure: net exposure -120,100.00 USDT > limit 120,000.00")


def test_max_leverage_gross_over_equity() -> None:
    acct = Account({"max_leverage": "2"})

    assert acct.check(_order(2000)) is None            # 200,000 on 100,000 equity
    assert acct.reason(_order(2001)) == (
        "max_leverage: leverage 2.0010 > limit 2 (gross 200,100.00 / equity "
        "100,000.00 USDT)")


def test_max_leverage_uses_equity_with_unrealised_pnl() -> None:
    acct = Account({"max_leverage": "2"})
    acct.fill(1000, px=900_000)  # bought 1 BTC at 90,000; marked at 100,000: +10,000

    assert acct.check(_order(1200)) is None            # 220,000 on 110,000
    assert acct.reason(_order(1201)).startswith("max_leverage: leverage 2.0009 > limit 2")


def test_whitelist_by_symbol_or_id() -> None:
    acct = Account({"whitelist": ["ETHUSDT"]})

    assert acct.check(_order(10, inst=ETH)) is None
    assert acct.reason(_order(10)) == (
        "whitelist: instrument BTCUSDT.BINANCE is not in the whitelist")


def test_order_rate_sliding_window_on_the_run_clock() -> None:
    acct = Account({"order_rate": {"count": 2, "window_s": 1}})

    assert acct.check(_order(10)) is None
    acct.ts += 500_000_000
    assert acct.check(_order(10)) is None
    assert acct.reason(_order(10)) == "order_rate: 3 orders in 1s > limit 2"
    acct.ts += 500_000_000  # the first one leaves the window
    assert acct.check(_order(10)) is None


def test_order_rate_does_not_count_denied_orders() -> None:
    acct = Account({"order_rate": {"count": 1, "window_s": 1}, "max_order_quantity": "1"})

    assert acct.reason(_order(1001)).startswith("max_order_quantity")
    assert acct.check(_order(10)) is None


def test_cancel_rate() -> None:
    acct = Account({"cancel_rate": {"count": 1, "window_s": "0.5"}})
    cancel = CancelOrder(0, 0, "X", "s", BTC.id)

    assert acct.engine.check_cancel(cancel) is None
    denial = acct.engine.check_cancel(cancel)
    assert denial == Denial("cancel_rate", "cancel_rate: 2 cancels in 0.5s > limit 1")
    acct.ts += 500_000_000
    assert acct.engine.check_cancel(cancel) is None


def test_self_trade_cancel_new_denies_a_crossing_order_of_the_same_strategy() -> None:
    acct = Account({"self_trade": "cancel-new"})
    resting = _order(300, price=1_000_100, side=OrderSide.SELL)
    acct.rest(resting)

    assert acct.check(_order(10, price=1_000_099)) is None
    assert acct.check(_order(10, price=1_000_100, strategy="other")) is None
    assert acct.reason(_order(10, price=1_000_100)) == (
        f"self_trade: buy at 100010.0 would trade with own resting sell "
        f"{resting.client_order_id} at 100010.0 (cancel-new)")
    assert acct.reason(_order(10)).startswith("self_trade: buy at market would trade")


def test_self_trade_cancel_resting_cancels_every_crossing_order_best_first() -> None:
    acct = Account({"self_trade": "cancel-resting"})
    far = _order(100, price=1_000_200, side=OrderSide.SELL)
    near = _order(100, price=1_000_100, side=OrderSide.SELL)
    out_of_reach = _order(100, price=1_000_300, side=OrderSide.SELL)
    for cmd in (far, near, out_of_reach):
        acct.rest(cmd)
    new = _order(10, price=1_000_200)

    plan = acct.check(new)

    assert not isinstance(plan, Denial) and plan is not None
    assert [(type(c).__name__, c.client_order_id) for c in plan.before] == [
        ("CancelOrder", near.client_order_id), ("CancelOrder", far.client_order_id)]
    assert plan.cmd is new


def test_self_trade_decrement_both_reduces_both_by_the_overlap() -> None:
    acct = Account({"self_trade": "decrement-both"})
    resting = _order(300, price=1_000_000, side=OrderSide.SELL)
    acct.rest(resting)

    plan = acct.check(_order(500, price=1_000_000))
    assert not isinstance(plan, Denial) and plan is not None
    assert [type(c).__name__ for c in plan.before] == ["CancelOrder"]
    assert plan.cmd.quantity == 200

    smaller = acct.check(_order(200, price=1_000_000))
    assert not isinstance(smaller, Denial) and smaller is not None
    assert [(type(c).__name__, c.quantity) for c in smaller.before] == [  # type: ignore[attr-defined]
        ("AmendOrder", 100)]
    assert smaller.denial is not None and smaller.denial.rule == "self_trade"
    assert smaller.denial.reason.startswith("self_trade: buy 0.2 fully offsets own resting")


def test_decrement_both_amends_a_partly_offset_resting_order() -> None:
    acct = Account({"self_trade": "decrement-both"})
    a = _order(100, price=1_000_000, side=OrderSide.SELL)
    b = _order(300, price=1_000_050, side=OrderSide.SELL)
    acct.rest(a)
    acct.rest(b)

    plan = acct.check(_order(250, price=1_000_050))

    # 100 from a (cancelled), 150 of b's 300 (amended to 150): nothing left of the new one
    assert not isinstance(plan, Denial) and plan is not None and plan.denial is not None
    assert [(type(c).__name__, c.client_order_id) for c in plan.before] == [
        ("CancelOrder", a.client_order_id), ("AmendOrder", b.client_order_id)]
    assert plan.before[1].quantity == 150  # type: ignore[attr-defined]


def test_amend_is_checked_against_order_limits_and_the_price_band() -> None:
    acct = Account({"max_order_quantity": "0.5", "price_band_bps": 100})
    cmd = _order(100, price=1_000_000)
    acct.rest(cmd)
    amend = AmendOrder(0, 0, cmd.client_order_id, "s", BTC.id)

    assert acct.engine.check_amend(
        AmendOrder(0, 0, cmd.client_order_id, "s", BTC.id, quantity=500)) is None
    assert acct.engine.check_amend(amend) is None
    big = acct.engine.check_amend(
        AmendOrder(0, 0, cmd.client_order_id, "s", BTC.id, quantity=501))
    assert big == Denial("max_order_quantity", "max_order_quantity: quantity 0.501 > limit 0.5")
    far = acct.engine.check_amend(
        AmendOrder(0, 0, cmd.client_order_id, "s", BTC.id, price=1_010_001))
    assert far is not None and far.rule == "price_band"


def test_amend_growing_an_order_passes_the_exposure_limits_with_the_increase() -> None:
    def amend_to(limits: dict[str, object], lots: int) -> Denial | None:
        acct = Account(limits)
        acct.fill(1000)                               # 100,000 long BTC
        cmd = _order(300, price=990_000)              # a working bid for 0.3 BTC more
        acct.rest(cmd)
        return acct.engine.check_amend(
            AmendOrder(0, 0, cmd.client_order_id, "s", BTC.id, quantity=lots))

    gross = {"max_gross_exposure": "110000"}
    assert amend_to(gross, 400) is None               # +0.1 BTC at the mark: 110,000
    assert amend_to(gross, 200) is None               # smaller: no exposure check
    assert amend_to(gross, 401) == Denial("max_gross_exposure", (
        "max_gross_exposure: gross exposure 110,100.00 USDT > limit 110,000.00"))
    assert amend_to({"max_leverage": "1.1"}, 401) == Denial("max_leverage", (
        "max_leverage: leverage 1.1010 > limit 1.1 (gross 110,100.00 / equity "
        "100,000.00 USDT)"))


def test_no_limits_checks_only_minimums() -> None:
    acct = Account({})

    assert acct.check(_order(10_000_000)) is None
    assert acct.check(_order(10, price=1, side=OrderSide.SELL)) is not None  # min notional
    assert acct.engine.watching is False


@pytest.mark.parametrize("mode", ["cancel-new", "cancel-resting", "decrement-both"])
def test_self_trade_ignores_orders_on_the_same_side(mode: str) -> None:
    acct = Account({"self_trade": mode})
    acct.rest(_order(300, price=1_000_000))

    assert acct.check(_order(10, price=1_000_000)) is None
