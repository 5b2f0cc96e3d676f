"""The loopback Binance USD-M exchange: the public replay plus a private, signed API.

:class:`ExchangeProfile` composes the market-data profile
(:class:`~heron.testing.venues.binance.BinanceUsdmProfile`: exchangeInfo, depth, the
recorded streams) with the account (:class:`~.account.FuturesAccount`) and the user-data
stream (:class:`~.stream.UserStreams`); :class:`ExchangeServer` is a
:class:`~heron.testing.venue_server.VenueServer` that serves it and adds the fault
knobs (:class:`Faults`), which apply to every REST request:

* ``latency_ms``: each reply waits that long first;
* ``lose_responses``: the next ``n`` order placements are executed (the order rests or
  fills, its events go out on the user stream) and then the connection is cut before
  the reply: the client cannot know whether its order exists;
* ``rate_limits``: the next ``n`` requests are answered 429 ``-1003`` with
  ``Retry-After`` (``retry_after_s``), executing nothing;
* ``server_errors``: the next ``n`` requests are answered 503 ``-1001``, executing nothing.

User-stream faults are on :attr:`ExchangeServer.streams`: ``duplicate``, ``swap``, and
``drop`` (cuts the user-data connections only; events published until the client is
back are lost, as on Binance); :meth:`~heron.testing.venue_server.VenueServer.drop`
cuts every WebSocket, market streams included.

Every REST reply (errors and faults included) carries Binance's usage headers:
``X-MBX-USED-WEIGHT-1M`` (the request weights of the current minute, from
:data:`WEIGHTS`) and, on the order endpoints, ``X-MBX-ORDER-COUNT-10S`` and
``X-MBX-ORDER-COUNT-1M`` (orders placed or amended in the current window); nothing is
refused for exceeding them (that is the ``rate_limits`` knob's job).

Conditional orders (stop / take-profit) are on the Algo Service endpoints
(``/fapi/v1/algoOrder``, ``openAlgoOrders``, ``allAlgoOrders``, ``algoOpenOrders``;
see :mod:`.algo`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from heron.testing.exchange.account import FuturesAccount
from heron.testing.exchange.auth import BinanceError, check_key, check_signed, error_reply
from heron.testing.exchange.stream import UserStreams
from heron.testing.venue_server import (
    Frame,
    Reply,
    RestHandler,
    VenueProfile,
    VenueServer,
    WsSession,
)
from heron.testing.venues.binance import BinanceUsdmProfile

__all__ = ["ExchangeProfile", "ExchangeServer", "Faults"]

T = TypeVar("T")
Private = Callable[[Mapping[str, str]], Any]
#: the requests that place an order: the ones a lost response applies to
_PLACING = ("POST", "/fapi/v1/order")
#: the request's body, read by the server before a (sync) route handler runs
BODY = web.RequestKey("body", str)
#: Binance USD-M request weights (IP limit) of the routes served; 1 for any other. The
#: order placements weigh 0 on the IP limit and count on the order limits instead.
WEIGHTS: Mapping[tuple[str, str], int] = {
    ("POST", "/fapi/v1/order"): 0, ("POST", "/fapi/v1/algoOrder"): 0,
    ("GET", "/fapi/v1/userTrades"): 5, ("GET", "/fapi/v1/allAlgoOrders"): 5,
    **{("GET", f"/fapi/{v}/{name}"): 5 for v in ("v2", "v3")
       for name in ("account", "balance", "positionRisk")},
}
#: the routes that count on the order limits (``X-MBX-ORDER-COUNT-*``)
ORDER_ROUTES = frozenset({("POST", "/fapi/v1/order"), ("PUT", "/fapi/v1/order"),
                          ("POST", "/fapi/v1/algoOrder")})
#: the order routes whose reply carries the order counts
_ORDER_PATHS = frozenset({"/fapi/v1/order", "/fapi/v1/algoOrder"})
#: the listings that weigh 40 when asked for every symbol
_ALL_SYMBOLS = frozenset({"/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"})


@dataclass(slots=True)
class Faults:
    """What goes wrong with the REST API (see the module docstring); counters count down."""

    latency_ms: float = 0.0
    lose_responses: int = 0
    rate_limits: int = 0
    retry_after_s: int = 1
    server_errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, name: str) -> bool:
        """Whether the next request gets fault ``name`` (one of the counters)."""
        with self.lock:
            left: int = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
            return left > 0


def request_weight(method: str, path: str, query: Mapping[str, str]) -> int:
    """A request's weight as Binance counts it (depth by its ``limit``)."""
    if path in _ALL_SYMBOLS and not query.get("symbol"):
        return 40
    if path == "/fapi/v1/depth":
        limit = int(query.get("limit", "500") or 500)
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    return WEIGHTS.get((method, path), 1)


class Usage:
    """What the weight and order-count headers report: fixed windows (the current
    minute, the current ten seconds), as Binance's counters reset. ``clock`` (seconds)
    may be pinned by a test, so that no window turns over between two requests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def count(self, method: str, path: str, query: Mapping[str, str]) -> dict[str, str]:
        """Count the request; the headers its reply carries."""
        now = self.clock()
        minute, tens = int(now // 60) * 60, int(now // 10) * 10   # window starts (s)
        with self._lock:
            self._counts["weight", minute] += request_weight(method, path, query)
            headers = {"X-MBX-USED-WEIGHT-1M": str(self._counts["weight", minute])}
            if (method, path) in ORDER_ROUTES:
                self._counts["orders-1m", minute] += 1
                self._counts["orders-10s", tens] += 1
            if path in _ORDER_PATHS:
                headers["X-MBX-ORDER-COUNT-10S"] = str(self._counts["orders-10s", tens])
                headers["X-MBX-ORDER-COUNT-1M"] = str(self._counts["orders-1m", minute])
            for key in [k for k in self._counts if k[1] < minute - 60]:
                del self._counts[key]  # windows long past
        return headers


class ExchangeProfile(VenueProfile):
    """Binance USD-M's public replay and a private account, on one server."""

    name = "binanceusdm"
    subscribe_op = ("method", "SUBSCRIBE")

    def __init__(self, market: BinanceUsdmProfile, account: FuturesAccount,
                 keys: Mapping[str, str]) -> None:
        self.market = market
        self.account = account
        self.keys = dict(keys)
        self.streams = UserStreams()
        account.publish = self.streams.publish
        self.ws_paths = (*market.ws_paths, "/private/ws")

    @classmethod
    def recorded(cls, venue_dir: Path, *, keys: Mapping[str, str], fund: Decimal,
                 lines: int | None = None) -> ExchangeProfile:
        """On the shared recordings in ``venue_dir`` (``.../venues/binance_usdm``)."""
        market = BinanceUsdmProfile.recorded(venue_dir, lines=lines)
        account = FuturesAccount(market.exchange_info, market.snapshot, fund=fund)
        return cls(market, account, keys)

    # -- REST ------------------------------------------------------------------------------
    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        acc = self.account
        signed: dict[tuple[str, str], Private] = {
            ("POST", "/fapi/v1/order"): acc.place, ("GET", "/fapi/v1/order"): acc.query,
            ("DELETE", "/fapi/v1/order"): acc.cancel, ("PUT", "/fapi/v1/order"): acc.amend,
            ("GET", "/fapi/v1/openOrders"): acc.open_orders,
            ("DELETE", "/fapi/v1/allOpenOrders"): acc.cancel_all,
            ("GET", "/fapi/v1/userTrades"): acc.user_trades,
            ("GET", "/fapi/v1/leverageBracket"): lambda _: [acc.leverage_bracket()],
            ("POST", "/fapi/v1/algoOrder"): acc.algos.place,
            ("GET", "/fapi/v1/algoOrder"): acc.algos.query,
            ("DELETE", "/fapi/v1/algoOrder"): acc.algos.cancel,
            ("GET", "/fapi/v1/openAlgoOrders"): acc.algos.open_orders,
            ("GET", "/fapi/v1/allAlgoOrders"): acc.algos.all_orders,
            ("DELETE", "/fapi/v1/algoOpenOrders"): acc.algos.cancel_all,
        }
        for version in ("v2", "v3"):
            signed[("GET", f"/fapi/{version}/positionRisk")] = self._positions
            signed[("GET", f"/fapi/{version}/account")] = lambda _: acc.account()
            signed[("GET", f"/fapi/{version}/balance")] = lambda _: [acc.balance_row()]
        routes = {key: self._signed(fn) for key, fn in signed.items()}
        for method in ("POST", "PUT", "DELETE"):
            routes[(method, "/fapi/v1/listenKey")] = self._listen_key
        return {**self.market.rest(), **routes,
                ("GET", "/fapi/v1/time"): lambda _: Reply(_time_body()),
                ("GET", "/fapi/v1/ping"): lambda _: Reply("{}")}

    def _positions(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = params.get("symbol")
        if symbol and symbol != self.account.inst.symbol:
            raise BinanceError(-1121, "Invalid symbol.")
        return [self.account.position()]

    def _signed(self, fn: Private) -> RestHandler:
        def handle(request: web.Request) -> Reply:
            try:
                params = check_signed(request.headers, request.query_string,
                                      request.get(BODY, ""), self.keys)
                return Reply(json.dumps(fn(params)))
            except BinanceError as error:
                return error_reply(error)
        return handle

    def _listen_key(self, request: web.Request) -> Reply:
        """``USER_STREAM`` security: the API key, no signature."""
        try:
            check_key(request.headers, self.keys)
        except BinanceError as error:
            return error_reply(error)
        if request.method == "POST":
            return Reply(json.dumps({"listenKey": self.streams.new_key()}))
        if request.method == "DELETE":
            self.streams.keys.clear()
        elif not self.streams.keys:
            return error_reply(BinanceError(-1125, "This listenKey does not exist."))
        return Reply("{}")

    # -- WebSocket: market sessions go to the replay, user sessions to the streams --------
    def frames(self) -> list[Frame]:
        return list(self.market.frames())

    def on_open(self, session: WsSession) -> None:
        if not self.streams.attach(session):
            self.market.on_open(session)

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        if "user" not in session.state:
            self.market.on_message(session, message)

    def wants(self, session: WsSession, frame: Frame) -> bool:
        return "user" not in session.state and self.market.wants(session, frame)

    def render(self, session: WsSession, frame: Frame) -> str | bytes:
        return self.market.render(session, frame)


def _time_body() -> str:
    return json.dumps({"serverTime": int(time.time() * 1000)})


class ExchangeServer(VenueServer):
    """Serves an :class:`ExchangeProfile` with :class:`Faults` on 127.0.0.1."""

    def __init__(self, profile: ExchangeProfile, *, port: int = 0,
                 faults: Faults | None = None, speed: float = 0.0) -> None:
        super().__init__(profile, speed=speed, port=port)
        self.exchange = profile
        self.faults = faults or Faults()
        self.lost: list[tuple[str, str]] = []   # (method, path) whose reply was cut
        #: (method, path, venue code) of every request the API itself refused (a fault's
        #: answer is not a refusal): what a test reads to say a client never, say, sent
        #: an order whose client id the venue already had open (-4116)
        self.refused: list[tuple[str, str, int]] = []
        self.usage = Usage()

    @property
    def account(self) -> FuturesAccount:
        return self.exchange.account

    @property
    def streams(self) -> UserStreams:
        return self.exchange.streams

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (where the account lives) and return its value."""
        loop = self._loop
        if loop is None:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)
        loop.call_soon_threadsafe(run)
        return future.result(10)

    def _rest_handler(self, handler: RestHandler
                      ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            request[BODY] = await request.text()
            self.requests.append((request.method, request.path, dict(request.query)))
            faults = self.faults
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            usage = self.usage.count(request.method, request.path, request.query)
            if faults.take("rate_limits"):
                return _fault(429, -1003, "Too many requests; current limit of IP(127.0.0.1) "
                              "is 2400 requests per minute. Please use the websocket for "
                              "live updates to avoid polling the API.",
                              {"Retry-After": str(faults.retry_after_s), **usage})
            if faults.take("server_errors"):
                return _fault(503, -1001, "Internal error; unable to process your request. "
                              "Please try again.", usage)
            reply = handler(request)
            if reply.status >= 400:
                self.refused.append((request.method, request.path, _code(reply)))
            if reply.status == 200 and (request.method, request.path) == _PLACING \
                    and faults.take("lose_responses"):
                self.lost.append((request.method, request.path))
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # nothing more to send on a cut connection
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            return web.Response(body=body, status=reply.status,
                                content_type=reply.content_type, headers=usage)
        return handle

    async def _wait_turn(self, ws: web.WebSocketResponse, session: WsSession,
                         injected: int) -> int:
        """A user session cut by :meth:`UserStreams.drop` is aborted here, on the
        server's loop, where its socket lives (market sessions are left alone)."""
        if session.state.pop("cut", False):
            transport = ws._req.transport if ws._req is not None else None
            if transport is not None:
                transport.abort()
        return await super()._wait_turn(ws, session, injected)


def _code(reply: Reply) -> int:
    """The venue code of a refusal's body (0 when it has none)."""
    try:
        return int(json.loads(reply.body).get("code", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _fault(status: int, code: int, msg: str,
           headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps({"code": code, "msg": msg}), status=status,
                        content_type="application/json", headers=headers)
