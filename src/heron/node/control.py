"""Talking to a running paper or live run from another process: orders, kills, status.

The API server and ``heron kill`` run in other processes than the run they act on, and
the run owns no socket. So the run's state directory is the channel:

* **commands** go to its inbox ``STATE/control/`` (:mod:`heron.core.inbox`: one file
  per command, taken in the order posted, so two commands sent back to back are both
  applied), then ``SIGUSR1`` wakes the run. Within one turn of its event loop the run
  takes every waiting command, carries it out through the node like any strategy's
  command (trading-state gate, pre-trade risk, journal: see :mod:`heron.node.manual`)
  and answers ``STATE/control/<id>.reply.json``, which :func:`send_command` waits for;
* **status** is ``STATE/status.json``, rewritten atomically about once a second by the
  run (:mod:`heron.node.run_status`), read by :func:`read_status`.

An inbox file holds one JSON object with one key: ``{"manual": ManualCommand}`` (an
operator's order) or ``{"control": Control}`` (the kill switch,
:func:`heron.risk.kill.send_control`). A paper run logs each command it applied, with
the input count it applied it at, to ``STATE/controls.jsonl`` (fsync'd) and replays
the log on restart, so the journal it rebuilds is the one it wrote.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import msgspec

from heron.core import inbox
from heron.errors import InputError
from heron.risk.kill import CONTROL_INBOX, CONTROL_LOG, Control, running_pid

#: strategy id of an operator's orders (API, dashboard)
MANUAL_ORIGIN = "manual"
INBOX_DIR = CONTROL_INBOX
STATUS_FILE = "status.json"


class ManualCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's order command; prices and quantities are decimal text, put on the
    instrument's grid exactly by the run (off the grid: refused, naming the tick)."""

    action: str                     # "place" | "cancel" | "amend" | "cancel-all"
    symbol: str | None = None
    side: str | None = None         # "buy" | "sell"
    type: str = "limit"             # "market" | "limit" | "stop" | "stop-limit"
    quantity: str | None = None     # decimal text
    price: str | None = None
    trigger_price: str | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    reduce_only: bool = False
    client_order_id: str | None = None   # cancel/amend target
    actor: str = "api"


class CommandReply(msgspec.Struct, frozen=True):
    """What the run answered: refused synchronously (``ok`` false) or sent on."""

    command_id: str
    ok: bool
    client_order_id: str | None
    rule: str | None                # the risk rule of an OrderDenied, or a validation key
    message: str                    # one line


class Posted(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One inbox file: exactly one of the two."""

    manual: ManualCommand | None = None
    control: Control | None = None


class LoggedManual(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A manual command as a paper run's command log keeps it."""

    manual: ManualCommand
    id: str
    at: int                         # inputs (market events, feed health) consumed


def inbox_dir(state_dir: Path) -> Path:
    return state_dir / INBOX_DIR


def post_command(state_dir: Path, command: ManualCommand | Control) -> str:
    """Put ``command`` in the run's inbox (nothing wakes the run); returns its id."""
    key = "control" if isinstance(command, Control) else "manual"
    return inbox.post(inbox_dir(state_dir), msgspec.json.encode({key: command}))


def send_command(state_dir: Path, command: ManualCommand | Control, *,
                 timeout_s: float = 2.0) -> CommandReply | None:
    """Send ``command`` to the process running ``state_dir`` and wait for its answer.

    None: the run took the command but did not answer within ``timeout_s`` (it is
    pending; the run still carries it out). InputError when no process runs the state.
    """
    pid = running_pid(state_dir)
    if pid is None:
        raise InputError(f"the run at {state_dir} is not running; start it before sending "
                         "it commands")
    entry = post_command(state_dir, command)
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        (inbox_dir(state_dir) / f"{entry}.json").unlink(missing_ok=True)
        raise InputError(f"the run at {state_dir} is not running (pid {pid} has exited); "
                         "start it before sending it commands") from None
    return wait_reply(state_dir, entry, timeout_s)


def wait_reply(state_dir: Path, command_id: str, timeout_s: float) -> CommandReply | None:
    """The run's answer to ``command_id`` (collected: removed), or None by ``timeout_s``."""
    body = inbox.collect(inbox_dir(state_dir), command_id, timeout_s)
    return None if body is None else msgspec.json.decode(body, type=CommandReply)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """``STATE/status.json`` as the run last wrote it, or None when there is none."""
    try:
        body = (state_dir / STATUS_FILE).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        status = json.loads(body)
    except ValueError:
        return None  # written atomically: only a foreign file gets here
    return status if isinstance(status, dict) else None


# -- a paper run's command log ---------------------------------------------------------------
def log_manual(state_dir: Path, entry: LoggedManual) -> None:
    """Append an applied manual command to ``STATE/controls.jsonl`` (fsync'd: the paper
    run replays it at the same input count when it restarts)."""
    with open(state_dir / CONTROL_LOG, "ab") as fh:
        fh.write(msgspec.json.encode(entry) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_command_log(state_dir: Path) -> list[Control | LoggedManual]:
    """The kill-switch controls and manual commands a paper run applied, in order (a
    torn last line is dropped)."""
    path = state_dir / CONTROL_LOG
    if not path.exists():
        return []
    out: list[Control | LoggedManual] = []
    for line in path.read_bytes().splitlines():
        try:
            obj = msgspec.json.decode(line)
            if isinstance(obj, dict) and "manual" in obj:
                out.append(msgspec.convert(obj, type=LoggedManual))
            else:
                out.append(msgspec.convert(obj, type=Control))
        except (msgspec.DecodeError, msgspec.ValidationError):
            break
    return out


__all__ = ["INBOX_DIR", "MANUAL_ORIGIN", "STATUS_FILE", "CommandReply", "LoggedManual",
           "ManualCommand", "Posted", "inbox_dir", "log_manual", "post_command",
           "read_command_log", "read_status", "send_command", "wait_reply"]
