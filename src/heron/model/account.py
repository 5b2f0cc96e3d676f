"""What a venue says about an account: its orders, fills, positions and balances, exact.

Live clients (:mod:`heron.venues.ccxt`, :mod:`heron.venues.alpaca.orders`) turn every
venue reply into these structs, on the instrument's grid (prices ``int`` ticks, sizes
``int`` lots) and with money as :class:`~decimal.Decimal`, so everything downstream of a
client (the live execution, reconciliation, the exec CLI) is venue-agnostic and exact.
Each struct keeps the venue's own reply in ``raw``: reconciliation saves it as evidence,
and a reader who doubts heron's reading can check it against the venue's words.

These are *observations*, not heron's records: the journal holds
:mod:`heron.model.events`, and the live execution derives those events from these.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import msgspec

from heron.model.orders import OrderSide, OrderType, TimeInForce


class VenueOrderStatus(enum.StrEnum):
    """The venue's view of an order, reduced to what heron acts on."""

    OPEN = "open"                      # resting (or triggered and resting), nothing filled
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"              # canceled with or without partial fills
    EXPIRED = "expired"                # IOC/FOK leftovers, GTD expiries, self-trade
    REJECTED = "rejected"
    UNTRIGGERED = "untriggered"        # a stop waiting for its trigger

    @property
    def is_open(self) -> bool:
        return self in (VenueOrderStatus.OPEN, VenueOrderStatus.PARTIALLY_FILLED,
                        VenueOrderStatus.UNTRIGGERED)


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order as the venue reports it (REST reply or private stream update)."""

    venue: str
    instrument_id: str
    venue_order_id: str
    client_order_id: str          # the venue's client id field ("" when it has none)
    side: OrderSide
    order_type: OrderType
    status: VenueOrderStatus
    quantity: int                 # lots
    filled: int                   # lots
    price: int | None = None      # ticks
    trigger_price: int | None = None
    avg_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    ts: int = 0                   # ns: last update at the venue
    reason: str = ""              # why it was rejected / expired, when the venue says
    raw: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def leaves(self) -> int:
        return max(self.quantity - self.filled, 0)


class VenueFill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of one of the account's orders."""

    venue: str
    instrument_id: str
    trade_id: str
    venue_order_id: str
    client_order_id: str
    side: OrderSide
    quantity: int                 # lots
    price: int                    # ticks
    fee: Decimal                  # paid, in ``fee_currency`` (negative: a rebate)
    fee_currency: str
    liquidity: str                # "maker" | "taker"
    ts: int                       # ns
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


class VenuePosition(msgspec.Struct, frozen=True, kw_only=True):
    """A net position (one-way mode) on one instrument."""

    venue: str
    instrument_id: str
    quantity: int                 # signed lots: > 0 long
    entry_price: Decimal | None = None
    unrealised_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None
    ts: int = 0
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


class VenueBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One currency of the account's wallet."""

    venue: str
    currency: str
    total: Decimal                # wallet balance (without unrealised PnL)
    free: Decimal                 # available for new orders
    ts: int = 0
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


class AccountSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything reconciliation compares, read from the venue in one pass."""

    venue: str
    ts: int
    open_orders: list[VenueOrder]
    positions: list[VenuePosition]
    balances: list[VenueBalance]
    fills: list[VenueFill]        # since the time asked for, oldest first

    def balance(self, currency: str) -> VenueBalance | None:
        return next((b for b in self.balances if b.currency == currency), None)

    def position(self, instrument_id: str) -> int:
        return sum(p.quantity for p in self.positions if p.instrument_id == instrument_id)


__all__ = ["AccountSnapshot", "VenueBalance", "VenueFill", "VenueOrder", "VenueOrderStatus",
           "VenuePosition", "side_from", "type_from"]


def side_from(text: str) -> OrderSide:
    """``"buy"``/``"BUY"``/``"Buy"``/``"B"`` (Hyperliquid's) -> :class:`OrderSide`."""
    low = text.lower()
    if low in ("buy", "b", "bid", "long"):
        return OrderSide.BUY
    if low in ("sell", "a", "s", "ask", "short"):
        return OrderSide.SELL
    raise ValueError(f"not an order side: {text!r}")


def type_from(text: str) -> OrderType:
    """ccxt's unified order types (and the venues' common spellings) -> :class:`OrderType`."""
    low = text.lower().replace("-", "_")
    if low in ("market", "limit"):
        return OrderType(low)
    if low in ("stop", "stop_market", "stop_loss", "take_profit", "take_profit_market",
               "trigger", "conditional"):
        return OrderType.STOP
    if low in ("stop_limit", "take_profit_limit", "stop_loss_limit"):
        return OrderType.STOP_LIMIT
    raise ValueError(f"not an order type heron trades: {text!r}")
