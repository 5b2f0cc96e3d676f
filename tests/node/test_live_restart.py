"""A live run stopped, the venue moving while heron is down, and the run resumed.

Property (hypothesis): whatever happens at the venue between two processes of one live
run -- heron's resting orders filled in part or in whole by trades, canceled by hand,
orders placed and filled by hand -- after the restart (journal restored, REST catch-up,
reconciliation) heron's position, open orders and wallet balance equal the venue's, and
the restart sends no order at all (nothing is sent twice). Everything is real: ccxt, the
loopback exchange's HTTP API, its matching, SQLite journals on disk.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import loopback_exchange
from heron.execution.reconcile_report import ADOPTED
from heron.execution.reconcile_run import reconcile_pass
from heron.model.events import SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.live import LiveEngine
from heron.node.live_run import LiveState, previous_records, restore
from heron.strategy.base import Strategy
from heron.testing.exchange import ExchangeServer
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials

KEY, SECRET = "restart-key", "restart-secret"
SYMBOL = "BTC/USDT:USDT"
# heron's resting orders: (side, price); the book's best bid/ask are about 61800
RESTING = [("SELL", "62000"), ("SELL", "62100"), ("BUY", "61500"), ("BUY", "61400")]


class Idle(Strategy):
    """Sends nothing by itself."""


async def run_engine(server: ExchangeServer, state_dir: Path,
                     body: Callable[[LiveEngine], Awaitable[None]]) -> LiveEngine:
    """One process of the run: restore, catch up, reconcile, ``body``, stop."""
    client = CcxtClient(BinanceUsdmDialect(),
                        Credentials("binanceusdm", "test", api_key=KEY, api_secret=SECRET),
                        [SYMBOL], endpoint=server.url)
    await client.open()
    state = LiveState(state_dir)
    records = previous_records(state)
    engine = LiveEngine(client=client, instruments=list(client.instruments.values()),
                        strategies=[Idle()], cash=Decimal(10000),
                        journal_path=state.journal, bar_ns=60_000_000_000,
                        book_streams=set(), quote_streams=set(), book_rules={}, header={},
                        id_tag="R", lost_grace_s=0.2)
    try:
        restore(engine, state, records)
        engine.start()
        await engine.execution.catch_up()
        await reconcile_pass(engine, state_dir)
        await body(engine)
        await engine.execution.drain()
    finally:
        engine.journal.close()
        await client.close()
        state.close()
    return engine


def rest_a_sell(engine: LiveEngine, price: str) -> str:
    """One more resting sell of 0.001 from the strategy; its client id."""
    inst = engine.instruments[0]
    cid = engine.ids.client_order_id("idle")
    engine.send(SubmitOrder(0, 0, cid, "idle", inst.id, OrderSide.SELL, OrderType.LIMIT,
                            inst.lots(Decimal("0.001")), inst.ticks(Decimal(price))))
    return cid


def place_resting(engine: LiveEngine) -> None:
    inst = engine.instruments[0]
    for side, price in RESTING:
        cid = engine.ids.client_order_id("idle")
        engine.send(SubmitOrder(0, 0, cid, "idle", inst.id, OrderSide(side.lower()),
                                OrderType.LIMIT, inst.lots(Decimal("0.003")),
                                inst.ticks(Decimal(price))))


# what may happen at the venue while heron is down
trades = st.tuples(st.sampled_from(["62050", "62150", "61450", "61350"]),
                   st.sampled_from(["0.001", "0.002", "0.005"]))
venue_action = st.one_of(
    st.tuples(st.just("trade"), trades),
    st.tuples(st.just("cancel"), st.integers(0, len(RESTING) - 1)),
    st.tuples(st.just("manual_limit"), st.sampled_from([("BUY", "61000"), ("SELL", "63000")])),
    st.tuples(st.just("manual_market"), st.sampled_from(["BUY", "SELL"])),
)


def act(server: ExchangeServer, action: tuple[str, Any], heron_ids: list[str],
        manual: list[int]) -> None:
    kind, arg = action
    account = server.account
    if kind == "trade":
        price, qty = arg
        server.call(lambda: account.print_trade(Decimal(price), Decimal(qty)))
    elif kind == "cancel":
        cid = heron_ids[arg]

        def cancel() -> None:
            order = account.by_client.get(cid)
            if order is not None and order.is_open:
                account.cancel({"symbol": "BTCUSDT", "origClientOrderId": cid})
        server.call(cancel)
    else:
        manual.append(len(manual))
        params = {"symbol": "BTCUSDT", "quantity": "0.002",
                  "newClientOrderId": f"by-hand-{len(manual)}"}
        if kind == "manual_limit":
            side, price = arg
            params |= {"side": side, "type": "LIMIT", "price": price, "timeInForce": "GTC"}
        else:
            params |= {"side": arg, "type": "MARKET"}
        server.call(lambda: account.place(params))


def venue_state(server: ExchangeServer, engine: LiveEngine) -> dict[str, Any]:
    inst = engine.instruments[0]
    account = server.account

    def read() -> dict[str, Any]:
        return {
            "position": account.portfolio.positions[account.inst.id].qty,
            "open": sorted((o.client_id, o.qty - o.executed, o.price)
                           for o in account.orders.values() if o.is_open),
            "wallet": Decimal(account.balance_row()["walletBalance"]),
        }
    state = server.call(read)
    state["open"] = [(cid, inst.quantity(left), inst.price(px)) for cid, left, px
                     in state["open"]]
    return state


def heron_state(engine: LiveEngine) -> dict[str, Any]:
    inst = engine.instruments[0]
    pf = engine.portfolio
    return {
        "position": pf.positions[inst.id].qty,
        "open": sorted((o.client_order_id, inst.quantity(o.leaves), inst.price(o.price))
                       for o in engine.om.open_orders.values() if o.price is not None),
        "wallet": pf.money(pf.balance),
    }


@pytest.mark.slow
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=st.lists(venue_action, min_size=1, max_size=6))
def test_after_a_restart_heron_holds_the_venues_truth_and_sends_nothing_twice(
        tmp_path_factory: pytest.TempPathFactory, actions: list[tuple[str, Any]]) -> None:
    state_dir = tmp_path_factory.mktemp("live")
    with loopback_exchange(KEY, SECRET) as server:
        async def first(engine: LiveEngine) -> None:
            place_resting(engine)

        engine = asyncio.run(run_engine(server, state_dir, first))
        heron_ids = [o.client_order_id for o in engine.om.orders.values()]
        assert len(heron_ids) == len(RESTING)
        manual: list[int] = []
        for action in actions:
            act(server, action, heron_ids, manual)
        placed_before = sum(1 for m, p, _ in server.requests if (m, p) == ("POST",
                                                                          "/fapi/v1/order"))

        async def nothing(engine: LiveEngine) -> None:
            return None

        resumed = asyncio.run(run_engine(server, state_dir, nothing))
        placed_after = sum(1 for m, p, _ in server.requests if (m, p) == ("POST",
                                                                         "/fapi/v1/order"))
        assert placed_after == placed_before                 # the restart sent no order
        assert heron_state(resumed) == venue_state(server, resumed)
        venue_fills = server.call(lambda: len(server.account.trades))
        assert len(resumed.om.trade_ids) == venue_fills  # every fill, once


# -- a crash with records not yet committed ------------------------------------------------
#: a process of the run that places the resting orders, waits for the venue to hold them
#: all, and dies before the journal's next commit (the 100 ms one): killed, not stopped
CRASH = """
import asyncio, os, sys, types
from pathlib import Path
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/node"]
import test_live_restart as t

async def crash(engine):
    t.place_resting(engine)
    await engine.execution.drain()
    os._exit(9)

asyncio.run(t.run_engine(types.SimpleNamespace(url=sys.argv[1]), Path(sys.argv[2]), crash))
"""


def test_a_crash_that_loses_the_last_orders_records_never_reuses_their_client_ids(
        tmp_path: Path) -> None:
    """The orders left, their records did not reach the disk. The restarted run adopts
    them from the venue, and its own next order gets an id none of them has: counting the
    journal's orders would have given it the first lost order's id, which the venue holds
    open (refused as a duplicate, then taken for that order)."""
    state_dir = tmp_path / "live"
    with loopback_exchange(KEY, SECRET) as server:
        child = subprocess.run([sys.executable, "-c", CRASH, server.url, str(state_dir),
                                str(Path(__file__).parents[1])],
                               check=False, capture_output=True, text=True, timeout=120)
        assert child.returncode == 9, child.stderr[-2000:]
        lost = server.call(lambda: sorted(o.client_id for o in server.account.orders.values()))
        assert len(lost) == len(RESTING)
        sent: list[str] = []

        async def one_more(engine: LiveEngine) -> None:
            committed = [r for r in engine.journal.records
                         if isinstance(r, SubmitOrder) and r.tag != ADOPTED]
            assert committed == []   # the crash lost every order record (adopted since)
            sent.append(rest_a_sell(engine, "62500"))

        resumed = asyncio.run(run_engine(server, state_dir, one_more))
        at_venue = server.call(lambda: [o.client_id for o in server.account.orders.values()])
    [cid] = sent
    assert cid not in lost
    assert sorted(at_venue) == sorted([*lost, cid])        # a new order, under a new id
    assert [r for r in server.refused if r[2] == -4116] == []
    assert set(lost) <= set(resumed.om.orders)             # the lost ones adopted

