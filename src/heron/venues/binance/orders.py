"""Binance USD-M futures through ccxt: client ids, order flags, raw fields and error codes.

Binance answers the same order in two shapes: REST bodies (``origQty``, ``executedQty``,
``avgPrice``, ``stopPrice``; trades with ``qty``, ``price``, ``commission``) and the user
stream's ``ORDER_TRADE_UPDATE`` (one-letter keys: ``q``, ``z``, ``ap``, ``sp``, and for a
fill ``l``, ``L``, ``n``, ``c``). ccxt parses both into one float structure; this dialect
reads the decimal text of either shape instead.

Wallet balance: ccxt's unified ``total`` for USD-M is the *margin* balance (wallet plus
unrealised PnL). heron's balance is the wallet (realised money only; open positions are
valued separately), so balances are read from the account body's ``assets`` rows
(``walletBalance``, ``availableBalance``) and from ``ACCOUNT_UPDATE``'s ``wb``.

Codes are Binance's (https://developers.binance.com/docs/derivatives/usds-margined-futures/
error-code). ccxt maps several futures-only codes (``-2019`` margin, ``-4164`` notional)
to a plain ``ExchangeError`` when the host is not ``fapi.binance.com`` (a testnet, a
proxy, heron's emulator), so heron classifies by the code itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import msgspec

from heron.model.account import VenueBalance, VenueOrder, VenueOrderStatus
from heron.model.instrument import Instrument
from heron.model.orders import OrderType
from heron.venues.ccxt.dialect import CcxtDialect, exact
from heron.venues.errors import Refusal

# unified field -> (REST key, user-stream key)
_ORDER_FIELDS = {
    "amount": ("origQty", "q"), "filled": ("executedQty", "z"), "price": ("price", "p"),
    "triggerPrice": ("stopPrice", "sp"), "average": ("avgPrice", "ap"),
    "clientOrderId": ("clientOrderId", "c"),
}
# an algo (conditional) order: REST body / ALGO_UPDATE keys
_ALGO_FIELDS = {
    "amount": ("quantity", "q"), "price": ("price", "p"), "triggerPrice": ("triggerPrice", "tp"),
    "clientOrderId": ("clientAlgoId", "caid"), "average": ("actualPrice", "ap"),
    "filled": ("executedQty", "aq"),
}
_ALGO_END = {"CANCELED": VenueOrderStatus.CANCELED, "EXPIRED": VenueOrderStatus.EXPIRED,
             "REJECTED": VenueOrderStatus.REJECTED}
_TRADE_FIELDS = {"amount": ("qty", "l"), "price": ("price", "L"), "fee": ("commission", "n")}


class BinanceUsdmDialect(CcxtDialect):
    venue = "binanceusdm"
    ccxt_id = "binanceusdm"
    options: ClassVar[Mapping[str, Any]] = {
        "fetchCurrencies": False,   # a spot (sapi) endpoint: futures keys need not reach it
        "defaultType": "future",
    }
    client_id_pattern = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
    codes: ClassVar[Mapping[str, Refusal]] = {
        "-1021": Refusal.CLOCK, "-1022": Refusal.AUTH, "-2014": Refusal.AUTH,
        "-2015": Refusal.AUTH, "-1002": Refusal.AUTH,
        "-2018": Refusal.BALANCE, "-2019": Refusal.BALANCE, "-2027": Refusal.BALANCE,
        "-2028": Refusal.BALANCE,
        "-1013": Refusal.INVALID, "-1111": Refusal.INVALID, "-4003": Refusal.INVALID,
        "-4014": Refusal.INVALID, "-4164": Refusal.INVALID, "-4005": Refusal.INVALID,
        "-1102": Refusal.INVALID, "-1106": Refusal.INVALID, "-1116": Refusal.INVALID,
        "-1121": Refusal.SYMBOL, "-4140": Refusal.SYMBOL,
        "-2011": Refusal.NOT_FOUND, "-2013": Refusal.NOT_FOUND,
        "-4015": Refusal.INVALID, "-4116": Refusal.DUPLICATE,
        "-5022": Refusal.POST_ONLY, "-2022": Refusal.REDUCE_ONLY, "-2021": Refusal.INVALID,
        "-1003": Refusal.RATE_LIMIT, "-1015": Refusal.RATE_LIMIT,
        "-1001": Refusal.UNAVAILABLE, "-1007": Refusal.UNAVAILABLE,
    }

    def conditional_params(self) -> dict[str, Any]:
        return {"trigger": True}  # stops live in Binance's Algo Service until triggered

    def raw_text(self, info: Mapping[str, Any], field: str) -> object:
        if "algoId" in info or "aid" in info:
            return _lookup(info, _ALGO_FIELDS.get(field), field)
        return _lookup(info, _ORDER_FIELDS.get(field), field)

    def parse_order(self, order: Mapping[str, Any], inst: Instrument) -> VenueOrder:
        """Regular orders as the base reads them; a stop in Binance's Algo Service by its
        algo status: waiting (``NEW``, ``TRIGGERING``) is UNTRIGGERED; ``TRIGGERED`` and
        ``FINISHED`` name the order it became (``actualOrderId``/``ai``), which carries
        the fills and the end, so they read as that order, open, with nothing filled."""
        parsed = super().parse_order(order, inst)
        info = order.get("info") or {}
        status = info.get("algoStatus", info.get("X")) if ("algoId" in info
                                                             or "aid" in info) else None
        if status is None:
            return parsed
        if status in ("NEW", "TRIGGERING"):
            return msgspec.structs.replace(parsed, status=VenueOrderStatus.UNTRIGGERED,
                                           filled=0)
        if status in ("TRIGGERED", "FINISHED"):
            child = str(info.get("actualOrderId", info.get("ai")) or "")
            kind = str(info.get("act") or info.get("actualOrderType") or "")
            became = OrderType.LIMIT if kind == "LIMIT" or (
                not kind and parsed.order_type is OrderType.STOP_LIMIT) else OrderType.MARKET
            return msgspec.structs.replace(
                parsed, status=VenueOrderStatus.OPEN, filled=0, order_type=became,
                venue_order_id=child or parsed.venue_order_id)
        mapped = _ALGO_END.get(str(status))
        return msgspec.structs.replace(parsed, status=mapped, filled=0) if mapped else parsed

    def raw_trade_text(self, info: Mapping[str, Any], field: str) -> object:
        return _lookup(info, _TRADE_FIELDS.get(field) or _ORDER_FIELDS.get(field), field)

    def parse_balances(self, balance: Mapping[str, Any]) -> list[VenueBalance]:
        info = balance.get("info") or {}
        rows = info.get("assets") if isinstance(info, Mapping) else None
        if not rows:
            return super().parse_balances(balance)
        out = []
        for row in rows:
            total = exact(row.get("walletBalance"))
            if total is None or (total == 0 and row.get("asset") not in ("USDT", "USDC")):
                continue
            free = exact(row.get("availableBalance")) or Decimal(0)
            out.append(VenueBalance(venue=self.venue, currency=str(row["asset"]), total=total,
                                    free=free, ts=int(row.get("updateTime") or 0) * 1_000_000,
                                    raw=dict(row)))
        return out


def _lookup(info: Mapping[str, Any], keys: tuple[str, str] | None, field: str) -> object:
    """The REST key's value, else the user stream's; Binance writes ``"0"`` for "none"
    in the trigger and average price fields."""
    if keys is None:
        return None
    value = info.get(keys[0], info.get(keys[1]))
    if field in ("triggerPrice", "average") and value is not None and exact(value) == 0:
        return None
    return value


__all__ = ["BinanceUsdmDialect"]
