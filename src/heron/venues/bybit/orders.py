"""Bybit v5 (unified account) through ccxt: client ids, order arguments, exact replies.

* **Client ids** (``orderLinkId``) take up to 36 of ``[A-Za-z0-9_-]``: every heron id
  fits as it is, so the mapping is the identity (injective by definition).
* **Stops** on linear contracts are conditional orders that Bybit will not take without
  ``triggerDirection`` (1: fires when the price rises to the trigger, 2: when it falls).
  heron's stops are stop-losses/breakouts in the usual sense: a buy stop fires on the
  way up (``ascending``), a sell stop on the way down (``descending``).
* **Post-only** is ``timeInForce=PostOnly``; a post-only order that would take is not
  refused with a code but *cancelled* (``rejectReason: EC_PostOnlyWillTakeLiquidity``),
  which heron reads as a cancelled order with that reason.
* **Fees** (``execFee``) are positive when paid and negative for a rebate, heron's sign.
* **Look-ups** by ``orderLinkId`` go through ``GET /v5/order/realtime``, which only
  covers an account's last 500 orders; ccxt makes the caller acknowledge that.
* **Amend** is native (``POST /v5/order/amend``): same order id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from heron.model.account import VenueFill, VenueOrder
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.venues.ccxt.dialect import CcxtDialect, OrderArgs
from heron.venues.errors import Refusal

#: ccxt's unified field -> Bybit's own field in an order (REST and the ``order`` topic)
_ORDER_FIELDS = {"amount": "qty", "filled": "cumExecQty", "price": "price",
                 "triggerPrice": "triggerPrice", "average": "avgPrice",
                 "clientOrderId": "orderLinkId", "fee": "execFee", "contracts": "size"}


class BybitDialect(CcxtDialect):
    """Bybit USDT perpetuals (``category=linear``) and spot on a unified account."""

    venue: ClassVar[str] = "bybit"
    ccxt_id: ClassVar[str] = "bybit"
    options: ClassVar[Mapping[str, Any]] = {"defaultType": "swap", "defaultSubType": "linear"}
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,36}")
    supports_amend: ClassVar[bool] = True
    codes: ClassVar[Mapping[str, Refusal]] = {
        "10002": Refusal.CLOCK,
        "10003": Refusal.AUTH, "10004": Refusal.AUTH, "10005": Refusal.AUTH,
        "10007": Refusal.AUTH, "10009": Refusal.AUTH, "10010": Refusal.AUTH,
        "33004": Refusal.AUTH,
        "10006": Refusal.RATE_LIMIT, "10018": Refusal.RATE_LIMIT,
        "10016": Refusal.UNAVAILABLE,
        "110004": Refusal.BALANCE, "110006": Refusal.BALANCE, "110007": Refusal.BALANCE,
        "110012": Refusal.BALANCE, "110044": Refusal.BALANCE, "110045": Refusal.BALANCE,
        "170131": Refusal.BALANCE,
        "110001": Refusal.NOT_FOUND, "110008": Refusal.NOT_FOUND, "110010": Refusal.NOT_FOUND,
        "170213": Refusal.NOT_FOUND,
        "110072": Refusal.DUPLICATE, "12141": Refusal.DUPLICATE, "170141": Refusal.DUPLICATE,
        "110017": Refusal.REDUCE_ONLY,
        "10001": Refusal.INVALID, "110003": Refusal.INVALID, "110094": Refusal.INVALID,
        "170133": Refusal.INVALID, "170136": Refusal.INVALID, "170134": Refusal.INVALID,
        "170135": Refusal.INVALID, "170140": Refusal.INVALID,
        "10029": Refusal.SYMBOL, "110023": Refusal.SYMBOL,
    }

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """ccxt's unified params, plus the trigger direction a stop needs on contracts."""
        args = super().order_args(cmd, inst, symbol, client_id)
        stop = cmd.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if stop and inst.kind is not InstrumentKind.SPOT:
            rising = cmd.side is OrderSide.BUY
            args.params["triggerDirection"] = "ascending" if rising else "descending"
        return args

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """By ``orderLinkId``; ``acknowledged``: Bybit answers for the last 500 orders."""
        return {"orderLinkId": client_id, "acknowledged": True}

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """Bybit's decimal text of an order (``qty``, ``cumExecQty``, ``avgPrice``...)."""
        name = _ORDER_FIELDS.get(field)
        text = info.get(name) if name else None
        return text if text not in ("",) else None

    def parse_order(self, order: Mapping[str, Any], inst: Instrument) -> VenueOrder:
        """ccxt's reading, with Bybit's reject reason kept (post-only cancels say why)."""
        parsed = super().parse_order(order, inst)
        reason = str((order.get("info") or {}).get("rejectReason") or "")
        if reason and reason != "EC_NoError":
            return msgspec.structs.replace(parsed, reason=reason)
        return parsed

    def parse_fill(self, trade: Mapping[str, Any], inst: Instrument) -> VenueFill:
        """An execution: its own ``execQty``/``execPrice``, not the order's."""
        fill = super().parse_fill(trade, inst)
        info = trade.get("info") or {}
        size, price = info.get("execQty"), info.get("execPrice")
        return msgspec.structs.replace(
            fill, quantity=inst.lots(Decimal(size)) if size else fill.quantity,
            price=inst.ticks(Decimal(price)) if price else fill.price)


__all__ = ["BybitDialect"]
