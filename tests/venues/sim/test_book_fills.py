"""The simulated venue against an L2 book and trade prints (tick replays).

The harness is the real venue, portfolio and order manager wired the way the backtest
node wires them; only the market data is fed by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from heron.core.clock import SimClock
from heron.core.ids import IdGenerator
from heron.execution.order_manager import OrderManager
from heron.model.book import L2Book
from heron.model.data import BookSnapshot
from heron.model.events import OrderFilled, OrderSubmitted, Record, SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from heron.model.portfolio import Portfolio
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.venue import SimVenue

T0 = 1_700_000_000_000_000_000


class Desk:
    """A venue with one instrument (tick 0.01, lot 1), a book, and everything it emitted."""

    def __init__(self) -> None:
        self.inst = Instrument(symbol="X", price_increment=Decimal("0.01"),
                               size_increment=Decimal("1"),
                               taker_fee=Decimal("0.001"), maker_fee=Decimal("0.0005"))
        self.pf = Portfolio([self.inst], 1_000_000 * 10**8, 8)
        self.pf.marks[self.inst.id] = 10_000
        self.om = OrderManager(self.pf)
        self.events: list[Record] = []
        self.ids = IdGenerator()
        self.venue = SimVenue(instruments=[self.inst], portfolio=self.pf, ids=self.ids,
                              clock=SimClock(T0), emit=self._emit, config=SimVenueConfig())
        self.book = L2Book(self.inst)
        self.venue.books[self.inst.id] = self.book
        self.snapshot(bids=((9_990, 5), (9_980, 10)), asks=((10_010, 3), (10_020, 4)))

    def _emit(self, event: Record) -> None:
        self.events.append(event)
        self.om.apply(event)

    def snapshot(self, *, bids: tuple[tuple[int, int], ...],
                 asks: tuple[tuple[int, int], ...]) -> None:
        self.book.apply_snapshot(BookSnapshot(self.inst, T0, T0, bids, asks, 1))

    def send(self, side: str, lots: int, *, price: int | None = None,
             trigger: int | None = None, tif: str = "gtc", post_only: bool = False) -> str:
        kind = (OrderType.MARKET if price is None else OrderType.LIMIT) if trigger is None \
            else (OrderType.STOP if price is None else OrderType.STOP_LIMIT)
        coid = self.ids.client_order_id("t")
        cmd = SubmitOrder(T0, T0, coid, "t", self.inst.id, OrderSide(side), kind, lots, price,
                          trigger, TimeInForce(tif), post_only)
        self.om.apply(cmd)
        self._emit(OrderSubmitted(T0, T0, coid, self.inst.id))
        self.venue.submit(cmd)
        return coid

    def fills(self, coid: str | None = None) -> list[tuple[int, int, str]]:
        return [(e.last_px, e.last_qty, e.liquidity) for e in self.events
                if isinstance(e, OrderFilled) and (coid is None or e.client_order_id == coid)]

    def status(self, coid: str) -> OrderStatus:
        return self.om.orders[coid].status


def test_market_order_walks_the_book_level_by_level_as_taker() -> None:
    desk = Desk()
    coid = desk.send("buy", 5)
    assert desk.fills(coid) == [(10_010, 3, "taker"), (10_020, 2, "taker")]
    assert desk.status(coid) is OrderStatus.FILLED
    fees = [e.fee for e in desk.events if isinstance(e, OrderFilled)]
    assert fees == [round(3 * Decimal("100.10") * Decimal("0.001") * 10**8),
                    round(2 * Decimal("100.20") * Decimal("0.001") * 10**8)]


def test_market_order_larger_than_the_book_waits_for_liquidity() -> None:
    desk = Desk()
    coid = desk.send("buy", 20)
    assert sum(q for _, q, _ in desk.fills(coid)) == 7
    assert desk.status(coid) is OrderStatus.PARTIALLY_FILLED
    desk.snapshot(bids=((9_990, 5),), asks=((10_030, 30),))
    desk.venue.on_book(desk.inst.id)
    assert desk.fills(coid)[-1] == (10_030, 13, "taker")
    assert desk.status(coid) is OrderStatus.FILLED


def test_limit_takes_what_crosses_then_rests_and_fills_as_maker_when_the_book_reaches_it(
        ) -> None:
    desk = Desk()
    coid = desk.send("buy", 5, price=10_015)
    assert desk.fills(coid) == [(10_010, 3, "taker")]
    desk.snapshot(bids=((9_990, 5),), asks=((10_015, 10), (10_030, 4)))
    desk.venue.on_book(desk.inst.id)
    assert desk.fills(coid)[-1] == (10_015, 2, "maker")
    assert desk.status(coid) is OrderStatus.FILLED


def test_resting_limit_fills_only_on_trades_through_it_and_up_to_their_size() -> None:
    desk = Desk()
    coid = desk.send("buy", 4, price=9_900)
    assert desk.fills(coid) == []
    desk.venue.on_trade(desk.inst.id, 9_900, 10)  # touch: queue unknown, no fill
    assert desk.fills(coid) == []
    desk.venue.on_trade(desk.inst.id, 9_899, 1)
    desk.venue.on_trade(desk.inst.id, 9_898, 7)
    assert desk.fills(coid) == [(9_900, 1, "maker"), (9_900, 3, "maker")]


def test_stop_triggers_on_a_trade_and_takes_the_book() -> None:
    desk = Desk()
    coid = desk.send("buy", 4, trigger=10_050)
    desk.venue.on_trade(desk.inst.id, 10_040, 1)
    assert desk.fills(coid) == []
    desk.venue.on_trade(desk.inst.id, 10_050, 1)
    assert desk.fills(coid) == [(10_010, 3, "taker"), (10_020, 1, "taker")]


@pytest.mark.parametrize(("tif", "filled", "status"), [
    ("ioc", 7, OrderStatus.CANCELED), ("fok", 0, OrderStatus.CANCELED)])
def test_immediate_orders_against_a_thin_book(tif: str, filled: int,
                                              status: OrderStatus) -> None:
    desk = Desk()
    coid = desk.send("buy", 9, price=10_020, tif=tif)
    assert sum(q for _, q, _ in desk.fills(coid)) == filled
    assert desk.status(coid) is status


def test_post_only_that_would_take_is_canceled_and_one_that_would_not_rests() -> None:
    desk = Desk()
    taking = desk.send("buy", 1, price=10_010, post_only=True)
    resting = desk.send("buy", 1, price=10_000, post_only=True)
    assert desk.status(taking) is OrderStatus.CANCELED
    assert desk.status(resting) is OrderStatus.ACCEPTED
    assert desk.fills() == []


def test_no_book_fills_until_the_book_is_synchronised() -> None:
    desk = Desk()
    desk.book = L2Book(desk.inst)  # never snapshotted: needs_snapshot
    desk.venue.books[desk.inst.id] = desk.book
    coid = desk.send("buy", 1, price=10_050)
    assert desk.fills(coid) == []
    assert desk.status(coid) is OrderStatus.ACCEPTED
