"""``heron positions`` and ``heron balances`` end to end against the loopback exchange.

The expected values are the emulator's own REST bodies (``positionRisk``, the account's
``assets`` row), read from the server while the command's answer is compared: the CLI
must print the venue's decimals exactly, not a float's rendering of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from conftest import loopback_exchange
from heron.testing.exchange import ExchangeServer

KEY, SECRET = "acct-key-91c2", "acct-secret-07ab55"
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET) as srv:
        yield srv


def heron_json(server: ExchangeServer, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env |= {"HERON_BINANCEUSDM_API_KEY": KEY, "HERON_BINANCEUSDM_API_SECRET": SECRET}
    proc = subprocess.run([sys.executable, "-m", "heron", *args, "--venue", "binanceusdm",
                           "--endpoint", server.url, "--json"], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_flat_account_has_no_positions_and_its_funded_balance(server: ExchangeServer) -> None:
    assert heron_json(server, "positions")["positions"] == []
    [usdt] = heron_json(server, "balances")["balances"]
    assert (usdt["currency"], Decimal(usdt["total"]), Decimal(usdt["free"])) == \
        ("USDT", Decimal(10000), Decimal(10000))


def test_a_market_fill_shows_in_positions_and_balances_exactly(server: ExchangeServer) -> None:
    placed = heron_json(server, "order", "place", "--symbol", SYMBOL, "--side", "buy",
                        "--type", "market", "--qty", "0.003")
    assert placed["order"]["status"] == "filled" and placed["order"]["filled"] == "0.003"

    positions = heron_json(server, "positions")["positions"]     # every symbol held
    body = server.call(server.account.position)
    assert positions == [{
        "symbol": SYMBOL, "instrument": "BTCUSDT.BINANCE_USDM", "side": "long",
        "quantity": "0.003", "entry_price": positions[0]["entry_price"],
        "unrealised_pnl": positions[0]["unrealised_pnl"],
        "liquidation_price": positions[0]["liquidation_price"],
        "ts_ns": positions[0]["ts_ns"]}]
    assert Decimal(positions[0]["quantity"]) == Decimal(body["positionAmt"])
    assert Decimal(positions[0]["entry_price"]) == Decimal(body["entryPrice"])
    assert Decimal(positions[0]["unrealised_pnl"]) == Decimal(body["unRealizedProfit"])
    [one] = heron_json(server, "positions", "--symbol", SYMBOL)["positions"]
    assert {**one, "ts_ns": 0} == {**positions[0], "ts_ns": 0}        # ts: the reply's time

    [usdt] = heron_json(server, "balances")["balances"]
    row = server.call(server.account.balance_row)
    assert Decimal(usdt["total"]) == Decimal(row["walletBalance"]) < Decimal(10000)  # fee
    assert Decimal(usdt["free"]) == Decimal(row["availableBalance"])
    [trade] = server.call(lambda: list(server.account.trades))
    assert Decimal(10000) - Decimal(usdt["total"]) == Decimal(trade["commission"])


def test_positions_table_shows_the_side_and_entry(server: ExchangeServer) -> None:
    heron_json(server, "order", "place", "--symbol", SYMBOL, "--side", "sell", "--type",
               "market", "--qty", "0.002")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env |= {"HERON_BINANCEUSDM_API_KEY": KEY, "HERON_BINANCEUSDM_API_SECRET": SECRET}
    proc = subprocess.run([sys.executable, "-m", "heron", "positions", "--venue",
                           "binanceusdm", "--endpoint", server.url], capture_output=True,
                          text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    body = server.call(server.account.position)
    assert "short" in proc.stdout and "-0.002" in proc.stdout
    assert format(Decimal(body["entryPrice"]).normalize(), "f") in proc.stdout
