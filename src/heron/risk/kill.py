"""Stopping a run: what each trading state does to orders, and the kill switch.

:class:`StateDriver` is the node's side of :mod:`heron.risk.state`: it journals every
``TradingStateChanged``, gates each command by what the state allows, and acts on entry
to a state -- ``DEGRADED`` cancels the resting orders that could increase ``|position|``,
``REDUCING`` cancels everything and flattens with reduce-only market orders (sent
through the node like any order, so journaled and gated), ``HALTED`` cancels everything.

The kill switch of a paper or live run (``heron kill --run STATE``): the command posts
a :class:`Control` to the run's inbox ``STATE/control/`` (:mod:`heron.core.inbox`, one
file per command, so two sent back to back are both applied) and sends ``SIGUSR1`` to
the PID in ``STATE/lock``; the run's event loop takes the inbox in its signal handler
(:mod:`heron.node.run_desk`) and calls ``engine.kill`` -- one loop turn. A
``STATE/control.json`` left by an older ``heron kill`` is still read
(:func:`take_control`). The same ``engine.kill(flatten, reason, actor)``
is the API server's hook, and a backtest's ``[state] kill_at`` calls it on the kernel's
timer, so the three modes stop the same way.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from heron.core import inbox
from heron.errors import InputError
from heron.execution.router import TradingState
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    Record,
    SubmitOrder,
    TradingStateChanged,
)
from heron.model.orders import OrderSide, OrderStatus, OrderType
from heron.risk.state import RunState, exposure_refusal

if TYPE_CHECKING:
    from heron.model.orders import Order
    from heron.node.node import SimNode

log = logging.getLogger(__name__)

#: strategy id of heron's own flatten orders
RISK_ORIGIN = "risk"
CONTROL_FILE = "control.json"   # what an older heron kill wrote; still read
CONTROL_INBOX = "control"       # the run's inbox directory (heron.node.control)
FLATTEN_ATTEMPTS = 3
_IN_FLIGHT = frozenset({OrderStatus.INITIALIZED, OrderStatus.SUBMITTED})
_SWEEP_FLOOR = 256  # in-flight orders before the first sweep of answered ones


class StateDriver:
    """Gates commands and carries out the state's actions for one node."""

    def __init__(self, node: SimNode) -> None:
        self.node = node
        self.in_flight: dict[str, Order] = {}   # submitted, not yet answered (live)
        self._sweep_at = _SWEEP_FLOOR
        self.attempts: dict[str, int] = {}
        self._busy = False
        self._again = False

    # -- the gate ------------------------------------------------------------------------------
    def refusal(self, cmd: Record) -> str | None:
        """Why ``cmd`` may not go out now (cancels always may)."""
        machine = self.node.machine
        if isinstance(cmd, SubmitOrder):
            if machine.state is RunState.REDUCING and cmd.strategy_id != RISK_ORIGIN:
                return "the run is flattening (REDUCING): strategies' orders are refused"
            position = self.node.portfolio.positions[cmd.instrument_id].qty
            leaves = sum(o.leaves for o in self.working(cmd.instrument_id)
                         if o.side is cmd.side)
            return exposure_refusal(machine.allows, side_sign=cmd.side.sign,
                                    quantity=cmd.quantity, position=position,
                                    same_side_leaves=leaves)
        if isinstance(cmd, AmendOrder):
            return self._amend_refusal(cmd)
        return None

    def _amend_refusal(self, cmd: AmendOrder) -> str | None:
        allows = self.node.machine.allows
        if allows is TradingState.HALTED:
            return "trading is halted: only cancels"
        order = self.node.om.orders.get(cmd.client_order_id)
        if order is not None and cmd.quantity is not None and cmd.quantity > order.quantity:
            return "reduce-only: an amend may not increase an order's size"
        return None

    def track(self, order: Order) -> None:
        """Remember an order sent to a venue that answers later (live).

        Answered orders are swept out whenever the table has doubled since the last
        sweep: a run left trading sends orders for months, and each answered one held
        here would be memory never given back."""
        in_flight = self.in_flight
        in_flight[order.client_order_id] = order
        if len(in_flight) > self._sweep_at:
            self._sweep()
            self._sweep_at = max(_SWEEP_FLOOR, 2 * len(in_flight))

    def _sweep(self) -> None:
        for cid in [c for c, o in self.in_flight.items() if o.status not in _IN_FLIGHT]:
            del self.in_flight[cid]

    def working(self, iid: str) -> list[Order]:
        """Open and in-flight orders on ``iid`` (what could still fill)."""
        self._sweep()
        orders = [o for o in self.node.om.open_orders.values() if o.instrument_id == iid]
        return orders + [o for o in self.in_flight.values() if o.instrument_id == iid]

    # -- state changes ---------------------------------------------------------------------------
    def changed(self, change: TradingStateChanged) -> None:
        """Journal the change, then act on the new state."""
        node = self.node
        node.journal_state(change)
        to = RunState(change.to_state)
        if to is RunState.DEGRADED:
            for iid in node.portfolio.positions:
                self._cancel_risky(iid)
        elif to in (RunState.REDUCING, RunState.HALTED):
            self.cancel_all()
        if to is RunState.REDUCING:
            self.attempts.clear()
            self.step()

    def on_event(self, event: Record) -> None:
        """After each event while restricted: late acceptances, and the flatten steps."""
        state = self.node.machine.state
        if state is RunState.READY:
            return
        if type(event) is OrderAccepted:  # an order in flight when the state changed
            if state is RunState.DEGRADED:
                self._cancel_risky(event.instrument_id)
            elif state is RunState.HALTED:
                self._cancel(self.node.om.orders[event.client_order_id])
        if state is RunState.REDUCING:
            self.step()

    def cancel_all(self) -> None:
        for order in list(self.node.om.open_orders.values()):
            self._cancel(order)

    def _cancel_risky(self, iid: str) -> None:
        """Cancel what on ``iid`` could increase ``|position|`` whatever fills."""
        position = self.node.portfolio.positions[iid].qty
        for side in (OrderSide.BUY, OrderSide.SELL):
            orders = [o for o in self.working(iid) if o.side is side]
            adds = position == 0 or (position > 0) == (side is OrderSide.BUY)
            if adds or sum(o.leaves for o in orders) > abs(position):
                for order in orders:
                    self._cancel(order)

    def _cancel(self, order: Order) -> None:
        if order.status is OrderStatus.PENDING_CANCEL or not order.is_open:
            return
        now = self.node.clock.ts
        self.node.send(CancelOrder(now, now, order.client_order_id, order.strategy_id,
                                   order.instrument_id))

    # -- flattening ------------------------------------------------------------------------------
    def step(self) -> None:
        """One flatten step (re-entrant calls are folded into one more pass)."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        try:
            for _ in range(4):
                self._again = False
                self._flatten_once()
                if not self._again:
                    break
        finally:
            self._busy = False

    def _flatten_once(self) -> None:
        node = self.node
        if node.machine.state is not RunState.REDUCING:
            return
        open_positions = {iid: p.qty for iid, p in node.portfolio.positions.items() if p.qty}
        self.working("")  # prune answered in-flight orders
        waiting = [*node.om.open_orders.values(), *self.in_flight.values()]
        strategies = [o for o in waiting if o.strategy_id != RISK_ORIGIN]
        if strategies:  # strategies' orders go first (cancels may take a round trip)
            for order in strategies:
                self._cancel(order)
            return
        if not open_positions and not waiting:
            node.machine.flat({"attempts": json.dumps(self.attempts, sort_keys=True)})
            return
        for iid, qty in open_positions.items():
            if any(o.instrument_id == iid for o in waiting):
                continue
            self.attempts[iid] = self.attempts.get(iid, 0) + 1
            if self.attempts[iid] > FLATTEN_ATTEMPTS:
                log.error("could not flatten %s after %d attempts; halting with %d lots",
                          iid, FLATTEN_ATTEMPTS, qty)
                node.machine.flat({"unflattened": iid, "position_lots": str(qty)})
                return
            self._submit_flatten(iid, qty)

    def _submit_flatten(self, iid: str, qty: int) -> None:
        node = self.node
        now = node.clock.ts
        side = OrderSide.SELL if qty > 0 else OrderSide.BUY
        node.send(SubmitOrder(now, now, node.ids.client_order_id(RISK_ORIGIN), RISK_ORIGIN,
                              iid, side, OrderType.MARKET, abs(qty), reduce_only=True,
                              tag="flatten", decision_price=node.portfolio.marks.get(iid)))


# -- the control file and the signal -----------------------------------------------------------
class Control(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An operator's command to a running paper or live run."""

    action: str            # "halt", "flatten" or "resume"
    reason: str
    actor: str
    at: int = -1           # paper: inputs (market events, feed health) consumed


def running_pid(state_dir: Path) -> int | None:
    """The PID of the process running ``state_dir``, or None when nothing runs it.

    The lock is the truth (the PID in it may be stale): a lock we can take is a run
    that has stopped."""
    lock_path = state_dir / "lock"
    if not lock_path.exists():
        raise InputError(f"{state_dir} is not a heron paper or live state directory (no "
                         "lock file); pass the --state of a run")
    with open(lock_path, "rb") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return None


def send_control(state_dir: Path, control: Control, pid: int) -> str:
    """Post ``control`` to the run's inbox, then wake the run with SIGUSR1; returns the
    command's id, to wait for its answer with :func:`wait_control`."""
    import signal

    entry = inbox.post(state_dir / CONTROL_INBOX, msgspec.json.encode({"control": control}))
    os.kill(pid, signal.SIGUSR1)
    return entry


def wait_control(state_dir: Path, entry: str, timeout_s: float) -> bool:
    """Whether the run answered the command ``entry`` (took and applied it) within
    ``timeout_s`` seconds; its answer is collected (removed)."""
    return inbox.collect(state_dir / CONTROL_INBOX, entry, timeout_s) is not None


def take_control(state_dir: Path) -> Control | None:
    """The pending control command (removed once read), or None."""
    path = state_dir / CONTROL_FILE
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    try:
        return msgspec.json.decode(body, type=Control)
    except msgspec.DecodeError as exc:
        log.error("ignoring a bad %s: %s", path, exc)
        return None


def apply_control(engine: Any, control: Control) -> bool:
    """Carry out an operator's command on a node; True if the state moved."""
    if control.action == "resume":
        return bool(engine.resume(reason=control.reason, actor=control.actor))
    return bool(engine.kill(flatten=control.action == "flatten", reason=control.reason,
                            actor=control.actor))


def record_intervention(journal: str | Path, run_id: str, actor: str, action: str,
                        details: dict[str, Any]) -> Any:
    """Append a manual intervention (kill, resume) to the run's audit log, which lives in
    its journal database (:class:`heron.core.audit.AuditLog`: hash-chained, append-only)."""
    from heron.core.audit import AuditLog

    return AuditLog(journal).append(run_id, actor, action, details)


# -- a paper run's control log: what makes a killed paper run restart exactly ------------------
CONTROL_LOG = "controls.jsonl"


def log_control(state_dir: Path, control: Control) -> None:
    """Append an applied control to ``STATE/controls.jsonl`` (fsync'd: it is rare and a
    paper restart replays it at the same input count, so the journal rebuilds the same)."""
    with open(state_dir / CONTROL_LOG, "ab") as fh:
        fh.write(msgspec.json.encode(control) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


__all__ = ["CONTROL_FILE", "CONTROL_INBOX", "CONTROL_LOG", "RISK_ORIGIN", "Control",
           "StateDriver", "apply_control", "log_control", "record_intervention",
           "running_pid", "send_control", "take_control", "wait_control"]
