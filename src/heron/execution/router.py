"""The smart order router: the smallest set of changes that turns resting orders into targets.

A strategy says what it wants working on one instrument (a set of :class:`Target`); the
order manager knows what rests there now (heron :class:`~heron.model.orders.Order`). The
router compares the two and returns a :class:`Plan`: one :class:`Action` per decision
(noop, amend, cancel-replace, new, cancel), each with a :class:`Reason`. It is a pure,
deterministic function of its inputs: no I/O, no clock, no ids. Turning actions into
``SubmitOrder``/``AmendOrder``/``CancelOrder`` commands, and logging them, is the caller's
job, because that is where client order ids and the journal live.

Why a planner at all: cancel-and-replace where an amend would do costs queue priority,
rate-limit weight and a window in which the order is not working (freqtrade's long-open
request), and a plan that sends the new order before the cancel briefly doubles exposure.

Rules, in the order they are applied
------------------------------------

1. **Grid.** Prices are int ticks and sizes int lots, so every target is on the tick/lot
   grid by construction. A target is *dropped* (never sent) when its quantity or price
   is not positive, it is a post-only market order, its quantity is below the
   instrument's minimum (rounded up to whole lots), or its notional (limit price, or the
   caller's ``reference_price`` for a market order) is below the minimum notional. A
   market target with no reference price is dropped when a minimum notional applies.
2. **Trading state** (:class:`TradingState`). ``REDUCE_ONLY``: the orders left working
   after the plan must never be able to increase ``|position|``, whatever fills: targets
   on the side that adds exposure are dropped, and targets on the reducing side are
   trimmed, most aggressive first, to ``|position|`` less what in-flight orders on that
   side could still fill (a conservative count). ``HALTED``: only cancels: a resting
   order that would need any change is cancelled instead, targets that would need a new
   order are dropped; a resting order that already equals a target is left alone.
3. **Matching** targets to resting orders, one to one and on the same side: first by
   intent key (``Target.key`` against ``Order.tag``; a new order should carry its key as
   its tag), then greedily by smallest price distance, then smallest size difference,
   with target position and client order id as tie-breaks; a pair an amend can join
   (same type and flags) goes before one that needs a cancel-replace. Exact matches
   therefore pair first. Market targets and resting non-limit orders only match by key.
   Leftover resting orders are cancelled; leftover targets become new orders.
4. **One decision per pair** (queue priority: a price change or a size increase loses
   priority on every venue; a size decrease at the same price keeps it on most, e.g.
   Binance's "amend keep priority", NautilusTrader's ``PriceOrQuantityIncrease`` reset
   policy):

   - same price (within ``price_tolerance`` ticks) and same leaves: **noop**;
   - same price, leaves decrease by at most ``quantity_tolerance`` lots: **noop** (only in
     ``NORMAL``: elsewhere it would leave more working than allowed);
   - same price, leaves decrease: **amend** the size down (keeps priority);
   - price moves or leaves increase: **amend** when the venue supports amend;
   - anything amend cannot express (order type, side, post-only, reduce-only, time in
     force), or any change when the venue has no amend: **cancel-replace**.

   An amend carries the new *total* quantity (``filled + target leaves``), which is what
   venues and :class:`~heron.venues.sim.venue.SimVenue` expect.
5. **In-flight orders** are never touched: a submitted or pending-update order matches
   as usual but gets a noop (``request_in_flight``); a pending-cancel order is not
   matched (it is leaving) and gets a noop (``cancel_in_flight``). Closed orders are
   ignored.
6. **Order of the plan**: cancels; then amends and cancel-replaces that shrink what works
   on their side, then those that keep it, then those that grow it; then new orders;
   then noops (each step by side, price and id). Executed in this order, the lots
   working on a side never exceed the larger of before and after: a plan never briefly
   doubles exposure. The new order of a cancel-replace is sent once the cancel is
   acknowledged (the executor's part).

"Minimal" means: for every matched pair the cheapest action that reaches the target
(noop < amend < cancel-replace), and a resting order that already equals a target is
never touched (exact pairs match first). It is not a global optimum over all matchings.

Every decision, drops included, is counted in :class:`RouterCounters` by action and reason.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from heron.errors import EngineError
from heron.model.fixed import EXACT, decimals_of
from heron.model.instrument import Instrument
from heron.model.orders import Order, OrderSide, OrderStatus, OrderType, TimeInForce


class TradingState(enum.StrEnum):
    """What the risk engine currently allows (the router never loosens it)."""

    NORMAL = "normal"
    REDUCE_ONLY = "reduce_only"  # nothing may increase |position|, counting resting orders
    HALTED = "halted"            # only cancels


class ActionKind(enum.StrEnum):
    NOOP = "noop"
    AMEND = "amend"
    CANCEL_REPLACE = "cancel_replace"
    NEW = "new"
    CANCEL = "cancel"


class Reason(enum.StrEnum):
    """Why: one value per rule, so counters are stable across runs."""

    UNCHANGED = "unchanged"
    WITHIN_TOLERANCE = "within_tolerance"
    REQUEST_IN_FLIGHT = "request_in_flight"
    CANCEL_IN_FLIGHT = "cancel_in_flight"
    SIZE_DOWN = "size_down_keeps_priority"
    SIZE_UP = "size_up"
    REPRICE = "reprice"
    NO_AMEND = "venue_has_no_amend"
    NOT_AMENDABLE = "change_not_amendable"
    NEW_TARGET = "new_target"
    UNMATCHED = "unmatched"
    TARGET_DROPPED = "target_dropped"
    HALTED = "halted"
    # drops: a target that is never sent
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    NON_POSITIVE_PRICE = "non_positive_price"
    POST_ONLY_MARKET = "post_only_market"
    BELOW_MIN_QUANTITY = "below_min_quantity"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    NO_REFERENCE_PRICE = "no_reference_price"
    WOULD_INCREASE_EXPOSURE = "would_increase_exposure"


@dataclass(frozen=True, slots=True)
class Target:
    """One order the strategy wants working: ``quantity`` lots still to fill (leaves),
    ``price`` in ticks or ``None`` for a market order, ``key`` its intent (e.g. "bid1")."""

    side: OrderSide
    quantity: int
    price: int | None = None
    key: str = ""
    post_only: bool = False
    reduce_only: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC

    @property
    def order_type(self) -> OrderType:
        return OrderType.MARKET if self.price is None else OrderType.LIMIT


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan.

    ``client_order_id`` names the resting order (all kinds but ``NEW``); ``target`` is the
    grid-valid target reached (all kinds but ``CANCEL``). For ``AMEND``, ``price`` and
    ``quantity`` are the new price and new *total* quantity, ``None`` where unchanged.
    ``change`` is what the action does to the lots working on its side (0 for a noop).
    """

    kind: ActionKind
    reason: Reason
    side: OrderSide
    client_order_id: str = ""
    target: Target | None = None
    price: int | None = None
    quantity: int | None = None
    change: int = 0


@dataclass(frozen=True, slots=True)
class Dropped:
    """A target that will not be sent, and why."""

    target: Target
    reason: Reason


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...]
    dropped: tuple[Dropped, ...] = ()

    @property
    def is_noop(self) -> bool:
        """Nothing to send (drops may still be worth reporting)."""
        return all(a.kind is ActionKind.NOOP for a in self.actions)


@dataclass(slots=True)
class RouterCounters:
    """Decisions by ``(action, reason)``; drops count under the action ``"drop"``."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, plan: Plan) -> None:
        counts = self.counts  # the members are str: (kind, reason) == ("new", "new_target")
        for action in plan.actions:
            counts[(action.kind, action.reason)] += 1
        for drop in plan.dropped:
            counts[("drop", drop.reason)] += 1

    def by_action(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (kind, _), n in self.counts.items():
            totals[kind] += n
        return dict(sorted(totals.items()))


@dataclass(frozen=True, slots=True)
class VenueTraits:
    """What the venue can do, and how much difference is worth no request at all.

    ``quantity_tolerance`` (lots) leaves a same-price order alone when its leaves are at
    most that much above the target; ``price_tolerance`` (ticks) treats a price that close
    as unchanged (Hummingbot's ``order_refresh_tolerance_pct``, in ticks).
    """

    supports_amend: bool = True
    quantity_tolerance: int = 0
    price_tolerance: int = 0

    def __post_init__(self) -> None:
        if self.quantity_tolerance < 0 or self.price_tolerance < 0:
            raise ValueError("router tolerances must be >= 0")


_BUSY = frozenset({OrderStatus.INITIALIZED, OrderStatus.SUBMITTED, OrderStatus.PENDING_UPDATE})
_RANK = {ActionKind.CANCEL: 0, ActionKind.NEW: 4, ActionKind.NOOP: 5}


class SmartOrderRouter:
    """Plans the changes for one instrument; holds only its grid limits and counters."""

    def __init__(self, instrument: Instrument, traits: VenueTraits | None = None) -> None:
        self.instrument = instrument
        self.traits = traits or VenueTraits()
        self.counters = RouterCounters()
        self.min_lots = max(_ceil_div(instrument.min_quantity, instrument.size_increment), 1)
        step = Decimal(1).scaleb(-instrument.notional_precision, EXACT)
        self.min_notional_raw = _ceil_div(instrument.min_notional, step)

    def plan(self, targets: Sequence[Target], resting: Iterable[Order], *,
             state: TradingState = TradingState.NORMAL, position: int = 0,
             reference_price: int | None = None) -> Plan:
        """The plan from ``resting`` to ``targets``; ``position`` is signed lots."""
        orders = self._open_orders(resting)
        valid, dropped = self._screen(targets, reference_price)
        if state is TradingState.REDUCE_ONLY:
            valid, risk_dropped = self._fit_reduce_only(valid, orders, position,
                                                        reference_price)
            dropped += risk_dropped
        leaving = [o for o in orders if o.status is OrderStatus.PENDING_CANCEL]
        matchable = [o for o in orders if o.status is not OrderStatus.PENDING_CANCEL]
        pairs, spare_targets, spare_orders = _match(valid, matchable)
        actions = [Action(ActionKind.NOOP, Reason.CANCEL_IN_FLIGHT, o.side, o.client_order_id)
                   for o in leaving]
        actions += [self._decide(order, target, state) for target, order in pairs]
        dropped_keys = {d.target.key for d in dropped if d.target.key}
        actions += [_leftover(order, state, dropped_keys) for order in spare_orders]
        for target in spare_targets:
            if state is TradingState.HALTED:
                dropped.append(Dropped(target, Reason.HALTED))
            else:
                actions.append(Action(ActionKind.NEW, Reason.NEW_TARGET, target.side,
                                      target=target, change=target.quantity))
        plan = Plan(tuple(sorted(actions, key=_action_order) if len(actions) > 1
                          else actions), tuple(dropped))
        self.counters.record(plan)
        return plan

    def _open_orders(self, resting: Iterable[Order]) -> list[Order]:
        orders = []
        for order in resting:
            if order.instrument_id != self.instrument.id:
                raise EngineError(f"router for {self.instrument.id} was given order "
                                  f"{order.client_order_id} on {order.instrument_id}")
            if not order.is_closed:
                orders.append(order)
        return orders

    # -- rule 1: grid ----------------------------------------------------------------------
    def problem(self, target: Target, reference_price: int | None = None) -> Reason | None:
        """Why ``target`` cannot be sent as it is, or ``None`` when it can."""
        if target.quantity <= 0:
            return Reason.NON_POSITIVE_QUANTITY
        if target.price is not None and target.price <= 0:
            return Reason.NON_POSITIVE_PRICE
        if target.post_only and target.price is None:
            return Reason.POST_ONLY_MARKET
        if target.quantity < self.min_lots:
            return Reason.BELOW_MIN_QUANTITY
        if self.min_notional_raw:
            price = target.price if target.price is not None else reference_price
            if price is None:
                return Reason.NO_REFERENCE_PRICE
            if self.instrument.notional_raw(price, target.quantity) < self.min_notional_raw:
                return Reason.BELOW_MIN_NOTIONAL
        return None

    def _screen(self, targets: Sequence[Target], reference_price: int | None
                ) -> tuple[list[Target], list[Dropped]]:
        valid: list[Target] = []
        dropped: list[Dropped] = []
        for target in targets:
            reason = self.problem(target, reference_price)
            if reason is None:
                valid.append(target)
            else:
                dropped.append(Dropped(target, reason))
        return valid, dropped

    # -- rule 2: reduce-only -----------------------------------------------------------------
    def _fit_reduce_only(self, targets: list[Target], orders: list[Order], position: int,
                         reference_price: int | None) -> tuple[list[Target], list[Dropped]]:
        """Keep only what reduces ``|position|``, trimmed so no mix of fills can pass zero.

        In-flight orders on the reducing side might still fill, so their leaves come off
        the room first; targets are then served most aggressive first.
        """
        reducing = OrderSide.SELL if position > 0 else OrderSide.BUY
        room = abs(position) - sum(o.leaves for o in orders
                                   if o.side is reducing and _in_flight(o))
        kept: list[tuple[int, Target]] = []
        dropped: list[Dropped] = []
        for index, target in sorted(enumerate(targets), key=_aggressive_first):
            if target.side is not reducing or room <= 0:
                dropped.append(Dropped(target, Reason.WOULD_INCREASE_EXPOSURE))
                continue
            fitted = target if target.quantity <= room else replace(target, quantity=room)
            reason = self.problem(fitted, reference_price)
            if reason is not None:
                dropped.append(Dropped(fitted, reason))
                continue
            kept.append((index, fitted))
            room -= fitted.quantity
        kept.sort(key=lambda pair: pair[0])  # back to the caller's order: stable matching
        return [target for _, target in kept], dropped

    # -- rule 4: one decision per pair ------------------------------------------------------
    def _decide(self, order: Order, target: Target, state: TradingState) -> Action:
        if order.status in _BUSY:
            return Action(ActionKind.NOOP, Reason.REQUEST_IN_FLIGHT, order.side,
                          order.client_order_id, target)
        action = self._change(order, target, state)
        if state is TradingState.HALTED and action.kind is not ActionKind.NOOP:
            return Action(ActionKind.CANCEL, Reason.HALTED, order.side, order.client_order_id,
                          change=-order.leaves)
        return action

    def _change(self, order: Order, target: Target, state: TradingState) -> Action:
        cid, side = order.client_order_id, order.side
        delta = target.quantity - order.leaves
        if order.price is None or target.price is None or not _amendable_to(order, target):
            return Action(ActionKind.CANCEL_REPLACE, Reason.NOT_AMENDABLE, side, cid, target,
                          change=delta)
        moved = abs(target.price - order.price) > self.traits.price_tolerance
        if not moved and delta == 0:
            reason = Reason.UNCHANGED if target.price == order.price else Reason.WITHIN_TOLERANCE
            return Action(ActionKind.NOOP, reason, side, cid, target)
        if (not moved and delta < 0 and -delta <= self.traits.quantity_tolerance
                and state is TradingState.NORMAL):
            return Action(ActionKind.NOOP, Reason.WITHIN_TOLERANCE, side, cid, target)
        if not self.traits.supports_amend:
            return Action(ActionKind.CANCEL_REPLACE, Reason.NO_AMEND, side, cid, target,
                          change=delta)
        reason = Reason.REPRICE if moved else Reason.SIZE_DOWN if delta < 0 else Reason.SIZE_UP
        return Action(ActionKind.AMEND, reason, side, cid, target,
                      price=target.price if moved else None,
                      quantity=order.filled + target.quantity if delta else None, change=delta)


def _amendable_to(order: Order, target: Target) -> bool:
    """Amend changes price and size only; everything else needs a new order."""
    return (order.order_type is OrderType.LIMIT and order.side is target.side
            and order.post_only == target.post_only
            and order.reduce_only == target.reduce_only
            and order.time_in_force is target.time_in_force)


def _leftover(order: Order, state: TradingState, dropped_keys: set[str]) -> Action:
    """A resting order no target wants: cancel it, unless a request is already in flight."""
    cid = order.client_order_id
    if order.status in _BUSY:
        return Action(ActionKind.NOOP, Reason.REQUEST_IN_FLIGHT, order.side, cid)
    if state is TradingState.HALTED:
        reason = Reason.HALTED
    elif order.tag and order.tag in dropped_keys:
        reason = Reason.TARGET_DROPPED
    else:
        reason = Reason.UNMATCHED
    return Action(ActionKind.CANCEL, reason, order.side, cid, change=-order.leaves)


# -- rule 3: matching ---------------------------------------------------------------------
def _match(targets: list[Target], orders: list[Order]
           ) -> tuple[list[tuple[Target, Order]], list[Target], list[Order]]:
    """Pairs by intent key, then by nearest price; returns pairs and both leftovers."""
    if not targets or not orders:  # nothing to pair (a plain new order, a plain cancel)
        return [], targets, sorted(orders, key=lambda o: o.client_order_id)
    free_t = dict(enumerate(targets))
    free_o = {o.client_order_id: o for o in orders}
    pairs: list[tuple[Target, Order]] = []
    for by_key in (True, False):
        candidates = sorted(
            (_distance(t, o), i, o.client_order_id)
            for i, t in free_t.items() for o in free_o.values()
            if t.side is o.side and _may_pair(t, o, by_key=by_key))
        for _, i, cid in candidates:
            if i in free_t and cid in free_o:
                pairs.append((free_t.pop(i), free_o.pop(cid)))
    spare_orders = sorted(free_o.values(), key=lambda o: o.client_order_id)
    return pairs, list(free_t.values()), spare_orders


def _may_pair(target: Target, order: Order, *, by_key: bool) -> bool:
    if by_key:
        return bool(target.key) and target.key == order.tag
    return (target.price is not None and order.price is not None
            and order.order_type is OrderType.LIMIT)


def _distance(target: Target, order: Order) -> tuple[int, int, int]:
    """Cheapest pair first: an amendable pair before one that needs a cancel-replace,
    then the nearest price, then the nearest size."""
    if target.price is None or order.price is None:
        return 1, 0, abs(target.quantity - order.leaves)
    return (0 if _amendable_to(order, target) else 1, abs(target.price - order.price),
            abs(target.quantity - order.leaves))


# -- small pieces -------------------------------------------------------------------------
def _in_flight(order: Order) -> bool:
    return order.status in _BUSY or order.status is OrderStatus.PENDING_CANCEL


def _aggressive_first(item: tuple[int, Target]) -> tuple[int, int, int]:
    """Market first, then the best price for the taker (highest bid, lowest ask)."""
    index, target = item
    if target.price is None:
        return 0, 0, index
    return 1, -target.price if target.side is OrderSide.BUY else target.price, index


def _action_order(action: Action) -> tuple[int, int, str, int, str, str]:
    """Rule 6: whatever shrinks a side before whatever grows it, biggest shrink first."""
    rank = _RANK.get(action.kind)
    change = 0
    if rank is None:  # amend or cancel-replace: by the sign of the change
        rank = 1 if action.change < 0 else 2 if action.change == 0 else 3
        change = action.change
    price = action.target.price if action.target and action.target.price is not None else -1
    key = action.target.key if action.target else ""
    return rank, change, action.side.value, price, action.client_order_id, key


def _ceil_div(value: Decimal, step: Decimal) -> int:
    """``ceil(value / step)`` exactly, for non-negative decimals."""
    places = max(decimals_of(value), decimals_of(step))
    num = int(value.scaleb(places, EXACT))
    den = int(step.scaleb(places, EXACT))
    return -(-num // den)
