"""Orders and their lifecycle, driven by an explicit transition table.

Every status change of an order is the result of an event applied through
:data:`TRANSITIONS`; anything not in the table raises
:class:`~heron.errors.InvalidStateTransition`. The table is the whole lifecycle,
readable in one screen and tested exhaustively, so backtest, paper and live can
never disagree about what an order may do next.

Prices and sizes are ``int`` ticks and lots of the order's instrument.
"""

from __future__ import annotations

import enum
from decimal import Decimal

from heron.errors import InvalidStateTransition

#: strategy id of what the venue itself originates (liquidation orders, funding)
VENUE_ORIGIN = "venue"


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"              # stop-market: becomes a market order when the trigger trades
    STOP_LIMIT = "stop_limit"  # becomes a limit order when the trigger trades


class TimeInForce(enum.StrEnum):
    GTC = "gtc"  # rests until filled or canceled
    IOC = "ioc"  # fills what it can at once, the rest is canceled
    FOK = "fok"  # fills completely at once or not at all


class OrderStatus(enum.StrEnum):
    INITIALIZED = "initialized"
    SUBMITTED = "submitted"
    DENIED = "denied"              # stopped by heron's risk engine before any venue saw it
    ACCEPTED = "accepted"
    REJECTED = "rejected"          # refused by the venue
    TRIGGERED = "triggered"        # a stop-limit whose trigger traded; now a resting limit
    PENDING_CANCEL = "pending_cancel"
    PENDING_UPDATE = "pending_update"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"

    @property
    def is_closed(self) -> bool:
        return self in _CLOSED

    @property
    def is_open(self) -> bool:
        return self in _OPEN


_CLOSED = frozenset({OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED,
                     OrderStatus.CANCELED, OrderStatus.EXPIRED})
_OPEN = frozenset({OrderStatus.ACCEPTED, OrderStatus.TRIGGERED, OrderStatus.PENDING_CANCEL,
                   OrderStatus.PENDING_UPDATE, OrderStatus.PARTIALLY_FILLED})


class OrderEventKind(enum.StrEnum):
    """The triggers of the state machine (one per order event type)."""

    SUBMITTED = "submitted"
    DENIED = "denied"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TRIGGERED = "triggered"
    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REJECTED = "cancel_rejected"
    CANCELED = "canceled"
    UPDATE_REQUESTED = "update_requested"
    UPDATE_REJECTED = "update_rejected"
    UPDATED = "updated"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    EXPIRED = "expired"


_S = OrderStatus
_E = OrderEventKind
#: ``(status, event) -> new status``. ``None`` means "back to the status before the
#: pending request" (a rejected cancel or amend leaves the order as it was).
TRANSITIONS: dict[tuple[OrderStatus, OrderEventKind], OrderStatus | None] = {
    (_S.INITIALIZED, _E.SUBMITTED): _S.SUBMITTED,
    (_S.INITIALIZED, _E.DENIED): _S.DENIED,
    (_S.SUBMITTED, _E.ACCEPTED): _S.ACCEPTED,
    (_S.SUBMITTED, _E.REJECTED): _S.REJECTED,
    # A venue may fill or cancel (IOC/FOK) before its acknowledgement arrives.
    (_S.SUBMITTED, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
    (_S.SUBMITTED, _E.FILLED): _S.FILLED,
    (_S.SUBMITTED, _E.CANCELED): _S.CANCELED,
    (_S.SUBMITTED, _E.EXPIRED): _S.EXPIRED,
}
for _open in (_S.ACCEPTED, _S.TRIGGERED, _S.PARTIALLY_FILLED):
    TRANSITIONS.update({
        (_open, _E.CANCEL_REQUESTED): _S.PENDING_CANCEL,
        (_open, _E.UPDATE_REQUESTED): _S.PENDING_UPDATE,
        (_open, _E.UPDATED): _open,
        (_open, _E.CANCELED): _S.CANCELED,
        (_open, _E.EXPIRED): _S.EXPIRED,
        (_open, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_open, _E.FILLED): _S.FILLED,
    })
TRANSITIONS[(_S.ACCEPTED, _E.TRIGGERED)] = _S.TRIGGERED
for _pending, _rejected in ((_S.PENDING_CANCEL, _E.CANCEL_REJECTED),
                            (_S.PENDING_UPDATE, _E.UPDATE_REJECTED)):
    TRANSITIONS.update({
        (_pending, _rejected): None,
        (_pending, _E.CANCELED): _S.CANCELED,
        (_pending, _E.EXPIRED): _S.EXPIRED,
        (_pending, _E.PARTIALLY_FILLED): _S.PARTIALLY_FILLED,
        (_pending, _E.FILLED): _S.FILLED,
        (_pending, _E.TRIGGERED): _S.TRIGGERED,
    })
TRANSITIONS[(_S.PENDING_UPDATE, _E.UPDATED)] = None
TRANSITIONS[(_S.PENDING_UPDATE, _E.CANCELED)] = _S.CANCELED
# Requests that overlap. A cancel may follow an amend still in flight (the kill switch
# cancels every working order): the order is on its way out, and the amend's answer, when
# it comes, changes its shape, not that. A second amend is sent after the first; the
# order is back from pending at the first answer. (A cancel while a cancel is in flight
# is not sent at all: see ``SimNode._request``.)
TRANSITIONS[(_S.PENDING_UPDATE, _E.CANCEL_REQUESTED)] = _S.PENDING_CANCEL
TRANSITIONS[(_S.PENDING_UPDATE, _E.UPDATE_REQUESTED)] = _S.PENDING_UPDATE
TRANSITIONS[(_S.PENDING_CANCEL, _E.UPDATED)] = _S.PENDING_CANCEL
del _open, _pending, _rejected
_PENDING = frozenset({_S.PENDING_CANCEL, _S.PENDING_UPDATE})


class Order:
    """A mutable order record owned by the order manager; strategies only read it.

    ``quantity`` is in lots. An order sized as a fraction of equity has
    ``quantity == 0`` and ``equity_fraction`` set until the venue sizes it at fill
    time (the convention backtesting.py uses for ``size < 1``).
    """

    __slots__ = (
        "avg_px_num", "client_order_id", "equity_fraction", "filled", "instrument_id",
        "order_type", "post_only", "price", "quantity", "reduce_only", "side", "status",
        "status_before_pending", "strategy_id", "tag", "time_in_force", "trigger_price",
        "ts_closed", "ts_init", "venue_order_id",
    )

    def __init__(
        self, *, client_order_id: str, strategy_id: str, instrument_id: str, side: OrderSide,
        order_type: OrderType, quantity: int, ts_init: int, price: int | None = None,
        trigger_price: int | None = None, time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False, reduce_only: bool = False,
        equity_fraction: Decimal | None = None, tag: str = "",
    ) -> None:
        self.client_order_id = client_order_id
        self.strategy_id = strategy_id
        self.instrument_id = instrument_id
        self.side = side
        self.order_type = order_type
        self.quantity = quantity
        self.price = price
        self.trigger_price = trigger_price
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.equity_fraction = equity_fraction
        self.tag = tag
        self.ts_init = ts_init
        self.ts_closed = 0
        self.status = OrderStatus.INITIALIZED
        self.status_before_pending = OrderStatus.INITIALIZED
        self.filled = 0
        self.avg_px_num = 0  # sum(ticks * lots) of fills; avg price = avg_px_num / filled
        self.venue_order_id = ""

    @property
    def leaves(self) -> int:
        """Lots still to fill (0 for a fraction-sized order before it is sized)."""
        return max(self.quantity - self.filled, 0)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_closed(self) -> bool:
        return self.status.is_closed

    def apply(self, kind: OrderEventKind, ts: int) -> OrderStatus:
        """Move to the status the table gives for ``kind``; raise if it gives none."""
        try:
            target = TRANSITIONS[(self.status, kind)]
        except KeyError:
            raise InvalidStateTransition(
                f"order {self.client_order_id}: event {kind.value!r} is not allowed "
                f"when {self.status.value!r}") from None
        if target is None:
            target = self.status_before_pending
        elif target in _PENDING and self.status not in _PENDING:  # where a refusal returns
            self.status_before_pending = self.status
        self.status = target
        if target.is_closed:
            self.ts_closed = ts
        return target

    def record_fill(self, lots: int, ticks: int) -> None:
        self.filled += lots
        self.avg_px_num += lots * ticks

    def __repr__(self) -> str:
        return (f"Order({self.client_order_id} {self.side.value} {self.order_type.value} "
                f"{self.quantity} lots @ {self.price} {self.status.value})")
