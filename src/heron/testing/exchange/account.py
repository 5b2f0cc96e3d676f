"""The emulated futures account: heron's simulated venue behind Binance's order records.

Every order request is checked as Binance checks it (:mod:`.orders`), then handed to a
:class:`~heron.venues.sim.venue.SimVenue` as heron's own command, so the fills follow
heron's simulated rules (taking the book level by level, resting limits filled by
trades through them, IOC/FOK/post-only, reduce-only, margin). The venue's answers
(events) update the Binance-side records, the REST bodies and the user-data stream.

The book is the recorded REST snapshot of the public profile's capture (one symbol,
BTCUSDT); it does not move with the replayed diffs, and other symbols of exchangeInfo
are answered ``-1121``. :meth:`FuturesAccount.print_trade` prints a trade, which fills
resting limits it trades through. Binance's immediate refusals that the simulated venue
reports as a cancel after acceptance (a post-only order that would take: ``-5022``, a
FOK order not filled: ``-5021``, margin: ``-2019``) are answered as those errors, and the
order leaves no record, as on Binance. Leverage is Binance's default 20x, cross margin,
one-way mode; fees are the VIP 0 rates (maker 0.02%, taker 0.05%).

Conditional orders (stop / take-profit) rest on :attr:`FuturesAccount.algos`
(:mod:`.algo`, Binance's Algo Service); each printed trade moves the last price they
trigger on, and a triggered one places its order through :meth:`FuturesAccount.place`.
``userTrades`` honours ``orderId``, ``fromId``, ``startTime``/``endTime`` and ``limit``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from heron.core.clock import WallClock
from heron.core.ids import IdGenerator
from heron.model.book import L2Book
from heron.model.data import BookSnapshot
from heron.model.events import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderUpdated,
    OrderUpdateRejected,
    Record,
)
from heron.model.instrument import Instrument
from heron.model.portfolio import Portfolio, fraction_of
from heron.testing.exchange.algo import AlgoBook
from heron.testing.exchange.auth import BinanceError, missing
from heron.testing.exchange.orders import (
    STRATEGY,
    VenueOrder,
    order_command,
    parse_lots,
    parse_ticks,
)
from heron.testing.exchange.stream import account_update, order_update
from heron.venues.binance.instruments import BinanceMarket, instruments_from_exchange_info
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.venue import SimVenue

__all__ = ["FuturesAccount"]

LEVERAGE = Decimal(20)
_MAKER, _TAKER = Decimal("0.0002"), Decimal("0.0005")
Publish = Callable[[dict[str, Any]], None]


class FuturesAccount:
    """One USD-M account (one asset, USDT) trading the recorded book's symbol."""

    def __init__(self, exchange_info: bytes, snapshot: bytes, *, fund: Decimal,
                 symbol: str = "BTCUSDT", publish: Publish | None = None) -> None:
        listed = instruments_from_exchange_info(exchange_info, BinanceMarket.USDM)
        self.listed = set(listed)
        self.inst = replace(listed[symbol], maker_fee=_MAKER, taker_fee=_TAKER)
        precision = max(8, self.inst.notional_precision)
        self.portfolio = Portfolio([self.inst], int(fund.scaleb(precision)), precision)
        self._events: list[Record] = []
        self.venue = SimVenue(instruments=[self.inst], portfolio=self.portfolio,
                              ids=IdGenerator("EMU"), clock=WallClock(),
                              emit=self._events.append,
                              config=SimVenueConfig(leverage=LEVERAGE))
        self.book = L2Book(self.inst)
        self.book.apply_snapshot(_snapshot(self.inst, snapshot))
        self.venue.books[self.inst.id] = self.book
        self.portfolio.marks[self.inst.id] = self.mark()
        self.publish: Publish = publish or (lambda _: None)
        self.orders: dict[int, VenueOrder] = {}
        self.open_by_id: dict[int, VenueOrder] = {}   # open, and closed since last asked
        self.by_client: dict[str, VenueOrder] = {}
        self.trades: list[dict[str, Any]] = []
        self._order_ids = itertools.count(4_000_000_001)
        self._trade_ids = itertools.count(700_000_001)
        self._client_ids = itertools.count(1)
        self.last_price = self.mark()   # ticks: what CONTRACT_PRICE triggers look at
        self.algos = AlgoBook(self)

    # -- market ----------------------------------------------------------------------------
    def mark(self) -> int:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid is None or ask is None:
            raise BinanceError(-1001, "Internal error; unable to process your request.", 500)
        return (bid[0] + ask[0]) // 2

    def print_trade(self, price: Decimal, quantity: Decimal) -> None:
        """A trade prints on the venue: resting orders it trades through fill, and
        conditional orders whose trigger it crosses go off."""
        self.last_price = self.inst.ticks(price)
        self.venue.on_trade(self.inst.id, self.last_price, self.inst.lots(quantity))
        self._apply(self._drain())
        self.algos.on_price()

    def trigger_reference(self, working_type: str) -> int:
        """The price a conditional order compares with its trigger (ticks)."""
        return self.mark() if working_type == "MARK_PRICE" else self.last_price

    # -- orders ----------------------------------------------------------------------------
    def place(self, params: Mapping[str, str], orig_type: str = "",
              stop_price: str = "0") -> dict[str, Any]:
        """``POST /fapi/v1/order``; ``orig_type``/``stop_price`` mark an order placed by a
        triggered conditional order (its ``origType`` and ``stopPrice``)."""
        inst = self.instrument(params)
        client_id = params.get("newClientOrderId") or f"emu{next(self._client_ids):08d}"
        if client_id in self.by_client and self.by_client[client_id].is_open:
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        side = params.get("side", "")
        reference = (self.book.best_ask() if side == "BUY" else self.book.best_bid()) or (0, 0)
        now = time.time_ns()
        cmd = order_command(params, inst, client_id, now, reference[0] or None)
        self._check_margin(cmd.price or reference[0], cmd.quantity, cmd.reduce_only)
        self.venue.submit(cmd)
        events = self._drain()
        refusal = _refusal(events)
        if refusal is not None:
            raise refusal
        order = VenueOrder(next(self._order_ids), client_id, inst, side, params["type"],
                           params.get("timeInForce", "GTC"), cmd.quantity, cmd.price,
                           cmd.reduce_only, now // 1_000_000, orig_type=orig_type,
                           stop_price=stop_price)
        self.orders[order.order_id] = order
        self.open_by_id[order.order_id] = order
        self.by_client[client_id] = order
        self._apply(events)
        return order.body()

    def place_triggered(self, params: Mapping[str, str], orig_type: str,
                        stop_price: str) -> VenueOrder:
        """The order a triggered conditional order places (see :mod:`.algo`)."""
        self.place(params, orig_type, stop_price)
        return self.by_client[params["newClientOrderId"]]

    def query(self, params: Mapping[str, str]) -> dict[str, Any]:
        order = self._find(params)
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return order.body()

    def cancel(self, params: Mapping[str, str]) -> dict[str, Any]:
        order = self._find(params)
        if order is None or not order.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        now = time.time_ns()
        self.venue.cancel(CancelOrder(now, now, order.client_id, STRATEGY, order.inst.id))
        self._apply(self._drain())
        return order.body()

    def amend(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``PUT /fapi/v1/order``: a new price and quantity for a resting limit order."""
        order = self._find(params)
        if order is None or not order.is_open:
            raise BinanceError(-2013, "Order does not exist.")
        if order.kind != "LIMIT" or params.get("side") != order.side:
            raise BinanceError(-4028 if order.kind != "LIMIT" else -1117,
                               "Only LIMIT orders can be modified; the side must match.")
        lots = parse_lots(order.inst, params.get("quantity"))
        ticks = parse_ticks(order.inst, params.get("price"))
        if (lots, ticks) == (order.qty, order.price):
            raise BinanceError(-5027, "No need to modify the order.")
        now = time.time_ns()
        self.venue.amend(AmendOrder(now, now, order.client_id, STRATEGY, order.inst.id,
                                    quantity=lots, price=ticks))
        events = self._drain()
        for event in events:
            if isinstance(event, OrderUpdateRejected):
                raise BinanceError(-4003, f"Quantity is invalid: {event.reason}.")
        self.venue.on_book(order.inst.id)  # a price moved through the book takes it
        self._apply(events + self._drain())
        return order.body()

    def open_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = params.get("symbol")
        if symbol:
            self.instrument(params)
        return [o.body() for o in self.orders.values()
                if o.is_open and (not symbol or o.inst.symbol == symbol)]

    def cancel_all(self, params: Mapping[str, str]) -> dict[str, Any]:
        inst = self.instrument(params)
        now = time.time_ns()
        self.venue.cancel_all(CancelAllOrders(now, now, STRATEGY, inst.id))
        self._apply(self._drain())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def user_trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/userTrades`` with Binance's filters: ``orderId``; ``fromId`` (not
        with a time range, ``-1128``); ``startTime``/``endTime``, at most 7 days apart
        (``-1127``; the last 7 days when neither is sent); ``limit`` (default 500, at most
        1000). From ``fromId`` or ``startTime`` the oldest ``limit`` trades come, else the
        newest; always in ascending id order."""
        self.instrument(params)
        limit, start, end, from_id, order_id = (
            _int_param(params, name) for name in
            ("limit", "startTime", "endTime", "fromId", "orderId"))
        limit = limit or 500
        if not 0 < limit <= 1000:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        if from_id is not None and (start is not None or end is not None):
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > _WEEK_MS:
            raise BinanceError(-1127, "More than 168 hours between startTime and endTime.")
        if start is None and from_id is None:
            end = end if end is not None else int(time.time() * 1000)
            start = end - _WEEK_MS
        elif start is not None and end is None:
            end = start + _WEEK_MS
        rows = [t for t in self.trades
                if (order_id is None or t["orderId"] == order_id)
                and (from_id is None or t["id"] >= from_id)
                and (start is None or start <= t["time"] <= (end or 0))]
        oldest_first = from_id is not None or "startTime" in params
        return rows[:limit] if oldest_first else rows[-limit:]

    # -- account ---------------------------------------------------------------------------
    def money(self, raw: int) -> str:
        return format(self.portfolio.money(raw), "f")

    def position(self) -> dict[str, Any]:
        """The symbol's position in ``positionRisk`` shape (``position_risk.json``)."""
        pos, inst, mark = self.portfolio.positions[self.inst.id], self.inst, self.mark()
        entry = pos.avg_entry or Decimal(0)
        notional = inst.price(mark) * inst.quantity(pos.qty)
        return {
            "symbol": inst.symbol, "positionAmt": str(inst.quantity(pos.qty)),
            "entryPrice": str(entry), "breakEvenPrice": str(entry),
            "markPrice": str(inst.price(mark)),
            "unRealizedProfit": self.money(pos.unrealised(mark)),
            "liquidationPrice": "0", "leverage": str(LEVERAGE), "maxNotionalValue": "250000",
            "marginType": "cross", "isolatedMargin": "0.00000000", "isAutoAddMargin": "false",
            "positionSide": "BOTH", "notional": str(notional), "isolatedWallet": "0",
            "initialMargin": str(abs(notional) / LEVERAGE),
            "updateTime": int(time.time() * 1000),
        }

    def leverage_bracket(self) -> dict[str, Any]:
        """One notional bracket (ccxt reads the maintenance rate from it): the symbol's
        maintenance margin of exchangeInfo, the default leverage, no cap."""
        return {"symbol": self.inst.symbol, "notionalCoef": 1.0, "brackets": [{
            "bracket": 1, "initialLeverage": int(LEVERAGE), "notionalCap": 1_000_000_000,
            "notionalFloor": 0, "maintMarginRatio": float(self.inst.margin_maint),
            "cum": 0.0}]}

    def balance_row(self) -> dict[str, Any]:
        """The USDT row of ``/fapi/v2/balance`` and of the account's ``assets``."""
        pf = self.portfolio
        unrealised = pf.equity() - pf.balance
        available = pf.equity() - pf.margin_used() - self._order_margin()
        return {
            "accountAlias": "SgsR", "asset": "USDT", "balance": self.money(pf.balance),
            "walletBalance": self.money(pf.balance), "unrealizedProfit": self.money(unrealised),
            "marginBalance": self.money(pf.equity()), "crossWalletBalance":
            self.money(pf.balance), "crossUnPnl": self.money(unrealised),
            "availableBalance": self.money(available), "maxWithdrawAmount":
            self.money(max(available, 0)), "initialMargin": self.money(pf.margin_used()),
            "marginAvailable": True, "updateTime": int(time.time() * 1000),
        }

    def account(self) -> dict[str, Any]:
        """``/fapi/v2/account`` and ``/fapi/v3/account`` (``account_info_v2.json``)."""
        row, pf = self.balance_row(), self.portfolio
        return {
            "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1,
            "totalInitialMargin": row["initialMargin"], "totalMaintMargin": "0.00000000",
            "totalWalletBalance": row["walletBalance"],
            "totalUnrealizedProfit": row["unrealizedProfit"],
            "totalMarginBalance": row["marginBalance"],
            "totalCrossWalletBalance": row["walletBalance"],
            "totalCrossUnPnl": row["crossUnPnl"], "availableBalance": row["availableBalance"],
            "maxWithdrawAmount": row["maxWithdrawAmount"], "assets": [row],
            "positions": [self.position()] if pf.positions[self.inst.id].qty else [],
        }

    # -- internals -------------------------------------------------------------------------
    def instrument(self, params: Mapping[str, str]) -> Instrument:
        symbol = params.get("symbol")
        if not symbol:
            raise missing("symbol")
        if symbol != self.inst.symbol:
            raise BinanceError(-1121, "Invalid symbol.")
        return self.inst

    def _find(self, params: Mapping[str, str]) -> VenueOrder | None:
        self.instrument(params)
        if params.get("orderId"):
            try:
                return self.orders.get(int(params["orderId"]))
            except ValueError:
                raise missing("orderId") from None
        if params.get("origClientOrderId"):
            return self.by_client.get(params["origClientOrderId"])
        raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                           "but both were empty/null!")

    def venue_open(self) -> list[VenueOrder]:
        """The open orders (the account keeps every order it took, closed ones too)."""
        for order_id in [i for i, o in self.open_by_id.items() if not o.is_open]:
            del self.open_by_id[order_id]
        return list(self.open_by_id.values())

    def _order_margin(self) -> int:
        pos = self.portfolio.positions[self.inst.id]
        total = 0
        for order in self.venue_open():
            if not order.reduce_only and order.price is not None:
                total += pos.money(order.price * (order.qty - order.executed))
        return fraction_of(total, 1 / LEVERAGE)

    def _check_margin(self, ticks: int, lots: int, reduce_only: bool) -> None:
        """Binance refuses an order whose initial margin exceeds what is available."""
        if reduce_only:
            return
        pf = self.portfolio
        pos = pf.positions[self.inst.id]
        reduces = min(lots, abs(pos.qty)) if pos.qty else 0
        need = fraction_of(pos.money(ticks * (lots - reduces)), 1 / LEVERAGE)
        if need > pf.equity() - pf.margin_used() - self._order_margin():
            raise BinanceError(-2019, "Margin is insufficient.")

    def _drain(self) -> list[Record]:
        events = list(self._events)  # the venue holds the list's append: clear in place
        self._events.clear()
        return events

    def _apply(self, events: list[Record]) -> None:
        """The venue's answers onto the records; each goes out on the user stream."""
        for event in events:
            order = self.by_client.get(getattr(event, "client_order_id", ""))
            if order is None:
                continue
            now_ms = event.ts_event // 1_000_000
            order.update_time = now_ms
            if isinstance(event, OrderAccepted):
                self.publish(order_update(order, "NEW", now_ms))
            elif isinstance(event, OrderFilled):
                self._fill(order, event, now_ms)
            elif isinstance(event, OrderCanceled):
                order.status = "CANCELED" if event.reason == "canceled by strategy" \
                    else "EXPIRED"
                self.publish(order_update(order, order.status, now_ms))
            elif isinstance(event, OrderUpdated):
                order.qty, order.price = event.quantity, event.price
                self.publish(order_update(order, "AMENDMENT", now_ms))
            if not order.is_open:
                self.algos.on_order_done(order)

    def _fill(self, order: VenueOrder, fill: OrderFilled, now_ms: int) -> None:
        pnl = self.portfolio.apply_fill(fill)
        order.executed += fill.last_qty
        order.quote += fill.last_qty * fill.last_px
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        inst = order.inst
        trade = {
            "symbol": inst.symbol, "id": next(self._trade_ids), "orderId": order.order_id,
            "side": order.side, "price": str(inst.price(fill.last_px)),
            "qty": str(inst.quantity(fill.last_qty)), "realizedPnl": self.money(pnl),
            "marginAsset": "USDT", "quoteQty": str(inst.price(fill.last_px)
                                                    * inst.quantity(fill.last_qty)),
            "commission": self.money(fill.fee), "commissionAsset": "USDT", "time": now_ms,
            "positionSide": "BOTH", "buyer": order.side == "BUY",
            "maker": fill.liquidity == "maker",
        }
        self.trades.append(trade)
        self.publish(order_update(order, "TRADE", now_ms, trade))
        self.publish(account_update(self, now_ms))


_WEEK_MS = 7 * 24 * 3600 * 1000


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    """An optional integer parameter; ``-1100`` when it is not one."""
    text = params.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal "
                           "range is '^[0-9]{1,20}$'.") from None


def _refusal(events: list[Record]) -> BinanceError | None:
    """What Binance answers for an order the simulated venue refused or dropped at once."""
    if events and isinstance(events[0], OrderRejected):
        reason = events[0].reason
        if "reduce-only" in reason:
            return BinanceError(-2022, "ReduceOnly Order is rejected.")
        return BinanceError(-1013, f"Filter failure: {reason}")
    if any(isinstance(e, OrderFilled) for e in events):
        return None
    for event in events:
        if isinstance(event, OrderCanceled):
            if event.reason.startswith("post-only"):
                return BinanceError(-5022, "Due to the order could not be executed as maker, "
                                    "the Post Only order will be rejected. The order will not "
                                    "be recorded in the order history")
            if event.reason.startswith("FOK"):
                return BinanceError(-5021, "Due to the order could not be filled immediately, "
                                    "the FOK order has been rejected. The order will not be "
                                    "recorded in the order history")
            if event.reason.startswith("insufficient margin"):
                return BinanceError(-2019, "Margin is insufficient.")
    return None


def _snapshot(inst: Instrument, body: bytes) -> BookSnapshot:
    data = json.loads(body)
    ts = int(data.get("E", 0)) * 1_000_000

    def levels(rows: list[list[str]]) -> tuple[tuple[int, int], ...]:
        return tuple((inst.ticks(p), inst.lots(q)) for p, q in rows)

    return BookSnapshot(inst, ts, ts, levels(data["bids"]), levels(data["asks"]),
                        int(data["lastUpdateId"]))

