"""Reconciliation property: whatever happened at the venue while heron was down, after
the catch-up records heron's positions, open orders and balance equal the venue's, a
second pass finds nothing, and no record asks for an order to be sent.

The venue is a tiny model kept in this file (orders, fills, one position, a wallet);
heron is a real OrderManager and Portfolio fed records, as after a journal replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.execution.order_manager import OrderManager
from heron.execution.reconcile import adopted_id, client_id_map, reconcile
from heron.execution.reconcile_report import ADOPTED
from heron.model.account import (
    AccountSnapshot,
    VenueBalance,
    VenueFill,
    VenueOrder,
    VenueOrderStatus,
    VenuePosition,
)
from heron.model.events import (
    OrderAccepted,
    OrderCancelRequested,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.model.portfolio import Portfolio

INST = Instrument("ETHUSDT", "BINANCE", InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.01"), size_increment=Decimal("0.001"),
                  quote_currency="USDT")
IID = INST.id
PREC = 8
START = Decimal(5000)
FEE = Decimal("0.0125")
_S = VenueOrderStatus


@dataclass
class _Order:
    venue_id: str
    client_id: str
    side: OrderSide
    quantity: int
    price: int
    filled: int = 0
    status: VenueOrderStatus = _S.OPEN
    ts: int = 0


@dataclass
class VenueModel:
    """Matching-free venue: orders fill, cancel and change only when told to."""

    orders: dict[str, _Order] = field(default_factory=dict)
    fills: list[VenueFill] = field(default_factory=list)
    position: int = 0
    balance: Decimal = START
    clock: int = 1_000

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def place(self, client_id: str, side: OrderSide, qty: int, price: int) -> str:
        vid = f"V{len(self.orders) + 1}"
        self.orders[vid] = _Order(vid, client_id, side, qty, price, ts=self.tick())
        return vid

    def fill(self, vid: str, qty: int) -> VenueFill:
        o = self.orders[vid]
        qty = min(qty, o.quantity - o.filled)
        o.filled += qty
        o.status = _S.FILLED if o.filled == o.quantity else _S.PARTIALLY_FILLED
        self.position += qty * o.side.sign
        self.balance -= FEE
        f = VenueFill(venue="sim", instrument_id=IID, trade_id=f"T{len(self.fills) + 1}",
                      venue_order_id=vid, client_order_id=o.client_id, side=o.side,
                      quantity=qty, price=o.price, fee=FEE, fee_currency="USDT",
                      liquidity="maker", ts=self.tick(), raw={})
        self.fills.append(f)
        return f

    def open_ids(self) -> list[str]:
        return [vid for vid, o in self.orders.items() if o.status.is_open]

    def view(self, vid: str) -> VenueOrder:
        o = self.orders[vid]
        return VenueOrder(venue="sim", instrument_id=IID, venue_order_id=vid,
                          client_order_id=o.client_id, side=o.side,
                          order_type=OrderType.LIMIT, status=o.status, quantity=o.quantity,
                          filled=o.filled, price=o.price, ts=o.ts)

    def snapshot(self) -> AccountSnapshot:
        return AccountSnapshot(
            venue="sim", ts=self.tick(), open_orders=[self.view(v) for v in self.open_ids()],
            positions=[VenuePosition(venue="sim", instrument_id=IID, quantity=self.position)],
            balances=[VenueBalance(venue="sim", currency="USDT", total=self.balance,
                                   free=self.balance)],
            fills=list(self.fills))


def venue_client_id(cid: str) -> str:
    return f"x-{cid}"


# -- heron up: orders sent, some answered, some fills seen, then a crash ------------------
heron_orders = st.lists(st.tuples(
    st.sampled_from(OrderSide), st.integers(1, 20), st.integers(-50, 50),
    st.booleans(),                    # heron received the acceptance
    st.integers(0, 20),               # lots filled while heron was up (acked orders)
    st.sampled_from(["none", "lost", "done"]),  # a cancel request: none / lost / executed
), max_size=6)

down_actions = st.lists(st.tuples(
    st.sampled_from(["fill", "cancel", "amend", "place", "market", "transfer"]),
    st.integers(0, 50), st.integers(1, 20), st.integers(-50, 50), st.booleans(),
), max_size=25)


def heron_up(om: OrderManager, venue: VenueModel,
             specs: list[tuple[OrderSide, int, int, bool, int, str]]) -> None:
    for n, (side, qty, offset, acked, prefill, cancel) in enumerate(specs):
        cid = f"H-{n}"
        ts = venue.tick()
        om.apply(SubmitOrder(ts, ts, cid, "s1", IID, side, OrderType.LIMIT, qty,
                             300_000 + offset))
        om.apply(OrderSubmitted(ts, ts, cid, IID))
        vid = venue.place(venue_client_id(cid), side, qty, 300_000 + offset)
        if not acked:
            continue  # the acceptance was lost: heron still waits in SUBMITTED
        om.apply(OrderAccepted(ts, ts, cid, IID, vid))
        if prefill and prefill < qty:
            f = venue.fill(vid, prefill)
            om.apply(OrderFilled(f.ts, f.ts, cid, IID, vid, f.trade_id, "s1", f.side,
                                 f.quantity, f.price, int(FEE.scaleb(PREC)), "maker", qty))
        if cancel != "none":
            om.apply(OrderCancelRequested(ts, ts, cid, IID))
            if cancel == "done":
                venue.orders[vid].status = _S.CANCELED


def venue_while_down(venue: VenueModel,
                     actions: list[tuple[str, int, int, int, bool]]) -> None:
    for kind, pick, qty, offset, named in actions:
        open_ids = venue.open_ids()
        target = open_ids[pick % len(open_ids)] if open_ids else None
        if kind == "fill" and target:
            venue.fill(target, qty)
        elif kind == "cancel" and target:
            venue.orders[target].status = _S.CANCELED
        elif kind == "amend" and target:
            o = venue.orders[target]
            o.quantity, o.price = max(o.filled + 1, qty), o.price + offset
        elif kind in ("place", "market"):
            side = OrderSide.BUY if offset >= 0 else OrderSide.SELL
            vid = venue.place(f"web_{len(venue.orders)}" if named else "", side, qty,
                              300_000 + offset)
            if kind == "market":
                venue.fill(vid, qty)
        elif kind == "transfer":
            venue.balance += Decimal(offset) / 4


def heron_id(vo: VenueOrder) -> str:
    if vo.client_order_id.startswith("x-"):
        return vo.client_order_id[2:]
    return adopted_id(vo.venue_order_id, vo.client_order_id)


def reconcile_and_apply(om: OrderManager, venue: VenueModel) -> list[Record]:
    snap = venue.snapshot()
    listed = {o.venue_order_id for o in snap.open_orders}
    closed = [venue.view(vid) for vid in venue.orders if vid not in listed]  # fetch_missing
    report = reconcile(om, snap, currency="USDT", ts=snap.ts,
                       client_ids=client_id_map(om, venue_client_id), closed=closed)
    assert report.clean, report.lines()
    for record in report.records:
        om.apply(record)
    return report.records


@settings(max_examples=300, deadline=None)
@given(heron_orders, down_actions)
def test_reconcile_after_downtime_matches_venue_and_sends_nothing(
        specs: list[tuple[OrderSide, int, int, bool, int, str]],
        actions: list[tuple[str, int, int, int, bool]]) -> None:
    om = OrderManager(Portfolio([INST], int(START.scaleb(PREC)), PREC))
    venue = VenueModel()
    heron_up(om, venue, specs)
    venue_while_down(venue, actions)

    records = reconcile_and_apply(om, venue)

    assert om.portfolio.positions[IID].qty == venue.position
    assert om.portfolio.balance == int(venue.balance.scaleb(PREC))
    assert {cid: (o.side, o.leaves, o.price, o.venue_order_id)
            for cid, o in om.open_orders.items()} == \
        {heron_id(vo): (vo.side, vo.leaves, vo.price, vo.venue_order_id)
         for vo in map(venue.view, venue.open_ids())}
    for vid, vo in venue.orders.items():  # closed ones too: same fills, same fate
        order = om.orders.get(heron_id(venue.view(vid)))
        if order is None:  # placed and canceled by hand, never filled: nothing to know
            assert (vo.filled, vo.status) == (0, _S.CANCELED)
            continue
        assert (order.filled, order.is_open) == (vo.filled, vo.status.is_open)
    # nothing to send: every SubmitOrder is an adoption, followed by its acceptance
    for i, record in enumerate(records):
        if isinstance(record, SubmitOrder):
            assert record.tag == ADOPTED
            follow = records[i + 1:i + 3]
            assert [type(r) for r in follow] == [OrderSubmitted, OrderAccepted]
            assert {r.client_order_id for r in follow} == {record.client_order_id}
    again = reconcile(om, venue.snapshot(), currency="USDT", ts=venue.tick(),
                      client_ids=client_id_map(om, venue_client_id),
                      closed=[venue.view(v) for v in venue.orders])
    assert (again.records, again.mismatches) == ([], [])
