"""The loopback Binance USD-M exchange, driven by real ccxt (sync and ccxt.pro).

The client is ccxt's own ``binanceusdm`` with its hosts moved to the emulator, so what
is pinned here is what a ccxt-based bot sees: signing, Binance's error codes turned into
ccxt's exception classes, the order lifecycle, fills from heron's simulated venue
against the recorded book, the account after a fill, the user-data stream, and the
fault knobs. Expected prices come from the recorded book snapshot read independently.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest

from conftest import SHARED_VENUES, closed_port, loopback_exchange, need
from heron.data.feeds.session import endpoint_urls
from heron.testing.exchange import ExchangeServer
from heron.testing.exchange.stream import UserStreams
from heron.testing.venue_server import WsSession

USDM = SHARED_VENUES / "binance_usdm"
KEY, SECRET = "emulator-key", "emulator-secret"
SYMBOL = "BTC/USDT:USDT"


def recorded_snapshot() -> dict[str, Any]:
    """The REST book snapshot in the capture, read without the emulator's code."""
    with gzip.open(USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz", "rt") as lines:
        for line in lines:
            text = line.partition(" ")[2]
            if "lastUpdateId" in text and '"stream"' not in text:
                return dict(json.loads(text))
    raise AssertionError("no snapshot in the capture")


BEST_ASK = Decimal(recorded_snapshot()["asks"][0][0])


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET) as srv:
        yield srv


def client(server: ExchangeServer, key: str = KEY, secret: str = SECRET) -> Any:
    ex = ccxt.binanceusdm({"apiKey": key, "secret": secret,
                           "options": {"fetchCurrencies": False}})
    ex.urls["api"] = endpoint_urls(ex.urls["api"], server.url)
    ex.load_markets()
    return ex


# -- order lifecycle -------------------------------------------------------------------
def test_limit_order_create_fetch_amend_cancel_round_trips(server: ExchangeServer) -> None:
    ex = client(server)
    placed = ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000,
                             {"newClientOrderId": "heron-1"})
    assert placed["status"] == "open" and placed["clientOrderId"] == "heron-1"
    assert ex.fetch_order(placed["id"], SYMBOL)["price"] == 60000
    edited = ex.edit_order(placed["id"], SYMBOL, "limit", "buy", 0.02, 60001)
    assert (edited["id"], edited["amount"], edited["price"]) == (placed["id"], 0.02, 60001)
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL)] == [placed["id"]]
    assert ex.cancel_order(placed["id"], SYMBOL)["status"] == "canceled"
    assert ex.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(placed["id"], SYMBOL)


def test_market_buy_fills_at_the_recorded_ask_and_moves_balance_and_position(
        server: ExchangeServer) -> None:
    ex = client(server)
    order = ex.create_order(SYMBOL, "market", "buy", 0.01)
    assert order["status"] == "closed" and order["filled"] == 0.01
    assert Decimal(str(order["average"])) == BEST_ASK
    fee = BEST_ASK * Decimal("0.01") * Decimal("0.0005")
    [trade] = ex.fetch_my_trades(SYMBOL)
    assert (trade["order"], trade["takerOrMaker"]) == (order["id"], "taker")
    assert Decimal(trade["info"]["commission"]) == fee
    balance = ex.fetch_balance()["USDT"]
    assert Decimal(str(balance["total"])) < Decimal(10000)  # fee paid, mark below the ask
    [position] = [p for p in ex.fetch_positions([SYMBOL]) if p["contracts"]]
    assert (position["side"], position["contracts"]) == ("long", 0.01)
    assert Decimal(str(position["entryPrice"])) == BEST_ASK


def test_resting_limit_fills_as_maker_when_a_trade_prints_through_it(
        server: ExchangeServer) -> None:
    ex = client(server)
    placed = ex.create_order(SYMBOL, "limit", "sell", 0.01, 62000)
    server.call(lambda: server.account.print_trade(Decimal("62000.10"), Decimal("1")))
    filled = ex.fetch_order(placed["id"], SYMBOL)
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 62000)
    assert ex.fetch_my_trades(SYMBOL)[0]["takerOrMaker"] == "maker"


def test_post_only_that_would_take_is_refused_and_leaves_no_order(
        server: ExchangeServer) -> None:
    ex = client(server)
    with pytest.raises(ccxt.InvalidOrder, match="-5022"):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 65000, {"timeInForce": "GTX"})
    assert ex.fetch_open_orders(SYMBOL) == []


# -- refusals --------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "error", "code"), [
    ({"type": "LIMIT", "quantity": "0.01", "price": "60000.001", "timeInForce": "GTC"},
     ccxt.BadRequest, "-4014"),
    ({"type": "LIMIT", "quantity": "0.0101", "price": "60000", "timeInForce": "GTC"},
     ccxt.BadRequest, "-1111"),
    ({"type": "MARKET", "quantity": "0.01", "symbol": "ETHUSDT"}, ccxt.BadSymbol, "-1121"),
])
def test_bad_orders_get_binance_codes_and_ccxt_classes(
        server: ExchangeServer, params: dict[str, str], error: type[Exception],
        code: str) -> None:
    ex = client(server)
    with pytest.raises(error, match=code):
        ex.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", **params})
    assert ex.fetch_open_orders(SYMBOL) == []


@pytest.mark.parametrize(("amount", "price", "code"), [
    (0.001, 1000, "-4164"),          # notional 1 USDT, minimum 5
    (100, 60000, "-2019"),           # 300k USDT margin on 10k
])
def test_orders_past_notional_or_margin_limits_are_refused_with_the_venue_code(
        server: ExchangeServer, amount: float, price: int, code: str) -> None:
    # ccxt maps these USD-M-only codes (InvalidOrder, InsufficientFunds) only for URLs on
    # fapi.binance.com: on another host they arrive as ExchangeError with the code in the
    # message, which is what a client pointed at the emulator (or a proxy) must map
    ex = client(server)
    with pytest.raises(ccxt.ExchangeError, match=code):
        ex.create_order(SYMBOL, "limit", "buy", amount, price)
    assert server.account.orders == {}


def test_bad_signature_unknown_key_and_clock_skew_are_refused(
        server: ExchangeServer) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        client(server, secret="wrong").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client(server, key="nobody").fetch_balance()
    skewed = client(server)
    skewed.options["timeDifference"] = 120_000  # the client's clock two minutes behind
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        skewed.fetch_balance()
    assert server.account.orders == {}


# -- fault knobs -----------------------------------------------------------------------
def test_lost_response_leaves_the_order_placed_and_findable_by_client_id(
        server: ExchangeServer) -> None:
    ex = client(server)
    server.faults.lose_responses = 1
    with pytest.raises(ccxt.NetworkError):
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000, {"newClientOrderId": "lost-1"})
    assert server.lost == [("POST", "/fapi/v1/order")]
    found = ex.fetch_order(None, SYMBOL, {"origClientOrderId": "lost-1"})
    assert found["status"] == "open"
    assert [o["clientOrderId"] for o in ex.fetch_open_orders(SYMBOL)] == ["lost-1"]


def test_latency_past_the_client_timeout_is_a_request_timeout(
        server: ExchangeServer) -> None:
    ex = client(server)
    server.faults.latency_ms = 2000
    ex.timeout = 200
    with pytest.raises(ccxt.RequestTimeout):
        ex.fetch_open_orders(SYMBOL)


def test_rate_limit_answers_429_with_retry_after_and_executes_nothing(
        server: ExchangeServer) -> None:
    ex = client(server)
    server.faults.rate_limits, server.faults.retry_after_s = 1, 7
    with pytest.raises(ccxt.DDoSProtection, match="-1003"):  # ccxt's class for a 429
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000)
    assert ex.last_response_headers["Retry-After"] == "7"
    assert ex.fetch_open_orders(SYMBOL) == []


def test_server_error_is_refused_once_then_served(server: ExchangeServer) -> None:
    ex = client(server)
    server.faults.server_errors = 1
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        ex.fetch_balance()
    assert ex.fetch_balance()["USDT"]["total"] == 10000


# -- user-data stream ------------------------------------------------------------------
async def _watch_fill(server: ExchangeServer, duplicate: bool) -> list[dict[str, Any]]:
    ex = ccxt.pro.binanceusdm({"apiKey": KEY, "secret": SECRET,
                               "options": {"fetchCurrencies": False}})
    ex.urls["api"] = endpoint_urls(ex.urls["api"], server.url)
    try:
        await ex.load_markets()
        watch = asyncio.ensure_future(ex.watch_orders(SYMBOL))
        for _ in range(500):  # the stream is connected once the key's session is there
            if any(s.state.get("user") for s in server.streams.sessions):
                break
            await asyncio.sleep(0.01)
        if duplicate:
            server.streams.duplicate(1)
        order = await ex.create_order(SYMBOL, "market", "buy", 0.01)
        updates: list[dict[str, Any]] = list(await asyncio.wait_for(watch, 10))
        while updates[-1]["status"] != "closed":
            updates = list(await asyncio.wait_for(ex.watch_orders(SYMBOL), 10))
        assert all(u["id"] == order["id"] for u in updates)
        return updates
    finally:
        await ex.close()


def test_market_fill_arrives_as_order_trade_update_on_the_user_stream(
        server: ExchangeServer) -> None:
    updates = asyncio.run(_watch_fill(server, duplicate=False))
    assert updates[-1]["filled"] == 0.01
    assert Decimal(str(updates[-1]["average"])) == BEST_ASK
    sent = [m["e"] for m in server.streams.sent]
    assert sent == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
    assert server.streams.sent[-1]["a"]["P"][0]["pa"] == "0.010"


def test_duplicated_stream_event_still_leaves_one_order(server: ExchangeServer) -> None:
    updates = asyncio.run(_watch_fill(server, duplicate=True))
    assert len({u["id"] for u in updates}) == 1


def test_user_stream_knobs_duplicate_and_swap_events_on_the_wire() -> None:
    streams = UserStreams()
    key = streams.new_key()
    session = WsSession("/private/ws", {"listenKey": key})
    assert streams.attach(session) and streams.new_key() == key
    streams.swap()
    streams.publish({"n": 1})
    streams.duplicate(1)
    streams.publish({"n": 2})
    streams.publish({"n": 3})
    assert [json.loads(m)["n"] for m in session.outbox] == [2, 2, 1, 3]
    assert [m["n"] for m in streams.sent] == [1, 2, 3]
    stranger = WsSession("/private/ws", {"listenKey": "not-a-key"})
    streams.attach(stranger)
    streams.publish({"n": 4})
    assert stranger.outbox == []


# -- the command -----------------------------------------------------------------------
def test_heron_emulator_command_serves_a_signed_account_until_stopped() -> None:
    need(USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz")
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "heron", "emulator", "--port", str(port),
         "--fund", "USDT=2500", "--recording", str(USDM)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner and "emulator-secret" not in banner
        ex = ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET,
                               "options": {"fetchCurrencies": False}})
        ex.urls["api"] = endpoint_urls(ex.urls["api"], f"http://127.0.0.1:{port}")
        assert ex.fetch_balance()["USDT"]["total"] == 2500
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)  # reads and closes the pipes
    assert proc.returncode == 0


@pytest.mark.parametrize("args", [["--fund", "EUR=100"], ["--venue", "okx"],
                                  ["--recording", "/nonexistent"]])
def test_heron_emulator_bad_input_exits_2_with_one_line(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "heron", "emulator", *args],
                          check=False, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HERON_VENUE_DATA": str(SHARED_VENUES)})
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "error:" in done.stderr
