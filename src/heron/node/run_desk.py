"""A running paper or live run's side of :mod:`heron.node.control`: its inbox and status.

:class:`RunDesk` takes the commands waiting in ``STATE/control/`` -- in the order they
were posted, all of them, within the turn of the event loop that ``SIGUSR1`` wakes (and
once a second besides, in case a signal came before the run listened) -- carries each
out on the node (a kill-switch :class:`~heron.risk.kill.Control`, or an operator's
order through :class:`~heron.node.manual.ManualOrders`), flushes the journal, and
answers each. It rewrites ``STATE/status.json`` once a second and at start and stop.

A paper run's journal is rebuilt from its inputs at every start, so whatever changed it
must be an input too: the desk logs each command it applies, with the number of inputs
(market events and feed-health changes) consumed then, to ``STATE/controls.jsonl``
(fsync'd, before applying), and on restart :meth:`RunDesk.apply_due` applies them
again at the same counts. A live run needs no log: its journal is the record, restored
as it is.

Commands posted before this process took the run's lock were meant for a process that
has stopped; they are refused, not carried out late.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from heron.core import inbox
from heron.model.feed import FeedHealth
from heron.node.control import (
    CommandReply,
    LoggedManual,
    Posted,
    inbox_dir,
    log_manual,
    read_command_log,
)
from heron.node.manual import ManualOrders
from heron.node.run_status import run_status, write_status
from heron.risk.kill import Control, apply_control, log_control, take_control

if TYPE_CHECKING:
    from heron.node.paper import PaperEngine

log = logging.getLogger(__name__)

#: answers nobody collected are removed after this long
ANSWER_TTL_S = 600.0
CONTROL_ACTIONS = ("halt", "flatten", "resume")


class RunDesk:
    """The control inbox and ``status.json`` of one paper or live run."""

    def __init__(self, engine: PaperEngine, state_dir: Path, *, kind: str,
                 health: Mapping[Any, FeedHealth], aliases: Mapping[str, str],
                 sync_inputs: Callable[[], None] | None = None) -> None:
        """``sync_inputs`` (paper) writes the input log through to the disk: a command is
        logged at an input count only once the inputs up to it are there, or a restart
        after a crash would apply it earlier than it was."""
        self.engine = engine
        self.dir = state_dir
        self.kind = kind
        self.health = health  # the run's live view, updated by its feed
        self.orders = ManualOrders(engine, aliases)
        self.logs = kind == "paper"  # a paper run rebuilds its journal: log what it applies
        self._sync_inputs = sync_inputs
        self._synced_at = -1  # input count the input log was last synced at
        lock = state_dir / "lock"
        self.since_ns = lock.stat().st_mtime_ns if lock.exists() else 0
        self._due: list[Control | LoggedManual] = read_command_log(state_dir) if self.logs \
            else []
        self._encode = msgspec.json.Encoder().encode

    # -- a paper run's restart -----------------------------------------------------------------
    def apply_due(self) -> None:
        """Apply again the logged commands due at the engine's input count."""
        due, consumed = self._due, self.engine.inputs
        while due and due[0].at <= consumed:
            done = due.pop(0)
            if isinstance(done, Control):
                apply_control(self.engine, done)
            else:
                self.orders.apply(done.manual, done.id)

    # -- the inbox ----------------------------------------------------------------------------
    def drain(self) -> None:
        """Carry out every waiting command, in order, then answer them (SIGUSR1)."""
        box = inbox_dir(self.dir)
        replies: list[CommandReply] = []
        legacy = take_control(self.dir)  # a control.json from an older heron kill
        # each command in a copy of the context: the order it binds for the log names
        # its own lines and tasks, not the lines that come after it
        if legacy is not None:
            contextvars.copy_context().run(self._control, legacy, "control.json")
        for entry in inbox.waiting(box):
            body = inbox.take(box, entry)
            if body is not None:
                replies.append(contextvars.copy_context().run(self._carry_out, entry, body))
        if legacy is None and not replies:
            return
        self.engine.journal.flush()  # answered means journaled
        for reply in replies:
            self._answer(reply)

    def _carry_out(self, entry: str, body: bytes) -> CommandReply:
        try:
            posted = msgspec.json.decode(body, type=Posted)
        except msgspec.DecodeError as exc:
            return CommandReply(entry, False, None, "command", f"not a heron command: {exc}")
        if inbox.entry_ns(entry) < self.since_ns:
            return CommandReply(entry, False, None, "stopped", "sent to a process of this run "
                                "that has stopped; send it again")
        if posted.control is not None:
            return self._control(posted.control, entry)
        if posted.manual is None:
            return CommandReply(entry, False, None, "command", "an empty command: send "
                                "{\"manual\": {...}} or {\"control\": {...}}")
        if self.logs:
            try:
                self._inputs_synced()
                log_manual(self.dir, LoggedManual(manual=posted.manual, id=entry,
                                                  at=self.engine.inputs))
            except OSError as exc:  # not logged, so not applied: a restart must agree
                return CommandReply(entry, False, None, "error", f"the run could not log "
                                    f"the command ({exc}); nothing was done")
        return self.orders.apply(posted.manual, entry)

    def _control(self, control: Control, entry: str) -> CommandReply:
        """The kill switch: logged (paper) at this input count, then applied."""
        if control.action not in CONTROL_ACTIONS:
            return CommandReply(entry, False, None, "action", f"unknown control action "
                                f"{control.action!r}; use {', '.join(CONTROL_ACTIONS)}")
        control = msgspec.structs.replace(control, at=self.engine.inputs)
        try:
            if self.logs:
                self._inputs_synced()
                log_control(self.dir, control)
            moved = apply_control(self.engine, control)
        except Exception as exc:  # never into the event loop
            log.exception("control %s failed", entry)
            return CommandReply(entry, False, None, "error", f"{control.action} failed: {exc}")
        state = self.engine.machine.state.value
        return CommandReply(entry, True, None, None, f"{control.action}: trading state "
                            f"{state}{'' if moved else ' (unchanged)'}")

    def _inputs_synced(self) -> None:
        if self._sync_inputs is not None and self._synced_at != self.engine.inputs:
            self._sync_inputs()
            self._synced_at = self.engine.inputs

    def _answer(self, reply: CommandReply) -> None:
        try:
            inbox.answer(inbox_dir(self.dir), reply.command_id, self._encode(reply))
        except OSError as exc:  # the command is carried out; only its answer is lost
            log.error("could not answer command %s: %s", reply.command_id, exc)

    # -- status ------------------------------------------------------------------------------
    def status(self, *, running: bool = True) -> dict[str, Any]:
        return run_status(self.engine, self.health, kind=self.kind, running=running)

    def publish(self, *, running: bool = True) -> None:
        """Write ``status.json`` now (at start and stop)."""
        try:
            write_status(self.dir, self.status(running=running))
        except OSError as exc:
            log.warning("could not write %s: %s", self.dir / "status.json", exc)

    async def tick(self) -> None:
        """Once a second while the run lives: the inbox, old answers, ``status.json``
        (the snapshot taken on the loop, written off it: the write waits for the disk)."""
        self.drain()
        inbox.prune_answers(inbox_dir(self.dir), ANSWER_TTL_S)
        snapshot = self.status()
        try:
            await asyncio.to_thread(write_status, self.dir, snapshot)
        except OSError as exc:
            log.warning("could not write %s: %s", self.dir / "status.json", exc)

    def close(self) -> None:
        """At stop: refuse what is still waiting, and write the last status."""
        box = inbox_dir(self.dir)
        for entry in inbox.waiting(box):
            if inbox.take(box, entry) is not None:
                self._answer(CommandReply(entry, False, None, "stopped", "the run stopped "
                                          "before carrying it out; start it and send again"))
        self.publish(running=False)


def ignore_wakeups() -> Any:
    """Ignore SIGUSR1 until the run listens for it (its default would end the process);
    returns what to restore. Only the main thread can set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def restore_wakeups(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, previous)


__all__ = ["ANSWER_TTL_S", "RunDesk", "ignore_wakeups", "restore_wakeups"]
