"""Commands and events: the immutable record of what heron decided and what venues said.

Every struct here is journaled. They are ``msgspec`` structs tagged by class name so a
journal row decodes back to the right type without a lookup table, and so encoding
stays cheap enough to journal every event of a million-bar backtest.

Prices are ``int`` ticks, sizes ``int`` lots of the instrument named by
``instrument_id``; money is an ``int`` at the run's money precision (stored in the
journal header). ``ts_event`` is when it happened at the venue, ``ts_init`` when
heron created the record; both are ns since the epoch.
"""

from __future__ import annotations

import msgspec

from heron.model.orders import OrderSide, OrderType, TimeInForce


class Record(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    """Base of everything journaled."""

    ts_event: int
    ts_init: int


# -- commands: what a strategy asked for ----------------------------------------------------
class SubmitOrder(Record, frozen=True, tag=True):
    client_order_id: str
    strategy_id: str
    instrument_id: str
    side: OrderSide
    order_type: OrderType
    quantity: int                 # lots; 0 when sized at fill from equity_fraction
    price: int | None = None      # limit price, ticks
    trigger_price: int | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    equity_fraction: str | None = None  # decimal string, e.g. "0.9999"
    tag: str = ""
    # ticks the strategy saw when it decided (last bar close, trade or mid), for slippage;
    # last so that journals written before it decode (array_like: a missing tail = default)
    decision_price: int | None = None


class CancelOrder(Record, frozen=True, tag=True):
    client_order_id: str
    strategy_id: str
    instrument_id: str


class AmendOrder(Record, frozen=True, tag=True):
    client_order_id: str
    strategy_id: str
    instrument_id: str
    quantity: int | None = None
    price: int | None = None
    trigger_price: int | None = None


class CancelAllOrders(Record, frozen=True, tag=True):
    strategy_id: str
    instrument_id: str


# -- order events: what the venue (or risk) answered ----------------------------------------
class OrderEvent(Record, frozen=True, tag=True):
    client_order_id: str
    instrument_id: str


class OrderSubmitted(OrderEvent, frozen=True, tag=True):
    pass


class OrderDenied(OrderEvent, frozen=True, tag=True):
    reason: str
    rule: str = ""  # the risk rule that denied it; last, so older journals still decode


class OrderAccepted(OrderEvent, frozen=True, tag=True):
    venue_order_id: str


class OrderRejected(OrderEvent, frozen=True, tag=True):
    reason: str


class OrderTriggered(OrderEvent, frozen=True, tag=True):
    pass


class OrderCancelRequested(OrderEvent, frozen=True, tag=True):
    pass


class OrderCanceled(OrderEvent, frozen=True, tag=True):
    reason: str = ""


class OrderCancelRejected(OrderEvent, frozen=True, tag=True):
    reason: str


class OrderUpdateRequested(OrderEvent, frozen=True, tag=True):
    pass


class OrderUpdated(OrderEvent, frozen=True, tag=True):
    quantity: int
    price: int | None
    trigger_price: int | None


class OrderUpdateRejected(OrderEvent, frozen=True, tag=True):
    reason: str


class OrderExpired(OrderEvent, frozen=True, tag=True):
    pass


class OrderFilled(OrderEvent, frozen=True, tag=True):
    """One execution. ``fee`` is money raw; ``liquidity`` is ``"maker"`` or ``"taker"``."""

    venue_order_id: str
    trade_id: str
    strategy_id: str
    side: OrderSide
    last_qty: int
    last_px: int
    fee: int
    liquidity: str
    order_qty: int   # the order's total size after this fill was sized (lots)


# -- account events --------------------------------------------------------------------------
class FundingApplied(Record, frozen=True, tag=True):
    """Perpetual funding paid (negative ``amount``) or received on a position."""

    instrument_id: str
    strategy_id: str
    rate: str        # decimal string, as published
    mark_px: int     # ticks
    position: int    # signed lots at the funding time
    amount: int      # money raw, signed, credited to the balance


class PositionLiquidated(Record, frozen=True, tag=True):
    """The venue closed a position that fell below maintenance margin."""

    instrument_id: str
    strategy_id: str
    client_order_id: str
    equity: int      # money raw at the trigger
    maintenance: int # money raw required


class AccountState(Record, frozen=True, tag=True):
    """The venue's wallet balance, adopted by reconciliation (the venue is the truth).

    ``total`` and ``free`` are money raw at the run's money precision; the portfolio
    sets its balance to ``total`` and keeps the jump (what heron's own events did not
    explain: fees in another currency, transfers, unjournaled funding) observable.
    """

    venue: str
    currency: str
    total: int       # money raw: wallet balance without unrealised PnL
    free: int        # money raw: available for new orders
    reason: str = ""


class TradingStateChanged(Record, frozen=True, tag=True):
    """The run's trading state moved (heron.risk.state): never silently.

    ``trigger`` names what moved it (``hard_drawdown``, ``manual`` ...), ``reason`` says
    why in words, ``evidence`` is a JSON object of strings (the numbers behind it).
    """

    from_state: str
    to_state: str
    trigger: str
    reason: str
    evidence: str = "{}"


class ClientIdsReserved(Record, frozen=True, tag=True):
    """The run may number its client order ids up to ``up_to``: journaled and committed
    before the first id of the block is handed out (live runs).

    Why: a live run commits its journal every 100 ms, so a crash can lose the records of
    its last orders after their requests left. Numbering a restarted run's ids from the
    orders its journal holds would then give new orders ids the venue already has (an
    open one's: refused as a duplicate, or taken for it; a closed one's: two orders under
    one id). A restart numbers from past the last block instead."""

    up_to: int


ORDER_EVENT_TYPES: tuple[type[OrderEvent], ...] = (
    OrderSubmitted, OrderDenied, OrderAccepted, OrderRejected, OrderTriggered,
    OrderCancelRequested, OrderCanceled, OrderCancelRejected, OrderUpdateRequested,
    OrderUpdated, OrderUpdateRejected, OrderExpired, OrderFilled,
)
JournalRecord = (
    SubmitOrder | CancelOrder | AmendOrder | CancelAllOrders | OrderSubmitted | OrderDenied
    | OrderAccepted | OrderRejected | OrderTriggered | OrderCancelRequested | OrderCanceled
    | OrderCancelRejected | OrderUpdateRequested | OrderUpdated | OrderUpdateRejected
    | OrderExpired | OrderFilled | FundingApplied | PositionLiquidated | AccountState
    | TradingStateChanged | ClientIdsReserved
)
