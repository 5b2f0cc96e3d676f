"""What differs between venues behind ccxt's unified order API, and the exact reading of it.

ccxt unifies the *calls* (``create_order``, ``edit_order``, ``fetch_positions`` ...) but
not everything around them: each venue has its own client-id format, its own spelling
of post-only, reduce-only and stop orders in ``params``, its own error codes, and its own
raw fields. A :class:`CcxtDialect` holds one venue's answers; the generic
:class:`~heron.venues.ccxt.client.CcxtClient` asks it. Per-venue subclasses live in
``heron.venues.<venue>.orders`` and are found through :data:`DIALECTS`.

**Exactness.** ccxt's unified structures carry floats. heron reads a venue's own decimal
text from ``info`` where a dialect knows the field (:meth:`CcxtDialect.raw_text`), and
otherwise reads a float back through its shortest ``repr``, which *is* the venue's
decimal text for any value of at most 15 significant digits (every price and size the
supported venues publish). Either way the value must land on the instrument's grid
(:meth:`~heron.model.instrument.Instrument.ticks`), or it is refused: an off-grid price
is a parse error, never a rounding. Amounts and prices sent to ccxt are decimal
*strings*, so nothing heron sends passes through a float either.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from heron.errors import VenueRejected
from heron.model.account import (
    VenueBalance,
    VenueFill,
    VenueOrder,
    VenueOrderStatus,
    VenuePosition,
    side_from,
    type_from,
)
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType, TimeInForce
from heron.venues.errors import Refusal

#: ccxt's unified order statuses -> heron's reading (partial fills told by ``filled``)
_STATUS = {"open": VenueOrderStatus.OPEN, "closed": VenueOrderStatus.FILLED,
           "canceled": VenueOrderStatus.CANCELED, "cancelled": VenueOrderStatus.CANCELED,
           "expired": VenueOrderStatus.EXPIRED, "rejected": VenueOrderStatus.REJECTED}
#: ccxt's order type for each of heron's (a stop is a market or limit with a trigger)
CCXT_ORDER_TYPE = {OrderType.MARKET: "market", OrderType.LIMIT: "limit",
                   OrderType.STOP: "market", OrderType.STOP_LIMIT: "limit"}
_TIF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK,
        "PO": TimeInForce.GTC, "GTX": TimeInForce.GTC}


class OrderArgs:
    """The positional arguments and ``params`` of one ccxt ``create_order`` call."""

    __slots__ = ("amount", "params", "price", "side", "symbol", "type")

    def __init__(self, symbol: str, type: str, side: str, amount: str,
                 price: str | None, params: dict[str, Any]) -> None:
        self.symbol, self.type, self.side = symbol, type, side
        self.amount, self.price, self.params = amount, price, params

    def call_args(self) -> tuple[str, str, str, str, str | None, dict[str, Any]]:
        return (self.symbol, self.type, self.side, self.amount, self.price, self.params)


def exact(value: object) -> Decimal | None:
    """A ccxt number (str, int, float) as the decimal it was parsed from; ``None`` stays."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


class CcxtDialect:
    """One venue's order-API conventions; this base is ccxt's unified behaviour."""

    #: heron's venue name and the ccxt exchange class behind it
    venue: ClassVar[str] = ""
    ccxt_id: ClassVar[str] = ""
    #: ccxt constructor options (e.g. Binance's ``fetchCurrencies``)
    options: ClassVar[Mapping[str, Any]] = {}
    #: the venue's client-id alphabet and length (checked on every id heron makes)
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,36}")
    #: amends in place (ccxt ``edit_order`` on a venue endpoint that keeps the order id)
    supports_amend: ClassVar[bool] = True
    #: order types heron may send; others are refused before sending with the reason
    order_types: ClassVar[frozenset[OrderType]] = frozenset(OrderType)
    #: why a type is missing, for the refusal message
    missing_types_reason: ClassVar[str] = ""
    #: ccxt's ``fetch_order`` can find an order by client id (else heron searches the
    #: open and recent orders for it)
    fetch_by_client_id: ClassVar[bool] = True
    #: venue error code -> heron's class of refusal (the rest: Refusal.OTHER)
    codes: ClassVar[Mapping[str, Refusal]] = {}

    # -- requests ------------------------------------------------------------------------
    def client_id(self, client_order_id: str) -> str:
        """heron's id in this venue's client-id format: as it is, when it fits."""
        if not self.client_id_pattern.fullmatch(client_order_id):
            raise ValueError(f"{self.venue} cannot carry client order id {client_order_id!r}")
        return client_order_id

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """``create_order`` arguments for ``cmd``: ccxt's unified params."""
        params: dict[str, Any] = {"clientOrderId": client_id}
        kind = CCXT_ORDER_TYPE[cmd.order_type]
        if cmd.trigger_price is not None:
            params["triggerPrice"] = inst.price_text(cmd.trigger_price)
        if cmd.post_only:
            params["postOnly"] = True
        if cmd.reduce_only:
            params["reduceOnly"] = True
        if cmd.time_in_force is not TimeInForce.GTC and kind == "limit":
            params["timeInForce"] = cmd.time_in_force.value.upper()
        price = inst.price_text(cmd.price) if cmd.price is not None else None
        return OrderArgs(symbol, kind, cmd.side.value, inst.quantity_text(cmd.quantity),
                         price, params)

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """``fetch_order``/``cancel_order`` params that name an order by client id."""
        return {"clientOrderId": client_id}

    def conditional_params(self) -> dict[str, Any]:
        """Extra ``fetch_order``/``cancel_order`` params for a stop order still waiting
        for its trigger: ccxt's ``trigger`` flag, for venues that keep those apart
        (Binance's algo orders, OKX's algo orders)."""
        return {}

    # -- replies -------------------------------------------------------------------------
    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """The venue's own text for a unified ``field`` of an order/trade, if it has one;
        ``None`` means "use ccxt's value"."""
        return None

    def raw_trade_text(self, info: Mapping[str, Any], field: str) -> object:
        """:meth:`raw_text` for a trade (fill) of the account: ``amount``, ``price``,
        ``fee``, ``clientOrderId``; by default the same lookup."""
        return self.raw_text(info, field)

    def _number(self, item: Mapping[str, Any], field: str, *, trade: bool = False
                ) -> Decimal | None:
        info = item.get("info") or {}
        raw = self.raw_trade_text(info, field) if trade else self.raw_text(info, field)
        return exact(raw if raw not in (None, "") else item.get(field))

    def parse_order(self, order: Mapping[str, Any], inst: Instrument) -> VenueOrder:
        """A ccxt unified order -> :class:`VenueOrder` on ``inst``'s grid."""
        amount = self._number(order, "amount") or Decimal(0)
        filled = self._number(order, "filled") or Decimal(0)
        price = self._number(order, "price")
        trigger = self._number(order, "triggerPrice")
        kind = type_from(str(order.get("type") or "limit"))
        if trigger and kind is OrderType.MARKET:
            kind = OrderType.STOP
        elif trigger and kind is OrderType.LIMIT:
            kind = OrderType.STOP_LIMIT
        status = self.order_status(order, filled, amount)
        return VenueOrder(
            venue=self.venue, instrument_id=inst.id, venue_order_id=str(order.get("id") or ""),
            client_order_id=str(order.get("clientOrderId") or ""),
            side=side_from(str(order["side"])), order_type=kind, status=status,
            quantity=inst.lots(amount), filled=inst.lots(filled),
            price=inst.ticks(price) if price and kind in (OrderType.LIMIT,
                                                          OrderType.STOP_LIMIT) else None,
            trigger_price=inst.ticks(trigger) if trigger else None,
            avg_price=self._number(order, "average") or None,
            time_in_force=_TIF.get(str(order.get("timeInForce") or "GTC").upper(),
                                   TimeInForce.GTC),
            post_only=bool(order.get("postOnly")), reduce_only=bool(order.get("reduceOnly")),
            ts=_ns(order.get("lastUpdateTimestamp") or order.get("timestamp")),
            raw=dict(order.get("info") or {}))

    def order_status(self, order: Mapping[str, Any], filled: Decimal,
                     amount: Decimal) -> VenueOrderStatus:
        status = _STATUS.get(str(order.get("status") or "open"), VenueOrderStatus.OPEN)
        if status is VenueOrderStatus.OPEN and filled > 0:
            return VenueOrderStatus.PARTIALLY_FILLED
        if status is VenueOrderStatus.FILLED and filled < amount:
            return VenueOrderStatus.CANCELED  # "closed" with leaves: canceled after partials
        return status

    def parse_fill(self, trade: Mapping[str, Any], inst: Instrument) -> VenueFill:
        """A ccxt unified trade of the account -> :class:`VenueFill`."""
        fee = trade.get("fee") or {}
        info = trade.get("info") or {}
        raw_fee = self.raw_trade_text(info, "fee")
        cost = exact(raw_fee if raw_fee not in (None, "") else fee.get("cost")) or Decimal(0)
        return VenueFill(
            venue=self.venue, instrument_id=inst.id, trade_id=str(trade["id"]),
            venue_order_id=str(trade.get("order") or ""),
            client_order_id=str(self.raw_trade_text(info, "clientOrderId") or ""),
            side=side_from(str(trade["side"])),
            quantity=inst.lots(self._number(trade, "amount", trade=True)),
            price=inst.ticks(self._number(trade, "price", trade=True)),
            fee=cost, fee_currency=str(fee.get("currency") or inst.quote_currency),
            liquidity=str(trade.get("takerOrMaker") or "taker"),
            ts=_ns(trade.get("timestamp")), raw=dict(info))

    def parse_position(self, position: Mapping[str, Any], inst: Instrument) -> VenuePosition:
        """A ccxt unified position -> :class:`VenuePosition` (signed lots)."""
        contracts = self._number(position, "contracts") or Decimal(0)
        sign = -1 if str(position.get("side") or "long") == "short" else 1
        return VenuePosition(
            venue=self.venue, instrument_id=inst.id, quantity=sign * inst.lots(contracts),
            entry_price=exact(position.get("entryPrice")),
            unrealised_pnl=exact(position.get("unrealizedPnl")),
            liquidation_price=exact(position.get("liquidationPrice")),
            ts=_ns(position.get("timestamp")), raw=dict(position.get("info") or {}))

    def parse_balances(self, balance: Mapping[str, Any]) -> list[VenueBalance]:
        """A ccxt unified balance -> one :class:`VenueBalance` per currency held."""
        out = []
        for currency, row in sorted((balance.get("total") or {}).items()):
            total = exact(row)
            if total is None:
                continue
            free = exact((balance.get("free") or {}).get(currency))
            out.append(VenueBalance(venue=self.venue, currency=currency, total=total,
                                    free=free if free is not None else total,
                                    ts=_ns(balance.get("timestamp")),
                                    raw={"info": balance.get("info")}))
        return out

    # -- errors --------------------------------------------------------------------------
    def error_code(self, exc: BaseException) -> str:
        """The venue's code in a ccxt exception's message (``binanceusdm {"code":-2019,...}``)."""
        match = re.search(r'"(?:code|retCode|sCode)"\s*:\s*"?(-?\d+)', str(exc))
        return match.group(1) if match else ""

    def refusal(self, exc: BaseException, what: str) -> VenueRejected:
        """A ccxt refusal as one :class:`VenueRejected` line: the venue's code and words,
        heron's class of it, and what to do."""
        code = self.error_code(exc)
        kind = self.codes.get(code) or Refusal.from_ccxt(exc)
        detail = _venue_words(exc)
        tag = f" ({code})" if code else ""
        return VenueRejected(f"{self.venue} refused {what}{tag}: {detail}; {kind.fix}",
                             venue=self.venue, code=code, kind=kind.value)


def _ns(ms: object) -> int:
    return int(ms) * 1_000_000 if isinstance(ms, int | float) and ms else 0


def _venue_words(exc: BaseException) -> str:
    """The venue's message from a ccxt exception (``'binanceusdm {"code":..,"msg":".."}'``)."""
    text = str(exc)
    match = re.search(r'"(?:msg|retMsg|sMsg|message|error)"\s*:\s*"([^"]*)"', text)
    words = match.group(1) if match else text.partition(" ")[2] or text
    return " ".join(words.split())[:200] or type(exc).__name__


#: heron venue name -> "module:Class" of its dialect, imported on first use
DIALECTS: Mapping[str, str] = {
    "binanceusdm": "heron.venues.binance.orders:BinanceUsdmDialect",
    "okx": "heron.venues.okx.orders:OkxDialect",
    "bybit": "heron.venues.bybit.orders:BybitDialect",
    "hyperliquid": "heron.venues.hyperliquid.orders:HyperliquidDialect",
    "mexc": "heron.venues.mexc.orders:MexcDialect",
    "alpaca": "heron.venues.alpaca.orders:AlpacaCryptoDialect",
}


def dialect_for(venue: str) -> CcxtDialect:
    """The dialect of ``venue``; an unknown name lists the known ones."""
    from heron.errors import InputError

    target = DIALECTS.get(venue)
    if target is None:
        raise InputError(f"heron cannot trade on {venue!r}; choose from {', '.join(DIALECTS)}")
    module, _, name = target.partition(":")
    cls: type[CcxtDialect] = getattr(importlib.import_module(module), name)
    return cls()


__all__ = ["CCXT_ORDER_TYPE", "DIALECTS", "CcxtDialect", "OrderArgs", "dialect_for", "exact"]
