"""Checks the simulated venue makes before accepting an order, as a real venue would.

Each check returns the rejection reason (one line, naming the fix) or ``None``.
A rejection becomes an ``OrderRejected`` event; nothing here raises.
"""

from __future__ import annotations

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType, TimeInForce


def check_shape(cmd: SubmitOrder) -> str | None:
    """Fields the order type needs, and only those."""
    needs_price = cmd.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_trigger = cmd.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_price and cmd.price is None:
        return f"{cmd.order_type.value} order needs a limit price"
    if not needs_price and cmd.price is not None:
        return f"{cmd.order_type.value} order takes no limit price; use a limit order"
    if needs_trigger and cmd.trigger_price is None:
        return f"{cmd.order_type.value} order needs a trigger price"
    if not needs_trigger and cmd.trigger_price is not None:
        return f"{cmd.order_type.value} order takes no trigger price; use a stop order"
    if cmd.post_only and cmd.order_type is not OrderType.LIMIT:
        return "post-only applies to limit orders only"
    if cmd.post_only and cmd.time_in_force is not TimeInForce.GTC:
        return "post-only orders must be GTC"
    if cmd.price is not None and cmd.price <= 0:
        return f"limit price must be positive, got {cmd.price} ticks"
    if cmd.trigger_price is not None and cmd.trigger_price <= 0:
        return f"trigger price must be positive, got {cmd.trigger_price} ticks"
    return None


def check_size(cmd: SubmitOrder, inst: Instrument, ref_ticks: int | None) -> str | None:
    """Quantity, minimum quantity and minimum notional."""
    if cmd.equity_fraction is not None:
        if cmd.order_type is not OrderType.MARKET or cmd.quantity:
            return "equity-fraction sizing is for market orders without a quantity"
        return None
    if cmd.quantity <= 0:
        return f"quantity must be at least one lot ({inst.size_increment}), got {cmd.quantity}"
    if not inst.min_quantity and not inst.min_notional:
        return None
    qty = inst.quantity(cmd.quantity)
    if qty < inst.min_quantity:
        return f"quantity {qty} below the minimum {inst.min_quantity} of {inst.symbol}"
    ticks = cmd.price if cmd.price is not None else cmd.trigger_price or ref_ticks
    if inst.min_notional and ticks is not None:
        notional = inst.price(ticks) * qty * inst.multiplier
        if notional < inst.min_notional:
            return f"notional {notional} below the minimum {inst.min_notional} of {inst.symbol}"
    return None


def check_reduce_only(cmd: SubmitOrder, position: int) -> str | None:
    """A reduce-only order must face an open position."""
    if not cmd.reduce_only:
        return None
    reduces = (position > 0 and cmd.side is OrderSide.SELL) or (
        position < 0 and cmd.side is OrderSide.BUY)
    if not reduces:
        return "reduce-only order would open or increase a position; there is none to reduce"
    return None
