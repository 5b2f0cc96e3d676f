"""``heron order ...`` end to end: the real command in a subprocess, real ccxt, against the
loopback Binance USD-M exchange.

What is asserted is what the venue holds (its orders, its request log) next to what the
command printed, so an order sent twice, or sent when it should have been refused,
shows. Exit codes and stderr are the process's own (``heron``'s ``main``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import loopback_exchange
from heron.testing.exchange import ExchangeServer

KEY, SECRET = "cli-key-7f3a9c", "cli-secret-b81d2e4f"
SYMBOL = "BTC/USDT:USDT"
PLACE = ("POST", "/fapi/v1/order")


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET) as srv:
        yield srv


def heron(*args: str, key: str = KEY, secret: str = SECRET,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``heron ARGS`` with the venue's keys in the environment (and nothing else of it)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    full |= {"HERON_BINANCEUSDM_API_KEY": key, "HERON_BINANCEUSDM_API_SECRET": secret,
             **(env or {})}
    return subprocess.run([sys.executable, "-m", "heron", *args], capture_output=True,
                          text=True, timeout=120, check=False, env=full)


def on(server: ExchangeServer, *args: str) -> list[str]:
    return [*args, "--venue", "binanceusdm", "--endpoint", server.url]


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def placements(server: ExchangeServer) -> int:
    return sum(1 for m, p, _ in server.requests if (m, p) == PLACE)


def venue_open(server: ExchangeServer) -> list[Any]:
    return server.call(lambda: sorted((o for o in server.account.orders.values()
                                       if o.is_open), key=lambda o: o.order_id))


def place(server: ExchangeServer, *flags: str) -> subprocess.CompletedProcess[str]:
    return heron(*on(server, "order", "place", "--symbol", SYMBOL, *flags))


# -- the lifecycle -----------------------------------------------------------------------
def test_limit_order_placed_listed_amended_and_canceled(server: ExchangeServer) -> None:
    placed = ok_json(place(server, "--side", "buy", "--type", "limit", "--qty", "0.010",
                           "--price", "60000.1", "--client-id", "mine-1", "--json"))
    order = placed["order"]
    assert placed["reply_lost"] is False
    assert (order["status"], order["quantity"], order["price"], order["client_order_id"]) == \
        ("open", "0.010", "60000.10", "mine-1")
    [resting] = venue_open(server)
    assert str(resting.order_id) == order["venue_order_id"]

    listed = ok_json(heron(*on(server, "order", "list", "--json")))   # no --symbol: all
    assert [o["venue_order_id"] for o in listed["orders"]] == [order["venue_order_id"]]
    assert listed["orders"][0]["symbol"] == SYMBOL

    amended = ok_json(heron(*on(server, "order", "amend", "--symbol", SYMBOL, "--id",
                                order["venue_order_id"], "--quantity", "0.020", "--price",
                                "60001", "--json")))["order"]
    assert (amended["quantity"], amended["price"]) == ("0.020", "60001.00")
    assert amended["venue_order_id"] == order["venue_order_id"]          # in place
    assert [m for m, p, _ in server.requests if p == "/fapi/v1/order"].count("PUT") == 1

    canceled = ok_json(heron(*on(server, "order", "cancel", "--symbol", SYMBOL,
                                 "--client-id", "mine-1", "--json")))["order"]
    assert canceled["status"] == "canceled"
    assert venue_open(server) == []
    assert placements(server) == 1


def test_table_output_names_the_order(server: ExchangeServer) -> None:
    proc = place(server, "--side", "sell", "--quantity", "0.002", "--price", "65000")
    assert proc.returncode == 0, proc.stderr
    [resting] = venue_open(server)
    assert "order placed" in proc.stdout and str(resting.order_id) in proc.stdout
    assert "65000.00" in proc.stdout and "0.002" in proc.stdout


def test_cancel_all_cancels_every_open_order(server: ExchangeServer) -> None:
    for price in ("60000", "60001"):
        assert place(server, "--side", "buy", "--qty", "0.002", "--price", price
                     ).returncode == 0
    assert len(venue_open(server)) == 2
    doc = ok_json(heron(*on(server, "order", "cancel-all", "--symbol", SYMBOL, "--json")))
    assert sorted(o["price"] for o in doc["canceled"]) == ["60000.00", "60001.00"]
    assert venue_open(server) == []


def test_a_lost_reply_is_resolved_by_client_id_and_never_resent(
        server: ExchangeServer) -> None:
    server.faults.lose_responses = 1
    doc = ok_json(place(server, "--side", "buy", "--qty", "0.010", "--price", "60000",
                        "--client-id", "lost-1", "--json"))
    assert server.lost == [PLACE] and placements(server) == 1
    assert doc["reply_lost"] is True
    assert (doc["order"]["client_order_id"], doc["order"]["status"]) == ("lost-1", "open")
    [resting] = venue_open(server)
    assert str(resting.order_id) == doc["order"]["venue_order_id"]


# -- refused before sending ----------------------------------------------------------------
def test_off_grid_price_is_refused_with_the_tick_and_nearest_prices(
        server: ExchangeServer) -> None:
    proc = place(server, "--side", "buy", "--qty", "0.010", "--price", "60000.155")
    assert proc.returncode == 2
    assert "tick 0.01" in proc.stderr and "60000.15 or 60000.16" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert placements(server) == 0


def test_off_lot_quantity_is_refused_with_the_lot(server: ExchangeServer) -> None:
    proc = place(server, "--side", "buy", "--qty", "0.0105", "--price", "60000")
    assert proc.returncode == 2
    assert "lot 0.001" in proc.stderr and "0.010 or 0.011" in proc.stderr
    assert placements(server) == 0


def test_below_min_notional_is_refused_before_sending(server: ExchangeServer) -> None:
    proc = place(server, "--side", "buy", "--qty", "0.001", "--price", "1000")
    assert proc.returncode == 2
    assert "notional" in proc.stderr and "nothing was sent" in proc.stderr
    assert placements(server) == 0


@pytest.mark.parametrize(("flags", "words"), [
    (("--type", "limit"), "needs --price"),
    (("--type", "market", "--price", "1"), "takes no --price"),
    (("--type", "stop-limit", "--price", "1"), "needs --trigger"),
    (("--type", "market", "--post-only"), "--post-only needs"),
    (("--type", "limit", "--price", "1", "--tif", "day"), "--tif 'day'"),
])
def test_inconsistent_flags_are_refused_without_a_venue(flags: tuple[str, ...],
                                                        words: str) -> None:
    proc = heron("order", "place", "--venue", "binanceusdm", "--symbol", SYMBOL,
                 "--side", "buy", "--qty", "1", *flags, "--endpoint", "http://127.0.0.1:9")
    assert proc.returncode == 2 and words in proc.stderr


def test_unknown_symbol_is_exit_2_with_close_names(server: ExchangeServer) -> None:
    proc = heron(*on(server, "order", "place", "--symbol", "BTC/USDX:USDX", "--side", "buy",
                     "--qty", "1", "--price", "1"))
    assert proc.returncode == 2 and "has no market" in proc.stderr


def test_amend_on_a_venue_without_amend_says_cancel_and_place() -> None:
    proc = heron("order", "amend", "--venue", "alpaca", "--symbol", "BTC/USD", "--id", "1",
                 "--price", "1")
    assert proc.returncode == 2
    assert "cancel and place a new order" in proc.stderr


@pytest.mark.parametrize(("venue", "flag", "fix"), [
    ("binanceusdm", "--paper", "use --testnet"), ("mexc", "--testnet", "no testnet"),
    ("hyperliquid", "--paper", "use --testnet")])
def test_an_account_the_venue_does_not_have_is_refused(venue: str, flag: str,
                                                       fix: str) -> None:
    proc = heron("order", "list", "--venue", venue, flag)
    assert proc.returncode == 2 and fix in proc.stderr


# -- keys --------------------------------------------------------------------------------
def test_unknown_key_is_exit_2_with_the_venue_code(server: ExchangeServer) -> None:
    proc = heron(*on(server, "order", "list", "--symbol", SYMBOL), key="not-a-known-key")
    assert proc.returncode == 2
    assert "-2015" in proc.stderr and "API key" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_key_file_readable_by_others_is_refused_naming_chmod(server: ExchangeServer,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    path.chmod(0o644)
    proc = heron(*on(server, "order", "list", "--key-file", str(path)))
    assert proc.returncode == 2 and f"chmod 600 {path}" in proc.stderr
    assert server.requests == [] or all(p != "/fapi/v1/openOrders" for _, p, _ in
                                        server.requests)
    path.chmod(0o600)
    assert heron(*on(server, "order", "list", "--key-file", str(path)),
                 key="ignored", secret="ignored-too").returncode == 0


@pytest.mark.parametrize("as_json", [False, True])
def test_no_secret_appears_in_any_output(server: ExchangeServer, as_json: bool) -> None:
    """A bad signature (known key, wrong secret), a venue refusal and a lost reply: the
    key and the secret are in the environment every time, and never in the output."""
    wrong = "wrong-secret-5e6d7c8b"
    extra = ["--json"] if as_json else []
    runs = [
        heron(*on(server, "order", "place", "--symbol", SYMBOL, "--side", "buy", "--qty",
                  "0.010", "--price", "60000", *extra), secret=wrong),
        heron(*on(server, "balances", *extra), secret=wrong),
        heron(*on(server, "order", "cancel", "--symbol", SYMBOL, "--id", "424242", *extra)),
        heron(*on(server, "order", "place", "--symbol", SYMBOL, "--side", "buy", "--qty",
                  "100", "--price", "60000", *extra)),
    ]
    assert [r.returncode for r in runs] == [2, 2, 2, 2]
    assert "-1022" in runs[0].stderr and "-1022" in runs[1].stderr
    for run in runs:
        for secret in (KEY, SECRET, wrong):
            assert secret not in run.stdout and secret not in run.stderr
