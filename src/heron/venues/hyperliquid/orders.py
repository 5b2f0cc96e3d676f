"""Hyperliquid perpetuals through ccxt: cloids, order arguments, exact replies, errors.

* **Client ids** (``cloid``) are 128-bit numbers written ``0x`` + 32 hex digits. heron's
  id is hashed into one (BLAKE2b, 16 bytes): deterministic, and two ids meet with odds
  of 2**-128. The hash cannot be read back, so an order seen on the venue is matched to
  heron's journal by hashing the journal's ids (:meth:`HyperliquidDialect.client_id`).
* **Market orders** do not exist: ccxt sends an IOC limit at a reference price moved by
  ``slippage`` (5% by default), and needs that reference. heron passes the strategy's
  ``decision_price``; a market order without one is refused before sending. A
  stop-market sends its trigger price as the reference.
* **Prices** have at most 5 significant figures (integers always allowed) and at most
  ``6 - szDecimals`` decimals. ccxt would *round* a longer price; heron refuses it.
* **Stops** are trigger orders (``tpsl: "sl"``); take-profits are not sent by heron.
* **Post-only** is ``tif: "Alo"`` (add liquidity only); a taking one is refused with
  "Post only order would have immediately matched".
* **Errors** come as sentences, not codes; :meth:`HyperliquidDialect.error_code` turns
  the common ones into short codes for :attr:`codes`.
* **Amend** is native (``modify``), addressed by oid.
* **Fees** are positive when paid (``fee``, plus ``builderFee`` when a builder took one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from heron.model.account import VenueFill
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType
from heron.venues.ccxt.dialect import CcxtDialect, OrderArgs, exact
from heron.venues.errors import Refusal

_SIG_FIGS = 5

#: Hyperliquid's error sentences (lower case, start) -> a short code for :attr:`codes`
_SENTENCES = (
    ("post only order would have immediately matched", "post_only"),
    ("reduce only order would increase position", "reduce_only"),
    ("insufficient margin", "margin"),
    ("order must have minimum value", "min_value"),
    ("price must be divisible by tick size", "tick"),
    ("order has invalid size", "size"),
    ("order has invalid price", "price"),
    ("order was never placed, already canceled, or filled", "not_found"),
    ("cloid is not unique", "duplicate"),
    ("duplicate cloid", "duplicate"),
    ("user or api wallet", "auth"),
    ("invalid nonce", "nonce"),
)

_ORDER_FIELDS = {"amount": "origSz", "price": "limitPx", "triggerPrice": "triggerPx",
                 "clientOrderId": "cloid"}


class HyperliquidDialect(CcxtDialect):
    """Hyperliquid USDC perpetuals, one-way (net) positions."""

    venue: ClassVar[str] = "hyperliquid"
    ccxt_id: ClassVar[str] = "hyperliquid"
    options: ClassVar[Mapping[str, Any]] = {"defaultType": "swap"}
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"0x[0-9a-f]{32}")
    supports_amend: ClassVar[bool] = True
    #: how far from the reference price a market order may fill (ccxt's default, 5%)
    slippage: ClassVar[str] = "0.05"
    codes: ClassVar[Mapping[str, Refusal]] = {
        "post_only": Refusal.POST_ONLY, "reduce_only": Refusal.REDUCE_ONLY,
        "margin": Refusal.BALANCE, "min_value": Refusal.INVALID, "tick": Refusal.INVALID,
        "size": Refusal.INVALID, "price": Refusal.INVALID, "not_found": Refusal.NOT_FOUND,
        "duplicate": Refusal.DUPLICATE, "auth": Refusal.AUTH, "nonce": Refusal.CLOCK,
    }

    def client_id(self, client_order_id: str) -> str:
        """``0x`` + the 16-byte BLAKE2b hash of heron's id, in hex."""
        if not re.fullmatch(r"[A-Za-z0-9-]{1,36}", client_order_id):
            raise ValueError(f"hyperliquid cannot carry client order id {client_order_id!r}")
        return "0x" + hashlib.blake2b(client_order_id.encode(), digest_size=16).hexdigest()

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """ccxt's params; a reference price for market and stop-market orders."""
        for ticks in (cmd.price, cmd.trigger_price):
            if ticks is not None:
                check_price(inst.price(ticks))
        args = super().order_args(cmd, inst, symbol, client_id)
        if cmd.order_type is OrderType.MARKET:
            if cmd.decision_price is None:
                raise ValueError("hyperliquid has no market orders: ccxt sends an IOC limit "
                                 "around a reference price, and this order has no "
                                 "decision_price; send a limit order with IOC")
            args.price = format(inst.price(cmd.decision_price), "f")
        elif cmd.order_type is OrderType.STOP:
            args.price = args.params["triggerPrice"]
        if cmd.order_type in (OrderType.MARKET, OrderType.STOP):
            args.params["slippage"] = self.slippage
        return args

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """ccxt's ``fetch_order`` asks ``orderStatus`` with the cloid as ``oid``."""
        return {"clientOrderId": client_id}

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """Hyperliquid's decimal text: an order's ``origSz``/``limitPx``/``triggerPx``
        (under ``order`` in ``orderStatus`` replies), a fill's fee plus builder fee."""
        if field == "fee":
            fee, builder = exact(info.get("fee")), exact(info.get("builderFee"))
            return None if fee is None else fee + (builder or Decimal(0))
        inner = info.get("order")
        body: Mapping[str, Any] = inner if isinstance(inner, dict) else info
        name = _ORDER_FIELDS.get(field)
        text = body.get(name) if name else None
        return text if text not in ("",) else None

    def parse_fill(self, trade: Mapping[str, Any], inst: Instrument) -> VenueFill:
        """A fill (``userFills``, the ``user`` stream): its own ``sz``/``px``; fills older
        than the ``tid`` field (2023) get an id from hash, oid, price, size and the
        starting position, which together tell the fills of one order apart."""
        info = trade.get("info") or {}
        if trade.get("id") is None:
            key = ":".join(str(info.get(k)) for k in ("hash", "oid", "px", "sz",
                                                      "startPosition"))
            trade = {**trade, "id": key}
        fill = super().parse_fill(trade, inst)
        return msgspec.structs.replace(
            fill, quantity=inst.lots(Decimal(str(info["sz"]))) if info.get("sz") else
            fill.quantity,
            price=inst.ticks(Decimal(str(info["px"]))) if info.get("px") else fill.price)

    def error_code(self, exc: BaseException) -> str:
        """Hyperliquid's error sentence as a short code (see :data:`_SENTENCES`)."""
        text = str(exc).lower()
        return next((code for words, code in _SENTENCES if words in text), "")


def check_price(price: Decimal) -> None:
    """Refuse a price Hyperliquid would not take as it is: more than 5 significant
    figures and not an integer (ccxt would round it silently)."""
    if price == price.to_integral_value():
        return
    digits = price.normalize().as_tuple().digits
    if len(digits) > _SIG_FIGS:
        raise ValueError(f"hyperliquid takes prices of at most {_SIG_FIGS} significant "
                         f"figures (or whole numbers); {price} has {len(digits)}")


__all__ = ["HyperliquidDialect", "check_price"]
