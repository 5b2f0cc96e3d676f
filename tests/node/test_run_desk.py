"""The run side of the control inbox (``heron.node.run_desk``), in process: every waiting
command carried out in order and answered; a paper run's command log rebuilds the same
journal; what cannot be carried out is answered, never raised."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path

import msgspec
from structlog.contextvars import clear_contextvars
from test_manual_orders import INST, quoted_engine

from heron.core import inbox
from heron.model.events import OrderCanceled, SubmitOrder
from heron.node.control import (
    ManualCommand,
    inbox_dir,
    post_command,
    read_command_log,
    read_status,
    wait_reply,
)
from heron.node.run_desk import RunDesk
from heron.observe.logs import configure_logging, watch_orders
from heron.risk.kill import Control


def _desk(state: Path) -> RunDesk:
    return RunDesk(quoted_engine(), state, kind="paper", health={},
                   aliases={"BTC/USDT:USDT": INST.id})


def _place(price: str) -> ManualCommand:
    return ManualCommand(action="place", symbol="BTC/USDT:USDT", side="buy",
                         quantity="0.01", price=price)


def test_waiting_commands_are_carried_out_in_order_and_rebuilt_from_the_log(
        tmp_path: Path) -> None:
    (tmp_path / "lock").write_text(str(os.getpid()))
    desk = _desk(tmp_path)
    ids = [post_command(tmp_path, _place("59000")),
           post_command(tmp_path, Control(action="halt", reason="r", actor="a")),
           post_command(tmp_path, _place("58000")),
           post_command(tmp_path, Control(action="resume", reason="r", actor="a")),
           post_command(tmp_path, Control(action="explode", reason="r", actor="a"))]
    inbox.post(inbox_dir(tmp_path), b"not json")
    desk.drain()
    replies = [wait_reply(tmp_path, i, 0) for i in ids]
    assert [(r.ok, r.rule) for r in replies if r] == [
        (True, None), (True, None), (False, "trading_state"), (True, None), (False, "action")]
    assert inbox.waiting(inbox_dir(tmp_path)) == []
    records = desk.engine.journal.records
    assert [r.client_order_id for r in records if isinstance(r, OrderCanceled)] == [
        "H-manual-1"]  # the halt canceled the first order
    assert len(read_command_log(tmp_path)) == 4  # the refused control is not logged

    rebuilt = _desk(tmp_path)  # a restart: the same inputs, then the logged commands
    rebuilt.apply_due()
    encode = msgspec.msgpack.encode
    assert [encode(r) for r in rebuilt.engine.journal.records] == [encode(r) for r in records]


def test_commands_for_a_stopped_process_and_left_at_stop_are_refused(tmp_path: Path) -> None:
    early = post_command(tmp_path, _place("59000"))
    (tmp_path / "lock").write_text(str(os.getpid()))
    later = time.time_ns() + 1_000_000_000  # this process took the lock after the post
    os.utime(tmp_path / "lock", ns=(later, later))
    desk = _desk(tmp_path)
    desk.drain()
    reply = wait_reply(tmp_path, early, 0)
    assert reply is not None and (reply.ok, reply.rule) == (False, "stopped")
    assert not [r for r in desk.engine.journal.records if isinstance(r, SubmitOrder)]

    left = post_command(tmp_path, _place("59000"))
    desk.close()
    reply = wait_reply(tmp_path, left, 0)
    assert reply is not None and (reply.ok, reply.rule) == (False, "stopped")
    status = read_status(tmp_path)
    assert status is not None and status["running"] is False
    assert status["marks"] == {"BTCUSDT": "60000.1"}


def test_a_manual_order_names_its_own_log_lines_not_the_lines_after_it(
        tmp_path: Path) -> None:
    """The desk carries out each command in a copy of the context: the order it binds for
    the log names the command's lines, never what the run logs next."""
    (tmp_path / "lock").write_text(str(os.getpid()))
    desk = _desk(tmp_path)
    out = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, stream=out)
    try:
        watch_orders(desk.engine)  # as a run does, once logging is set up
        post_command(tmp_path, _place("59000"))
        desk.drain()
        logging.getLogger("heron.test.run").warning("after the command")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        clear_contextvars()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["event"], line.get("client_order_id")) for line in lines
            if line["logger"] == "heron.orders"][:2] == [
        ("SubmitOrder", "H-manual-1"), ("OrderSubmitted", "H-manual-1")]
    after = next(line for line in lines if line["event"] == "after the command")
    assert "client_order_id" not in after
