"""Reconciliation, one venue situation at a time: each catch-up record kind, the
mismatches left, idempotence, remediation and the evidence file.

heron's side is a real OrderManager and Portfolio driven by records; the venue's side is
an AccountSnapshot built directly (plain data, as a live client would return it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from heron.core.journal import decode_record
from heron.execution.order_manager import OrderManager
from heron.execution.reconcile import reconcile
from heron.execution.reconcile_report import (
    ADOPTED,
    FLATTEN_TAG,
    MismatchKind,
    Remediate,
    save_evidence,
)
from heron.model.account import (
    AccountSnapshot,
    VenueBalance,
    VenueFill,
    VenueOrder,
    VenueOrderStatus,
    VenuePosition,
)
from heron.model.events import (
    AccountState,
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import VENUE_ORIGIN, OrderSide, OrderStatus, OrderType

BTC = Instrument("BTCUSDT", "BINANCE", InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.1"), size_increment=Decimal("0.001"),
                 quote_currency="USDT")
IID = BTC.id
PREC = 8
START = Decimal(1000)
TS = 1_700_000_000_000_000_000


def make_om() -> OrderManager:
    from heron.model.portfolio import Portfolio

    return OrderManager(Portfolio([BTC], int(START.scaleb(PREC)), PREC))


def place(om: OrderManager, cid: str, side: OrderSide, qty: int, price: int,
          venue_id: str = "") -> None:
    om.apply(SubmitOrder(TS, TS, cid, "s1", IID, side, OrderType.LIMIT, qty, price))
    om.apply(OrderSubmitted(TS, TS, cid, IID))
    if venue_id:
        om.apply(OrderAccepted(TS, TS, cid, IID, venue_id))


def vorder(venue_id: str, client_id: str, side: OrderSide, qty: int, price: int, *,
           filled: int = 0, status: VenueOrderStatus = VenueOrderStatus.OPEN) -> VenueOrder:
    return VenueOrder(venue="binanceusdm", instrument_id=IID, venue_order_id=venue_id,
                      client_order_id=client_id, side=side, order_type=OrderType.LIMIT,
                      status=status, quantity=qty, filled=filled, price=price, ts=TS + 5,
                      raw={"orderId": venue_id, "status": status.value})


def vfill(trade_id: str, venue_id: str, client_id: str, side: OrderSide, qty: int,
          price: int, ts: int = TS + 10) -> VenueFill:
    return VenueFill(venue="binanceusdm", instrument_id=IID, trade_id=trade_id,
                     venue_order_id=venue_id, client_order_id=client_id, side=side,
                     quantity=qty, price=price, fee=Decimal("0.02"), fee_currency="USDT",
                     liquidity="maker", ts=ts, raw={"id": trade_id})


def snap(*, orders: Sequence[VenueOrder] = (), fills: Sequence[VenueFill] = (),
         position: int = 0, entry: Decimal | None = None,
         balance: Decimal = START) -> AccountSnapshot:
    positions = [VenuePosition(venue="binanceusdm", instrument_id=IID, quantity=position,
                               entry_price=entry, raw={"positionAmt": str(position)})]
    return AccountSnapshot(
        venue="binanceusdm", ts=TS + 100, open_orders=list(orders), positions=positions,
        balances=[VenueBalance(venue="binanceusdm", currency="USDT", total=balance,
                               free=balance, raw={"walletBalance": str(balance)})],
        fills=list(fills))


def run(om: OrderManager, s: AccountSnapshot, **kw: object) -> list[Record]:
    """Reconcile and apply the records, as the live node does; return the records."""
    report = reconcile(om, s, currency="USDT", ts=TS + 200, **kw)  # type: ignore[arg-type]
    for record in report.records:
        om.apply(record)
    return report.records


def again_is_quiet(om: OrderManager, s: AccountSnapshot, **kw: object) -> None:
    report = reconcile(om, s, currency="USDT", ts=TS + 300, **kw)  # type: ignore[arg-type]
    assert report.records == []
    assert report.mismatches == []


def balance_after(*fees: str, pnl: Decimal = Decimal(0)) -> Decimal:
    return START + pnl - sum((Decimal(f) for f in fees), Decimal(0))


# -- fills ---------------------------------------------------------------------------------
def test_reconcile_missed_fill_of_heron_order_booked_under_heron_id() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="")  # lost submit: no venue id yet
    s = snap(orders=[vorder("V1", "x-H-1", OrderSide.BUY, 10, 500_000, filled=4,
                            status=VenueOrderStatus.PARTIALLY_FILLED)],
             fills=[vfill("T1", "V1", "x-H-1", OrderSide.BUY, 4, 500_000)], position=4,
             balance=balance_after("0.02"))
    records = run(om, s, client_ids={"x-H-1": "H-1"})
    assert [type(r) for r in records] == [OrderAccepted, OrderFilled]
    fill = records[1]
    assert isinstance(fill, OrderFilled)
    assert (fill.client_order_id, fill.strategy_id, fill.order_qty, fill.fee) == \
        ("H-1", "s1", 10, 2_000_000)
    order = om.orders["H-1"]
    assert (order.status, order.filled, order.leaves, order.venue_order_id) == \
        (OrderStatus.PARTIALLY_FILLED, 4, 6, "V1")
    assert om.portfolio.positions[IID].qty == 4
    assert (IID, "T1") in om.trade_ids
    again_is_quiet(om, s, client_ids={"x-H-1": "H-1"})


def test_reconcile_fill_listed_twice_is_booked_once() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.SELL, 3, 500_000, venue_id="V1")
    f = vfill("T9", "V1", "H-1", OrderSide.SELL, 3, 500_000)
    closed = vorder("V1", "H-1", OrderSide.SELL, 3, 500_000, filled=3,
                    status=VenueOrderStatus.FILLED)
    s = snap(fills=[f, f], position=-3, balance=balance_after("0.02"))
    records = run(om, s, closed=[closed])
    assert [type(r) for r in records] == [OrderFilled]
    assert om.orders["H-1"].status is OrderStatus.FILLED
    assert om.portfolio.positions[IID].qty == -3
    again_is_quiet(om, s, closed=[closed])


def test_reconcile_fill_of_unknown_order_is_adopted_under_venue_origin() -> None:
    om = make_om()
    s = snap(fills=[vfill("T1", "V7", "", OrderSide.BUY, 2, 400_000),
                    vfill("T2", "V7", "", OrderSide.BUY, 3, 400_100, ts=TS + 11),
                    vfill("T3", "V8", "web_abc", OrderSide.SELL, 1, 400_200, ts=TS + 12)],
             position=4, balance=balance_after("0.02", "0.02", "0.02", pnl=Decimal("10")))
    records = run(om, s)
    fills = [r for r in records if isinstance(r, OrderFilled)]
    assert [(f.client_order_id, f.strategy_id, f.order_qty) for f in fills] == [
        ("venue-V7", VENUE_ORIGIN, 5), ("venue-V7", VENUE_ORIGIN, 5),
        ("web_abc", VENUE_ORIGIN, 1)]
    assert om.orders["venue-V7"].status is OrderStatus.FILLED
    assert om.orders["web_abc"].status is OrderStatus.FILLED
    assert om.portfolio.positions[IID].qty == 4
    again_is_quiet(om, s)


def test_reconcile_fill_of_order_heron_closed_is_a_fill_mismatch() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 5, 500_000, venue_id="V1")
    om.apply(OrderCanceled(TS, TS, "H-1", IID))
    s = snap(fills=[vfill("T1", "V1", "H-1", OrderSide.BUY, 5, 500_000)], position=5)
    report = reconcile(om, s, currency="USDT", ts=TS + 200)
    assert not any(isinstance(r, OrderFilled) for r in report.records)
    kinds = sorted(m.kind.value for m in report.mismatches)
    assert kinds == ["fill", "position"]
    assert not report.clean


# -- orders --------------------------------------------------------------------------------
def test_reconcile_unknown_open_order_is_adopted_and_never_marked_to_send() -> None:
    om = make_om()
    s = snap(orders=[vorder("V5", "", OrderSide.SELL, 7, 510_000)])
    records = run(om, s)
    assert [type(r) for r in records] == [SubmitOrder, OrderSubmitted, OrderAccepted]
    submit = records[0]
    assert isinstance(submit, SubmitOrder)
    assert (submit.tag, submit.strategy_id, submit.client_order_id) == \
        (ADOPTED, VENUE_ORIGIN, "venue-V5")
    order = om.open_orders["venue-V5"]
    assert (order.leaves, order.price, order.venue_order_id) == (7, 510_000, "V5")
    again_is_quiet(om, s)


def test_reconcile_adopted_open_order_fills_follow_its_adoption() -> None:
    om = make_om()
    s = snap(orders=[vorder("V5", "web_1", OrderSide.BUY, 7, 510_000, filled=2,
                            status=VenueOrderStatus.PARTIALLY_FILLED)],
             fills=[vfill("T1", "V5", "web_1", OrderSide.BUY, 2, 510_000)], position=2,
             balance=balance_after("0.02"))
    records = run(om, s)
    assert [type(r) for r in records] == [SubmitOrder, OrderSubmitted, OrderAccepted,
                                          OrderFilled]
    assert om.open_orders["web_1"].leaves == 5
    again_is_quiet(om, s)


def test_reconcile_partial_fill_then_cancel_books_fill_before_cancel() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    closed = vorder("V1", "H-1", OrderSide.BUY, 10, 500_000, filled=6,
                    status=VenueOrderStatus.CANCELED)
    s = snap(fills=[vfill("T1", "V1", "H-1", OrderSide.BUY, 6, 500_000)], position=6,
             balance=balance_after("0.02"))
    records = run(om, s, closed=[closed])
    assert [type(r) for r in records] == [OrderFilled, OrderCanceled]
    assert om.orders["H-1"].status is OrderStatus.CANCELED
    assert not om.open_orders
    again_is_quiet(om, s, closed=[closed])


def test_reconcile_expired_order_gets_order_expired() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    closed = vorder("V1", "H-1", OrderSide.BUY, 10, 500_000, status=VenueOrderStatus.EXPIRED)
    assert [type(r) for r in run(om, snap(), closed=[closed])] == [OrderExpired]
    assert om.orders["H-1"].status is OrderStatus.EXPIRED


def test_reconcile_amended_at_venue_gets_order_updated() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.SELL, 10, 500_000, venue_id="V1")
    s = snap(orders=[vorder("V1", "H-1", OrderSide.SELL, 8, 499_000)])
    records = run(om, s)
    assert [type(r) for r in records] == [OrderUpdated]
    order = om.open_orders["H-1"]
    assert (order.quantity, order.price) == (8, 499_000)
    again_is_quiet(om, s)


def test_reconcile_lost_submit_refused_by_venue_gets_order_rejected() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000)
    closed = vorder("V1", "H-1", OrderSide.BUY, 10, 500_000,
                    status=VenueOrderStatus.REJECTED)
    assert [type(r) for r in run(om, snap(), closed=[closed])] == [OrderRejected]
    assert om.orders["H-1"].status is OrderStatus.REJECTED


def test_reconcile_lost_cancel_request_returns_order_to_open() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    om.apply(OrderCancelRequested(TS, TS, "H-1", IID))
    s = snap(orders=[vorder("V1", "H-1", OrderSide.BUY, 10, 500_000)])
    assert [type(r) for r in run(om, s)] == [OrderCancelRejected]
    assert om.orders["H-1"].status is OrderStatus.ACCEPTED
    again_is_quiet(om, s)


def test_reconcile_heron_open_order_unknown_to_venue_is_order_mismatch() -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    report = reconcile(om, snap(), currency="USDT", ts=TS + 200)
    assert report.records == []
    [m] = report.mismatches
    assert (m.kind, m.instrument_id, m.blocking) == (MismatchKind.ORDER, IID, True)
    assert "H-1" in m.heron


# -- balance and positions -----------------------------------------------------------------
def test_reconcile_balance_jump_is_adopted_and_reported_without_blocking() -> None:
    om = make_om()
    s = snap(balance=Decimal("1012.5"))
    report = reconcile(om, s, currency="USDT", ts=TS + 200)
    [record] = report.records
    assert isinstance(record, AccountState)
    assert record.total == int(Decimal("1012.5").scaleb(PREC))
    [m] = report.mismatches
    assert (m.kind, m.blocking) == (MismatchKind.BALANCE, False)
    assert m.evidence == {"balance": {"walletBalance": "1012.5"}}
    assert report.clean
    om.apply(record)
    assert om.portfolio.balance == record.total
    assert om.portfolio.adjustments == int(Decimal("12.5").scaleb(PREC))
    again_is_quiet(om, s)


def test_reconcile_position_without_history_blocks_and_reports_both_sides() -> None:
    om = make_om()
    s = snap(position=25, entry=Decimal("43000.05"))
    report = reconcile(om, s, currency="USDT", ts=TS + 200)
    [m] = report.mismatches
    assert (m.kind, m.heron, m.venue, m.delta) == (MismatchKind.POSITION, "0 lots",
                                                   "25 lots", 25)
    assert m.evidence == {"positions": [{"positionAmt": "25"}]}
    assert not report.clean
    assert report.remediation(Remediate.NONE, lambda: "X").commands == []


def test_remediation_adopt_books_the_difference_at_venue_entry() -> None:
    om = make_om()
    s = snap(position=-25, entry=Decimal("43000.05"))
    fix = reconcile(om, s, currency="USDT", ts=TS + 200).remediation(Remediate.ADOPT,
                                                                       lambda: "X")
    [fill] = fix.records
    assert isinstance(fill, OrderFilled)
    assert (fill.side, fill.last_qty, fill.last_px) == (OrderSide.SELL, 25, 430_000)
    assert fix.commands == []
    om.apply(fill)
    assert reconcile(om, s, currency="USDT", ts=TS + 300).clean


def test_remediation_flatten_and_cancel_orphans_are_commands() -> None:
    om = make_om()
    s = snap(orders=[vorder("V5", "", OrderSide.SELL, 7, 510_000)], position=4,
             entry=Decimal(42000))
    report = reconcile(om, s, currency="USDT", ts=TS + 200)
    for record in report.records:
        om.apply(record)
    fix = report.remediation(Remediate.FLATTEN | Remediate.CANCEL_ORPHANS, lambda: "H-F1")
    flatten, cancel = fix.commands
    assert isinstance(flatten, SubmitOrder)
    assert (flatten.side, flatten.quantity, flatten.reduce_only, flatten.tag,
            flatten.order_type) == (OrderSide.SELL, 4, True, FLATTEN_TAG, OrderType.MARKET)
    assert isinstance(cancel, CancelOrder)
    assert cancel.client_order_id == "venue-V5"
    assert fix.records == []


# -- evidence, journal ----------------------------------------------------------------------
def test_save_evidence_writes_both_sides_and_raw_replies(tmp_path: Path) -> None:
    om = make_om()
    report = reconcile(om, snap(position=3, entry=Decimal(1), balance=Decimal(999)),
                       currency="USDT", ts=TS + 200)
    path = save_evidence(tmp_path, report)
    assert path == tmp_path / "reconcile" / f"{TS + 200}.json"
    doc = json.loads(path.read_text())
    assert doc["clean"] is False
    assert {m["kind"] for m in doc["mismatches"]} == {"position", "balance"}
    pos = next(m for m in doc["mismatches"] if m["kind"] == "position")
    assert pos["evidence"]["positions"] == [{"positionAmt": "3"}]
    assert doc["records"][0]["type"] == "AccountState"
    assert any("position" in line and "3 lots" in line for line in report.lines())


def test_save_evidence_skips_a_clean_quiet_pass(tmp_path: Path) -> None:
    report = reconcile(make_om(), snap(), currency="USDT", ts=TS + 200)
    assert save_evidence(tmp_path, report) is None
    assert not (tmp_path / "reconcile").exists()


def test_account_state_round_trips_through_the_journal_codec() -> None:
    record = AccountState(TS, TS, "binanceusdm", "USDT", 123, 100, "reconciliation")
    assert decode_record(msgspec.msgpack.encode(record)) == record


@pytest.mark.parametrize("status", [VenueOrderStatus.CANCELED, VenueOrderStatus.FILLED])
def test_reconcile_closed_without_the_fills_reports_missing_fills(
        status: VenueOrderStatus) -> None:
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    closed = vorder("V1", "H-1", OrderSide.BUY, 10, 500_000, filled=10, status=status)
    report = reconcile(om, snap(position=10), currency="USDT", ts=TS + 200, closed=[closed])
    kinds = sorted(m.kind.value for m in report.mismatches)
    assert kinds == ["order", "position"]
    assert "missing" in next(m.venue for m in report.mismatches if m.kind.value == "order")


# -- reading the venue through the port ------------------------------------------------------
class FakeClient:
    """Just the read side of the VenueClient port, answering from fixed data."""

    def __init__(self, orders: list[VenueOrder], fills: list[VenueFill],
                 known: dict[str, VenueOrder]) -> None:
        self.venue = "binanceusdm"
        self.instruments = {IID: BTC}
        self._orders, self._fills, self._known = orders, fills, known
        self.fetched: list[tuple[str, str]] = []

    def venue_client_id(self, cid: str) -> str:
        return f"x-{cid}"

    async def open_orders(self, instrument: Instrument | None = None) -> list[VenueOrder]:
        return self._orders

    async def positions(self) -> list[VenuePosition]:
        return snap(position=2).positions

    async def balances(self) -> list[VenueBalance]:
        return snap().balances

    async def fills(self, instrument: Instrument, since_ns: int | None = None
                    ) -> list[VenueFill]:
        return [f for f in self._fills if since_ns is None or f.ts >= since_ns]

    async def fetch_order(self, instrument: Instrument, *, venue_order_id: str = "",
                          client_id: str = "") -> VenueOrder | None:
        self.fetched.append((venue_order_id, client_id))
        return self._known.get(client_id)


def test_snapshot_and_fetch_missing_read_through_the_port() -> None:
    import asyncio

    from heron.execution.reconcile import fetch_missing, snapshot

    other = vorder("V9", "", OrderSide.BUY, 1, 1)
    other = msgspec.structs.replace(other, instrument_id="ETHUSDT.BINANCE")
    gone = vorder("V1", "x-H-1", OrderSide.BUY, 10, 500_000, status=VenueOrderStatus.CANCELED)
    client = FakeClient([vorder("V2", "x-H-2", OrderSide.SELL, 1, 600_000), other],
                        [vfill("T2", "V2", "x-H-2", OrderSide.SELL, 1, 1, ts=TS + 20),
                         vfill("T1", "V2", "x-H-2", OrderSide.SELL, 1, 1, ts=TS + 10)],
                        {"x-H-1": gone})
    om = make_om()
    place(om, "H-1", OrderSide.BUY, 10, 500_000, venue_id="V1")
    place(om, "H-2", OrderSide.SELL, 1, 600_000, venue_id="V2")
    s = asyncio.run(snapshot(client, [BTC], TS, ts=TS + 50))  # type: ignore[arg-type]
    assert [o.venue_order_id for o in s.open_orders] == ["V2"]
    assert [f.trade_id for f in s.fills] == ["T1", "T2"]
    assert s.position(IID) == 2
    found = asyncio.run(fetch_missing(client, om, s))  # type: ignore[arg-type]
    assert found == [gone]
    assert client.fetched == [("V1", "x-H-1")]
