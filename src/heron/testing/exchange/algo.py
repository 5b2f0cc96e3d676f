"""Conditional orders on Binance's Algo Service (``/fapi/v1/algoOrder``).

Since late 2025 Binance USD-M takes ``STOP_MARKET``, ``STOP``, ``TAKE_PROFIT_MARKET`` and
``TAKE_PROFIT`` only on the Algo Service (``/fapi/v1/order`` answers ``-4120``), and
ccxt 4.5 sends them there: ``clientAlgoId`` for the client id, ``triggerPrice``,
``algoType=CONDITIONAL``. The algo order rests outside the matching engine; it gets an
``algoId`` of its own and is reported by ``ALGO_UPDATE`` on the user stream, in the
shapes of the recorded fixtures (``ws_futures_algo_update_*.json``,
``algo_update_canceled.json``).

When the price crosses the trigger (the last trade for ``workingType=CONTRACT_PRICE``,
the book's mid for ``MARK_PRICE``; checked on every printed trade) the algo order goes
``TRIGGERING``, places a ``MARKET`` or ``LIMIT`` order through the account's ordinary
path, whose ``clientOrderId`` is the ``clientAlgoId`` (so its ``ORDER_TRADE_UPDATE`` and
fills follow as for any order), then goes ``TRIGGERED`` with ``ai`` the new order's id,
and ``FINISHED`` once that order is filled or canceled. A placement the account refuses
(reduce-only with nothing to reduce, margin) leaves the algo order ``REJECTED`` with the
reason in ``rm``. ``closePosition=true`` closes the whole position at trigger time.
Trailing stops are not emulated (``-1116``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from heron.model.instrument import Instrument
from heron.testing.exchange.auth import BinanceError, missing
from heron.testing.exchange.orders import parse_lots, parse_ticks

if TYPE_CHECKING:
    from heron.testing.exchange.account import FuturesAccount
    from heron.testing.exchange.orders import VenueOrder

__all__ = ["AlgoBook", "AlgoOrder"]

#: each conditional type: the order it places, and whether a rising price triggers a BUY
#: (stops buy on the way up, take-profits on the way down)
_KINDS = {"STOP_MARKET": ("MARKET", True), "STOP": ("LIMIT", True),
          "TAKE_PROFIT_MARKET": ("MARKET", False), "TAKE_PROFIT": ("LIMIT", False)}
_OPEN = ("NEW", "TRIGGERING")


@dataclass(slots=True)
class AlgoOrder:
    """One conditional order as the Algo Service keeps it."""

    algo_id: int
    client_id: str
    inst: Instrument
    side: str
    kind: str                 # STOP_MARKET / STOP / TAKE_PROFIT_MARKET / TAKE_PROFIT
    tif: str
    qty: int | None           # lots; None with closePosition
    price: int | None         # ticks, the limit of STOP / TAKE_PROFIT
    trigger: int              # ticks
    working_type: str
    reduce_only: bool
    close_position: bool
    time: int                 # ms
    status: str = "NEW"
    update_time: int = 0
    trigger_time: int = 0
    child: VenueOrder | None = None
    reason: str = ""

    def crossed(self, ticks: int) -> bool:
        """Whether a price of ``ticks`` sets this order off."""
        rising = _KINDS[self.kind][1] == (self.side == "BUY")
        return ticks >= self.trigger if rising else ticks <= self.trigger

    def body(self) -> dict[str, Any]:
        """The REST shape (``GET /fapi/v1/algoOrder``; ccxt's ``parse_order`` sample)."""
        inst, child = self.inst, self.child
        return {
            "algoId": self.algo_id, "clientAlgoId": self.client_id,
            "algoType": "CONDITIONAL", "orderType": self.kind, "symbol": inst.symbol,
            "side": self.side, "positionSide": "BOTH", "timeInForce": self.tif,
            "quantity": self._quantity(), "algoStatus": self.status,
            "triggerPrice": str(inst.price(self.trigger)), "price": self._price(),
            "icebergQuantity": None, "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": self.working_type, "priceMatch": "NONE",
            "closePosition": self.close_position, "priceProtect": False,
            "reduceOnly": self.reduce_only, "createTime": self.time,
            "updateTime": self.update_time or self.time, "triggerTime": self.trigger_time,
            "goodTillDate": 0, "actualOrderId": str(child.order_id) if child else "",
            "actualPrice": body_field(child, "avgPrice"),
        }

    def update(self, now_ms: int) -> dict[str, Any]:
        """``ALGO_UPDATE`` for the current status (fields as in the fixtures)."""
        child = self.child
        order: dict[str, Any] = {
            "caid": self.client_id, "aid": self.algo_id, "at": "CONDITIONAL",
            "o": self.kind, "s": self.inst.symbol, "S": self.side, "ps": "BOTH",
            "f": self.tif, "q": self._quantity(), "X": self.status,
            "ai": str(child.order_id) if child else "", "tp": str(self.inst.price(self.trigger)),
            "p": self._price(), "V": "EXPIRE_MAKER", "wt": self.working_type, "pm": "NONE",
            "cp": self.close_position, "pP": False, "R": self.reduce_only,
            "tt": self.trigger_time, "gtd": 0,
        }
        if child is not None:
            order.update(ap=body_field(child, "avgPrice"), aq=body_field(child, "executedQty"),
                         act=child.kind)
        if self.reason:
            order["rm"] = self.reason
        return {"e": "ALGO_UPDATE", "T": now_ms, "E": now_ms, "o": order}

    def _quantity(self) -> str:
        return str(self.inst.quantity(self.qty)) if self.qty is not None else "0"

    def _price(self) -> str:
        return str(self.inst.price(self.price)) if self.price is not None else "0"


def body_field(order: VenueOrder | None, name: str) -> str:
    return str(order.body()[name]) if order is not None else "0"


class AlgoBook:
    """The account's conditional orders: the REST endpoints and the trigger."""

    def __init__(self, account: FuturesAccount) -> None:
        self.account = account
        self.orders: dict[int, AlgoOrder] = {}
        self.by_client: dict[str, AlgoOrder] = {}
        self._ids = itertools.count(1_000_000_033_225_001)
        self._client_ids = itertools.count(1)

    # -- REST ------------------------------------------------------------------------------
    def place(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/algoOrder``."""
        acc = self.account
        inst = acc.instrument(params)
        if params.get("algoType") != "CONDITIONAL":
            raise BinanceError(-1116, "Invalid algoType.")
        order = self._parse(params, inst)
        reference = acc.trigger_reference(order.working_type)
        if order.crossed(reference):
            raise BinanceError(-2021, "Order would immediately trigger.")
        self.orders[order.algo_id] = order
        self.by_client[order.client_id] = order
        acc.publish(order.update(order.time))
        return order.body()

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /fapi/v1/algoOrder`` by ``algoId`` or ``clientAlgoId``."""
        order = self._find(params)
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return order.body()

    def cancel(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``DELETE /fapi/v1/algoOrder``: only an untriggered order can be canceled."""
        order = self._find(params)
        if order is None or order.status != "NEW":
            raise BinanceError(-2011, "Unknown order sent.")
        self._end(order, "CANCELED")
        return {"algoId": order.algo_id, "clientAlgoId": order.client_id, "code": "200",
                "msg": "success"}

    def open_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/openAlgoOrders`` (the symbol is optional)."""
        if params.get("symbol"):
            self.account.instrument(params)
        return [o.body() for o in self.orders.values() if o.status in _OPEN]

    def all_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/allAlgoOrders``: every algo order of the symbol, oldest first."""
        self.account.instrument(params)
        return [o.body() for o in self.orders.values()]

    def cancel_all(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``DELETE /fapi/v1/algoOpenOrders``."""
        self.account.instrument(params)
        for order in list(self.orders.values()):
            if order.status == "NEW":
                self._end(order, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- the trigger -----------------------------------------------------------------------
    def on_price(self) -> None:
        """Trigger every untriggered order whose price has been crossed, oldest first."""
        acc = self.account
        for order in list(self.orders.values()):
            if order.status == "NEW" and order.crossed(acc.trigger_reference(
                    order.working_type)):
                self._trigger(order)

    def on_order_done(self, order: VenueOrder) -> None:
        """A triggered order left the book (filled, canceled, expired): ``FINISHED``."""
        algo = self.by_client.get(order.client_id)
        if algo is not None and algo.child is order and algo.status == "TRIGGERED":
            self._end(algo, "FINISHED")

    def _trigger(self, order: AlgoOrder) -> None:
        """TRIGGERING, the order placed (its own events follow), TRIGGERED, maybe FINISHED:
        the order Binance sends them in (the fill's events come before TRIGGERED)."""
        acc, now_ms = self.account, int(time.time() * 1000)
        order.status, order.trigger_time, order.update_time = "TRIGGERING", now_ms, now_ms
        acc.publish(order.update(now_ms))
        try:
            order.child = acc.place_triggered(self._child_params(order), order.kind,
                                              str(order.inst.price(order.trigger)))
        except BinanceError as error:
            order.reason = error.msg
            self._end(order, "REJECTED")
            return
        order.status = "TRIGGERED"
        acc.publish(order.update(int(time.time() * 1000)))
        if not order.child.is_open:
            self._end(order, "FINISHED")

    def _child_params(self, order: AlgoOrder) -> dict[str, str]:
        """The new-order request the trigger sends: the whole position for closePosition."""
        inst, kind = order.inst, _KINDS[order.kind][0]
        qty, reduce_only = order.qty, order.reduce_only
        if order.close_position:
            qty = abs(self.account.portfolio.positions[inst.id].qty)
            reduce_only = True
            if not qty:
                raise BinanceError(-2022, "ReduceOnly Order is rejected.")
        assert qty is not None  # checked at placement
        params = {"symbol": inst.symbol, "side": order.side, "type": kind,
                  "quantity": str(inst.quantity(qty)), "newClientOrderId": order.client_id,
                  "reduceOnly": "true" if reduce_only else "false"}
        if kind == "LIMIT" and order.price is not None:
            params.update(price=str(inst.price(order.price)), timeInForce=order.tif)
        return params

    def _end(self, order: AlgoOrder, status: str) -> None:
        now_ms = int(time.time() * 1000)
        order.status, order.update_time = status, now_ms
        self.account.publish(order.update(now_ms))

    # -- parsing ---------------------------------------------------------------------------
    def _parse(self, params: Mapping[str, str], inst: Instrument) -> AlgoOrder:
        """The request checked as Binance checks it; the new (not yet stored) order."""
        kind = params.get("type", "")
        if kind not in _KINDS:
            raise missing("type") if not kind else BinanceError(-1116, "Invalid orderType.")
        side = params.get("side", "")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        client_id = params.get("clientAlgoId") or f"emualgo{next(self._client_ids):08d}"
        known = self.by_client.get(client_id)
        if known is not None and known.status in _OPEN:
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        close = params.get("closePosition", "false").lower() == "true"
        if close and kind not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise BinanceError(-4136, "Target strategy invalid for orderType "
                               f"{kind},closePosition true")
        qty = None if close else parse_lots(inst, params.get("quantity"))
        price = parse_ticks(inst, params.get("price")) if _KINDS[kind][0] == "LIMIT" \
            else None
        trigger = parse_ticks(inst, params.get("triggerPrice"), "triggerPrice")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        working = params.get("workingType", "CONTRACT_PRICE")
        if working not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise BinanceError(-1116, "Invalid workingType.")
        if qty is not None and not reduce_only \
                and inst.price(price or trigger) * inst.quantity(qty) < inst.min_notional:
            raise BinanceError(-4164, "Order's notional must be no smaller than "
                               f"{inst.min_notional} (unless you choose reduce only).")
        return AlgoOrder(next(self._ids), client_id, inst, side, kind,
                         params.get("timeInForce", "GTC"), qty, price, trigger, working,
                         reduce_only, close, int(time.time() * 1000))

    def _find(self, params: Mapping[str, str]) -> AlgoOrder | None:
        if params.get("symbol"):
            self.account.instrument(params)
        if params.get("algoId"):
            try:
                return self.orders.get(int(params["algoId"]))
            except ValueError:
                raise missing("algoId") from None
        if params.get("clientAlgoId"):
            return self.by_client.get(params["clientAlgoId"])
        raise BinanceError(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both "
                           "were empty/null!")
