"""``heron live`` and ``heron reconcile``: the real commands in subprocesses, against the
loopback Binance USD-M exchange (its recorded market stream, its account, its user stream).

A library strategy (sma_cross on 1-second bars of the recorded trades, sized from
equity) trades the emulated account; the venue's own records are the reference. Then
an order placed by hand shows up in ``heron reconcile`` and is canceled by its gated
remediation, and the run resumes with it adopted and gone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import loopback_exchange
from heron.testing.exchange import ExchangeServer

KEY, SECRET = "cli-live-key", "cli-live-secret-do-not-print"


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as srv:
        yield srv


def heron(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env |= {"HERON_BINANCEUSDM_API_KEY": KEY, "HERON_BINANCEUSDM_API_SECRET": SECRET}
    return subprocess.run([sys.executable, "-m", "heron", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)


def live(server: ExchangeServer, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return heron("live", "--strategy", "sma_cross", "--param", "fast=2", "--param", "slow=3",
                 "--param", "fraction=0.1", "--venue", "binanceusdm", "--symbol",
                 "BTC/USDT:USDT", "--bar", "1s", "--endpoint", server.url, "--state",
                 str(state), "--quiet", *extra)


@pytest.mark.slow
def test_heron_live_trades_a_library_strategy_and_reconcile_fixes_a_hand_order(
        server: ExchangeServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = live(server, state, "--duration", "12")
    assert first.returncode == 0, first.stderr
    assert SECRET not in first.stderr + first.stdout
    trades = server.call(lambda: list(server.account.trades))
    assert trades, "the strategy should have traded in 12 s of replayed BTCUSDT"
    out = heron("trades", str(state), "--open")
    assert out.returncode == 0, out.stderr

    # an order placed by hand on the account while the run is stopped
    server.call(lambda: server.account.place({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.002",
        "price": "50000", "timeInForce": "GTC", "newClientOrderId": "by-hand-1"}))
    report = heron("reconcile", "--state", str(state), "--endpoint", server.url, "--json")
    assert report.returncode == 0, report.stderr   # adopted: known now, nothing blocks
    body = json.loads(report.stdout)
    assert ["by-hand-1", "BTCUSDT.BINANCE_USDM"] in body["orphans"]
    assert server.call(lambda: server.account.by_client["by-hand-1"].is_open)  # read-only

    fixed = heron("reconcile", "--state", str(state), "--endpoint", server.url,
                  "--remediate", "cancel-orphans")
    assert fixed.returncode == 0, fixed.stderr
    assert not server.call(lambda: server.account.by_client["by-hand-1"].is_open)

    again = live(server, state, "--duration", "3")
    assert again.returncode == 0, again.stderr
    assert "open orders 0 " in again.stderr   # the hand order is gone, nothing else rests

    other = live(server, state, "--duration", "3", "--testnet")  # not the account it trades
    assert other.returncode == 2
    assert other.stderr.strip().splitlines()[-1].endswith(
        "this state trades the live account, not the testnet; leave --testnet out, or "
        "pass another --state")


def test_reconcile_inventories_an_account_without_a_run(server: ExchangeServer) -> None:
    server.call(lambda: server.account.place({
        "symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.003",
        "newClientOrderId": "by-hand-2"}))
    out = heron("reconcile", "--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT",
                "--endpoint", server.url)
    assert out.returncode == 0, out.stderr
    assert "1 OrderFilled" in out.stdout and "AccountState" in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--remediate", "adopt"], "pass the run's --state"),
    (["--state", "nowhere"], "not a heron live run"),
    (["--venue", "binanceusdm"], "--venue and --symbol"),
])
def test_reconcile_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    out = heron("reconcile", *[str(tmp_path / a) if a == "nowhere" else a for a in args])
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
