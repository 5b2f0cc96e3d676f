"""Orders by intent: a strategy says what it wants working, the router plans the requests.

:class:`TargetExecutor` is the caller the router's docstring asks for: it turns a
:class:`~heron.execution.router.Plan` into the node's commands (``CancelOrder``,
``AmendOrder``, ``SubmitOrder``), which are journaled like any other, logs every
decision with its reason, and keeps the rule the router leaves to its executor: the new
order of a cancel-replace is sent only once the venue has acknowledged the cancel, so the
lots working on a side never briefly double. A replacement whose cancel is refused (the
order filled meanwhile) is dropped, and the next call plans again from what then rests.

The same executor serves every mode: against the simulated venue (which amends) and
against a live venue, whose :class:`~heron.execution.router.VenueTraits` say whether it
amends (Binance, OKX, Bybit, Hyperliquid) or must cancel-replace (MEXC, Alpaca crypto).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from heron.execution.order_manager import OrderManager
from heron.execution.router import (
    Action,
    ActionKind,
    Plan,
    SmartOrderRouter,
    Target,
    TradingState,
    VenueTraits,
)
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument
from heron.model.orders import Order, OrderStatus

log = logging.getLogger(__name__)


class TargetExecutor:
    """Plans with one router per instrument and sends the plan through ``send``."""

    def __init__(self, instruments: Sequence[Instrument], om: OrderManager,
                 send: Callable[[Record], None], new_id: Callable[[str], str],
                 now: Callable[[], int], traits: VenueTraits,
                 state: Callable[[], TradingState],
                 watch: Callable[[], None] | None = None) -> None:
        self.routers = {inst.id: SmartOrderRouter(inst, traits) for inst in instruments}
        self.om = om
        self.send = send
        self.new_id = new_id
        self.now = now
        self.state = state
        self._watch = watch  # called once, when the first replacement must be watched for
        #: resting order being canceled -> the replacement to send once it is gone
        self.replacements: dict[str, tuple[str, Target]] = {}
        self._sent: dict[tuple[str, str], set[str]] = {}  # placed, maybe not yet accepted

    def execute(self, strategy_id: str, instrument_id: str, targets: Sequence[Target], *,
                reference_price: int | None = None, decision_price: int | None = None
                ) -> Plan:
        """Plan ``targets`` against the strategy's resting orders and send the plan."""
        router = self.routers[instrument_id]
        resting = self.om.open_for(instrument_id, strategy_id)
        resting += self._in_flight(strategy_id, instrument_id)
        position = self.om.portfolio.positions[instrument_id].qty
        plan = router.plan(targets, resting, state=self.state(), position=position,
                           reference_price=reference_price)
        for action in plan.actions:
            self._act(strategy_id, instrument_id, action, decision_price)
        _log(strategy_id, instrument_id, plan)  # once the requests are out, not between
        return plan

    def _in_flight(self, strategy_id: str, instrument_id: str) -> list[Order]:
        """This executor's orders still waiting for the venue's acknowledgement (kept as
        an index: scanning every order of a long run on each call grows without bound)."""
        waiting = self._sent.get((strategy_id, instrument_id))
        if not waiting:
            return []
        orders = self.om.orders
        for cid in [c for c in waiting if orders[c].status is not OrderStatus.SUBMITTED]:
            waiting.discard(cid)
        return [orders[c] for c in sorted(waiting)]

    def _act(self, strategy_id: str, iid: str, action: Action,
             decision_price: int | None) -> None:
        now = self.now()
        kind = action.kind
        if kind is ActionKind.CANCEL:
            self.send(CancelOrder(now, now, action.client_order_id, strategy_id, iid))
        elif kind is ActionKind.AMEND:
            self.send(AmendOrder(now, now, action.client_order_id, strategy_id, iid,
                                 quantity=action.quantity, price=action.price))
        elif kind is ActionKind.CANCEL_REPLACE:
            assert action.target is not None
            self.replacements[action.client_order_id] = (strategy_id, action.target)
            if self._watch is not None:
                self._watch()
                self._watch = None
            self.send(CancelOrder(now, now, action.client_order_id, strategy_id, iid))
        elif kind is ActionKind.NEW:
            assert action.target is not None
            self._new(strategy_id, iid, action.target, decision_price)

    def _new(self, strategy_id: str, iid: str, target: Target,
             decision_price: int | None) -> None:
        now = self.now()
        cid = self.new_id(strategy_id)
        self._sent.setdefault((strategy_id, iid), set()).add(cid)
        self.send(_submit(now, cid, strategy_id, iid, target, decision_price))

    def observe(self, record: Record) -> None:
        """The node's record stream: send a replacement once its cancel is done; drop it
        when the order ended otherwise (filled, or the cancel was refused)."""
        kind = type(record)
        if kind is OrderCanceled or kind is OrderExpired:
            cid: str = record.client_order_id  # type: ignore[attr-defined]
            waiting = self.replacements.pop(cid, None)
            if waiting is not None:
                strategy_id, target = waiting
                self._new(strategy_id, record.instrument_id,  # type: ignore[attr-defined]
                          target, None)
        elif kind is OrderCancelRejected or kind is OrderFilled:
            cid = record.client_order_id  # type: ignore[attr-defined]
            order = self.om.orders.get(cid)
            ended = kind is OrderCancelRejected or (order is not None and order.is_closed)
            if ended and self.replacements.pop(cid, None) is not None:
                log.info("router: replacement for %s dropped (the order %s)", cid,
                             "filled" if kind is OrderFilled else "could not be canceled")


def _log(strategy_id: str, instrument_id: str, plan: Plan) -> None:
    """Every decision of ``plan`` with its reason (the counts are the router's)."""
    if not log.isEnabledFor(logging.INFO):
        return
    for dropped in plan.dropped:
        log.info("router %s %s: drop %s (%s)", strategy_id, instrument_id,
                 dropped.target, dropped.reason.value)
    for action in plan.actions:
        if action.kind is not ActionKind.NOOP:
            log.info("router %s %s: %s %s (%s)", strategy_id, instrument_id,
                     action.kind.value, action.client_order_id or action.target,
                     action.reason.value)


def _submit(now: int, cid: str, strategy_id: str, iid: str, target: Target,
            decision_price: int | None) -> SubmitOrder:
    return SubmitOrder(now, now, cid, strategy_id, iid, target.side, target.order_type,
                       target.quantity, target.price, None, target.time_in_force,
                       target.post_only, target.reduce_only, None, target.key, decision_price)


__all__ = ["TargetExecutor"]
