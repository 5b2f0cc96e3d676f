"""OKX v5 through ccxt: client ids, order arguments, exact replies and error codes.

What OKX does differently from ccxt's unified defaults, and why this dialect exists:

* **Client ids** (``clOrdId``, ``algoClOrdId``) are 1 to 32 letters and digits, no ``-``.
  heron's ids (``TAG-strategy-N``, up to 36 of ``[A-Za-z0-9-]``) are escaped with ``z``:
  ``z`` becomes ``z0`` and ``-`` becomes ``z1``, a prefix code, so two different heron
  ids never escape to one text. An escaped id longer than 32 is replaced by ``zz`` and
  30 hex digits of its BLAKE2b hash: ``zz`` never occurs in an escaped id, so a hashed id
  cannot meet an escaped one, and two hashed ones meet with odds of 2**-120.
* **Stops** are *algo* orders (``POST /api/v5/trade/order-algo``, ``ordType=trigger``):
  ccxt routes there when ``triggerPrice`` is given, but names the client id
  ``algoClOrdId`` only if asked, so the dialect sends it under that name. Looking one
  up takes ``trigger=True`` (:meth:`OkxDialect.trigger_fetch_params`). A stop-market is
  ``orderPx=-1``; OKX reports it back as ``ordPx: "-1"``.
* **Fees** are signed the other way round: OKX reports a fee *paid* as a negative
  number (``"fee": "-0.021776769"``) and a rebate as a positive one; heron's
  :class:`~heron.model.account.VenueFill` wants paid positive, so the text is negated.
* **Sizes** of swaps are in contracts (``sz``), which are the instrument's lots
  (``ctVal`` is the multiplier).
* **Amend** is native (``POST /api/v5/trade/amend-order``, ccxt ``edit_order``): the order
  keeps its id and, for a size decrease, its queue place.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from heron.model.account import VenueFill, VenueOrder, VenueOrderStatus
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType
from heron.venues.ccxt.dialect import CcxtDialect, OrderArgs, exact
from heron.venues.errors import Refusal

_ESCAPE = {"z": "z0", "-": "z1"}
_MAX_ID = 32

#: ccxt's unified field -> OKX's own field in an order (REST, ``orders`` channel, algo)
_ORDER_FIELDS = {"amount": "sz", "filled": "accFillSz", "price": "px",
                 "triggerPrice": "triggerPx", "average": "avgPx"}


class OkxDialect(CcxtDialect):
    """OKX USDT-margined perpetual swaps (and spot) in net (one-way) position mode."""

    venue: ClassVar[str] = "okx"
    ccxt_id: ClassVar[str] = "okx"
    options: ClassVar[Mapping[str, Any]] = {"defaultType": "swap"}
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9]{1,32}")
    supports_amend: ClassVar[bool] = True
    codes: ClassVar[Mapping[str, Refusal]] = {
        "50102": Refusal.CLOCK, "50112": Refusal.CLOCK,
        "50103": Refusal.AUTH, "50110": Refusal.AUTH, "50111": Refusal.AUTH,
        "50113": Refusal.AUTH, "50114": Refusal.AUTH, "50120": Refusal.AUTH,
        "51009": Refusal.AUTH,
        "50011": Refusal.RATE_LIMIT, "50061": Refusal.RATE_LIMIT,
        "50001": Refusal.UNAVAILABLE, "50013": Refusal.UNAVAILABLE,
        "51008": Refusal.BALANCE, "51119": Refusal.BALANCE, "51127": Refusal.BALANCE,
        "51131": Refusal.BALANCE,
        "51001": Refusal.SYMBOL, "51015": Refusal.SYMBOL,
        "51016": Refusal.DUPLICATE,
        "51400": Refusal.NOT_FOUND, "51401": Refusal.NOT_FOUND, "51402": Refusal.NOT_FOUND,
        "51503": Refusal.NOT_FOUND, "51603": Refusal.NOT_FOUND,
        "51169": Refusal.REDUCE_ONLY, "51170": Refusal.REDUCE_ONLY,
        "51205": Refusal.REDUCE_ONLY,
        "51000": Refusal.INVALID, "51004": Refusal.INVALID, "51006": Refusal.INVALID,
        "51020": Refusal.INVALID, "51121": Refusal.INVALID, "51122": Refusal.INVALID,
    }

    def client_id(self, client_order_id: str) -> str:
        """heron's id escaped into OKX's alphabet (see the module docstring)."""
        if not re.fullmatch(r"[A-Za-z0-9-]{1,36}", client_order_id):
            raise ValueError(f"okx cannot carry client order id {client_order_id!r}")
        escaped = "".join(_ESCAPE.get(ch, ch) for ch in client_order_id)
        if len(escaped) <= _MAX_ID:
            return escaped
        digest = hashlib.blake2b(client_order_id.encode(), digest_size=15).hexdigest()
        return "zz" + digest

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """ccxt's unified params, with a stop's client id under OKX's algo name."""
        args = super().order_args(cmd, inst, symbol, client_id)
        if cmd.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            args.params.pop("clientOrderId", None)
            args.params["algoClOrdId"] = client_id
        return args

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """A plain order by ``clOrdId``."""
        return {"clientOrderId": client_id}

    def conditional_params(self) -> dict[str, Any]:
        return {"trigger": True}

    def trigger_fetch_params(self, client_id: str) -> dict[str, Any]:
        """An algo (stop) order by ``algoClOrdId``: ccxt asks the algo endpoints."""
        return {"clientOrderId": client_id, "trigger": True}

    def error_code(self, exc: BaseException) -> str:
        """The order's own ``sCode`` where OKX gives one: the envelope's ``code`` of a
        failed placement is only ``"1"`` (some failed) or ``"2"`` (all failed)."""
        match = re.search(r'"sCode"\s*:\s*"?(-?\d+)', str(exc))
        return match.group(1) if match and match.group(1) != "0" else super().error_code(exc)

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """OKX's decimal text: ``sz``/``accFillSz``/``px``/``avgPx``; the fee negated."""
        if field == "fee":
            fee = exact(info.get("fee"))
            return None if fee is None else -fee
        if field == "clientOrderId":
            return info.get("algoClOrdId") or info.get("clOrdId")
        if field == "price" and info.get("ordPx") not in (None, "", "-1"):
            return info.get("ordPx")
        name = _ORDER_FIELDS.get(field)
        text = info.get(name) if name else None
        return text if text not in ("", "-1") else None

    def parse_order(self, order: Mapping[str, Any], inst: Instrument) -> VenueOrder:
        """ccxt's reading, corrected for algo orders: a trigger with a price is a
        stop-limit, its client id is ``algoClOrdId``, and ``live`` means untriggered."""
        parsed = super().parse_order(order, inst)
        info = order.get("info") or {}
        if not info.get("algoId") or info.get("ordType") not in ("trigger", "conditional"):
            return parsed
        changes: dict[str, Any] = {"client_order_id": str(info.get("algoClOrdId") or "")}
        limit = self.raw_text(info, "price")
        if limit is not None:
            changes.update(order_type=OrderType.STOP_LIMIT, price=inst.ticks(limit))
        if info.get("state") == "live":
            changes["status"] = VenueOrderStatus.UNTRIGGERED
        elif info.get("state") in ("effective", "order_placed"):
            changes["status"] = VenueOrderStatus.OPEN  # triggered: lives on as its child order
        return msgspec.structs.replace(parsed, **changes)

    def parse_fill(self, trade: Mapping[str, Any], inst: Instrument) -> VenueFill:
        """A fill from ``/trade/fills`` or the ``orders`` channel: the *fill's* size, price
        and time (``fillSz``/``fillPx``/``fillTime``), not the order's."""
        fill = super().parse_fill(trade, inst)
        info = trade.get("info") or {}
        size, price = info.get("fillSz"), info.get("fillPx")
        when = info.get("fillTime") or info.get("ts")
        return msgspec.structs.replace(
            fill, quantity=inst.lots(Decimal(size)) if size else fill.quantity,
            price=inst.ticks(Decimal(price)) if price else fill.price,
            ts=int(when) * 1_000_000 if when else fill.ts)


__all__ = ["OkxDialect"]
