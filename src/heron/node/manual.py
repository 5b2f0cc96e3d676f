"""An operator's orders on a running node: a :class:`ManualCommand` made into heron commands.

The API and the dashboard place, amend and cancel orders by hand. Such an order is not
special: it becomes a ``SubmitOrder`` (or ``CancelOrder`` / ``AmendOrder``) under the
strategy id ``manual`` and goes through :meth:`SimNode.send` like any strategy's, so the
trading-state gate and the pre-trade risk engine judge it and the journal records it.
Its client order id comes from the node's counter (``<tag>-manual-<n>``), so a paper
run that replays its commands at the same input counts gets the same ids.

Prices and quantities arrive as decimal text and are put on the instrument's grid
exactly; text that is not a number, not positive or between ticks is refused with a
reply naming the key and the tick, before anything is sent. Nothing here raises into
the run's event loop: an unexpected error becomes a refusal with rule ``error``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, TypeVar

from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderAccepted,
    OrderCancelRejected,
    OrderDenied,
    OrderRejected,
    OrderUpdateRejected,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import Order, OrderSide, OrderType, TimeInForce
from heron.node.control import MANUAL_ORIGIN, CommandReply, ManualCommand
from heron.node.node import RECORDS

if TYPE_CHECKING:
    from heron.node.node import SimNode

log = logging.getLogger(__name__)
T = TypeVar("T")

SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
         "stop-limit": OrderType.STOP_LIMIT, "stop_limit": OrderType.STOP_LIMIT}
TIFS = {"gtc": TimeInForce.GTC, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TRIGGERED = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_RULE_PREFIX = re.compile(r"^([a-z_]+): ")
_ACTOR_CHARS = 64


class Refused(Exception):
    """A command refused before anything was sent: ``key`` names what is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class ManualOrders:
    """Carries out manual commands on one node (paper or live)."""

    def __init__(self, engine: SimNode, aliases: Mapping[str, str] | None = None) -> None:
        """``aliases``: other names of instruments (the run's ``--symbol`` as given, e.g.
        ``BTC/USDT:USDT``) to instrument ids; an instrument's symbol and id always work."""
        self.engine = engine
        self._by_state = False  # the last send was refused by the trading state
        self.by_name: dict[str, Instrument] = {}
        for inst in engine.instruments:
            self.by_name[inst.symbol] = self.by_name[inst.id] = inst
        for alias, iid in (aliases or {}).items():
            self.by_name.setdefault(alias, engine.portfolio.instruments[iid])
        self._actions: dict[str, Callable[[ManualCommand, str], CommandReply]] = {
            "place": self._place, "cancel": self._cancel, "amend": self._amend,
            "cancel-all": self._cancel_all}

    def apply(self, command: ManualCommand, command_id: str) -> CommandReply:
        """Carry ``command`` out now; the reply says whether it was refused at once."""
        action = self._actions.get(command.action)
        try:
            if action is None:
                raise Refused("action", f"unknown action {command.action!r}; use one of "
                              f"{', '.join(self._actions)}")
            return action(command, command_id)
        except Refused as no:
            return CommandReply(command_id, False, None, no.key, no.message)
        except Exception as exc:  # a bug must not stop the run: refuse, and say so
            log.exception("manual command %s failed", command_id)
            return CommandReply(command_id, False, None, "error",
                                f"the run could not carry out the command: {exc}")

    # -- actions -------------------------------------------------------------------------------
    def _place(self, c: ManualCommand, command_id: str) -> CommandReply:
        inst = self._instrument(c.symbol)
        side = _choice(c.side, SIDES, "side")
        kind = _choice(c.type, TYPES, "type")
        tif = _choice(c.time_in_force.lower(), TIFS, "time_in_force")
        if c.quantity is None:
            raise Refused("quantity", "a place command needs a quantity (decimal text)")
        lots = _on_grid(inst.lots, c.quantity, "quantity")
        price = _price(inst, c.price, "price", needed=kind in _PRICED, kind=kind)
        trigger = _price(inst, c.trigger_price, "trigger_price", needed=kind in _TRIGGERED,
                         kind=kind)
        engine = self.engine
        now = engine.clock.ts
        cid = engine.ids.client_order_id(MANUAL_ORIGIN)
        cmd = SubmitOrder(now, now, cid, MANUAL_ORIGIN, inst.id, side, kind, lots, price,
                          trigger, tif, c.post_only, c.reduce_only, tag=_tag(c.actor),
                          decision_price=engine.portfolio.marks.get(inst.id))
        return self._verdict(command_id, cid, self._send(cmd), "submitted")

    def _cancel(self, c: ManualCommand, command_id: str) -> CommandReply:
        order = self._order(c)
        now = self.engine.clock.ts
        cmd = CancelOrder(now, now, order.client_order_id, MANUAL_ORIGIN, order.instrument_id)
        repeated = self.engine.repeated_cancels
        seen = self._send(cmd)
        sent = ("a cancel of this order is already on its way"
                if self.engine.repeated_cancels > repeated else "cancel sent")
        return self._verdict(command_id, order.client_order_id, seen, sent)

    def _amend(self, c: ManualCommand, command_id: str) -> CommandReply:
        order = self._order(c)
        inst = self.engine.portfolio.instruments[order.instrument_id]
        if c.quantity is None and c.price is None and c.trigger_price is None:
            raise Refused("amend", "an amend needs a new quantity, price or trigger_price")
        lots = None if c.quantity is None else _on_grid(inst.lots, c.quantity, "quantity")
        price = None if c.price is None else _on_grid(inst.ticks, c.price, "price")
        trigger = (None if c.trigger_price is None
                   else _on_grid(inst.ticks, c.trigger_price, "trigger_price"))
        now = self.engine.clock.ts
        cmd = AmendOrder(now, now, order.client_order_id, MANUAL_ORIGIN, order.instrument_id,
                         lots, price, trigger)
        return self._verdict(command_id, order.client_order_id, self._send(cmd), "amend sent")

    def _cancel_all(self, c: ManualCommand, command_id: str) -> CommandReply:
        """Every open order of the run (every strategy's), or of ``symbol``: one cancel
        each, as the trading state's own "cancel everything" does."""
        iid = None if c.symbol is None else self._instrument(c.symbol).id
        orders = [o for o in list(self.engine.om.open_orders.values())
                  if iid is None or o.instrument_id == iid]
        refused = 0
        for order in orders:
            now = self.engine.clock.ts
            seen = self._send(CancelOrder(now, now, order.client_order_id, MANUAL_ORIGIN,
                                          order.instrument_id))
            refused += any(isinstance(r, OrderCancelRejected) for r in seen)
        message = f"cancel sent for {len(orders) - refused} of {len(orders)} open orders"
        return CommandReply(command_id, refused == 0, None, None if refused == 0 else "cancel",
                            message)

    # -- helpers -------------------------------------------------------------------------------
    def _instrument(self, symbol: str | None) -> Instrument:
        inst = None if symbol is None else self.by_name.get(symbol)
        if inst is None:
            names = sorted({i.symbol for i in self.by_name.values()})
            what = "no symbol given" if symbol is None else f"unknown symbol {symbol!r}"
            raise Refused("symbol", f"{what}; this run trades {', '.join(names)}")
        return inst

    def _order(self, c: ManualCommand) -> Order:
        if not c.client_order_id:
            raise Refused("client_order_id", f"a {c.action} command needs the client_order_id "
                          "of the order")
        order = self.engine.om.orders.get(c.client_order_id)
        if order is None:
            raise Refused("client_order_id", f"no order {c.client_order_id!r} in this run")
        if c.symbol is not None and self._instrument(c.symbol).id != order.instrument_id:
            raise Refused("symbol", f"order {c.client_order_id!r} is not on {c.symbol}")
        return order

    def _send(self, cmd: Record) -> list[Record]:
        """Send ``cmd`` through the node; the records it journaled meanwhile."""
        seen: list[Record] = []
        watch = seen.append
        bus = self.engine.bus
        bus.subscribe(RECORDS, watch)
        before = self.engine.denied_by_state
        try:
            self.engine.send(cmd)
        finally:
            bus.unsubscribe(RECORDS, watch)
        self._by_state = self.engine.denied_by_state > before
        return seen

    def _verdict(self, command_id: str, cid: str, seen: list[Record], sent: str
                 ) -> CommandReply:
        """Refused at once (a denial, a rejection) or sent on, from what was journaled."""
        for record in seen:
            if getattr(record, "client_order_id", None) != cid:
                continue
            if isinstance(record, OrderDenied):
                rule = "trading_state" if self._by_state else record.rule or "validity"
                return CommandReply(command_id, False, cid, rule, record.reason)
            if isinstance(record, (OrderRejected, OrderCancelRejected, OrderUpdateRejected)):
                return CommandReply(command_id, False, cid, self._rule_of(record),
                                    record.reason)
        accepted = any(isinstance(r, OrderAccepted) for r in seen)
        return CommandReply(command_id, True, cid, None, "accepted" if accepted else sent)

    def _rule_of(self, record: Record) -> str:
        if self._by_state:
            return "trading_state"
        match = _RULE_PREFIX.match(getattr(record, "reason", ""))
        if match is not None:  # the risk engine's refusals start with their rule
            return match.group(1)
        if isinstance(record, OrderCancelRejected):
            return "cancel"
        return "amend" if isinstance(record, OrderUpdateRejected) else "rejected"


def _tag(actor: str) -> str:
    """Who placed it, in the order's tag; prefixed so that no actor name can be a tag
    heron acts on (``adopted`` orders are never sent)."""
    return f"{MANUAL_ORIGIN}:{actor[:_ACTOR_CHARS]}"


def _choice(value: str | None, options: Mapping[str, T], key: str) -> T:
    hit = None if value is None else options.get(value.lower())
    if hit is None:
        raise Refused(key, f"{key} {value!r} is not one of {', '.join(options)}")
    return hit


def _on_grid(convert: Callable[[object], int], text: str, key: str) -> int:
    """``text`` as whole ticks or lots; refused when not a positive number on the grid."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise Refused(key, f"{key} {text!r} is not a decimal number; send decimal text "
                      "such as \"0.01\"") from None
    if not value.is_finite() or value <= 0:
        raise Refused(key, f"{key} {text!r} must be a positive number")
    try:
        return convert(value)
    except OffGrid as exc:
        raise Refused(key, f"{exc}; round it to that step") from None
    except (TypeError, ValueError) as exc:
        raise Refused(key, str(exc)) from None


def _price(inst: Instrument, text: str | None, key: str, *, needed: bool,
           kind: OrderType) -> int | None:
    """A limit or trigger price on the grid, given exactly when the order type takes it."""
    if text is None:
        if needed:
            raise Refused(key, f"a {kind} order needs a {key}")
        return None
    if not needed:
        raise Refused(key, f"a {kind} order takes no {key}; leave it out")
    return _on_grid(inst.ticks, text, key)


__all__ = ["ManualOrders", "Refused"]
