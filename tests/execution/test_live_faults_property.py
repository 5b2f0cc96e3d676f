"""A live run trading through a random mix of the venue's faults, all at once.

The fault tests in ``test_live_execution.py`` take one fault each. Bugs that lose or
double an order live where faults meet: a lost placement reply whose look-up is answered
429, a fill on a stream that drops while a cancel is in flight, an amend whose update is
held back behind the next fill. Property (hypothesis): whatever heron's commands
(resting limits, market orders, cancels, cancel-alls, amends) and the venue's trades,
with its orders also canceled by hand at the venue, under whatever mix of lost replies,
5xx answers, 429 bursts, added latency, user-stream drops and duplicated or reordered
stream events, once the faults stop and heron has caught up:

* no order was sent twice: each of heron's client ids is at most one order at the venue,
  and the venue never refused a placement as a duplicate client id (-4116, which would
  mean heron resent without asking first);
* nothing was forgotten: every venue order of heron's is in heron's order book with the
  venue's status, filled quantity, price and size, and no command is left unanswered;
* every venue trade is exactly one heron fill; heron's position, open orders and wallet
  balance (fees included) equal the venue's;
* heron's own reconciliation, run then, finds nothing to report or fix.

Everything is real: ccxt.pro, HTTP and the user-data WebSocket on 127.0.0.1, the loopback
exchange's signed API and matching, a SQLite journal on disk.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_live_execution import wait_for

from conftest import loopback_exchange
from heron.execution.reconcile_run import reconcile_pass
from heron.model.events import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from heron.model.orders import OrderSide, OrderStatus, OrderType
from heron.node.live import LiveEngine
from heron.strategy.base import Strategy
from heron.testing.exchange import ExchangeServer
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials

KEY, SECRET = "chaos-key", "chaos-secret"
SYMBOL = "BTC/USDT:USDT"
STRATEGY = "idle"
#: the venue's status -> heron's (an order heron knows is at least accepted)
STATUS = {"NEW": OrderStatus.ACCEPTED, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
          "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
          "EXPIRED": OrderStatus.EXPIRED}


class Idle(Strategy):
    """Sends nothing by itself: the test sends the commands."""

    name = STRATEGY


# -- what happens (the book's best bid / ask are about 61800) --------------------------------
sizes = st.sampled_from(["0.001", "0.002", "0.003"])
command = st.one_of(
    st.tuples(st.just("rest"), st.sampled_from([("buy", "61500"), ("buy", "61400"),
                                                ("sell", "62000"), ("sell", "62100")]),
              sizes),
    st.tuples(st.just("take"), st.sampled_from(["buy", "sell"]), st.just("0.001")),
    st.tuples(st.just("cancel"), st.integers(0, 7), st.none()),
    st.tuples(st.just("amend"), st.integers(0, 7), st.sampled_from(["50", "-50"])),
    st.tuples(st.just("cancel_all"), st.none(), st.none()),
)
venue_trade = st.tuples(st.just("trade"),
                        st.sampled_from(["62050", "62150", "61450", "61350"]),
                        st.sampled_from(["0.001", "0.002", "0.005"]))
by_hand = st.tuples(st.just("venue_cancel"), st.integers(0, 7), st.none())  # the web UI
fault = st.tuples(st.just("fault"),
                  st.sampled_from(["lose", "5xx", "429", "slow", "drop", "dup", "swap"]),
                  st.none())
pause = st.tuples(st.just("pause"), st.sampled_from([0.0, 0.02, 0.1]), st.none())
step = st.one_of(command, command, venue_trade, by_hand, fault, fault, pause)


def _send_command(engine: LiveEngine, kind: str, arg: Any, extra: Any) -> None:
    inst = engine.instruments[0]
    now = engine.clock.ts
    ids = list(engine.om.orders)
    if kind in ("rest", "take"):
        side, price = arg if kind == "rest" else (arg, None)
        engine.send(SubmitOrder(
            now, now, engine.ids.client_order_id(STRATEGY), STRATEGY, inst.id,
            OrderSide(side), OrderType.LIMIT if price else OrderType.MARKET,
            inst.lots(Decimal(extra)), inst.ticks(Decimal(price)) if price else None))
    elif kind == "cancel_all":
        engine.send(CancelAllOrders(now, now, STRATEGY, inst.id))
    elif ids and kind == "cancel":
        engine.send(CancelOrder(now, now, ids[arg % len(ids)], STRATEGY, inst.id))
    elif ids and kind == "amend":
        order = engine.om.orders[ids[arg % len(ids)]]
        if order.is_open and order.price is not None:  # away from the book: it rests
            away = Decimal(extra) if order.side is OrderSide.SELL else -Decimal(extra)
            engine.send(AmendOrder(now, now, order.client_order_id, STRATEGY, inst.id,
                                   price=order.price + inst.ticks(abs(away))
                                   * (1 if away > 0 else -1)))


def _fault(server: ExchangeServer, kind: str) -> None:
    faults, streams = server.faults, server.streams
    if kind == "lose":
        faults.lose_responses += 1
    elif kind == "5xx":
        faults.server_errors += 1
    elif kind == "429":
        faults.rate_limits += 2
    elif kind == "slow":
        faults.latency_ms = 30.0
    elif kind == "drop":
        streams.drop()
    elif kind == "dup":
        streams.duplicate(5)
    else:
        streams.swap()


async def _act(engine: LiveEngine, server: ExchangeServer, steps: list[tuple[str, Any, Any]]
               ) -> None:
    for kind, arg, extra in steps:
        if kind == "trade":
            server.call(partial(server.account.print_trade, Decimal(arg), Decimal(extra)))
        elif kind == "venue_cancel" and engine.om.orders:
            ids = list(engine.om.orders)
            server.call(partial(_cancel_at_venue, server, ids[arg % len(ids)]))
        elif kind == "fault":
            _fault(server, arg)
        elif kind == "pause":
            await asyncio.sleep(arg)
        else:
            _send_command(engine, kind, arg, extra)


def _cancel_at_venue(server: ExchangeServer, client_id: str) -> None:
    """The account's owner cancels one of heron's orders by hand (on the server's loop)."""
    order = server.account.by_client.get(client_id)
    if order is not None and order.is_open:
        server.account.cancel({"symbol": "BTCUSDT", "origClientOrderId": client_id})


async def _settle(engine: LiveEngine, server: ExchangeServer) -> None:
    """The faults stop; heron answers every command and catches up (as after any drop)."""
    faults = server.faults
    faults.lose_responses = faults.server_errors = faults.rate_limits = 0
    faults.latency_ms = 0.0
    execution = engine.execution
    await execution.drain()
    await wait_for(lambda: _stream_up(server))  # back after a drop
    await execution.catch_up()
    await execution.drain()


def _stream_up(server: ExchangeServer) -> bool:
    """A user-data connection is open at the venue."""
    return any(not s.closed and s.state.get("user") for s in server.streams.sessions)


async def _run(server: ExchangeServer, run_dir: Path, steps: list[tuple[str, Any, Any]]
               ) -> tuple[LiveEngine, Any]:
    client = CcxtClient(BinanceUsdmDialect(),
                        Credentials("binanceusdm", "test", api_key=KEY, api_secret=SECRET),
                        [SYMBOL], endpoint=server.url)
    await client.open()
    engine = LiveEngine(client=client, instruments=list(client.instruments.values()),
                        strategies=[Idle()], cash=Decimal(10000),
                        journal_path=run_dir / "journal.sqlite", bar_ns=60_000_000_000,
                        book_streams=set(), quote_streams=set(), book_rules={}, header={},
                        id_tag="C", lost_grace_s=0.05)
    server.faults.retry_after_s = 0  # a 429's block: exercised, not waited out for seconds
    engine.start()
    stop = asyncio.Event()
    follow = asyncio.create_task(engine.execution.run_streams(stop, poll_s=30.0))
    try:
        await wait_for(lambda: _stream_up(server))
        await _act(engine, server, steps)
        await _settle(engine, server)
        report = await reconcile_pass(engine, run_dir)
    finally:
        stop.set()
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        await engine.execution.drain()
        await client.close()
        engine.journal.close()
    return engine, report


def _venue(server: ExchangeServer) -> dict[str, Any]:
    account = server.account

    def read() -> dict[str, Any]:
        orders = list(account.orders.values())
        return {
            "orders": [(o.client_id, o.status, o.executed, o.price, o.qty) for o in orders],
            "trades": [str(t["id"]) for t in account.trades],
            "position": account.portfolio.positions[account.inst.id].qty,
            "wallet": Decimal(account.balance_row()["walletBalance"]),
        }
    return server.call(read)


@pytest.mark.slow
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=2, max_size=14))
def test_under_any_mix_of_faults_heron_sends_nothing_twice_and_forgets_nothing(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any, Any]]) -> None:
    run_dir = tmp_path_factory.mktemp("chaos")
    with loopback_exchange(KEY, SECRET) as server:
        engine, report = asyncio.run(_run(server, run_dir, steps))
        venue = _venue(server)
        refused = list(server.refused)
    inst = engine.instruments[0]
    om = engine.om
    ours = [row for row in venue["orders"] if row[0] in om.orders]
    # nothing sent twice
    assert [cid for cid, n in Counter(row[0] for row in ours).items() if n > 1] == []
    assert [r for r in refused if r[2] == -4116] == []
    # nothing forgotten: the venue's orders of heron's, as heron holds them
    assert sorted((cid, STATUS[status], executed, price, qty)
                  for cid, status, executed, price, qty in ours) == sorted(
        (o.client_order_id, o.status, o.filled, o.price, o.quantity)
        for o in om.orders.values() if o.client_order_id in {row[0] for row in ours})
    unsettled = [o.client_order_id for o in om.orders.values()
                 if o.status is OrderStatus.SUBMITTED]
    assert unsettled == [] and engine.execution.unresolved == set()
    heron_orders = {o.client_order_id for o in om.orders.values()
                    if o.status is not OrderStatus.REJECTED}
    assert heron_orders == {row[0] for row in ours}  # each accepted order is at the venue
    # every venue trade once; the account equal
    assert sorted(trade for _, trade in om.trade_ids) == sorted(venue["trades"])
    assert engine.portfolio.positions[inst.id].qty == venue["position"]
    assert engine.portfolio.money(engine.portfolio.balance) == venue["wallet"]
    # and heron's own reconciliation agrees
    assert report.mismatches == [] and report.records == []
