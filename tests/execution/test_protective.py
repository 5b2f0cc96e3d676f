"""Protective orders (stop-loss + take-profit, one cancels the other) in a real backtest on
the bundled BTC-PERP minute bars: whichever leg fills, the other is canceled or shrunk,
and the position never reverses through a protective order."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import heron
from heron.model.events import AmendOrder, CancelOrder, OrderFilled, SubmitOrder
from heron.model.orders import OrderStatus, OrderType
from heron.strategy.base import Strategy
from heron.strategy.params import Param

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


class BuyAndProtect(Strategy):
    """Buys once flat (every 30 bars), then protects the position at +/- ``band``."""

    name = "buy_and_protect"
    band = Param(Decimal("0.004"), gt=Decimal(0))
    take_half = Param(False)

    def on_start(self) -> None:
        self.legs: list[list[str]] = []

    def on_bar(self, bar: object) -> None:
        if self.position.is_flat and not self.has_open_orders() and self.ctx.index % 30 == 0:
            self.buy(size=Decimal("0.02"))

    def on_fill(self, order: object, fill: OrderFilled) -> None:
        pos = self.position
        if self.has_open_orders() or pos.is_flat:
            return
        px = self.instrument.price(fill.last_px)
        self.legs.append(self.protect(stop=px * (1 - self.band), take=px * (1 + self.band)))


def run(strategy: BuyAndProtect) -> heron.BacktestResult:  # type: ignore[name-defined]
    return heron.backtest(DATA, strategy=strategy, cash="100000", fee_bps="4", kind="perp")


def records(result: object, kind: type) -> list:  # type: ignore[type-arg]
    return [r for r in result.engine.journal.records if isinstance(r, kind)]  # type: ignore[attr-defined]


def test_one_leg_filling_cancels_the_other_and_the_position_never_flips() -> None:
    result = run(BuyAndProtect())
    om = result.engine.om
    strategy = result.engine.strategies[0]
    assert len(strategy.legs) >= 10
    resting = ({OrderStatus.ACCEPTED}, {OrderStatus.TRIGGERED, OrderStatus.ACCEPTED})
    for sl, tp in strategy.legs:
        stop, take = om.orders[sl], om.orders[tp]
        assert stop.order_type is OrderType.STOP and stop.reduce_only
        assert take.order_type is OrderType.LIMIT and take.reduce_only
        statuses = {stop.status, take.status}
        if statuses not in resting:  # a closed pair: one leg filled, heron canceled the other
            assert statuses == {OrderStatus.FILLED, OrderStatus.CANCELED}, statuses
    cancels = {c.client_order_id for c in records(result, CancelOrder)}
    filled_legs = [o for o in om.orders.values() if o.tag.startswith("oco:")
                   and o.status is OrderStatus.FILLED]
    assert filled_legs and all(o.quantity == o.filled for o in filled_legs)
    for fill in records(result, OrderFilled):
        order = om.orders[fill.client_order_id]
        if order.tag.startswith("oco:"):
            assert order.client_order_id not in cancels or order.status is OrderStatus.FILLED
    # a protective order only ever closes: every position is long or flat
    positions = result.engine.portfolio.positions
    assert all(p.qty >= 0 for p in positions.values())


def test_tags_link_the_pair_and_only_protective_orders_are_amended_or_canceled() -> None:
    result = run(BuyAndProtect(band=Decimal("0.002")))
    subs = {s.client_order_id: s for s in records(result, SubmitOrder)}
    touched = [c.client_order_id for c in records(result, CancelOrder)] + \
        [a.client_order_id for a in records(result, AmendOrder)]
    assert touched and all(subs[c].tag.startswith("oco:") for c in touched)
    groups: dict[str, set[str]] = {}
    for s in subs.values():
        if s.tag.startswith("oco:"):
            _, group, leg = s.tag.split(":")
            groups.setdefault(group, set()).add(leg)
    assert groups and all(legs == {"sl", "tp"} for legs in groups.values())


def test_protect_without_a_position_sends_nothing() -> None:
    class Eager(Strategy):
        name = "eager"

        def on_start(self) -> None:
            self.sent = self.protect(stop=Decimal(1), take=Decimal(2))

    result = heron.backtest(DATA, strategy=Eager(), cash="100000", kind="perp")
    assert result.engine.strategies[0].sent == [] and not records(result, SubmitOrder)
