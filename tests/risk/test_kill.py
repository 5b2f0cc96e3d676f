"""The state driver's table of orders in flight (sent to a live venue, not yet answered):
answered orders leave it, so a run left trading does not keep every order it sent."""

from __future__ import annotations

from decimal import Decimal

from conftest import BTC_GRID
from heron.model.orders import Order, OrderEventKind, OrderSide, OrderType
from heron.node.paper import PaperEngine
from heron.venues.sim.config import SimVenueConfig


def _engine() -> PaperEngine:
    return PaperEngine(instruments=[BTC_GRID], strategies=[], cash=Decimal(10_000),
                       venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000,
                       book_streams=set(), quote_streams=set(), book_rules={}, header={})


def _sent(k: int) -> Order:
    order = Order(client_order_id=f"o{k}", strategy_id="s", instrument_id=BTC_GRID.id,
                  side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=1, ts_init=k,
                  price=100)
    order.apply(OrderEventKind.SUBMITTED, k)
    return order


def test_answered_orders_leave_the_in_flight_table_and_unanswered_ones_stay() -> None:
    driver = _engine().state_driver
    unanswered, sizes = [], []
    for k in range(5_000):
        order = _sent(k)
        driver.track(order)
        if k % 100 == 0:
            unanswered.append(order)       # the venue has not answered these
        else:
            order.apply(OrderEventKind.ACCEPTED, k)
        sizes.append(len(driver.in_flight))
    assert max(sizes) <= 2 * 256 + len(unanswered)
    assert all(o.client_order_id in driver.in_flight for o in unanswered)
    assert driver.working(BTC_GRID.id) == unanswered  # what could still fill, in order
