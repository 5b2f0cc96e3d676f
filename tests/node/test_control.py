"""Commands to a running run from another process (``heron.node.control``), for real.

``heron paper`` and ``heron live`` run as subprocesses (their lock, their signals, their
event loop), fed by the loopback venues; this test process is the API server's side:
it posts manual orders and kill-switch controls to the run's inbox and reads
``status.json``. What is asserted: orders enter the journal under strategy ``manual``
through the risk engine (a denial names its rule), bad text is refused naming the key
and the tick, two commands posted back to back are both applied in order, and a paper
run restarted from its state rebuilds exactly the journal it wrote, manual orders
included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED_VENUES, loopback_exchange
from heron.core.journal import decode_record
from heron.core.journal_store import committed_payloads
from heron.errors import InputError
from heron.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    Record,
    SubmitOrder,
)
from heron.node.control import (
    CommandReply,
    ManualCommand,
    post_command,
    read_command_log,
    read_status,
    send_command,
    wait_reply,
)
from heron.risk.kill import Control, running_pid
from heron.testing.exchange import ExchangeServer
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile
from managed_runs import wait_until

VENUE = SHARED_VENUES / "binance_usdm"
CAPTURE = VENUE / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
KEY, SECRET = "control-key", "control-secret"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CAPTURE.exists(),
                                                   reason="shared venue data not present")]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | extra


def _send(state: Path, **fields: Any) -> CommandReply:
    reply = send_command(state, ManualCommand(**fields), timeout_s=30)
    assert reply is not None, "the run did not answer"
    return reply


def _journal(state: Path) -> list[Record]:
    return [decode_record(p) for p in committed_payloads(state / "journal.sqlite")]


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


@pytest.fixture
def paper_venue() -> Iterator[VenueServer]:
    # 6,000 lines: 25 s of market, replayed in 5 s: the commands land mid-stream
    with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=6000), speed=5) as server:
        yield server


def _paper(state: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "heron", "paper", "--strategy", "sma_cross", "--venue",
            "binanceusdm", "--symbol", "BTC/USDT:USDT", "--param", "fast=2", "--param",
            "slow=4", "--bar", "10s", "--state", str(state), "--endpoint", url, "--quiet",
            *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())


def _started(state: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    def up() -> dict[str, Any] | None:
        assert proc.poll() is None, proc.communicate()[1]
        status = read_status(state)
        return status if status and status["running"] else None
    status: dict[str, Any] = wait_until(up, "the run's status.json")
    return status


def _place(price: str = "30000", quantity: str = "0.002", side: str = "buy",
           **more: Any) -> dict[str, Any]:
    return {"action": "place", "symbol": "BTC/USDT:USDT", "side": side, "type": "limit",
            "quantity": quantity, "price": price, **more}


def test_manual_orders_on_a_paper_run_are_checked_journaled_and_rebuilt(
        paper_venue: VenueServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    risk = tmp_path / "risk.toml"
    risk.write_text('[limits]\nmax_order_quantity = "0.005"\n')
    paper_venue.hold()  # no market yet: the first command comes at input count 0
    proc = _paper(state, paper_venue.url, "--risk", str(risk))
    try:
        first = _started(state, proc)
        placed = _send(state, **_place(actor="alice"))
        assert placed.ok and placed.client_order_id == "H-manual-1", placed
        assert placed.message == "accepted"
        paper_venue.release()
        wait_until(lambda: (read_status(state) or {}).get("events", 0) > 200, "market events")

        denied = _send(state, **_place(quantity="0.01"))
        assert (denied.ok, denied.rule) == (False, "max_order_quantity"), denied
        assert "0.01" in denied.message and denied.client_order_id
        off_grid = _send(state, **_place(price="30000.005"))
        assert (off_grid.ok, off_grid.rule, off_grid.client_order_id) == (False, "price", None)
        assert "not a multiple of 0.01" in off_grid.message
        unknown = _send(state, **_place(symbol="ETHUSDT"))
        assert (unknown.ok, unknown.rule) == (False, "symbol")
        assert "BTCUSDT" in unknown.message
        assert _send(state, action="cancel", client_order_id="H-nope-9").rule == \
            "client_order_id"

        # back to back, one wake-up, all applied in order: the cancel of the first order,
        # a halt, an order (refused: the run is halted), a resume, an order (taken)
        ids = [post_command(state, ManualCommand(action="cancel",
                                                 client_order_id=placed.client_order_id)),
               post_command(state, Control(action="halt", reason="test", actor="bob")),
               post_command(state, ManualCommand(**_place(price="31000"))),
               post_command(state, Control(action="resume", reason="test", actor="bob")),
               post_command(state, ManualCommand(**_place(price="90000", side="sell")))]
        pid = running_pid(state)
        assert pid == proc.pid
        os.kill(pid, signal.SIGUSR1)
        cancel, halt, refused, resume, sell = (wait_reply(state, i, 30) for i in ids)
        assert cancel is not None and cancel.ok, cancel
        assert cancel.client_order_id == placed.client_order_id
        assert halt is not None and halt.ok and "HALTED" in halt.message
        assert refused is not None and (refused.ok, refused.rule) == (False, "trading_state")
        assert resume is not None and resume.ok and "READY" in resume.message
        assert sell is not None and sell.ok, sell
        cleared = _send(state, action="cancel-all")
        assert cleared.ok and cleared.message == "cancel sent for 1 of 1 open orders"
        status = wait_until(lambda: (s := read_status(state)) and s["updated_at"] >
                       first["updated_at"] and s["open_orders"] == 0 and s, "a new status")
    finally:
        err = _stop(proc)
    assert "Traceback" not in err
    _assert_status(status, first)
    final = read_status(state)
    assert final is not None and final["running"] is False

    records = _journal(state)
    manual = {r.client_order_id: r for r in records
              if isinstance(r, SubmitOrder) and r.strategy_id == "manual"}
    assert manual[placed.client_order_id].tag == "manual:alice"
    assert manual[placed.client_order_id].price == 3_000_000  # ticks of 0.01
    cid = placed.client_order_id
    assert any(isinstance(r, OrderAccepted) and r.client_order_id == cid for r in records)
    assert any(isinstance(r, OrderCanceled) and r.client_order_id == cid for r in records)
    rules = {r.client_order_id: r.rule for r in records if isinstance(r, OrderDenied)}
    assert rules[denied.client_order_id] == "max_order_quantity"
    assert refused.client_order_id in rules
    assert sell.client_order_id is not None and sell.client_order_id in manual
    assert len(read_command_log(state)) == 11  # every command it applied, with its count

    # the restart rebuilds the journal from the inputs and the command log: the same
    before = committed_payloads(state / "journal.sqlite")
    paper_venue.hold()
    again = _paper(state, paper_venue.url, "--stop-after", str(final["events"]))
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert committed_payloads(state / "journal.sqlite") == before

    with pytest.raises(InputError, match="is not running"):
        send_command(state, ManualCommand(**_place()))


def _assert_status(status: dict[str, Any], first: dict[str, Any]) -> None:
    """The fields of ``status.json``, money as exact decimal strings."""
    assert first["events"] == 0 and first["trading_state"] == "READY"
    assert (first["balance"], first["equity"], first["currency"]) == ("10000", "10000", "USDT")
    assert first["positions"] == [] and first["kind"] == "paper"
    assert status["trading_state"] == "READY" and status["events"] > 200
    assert status["journal_seq"] > first["journal_seq"]
    assert set(status["marks"]) == {"BTCUSDT"}
    mark = status["marks"]["BTCUSDT"]
    assert isinstance(mark, str) and Decimal(mark) % Decimal("0.01") == 0
    for key in ("equity", "balance"):
        assert isinstance(status[key], str) and Decimal(status[key]) > 0
    for position in status["positions"]:  # sma_cross may hold one
        assert position["symbol"] == "BTCUSDT"
        assert all(isinstance(position[k], str) for k in ("quantity", "entry_price"))
    [feed] = status["feeds"]
    assert (feed["venue"], feed["symbol"], feed["stream"]) == ("binanceusdm", "BTCUSDT",
                                                                "trades")
    assert feed["state"] in ("live", "stale", "reconnecting")
    assert isinstance(feed["reconnects"], int)


def test_read_status_and_send_command_without_a_run(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    with pytest.raises(InputError, match="not a heron paper or live state directory"):
        send_command(tmp_path, ManualCommand(action="cancel-all"))
    (tmp_path / "lock").write_text("12345")  # a lock nobody holds: a stopped run
    with pytest.raises(InputError, match="is not running"):
        send_command(tmp_path, ManualCommand(action="cancel-all"))


@pytest.fixture
def exchange() -> Iterator[ExchangeServer]:
    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as srv:
        yield srv


def test_a_manual_order_on_a_live_run_reaches_the_venue_and_is_canceled(
        exchange: ExchangeServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "heron", "live", "--strategy", "sma_cross", "--venue",
         "binanceusdm", "--symbol", "BTC/USDT:USDT", "--bar", "1h", "--endpoint",
         exchange.url, "--state", str(state), "--quiet", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(HERON_BINANCEUSDM_API_KEY=KEY, HERON_BINANCEUSDM_API_SECRET=SECRET))

    def venue_orders() -> list[dict[str, Any]]:
        return exchange.call(lambda: exchange.account.open_orders({}))

    try:
        assert _started(state, proc)["kind"] == "live"
        placed = _send(state, **_place(symbol="BTCUSDT"))
        assert placed.ok and placed.client_order_id, placed
        [order] = wait_until(venue_orders, "the order at the venue")
        assert order["clientOrderId"] == placed.client_order_id
        assert Decimal(order["price"]) == 30000 and Decimal(order["origQty"]) == Decimal("0.002")
        canceled = _send(state, action="cancel", client_order_id=placed.client_order_id)
        assert canceled.ok, canceled
        wait_until(lambda: not venue_orders(), "the cancel at the venue")
        wait_until(lambda: (read_status(state) or {}).get("open_orders") == 0, "no open order")
    finally:
        _stop(proc, signal.SIGINT)
    records = _journal(state)
    cid = placed.client_order_id
    [submit] = [r for r in records if isinstance(r, SubmitOrder)]
    assert (submit.client_order_id, submit.strategy_id) == (cid, "manual")
    assert any(isinstance(r, OrderAccepted) and r.client_order_id == cid for r in records)
    assert any(isinstance(r, OrderCanceled) and r.client_order_id == cid for r in records)
