"""The order state machine, tested exhaustively over every (status, event) pair."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from heron.errors import EngineError, InvalidStateTransition
from heron.model.orders import (
    TRANSITIONS,
    Order,
    OrderEventKind,
    OrderSide,
    OrderStatus,
    OrderType,
)

S = OrderStatus
E = OrderEventKind
BACK = "back"  # "returns to the status before the pending request"

#: The lifecycle written out by hand, independently of how orders.py builds its table.
#: A change to the table must change this too, on purpose.
_RESTING = {
    E.CANCEL_REQUESTED: S.PENDING_CANCEL, E.UPDATE_REQUESTED: S.PENDING_UPDATE,
    E.CANCELED: S.CANCELED, E.EXPIRED: S.EXPIRED,
    E.PARTIALLY_FILLED: S.PARTIALLY_FILLED, E.FILLED: S.FILLED,
}
EXPECTED: dict[S, dict[E, S | str]] = {
    S.INITIALIZED: {E.SUBMITTED: S.SUBMITTED, E.DENIED: S.DENIED},
    S.SUBMITTED: {E.ACCEPTED: S.ACCEPTED, E.REJECTED: S.REJECTED,
                  E.PARTIALLY_FILLED: S.PARTIALLY_FILLED, E.FILLED: S.FILLED,
                  E.CANCELED: S.CANCELED, E.EXPIRED: S.EXPIRED},
    S.ACCEPTED: {**_RESTING, E.UPDATED: S.ACCEPTED, E.TRIGGERED: S.TRIGGERED},
    S.TRIGGERED: {**_RESTING, E.UPDATED: S.TRIGGERED},
    S.PARTIALLY_FILLED: {**_RESTING, E.UPDATED: S.PARTIALLY_FILLED},
    # an amend answered while a cancel is in flight: still on its way out
    S.PENDING_CANCEL: {E.CANCEL_REJECTED: BACK, E.CANCELED: S.CANCELED, E.EXPIRED: S.EXPIRED,
                       E.PARTIALLY_FILLED: S.PARTIALLY_FILLED, E.FILLED: S.FILLED,
                       E.TRIGGERED: S.TRIGGERED, E.UPDATED: S.PENDING_CANCEL},
    # a cancel, or a second amend, may follow an amend in flight
    S.PENDING_UPDATE: {E.UPDATE_REJECTED: BACK, E.UPDATED: BACK, E.CANCELED: S.CANCELED,
                       E.EXPIRED: S.EXPIRED, E.PARTIALLY_FILLED: S.PARTIALLY_FILLED,
                       E.FILLED: S.FILLED, E.TRIGGERED: S.TRIGGERED,
                       E.CANCEL_REQUESTED: S.PENDING_CANCEL,
                       E.UPDATE_REQUESTED: S.PENDING_UPDATE},
    S.DENIED: {}, S.REJECTED: {}, S.FILLED: {}, S.CANCELED: {}, S.EXPIRED: {},
}

#: A shortest way to each status from INITIALIZED (pending ones entered from ACCEPTED).
PATHS: dict[S, list[E]] = {
    S.INITIALIZED: [],
    S.SUBMITTED: [E.SUBMITTED],
    S.DENIED: [E.DENIED],
    S.ACCEPTED: [E.SUBMITTED, E.ACCEPTED],
    S.REJECTED: [E.SUBMITTED, E.REJECTED],
    S.TRIGGERED: [E.SUBMITTED, E.ACCEPTED, E.TRIGGERED],
    S.PENDING_CANCEL: [E.SUBMITTED, E.ACCEPTED, E.CANCEL_REQUESTED],
    S.PENDING_UPDATE: [E.SUBMITTED, E.ACCEPTED, E.UPDATE_REQUESTED],
    S.PARTIALLY_FILLED: [E.SUBMITTED, E.PARTIALLY_FILLED],
    S.FILLED: [E.SUBMITTED, E.FILLED],
    S.CANCELED: [E.SUBMITTED, E.CANCELED],
    S.EXPIRED: [E.SUBMITTED, E.EXPIRED],
}
CLOSED = {S.DENIED, S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED}
OPEN = {S.ACCEPTED, S.TRIGGERED, S.PENDING_CANCEL, S.PENDING_UPDATE, S.PARTIALLY_FILLED}
IN_FLIGHT = {S.INITIALIZED, S.SUBMITTED}
PENDING = {S.PENDING_CANCEL, S.PENDING_UPDATE}
ALL_PAIRS = list(itertools.product(S, E))


def new_order() -> Order:
    return Order(client_order_id="H-test-1", strategy_id="s", instrument_id="X.SIM",
                 side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=10, ts_init=1,
                 price=100)


def order_in(status: S) -> Order:
    order = new_order()
    for ts, kind in enumerate(PATHS[status], start=10):
        order.apply(kind, ts)
    assert order.status is status
    return order


def reachable_statuses() -> set[S]:
    """Every status reachable from INITIALIZED through the table (BACK resolved)."""
    seen = {S.INITIALIZED}
    frontier: list[tuple[S, S | None]] = [(S.INITIALIZED, None)]
    visited: set[tuple[S, S | None]] = set(frontier)
    while frontier:
        status, before = frontier.pop()
        for kind in E:
            if (status, kind) not in TRANSITIONS:
                continue
            target = TRANSITIONS[(status, kind)]
            nbefore: S | None
            if target is None:
                if before is None:
                    raise AssertionError(f"{status} returns to a status never recorded")
                nxt, nbefore = before, before
            else:
                nxt = target
                nbefore = status if target in PENDING and status not in PENDING else before
            seen.add(nxt)
            if (nxt, nbefore) not in visited:
                visited.add((nxt, nbefore))
                frontier.append((nxt, nbefore))
    return seen


# -- the table itself -------------------------------------------------------------------------
def test_paths_cover_every_status() -> None:
    assert set(PATHS) == set(S)
    assert set(EXPECTED) == set(S)


def test_transitions_table_matches_written_lifecycle() -> None:
    written = {(status, kind): (None if target == BACK else target)
               for status, row in EXPECTED.items() for kind, target in row.items()}
    assert written == TRANSITIONS


def test_status_partition_open_closed_in_flight() -> None:
    assert {s for s in S if s.is_closed} == CLOSED
    assert {s for s in S if s.is_open} == OPEN
    assert set(S) == OPEN | CLOSED | IN_FLIGHT
    assert not OPEN & CLOSED


def test_every_status_is_reachable_from_initialized() -> None:
    assert reachable_statuses() == set(S)


def test_back_transitions_only_leave_pending_statuses() -> None:
    backs = {status for (status, _), target in TRANSITIONS.items() if target is None}
    assert backs == {S.PENDING_CANCEL, S.PENDING_UPDATE}


# -- every pair, applied ----------------------------------------------------------------------
@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=[f"{s}-{k}" for s, k in ALL_PAIRS])
def test_order_apply_every_pair_moves_or_raises(status: S, kind: E) -> None:
    order = order_in(status)
    expected = EXPECTED[status].get(kind)
    if expected is None:
        with pytest.raises(InvalidStateTransition, match=kind.value):
            order.apply(kind, 99)
        assert order.status is status
        assert order.ts_closed == (10 + len(PATHS[status]) - 1 if status in CLOSED else 0)
        return
    target = S.ACCEPTED if expected == BACK else expected  # PATHS enter pending from ACCEPTED
    assert order.apply(kind, 99) is target
    assert order.status is target
    assert order.ts_closed == (99 if target in CLOSED else 0)


@pytest.mark.parametrize("before", [S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED])
@pytest.mark.parametrize(("request_kind", "back_kind"), [
    (E.CANCEL_REQUESTED, E.CANCEL_REJECTED),
    (E.UPDATE_REQUESTED, E.UPDATE_REJECTED),
    (E.UPDATE_REQUESTED, E.UPDATED),
])
def test_order_rejected_request_returns_to_status_before_pending(
    before: S, request_kind: E, back_kind: E
) -> None:
    order = order_in(before)
    order.apply(request_kind, 50)
    assert order.status in (S.PENDING_CANCEL, S.PENDING_UPDATE)
    assert order.apply(back_kind, 51) is before
    assert order.status is before
    assert order.ts_closed == 0


@pytest.mark.parametrize("before", [S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED])
def test_a_cancel_after_an_amend_in_flight_is_refused_back_to_before_the_amend(
        before: S) -> None:
    order = order_in(before)
    order.apply(E.UPDATE_REQUESTED, 50)
    order.apply(E.CANCEL_REQUESTED, 51)
    assert order.status is S.PENDING_CANCEL
    assert order.apply(E.UPDATED, 52) is S.PENDING_CANCEL   # the amend's answer: still going
    assert order.apply(E.CANCEL_REJECTED, 53) is before     # not back to "pending update"


def test_a_second_amend_in_flight_keeps_the_status_the_first_left() -> None:
    order = order_in(S.PARTIALLY_FILLED)
    order.apply(E.UPDATE_REQUESTED, 50)
    assert order.apply(E.UPDATE_REQUESTED, 51) is S.PENDING_UPDATE
    assert order.status_before_pending is S.PARTIALLY_FILLED
    assert order.apply(E.UPDATED, 52) is S.PARTIALLY_FILLED


@pytest.mark.parametrize("closed", sorted(CLOSED))
def test_order_closed_status_accepts_no_event(closed: S) -> None:
    order = order_in(closed)
    ts_closed = order.ts_closed
    for kind in E:
        with pytest.raises(InvalidStateTransition):
            order.apply(kind, 1000)
        assert order.status is closed
        assert order.ts_closed == ts_closed


def test_invalid_state_transition_is_an_engine_error() -> None:
    assert issubclass(InvalidStateTransition, EngineError)


def test_order_error_message_names_order_event_and_status() -> None:
    order = new_order()
    with pytest.raises(InvalidStateTransition, match=r"H-test-1.*'filled'.*'initialized'"):
        order.apply(E.FILLED, 5)


def test_order_new_is_initialized_and_neither_open_nor_closed() -> None:
    order = new_order()
    assert order.status is S.INITIALIZED
    assert not order.is_open and not order.is_closed
    assert order.ts_closed == 0


def test_order_fill_sequence_tracks_filled_leaves_and_avg_price_numerator() -> None:
    order = order_in(S.ACCEPTED)
    order.record_fill(4, 100)
    order.apply(E.PARTIALLY_FILLED, 20)
    assert (order.filled, order.leaves, order.avg_px_num) == (4, 6, 400)
    assert order.is_open
    order.record_fill(6, 105)
    order.apply(E.FILLED, 21)
    assert (order.filled, order.leaves, order.avg_px_num) == (10, 0, 1030)
    assert order.is_closed and order.ts_closed == 21


def test_order_leaves_never_negative_for_fraction_sized_order() -> None:
    order = Order(client_order_id="c", strategy_id="s", instrument_id="X.SIM",
                  side=OrderSide.SELL, order_type=OrderType.MARKET, quantity=0, ts_init=0)
    order.record_fill(5, 10)
    assert order.leaves == 0


def test_order_side_sign() -> None:
    assert (OrderSide.BUY.sign, OrderSide.SELL.sign) == (1, -1)


# -- random sequences -------------------------------------------------------------------------
REACHABLE = reachable_statuses()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(E)), max_size=40))
def test_order_random_events_follow_table_and_close_once(kinds: list[E]) -> None:
    order = new_order()
    model_status, model_before = S.INITIALIZED, S.INITIALIZED
    closed_at = 0
    for ts, kind in enumerate(kinds, start=1):
        previous = model_status
        key = (model_status, kind)
        if key not in TRANSITIONS:
            with pytest.raises(InvalidStateTransition):
                order.apply(kind, ts)
        else:
            target = TRANSITIONS[key]
            if target is None:
                target = model_before
            elif target in PENDING and model_status not in PENDING:
                model_before = model_status
            model_status = target
            assert order.apply(kind, ts) is target
            if target in CLOSED:
                closed_at = ts
        assert order.status is model_status
        assert previous not in CLOSED or order.status is previous  # closed stays closed
        assert order.status in REACHABLE
        assert order.status not in (S.PENDING_CANCEL, S.PENDING_UPDATE) or \
            order.status_before_pending in (S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED)
        assert order.ts_closed == closed_at
        assert (order.ts_closed != 0) == order.is_closed


class OrderLifecycle(RuleBasedStateMachine):
    """Drives one order with only the events the table allows, and some it forbids."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.ts = 0
        self.history: list[S] = [S.INITIALIZED]

    @rule(kind=st.sampled_from(list(E)))
    def apply_event(self, kind: E) -> None:
        self.ts += 1
        before = self.order.status
        allowed = (before, kind) in TRANSITIONS
        try:
            after = self.order.apply(kind, self.ts)
        except InvalidStateTransition:
            assert not allowed
            assert self.order.status is before
            return
        assert allowed
        assert after is self.order.status
        if after in CLOSED:
            assert self.order.ts_closed == self.ts
        self.history.append(after)

    @invariant()
    def closed_is_terminal(self) -> None:
        first_closed = next((i for i, s in enumerate(self.history) if s in CLOSED), None)
        if first_closed is not None:
            assert first_closed == len(self.history) - 1

    @invariant()
    def only_reachable_statuses(self) -> None:
        assert self.order.status in REACHABLE

    @invariant()
    def ts_closed_set_iff_closed(self) -> None:
        assert (self.order.ts_closed != 0) == self.order.is_closed


OrderLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=30,
                                            deadline=None)
TestOrderLifecycle = OrderLifecycle.TestCase
