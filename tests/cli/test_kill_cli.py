"""``heron kill``: a real ``heron live`` subprocess on the loopback exchange, stopped from
another process; the journal shows the transition and no new risk after it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import loopback_exchange
from heron.core.audit import AuditLog
from heron.core.journal import decode_record
from heron.core.journal_store import committed_payloads
from heron.model.events import OrderDenied, OrderFilled, SubmitOrder, TradingStateChanged
from heron.risk.kill import RISK_ORIGIN, running_pid
from heron.testing.exchange import ExchangeServer

KEY, SECRET = "kill-key", "kill-secret"


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as srv:
        yield srv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | {"HERON_BINANCEUSDM_API_KEY": KEY, "HERON_BINANCEUSDM_API_SECRET": SECRET}


def heron(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *args], capture_output=True,
                          text=True, timeout=60, check=False, env=_env())


def _wait(condition: object, what: str, limit_s: float = 40) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_heron_kill_flattens_and_halts_a_running_live_run(server: ExchangeServer,
                                                          tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = subprocess.Popen(
        [sys.executable, "-m", "heron", "live", "--strategy", "sma_cross", "--param", "fast=2",
         "--param", "slow=3", "--param", "fraction=0.1", "--venue", "binanceusdm",
         "--symbol", "BTC/USDT:USDT", "--bar", "1s", "--endpoint", server.url, "--state",
         str(state), "--quiet", "--duration", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait(lambda: server.call(lambda: len(server.account.trades)) > 0, "a first trade")
        assert running_pid(state) == run.pid
        killed = heron("kill", "--run", str(state), "--flatten", "--reason", "operator test")
        assert killed.returncode == 0, killed.stderr
        assert f"pid {run.pid}" in killed.stdout
        _wait(lambda: server.call(lambda: all(
            p.qty == 0 for p in server.account.portfolio.positions.values())), "flat")
        trades_at_flat = server.call(lambda: len(server.account.trades))
        run.send_signal(2)   # SIGINT: the usual stop
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err
    assert server.call(lambda: len(server.account.trades)) == trades_at_flat
    records = [decode_record(p) for p in committed_payloads(state / "journal.sqlite")]
    moves = [(r.from_state, r.to_state, r.trigger, r.reason) for r in records
             if isinstance(r, TradingStateChanged)]
    assert moves[0][:3] == ("INIT", "READY", "start")
    assert moves[1][1:] == ("REDUCING", "manual", "operator test")
    assert moves[2][1:3] == ("HALTED", "flat")
    kill_at = next(i for i, r in enumerate(records) if isinstance(r, TradingStateChanged)
                   and r.trigger == "manual")
    denied = {r.client_order_id for r in records if isinstance(r, OrderDenied)}
    after = records[kill_at:]
    assert all(r.strategy_id == RISK_ORIGIN or r.client_order_id in denied
               for r in after if isinstance(r, SubmitOrder))   # no strategy order went out
    sent_before = {r.client_order_id for r in records[:kill_at] if isinstance(r, SubmitOrder)}
    assert all(r.strategy_id == RISK_ORIGIN or r.client_order_id in sent_before
               for r in after if isinstance(r, OrderFilled))  # (an order in flight may fill)

    audit = AuditLog(state / "journal.sqlite").entries()
    assert [(e.action, e.details["reason"]) for e in audit] == [
        ("kill.flatten", "operator test")]

    # the run has stopped: nothing to kill (exit 1); no such directory: bad input (exit 2)
    stopped = heron("kill", "--run", str(state))
    assert stopped.returncode == 1 and "no process is running" in stopped.stderr
    missing = heron("kill", "--run", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no run state" in missing.stderr
    both = heron("kill", "--run", str(state), "--flatten", "--resume")
    assert both.returncode == 2


@pytest.mark.slow
def test_heron_kill_audits_a_database_run_in_its_database(server: ExchangeServer,
                                                           pg_url: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run = subprocess.Popen(
        [sys.executable, "-m", "heron", "live", "--strategy", "sma_cross", "--param", "fast=2",
         "--param", "slow=3", "--param", "fraction=0.1", "--venue", "binanceusdm",
         "--symbol", "BTC/USDT:USDT", "--bar", "1s", "--endpoint", server.url, "--state",
         str(state), "--quiet", "--duration", "40", "--run-id", "kill-audit"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env() | {"HERON_DB": pg_url})
    try:
        _wait(lambda: server.call(lambda: len(server.account.trades)) > 0, "a first trade")
        assert running_pid(state) == run.pid
        blind = heron("kill", "--run", str(state), "--reason", "no url")
        assert blind.returncode == 0, blind.stderr  # the run still halts ...
        assert "the audit log did not record this" in blind.stderr  # ... and says so
        assert "pass its URL with --db" in blind.stderr
        resumed = subprocess.run(
            [sys.executable, "-m", "heron", "kill", "--run", str(state), "--resume",
             "--reason", "with url"], capture_output=True, text=True, timeout=60, check=False,
            env=_env() | {"HERON_DB": pg_url})
        assert resumed.returncode == 0, resumed.stderr
        assert "warning" not in resumed.stderr
    finally:
        run.send_signal(2)
        try:
            run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    entries = [e for e in AuditLog(pg_url).entries() if e.run_id == "kill-audit"]
    assert [(e.action, e.details["reason"]) for e in entries] == [("kill.resume", "with url")]
    assert not (state / "journal.sqlite").exists()  # nothing was written beside the state
