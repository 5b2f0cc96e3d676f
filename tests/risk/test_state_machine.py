"""The trading-state machine: every row of the table, every illegal move, every trigger,
recovery, the kill switch, the exposure gate and the ``[state]`` limits."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from heron.errors import InputError
from heron.execution.router import TradingState
from heron.model.events import TradingStateChanged
from heron.risk.config import load_risk
from heron.risk.state import (
    SELF_CLEARING,
    TARGET,
    TRANSITIONS,
    IllegalTransition,
    RunState,
    TradingMachine,
    Trigger,
    exposure_refusal,
)
from heron.risk.triggers import state_limits


def machine_at(state: RunState) -> tuple[TradingMachine, list[TradingStateChanged]]:
    records: list[TradingStateChanged] = []
    machine = TradingMachine(now=lambda: 42, record=records.append)
    machine.state = state
    return machine, records


ROWS = sorted((a, b, t) for (a, b), triggers in TRANSITIONS.items() for t in triggers)


@pytest.mark.parametrize(("before", "after", "trigger"), ROWS)
def test_every_row_of_the_table_is_journaled_and_counted(
        before: RunState, after: RunState, trigger: Trigger) -> None:
    machine, records = machine_at(before)
    machine.move(after, trigger, "why", {"n": "1"})
    assert machine.state is after
    assert records == [TradingStateChanged(42, 42, before.value, after.value, trigger.value,
                                           "why", '{"n": "1"}')]
    assert machine.transitions == {(before.value, after.value, trigger.value): 1}


ILLEGAL = [(a, b, t) for a, b, t in itertools.product(RunState, RunState, Trigger)
           if t not in TRANSITIONS.get((a, b), ())]


def test_the_illegal_moves_are_everything_else() -> None:
    assert len(ILLEGAL) + len(ROWS) == len(RunState) ** 2 * len(Trigger)
    assert (RunState.REDUCING, RunState.READY, Trigger.OPERATOR) in ILLEGAL
    assert (RunState.HALTED, RunState.DEGRADED, Trigger.RECOVERED) in ILLEGAL


@pytest.mark.parametrize(("before", "after", "trigger"), ILLEGAL)
def test_every_illegal_move_is_refused_and_leaves_no_record(
        before: RunState, after: RunState, trigger: Trigger) -> None:
    machine, records = machine_at(before)
    with pytest.raises(IllegalTransition):
        machine.move(after, trigger, "no")
    assert machine.state is before and records == [] and not machine.transitions


@pytest.mark.parametrize("trigger", sorted(TARGET))
def test_each_trigger_moves_a_ready_run_to_its_state(trigger: Trigger) -> None:
    machine, records = machine_at(RunState.READY)
    assert machine.fire(trigger.value, "fired", {"k": "v"})
    assert machine.state is TARGET[trigger]
    assert records[-1].trigger == trigger.value and json.loads(records[-1].evidence) == {
        "k": "v"}


@pytest.mark.parametrize("trigger", sorted(TARGET))
def test_a_trigger_never_loosens_a_more_restricted_run(trigger: Trigger) -> None:
    machine, records = machine_at(RunState.REDUCING)
    moved = machine.fire(trigger.value, "late")
    assert not moved and machine.state is RunState.REDUCING and records == []
    assert trigger in machine.causes


def test_an_unknown_trigger_is_refused_with_the_known_ones() -> None:
    machine, _ = machine_at(RunState.READY)
    with pytest.raises(ValueError, match="hard_drawdown"):
        machine.fire("moon_phase", "?")


@pytest.mark.parametrize("trigger", sorted(SELF_CLEARING))
def test_a_self_clearing_cause_brings_the_run_back_to_ready(trigger: Trigger) -> None:
    machine, records = machine_at(RunState.READY)
    machine.fire(trigger.value, "bad")
    assert machine.clear(trigger.value, "good again")
    assert machine.state is RunState.READY
    assert [r.trigger for r in records] == [trigger.value, "recovered"]


def test_recovery_waits_while_an_operator_cause_remains() -> None:
    machine, _ = machine_at(RunState.READY)
    machine.fire("feed", "stale")
    machine.fire("losing_streak", "4 losses")
    assert not machine.clear("feed", "live")
    assert machine.state is RunState.DEGRADED
    with pytest.raises(ValueError, match="operator"):
        machine.clear("losing_streak", "no")
    assert machine.resume(reason="checked", actor="ops")
    assert machine.state is RunState.READY and machine.causes == {}


def test_halted_never_leaves_without_an_operator() -> None:
    machine, records = machine_at(RunState.READY)
    assert machine.kill(flatten=False, reason="stop", actor="ops")
    for trigger in SELF_CLEARING:
        machine.fire(trigger.value, "x")
        machine.clear(trigger.value, "y")
    assert machine.state is RunState.HALTED
    assert machine.resume(reason="ok", actor="ops") and machine.state is RunState.READY
    assert [(r.to_state, r.trigger) for r in records] == [("HALTED", "manual"),
                                                          ("READY", "operator")]


def test_resume_with_a_feed_still_stale_restricts_the_run_again() -> None:
    machine, records = machine_at(RunState.READY)
    machine.fire("feed", "stale")
    machine.kill(flatten=False, reason="stop", actor="ops")
    machine.resume(reason="ok", actor="ops")
    assert machine.state is RunState.DEGRADED
    assert [r.to_state for r in records] == ["DEGRADED", "HALTED", "READY", "DEGRADED"]


@pytest.mark.parametrize(("state", "flatten", "after"), [
    (RunState.INIT, False, RunState.HALTED), (RunState.INIT, True, RunState.HALTED),
    (RunState.READY, False, RunState.HALTED), (RunState.READY, True, RunState.REDUCING),
    (RunState.DEGRADED, True, RunState.REDUCING), (RunState.REDUCING, False, RunState.HALTED),
    (RunState.HALTED, True, RunState.REDUCING)])
def test_the_kill_switch_from_every_state(state: RunState, flatten: bool,
                                          after: RunState) -> None:
    machine, records = machine_at(state)
    assert machine.kill(flatten=flatten, reason="r", actor="a")
    assert machine.state is after
    assert json.loads(records[-1].evidence) == {"actor": "a", "flatten": str(flatten).lower()}


def test_killing_a_halted_run_again_is_no_change() -> None:
    machine, records = machine_at(RunState.HALTED)
    assert not machine.kill(flatten=False, reason="r", actor="a") and records == []


def test_start_and_restore() -> None:
    machine, records = machine_at(RunState.INIT)
    assert machine.allows is TradingState.HALTED
    assert machine.start() and machine.allows is TradingState.NORMAL
    assert [r.trigger for r in records] == ["start"]
    fresh, _ = machine_at(RunState.INIT)
    fresh.restore(TradingStateChanged(1, 1, "READY", "HALTED", "manual", "stop"))
    assert not fresh.start() and fresh.state is RunState.HALTED


@pytest.mark.parametrize(("allows", "side", "qty", "position", "leaves", "refused"), [
    (TradingState.NORMAL, 1, 5, 0, 0, False),
    (TradingState.HALTED, -1, 1, 5, 0, True),
    (TradingState.REDUCE_ONLY, 1, 1, 0, 0, True),      # flat: anything adds
    (TradingState.REDUCE_ONLY, 1, 1, 5, 0, True),      # same side as the long
    (TradingState.REDUCE_ONLY, -1, 5, 5, 0, False),    # closes exactly
    (TradingState.REDUCE_ONLY, -1, 6, 5, 0, True),     # would flip
    (TradingState.REDUCE_ONLY, -1, 3, 5, 3, True),     # with a resting sell, could flip
    (TradingState.REDUCE_ONLY, 1, 2, -5, 3, False),    # short: buys reduce
    (TradingState.REDUCE_ONLY, -1, 0, 5, 0, True),     # sized at fill: unknowable
])
def test_the_exposure_gate(allows: TradingState, side: int, qty: int, position: int,
                           leaves: int, refused: bool) -> None:
    why = exposure_refusal(allows, side_sign=side, quantity=qty, position=position,
                           same_side_leaves=leaves)
    assert (why is not None) is refused


def test_state_limits_are_validated_naming_the_key(tmp_path: Path) -> None:
    good = state_limits({"soft_drawdown": "0.05", "hard_drawdown": 0.1, "daily_loss": 500,
                         "kill_at": "2022-01-10T00:00:00Z"})
    assert good.kill_at_ns() == 1_641_772_800_000_000_000 and good.watches_equity
    for table, key in [({"soft_drawdown": "-0.1"}, "soft_drawdown"),
                       ({"hard_drawdown": "1.5"}, "hard_drawdown"),
                       ({"soft_drawdown": "0.2", "hard_drawdown": "0.1"}, "soft_drawdown"),
                       ({"losing_streak": 0}, "losing_streak"),
                       ({"daily_loss": "abc"}, "daily_loss"),
                       ({"kill_at": "tomorrow"}, "kill_at"),
                       ({"max_sadness": 1}, "max_sadness")]:
        with pytest.raises(InputError, match=key):
            state_limits(table)
    path = tmp_path / "risk.toml"
    path.write_text('[limits]\nmax_position = "1"\n\n[state]\nhard_drawdown = 0.2\n')
    loaded = load_risk(path).state
    assert loaded is not None and loaded.hard_drawdown == "0.2"
    path.write_text('[limits]\nmax_position = "1"\n')
    assert load_risk(path).state is None
