"""Hypothesis: under DEGRADED, REDUCING and HALTED no random order stream can increase
``|position|``, counting what resting orders could still fill.

A paper node filling against a one-level book (quotes) takes a random history in READY
(market orders building a position, limit orders resting on both sides), is moved to the
state, then gets a random stream of submits (market and limit, either side, any size,
reduce-only or not), amends, cancels and quotes that sweep through the resting prices.
After every step: ``|position|`` is at most what it was at the transition, and so is
``|position|`` after the worst mix of fills of every open order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BTC_GRID
from heron.model.book import LinkedSequence
from heron.model.data import Quote
from heron.model.events import AmendOrder, CancelOrder, SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.paper import PaperEngine
from heron.risk.state import RunState
from heron.venues.sim.config import SimVenueConfig

INST = BTC_GRID
MID = 3_000_000   # 30,000.00 in ticks
LOT = 1_000       # 0.001 BTC in lots


class Node:
    def __init__(self) -> None:
        self.engine = PaperEngine(
            instruments=[INST], strategies=[], cash=Decimal(10_000_000),
            venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000,
            book_streams=set(), quote_streams={INST.id},
            book_rules={INST.id: LinkedSequence()}, header={})
        self.engine.start()
        self.ts = 1_600_000_000_000_000_000
        self.n = 0
        self.quote(MID)

    def quote(self, mid: int) -> None:
        self.ts += 1_000_000
        self.engine.consume(Quote(INST, self.ts, self.ts, mid - 1, mid + 1, 10**9, 10**9,
                                  self.n))
        self.n += 1

    def submit(self, side: OrderSide, lots: int, offset: int | None, reduce_only: bool) -> str:
        e = self.engine
        cid = e.ids.client_order_id("p")
        kind = OrderType.MARKET if offset is None else OrderType.LIMIT
        price = None if offset is None else MID + offset
        e.send(SubmitOrder(self.ts, self.ts, cid, "p", INST.id, side, kind, lots, price,
                           reduce_only=reduce_only))
        return cid

    def worst(self) -> int:
        """The largest ``|position|`` any mix of fills of the open orders could reach."""
        e = self.engine
        pos = e.portfolio.positions[INST.id].qty
        working = e.state_driver.working(INST.id)
        buys = sum(o.leaves for o in working if o.side is OrderSide.BUY)
        sells = sum(o.leaves for o in working if o.side is OrderSide.SELL)
        return max(abs(pos + buys), abs(pos - sells))


sides = st.sampled_from([OrderSide.BUY, OrderSide.SELL])
submit = st.tuples(st.just("submit"), sides, st.integers(1, 20),
                   st.one_of(st.none(), st.integers(-300, 300)), st.booleans())
cancel = st.tuples(st.just("cancel"), st.integers(0, 50))
amend = st.tuples(st.just("amend"), st.integers(0, 50), st.integers(1, 30))
sweep = st.tuples(st.just("quote"), st.integers(-400, 400))
steps = st.lists(st.one_of(submit, cancel, amend, sweep), max_size=40)


def _apply(node: Node, step: tuple[Any, ...], cids: list[str]) -> None:
    e = node.engine
    if step[0] == "submit":
        _, side, lots, offset, reduce_only = step
        cids.append(node.submit(side, lots * LOT, offset, reduce_only))
    elif step[0] == "quote":
        node.quote(MID + step[1])
    elif cids:
        order = e.om.orders[cids[step[1] % len(cids)]]
        if step[0] == "cancel":
            e.send(CancelOrder(node.ts, node.ts, order.client_order_id, "p", INST.id))
        else:
            e.send(AmendOrder(node.ts, node.ts, order.client_order_id, "p", INST.id,
                              quantity=step[2] * LOT))


def _enter(node: Node, state: RunState) -> None:
    e = node.engine
    if state is RunState.DEGRADED:
        e.machine.fire("soft_drawdown", "test")
    else:
        e.kill(flatten=state is RunState.REDUCING, reason="test", actor="hypothesis")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=st.sampled_from([RunState.DEGRADED, RunState.REDUCING, RunState.HALTED]),
       before=steps, after=steps)
def test_no_order_stream_increases_exposure_once_restricted(
        state: RunState, before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> None:
    node = Node()
    cids: list[str] = []
    for step in before:
        _apply(node, step, cids)
    _enter(node, state)
    e = node.engine
    bound = abs(e.portfolio.positions[INST.id].qty)
    assert node.worst() <= bound
    for step in after:
        _apply(node, step, cids)
        assert abs(e.portfolio.positions[INST.id].qty) <= bound, step
        assert node.worst() <= bound, step
    if state is not RunState.DEGRADED:
        assert e.machine.state is RunState.HALTED  # REDUCING flattened (book fills at once)
        if state is RunState.REDUCING:
            assert e.portfolio.positions[INST.id].qty == 0
