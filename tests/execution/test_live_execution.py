"""Live execution against the loopback Binance USD-M exchange, through real ccxt.

The whole live path runs: :class:`LiveEngine` (order manager, portfolio, journal),
:class:`LiveExecution`, :class:`CcxtClient` on ccxt.pro, HTTP and the user-data
WebSocket, the emulator's signed API and its matching by heron's simulated venue. What
is asserted is what the venue itself holds (its requests log, its orders, its trades),
next to what heron recorded, so a duplicate or a forgotten fill shows on either side.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from structlog.contextvars import clear_contextvars

from conftest import loopback_exchange
from heron.core.journal_store import JournalReader
from heron.execution.router import Target
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderFilled,
    SubmitOrder,
)
from heron.model.orders import OrderSide, OrderStatus, OrderType, TimeInForce
from heron.node.live import LiveEngine
from heron.strategy.base import Strategy
from heron.testing.exchange import ExchangeServer
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials

KEY, SECRET = "live-key", "live-secret"
SYMBOL = "BTC/USDT:USDT"
PLACE = ("POST", "/fapi/v1/order")


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET) as srv:
        yield srv


class Idle(Strategy):
    """Sends nothing by itself: the tests send the commands."""


Body = Callable[[LiveEngine, ExchangeServer], Awaitable[None]]


def live(server: ExchangeServer, tmp_path: Path, body: Body, *, streams: bool = True,
         poll_s: float = 30.0, dialect: BinanceUsdmDialect | None = None,
         strategy: Strategy | None = None) -> LiveEngine:
    """Open a client and an engine on the emulator, run ``body``, stop everything."""
    async def main() -> LiveEngine:
        client = CcxtClient(dialect or BinanceUsdmDialect(),
                            Credentials("binanceusdm", "test", api_key=KEY, api_secret=SECRET),
                            [SYMBOL], endpoint=server.url)
        await client.open()
        engine = LiveEngine(client=client, instruments=list(client.instruments.values()),
                            strategies=[strategy or Idle()], cash=Decimal(10000),
                            journal_path=tmp_path / "journal.sqlite", bar_ns=60_000_000_000,
                            book_streams=set(), quote_streams=set(), book_rules={},
                            header={}, id_tag="T", lost_grace_s=0.2)
        engine.start()
        stop = asyncio.Event()
        follow = asyncio.create_task(engine.execution.run_streams(stop, poll_s=poll_s)) \
            if streams else None
        try:
            if follow is not None:
                await wait_for(lambda: bool(server.streams.sessions))
            await body(engine, server)
            await engine.execution.drain()
        finally:
            stop.set()
            if follow is not None:
                follow.cancel()
                await asyncio.gather(follow, return_exceptions=True)
            await client.close()
            engine.journal.close()
        return engine
    return asyncio.run(main())


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def submit(engine: LiveEngine, side: OrderSide, kind: OrderType, qty: str,
           price: str | None = None, trigger: str | None = None, **flags: Any) -> str:
    inst = engine.instruments[0]
    cid = engine.ids.client_order_id("t")
    engine.send(SubmitOrder(
        engine.clock.ts, engine.clock.ts, cid, "idle", inst.id, side, kind,
        inst.lots(Decimal(qty)), inst.ticks(Decimal(price)) if price else None,
        inst.ticks(Decimal(trigger)) if trigger else None, **flags))
    return cid


def placements(server: ExchangeServer) -> int:
    return sum(1 for m, p, _ in server.requests if (m, p) == PLACE)


def fills(engine: LiveEngine) -> list[OrderFilled]:
    return [r for r in engine.journal.records if isinstance(r, OrderFilled)]


class Watcher(Strategy):
    """Notes, at each order event, what ``wire`` says was already written."""

    name = "idle"  # the strategy id ``submit`` sends under: its orders' hooks are ours

    def __init__(self, wire: list[str]) -> None:
        super().__init__()
        self.wire = wire
        self.seen: list[tuple[OrderStatus, list[str]]] = []

    def on_order(self, order: Any, event: Any) -> None:
        self.seen.append((order.status, list(self.wire)))


def traced(engine: LiveEngine, written: list[str],
           then: Callable[[], None] | None = None) -> Awaitable[None]:
    """Give ``engine``'s ccxt a session that notes each order request's method as its
    headers are written (and calls ``then``); returns the warm-up call (a pooled
    connection, as a running client has)."""
    import aiohttp

    async def on_sent(_: Any, __: Any, params: Any) -> None:
        if params.url.path == "/fapi/v1/order":
            written.append(params.method)
            if then is not None:
                then()

    async def swap() -> None:
        exchange = engine.execution.client.exchange  # type: ignore[attr-defined]
        await exchange.session.close()
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(on_sent)
        exchange.session = aiohttp.ClientSession(trace_configs=[trace])
        await exchange.fetch_time()
    return swap()


def kinds_of(engine: LiveEngine, cid: str) -> list[str]:
    return [type(r).__name__ for r in engine.journal.records
            if getattr(r, "client_order_id", None) == cid]


# -- lifecycles --------------------------------------------------------------------------
def test_limit_order_accepted_amended_in_place_and_canceled(server: ExchangeServer,
                                                           tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000.10")
        await engine.execution.drain()
        order = engine.om.orders[cid]
        state["accepted"] = (order.status, order.venue_order_id)
        inst = engine.instruments[0]
        engine.send(AmendOrder(0, 0, cid, "idle", inst.id, quantity=inst.lots(Decimal("0.02")),
                               price=inst.ticks(Decimal("60001"))))
        await engine.execution.drain()
        state["amended"] = (order.status, order.quantity, order.price, order.venue_order_id)
        engine.send(CancelOrder(0, 0, cid, "idle", inst.id))

    engine = live(server, tmp_path, body)
    inst = engine.instruments[0]
    order = engine.om.orders[state["cid"]]
    assert state["accepted"][0] is OrderStatus.ACCEPTED and state["accepted"][1]
    assert state["amended"] == (OrderStatus.ACCEPTED, inst.lots(Decimal("0.02")),
                                inst.ticks(Decimal("60001")), state["accepted"][1])
    assert order.status is OrderStatus.CANCELED
    methods = [m for m, p, _ in server.requests if p == "/fapi/v1/order"]
    assert methods.count("PUT") == 1 and methods.count("POST") == 1   # amended, not replaced
    assert server.call(lambda: [o for o in server.account.orders.values() if o.is_open]) == []


def test_a_cancel_repeated_while_one_is_in_flight_is_sent_once(server: ExchangeServer,
                                                              tmp_path: Path) -> None:
    """A strategy that cancels on every tick until it hears back: one DELETE, no refusal,
    and no error raised into its call (it used to be an invalid state transition)."""
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000")
        await engine.execution.drain()
        srv.faults.latency_ms = 150   # the cancel's answer takes a while
        inst = engine.instruments[0]
        for _ in range(3):
            engine.send(CancelOrder(0, 0, cid, "idle", inst.id))
        state["pending"] = engine.om.orders[cid].status
        engine.send(AmendOrder(0, 0, cid, "idle", inst.id, price=inst.ticks(Decimal("59990"))))
        state["after_amend"] = engine.om.orders[cid].status

    engine = live(server, tmp_path, body)
    cid = state["cid"]
    assert state["pending"] is state["after_amend"] is OrderStatus.PENDING_CANCEL
    assert engine.repeated_cancels == 2
    assert [m for m, p, _ in server.requests if p == "/fapi/v1/order"] == ["POST", "DELETE"]
    assert engine.om.orders[cid].status is OrderStatus.CANCELED
    assert engine.om.rejections == [(cid, "order is being canceled")]   # the amend, told
    assert "OrderCancelRejected" not in kinds_of(engine, cid)


def test_the_kill_switch_cancels_an_order_whose_amend_is_in_flight(
        server: ExchangeServer, tmp_path: Path) -> None:
    """HALTED cancels every working order, one being amended too: the cancel goes out
    after the amend, the amend's late answer does not bring the order back, and nothing
    is raised into the kill switch."""
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000")
        await engine.execution.drain()
        srv.faults.latency_ms = 150
        inst = engine.instruments[0]
        engine.send(AmendOrder(0, 0, cid, "idle", inst.id, price=inst.ticks(Decimal("59990"))))
        state["amending"] = engine.om.orders[cid].status
        state["moved"] = engine.kill(flatten=False, reason="test", actor="test")
        state["killed"] = engine.om.orders[cid].status

    engine = live(server, tmp_path, body)
    cid = state["cid"]
    assert state["amending"] is OrderStatus.PENDING_UPDATE
    assert state["moved"] and state["killed"] is OrderStatus.PENDING_CANCEL
    assert [m for m, p, _ in server.requests if p == "/fapi/v1/order"] == ["POST", "PUT",
                                                                          "DELETE"]
    assert engine.om.orders[cid].status is OrderStatus.CANCELED
    assert server.call(lambda: [o for o in server.account.orders.values() if o.is_open]) == []
    assert engine.execution.counters["task_errors"] == 0


def test_a_command_is_on_the_wire_before_the_strategys_call_returns(
        server: ExchangeServer, tmp_path: Path) -> None:
    """Commands start eagerly: the request is written inside ``send``, not after the event
    loop gets round to the command's task (``heron.core.eager``)."""
    written: list[str] = []
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        await traced(engine, written)
        cid = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000.10")
        state["after_submit"] = list(written)
        await engine.execution.drain()
        state["accepted"] = engine.om.orders[cid].status
        engine.send(CancelOrder(0, 0, cid, "idle", engine.instruments[0].id))
        state["after_cancel"] = list(written)

    engine = live(server, tmp_path, body, streams=False)
    assert state["after_submit"] == ["POST"]
    assert state["accepted"] is OrderStatus.ACCEPTED
    assert state["after_cancel"] == ["POST", "DELETE"]
    assert all(o.status is OrderStatus.CANCELED for o in engine.om.orders.values())


def test_each_command_is_announced_once_its_request_is_written(
        server: ExchangeServer, tmp_path: Path) -> None:
    """A live venue emits ``OrderSubmitted``, ``OrderUpdateRequested`` and
    ``OrderCancelRequested`` after the request is out, so the event and the strategy's
    ``on_order`` for it are not on the path to the venue; each still comes before any
    answer, and inside the strategy's call."""
    written: list[str] = []
    watcher = Watcher(written)
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        await traced(engine, written)
        inst = engine.instruments[0]
        state["before"] = engine.execution.now()
        cid = state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010",
                                    "60000.10")
        statuses = [engine.om.orders[cid].status]
        await engine.execution.drain()
        engine.send(AmendOrder(0, 0, cid, "idle", inst.id, price=inst.ticks(Decimal("60001"))))
        statuses.append(engine.om.orders[cid].status)
        await engine.execution.drain()
        engine.send(CancelOrder(0, 0, cid, "idle", inst.id))
        statuses.append(engine.om.orders[cid].status)
        await engine.execution.drain()
        state["statuses"] = statuses

    engine = live(server, tmp_path, body, streams=False, strategy=watcher)
    cid = state["cid"]
    assert state["statuses"] == [OrderStatus.SUBMITTED, OrderStatus.PENDING_UPDATE,
                                 OrderStatus.PENDING_CANCEL]  # announced inside the call
    assert watcher.seen == [
        (OrderStatus.SUBMITTED, ["POST"]), (OrderStatus.ACCEPTED, ["POST"]),
        (OrderStatus.PENDING_UPDATE, ["POST", "PUT"]), (OrderStatus.ACCEPTED, ["POST", "PUT"]),
        (OrderStatus.PENDING_CANCEL, ["POST", "PUT", "DELETE"]),
        (OrderStatus.CANCELED, ["POST", "PUT", "DELETE"])]
    assert kinds_of(engine, cid) == [
        "SubmitOrder", "OrderSubmitted", "OrderAccepted", "AmendOrder", "OrderUpdateRequested",
        "OrderUpdated", "CancelOrder", "OrderCancelRequested", "OrderCanceled"]
    [announced] = [r for r in engine.journal.records if type(r).__name__ == "OrderSubmitted"]
    assert announced.ts_event >= state["before"]  # the time it left, on the wall clock


def test_order_log_lines_are_rendered_after_the_request_is_written(
        server: ExchangeServer, tmp_path: Path) -> None:
    """With JSON logs (``heron live --log-json``) each order line costs more than the
    rest of the path to the venue: they are rendered once the request is out, still in
    order and naming the order."""
    import json
    import logging

    from heron.observe.logs import configure_logging, watch_orders

    out = io.StringIO()
    written: list[str] = []
    at_write: list[str] = []
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        await traced(engine, written, lambda: at_write.append(out.getvalue()))
        watch_orders(engine)  # as heron live does
        state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000.10")
        await engine.execution.drain()
        await asyncio.sleep(0)

    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, stream=out)
    try:
        live(server, tmp_path, body, streams=False)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        clear_contextvars()
    assert written == ["POST"] and "SubmitOrder" not in at_write[0]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    order_lines = [line for line in lines if line["logger"] == "heron.orders"]
    assert [line["event"] for line in order_lines] == ["SubmitOrder", "OrderSubmitted",
                                                       "OrderAccepted"]
    assert {line["client_order_id"] for line in order_lines} == {state["cid"]}


def test_a_venue_refusal_raised_inside_the_call_follows_the_announcement(
        server: ExchangeServer, tmp_path: Path) -> None:
    """ccxt can refuse a request before sending it (its own argument checks), inside the
    strategy's call: the command is still announced, then refused, never left pending."""
    import ccxt

    written: list[str] = []
    watcher = Watcher(written)
    state: dict[str, str] = {}

    async def refuse(*_: Any, **__: Any) -> Any:
        raise ccxt.InvalidOrder("binanceusdm refused before sending")

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        exchange = engine.execution.client.exchange  # type: ignore[attr-defined]
        state["resting"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010",
                                  "60000.10")
        await engine.execution.drain()
        exchange.create_order = exchange.cancel_order = refuse
        state["refused"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010",
                                  "60000.10")
        engine.send(CancelOrder(0, 0, state["resting"], "idle", engine.instruments[0].id))
        await engine.execution.drain()

    engine = live(server, tmp_path, body, streams=False, strategy=watcher)
    refused, resting = state["refused"], state["resting"]
    assert kinds_of(engine, refused) == ["SubmitOrder", "OrderSubmitted", "OrderRejected"]
    assert "refused before sending" in dict(engine.om.rejections)[refused]
    assert engine.om.orders[refused].status is OrderStatus.REJECTED
    assert kinds_of(engine, resting)[3:] == ["CancelOrder", "OrderCancelRequested",
                                             "OrderCancelRejected"]
    assert engine.om.orders[resting].status is OrderStatus.ACCEPTED  # the venue's word
    assert [status for status, _ in watcher.seen] == [
        OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.SUBMITTED,
        OrderStatus.REJECTED, OrderStatus.PENDING_CANCEL, OrderStatus.ACCEPTED]
    assert placements(server) == 1


def test_market_order_fills_once_from_stream_and_rest_with_the_venue_fee(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        state["cid"] = submit(engine, OrderSide.BUY, OrderType.MARKET, "0.003")
        await engine.execution.drain()
        await wait_for(lambda: engine.om.orders[state["cid"]].status is OrderStatus.FILLED)

    engine = live(server, tmp_path, body)
    venue_trades = server.call(lambda: list(server.account.trades))
    assert len(venue_trades) == len(fills(engine)) >= 1
    [fill] = fills(engine)
    inst = engine.instruments[0]
    assert fill.last_qty == inst.lots(Decimal("0.003"))
    assert Decimal(venue_trades[0]["price"]) == inst.price(fill.last_px)
    precision = engine.portfolio.money_precision
    assert Decimal(fill.fee).scaleb(-precision) == Decimal(venue_trades[0]["commission"])
    assert engine.portfolio.positions[inst.id].qty == inst.lots(Decimal("0.003"))


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_ioc_and_fok_limits_through_the_book_fill_or_expire(
        server: ExchangeServer, tmp_path: Path, tif: TimeInForce) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        state["far"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.002", "50000",
                              time_in_force=tif)
        state["near"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.002", "70000",
                               time_in_force=tif)
        await engine.execution.drain()
        await wait_for(lambda: engine.om.orders[state["near"]].status is OrderStatus.FILLED)

    engine = live(server, tmp_path, body)
    far = engine.om.orders[state["far"]]
    assert far.status in (OrderStatus.EXPIRED, OrderStatus.CANCELED, OrderStatus.REJECTED)
    assert far.filled == 0 and len(fills(engine)) >= 1


def test_post_only_that_would_take_is_rejected_with_the_venue_code(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.002", "70000",
                              post_only=True)

    engine = live(server, tmp_path, body)
    assert engine.om.orders[state["cid"]].status is OrderStatus.REJECTED
    [(cid, reason)] = engine.om.rejections
    assert cid == state["cid"] and "-5022" in reason


def test_partial_fills_of_a_resting_limit_arrive_one_by_one(server: ExchangeServer,
                                                           tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.SELL, OrderType.LIMIT, "0.010", "62000")
        await engine.execution.drain()
        order = engine.om.orders[cid]
        srv.call(lambda: srv.account.print_trade(Decimal("62000.10"), Decimal("0.004")))
        await wait_for(lambda: order.filled > 0)
        state["partial"] = (order.status, order.filled)
        srv.call(lambda: srv.account.print_trade(Decimal("62000.20"), Decimal("1")))
        await wait_for(lambda: order.status is OrderStatus.FILLED)

    engine = live(server, tmp_path, body)
    inst = engine.instruments[0]
    assert state["partial"] == (OrderStatus.PARTIALLY_FILLED, inst.lots(Decimal("0.004")))
    assert [f.last_qty for f in fills(engine)] == [inst.lots(Decimal("0.004")),
                                                  inst.lots(Decimal("0.006"))]
    assert all(f.liquidity == "maker" for f in fills(engine))
    assert engine.portfolio.positions[inst.id].qty == -inst.lots(Decimal("0.010"))


# -- faults ------------------------------------------------------------------------------
def test_lost_submit_reply_is_resolved_by_client_id_without_a_second_order(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        srv.faults.lose_responses = 1
        state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000")

    engine = live(server, tmp_path, body)
    order = engine.om.orders[state["cid"]]
    assert server.lost == [PLACE]
    assert placements(server) == 1                           # never sent twice
    assert engine.execution.counters["lost_replies"] == 1
    assert engine.execution.counters["lost_found"] == 1
    venue_open = server.call(lambda: [o.order_id for o in server.account.orders.values()
                                      if o.is_open])
    assert order.status is OrderStatus.ACCEPTED and venue_open == [int(order.venue_order_id)]


def test_submit_the_venue_never_executed_is_sent_again_with_the_same_client_id(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        srv.faults.server_errors = 1          # a 5xx: outcome unknown, nothing executed
        state["cid"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.010", "60000")

    engine = live(server, tmp_path, body)
    assert placements(server) == 2   # the second with the same client id: it is the order
    assert engine.execution.counters["lost_absent"] == 1
    assert engine.om.orders[state["cid"]].status is OrderStatus.ACCEPTED
    assert len(server.call(lambda: [o for o in server.account.orders.values()
                                    if o.is_open])) == 1


def test_user_stream_drop_loses_no_fill(server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.SELL, OrderType.LIMIT, "0.010", "62000")
        await engine.execution.drain()
        srv.streams.drop()
        await wait_for(lambda: engine.execution.counters["stream_drops"] >= 1)
        srv.call(lambda: srv.account.print_trade(Decimal("62000.10"), Decimal("1")))  # unseen
        await wait_for(lambda: engine.om.orders[cid].status is OrderStatus.FILLED)

    engine = live(server, tmp_path, body)
    venue_trades = server.call(lambda: list(server.account.trades))
    assert len(fills(engine)) == len(venue_trades) == 1
    assert engine.execution.counters["catch_ups"] >= 1


def test_duplicated_and_reordered_stream_events_apply_each_fill_once(
        server: ExchangeServer, tmp_path: Path) -> None:
    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        srv.streams.duplicate(10)
        srv.streams.swap()
        for _ in range(3):
            submit(engine, OrderSide.BUY, OrderType.MARKET, "0.001")
        await engine.execution.drain()
        await wait_for(lambda: len(engine.om.open_orders) == 0 and len(fills(engine)) >= 3)

    engine = live(server, tmp_path, body)
    venue_trades = server.call(lambda: list(server.account.trades))
    assert sorted(f.trade_id for f in fills(engine)) == sorted(str(t["id"])
                                                             for t in venue_trades)
    assert engine.execution.counters["duplicate_fills"] >= 1


def test_a_429_storm_backs_off_and_places_every_order_exactly_once(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        srv.faults.retry_after_s = 1
        srv.faults.rate_limits = 6
        state["cids"] = [submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.002",
                                f"{60000 + k}") for k in range(5)]

    engine = live(server, tmp_path, body, streams=False)
    orders = [engine.om.orders[c] for c in state["cids"]]
    assert all(o.status is OrderStatus.ACCEPTED for o in orders)
    venue_open = server.call(lambda: sorted(o.client_id for o in
                                            server.account.orders.values() if o.is_open))
    assert venue_open == sorted(state["cids"])              # ... once
    counters = engine.execution.client.limiter.snapshot()   # type: ignore[attr-defined]
    assert counters.rate_limited >= 1 and counters.retries <= 6 + 1


def test_a_long_run_keeps_only_its_newest_closed_orders_and_records_in_memory(
        server: ExchangeServer, tmp_path: Path) -> None:
    """``bound_memory`` (what ``heron live`` turns on once restored): closed orders beyond
    the newest few leave memory and the client's id maps; late venue news of one is
    counted and changes nothing; the journal file still holds every record."""
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        inst = engine.instruments[0]
        engine.bound_memory(records=20, closed_orders=4)
        market = submit(engine, OrderSide.BUY, OrderType.MARKET, "0.003")
        await engine.execution.drain()
        await wait_for(lambda: engine.om.orders[market].status is OrderStatus.FILLED)
        limits = []
        for k in range(12):
            cid = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.002", f"{60000 + k}")
            await engine.execution.drain()
            engine.send(CancelOrder(0, 0, cid, "idle", inst.id))
            await engine.execution.drain()
            limits.append(cid)
        await engine.journal.flush_off_loop()
        state.update(limits=limits, market=market, in_memory=len(engine.journal.records),
                     maps=(len(engine.execution.to_heron), len(engine.execution.by_venue_id)))
        # the venue's late news of forgotten orders: an order update and a fill again
        client = engine.execution.client
        late = await client.fetch_order(inst, client_id=client.venue_client_id(limits[0]))
        venue_fills = await client.fills(inst)
        counters = engine.execution.counters
        before = (counters["unknown_orders"], counters["duplicate_fills"])
        records_before = engine.journal.seq
        assert late is not None and len(venue_fills) >= 1
        engine.execution.on_orders([late])
        engine.execution.on_fills(venue_fills)
        await engine.execution.drain()
        with pytest.raises(KeyError, match="closed long ago"):  # a strategy's stale id
            engine.strategies[0].cancel(limits[0])
        state["late"] = (counters["unknown_orders"] - before[0],
                         counters["duplicate_fills"] - before[1],
                         engine.journal.seq - records_before, len(venue_fills))

    engine = live(server, tmp_path, body)
    inst = engine.instruments[0]
    assert list(engine.om.orders) == state["limits"][-4:]      # the newest closed orders
    assert state["market"] not in engine.om.orders
    assert state["maps"][0] <= 4 and state["maps"][1] <= 4
    assert state["in_memory"] <= 40
    unknown, duplicates, new_records, n_fills = state["late"]
    assert (unknown, duplicates, new_records) == (1, n_fills, 0)
    assert engine.portfolio.positions[inst.id].qty == inst.lots(Decimal("0.003"))
    kinds = [type(r).__name__ for r in JournalReader(tmp_path / "journal.sqlite").records()]
    assert (kinds.count("SubmitOrder"), kinds.count("OrderCanceled"),
            kinds.count("OrderFilled")) == (13, 12, n_fills)


def test_an_order_the_venue_refuses_is_rejected_before_or_by_the_venue(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, str] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        state["small"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "0.001", "1000")
        state["big"] = submit(engine, OrderSide.BUY, OrderType.LIMIT, "100", "60000")

    engine = live(server, tmp_path, body, streams=False)
    reasons = dict(engine.om.rejections)
    assert reasons[state["small"]].startswith("min_notional: notional")  # risk: never sent
    assert "(-2019)" in reasons[state["big"]] and "add margin" in reasons[state["big"]]
    assert placements(server) == 1


# -- orders by intent: the router's plan against a venue -----------------------------------
class NoAmendDialect(BinanceUsdmDialect):
    """Binance as a venue without an amend endpoint (MEXC, Alpaca crypto are such)."""

    supports_amend = False


def bid(engine: LiveEngine, qty: str, price: str) -> Target:
    inst = engine.instruments[0]
    return Target(OrderSide.BUY, inst.lots(Decimal(qty)), inst.ticks(Decimal(price)), key="bid")


@pytest.mark.parametrize(("dialect", "expected"), [
    (BinanceUsdmDialect(), ["POST", "PUT"]),              # moved in place: one order id
    (NoAmendDialect(), ["POST", "DELETE", "POST"]),       # cancel, then the replacement
])
def test_a_moved_target_is_amended_where_the_venue_can_else_canceled_and_replaced(
        server: ExchangeServer, tmp_path: Path, dialect: BinanceUsdmDialect,
        expected: list[str]) -> None:
    plans: list[Any] = []

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        iid = engine.instruments[0].id
        for price in ("60000", "60000", "60010"):
            plans.append(engine.targets.execute("idle", iid, [bid(engine, "0.010", price)]))
            await engine.execution.drain()

    engine = live(server, tmp_path, body, streams=False, dialect=dialect)
    kinds = [[a.kind.value for a in plan.actions] for plan in plans]
    assert kinds[0] == ["new"] and kinds[1] == ["noop"]
    assert kinds[2] == (["amend"] if dialect.supports_amend else ["cancel_replace"])
    assert [m for m, p, _ in server.requests if p == "/fapi/v1/order"] == expected
    working = server.call(lambda: [(o.client_id, o.price) for o in
                                   server.account.orders.values() if o.is_open])
    inst = engine.instruments[0]
    assert [price for _, price in working] == [inst.ticks(Decimal("60010"))]
    [order] = engine.om.open_orders.values()
    assert (order.client_order_id, order.price) == (working[0][0], working[0][1])
    assert order.tag == "bid"


def test_stop_market_rests_untriggered_then_fills_when_a_trade_crosses_it(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = state["cid"] = submit(engine, OrderSide.BUY, OrderType.STOP, "0.002",
                                    trigger="62500")
        await engine.execution.drain()
        state["before"] = engine.om.orders[cid].status
        srv.call(lambda: srv.account.print_trade(Decimal("62600"), Decimal("0.001")))
        await wait_for(lambda: engine.om.orders[cid].status is OrderStatus.FILLED)

    engine = live(server, tmp_path, body)
    assert state["before"] is OrderStatus.ACCEPTED
    [fill] = fills(engine)
    assert fill.client_order_id == state["cid"] and engine.om.adopted == []
    assert engine.portfolio.positions[fill.instrument_id].qty == fill.last_qty


def test_stop_limit_is_triggered_then_canceled_as_the_resting_limit_it_became(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        inst = engine.instruments[0]
        cid = state["cid"] = submit(engine, OrderSide.SELL, OrderType.STOP_LIMIT, "0.002",
                                    price="65000", trigger="61000")
        await engine.execution.drain()
        srv.call(lambda: srv.account.print_trade(Decimal("60900"), Decimal("0.001")))
        await wait_for(lambda: engine.om.orders[cid].status is OrderStatus.TRIGGERED)
        engine.send(CancelOrder(0, 0, cid, "idle", inst.id))

    engine = live(server, tmp_path, body)
    assert engine.om.orders[state["cid"]].status is OrderStatus.CANCELED
    assert server.call(lambda: [o for o in server.account.orders.values() if o.is_open]) == []


def test_canceling_an_untriggered_stop_removes_it_at_the_venue(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        inst = engine.instruments[0]
        cid = state["cid"] = submit(engine, OrderSide.SELL, OrderType.STOP, "0.002",
                                    trigger="58000")
        await engine.execution.drain()
        engine.send(CancelOrder(0, 0, cid, "idle", inst.id))

    engine = live(server, tmp_path, body)
    assert engine.om.orders[state["cid"]].status is OrderStatus.CANCELED
    assert any(m == "DELETE" and p == "/fapi/v1/algoOrder" for m, p, _ in server.requests)


def test_protective_pair_rests_at_the_venue_and_a_take_profit_fill_cancels_the_stop(
        server: ExchangeServer, tmp_path: Path) -> None:
    state: dict[str, Any] = {}

    async def body(engine: LiveEngine, srv: ExchangeServer) -> None:
        cid = submit(engine, OrderSide.BUY, OrderType.MARKET, "0.004")
        await engine.execution.drain()
        await wait_for(lambda: engine.om.orders[cid].status is OrderStatus.FILLED)
        sl, _ = state["legs"] = engine.strategies[0].protect(stop=Decimal("60000"),
                                                             take=Decimal("62500"))
        await engine.execution.drain()
        state["resting"] = server.call(lambda: (len(srv.account.venue_open()),
                                                len(srv.account.algos.orders)))
        srv.call(lambda: srv.account.print_trade(Decimal("62600"), Decimal("1")))
        await wait_for(lambda: engine.om.orders[sl].status is OrderStatus.CANCELED)

    engine = live(server, tmp_path, body)
    sl, tp = state["legs"]
    assert engine.om.orders[tp].status is OrderStatus.FILLED
    assert engine.om.orders[sl].order_type is OrderType.STOP
    assert state["resting"][0] == 1                      # the take-profit limit
    inst = engine.instruments[0]
    assert engine.portfolio.positions[inst.id].qty == 0
    assert any(m == "DELETE" and p == "/fapi/v1/algoOrder" for m, p, _ in server.requests)
