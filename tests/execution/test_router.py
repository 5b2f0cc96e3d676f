"""The smart order router: one test per rule, then properties over random books.

Resting orders are real :class:`Order` records moved through the real transition table;
applying a plan is written out here independently of the router (cancel removes, amend
sets price and total quantity, cancel-replace and new add an order tagged with the
target's key), so the properties check the router against a separate reading of its
contract.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.errors import EngineError
from heron.execution.router import (
    Action,
    ActionKind,
    Plan,
    Reason,
    SmartOrderRouter,
    Target,
    TradingState,
    VenueTraits,
)
from heron.model.instrument import Instrument
from heron.model.orders import Order, OrderEventKind, OrderSide, OrderType, TimeInForce

BUY, SELL = OrderSide.BUY, OrderSide.SELL
#: tick 0.1, lot 0.01: a price of 100 ticks is 10.0, a size of 10 lots 0.1
INST = Instrument(symbol="ETHUSDT", venue="SIM", price_increment=Decimal("0.1"),
                  size_increment=Decimal("0.01"))
_ids = itertools.count()


def rest(side: OrderSide, price: int | None, quantity: int, *, filled: int = 0, tag: str = "",
         post_only: bool = False, reduce_only: bool = False,
         tif: TimeInForce = TimeInForce.GTC, order_type: OrderType = OrderType.LIMIT,
         status: str = "accepted", cid: str = "") -> Order:
    """A resting order, moved to ``status`` through the real state machine."""
    order = Order(client_order_id=cid or f"O-{next(_ids):05d}", strategy_id="s",
                  instrument_id=INST.id,
                  side=side, order_type=order_type, quantity=quantity, ts_init=0, price=price,
                  time_in_force=tif, post_only=post_only, reduce_only=reduce_only, tag=tag)
    order.apply(OrderEventKind.SUBMITTED, 0)
    if status == "submitted":
        return order
    order.apply(OrderEventKind.ACCEPTED, 0)
    if filled:
        order.record_fill(filled, price or 1)
        order.apply(OrderEventKind.PARTIALLY_FILLED, 0)
    if status == "pending_cancel":
        order.apply(OrderEventKind.CANCEL_REQUESTED, 0)
    elif status == "pending_update":
        order.apply(OrderEventKind.UPDATE_REQUESTED, 0)
    elif status == "canceled":
        order.apply(OrderEventKind.CANCELED, 0)
    return order


def only(plan: Plan) -> Action:
    assert len(plan.actions) == 1, plan
    return plan.actions[0]


# -- rule 4: one decision per pair ----------------------------------------------------------
def test_plan_same_price_and_size_is_noop_unchanged() -> None:
    order = rest(BUY, 100, 10)
    action = only(SmartOrderRouter(INST).plan([Target(BUY, 10, 100)], [order]))
    assert (action.kind, action.reason) == (ActionKind.NOOP, Reason.UNCHANGED)
    assert action.client_order_id == order.client_order_id


def test_plan_size_down_same_price_amends_total_quantity_keeping_priority() -> None:
    order = rest(BUY, 100, 10, filled=3)  # leaves 7
    action = only(SmartOrderRouter(INST).plan([Target(BUY, 4, 100)], [order]))
    assert (action.kind, action.reason) == (ActionKind.AMEND, Reason.SIZE_DOWN)
    assert action.price is None              # price untouched: queue priority kept
    assert action.quantity == 3 + 4          # venues take the new *total* quantity


def test_plan_size_down_within_tolerance_is_left_alone() -> None:
    router = SmartOrderRouter(INST, VenueTraits(quantity_tolerance=2))
    near = only(router.plan([Target(SELL, 8, 120)], [rest(SELL, 120, 10)]))
    far = only(router.plan([Target(SELL, 7, 120)], [rest(SELL, 120, 10)]))
    up = only(router.plan([Target(SELL, 11, 120)], [rest(SELL, 120, 10)]))
    assert (near.kind, near.reason) == (ActionKind.NOOP, Reason.WITHIN_TOLERANCE)
    assert (far.kind, far.quantity) == (ActionKind.AMEND, 7)
    assert (up.kind, up.reason, up.quantity) == (ActionKind.AMEND, Reason.SIZE_UP, 11)


def test_plan_quantity_tolerance_is_off_outside_normal_state() -> None:
    router = SmartOrderRouter(INST, VenueTraits(quantity_tolerance=5))
    action = only(router.plan([Target(SELL, 8, 120)], [rest(SELL, 120, 10)],
                              state=TradingState.REDUCE_ONLY, position=8))
    assert (action.kind, action.quantity) == (ActionKind.AMEND, 8)


def test_plan_price_within_tolerance_keeps_price_and_still_resizes() -> None:
    router = SmartOrderRouter(INST, VenueTraits(price_tolerance=2))
    kept = only(router.plan([Target(BUY, 10, 102)], [rest(BUY, 100, 10)]))
    resized = only(router.plan([Target(BUY, 6, 102)], [rest(BUY, 100, 10)]))
    moved = only(router.plan([Target(BUY, 10, 103)], [rest(BUY, 100, 10)]))
    assert (kept.kind, kept.reason) == (ActionKind.NOOP, Reason.WITHIN_TOLERANCE)
    assert (resized.kind, resized.price, resized.quantity) == (ActionKind.AMEND, None, 6)
    assert (moved.kind, moved.reason, moved.price) == (ActionKind.AMEND, Reason.REPRICE, 103)


def test_plan_price_change_amends_price_and_size_together() -> None:
    action = only(SmartOrderRouter(INST).plan([Target(SELL, 12, 99)], [rest(SELL, 101, 10)]))
    assert (action.kind, action.reason) == (ActionKind.AMEND, Reason.REPRICE)
    assert (action.price, action.quantity) == (99, 12)


def test_plan_venue_without_amend_cancel_replaces_every_change() -> None:
    router = SmartOrderRouter(INST, VenueTraits(supports_amend=False))
    for target in (Target(BUY, 5, 100), Target(BUY, 10, 101), Target(BUY, 12, 100)):
        action = only(router.plan([target], [rest(BUY, 100, 10)]))
        assert (action.kind, action.reason) == (ActionKind.CANCEL_REPLACE, Reason.NO_AMEND)
        assert action.target == target
    same = only(router.plan([Target(BUY, 10, 100)], [rest(BUY, 100, 10)]))
    assert same.kind is ActionKind.NOOP


@pytest.mark.parametrize("target", [
    Target(BUY, 10, 100, key="k", post_only=True),
    Target(BUY, 10, 100, key="k", reduce_only=True),
    Target(BUY, 10, 100, key="k", time_in_force=TimeInForce.IOC),
    Target(BUY, 10, None, key="k"),  # market: crosses now, nothing to amend into
])
def test_plan_change_amend_cannot_express_is_cancel_replace(target: Target) -> None:
    order = rest(BUY, 100, 10, tag="k")
    action = only(SmartOrderRouter(INST).plan([target], [order], reference_price=100))
    assert (action.kind, action.reason) == (ActionKind.CANCEL_REPLACE, Reason.NOT_AMENDABLE)
    assert action.client_order_id == order.client_order_id


# -- rule 1: grid ---------------------------------------------------------------------------
def test_plan_drops_targets_below_minimums_and_never_sends_them() -> None:
    inst = Instrument(symbol="X", venue="SIM", price_increment=Decimal("0.1"),
                      size_increment=Decimal("0.01"), min_quantity=Decimal("0.015"),
                      min_notional=Decimal("5"))
    router = SmartOrderRouter(inst)
    assert router.min_lots == 2              # 0.015 rounds up to two lots of 0.01
    # notional = lots x 0.01 x ticks x 0.1; 50 lots at 100 ticks is 0.5 x 10.0 = 5
    targets = [Target(BUY, 1, 1000), Target(BUY, 49, 100), Target(BUY, 50, 100),
               Target(SELL, 0, 100), Target(SELL, 3, -1), Target(SELL, 3, None, post_only=True),
               Target(SELL, 50, None)]
    plan = router.plan(targets, [])
    assert [(d.target, d.reason) for d in plan.dropped] == [
        (targets[0], Reason.BELOW_MIN_QUANTITY), (targets[1], Reason.BELOW_MIN_NOTIONAL),
        (targets[3], Reason.NON_POSITIVE_QUANTITY), (targets[4], Reason.NON_POSITIVE_PRICE),
        (targets[5], Reason.POST_ONLY_MARKET), (targets[6], Reason.NO_REFERENCE_PRICE)]
    assert [a.target for a in plan.actions] == [targets[2]]
    priced = router.plan([targets[6]], [], reference_price=100)
    assert only(priced).kind is ActionKind.NEW   # priced at the reference: 5 >= 5


def test_plan_min_notional_is_exact_at_the_boundary() -> None:
    inst = Instrument(symbol="X", venue="SIM", price_increment=Decimal("0.1"),
                      size_increment=Decimal("0.001"), min_notional=Decimal("5.0001"))
    router = SmartOrderRouter(inst)
    # lots of 0.001 at 10.0: 500 lots = 5.0 < 5.0001, 501 lots = 5.01
    assert router.problem(Target(BUY, 500, 100)) is Reason.BELOW_MIN_NOTIONAL
    assert router.problem(Target(BUY, 501, 100)) is None


# -- rule 3: matching -----------------------------------------------------------------------
def test_plan_matches_intent_key_before_nearer_price() -> None:
    keyed, near = rest(BUY, 90, 10, tag="bid1"), rest(BUY, 100, 10)
    plan = SmartOrderRouter(INST).plan([Target(BUY, 10, 100, key="bid1")], [keyed, near])
    by_kind = {a.kind: a for a in plan.actions}
    assert by_kind[ActionKind.AMEND].client_order_id == keyed.client_order_id
    assert by_kind[ActionKind.CANCEL].client_order_id == near.client_order_id
    assert by_kind[ActionKind.CANCEL].reason is Reason.UNMATCHED


def test_plan_matches_nearest_price_on_the_same_side_only() -> None:
    far, near, ask = rest(BUY, 80, 10), rest(BUY, 97, 10), rest(SELL, 100, 10)
    plan = SmartOrderRouter(INST).plan([Target(BUY, 10, 100)], [far, near, ask])
    amended = [a for a in plan.actions if a.kind is ActionKind.AMEND]
    cancelled = {a.client_order_id for a in plan.actions if a.kind is ActionKind.CANCEL}
    assert [a.client_order_id for a in amended] == [near.client_order_id]
    assert cancelled == {far.client_order_id, ask.client_order_id}


def test_plan_pairs_what_an_amend_can_reach_before_what_needs_a_replace() -> None:
    maker = rest(BUY, 100, 5, post_only=True, cid="A-1")
    plain = rest(BUY, 100, 5, cid="A-2")
    plan = SmartOrderRouter(INST).plan(
        [Target(BUY, 5, 100), Target(BUY, 5, 100, post_only=True)], [maker, plain])
    assert [(a.kind, a.client_order_id) for a in plan.actions] == [
        (ActionKind.NOOP, "A-1"), (ActionKind.NOOP, "A-2")]


def test_plan_leftover_targets_are_new_and_leftover_orders_cancelled() -> None:
    old = rest(SELL, 130, 4)
    plan = SmartOrderRouter(INST).plan([Target(BUY, 3, 100, key="b")], [old])
    assert [(a.kind, a.reason) for a in plan.actions] == [
        (ActionKind.CANCEL, Reason.UNMATCHED), (ActionKind.NEW, Reason.NEW_TARGET)]


def test_plan_cancels_come_before_new_orders_on_the_same_side() -> None:
    plan = SmartOrderRouter(INST, VenueTraits(supports_amend=False)).plan(
        [Target(BUY, 5, 99, key="a", post_only=True), Target(BUY, 5, 98, key="b")],
        [rest(SELL, 150, 5, tag="x"), rest(BUY, 99, 6, tag="a")])
    kinds = [a.kind for a in plan.actions]
    assert kinds == [ActionKind.CANCEL, ActionKind.CANCEL_REPLACE, ActionKind.NEW]


# -- rule 2: trading state ------------------------------------------------------------------
def test_plan_reduce_only_keeps_reducing_side_trimmed_most_aggressive_first() -> None:
    bid = rest(BUY, 90, 5, tag="bid")
    targets = [Target(SELL, 4, 105, key="far"), Target(SELL, 3, 101, key="near"),
               Target(BUY, 5, 90, key="bid")]
    plan = SmartOrderRouter(INST).plan(targets, [bid], state=TradingState.REDUCE_ONLY,
                                       position=5)
    new = {a.target.key: a.target.quantity for a in plan.actions
           if a.kind is ActionKind.NEW and a.target}
    assert new == {"near": 3, "far": 2}      # 3 at the better price, then the 2 left
    assert [(d.target.key, d.reason) for d in plan.dropped] == [
        ("bid", Reason.WOULD_INCREASE_EXPOSURE)]
    cancel = plan.actions[0]
    assert (cancel.kind, cancel.reason, cancel.client_order_id) == (
        ActionKind.CANCEL, Reason.TARGET_DROPPED, bid.client_order_id)


def test_plan_reduce_only_counts_in_flight_orders_against_the_room() -> None:
    pending = rest(BUY, 95, 3, status="pending_cancel")
    plan = SmartOrderRouter(INST).plan([Target(BUY, 4, 96)], [pending],
                                       state=TradingState.REDUCE_ONLY, position=-5)
    new = [a for a in plan.actions if a.kind is ActionKind.NEW]
    assert [a.target.quantity for a in new if a.target] == [2]


def test_plan_reduce_only_when_flat_drops_everything() -> None:
    plan = SmartOrderRouter(INST).plan([Target(BUY, 1, 96), Target(SELL, 1, None)], [],
                                       state=TradingState.REDUCE_ONLY, position=0,
                                       reference_price=100)
    assert plan.actions == ()
    assert {d.reason for d in plan.dropped} == {Reason.WOULD_INCREASE_EXPOSURE}


def test_plan_halted_only_cancels_and_keeps_exact_matches() -> None:
    same, moved, extra = rest(BUY, 100, 5), rest(SELL, 110, 5), rest(SELL, 120, 1)
    targets = [Target(BUY, 5, 100), Target(SELL, 5, 111), Target(BUY, 2, 90)]
    plan = SmartOrderRouter(INST).plan(targets, [same, moved, extra],
                                       state=TradingState.HALTED)
    assert {a.kind for a in plan.actions} <= {ActionKind.CANCEL, ActionKind.NOOP}
    assert {a.client_order_id for a in plan.actions if a.kind is ActionKind.CANCEL} == {
        moved.client_order_id, extra.client_order_id}
    assert [(d.target, d.reason) for d in plan.dropped] == [(targets[2], Reason.HALTED)]


# -- rule 5: in-flight orders ---------------------------------------------------------------
def test_plan_never_touches_orders_with_a_request_in_flight() -> None:
    submitted = rest(BUY, 100, 5, status="submitted")
    updating = rest(SELL, 110, 5, status="pending_update")
    leaving = rest(BUY, 90, 5, status="pending_cancel")
    plan = SmartOrderRouter(INST).plan([Target(BUY, 9, 101), Target(BUY, 5, 90)],
                                       [submitted, updating, leaving])
    reasons = {a.client_order_id: (a.kind, a.reason) for a in plan.actions if a.client_order_id}
    assert reasons == {
        submitted.client_order_id: (ActionKind.NOOP, Reason.REQUEST_IN_FLIGHT),
        updating.client_order_id: (ActionKind.NOOP, Reason.REQUEST_IN_FLIGHT),
        leaving.client_order_id: (ActionKind.NOOP, Reason.CANCEL_IN_FLIGHT)}
    assert [a.target for a in plan.actions if a.kind is ActionKind.NEW] == [Target(BUY, 5, 90)]


def test_plan_ignores_closed_orders_and_refuses_other_instruments() -> None:
    router = SmartOrderRouter(INST)
    assert router.plan([], [rest(BUY, 100, 5, status="canceled")]).actions == ()
    stranger = Order(client_order_id="Z", strategy_id="s", instrument_id="BTCUSDT.SIM",
                     side=BUY, order_type=OrderType.LIMIT, quantity=1, ts_init=0, price=1)
    with pytest.raises(EngineError, match=r"BTCUSDT\.SIM"):
        router.plan([], [stranger])


def test_counters_count_every_decision_by_action_and_reason() -> None:
    router = SmartOrderRouter(INST)
    router.plan([Target(BUY, 10, 100), Target(BUY, 0, 100)], [rest(BUY, 100, 10)])
    router.plan([Target(BUY, 4, 100)], [rest(BUY, 100, 10), rest(SELL, 200, 1)])
    assert router.counters.counts == Counter({
        ("noop", "unchanged"): 1, ("drop", "non_positive_quantity"): 1,
        ("amend", "size_down_keeps_priority"): 1, ("cancel", "unmatched"): 1})
    assert router.counters.by_action() == {"amend": 1, "cancel": 1, "drop": 1, "noop": 1}


def test_venue_traits_refuse_negative_tolerances() -> None:
    with pytest.raises(ValueError, match="tolerances"):
        VenueTraits(price_tolerance=-1)


# -- properties -----------------------------------------------------------------------------
Spec = tuple[OrderSide, int, int, int, str, bool, bool, TimeInForce]
Shape = tuple[OrderSide, int | None, int, bool, bool, TimeInForce]
_TIF = st.sampled_from([TimeInForce.GTC, TimeInForce.IOC])
_targets = st.lists(st.builds(
    Target, side=st.sampled_from([BUY, SELL]), quantity=st.integers(-1, 6),
    price=st.none() | st.integers(0, 8), key=st.sampled_from(["", "", "a", "b"]),
    post_only=st.booleans(), reduce_only=st.booleans(), time_in_force=_TIF), max_size=6)
_rest_specs = st.lists(st.tuples(
    st.sampled_from([BUY, SELL]), st.integers(1, 8), st.integers(1, 6), st.integers(0, 3),
    st.sampled_from(["", "", "a", "b"]), st.booleans(), st.booleans(), _TIF), max_size=6)
_traits = st.builds(VenueTraits, supports_amend=st.booleans())
#: a minimum notional so some targets are dropped; a market order is priced at 4 ticks
GRID = Instrument(symbol="ETHUSDT", venue="SIM", price_increment=Decimal("0.1"),
                  size_increment=Decimal("0.01"), min_notional=Decimal("0.008"))
REF = 4


def _book(specs: list[Spec]) -> list[Order]:
    """Fresh orders for ``specs``, with the same ids every time (a plan names them)."""
    orders = []
    for i, (side, price, leaves, filled, tag, post_only, reduce_only, tif) in enumerate(specs):
        orders.append(rest(side, price, leaves + filled, filled=filled, tag=tag,
                           post_only=post_only, reduce_only=reduce_only, tif=tif,
                           cid=f"R-{i:02d}"))
    return orders


def _shape(o: Order | Target) -> Shape:
    leaves = o.leaves if isinstance(o, Order) else o.quantity
    return o.side, o.price, leaves, o.post_only, o.reduce_only, o.time_in_force


def _new_order(target: Target) -> Order:
    kind = OrderType.MARKET if target.price is None else OrderType.LIMIT
    order = Order(client_order_id=f"N-{next(_ids):05d}", strategy_id="s",
                  instrument_id=GRID.id, side=target.side, order_type=kind,
                  quantity=target.quantity, ts_init=0, price=target.price,
                  time_in_force=target.time_in_force, post_only=target.post_only,
                  reduce_only=target.reduce_only, tag=target.key)
    order.apply(OrderEventKind.SUBMITTED, 0)
    order.apply(OrderEventKind.ACCEPTED, 0)
    return order


def _apply(plan: Plan, book: list[Order]) -> tuple[list[list[Shape]], list[Order]]:
    """Carry the plan out on ``book``: the working orders' shapes before and after each
    action, and the orders left at the end. The cancel half of a cancel-replace is not a
    state of its own: it only ever lowers what works."""
    live = {o.client_order_id: o for o in book}
    states = [[_shape(o) for o in book]]
    for action in plan.actions:
        if action.kind in (ActionKind.CANCEL, ActionKind.CANCEL_REPLACE):
            del live[action.client_order_id]
        if action.kind is ActionKind.AMEND:
            order = live[action.client_order_id]
            order.price = action.price if action.price is not None else order.price
            order.quantity = action.quantity if action.quantity is not None else order.quantity
        if action.kind in (ActionKind.NEW, ActionKind.CANCEL_REPLACE) and action.target:
            order = _new_order(action.target)
            live[order.client_order_id] = order
        states.append([_shape(o) for o in live.values()])
    return states, list(live.values())


def _side_total(book: list[Shape], side: OrderSide) -> int:
    return sum(leaves for s, _, leaves, *_ in book if s is side)


@settings(max_examples=300, deadline=None)
@given(_targets, _rest_specs, _traits)
def test_applying_plan_yields_exactly_the_valid_targets(
        targets: list[Target], specs: list[Spec], traits: VenueTraits) -> None:
    router = SmartOrderRouter(GRID, traits)
    plan = router.plan(targets, _book(specs), reference_price=REF)
    valid = [t for t in targets if router.problem(t, REF) is None]
    final = _apply(plan, _book(specs))[0][-1]
    assert Counter(final) == Counter(map(_shape, valid))
    assert len(plan.dropped) == len(targets) - len(valid)


@settings(max_examples=300, deadline=None)
@given(_targets, _rest_specs, _traits)
def test_plan_is_minimal(targets: list[Target], specs: list[Spec],
                         traits: VenueTraits) -> None:
    """Unkeyed: as many noops as resting orders already equal to a target; no amend on a
    venue without it; no cancel-replace that an amend could have done."""
    targets = [replace(t, key="") for t in targets]
    book = _book([(*spec[:4], "", *spec[5:]) for spec in specs])
    router = SmartOrderRouter(GRID, traits)
    plan = router.plan(targets, book, reference_price=REF)
    valid = [t for t in targets if router.problem(t, REF) is None]
    same = Counter(map(_shape, book)) & Counter(map(_shape, valid))
    assert sum(a.kind is ActionKind.NOOP for a in plan.actions) == sum(same.values())
    by_id = {o.client_order_id: o for o in book}
    for action in plan.actions:
        if not traits.supports_amend:
            assert action.kind is not ActionKind.AMEND
        elif action.kind is ActionKind.CANCEL_REPLACE:
            order, target = by_id[action.client_order_id], action.target
            assert target is not None
            assert target.price is None or (order.post_only, order.reduce_only,
                                            order.time_in_force) != (
                target.post_only, target.reduce_only, target.time_in_force)


@settings(max_examples=300, deadline=None)
@given(_targets, _rest_specs, _traits)
def test_plan_never_briefly_holds_more_than_before_or_after(
        targets: list[Target], specs: list[Spec], traits: VenueTraits) -> None:
    plan = SmartOrderRouter(GRID, traits).plan(targets, _book(specs), reference_price=REF)
    states = _apply(plan, _book(specs))[0]
    for side in (BUY, SELL):
        bound = max(_side_total(states[0], side), _side_total(states[-1], side))
        assert all(_side_total(state, side) <= bound for state in states)


@settings(max_examples=300, deadline=None)
@given(_targets, _rest_specs, _traits, st.integers(-8, 8))
def test_reduce_only_no_request_increases_worst_case_exposure(
        targets: list[Target], specs: list[Spec], traits: VenueTraits, position: int) -> None:
    plan = SmartOrderRouter(GRID, traits).plan(
        targets, _book(specs), state=TradingState.REDUCE_ONLY, position=position,
        reference_price=REF)

    def worst(book: list[Shape]) -> int:
        return max(abs(position + _side_total(book, BUY)),
                   abs(position - _side_total(book, SELL)))

    states = _apply(plan, _book(specs))[0]
    for before, after in itertools.pairwise(states):
        assert worst(after) <= max(worst(before), abs(position))
    assert worst(states[-1]) <= abs(position)  # no mix of fills can pass through zero


@settings(max_examples=200, deadline=None)
@given(_targets, _rest_specs)
def test_halted_plans_only_cancels(targets: list[Target], specs: list[Spec]) -> None:
    plan = SmartOrderRouter(GRID).plan(targets, _book(specs), state=TradingState.HALTED,
                                       reference_price=REF)
    assert {a.kind for a in plan.actions} <= {ActionKind.CANCEL, ActionKind.NOOP}


@settings(max_examples=300, deadline=None)
@given(_targets, _rest_specs, _traits, st.sampled_from(list(TradingState)),
       st.integers(-8, 8))
def test_planning_again_after_applying_gives_only_noops(
        targets: list[Target], specs: list[Spec], traits: VenueTraits, state: TradingState,
        position: int) -> None:
    """Limit targets only: a market order does not rest, so asking again is a new order."""
    targets = [t for t in targets if t.price is not None]
    router = SmartOrderRouter(GRID, traits)
    plan = router.plan(targets, _book(specs), state=state, position=position,
                       reference_price=REF)
    applied = _apply(plan, _book(specs))[1]
    again = router.plan(targets, applied, state=state, position=position,
                        reference_price=REF)
    assert again.is_noop, again.actions


@settings(max_examples=200, deadline=None)
@given(_targets, _rest_specs, _traits, st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_the_order_of_resting_orders(
        targets: list[Target], specs: list[Spec], traits: VenueTraits,
        rng: random.Random) -> None:
    book = _book(specs)
    shuffled = list(book)
    rng.shuffle(shuffled)
    router = SmartOrderRouter(GRID, traits)
    assert router.plan(targets, book, reference_price=REF) == \
        router.plan(targets, shuffled, reference_price=REF)
