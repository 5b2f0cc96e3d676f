"""Alpaca crypto (spot) through ccxt: client ids, order arguments, refusals.

Alpaca's crypto trading takes ``market``, ``limit`` and ``stop_limit`` orders with
``time_in_force`` ``gtc`` or ``ioc`` (Alpaca's crypto-orders page; ccxt refuses a
stop-market itself: "only stop_limit orders are supported"). Hence what heron refuses
before sending: stop-market orders, FOK, post-only (Alpaca has no maker-only flag) and
reduce-only (spot has no positions to reduce).

* **Client ids** (``client_order_id``, up to 128 characters) take heron's ids as they are.
* **No in-place amend**: Alpaca's ``PATCH /v2/orders/{id}`` *replaces* the order with a
  new one (new order id, and ccxt gives it a new client id), so for heron it is a
  cancel-replace, planned as such.
* **Look-up by client id** is ``GET /v2/orders:by_client_order_id``, which ccxt does not
  implement; :attr:`AlpacaCryptoDialect.fetch_by_client_id` tells the client to find
  the order among ``fetch_orders`` instead.
* US equities are not here: they go through alpaca-py behind the same venue seam.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType, TimeInForce
from heron.venues.ccxt.dialect import CcxtDialect, OrderArgs
from heron.venues.errors import Refusal

_ORDER_FIELDS = {"amount": "qty", "filled": "filled_qty", "price": "limit_price",
                 "triggerPrice": "stop_price", "average": "filled_avg_price",
                 "clientOrderId": "client_order_id"}

#: Alpaca's sentences that share a code with others (40310000, 40010001) -> a code
_SENTENCES = (("client_order_id must be unique", "duplicate"),
              ("insufficient balance", "balance"), ("insufficient buying power", "balance"),
              ("cost basis must be", "min_notional"))


class AlpacaCryptoDialect(CcxtDialect):
    """Alpaca crypto spot pairs (``BTC/USD``)."""

    venue: ClassVar[str] = "alpaca"
    ccxt_id: ClassVar[str] = "alpaca"
    client_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"[A-Za-z0-9_-]{1,128}")
    supports_amend: ClassVar[bool] = False
    fetch_by_client_id: ClassVar[bool] = False
    order_types: ClassVar[frozenset[OrderType]] = frozenset(
        {OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})
    missing_types_reason: ClassVar[str] = (
        "Alpaca crypto takes market, limit and stop-limit orders only")
    codes: ClassVar[Mapping[str, Refusal]] = {
        "40110000": Refusal.AUTH, "forbidden": Refusal.AUTH,
        "40410000": Refusal.NOT_FOUND, "42210000": Refusal.INVALID,
        "40010001": Refusal.INVALID, "42910000": Refusal.RATE_LIMIT,
        "duplicate": Refusal.DUPLICATE, "balance": Refusal.BALANCE,
        "min_notional": Refusal.INVALID,
    }

    def order_args(self, cmd: SubmitOrder, inst: Instrument, symbol: str,
                   client_id: str) -> OrderArgs:
        """ccxt's params, after refusing what Alpaca crypto cannot take."""
        if cmd.order_type not in self.order_types:
            raise ValueError(f"alpaca cannot take a {cmd.order_type} order: "
                             f"{self.missing_types_reason}")
        if cmd.time_in_force is TimeInForce.FOK:
            raise ValueError("alpaca crypto takes gtc and ioc orders only, not fok")
        if cmd.post_only or cmd.reduce_only:
            raise ValueError("alpaca crypto has no post-only or reduce-only orders")
        return super().order_args(cmd, inst, symbol, client_id)

    def fetch_params(self, client_id: str) -> dict[str, Any]:
        """The ``client_order_id`` to look for among the account's orders."""
        return {"client_order_id": client_id}

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        """Alpaca's decimal text: ``qty``, ``filled_qty``, ``limit_price``..."""
        name = _ORDER_FIELDS.get(field)
        return info.get(name) if name else None

    def error_code(self, exc: BaseException) -> str:
        """Alpaca's code, or a sentence's short code where the code is shared."""
        text = str(exc).lower()
        word = next((code for words, code in _SENTENCES if words in text), "")
        return word or super().error_code(exc)


__all__ = ["AlpacaCryptoDialect"]
