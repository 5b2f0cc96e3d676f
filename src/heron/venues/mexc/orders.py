"""MEXC USDT-M futures through ccxt: what MEXC's API allows, and the parts that work.

**Order placement is restricted by MEXC.** Since 2022-07-25 MEXC's futures API answers
``POST /api/v1/private/order/create`` (and the plan-order, cancel and change endpoints)
with "under maintenance" (code 604/500) for ordinary API keys: futures orders can be
placed through the website and apps only, or through API keys MEXC has enabled for it
(institutional/broker accounts; the key page shows "Order Placing: Not Supported"
otherwise). ccxt still implements ``create_order`` for swaps (``createSwapOrder``), and
heron sends through it: an account MEXC has enabled trades; any other gets the
maintenance refusal mapped to :attr:`Refusal.UNAVAILABLE` with MEXC's words. Reading
(positions, balances, open orders, fills) works for every key.

What differs from ccxt's defaults:

* **Client ids** (``externalOid``) take heron's ids as they are (letters, digits, ``-``
  and ``_``; MEXC documents no length, ccxt's recorded replies carry 35-character ones
  such as ``_m_0e9520c256744d64b942985189026d20``, so heron's 36 are assumed to fit).
* ccxt's swap ``create_order`` sends ``vol`` and ``price`` as JSON *numbers* it made
  from the decimal text with ``float``; for the sizes and prices MEXC lists (at most 15
  significant digits) that float prints back as the same text.
* **No amend**: MEXC futures have no endpoint that changes an order in place; heron
  cancels and replaces.
* **Look-up by client id** is ``GET /api/v1/private/order/external/{symbol}/{oid}``,
  which ccxt has only as a raw endpoint (``fetch_order`` takes MEXC's order id), see
  :attr:`MexcDialect.fetch_by_client_id`.
* Stops are MEXC plan orders (``triggerType`` 1: price at or above, 2: at or below);
  a buy stop fires on the way up, a sell stop on the way down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType
from heron.venues.ccxt.dialect import CcxtDialect, OrderArgs
from heron.venues.errors import Refusal

_ORDER_FIELDS = {"amount": "vol", "filled": "dealVol", "price": "price",
                 "triggerPrice": "triggerPrice", "average": "dealAvgPrice",
                 "clientOrderId": "externalOid", "fee": "fee"}


class MexcDialect(CcxtDialect):
    """MEXC USDT-margined perpetuals (``contract`` API), one-way positions."""

    venue: ClassVar[str] = "mexc"
    ccxt_id: ClassVar[str] = "mexc"
    options: ClassVar[Mapping[str, Any]] = {"defaultType": "swap"}
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,36}")
    supports_amend: ClassVar[bool] = False
    #: ccxt's ``fetch_order`` cannot name a swap order by ``externalOid``: the client
    #: calls ``contractPrivateGetOrderExternalSymbolExternalOid`` (see the docstring)
    fetch_by_client_id: ClassVar[bool] = False
    missing_types_reason: ClassVar[str] = (
        "MEXC restricts futures order placement through the API to accounts it has "
        "enabled (since 2022-07-25); others are refused with 'under maintenance'")
    codes: ClassVar[Mapping[str, Refusal]] = {
        "513": Refusal.CLOCK, "700003": Refusal.CLOCK,
        "401": Refusal.AUTH, "402": Refusal.AUTH, "403": Refusal.AUTH, "406": Refusal.AUTH,
        "602": Refusal.AUTH, "701": Refusal.AUTH, "702": Refusal.AUTH, "703": Refusal.AUTH,
        "704": Refusal.AUTH, "1000": Refusal.AUTH, "10072": Refusal.AUTH,
        "700002": Refusal.AUTH,
        "510": Refusal.RATE_LIMIT, "429": Refusal.RATE_LIMIT,
        "604": Refusal.UNAVAILABLE, "801": Refusal.UNAVAILABLE, "501": Refusal.UNAVAILABLE,
        "2005": Refusal.BALANCE, "10101": Refusal.BALANCE, "30004": Refusal.BALANCE,
        "1001": Refusal.SYMBOL, "10007": Refusal.SYMBOL,
        "2009": Refusal.REDUCE_ONLY,
        "2003": Refusal.INVALID, "2011": Refusal.INVALID, "2015": Refusal.INVALID,
        "10095": Refusal.INVALID, "10096": Refusal.INVALID, "10097": Refusal.INVALID,
        "-2011": Refusal.NOT_FOUND, "-2013": Refusal.NOT_FOUND, "2040": Refusal.NOT_FOUND,
        "603": Refusal.DUPLICATE,
    }

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """ccxt's params, ``externalOid`` named, and a stop's trigger direction."""
        args = super().order_args(cmd, inst, symbol, client_id)
        args.params["externalOid"] = args.params.pop("clientOrderId")
        if cmd.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            args.params["triggerType"] = 1 if cmd.side is OrderSide.BUY else 2
        return args

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """What names the order in the raw ``order/external`` endpoint's path."""
        return {"external_oid": client_id}

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """MEXC's reply fields; its futures API sends numbers, read through ``repr``."""
        name = _ORDER_FIELDS.get(field)
        return info.get(name) if name else None


__all__ = ["MexcDialect"]
