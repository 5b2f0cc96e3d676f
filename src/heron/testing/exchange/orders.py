"""One order as Binance USD-M keeps it, and how a new-order request becomes heron's.

The request's strings are checked the way Binance checks them before an order exists:
the type and time in force it knows (``-1116``, ``-1115``), the mandatory fields for the
type (``-1102``), quantity and price on the symbol's grid (``-1111`` precision,
``-4014`` tick), and the minimum notional (``-4164``, waived for reduce-only). What is
left (post-only crossing, FOK not filled, margin) is the simulated venue's call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.testing.exchange.auth import BinanceError, missing

__all__ = ["ALGO_TYPES", "VenueOrder", "order_command", "parse_lots", "parse_ticks"]

#: Binance order types the emulator works, as heron's; the conditional types live on the
#: Algo Service (``/fapi/v1/algoOrder``, :mod:`.algo`), which places one of these on trigger
_TYPES = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET}
#: what ``/fapi/v1/order`` refuses since Binance moved conditional orders (``-4120``)
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
              "TRAILING_STOP_MARKET")
#: ``GTX`` is Binance's post-only: a GTC order that is refused if it would take
_TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK,
         "GTX": TimeInForce.GTC}
STRATEGY = "emulator"


@dataclass(slots=True)
class VenueOrder:
    """An order's venue-side record: what ``GET /fapi/v1/order`` answers."""

    order_id: int
    client_id: str
    inst: Instrument
    side: str            # BUY / SELL
    kind: str            # LIMIT / MARKET
    tif: str             # GTC / IOC / FOK / GTX
    qty: int             # lots
    price: int | None    # ticks
    reduce_only: bool
    time: int            # ms
    status: str = "NEW"
    executed: int = 0    # lots
    quote: int = 0       # sum of ticks * lots filled
    update_time: int = 0
    orig_type: str = ""  # the algo order's type (STOP_MARKET...) for a triggered order
    stop_price: str = "0"

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def avg_price(self) -> Decimal:
        if not self.executed:
            return Decimal(0)
        return Decimal(self.quote) / self.executed * self.inst.price_increment

    def body(self) -> dict[str, Any]:
        """The order in Binance's REST shape (``order_response.json``)."""
        inst = self.inst
        return {
            "orderId": self.order_id, "symbol": inst.symbol, "status": self.status,
            "clientOrderId": self.client_id,
            "price": str(inst.price(self.price)) if self.price is not None else "0",
            "avgPrice": _plain(self.avg_price()), "origQty": str(inst.quantity(self.qty)),
            "executedQty": str(inst.quantity(self.executed)),
            "cumQuote": _plain(self.quote * inst.price_increment * inst.size_increment),
            "timeInForce": self.tif,
            "type": self.kind, "reduceOnly": self.reduce_only, "closePosition": False,
            "side": self.side, "positionSide": "BOTH", "stopPrice": self.stop_price,
            "workingType": "CONTRACT_PRICE", "priceProtect": False,
            "origType": self.orig_type or self.kind,
            "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
            "time": self.time, "updateTime": self.update_time or self.time,
        }


def _plain(value: Decimal) -> str:
    """A decimal without an exponent and without trailing zeros past the point."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def parse_lots(inst: Instrument, text: str | None, name: str = "quantity") -> int:
    if not text:
        raise missing(name)
    try:
        lots = inst.lots(text)
    except OffGrid:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset."
                           ) from None
    except ValueError:
        raise missing(name) from None
    if lots <= 0:
        raise BinanceError(-4003, "Quantity less than or equal to zero.")
    return lots


def parse_ticks(inst: Instrument, text: str | None, name: str = "price") -> int:
    if not text:
        raise missing(name)
    try:
        ticks = inst.ticks(text)
    except OffGrid:
        raise BinanceError(-4014, "Price not increased by tick size.") from None
    except ValueError:
        raise missing(name) from None
    if ticks <= 0:
        raise BinanceError(-4001, "Price less than 0.")
    return ticks


def order_command(params: Mapping[str, str], inst: Instrument, client_id: str, now: int,
                  reference: int | None) -> SubmitOrder:
    """The new-order request as heron's command; ``reference`` prices a market order's
    notional (the far side of the book)."""
    kind, tif_text = params.get("type", ""), params.get("timeInForce", "GTC")
    if not kind:
        raise missing("type")
    order_type = _TYPES.get(kind)
    if kind in ALGO_TYPES:
        raise BinanceError(-4120, "Order type not supported for this endpoint. Please use the "
                           "Algo Order API endpoints instead.")
    if order_type is None:
        raise BinanceError(-1116, "Invalid orderType.")
    side = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}.get(params.get("side", ""))
    if side is None:
        raise BinanceError(-1117, "Invalid side.")
    tif = _TIFS.get(tif_text)
    if tif is None:
        raise BinanceError(-1115, "Invalid timeInForce.")
    lots = parse_lots(inst, params.get("quantity"))
    price = parse_ticks(inst, params.get("price")) if order_type is OrderType.LIMIT else None
    reduce_only = params.get("reduceOnly", "false").lower() == "true"
    ticks = price if price is not None else reference
    notional = inst.price(ticks) * inst.quantity(lots) if ticks is not None else None
    if not reduce_only and notional is not None and notional < inst.min_notional:
        raise BinanceError(-4164, "Order's notional must be no smaller than "
                           f"{inst.min_notional} (unless you choose reduce only).")
    return SubmitOrder(now, now, client_id, STRATEGY, inst.id, side, order_type, lots,
                       price, None, tif if order_type is OrderType.LIMIT else TimeInForce.GTC,
                       post_only=tif_text == "GTX", reduce_only=reduce_only)
