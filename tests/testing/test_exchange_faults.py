"""The loopback Binance USD-M exchange, second part: conditional (algo) orders, the
user-stream-only drop, weight headers, queries by client id and trade filters, and the
ccxt.pro private watchers, each driven by real ccxt as a bot would drive it.

Prices: the recorded book's best ask (61800.30) and bid sit around 61800; a printed
trade (``FuturesAccount.print_trade``) is what moves the last price that triggers a
``CONTRACT_PRICE`` conditional order.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest

from conftest import SHARED_VENUES, loopback_exchange, need
from heron.data.feeds.session import endpoint_urls
from heron.testing.exchange import ExchangeServer

USDM = SHARED_VENUES / "binance_usdm"
FIXTURES = USDM / "fixtures"
KEY, SECRET = "emulator-key", "emulator-secret"
SYMBOL = "BTC/USDT:USDT"


def best_ask() -> Decimal:
    """The capture's REST snapshot's best ask, read without the emulator's code."""
    need(USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz")
    with gzip.open(USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz", "rt") as lines:
        for line in lines:
            text = line.partition(" ")[2]
            if "lastUpdateId" in text and '"stream"' not in text:
                return Decimal(json.loads(text)["asks"][0][0])
    raise AssertionError("no snapshot in the capture")


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET) as srv:
        yield srv


def client(server: ExchangeServer) -> Any:
    ex = ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET,
                           "options": {"fetchCurrencies": False}})
    ex.urls["api"] = endpoint_urls(ex.urls["api"], server.url)
    ex.load_markets()
    return ex


def trade(server: ExchangeServer, price: str) -> None:
    server.call(lambda: server.account.print_trade(Decimal(price), Decimal("1")))


def events(server: ExchangeServer) -> list[str]:
    """The user stream so far: each event, with the algo or order status."""
    return [f"{m['e']}:{m['o']['X']}" if "o" in m else m["e"] for m in server.streams.sent]


def contracts(ex: Any) -> float:
    return sum(p["contracts"] or 0 for p in ex.fetch_positions([SYMBOL]))


def fixture_keys(name: str) -> set[str]:
    need(FIXTURES / name)
    data = json.loads((FIXTURES / name).read_text())
    return set(data.get("data", data)["o"])


# -- conditional orders --------------------------------------------------------------------
def test_stop_market_rests_on_the_algo_service_then_fills_when_a_trade_crosses_it(
        server: ExchangeServer) -> None:
    ex = client(server)
    stop = ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 62000})
    assert server.requests[-1][:2] == ("POST", "/fapi/v1/algoOrder")
    assert (stop["status"], stop["type"], stop["triggerPrice"]) == ("open", "market", 62000)
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL, params={"trigger": True})] \
        == [stop["id"]]
    assert ex.fetch_open_orders(SYMBOL) == []          # not in the matching engine
    trade(server, "61999.90")                          # below a buy stop: nothing
    assert ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})["status"] == "open"
    trade(server, "62000.00")
    done = ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})
    assert done["status"] == "closed" and done["info"]["algoStatus"] == "FINISHED"
    placed = ex.fetch_order(done["info"]["actualOrderId"], SYMBOL)
    assert (placed["status"], placed["filled"], placed["clientOrderId"]) \
        == ("closed", 0.01, stop["clientOrderId"])
    assert Decimal(str(placed["average"])) == best_ask()
    assert Decimal(placed["info"]["cumQuote"]) == best_ask() * Decimal("0.01")
    assert placed["info"]["origType"] == "STOP_MARKET" and placed["triggerPrice"] == 62000
    assert events(server) == ["ALGO_UPDATE:NEW", "ALGO_UPDATE:TRIGGERING",
                              "ORDER_TRADE_UPDATE:NEW", "ORDER_TRADE_UPDATE:FILLED",
                              "ACCOUNT_UPDATE", "ALGO_UPDATE:TRIGGERED",
                              "ALGO_UPDATE:FINISHED"]
    finished = server.streams.sent[-1]["o"]
    assert (finished["ai"], finished["aq"], finished["act"]) \
        == (placed["id"], "0.010", "MARKET")
    assert ex.fetch_open_orders(SYMBOL, params={"trigger": True}) == []


def test_algo_updates_carry_the_recorded_fields(server: ExchangeServer) -> None:
    ex = client(server)
    stop = ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 62000})
    ex.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    new, canceled = (m["o"] for m in server.streams.sent)
    assert set(new) == fixture_keys("ws_futures_algo_update_triggering.json")
    assert set(canceled) == fixture_keys("ws_futures_algo_update_triggering.json")
    trade(server, "70000")  # a canceled stop never triggers
    assert events(server) == ["ALGO_UPDATE:NEW", "ALGO_UPDATE:CANCELED"]


def test_stop_limit_triggers_into_a_resting_limit_and_finishes_when_it_fills(
        server: ExchangeServer) -> None:
    ex = client(server)
    stop = ex.create_order(SYMBOL, "limit", "sell", 0.01, 62500, {"stopLossPrice": 61000})
    assert (stop["info"]["orderType"], stop["price"], stop["triggerPrice"]) \
        == ("STOP", 62500, 61000)
    trade(server, "61000")
    triggered = ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})
    assert triggered["info"]["algoStatus"] == "TRIGGERED"
    [resting] = ex.fetch_open_orders(SYMBOL)
    assert (resting["id"], resting["type"], resting["price"], resting["side"]) \
        == (triggered["info"]["actualOrderId"], "limit", 62500, "sell")
    trade(server, "62500.10")
    assert ex.fetch_order(resting["id"], SYMBOL)["status"] == "closed"
    assert ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})["info"]["algoStatus"] \
        == "FINISHED"
    assert events(server)[-3:] == ["ORDER_TRADE_UPDATE:FILLED", "ACCOUNT_UPDATE",
                                   "ALGO_UPDATE:FINISHED"]


def test_reduce_only_take_profit_and_close_position_stop_flatten_a_long(
        server: ExchangeServer) -> None:
    ex = client(server)
    ex.create_order(SYMBOL, "market", "buy", 0.02)
    take = ex.create_order(SYMBOL, "market", "sell", 0.01, None,
                           {"takeProfitPrice": 63000, "reduceOnly": True})
    assert (take["type"], take["takeProfitPrice"], take["reduceOnly"]) \
        == ("market", 63000, True)
    stop = ex.create_order(SYMBOL, "market", "sell", None, None,
                           {"stopLossPrice": 60000, "closePosition": True})
    assert stop["info"]["closePosition"] is True
    trade(server, "63000")
    assert contracts(ex) == 0.01
    trade(server, "59999")
    assert contracts(ex) == 0
    assert ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})["status"] == "closed"


def test_a_reduce_only_take_profit_with_nothing_to_reduce_is_rejected_at_trigger(
        server: ExchangeServer) -> None:
    ex = client(server)
    take = ex.create_order(SYMBOL, "market", "sell", 0.01, None,
                           {"takeProfitPrice": 63000, "reduceOnly": True})
    trade(server, "63000")
    rejected = ex.fetch_order(take["id"], SYMBOL, {"trigger": True})
    assert rejected["status"] == "rejected"
    assert server.streams.sent[-1]["o"]["rm"] == "ReduceOnly Order is rejected."
    assert contracts(ex) == 0


def test_algo_cancel_query_and_refusals(server: ExchangeServer) -> None:
    ex = client(server)
    stop = ex.create_order(SYMBOL, "limit", "buy", 0.01, 62100,
                           {"triggerPrice": 62000, "clientAlgoId": "stop-1"})
    found = ex.fetch_order(None, SYMBOL, {"trigger": True, "clientOrderId": "stop-1"})
    assert found["id"] == stop["id"]
    ex.cancel_order(None, SYMBOL, {"trigger": True, "clientOrderId": "stop-1"})
    assert ex.fetch_order(stop["id"], SYMBOL, {"trigger": True})["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(stop["id"], SYMBOL, {"trigger": True})
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order("12345", SYMBOL, {"trigger": True})
    with pytest.raises(ccxt.ExchangeError, match="-2021"):   # a buy stop below the price
        ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 61000})
    with pytest.raises(ccxt.ExchangeError, match="-4120"):   # the old endpoint
        ex.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                 "quantity": "0.01", "stopPrice": "62000"})
    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 62000})
    ex.cancel_all_orders(SYMBOL, {"trigger": True})
    assert ex.fetch_open_orders(SYMBOL, params={"trigger": True}) == []


# -- weights, client ids, trade filters ----------------------------------------------------
def test_every_reply_carries_the_weight_and_order_count_headers(
        server: ExchangeServer) -> None:
    ex = client(server)
    ex.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    server.usage.clock = lambda: 1_800_000_000.0   # one window for the whole test
    ex.fetch_open_orders(SYMBOL)
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert "X-MBX-ORDER-COUNT-1M" not in ex.last_response_headers
    ex.fetch_open_orders()                          # every symbol: 40
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "41"
    ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000)
    ex.create_order(SYMBOL, "market", "buy", 0.01, None, {"triggerPrice": 62000})
    headers = ex.last_response_headers
    assert (headers["X-MBX-USED-WEIGHT-1M"], headers["X-MBX-ORDER-COUNT-10S"],
            headers["X-MBX-ORDER-COUNT-1M"]) == ("41", "2", "2")
    with pytest.raises(ccxt.OrderNotFound):
        ex.fetch_order("1", SYMBOL)                  # refusals are counted too
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "42"
    assert ex.last_response_headers["X-MBX-ORDER-COUNT-1M"] == "2"
    server.usage.clock = lambda: 1_800_000_060.0   # the next minute starts from nothing
    ex.fetch_balance()
    assert ex.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "5"


def test_orders_are_found_and_canceled_by_client_id(server: ExchangeServer) -> None:
    ex = client(server)
    placed = ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000,
                             {"newClientOrderId": "mine-1"})
    found = ex.fetch_order(None, SYMBOL, {"origClientOrderId": "mine-1"})
    assert (found["id"], found["status"]) == (placed["id"], "open")
    canceled = ex.cancel_order(None, SYMBOL, {"origClientOrderId": "mine-1"})
    assert (canceled["id"], canceled["status"]) == (placed["id"], "canceled")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order(None, SYMBOL, {"origClientOrderId": "nobody"})
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(None, SYMBOL, {"origClientOrderId": "nobody"})


def test_user_trades_honour_from_id_times_limit_and_order_id(
        server: ExchangeServer) -> None:
    ex = client(server)
    orders = [ex.create_order(SYMBOL, "market", side, 0.01)
              for side in ("buy", "sell", "buy")]
    trades = ex.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in trades] == [o["id"] for o in orders]
    ids = [int(t["id"]) for t in trades]
    assert [t["id"] for t in ex.fetch_my_trades(SYMBOL, params={"fromId": ids[1]})] \
        == [str(i) for i in ids[1:]]
    assert [t["id"] for t in ex.fetch_my_trades(SYMBOL, limit=2)] \
        == [str(i) for i in ids[1:]]                 # the newest two
    assert [t["id"] for t in ex.fetch_my_trades(SYMBOL, params={"fromId": ids[0],
                                                                "limit": 1})] \
        == [str(ids[0])]                             # from an id: the oldest
    [second] = ex.fetch_my_trades(SYMBOL, params={"orderId": orders[1]["id"]})
    assert second["side"] == "sell"
    first_time = trades[0]["timestamp"]
    assert len(ex.fetch_my_trades(SYMBOL, since=first_time)) == 3
    assert ex.fetch_my_trades(SYMBOL, params={"endTime": first_time - 1}) == []
    with pytest.raises(ccxt.ExchangeError, match="-1128"):
        ex.fetch_my_trades(SYMBOL, since=first_time, params={"fromId": ids[0]})
    with pytest.raises(ccxt.ExchangeError, match="-1127"):
        ex.fetch_my_trades(SYMBOL, params={"startTime": 0, "endTime": first_time})


# -- ccxt.pro: the private watchers, the user-stream drop -------------------------------
def pro(server: ExchangeServer) -> Any:
    ex = ccxt.pro.binanceusdm({"apiKey": KEY, "secret": SECRET,
                               "options": {"fetchCurrencies": False}})
    ex.urls["api"] = endpoint_urls(ex.urls["api"], server.url)
    return ex


async def connected(server: ExchangeServer) -> None:
    """Until a user-data connection is up (bounded, not timed): after a drop, the new one."""
    for _ in range(1000):
        if any(s.state.get("user") and not s.closed for s in server.streams.sessions):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the user stream never connected")


async def first(watch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    """The first update ``watch`` gives that satisfies ``ok``."""
    for _ in range(20):
        update = await asyncio.wait_for(watch(), 10)
        if ok(update):
            return update
    raise AssertionError("no such update")


async def cached(ex: Any, ok: Callable[[Any], bool]) -> None:
    """Until ccxt's order cache, which every user-stream message updates whether or not
    a watch is pending, satisfies ``ok`` (bounded, not timed)."""
    for _ in range(1000):
        if ex.orders is not None and ok(ex.orders):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the user stream never delivered such an update")


def run_pro(server: ExchangeServer, body: Callable[[Any], Awaitable[None]]) -> None:
    async def main() -> None:
        ex = pro(server)
        try:
            await ex.load_markets()
            await body(ex)
        finally:
            await ex.close()
    asyncio.run(main())


@pytest.mark.parametrize("watcher", ["orders", "my_trades", "positions", "balance"])
def test_each_private_watcher_gets_the_fill(server: ExchangeServer, watcher: str) -> None:
    async def body(ex: Any) -> None:
        watch: dict[str, Callable[[], Awaitable[Any]]] = {
            "orders": lambda: ex.watch_orders(SYMBOL),
            "my_trades": lambda: ex.watch_my_trades(SYMBOL),
            "positions": lambda: ex.watch_positions([SYMBOL]),
            "balance": ex.watch_balance,
        }
        if watcher == "positions":  # ccxt answers the first call from a REST snapshot
            assert all(not p["contracts"] for p in await watch[watcher]())
        pending = asyncio.ensure_future(watch[watcher]())
        await connected(server)
        order = await ex.create_order(SYMBOL, "market", "buy", 0.01)
        checks: dict[str, Callable[[Any], bool]] = {
            "orders": lambda u: u[-1]["id"] == order["id"] and u[-1]["filled"] == 0.01,
            "my_trades": lambda u: u[-1]["order"] == order["id"] and u[-1]["amount"] == 0.01,
            "positions": lambda u: any(p["contracts"] == 0.01 for p in u),
            "balance": lambda u: u["USDT"]["total"] is not None
            and Decimal(str(u["USDT"]["total"])) < 10000,   # the taker fee
        }
        update = await asyncio.wait_for(pending, 10)
        if not checks[watcher](update):
            await first(watch[watcher], checks[watcher])
    run_pro(server, body)


def test_algo_updates_reach_watch_orders_under_the_algo_id(server: ExchangeServer) -> None:
    async def body(ex: Any) -> None:
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        await connected(server)
        stop = await ex.create_order(SYMBOL, "market", "buy", 0.01, None,
                                     {"triggerPrice": 62000})
        await asyncio.wait_for(pending, 10)
        trade(server, "62000")
        # the triggered algo and the order it placed come in several messages; one that
        # arrives while no watch is pending resolves none, so wait on the stream's cache
        await cached(ex, lambda orders: any(o["id"] == stop["id"] and o["status"] == "closed"
                                            for o in orders))
        await cached(ex, lambda orders: any(
            o["clientOrderId"] == stop["clientOrderId"] and o["filled"] == 0.01
            and o["id"] != stop["id"] for o in orders))  # the placed order, filled
    run_pro(server, body)


def test_user_stream_drop_loses_events_until_reconnect_and_rest_recovers_them(
        server: ExchangeServer) -> None:
    async def body(ex: Any) -> None:
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        await connected(server)
        resting = await ex.create_order(SYMBOL, "limit", "sell", 0.01, 62000)
        await asyncio.wait_for(pending, 10)
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        await asyncio.sleep(0)
        server.streams.drop()
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, 10)
        trade(server, "62000.10")                  # fills while nobody listens
        missed = [m for m in server.streams.undelivered if m["e"] == "ORDER_TRADE_UPDATE"]
        assert [m["o"]["X"] for m in missed] == ["FILLED"]
        recovered = await ex.fetch_order(resting["id"], SYMBOL)
        assert (recovered["status"], recovered["filled"]) == ("closed", 0.01)
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))  # reconnects
        await connected(server)
        again = await ex.create_order(SYMBOL, "market", "buy", 0.01)
        await first(lambda: pending if not pending.done() else ex.watch_orders(SYMBOL),
                    lambda u: any(o["id"] == again["id"] for o in u))
    run_pro(server, body)
    assert server.streams.drops == 1


def test_listen_key_keepalive_reaches_the_emulator(server: ExchangeServer) -> None:
    async def body(ex: Any) -> None:
        ex.options["listenKeyRefreshRate"] = 50      # ms: renew at once
        pending = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        await connected(server)
        for _ in range(500):
            if ("PUT", "/fapi/v1/listenKey") in [r[:2] for r in server.requests]:
                break
            await asyncio.sleep(0.01)
        pending.cancel()
    run_pro(server, body)
    paths = [r[:2] for r in server.requests]
    assert ("POST", "/fapi/v1/listenKey") in paths and ("PUT", "/fapi/v1/listenKey") in paths
