"""Alpaca's trading API for US equities on 127.0.0.1: orders, positions, account, stream.

:class:`AlpacaTradingServer` speaks enough of ``https://paper-api.alpaca.markets`` for
heron's :class:`~heron.venues.alpaca.equity_orders.AlpacaEquityClient` (and any other
client of Alpaca's v2 trading API) to trade against it: ``POST/GET/DELETE /v2/orders``,
``GET /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``, ``PATCH /v2/orders/{id}``
(a replace: a *new* order id, the old order ``replaced``), ``GET /v2/positions``,
``/v2/account``, ``/v2/clock``, ``/v2/assets/{symbol}``, ``/v2/account/activities/FILL``
and the ``trade_updates`` WebSocket at ``/stream`` (``authenticate`` then ``listen``;
binary frames, as Alpaca's paper stream sends them). Shapes follow Alpaca's docs: the
order object's fields, errors as ``{"code": 4xx10000, "message": ...}`` with Alpaca's
words, trade updates as ``{"stream": "trade_updates", "data": {"event": ...}}``.

**Matching is deliberately simple**: a market order fills at once, whole, at the price the
test set (:meth:`set_price`); limit and stop orders rest until the test prints a trade
(:meth:`trade`), which fills the orders it crosses, up to its size (partial fills).

**Alpaca's rules it enforces**, because heron must handle them: fractional quantities only
on ``fractionable`` assets and only ``time_in_force=day``; ``extended_hours`` only for DAY
limit orders; no sub-penny limit or stop prices at or above $1; buying power for buys and
the position for sells (Alpaca's ``403``); unique ``client_order_id`` (``422``). While the
clock is closed (:meth:`set_open`) a market order is *queued* as ``accepted`` and fills at
the next open, as Alpaca does; resting orders fill on printed trades only in the regular
session, or any time with ``extended_hours``.

Fault knobs: :meth:`fail_next` (429 with ``Retry-After``, 5xx), :meth:`lose_next` (the
request is executed, then the connection is cut before the reply: a lost placement),
:meth:`drop_streams`. The server runs its own loop on a daemon thread; knobs run on it, so
they are safe from the test's thread; leaving the ``with`` block stops it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from heron.testing.venues.alpaca import KEYS, equity_asset

__all__ = ["AlpacaTradingServer"]

T = TypeVar("T")
_OPEN = ("new", "accepted", "partially_filled", "pending_new")
_TYPES = ("market", "limit", "stop", "stop_limit")
_TIFS = ("day", "gtc", "ioc", "fok", "opg", "cls")
_HOUR_NS = 3600 * 1_000_000_000


def _iso(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class _Refused(Exception):
    """An Alpaca error reply: HTTP status, Alpaca's code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(slots=True)
class _Order:
    """One order, exact inside; :meth:`body` is Alpaca's order object."""

    symbol: str
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    extended_hours: bool
    status: str = "new"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    filled_qty: Decimal = Decimal(0)
    filled_cost: Decimal = Decimal(0)
    created_ns: int = field(default_factory=time.time_ns)
    updated_ns: int = 0
    triggered: bool = False
    replaces: str | None = None
    replaced_by: str | None = None

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled_qty

    def body(self) -> dict[str, Any]:
        avg = self.filled_cost / self.filled_qty if self.filled_qty else None
        stamp = _iso(self.updated_ns or self.created_ns)
        return {
            "id": self.id, "client_order_id": self.client_order_id,
            "created_at": _iso(self.created_ns), "updated_at": stamp,
            "submitted_at": _iso(self.created_ns),
            "filled_at": stamp if self.status == "filled" else None,
            "expired_at": None, "canceled_at": stamp if self.status == "canceled" else None,
            "failed_at": None, "replaced_at": stamp if self.status == "replaced" else None,
            "replaced_by": self.replaced_by, "replaces": self.replaces,
            "asset_id": f"emulated-{self.symbol.lower()}", "symbol": self.symbol,
            "asset_class": "us_equity", "notional": None, "qty": _text(self.qty),
            "filled_qty": _text(self.filled_qty), "filled_avg_price": _text(avg),
            "order_class": "", "order_type": self.type, "type": self.type, "side": self.side,
            "position_intent": "buy_to_open" if self.side == "buy" else "sell_to_close",
            "time_in_force": self.time_in_force, "limit_price": _text(self.limit_price),
            "stop_price": _text(self.stop_price), "status": self.status,
            "extended_hours": self.extended_hours, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None}


@dataclass(slots=True)
class _Fault:
    status: int
    times: int
    retry_after: str | None


class AlpacaTradingServer:
    """Alpaca's v2 trading API and ``trade_updates`` stream, on a port the OS picks."""

    def __init__(self, *, keys: tuple[str, str] = KEYS, cash: str = "100000",
                 is_open: bool = True, assets: list[dict[str, Any]] | None = None) -> None:
        self.keys = keys
        self.cash = Decimal(cash)
        self.is_open = is_open
        self.assets = {a["symbol"]: a for a in assets or [
            equity_asset("AAPL", "Apple Inc. Common Stock"),
            equity_asset("BRK.A", "Berkshire Hathaway Inc. Class A", "NYSE",
                         fractionable=False)]}
        self.prices: dict[str, Decimal] = {}
        self.orders: dict[str, _Order] = {}
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, cost)
        self.activities: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (method, path, body)
        self.listeners = 0          # stream connections listening to trade_updates now
        self._faults: list[_Fault] = []
        self._lose: list[tuple[str, str]] = []
        self._sockets: set[web.WebSocketResponse] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    def start(self) -> AlpacaTradingServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._start_app())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name="alpaca-trading", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Alpaca trading emulator did not start")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> AlpacaTradingServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def _start_app(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("POST", "/v2/orders", self._post_order), ("GET", "/v2/orders", self._list),
            ("DELETE", "/v2/orders", self._cancel_all),
            ("GET", "/v2/orders:by_client_order_id", self._by_client_id),
            ("GET", "/v2/orders/{id}", self._get_order),
            ("DELETE", "/v2/orders/{id}", self._cancel),
            ("PATCH", "/v2/orders/{id}", self._replace),
            ("GET", "/v2/positions", self._positions), ("GET", "/v2/account", self._account),
            ("GET", "/v2/clock", self._clock), ("GET", "/v2/assets/{symbol}", self._asset),
            ("GET", "/v2/account/activities/FILL", self._fills)]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        app.router.add_get("/stream", self._stream)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        await asyncio.gather(*(ws.close() for ws in list(self._sockets)))
        if self._runner is not None:
            await self._runner.cleanup()

    # -- knobs (from the test's thread) ----------------------------------------------------
    def call(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``fn()`` on the server's loop and return its result."""
        assert self._loop is not None, "the server is not running"
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    def set_price(self, symbol: str, price: str) -> None:
        """The price market orders on ``symbol`` fill at from now on."""
        self.prices[symbol] = Decimal(price)

    def set_open(self, is_open: bool) -> None:
        """Open or close the regular session; opening fills the queued market orders."""
        async def change() -> None:
            self.is_open = is_open
            if is_open:
                for order in list(self.orders.values()):
                    if order.status in _OPEN and order.type == "market":
                        await self._fill(order, order.leaves, self.prices[order.symbol])
        self.call(change)

    def trade(self, symbol: str, price: str, size: str | None = None) -> None:
        """A trade prints on ``symbol``: resting orders it crosses fill, oldest first, up
        to ``size`` in all (``None``: without limit)."""
        async def match() -> None:
            await self._match(symbol, Decimal(price), None if size is None else Decimal(size))
        self.call(match)

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` without executing them."""
        self._faults.append(_Fault(status, times, retry_after))

    def lose_next(self, method: str = "POST", path: str = "/v2/orders") -> None:
        """Execute the next ``method path`` request, then cut the connection unanswered."""
        self._lose.append((method, path))

    def push(self, data: dict[str, Any]) -> None:
        """Send a raw ``trade_updates`` message (a duplicate, an unknown event) to all."""
        self.call(lambda: self._broadcast(data))

    def drop_streams(self) -> None:
        """Cut every stream connection without a close frame."""
        async def cut() -> None:
            for ws in list(self._sockets):
                transport = ws._req.transport if ws._req is not None else None
                if transport is not None:
                    transport.abort()
        self.call(cut)

    def open_orders(self) -> list[dict[str, Any]]:
        return [o.body() for o in self.orders.values() if o.status in _OPEN]

    # -- HTTP plumbing ---------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        """Keys, fault knobs, the request log, and Alpaca's error bodies."""
        if request.path == "/stream":
            return await handler(request)
        body = await request.json() if request.can_read_body else {}
        self.requests.append((request.method, request.path, body or dict(request.query)))
        if self._faults:
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.pop(0)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return web.json_response({"code": fault.status * 100000,
                                      "message": "emulated failure"},
                                     status=fault.status, headers=headers)
        if (request.headers.get("APCA-API-KEY-ID"),
                request.headers.get("APCA-API-SECRET-KEY")) != self.keys:
            return _error(401, 40110000, "request is not authorized")
        request["body"] = body
        try:
            reply = await handler(request)
        except _Refused as refused:
            return _error(refused.status, refused.code, refused.message)
        if (request.method, request.path) in self._lose:
            self._lose.remove((request.method, request.path))
            if request.transport is not None:
                request.transport.abort()
        return reply

    # -- orders ----------------------------------------------------------------------------
    async def _post_order(self, request: web.Request) -> web.StreamResponse:
        order = self._new_order(request["body"])
        if any(o.client_order_id == order.client_order_id for o in self.orders.values()):
            raise _Refused(422, 40010001, "client_order_id must be unique")
        self._check_funds(order)
        await self._accept(order)
        return web.json_response(order.body())

    def _new_order(self, body: dict[str, Any]) -> _Order:
        """The order a request body describes, or Alpaca's 422 for what is wrong."""
        symbol = str(body.get("symbol", ""))
        asset = self.assets.get(symbol)
        if asset is None:
            raise _Refused(422, 40010001, f'asset "{symbol}" not found')
        kind, tif = body.get("type"), body.get("time_in_force")
        if kind not in _TYPES or tif not in _TIFS or body.get("side") not in ("buy", "sell"):
            raise _Refused(422, 40010001, "invalid order type, side or time_in_force")
        qty = _decimal(body.get("qty"), "qty")
        if qty is None or qty <= 0:
            raise _Refused(422, 40010001, "qty must be > 0")
        limit, stop = _prices(body, kind)
        extended = body.get("extended_hours") is True
        if extended and (kind != "limit" or tif != "day"):
            raise _Refused(422, 40010001, "extended hours order must be DAY limit orders")
        if qty != qty.to_integral_value():
            if not asset.get("fractionable"):
                raise _Refused(422, 40010001, f"asset {symbol} is not fractionable")
            if tif != "day":
                raise _Refused(422, 40010001, "fractional orders must be DAY orders")
        coid = str(body.get("client_order_id") or uuid.uuid4())
        if len(coid) > 128:
            raise _Refused(422, 40010001, "client_order_id must be no more than 128 chars")
        return _Order(symbol, coid, str(body["side"]), kind, tif, qty, limit, stop, extended)

    def _check_funds(self, order: _Order) -> None:
        """Alpaca's 403s: buying power for a buy, the position for a sell."""
        if order.side == "buy":
            price = order.limit_price or order.stop_price or self.prices.get(order.symbol)
            if price is not None and price * order.qty > self._buying_power():
                raise _Refused(403, 40310000, "insufficient buying power")
            return
        held = self.positions.get(order.symbol, (Decimal(0), Decimal(0)))[0]
        selling = sum((o.leaves for o in self.orders.values() if o.status in _OPEN
                       and o.symbol == order.symbol and o.side == "sell"), Decimal(0))
        available = held - selling
        if order.qty > available:
            raise _Refused(403, 40310000, "insufficient qty available for order (requested: "
                           f"{_text(order.qty)}, available: {_text(available)})")

    def _buying_power(self) -> Decimal:
        reserved = sum(((o.limit_price or o.stop_price or self.prices.get(o.symbol, Decimal(0)))
                        * o.leaves for o in self.orders.values()
                        if o.status in _OPEN and o.side == "buy"), Decimal(0))
        return self.cash - reserved

    async def _accept(self, order: _Order) -> None:
        """Store ``order``, announce it, and fill what fills at once."""
        self.orders[order.id] = order
        if order.type == "market" and not self.is_open:
            order.status = "accepted"
        await self._event("new", order)
        if order.type == "market" and self.is_open:
            await self._fill(order, order.qty, self.prices[order.symbol])
        elif order.time_in_force in ("ioc", "fok") and order.status in _OPEN:
            price = self.prices.get(order.symbol)
            if price is not None and order.type == "limit" and self._crosses(order, price):
                await self._fill(order, order.qty, order.limit_price or price)
            else:
                await self._finish(order, "canceled")

    async def _get_order(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._order(request.match_info["id"]).body())

    async def _by_client_id(self, request: web.Request) -> web.StreamResponse:
        coid = request.query.get("client_order_id", "")
        found = [o for o in self.orders.values() if o.client_order_id == coid]
        if not found:
            raise _Refused(404, 40410000, "order not found")
        return web.json_response(found[0].body())

    async def _list(self, request: web.Request) -> web.StreamResponse:
        status = request.query.get("status", "open")
        symbols = set(filter(None, request.query.get("symbols", "").split(",")))
        out = [o.body() for o in self.orders.values()
               if (status == "all" or (o.status in _OPEN) == (status == "open"))
               and (not symbols or o.symbol in symbols)]
        if request.query.get("direction", "desc") == "desc":
            out.reverse()
        return web.json_response(out[:int(request.query.get("limit", "50"))])

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        order = self._order(request.match_info["id"])
        if order.status not in _OPEN:
            raise _Refused(422, 42210000, "order is not cancelable")
        await self._finish(order, "canceled")
        return web.Response(status=204)

    async def _cancel_all(self, request: web.Request) -> web.StreamResponse:
        out = []
        for order in [o for o in self.orders.values() if o.status in _OPEN]:
            await self._finish(order, "canceled")
            out.append({"id": order.id, "status": 200, "body": order.body()})
        return web.json_response(out, status=207)

    async def _replace(self, request: web.Request) -> web.StreamResponse:
        """Alpaca's replace: a new order with a new id; the old one becomes ``replaced``."""
        old = self._order(request.match_info["id"])
        if old.status not in _OPEN:
            raise _Refused(422, 42210000, "order is not replaceable")
        body = request["body"]
        merged = {"symbol": old.symbol, "side": old.side, "type": old.type,
                  "time_in_force": body.get("time_in_force", old.time_in_force),
                  "qty": body.get("qty", _text(old.qty)),
                  "limit_price": body.get("limit_price", _text(old.limit_price)),
                  "stop_price": body.get("stop_price", _text(old.stop_price)),
                  "extended_hours": old.extended_hours,
                  "client_order_id": body.get("client_order_id")}
        new = self._new_order(merged)
        if any(o.client_order_id == new.client_order_id for o in self.orders.values()):
            raise _Refused(422, 40010001, "client_order_id must be unique")
        new.replaces, old.replaced_by = old.id, new.id
        await self._finish(old, "replaced")
        await self._accept(new)
        return web.json_response(new.body())

    def _order(self, order_id: str) -> _Order:
        order = self.orders.get(order_id)
        if order is None:
            raise _Refused(404, 40410000, "order not found")
        return order

    # -- matching --------------------------------------------------------------------------
    @staticmethod
    def _crosses(order: _Order, price: Decimal) -> bool:
        limit = order.limit_price
        assert limit is not None
        return price <= limit if order.side == "buy" else price >= limit

    async def _match(self, symbol: str, price: Decimal, size: Decimal | None) -> None:
        """Fill what a trade at ``price`` crosses; stops trigger first."""
        for order in [o for o in self.orders.values() if o.symbol == symbol]:
            if order.status not in _OPEN or not (self.is_open or order.extended_hours):
                continue
            if order.stop_price is not None and not order.triggered:
                up = order.side == "buy"
                order.triggered = price >= order.stop_price if up else price <= order.stop_price
                if not order.triggered:
                    continue
            if order.limit_price is not None and not self._crosses(order, price):
                continue
            qty = order.leaves if size is None else min(size, order.leaves)
            if qty > 0:
                await self._fill(order, qty, price)
                size = None if size is None else size - qty

    async def _fill(self, order: _Order, qty: Decimal, price: Decimal) -> None:
        order.filled_qty += qty
        order.filled_cost += qty * price
        order.updated_ns = time.time_ns()
        order.status = "filled" if order.leaves == 0 else "partially_filled"
        held, cost = self.positions.get(order.symbol, (Decimal(0), Decimal(0)))
        signed = qty if order.side == "buy" else -qty
        self.cash -= signed * price
        if held + signed == 0:
            self.positions.pop(order.symbol, None)
        else:
            cost = cost + signed * price if signed * held >= 0 else cost * (held + signed) / held
            self.positions[order.symbol] = (held + signed, cost)
        execution = str(uuid.uuid4())
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(order.updated_ns // 10**9))
        self.activities.append({
            "id": f"{stamp}{order.updated_ns // 1_000_000 % 1000:03d}::{execution}",
            "activity_type": "FILL", "transaction_time": _iso(order.updated_ns),
            "type": "fill" if order.status == "filled" else "partial_fill",
            "price": _text(price), "qty": _text(qty), "side": order.side,
            "symbol": order.symbol, "leaves_qty": _text(order.leaves), "order_id": order.id,
            "cum_qty": _text(order.filled_qty), "order_status": order.status})
        await self._event("fill" if order.status == "filled" else "partial_fill", order,
                          execution_id=execution, price=_text(price), qty=_text(qty),
                          position_qty=_text(held + signed), timestamp=_iso(order.updated_ns))

    async def _finish(self, order: _Order, status: str) -> None:
        order.status, order.updated_ns = status, time.time_ns()
        await self._event(status, order, timestamp=_iso(order.updated_ns))

    # -- account ---------------------------------------------------------------------------
    async def _positions(self, request: web.Request) -> web.StreamResponse:
        out = []
        for symbol, (qty, cost) in self.positions.items():
            price = self.prices.get(symbol, cost / qty)
            out.append({"asset_id": f"emulated-{symbol.lower()}", "symbol": symbol,
                        "exchange": self.assets[symbol]["exchange"], "asset_class": "us_equity",
                        "avg_entry_price": _text(cost / qty), "qty": _text(qty),
                        "qty_available": _text(qty), "side": "long" if qty > 0 else "short",
                        "market_value": _text(qty * price), "cost_basis": _text(cost),
                        "unrealized_pl": _text(qty * price - cost),
                        "current_price": _text(price)})
        return web.json_response(out)

    async def _account(self, request: web.Request) -> web.StreamResponse:
        value = sum((q * self.prices.get(s, c / q) for s, (q, c) in self.positions.items()),
                    Decimal(0))
        return web.json_response({
            "id": "emulated-account", "account_number": "PA0000EMUL", "status": "ACTIVE",
            "currency": "USD", "cash": _text(self.cash),
            "buying_power": _text(self._buying_power()),
            "non_marginable_buying_power": _text(self._buying_power()),
            "portfolio_value": _text(self.cash + value), "equity": _text(self.cash + value),
            "long_market_value": _text(value), "pattern_day_trader": False,
            "trading_blocked": False, "account_blocked": False, "multiplier": "1"})

    async def _clock(self, request: web.Request) -> web.StreamResponse:
        now = time.time_ns()
        return web.json_response({
            "timestamp": _iso(now), "is_open": self.is_open,
            "next_open": _iso(now + (24 if self.is_open else 1) * _HOUR_NS),
            "next_close": _iso(now + (1 if self.is_open else 8) * _HOUR_NS)})

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["symbol"])
        if asset is None:
            raise _Refused(404, 40410000, "asset not found")
        return web.json_response(asset)

    async def _fills(self, request: web.Request) -> web.StreamResponse:
        """Fill activities, ``after`` a time, in ``direction``, a page at a time."""
        query = request.query
        after, token = query.get("after", ""), query.get("page_token", "")
        out = [a for a in self.activities if not after or a["transaction_time"] > after]
        if query.get("direction", "desc") == "desc":
            out.reverse()
        if token:
            ids = [a["id"] for a in out]
            out = out[ids.index(token) + 1:] if token in ids else []
        return web.json_response(out[:int(query.get("page_size", "100"))])

    # -- the trade_updates stream ----------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        authorized = listening = False
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                message = json.loads(msg.data)
                action, data = message.get("action"), message.get("data") or {}
                if action in ("authenticate", "auth"):
                    key = (data.get("key_id"), data.get("secret_key")) if data else (
                        message.get("key"), message.get("secret"))
                    authorized = key == self.keys
                    reply = {"action": "authenticate",
                             "status": "authorized" if authorized else "unauthorized"}
                    if not authorized:
                        reply["message"] = "access key verification failed"
                    await ws.send_bytes(json.dumps({"stream": "authorization",
                                                    "data": reply}).encode())
                elif action == "listen" and authorized:
                    streams = [s for s in data.get("streams", []) if s == "trade_updates"]
                    if streams and not listening:
                        listening = True
                        self._sockets.add(ws)
                        self.listeners += 1
                    await ws.send_bytes(json.dumps({"stream": "listening",
                                                    "data": {"streams": streams}}).encode())
        finally:
            if listening:
                self.listeners -= 1
                self._sockets.discard(ws)
        return ws

    async def _event(self, event: str, order: _Order, **extra: Any) -> None:
        await self._broadcast({"event": event, "order": order.body(), **extra})

    async def _broadcast(self, data: dict[str, Any]) -> None:
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_bytes(frame)


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


def _prices(body: dict[str, Any], kind: str) -> tuple[Decimal | None, Decimal | None]:
    """The limit and stop prices an order of ``kind`` needs, on Alpaca's penny rule."""
    limit = _decimal(body.get("limit_price"), "limit_price")
    stop = _decimal(body.get("stop_price"), "stop_price")
    if (limit is None) == (kind in ("limit", "stop_limit")):
        raise _Refused(422, 40010001, "limit_price is required for limit orders only")
    if (stop is None) == (kind in ("stop", "stop_limit")):
        raise _Refused(422, 40010001, "stop_price is required for stop orders only")
    for name, price in (("limit_price", limit), ("stop_price", stop)):
        if price is not None and price % (Decimal("0.01") if price >= 1 else Decimal("0.0001")):
            raise _Refused(422, 40010001, f"invalid {name} {_text(price)}. sub-penny increment "
                           "does not fulfill minimum pricing criteria")
    return limit, stop


def _decimal(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise _Refused(422, 40010001, f"invalid {name}") from None
