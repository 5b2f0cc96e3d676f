"""The trading-state machine: one state per run that every order obeys.

::

    INIT ──start──▶ READY ◀──recovered / operator──▶ DEGRADED
                      │  ╲                              │
                      │   ╲──hard_drawdown, daily_loss, manual──▶ REDUCING ──flat──▶ HALTED
                      └──────────────────manual (kill)──────────────────────────────▶ HALTED

What each state allows is a :class:`~heron.execution.router.TradingState` (the router
and the node's order gate read that, never this enum):

* ``INIT``: nothing yet (``HALTED``): the strategies have not started;
* ``READY``: normal trading (``NORMAL``);
* ``DEGRADED``: no new risk (``REDUCE_ONLY``): only orders that cannot increase
  ``|position|``, counting resting orders; resting orders that could are cancelled;
* ``REDUCING``: cancel everything and flatten every position with reduce-only market
  orders sent through the node (journaled, gated), then ``HALTED`` once flat
  (``REDUCE_ONLY`` for heron's own flatten orders; strategies' orders are denied);
* ``HALTED``: only cancels (``HALTED``); it never leaves without an operator.

Why a table and not ``if`` chains: every legal move is one row of :data:`TRANSITIONS`
(printed in docs/risk.md and tested row by row); any other move raises
:class:`IllegalTransition`. Every move is journaled as a ``TradingStateChanged`` record,
logged and counted in :attr:`TradingMachine.transitions`: no silent transition.

Recovery: ``feed`` and ``reconcile`` clear by themselves (the feed is live again, a
reconciliation pass finds nothing blocking) and bring ``DEGRADED`` back to ``READY`` when
no other cause remains. Every other cause, and ``HALTED`` always, needs an operator
(:meth:`TradingMachine.resume`, ``heron kill --resume``).
"""

from __future__ import annotations

import enum
import json
import logging
from collections import Counter
from collections.abc import Callable

from heron.execution.router import TradingState
from heron.model.events import TradingStateChanged

log = logging.getLogger(__name__)


class RunState(enum.StrEnum):
    INIT = "INIT"
    READY = "READY"
    DEGRADED = "DEGRADED"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class Trigger(enum.StrEnum):
    """What moves the machine. The first group is fired from outside (``fire``)."""

    SOFT_DRAWDOWN = "soft_drawdown"
    HARD_DRAWDOWN = "hard_drawdown"
    DAILY_LOSS = "daily_loss"
    LOSING_STREAK = "losing_streak"
    FEED = "feed"
    RECONCILE = "reconcile"
    VENUE_ERRORS = "venue_errors"
    PORTFOLIO_RISK = "portfolio_risk"   # VaR, concentration ... (heron.risk.portfolio_risk)
    MANUAL = "manual"                   # heron kill, the API hook, a configured kill switch
    START = "start"                     # the strategies start
    FLAT = "flat"                       # REDUCING found every position flat
    RECOVERED = "recovered"             # the last self-clearing cause cleared
    OPERATOR = "operator"               # an operator resumed the run


#: where each externally fired trigger sends the run (MANUAL: where the command says)
TARGET: dict[Trigger, RunState] = {
    Trigger.SOFT_DRAWDOWN: RunState.DEGRADED,
    Trigger.HARD_DRAWDOWN: RunState.REDUCING,
    Trigger.DAILY_LOSS: RunState.REDUCING,
    Trigger.LOSING_STREAK: RunState.DEGRADED,
    Trigger.FEED: RunState.DEGRADED,
    Trigger.RECONCILE: RunState.DEGRADED,
    Trigger.VENUE_ERRORS: RunState.DEGRADED,
    Trigger.PORTFOLIO_RISK: RunState.DEGRADED,
}
#: causes that clear by themselves; every other one waits for an operator
SELF_CLEARING = frozenset({Trigger.FEED, Trigger.RECONCILE})

_DEGRADE = frozenset(t for t, s in TARGET.items() if s is RunState.DEGRADED)
_REDUCE = frozenset({Trigger.HARD_DRAWDOWN, Trigger.DAILY_LOSS, Trigger.MANUAL})
_S = RunState
#: every legal move ``(from, to) -> the triggers that may make it``
TRANSITIONS: dict[tuple[RunState, RunState], frozenset[Trigger]] = {
    (_S.INIT, _S.READY): frozenset({Trigger.START}),
    (_S.INIT, _S.DEGRADED): _DEGRADE | {Trigger.MANUAL},
    (_S.INIT, _S.HALTED): frozenset({Trigger.MANUAL}),
    (_S.READY, _S.DEGRADED): _DEGRADE | {Trigger.MANUAL},
    (_S.READY, _S.REDUCING): _REDUCE,
    (_S.READY, _S.HALTED): frozenset({Trigger.MANUAL}),
    (_S.DEGRADED, _S.READY): frozenset({Trigger.RECOVERED, Trigger.OPERATOR}),
    (_S.DEGRADED, _S.REDUCING): _REDUCE,
    (_S.DEGRADED, _S.HALTED): frozenset({Trigger.MANUAL}),
    (_S.REDUCING, _S.HALTED): frozenset({Trigger.FLAT, Trigger.MANUAL}),
    (_S.HALTED, _S.REDUCING): frozenset({Trigger.MANUAL}),   # kill --flatten a halted run
    (_S.HALTED, _S.READY): frozenset({Trigger.OPERATOR}),
}
#: what each state allows, in the router's terms
ALLOWS: dict[RunState, TradingState] = {
    _S.INIT: TradingState.HALTED, _S.READY: TradingState.NORMAL,
    _S.DEGRADED: TradingState.REDUCE_ONLY, _S.REDUCING: TradingState.REDUCE_ONLY,
    _S.HALTED: TradingState.HALTED,
}
_SEVERITY = {_S.INIT: 0, _S.READY: 0, _S.DEGRADED: 1, _S.REDUCING: 2, _S.HALTED: 3}


class IllegalTransition(Exception):
    """A move that is not a row of :data:`TRANSITIONS` (a bug in the caller)."""


def parse_trigger(name: str) -> Trigger:
    """``name`` as a :class:`Trigger`, or a ValueError listing the known ones."""
    try:
        return Trigger(name)
    except ValueError:
        known = ", ".join(t.value for t in TARGET)
        raise ValueError(f"unknown trigger {name!r}; fire one of {known}") from None


class TradingMachine:
    """The run's trading state; ``record`` journals each change (the node's job)."""

    def __init__(self, *, now: Callable[[], int],
                 record: Callable[[TradingStateChanged], None]) -> None:
        self.state = RunState.INIT
        self.causes: dict[Trigger, str] = {}   # why the run is restricted, by trigger
        self.transitions: Counter[tuple[str, str, str]] = Counter()
        self._now = now
        self._record = record

    @property
    def allows(self) -> TradingState:
        return ALLOWS[self.state]

    # -- moves ------------------------------------------------------------------------------
    def move(self, to: RunState, trigger: Trigger, reason: str,
             evidence: dict[str, str] | None = None) -> TradingStateChanged:
        """Make one move of the table (or raise :class:`IllegalTransition`)."""
        before = self.state
        if trigger not in TRANSITIONS.get((before, to), ()):
            raise IllegalTransition(f"{before} -> {to} by {trigger} is not a transition")
        ts = self._now()
        change = TradingStateChanged(ts, ts, before.value, to.value, trigger.value, reason,
                                     json.dumps(evidence or {}, sort_keys=True))
        self.state = to
        self.transitions[(before.value, to.value, trigger.value)] += 1
        level = logging.INFO if to is RunState.READY else logging.WARNING
        log.log(level, "trading state %s -> %s (%s): %s %s", before, to, trigger, reason,
                change.evidence)
        self._record(change)
        return change

    def fire(self, trigger: str, reason: str, evidence: dict[str, str] | None = None) -> bool:
        """A trigger fired: move to its state if that is more severe than now. The
        cause is remembered either way (recovery needs to know it). True if moved."""
        kind = parse_trigger(trigger)
        to = TARGET.get(kind)
        if to is None:
            raise ValueError(f"{trigger!r} is not fired from outside; see heron.risk.state")
        self.causes[kind] = reason
        if _SEVERITY[to] <= _SEVERITY[self.state]:
            log.info("trigger %s while %s: no change (%s)", kind, self.state, reason)
            return False
        self.move(to, kind, reason, evidence)
        return True

    def clear(self, trigger: str, reason: str, evidence: dict[str, str] | None = None) -> bool:
        """A self-clearing cause is gone: back to READY when it was the last one."""
        kind = parse_trigger(trigger)
        if kind not in SELF_CLEARING:
            raise ValueError(f"{kind} does not clear by itself: an operator resumes the run")
        if self.causes.pop(kind, None) is None:
            return False
        if self.state is RunState.DEGRADED and not self.causes:
            self.move(RunState.READY, Trigger.RECOVERED, reason, evidence)
            return True
        return False

    def start(self) -> bool:
        """The strategies start: INIT -> READY (a restored run keeps its state)."""
        if self.state is not RunState.INIT:
            return False
        self.move(RunState.READY, Trigger.START, "run started")
        return True

    def kill(self, *, flatten: bool, reason: str, actor: str) -> bool:
        """The kill switch: HALTED, or REDUCING (then HALTED when flat) with ``flatten``."""
        to = RunState.REDUCING if flatten else RunState.HALTED
        evidence = {"actor": actor, "flatten": str(flatten).lower()}
        if (self.state, to) not in TRANSITIONS:
            to = RunState.HALTED  # nothing to flatten before the start
        if self.state is to:
            log.info("kill while %s: no change", self.state)
            return False
        self.causes[Trigger.MANUAL] = reason
        self.move(to, Trigger.MANUAL, reason, evidence)
        return True

    def flat(self, evidence: dict[str, str]) -> bool:
        """REDUCING found no position and no open order: HALTED."""
        if self.state is not RunState.REDUCING:
            return False
        self.move(RunState.HALTED, Trigger.FLAT, "every position is flat", evidence)
        return True

    def resume(self, *, reason: str, actor: str) -> bool:
        """An operator brings a DEGRADED or HALTED run back to READY. Causes that clear by
        themselves and are still there restrict it again at once (a second record)."""
        if self.state not in (RunState.DEGRADED, RunState.HALTED):
            return False
        still = {k: v for k, v in self.causes.items() if k in SELF_CLEARING}
        self.causes.clear()
        self.move(RunState.READY, Trigger.OPERATOR, reason, {"actor": actor})
        for kind, why in still.items():
            self.fire(kind.value, why, {"still": "true"})
        return True

    def restore(self, change: TradingStateChanged) -> None:
        """Take the state a previous process journaled (a restart keeps a halt)."""
        self.state = RunState(change.to_state)
        if self.state in (RunState.READY, RunState.INIT):
            self.causes.clear()
        else:
            self.causes[Trigger(change.trigger)] = change.reason


def exposure_refusal(allows: TradingState, *, side_sign: int, quantity: int, position: int,
                     same_side_leaves: int) -> str | None:
    """Why a new order may not go out in this state, or None.

    ``REDUCE_ONLY``: the order must be on the side that reduces ``|position|``, sized, and
    with what already works on that side it must not be able to pass zero, whatever
    fills (``same_side_leaves``: the leaves of every open or in-flight order on the
    order's side). The ``reduce_only`` flag is not trusted for this: a venue may treat
    it loosely, and a flag is no size. ``HALTED``: no new order at all.
    """
    if allows is TradingState.NORMAL:
        return None
    if allows is TradingState.HALTED:
        return "trading is halted: only cancels"
    if quantity <= 0:
        return "reduce-only: an order sized at fill cannot be shown to reduce the position"
    if position == 0 or (position > 0) == (side_sign > 0):
        return (f"reduce-only: the order would increase |position| (position {position} "
                "lots)")
    if quantity + same_side_leaves > abs(position):
        return (f"reduce-only: {quantity} lots with {same_side_leaves} already working "
                f"could pass through zero (position {position} lots)")
    return None


__all__ = ["ALLOWS", "SELF_CLEARING", "TARGET", "TRANSITIONS", "IllegalTransition",
           "RunState", "TradingMachine", "Trigger", "exposure_refusal", "parse_trigger"]
