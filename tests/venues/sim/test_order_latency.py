"""The simulated venue's order latency: a command sent at ``t`` is handled at ``t + L``.

The harness is the real venue, kernel, clock and order manager wired the way the node
wires them (the kernel delays the commands); only the book is set by hand.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from heron.core.clock import SimClock
from heron.core.ids import IdGenerator
from heron.core.kernel import Kernel
from heron.execution.order_manager import OrderManager
from heron.model.book import L2Book
from heron.model.data import BookSnapshot
from heron.model.events import (
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.model.portfolio import Portfolio
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.venue import SimVenue

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


class Desk:
    """One instrument (tick 0.01, lot 1) with a book, on a venue ``latency`` away."""

    def __init__(self, latency: int) -> None:
        self.inst = Instrument(symbol="X", price_increment=Decimal("0.01"),
                               size_increment=Decimal("1"))
        self.pf = Portfolio([self.inst], 1_000_000 * 10**8, 8)
        self.om = OrderManager(self.pf)
        self.events: list[tuple[int, Record]] = []  # (clock when emitted, event)
        self.ids = IdGenerator()
        self.clock = SimClock(T0)
        self.kernel = Kernel(self.clock)
        self.venue = SimVenue(instruments=[self.inst], portfolio=self.pf, ids=self.ids,
                              clock=self.clock, emit=self._emit,
                              config=SimVenueConfig(latency_ns=latency),
                              schedule=self.kernel.schedule)
        self.book = L2Book(self.inst)
        self.venue.books[self.inst.id] = self.book
        self.quote(ask=10_010)

    def _emit(self, event: Record) -> None:
        self.events.append((self.clock.ts, event))
        self.om.apply(event)

    def quote(self, *, ask: int) -> None:
        self.book.apply_snapshot(BookSnapshot(self.inst, self.clock.ts, self.clock.ts,
                                              ((ask - 20, 5),), ((ask, 5),), 1))

    def at(self, ts: int) -> None:
        """Move time to ``ts`` the way a replay does: due commands first."""
        self.kernel.run_due(ts)
        self.clock.ts = ts

    def send(self, lots: int, *, price: int | None = None, tif: str = "gtc") -> str:
        coid = self.ids.client_order_id("t")
        now = self.clock.ts
        cmd = SubmitOrder(now, now, coid, "t", self.inst.id, OrderSide.BUY,
                          OrderType.MARKET if price is None else OrderType.LIMIT, lots, price,
                          None, TimeInForce(tif))
        self.om.apply(cmd)
        self._emit(OrderSubmitted(now, now, coid, self.inst.id))
        self.venue.submit(cmd)
        return coid

    def fills(self) -> list[tuple[int, int]]:
        return [(ts, e.last_px) for ts, e in self.events if isinstance(e, OrderFilled)]


def test_an_order_meets_the_book_as_it_is_when_it_arrives() -> None:
    desk = Desk(latency=50 * MS)
    desk.send(2)
    assert desk.fills() == [] and desk.kernel.pending() == 1
    desk.at(T0 + 30 * MS)
    desk.quote(ask=10_040)   # the market moves while the order travels
    desk.at(T0 + 50 * MS)
    assert desk.fills() == [(T0 + 50 * MS, 10_040)]
    accepted = [ts for ts, e in desk.events if isinstance(e, OrderAccepted)]
    assert accepted == [T0 + 50 * MS]


def test_without_latency_the_order_fills_at_once_on_the_book_it_was_sent_on() -> None:
    desk = Desk(latency=0)
    desk.send(2)
    assert desk.fills() == [(T0, 10_010)] and desk.kernel.pending() == 0


def test_an_ioc_limit_finds_the_book_gone_and_is_canceled() -> None:
    desk = Desk(latency=10 * MS)
    coid = desk.send(2, price=10_015, tif="ioc")
    desk.at(T0 + 5 * MS)
    desk.quote(ask=10_030)
    desk.at(T0 + 10 * MS)
    assert desk.fills() == []
    assert [e.client_order_id for _, e in desk.events if isinstance(e, OrderCanceled)] == [coid]


def test_commands_arrive_in_the_order_sent() -> None:
    desk = Desk(latency=20 * MS)
    coid = desk.send(2, price=9_000)  # rests far below the ask
    desk.at(T0 + 1 * MS)
    desk.venue.cancel(CancelOrder(desk.clock.ts, desk.clock.ts, coid, "t", desk.inst.id))
    desk.at(T0 + 20 * MS)            # the order arrives and rests; the cancel is on its way
    assert desk.om.orders[coid].is_open
    desk.at(T0 + 21 * MS)
    canceled = [ts for ts, e in desk.events if isinstance(e, OrderCanceled)]
    assert canceled == [T0 + 21 * MS]


def test_a_latency_without_a_kernel_is_refused() -> None:
    inst = Instrument(symbol="X", size_increment=Decimal("1"))
    pf = Portfolio([inst], 10**8, 8)
    with pytest.raises(ValueError, match="latency needs the node's kernel"):
        SimVenue(instruments=[inst], portfolio=pf, ids=IdGenerator(), clock=SimClock(T0),
                 emit=lambda e: None, config=SimVenueConfig(latency_ns=1))
