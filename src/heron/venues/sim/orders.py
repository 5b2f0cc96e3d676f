"""The simulated venue's own record of a working order (the venue's side of the seam)."""

from __future__ import annotations

from fractions import Fraction

from heron.model.events import SubmitOrder
from heron.model.orders import OrderSide, OrderType, TimeInForce


class SimOrder:
    """A working order as the simulated venue sees it; mutated only by the venue."""

    __slots__ = (
        "arrived",
        "client_order_id",
        "filled",
        "fraction",
        "instrument_id",
        "is_buy",
        "order_type",
        "post_only",
        "price",
        "quantity",
        "reduce_only",
        "seq",
        "side",
        "strategy_id",
        "sweeping",
        "time_in_force",
        "trigger",
        "triggered",
        "venue_order_id",
    )

    def __init__(self, cmd: SubmitOrder, venue_order_id: str, seq: int) -> None:
        self.client_order_id = cmd.client_order_id
        self.strategy_id = cmd.strategy_id
        self.instrument_id = cmd.instrument_id
        self.venue_order_id = venue_order_id
        self.side = cmd.side
        self.is_buy = cmd.side is OrderSide.BUY
        self.order_type = cmd.order_type
        self.quantity = cmd.quantity
        self.filled = 0
        self.price = cmd.price
        self.trigger = cmd.trigger_price
        self.triggered = cmd.order_type in (OrderType.MARKET, OrderType.LIMIT)
        self.time_in_force = cmd.time_in_force
        self.post_only = cmd.post_only
        self.reduce_only = cmd.reduce_only
        self.fraction = Fraction(cmd.equity_fraction) if cmd.equity_fraction else None
        self.arrived = False
        self.sweeping = False  # taking several book levels: IOC/FOK expire after the last
        self.seq = seq

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    @property
    def is_limit(self) -> bool:
        """Does it rest at a price once triggered (limit, or a triggered stop-limit)?"""
        return self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def is_immediate(self) -> bool:
        return self.time_in_force is not TimeInForce.GTC
