"""Manual orders (``heron.node.manual``) on a paper engine, in process: decimal text put on
the grid exactly or refused naming the key, every order through the node (journaled
under strategy ``manual``), and the status snapshot in exact decimal strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from heron.model.data import Quote
from heron.model.events import AmendOrder, OrderFilled, SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.node.control import CommandReply, ManualCommand
from heron.node.manual import ManualOrders
from heron.node.paper import PaperEngine
from heron.node.run_status import decimal_text, run_status
from heron.venues.sim.config import SimVenueConfig

INST = Instrument("BTCUSDT", venue="TEST", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.1"), size_increment=Decimal("0.001"),
                  quote_currency="USDT")
T0 = 1_723_075_200_000_000_000


def quoted_engine(latency_ns: int = 0) -> PaperEngine:
    engine = PaperEngine(instruments=[INST], strategies=[], cash=Decimal(10000),
                         venue=SimVenueConfig(latency_ns=latency_ns), journal_path=None,
                         bar_ns=60_000_000_000,
                         book_streams=set(), quote_streams={INST.id}, book_rules={},
                         header={})
    engine.start()
    quote(engine, T0)
    return engine


def quote(engine: PaperEngine, ts: int) -> None:
    engine.consume(Quote(INST, ts, ts, INST.ticks("60000.0"), INST.ticks("60000.2"),
                         INST.lots("1"), INST.lots("1"), 1))


@pytest.fixture
def orders() -> ManualOrders:
    return ManualOrders(quoted_engine(), {"BTC/USDT:USDT": INST.id})


def _do(orders: ManualOrders, **fields: Any) -> CommandReply:
    return orders.apply(ManualCommand(**fields), "c1")


@pytest.mark.parametrize(("fields", "rule", "text"), [
    ({"action": "explode"}, "action", "place, cancel, amend, cancel-all"),
    ({"symbol": "ETHUSDT"}, "symbol", "this run trades BTCUSDT"),
    ({"side": "long"}, "side", "buy, sell"),
    ({"type": "iceberg"}, "type", "not one of market"),
    ({"time_in_force": "day"}, "time_in_force", "gtc, ioc, fok"),
    ({"quantity": None}, "quantity", "needs a quantity"),
    ({"quantity": "abc"}, "quantity", "not a decimal number"),
    ({"quantity": "-1"}, "quantity", "must be a positive number"),
    ({"quantity": "NaN"}, "quantity", "must be a positive number"),
    ({"quantity": "0.0005"}, "quantity", "not a multiple of 0.001 on BTCUSDT"),
    ({"price": "60000.05"}, "price", "not a multiple of 0.1 on BTCUSDT"),
    ({"price": None}, "price", "a limit order needs a price"),
    ({"type": "market"}, "price", "a market order takes no price"),
    ({"type": "stop-limit"}, "trigger_price", "needs a trigger_price"),
])
def test_a_bad_place_command_is_refused_naming_the_key(
        orders: ManualOrders, fields: dict[str, Any], rule: str, text: str) -> None:
    command = {"action": "place", "symbol": "BTCUSDT", "side": "buy", "type": "limit",
               "quantity": "0.01", "price": "59000", **fields}
    before = orders.engine.journal.seq
    reply = orders.apply(ManualCommand(**command), "c1")
    assert (reply.ok, reply.rule, reply.client_order_id) == (False, rule, None)
    assert text in reply.message
    assert orders.engine.journal.seq == before  # nothing reached the node


def test_place_amend_cancel_go_through_the_node_as_manual_commands(
        orders: ManualOrders) -> None:
    placed = _do(orders, action="place", symbol="BTC/USDT:USDT", side="buy",
                 quantity="0.010", price="59000.0", time_in_force="gtc", actor="ops")
    assert placed == CommandReply("c1", True, "H-manual-1", None, "accepted")
    amended = _do(orders, action="amend", client_order_id="H-manual-1", price="59000.5")
    assert amended.ok, amended
    assert _do(orders, action="amend", client_order_id="H-manual-1",
               price="1.05").rule == "price"
    assert _do(orders, action="amend", client_order_id="H-manual-1").rule == "amend"
    assert _do(orders, action="cancel", client_order_id="H-manual-1",
               symbol="ETHUSDT").rule == "symbol"
    assert _do(orders, action="cancel", client_order_id="H-manual-1").ok
    again = _do(orders, action="cancel", client_order_id="H-manual-1")
    assert (again.ok, again.rule) == (False, "cancel") and "not open" in again.message
    records = orders.engine.journal.records
    [submit] = [r for r in records if isinstance(r, SubmitOrder)]
    assert (submit.strategy_id, submit.price, submit.quantity, submit.tag) == (
        "manual", 590_000, 10, "manual:ops")
    [amend] = [r for r in records if isinstance(r, AmendOrder)]
    assert (amend.strategy_id, amend.price) == ("manual", 590_005)


def test_a_second_cancel_while_the_first_is_on_its_way_is_not_sent_again() -> None:
    ms = 1_000_000
    orders = ManualOrders(quoted_engine(latency_ns=50 * ms))
    engine = orders.engine
    assert _do(orders, action="place", symbol="BTCUSDT", side="buy", quantity="0.01",
               price="59000").message == "submitted"
    quote(engine, T0 + 60 * ms)                  # the order has reached the venue
    first = _do(orders, action="cancel", client_order_id="H-manual-1")
    second = _do(orders, action="cancel", client_order_id="H-manual-1")
    assert (first.ok, first.message) == (True, "cancel sent")
    assert (second.ok, second.message) == (True, "a cancel of this order is already on "
                                                 "its way")
    assert engine.repeated_cancels == 1
    quote(engine, T0 + 120 * ms)                 # the cancel has reached it
    order = engine.om.orders["H-manual-1"]
    assert order.status.value == "canceled"
    assert [type(r).__name__ for r in engine.journal.records
            if getattr(r, "client_order_id", "") == "H-manual-1"
            and "Cancel" in type(r).__name__] == ["CancelOrder", "OrderCancelRequested",
                                                  "CancelOrder", "OrderCanceled"]


def test_a_cancel_after_an_amend_on_its_way_follows_it_and_an_amend_after_is_refused(
        ) -> None:
    ms = 1_000_000
    orders = ManualOrders(quoted_engine(latency_ns=50 * ms))
    engine = orders.engine
    _do(orders, action="place", symbol="BTCUSDT", side="buy", quantity="0.01", price="59000")
    quote(engine, T0 + 60 * ms)
    assert _do(orders, action="amend", client_order_id="H-manual-1", price="59000.5").ok
    assert _do(orders, action="cancel", client_order_id="H-manual-1").ok
    late = _do(orders, action="amend", client_order_id="H-manual-1", price="58000")
    assert (late.ok, late.rule, late.message) == (False, "amend", "order is being canceled")
    order = engine.om.orders["H-manual-1"]
    assert order.status.value == "pending_cancel"
    quote(engine, T0 + 120 * ms)                 # the amend, then the cancel, arrive
    assert (order.status.value, order.price) == ("canceled", INST.ticks("59000.5"))


def test_cancel_all_cancels_every_open_order(orders: ManualOrders) -> None:
    for price in ("59000", "58000"):
        assert _do(orders, action="place", symbol="BTCUSDT", side="buy", quantity="0.01",
                   price=price).ok
    reply = _do(orders, action="cancel-all", symbol="BTCUSDT")
    assert reply.ok and reply.message == "cancel sent for 2 of 2 open orders"
    assert not orders.engine.om.open_orders


def test_the_status_of_a_filled_market_order_is_exact(orders: ManualOrders) -> None:
    bought = _do(orders, action="place", symbol="BTCUSDT", side="buy", type="market",
                 quantity="0.01")
    assert bought.ok and bought.message == "accepted"
    [fill] = [r for r in orders.engine.journal.records if isinstance(r, OrderFilled)]
    assert fill.last_px == INST.ticks("60000.2")  # took the ask
    engine = orders.engine
    assert isinstance(engine, PaperEngine)
    status = run_status(engine, {}, kind="paper", running=True, now_ns=T0)
    assert status["marks"] == {"BTCUSDT": "60000.1"}
    assert status["positions"] == [{"symbol": "BTCUSDT", "quantity": "0.01",
                                    "entry_price": "60000.2", "unrealized_pnl": "-0.001"}]
    assert (status["balance"], status["equity"], status["pnl"], status["currency"]) == (
        "10000", "9999.999", "-0.001", "USDT")
    assert status["trading_state"] == "READY" and status["events"] == 1


def test_decimal_text_is_plain() -> None:
    assert [decimal_text(Decimal(t)) for t in ("0E-8", "1E+4", "10000.120", "-0.5")] == [
        "0", "10000", "10000.12", "-0.5"]
