"""``CcxtClient``: one venue account's private API through ccxt.pro, exact and rate-limited.

It implements :class:`heron.execution.port.VenueClient` for every ccxt venue heron
trades; a :class:`~heron.venues.ccxt.dialect.CcxtDialect` says how that venue differs.
One ``ccxt.pro`` exchange object serves both REST (``create_order``, ``fetch_*``) and
the private streams (``watch_orders``, ``watch_my_trades``), so both share one session,
one set of markets and one clock offset.

**Rate limits.** ccxt's own throttle is switched off; every REST request passes heron's
:class:`~heron.execution.rate_limit.RateLimiter` first, at the endpoint's weight (ccxt's
tables), and the venue's usage headers and 429/418 answers feed back into it, so a
rate-limit answer holds back *every* request to the venue, not only the one that got it.

**Outcomes.** Each call ends in one of four ways (see :mod:`heron.execution.port`): a
result; :class:`~heron.errors.VenueRejected` (the venue said no); for a request that
changes something, :class:`~heron.errors.ResponseLost` when the reply never came
(a timeout, a cut connection, a 5xx: Binance documents a 5xx as "execution status
unknown"); or :class:`~heron.errors.VenueUnavailable` after bounded retries of a
rate-limited or (for reads) failing request. Rate-limited requests are retried after the
venue-wide block, since the venue refused them unexecuted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any, TypeVar

from heron.core.clock import WallClock
from heron.errors import ResponseLost, VenueRejected, VenueUnavailable
from heron.execution.port import Amend
from heron.execution.rate_limit import (
    EndpointCost,
    RateLimited,
    RateLimiter,
    limiter_config_from_ccxt,
    rate_limit_signal,
)
from heron.model.account import VenueBalance, VenueFill, VenueOrder, VenuePosition
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType
from heron.venues.ccxt.dialect import CCXT_ORDER_TYPE, CcxtDialect, OrderArgs
from heron.venues.credentials import Credentials

log = logging.getLogger(__name__)
T = TypeVar("T")

#: tries of one request in all: rate-limited ones (any request) and failed reads
MAX_ATTEMPTS = 5


#: ccxt.pro's cache of streamed orders (default 1,000). Each update of a cached order
#: scans it linearly (``deque.index``), on the event loop: at 1,000 that is 100-300 µs
#: per stream message, in front of whatever order is being sent. heron reads each batch
#: as soon as it is resolved, so a batch holds the updates of one read from the socket;
#: more distinct orders than this in one read would lose the oldest from the batch, and
#: the REST catch-up (after a drop, and every poll) would bring them back.
ORDERS_CACHE = 200


class CcxtClient:
    """A venue account through ccxt.pro (see the module docstring)."""

    def __init__(self, dialect: CcxtDialect, credentials: Credentials | None,
                 symbols: Sequence[str], *, endpoint: str | None = None,
                 testnet: bool = False, timeout_ms: int = 10_000,
                 limiter: RateLimiter | None = None) -> None:
        self.dialect = dialect
        self.venue = dialect.venue
        self.symbols = list(symbols)
        self.supports_amend = dialect.supports_amend
        self.has_private_streams = True
        self.instruments: dict[str, Instrument] = {}
        self._credentials = credentials
        self._endpoint = endpoint
        self._testnet = testnet
        self._timeout_ms = timeout_ms
        self._market_of: dict[str, dict[str, Any]] = {}     # instrument id -> ccxt market
        self._inst_of: dict[str, Instrument] = {}           # ccxt symbol -> instrument
        self.exchange: Any = None
        self.limiter = limiter
        self._args: dict[str, OrderArgs] = {}   # checked orders' request, sent next

    # -- lifecycle -----------------------------------------------------------------------
    async def open(self) -> None:
        """Create the exchange, load markets, resolve the symbols, check the keys."""
        import ccxt.pro

        from heron.data.download_venues import instrument_of, market_named
        from heron.data.feeds.session import endpoint_urls

        config: dict[str, Any] = {"enableRateLimit": False, "timeout": self._timeout_ms,
                                  "options": {"ordersLimit": ORDERS_CACHE,
                                              **self.dialect.options}}
        if self._credentials is not None:
            config.update(self._credentials.ccxt_config())
        exchange = getattr(ccxt.pro, self.dialect.ccxt_id)(config)
        self.exchange = exchange
        if self._testnet:
            exchange.set_sandbox_mode(True)
        if self._endpoint:
            exchange.urls["api"] = endpoint_urls(exchange.urls["api"], self._endpoint)
        if self.limiter is None:
            self.limiter = RateLimiter(limiter_config_from_ccxt(exchange), clock=WallClock())
        self._wrap_fetch(exchange)
        await self._read("load markets", exchange.load_markets)
        for symbol in self.symbols:
            market = market_named(exchange, symbol)
            inst = instrument_of(exchange, market)
            self.instruments[inst.id] = inst
            self._market_of[inst.id] = market
            self._inst_of[market["symbol"]] = inst

    async def close(self) -> None:
        if self.exchange is not None:
            await self.exchange.close()

    def _wrap_fetch(self, exchange: Any) -> None:
        """Route every REST request of ``exchange`` through the rate limiter."""
        original = exchange.fetch2
        limiter = self.limiter
        assert limiter is not None
        venue = self.venue

        async def fetch2(path: str, api: Any = "public", method: str = "GET",
                         params: Any = None, config: Any = None) -> Any:
            params = {} if params is None else params
            config = {} if config is None else config
            name = " ".join(api) if isinstance(api, list) else str(api)
            cost = limiter.config.costs.get(f"{name} {method.upper()} {path}") or EndpointCost(
                Fraction(exchange.calculate_rate_limiter_cost(api, method, path, params,
                                                              config)))
            await limiter.acquire(cost)
            try:
                return await original(path, api, method, params, config)
            except Exception as exc:
                signal = _rate_signal(venue, exchange, exc)
                if signal is not None:
                    limiter.back_off(signal)
                    raise RateLimited(venue, signal) from exc
                raise
            finally:
                headers = exchange.last_response_headers
                if headers:
                    limiter.observe_headers(headers)

        exchange.fetch2 = fetch2

    # -- ids and checks ------------------------------------------------------------------
    def venue_client_id(self, client_order_id: str) -> str:
        return self.dialect.client_id(client_order_id)

    def check(self, cmd: SubmitOrder) -> str | None:
        """What the venue would refuse, known before sending (heron's grid is the venue's)."""
        inst = self.instruments.get(cmd.instrument_id)
        if inst is None:
            return f"{self.venue} client was not opened for {cmd.instrument_id}"
        if cmd.order_type not in self.dialect.order_types:
            why = self.dialect.missing_types_reason
            return (f"{self.venue} takes no {cmd.order_type.value} orders through heron"
                    + (f": {why}" if why else ""))
        if cmd.quantity <= 0:
            return "quantity must be positive"
        if cmd.quantity * inst.lot_raw < inst.min_quantity_raw:  # integers: exact, cheap
            return f"quantity {inst.quantity(cmd.quantity)} is below {inst.min_quantity}"
        price = cmd.price if cmd.price is not None else cmd.trigger_price
        if (price is not None and cmd.order_type is not OrderType.MARKET
                and inst.notional_raw(price, cmd.quantity) < inst.min_notional_raw):
            notional = inst.price(price) * inst.quantity(cmd.quantity) * inst.multiplier
            return f"notional {notional} is below the minimum {inst.min_notional}"
        try:  # the dialect's own refusals (Hyperliquid's 5 significant figures ...)
            args = self.dialect.order_args(cmd, inst, self._market_of[inst.id]["symbol"],
                                           self.venue_client_id(cmd.client_order_id))
        except ValueError as exc:
            return str(exc)
        self._args[cmd.client_order_id] = args  # place() sends it as built
        return None

    def instrument(self, instrument_id: str) -> Instrument:
        return self.instruments[instrument_id]

    # -- orders --------------------------------------------------------------------------
    async def place(self, cmd: SubmitOrder, client_id: str) -> VenueOrder:
        inst = self.instruments[cmd.instrument_id]
        args = self._args.pop(cmd.client_order_id, None)  # built by check(), if it ran
        if args is None or args.params.get("clientOrderId", client_id) != client_id:
            args = self.dialect.order_args(cmd, inst, self._market_of[inst.id]["symbol"],
                                           client_id)
        order = await self._write(f"order {client_id}",
                                  lambda: self.exchange.create_order(*args.call_args()))
        return self.dialect.parse_order(order, inst)

    async def cancel(self, instrument: Instrument, *, venue_order_id: str = "",
                     client_id: str = "", conditional: bool = False) -> VenueOrder:
        symbol = self._market_of[instrument.id]["symbol"]
        params = self._params(venue_order_id, client_id, conditional)
        order = await self._write(
            f"cancel of {venue_order_id or client_id}",
            lambda: self.exchange.cancel_order(venue_order_id or None, symbol, params))
        try:
            return self.dialect.parse_order(order, instrument)
        except (ValueError, KeyError):  # a bare acknowledgement (Binance's algo cancel)
            found = await self.fetch_order(instrument, venue_order_id=venue_order_id,
                                           client_id=client_id, conditional=conditional)
            if found is None:
                raise VenueRejected(f"{self.venue} acknowledged the cancel of "
                                    f"{venue_order_id or client_id} but no longer has the "
                                    "order", venue=self.venue, kind="not_found") from None
            return found

    async def amend(self, amend: Amend) -> VenueOrder:
        inst = amend.instrument
        symbol = self._market_of[inst.id]["symbol"]
        kind = CCXT_ORDER_TYPE[amend.order_type]
        price = None if amend.price is None else inst.price_text(amend.price)
        params: dict[str, Any] = {}
        if amend.trigger_price is not None:
            params["triggerPrice"] = inst.price_text(amend.trigger_price)
        order = await self._write(
            f"amend of {amend.venue_order_id}",
            lambda: self.exchange.edit_order(amend.venue_order_id, symbol, kind,
                                             amend.side.value,
                                             inst.quantity_text(amend.quantity),
                                             price, params))
        return self.dialect.parse_order(order, inst)

    async def cancel_all(self, instrument: Instrument) -> Sequence[VenueOrder]:
        symbol = self._market_of[instrument.id]["symbol"]
        reply = await self._write(f"cancel-all on {symbol}",
                                  lambda: self.exchange.cancel_all_orders(symbol))
        orders = reply if isinstance(reply, list) else []
        return [self.dialect.parse_order(o, instrument) for o in orders if o.get("id")]

    # -- reads ---------------------------------------------------------------------------
    async def fetch_order(self, instrument: Instrument, *, venue_order_id: str = "",
                          client_id: str = "", conditional: bool = False
                          ) -> VenueOrder | None:
        symbol = self._market_of[instrument.id]["symbol"]
        if not venue_order_id and not self.dialect.fetch_by_client_id:
            return await self._search(instrument, client_id)
        params = self._params(venue_order_id, client_id, conditional)
        try:
            order = await self._read(
                f"order {venue_order_id or client_id}",
                lambda: self.exchange.fetch_order(venue_order_id or None, symbol, params))
        except VenueRejected as exc:
            if exc.kind == "not_found":
                return None
            raise
        return self.dialect.parse_order(order, instrument)

    def _params(self, venue_order_id: str, client_id: str, conditional: bool
                ) -> dict[str, Any]:
        params = {} if venue_order_id else self.dialect.fetch_params(client_id)
        return {**params, **self.dialect.conditional_params()} if conditional else params

    async def _search(self, instrument: Instrument, client_id: str) -> VenueOrder | None:
        """An order by client id on a venue whose API cannot look one up that way: among
        the open orders, then the recent ones."""
        symbol = self._market_of[instrument.id]["symbol"]
        for method, capability in (("fetch_open_orders", "fetchOpenOrders"),
                                   ("fetch_orders", "fetchOrders")):
            if not self.exchange.has.get(capability):
                continue
            rows: list[Any] = await self._read(f"orders on {symbol}",
                                               _bind(getattr(self.exchange, method), symbol))
            for row in rows:
                if str(row.get("clientOrderId") or "") == client_id:
                    return self.dialect.parse_order(row, instrument)
        return None

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[VenueOrder]:
        targets = [instrument] if instrument is not None else list(self.instruments.values())
        out: list[VenueOrder] = []
        for inst in targets:
            symbol = self._market_of[inst.id]["symbol"]
            rows: list[Any] = await self._read(f"open orders on {symbol}",
                                               _bind(self.exchange.fetch_open_orders, symbol))
            out += [self.dialect.parse_order(o, inst) for o in rows]
        return out

    async def positions(self) -> Sequence[VenuePosition]:
        symbols = [m["symbol"] for m in self._market_of.values()]
        rows = await self._read("positions", lambda: self.exchange.fetch_positions(symbols))
        return [self.dialect.parse_position(p, self._inst_of[p["symbol"]]) for p in rows
                if p.get("symbol") in self._inst_of]

    async def balances(self) -> Sequence[VenueBalance]:
        body = await self._read("balances", self.exchange.fetch_balance)
        return self.dialect.parse_balances(body)

    async def fills(self, instrument: Instrument, since_ns: int | None = None
                    ) -> Sequence[VenueFill]:
        symbol = self._market_of[instrument.id]["symbol"]
        since = None if since_ns is None else since_ns // 1_000_000
        rows = await self._read(f"fills on {symbol}",
                                lambda: self.exchange.fetch_my_trades(symbol, since))
        fills = [self.dialect.parse_fill(t, instrument) for t in rows]
        return sorted(fills, key=lambda f: (f.ts, f.trade_id))

    async def order_fills(self, instrument: Instrument, venue_order_id: str
                          ) -> Sequence[VenueFill]:
        """The fills of one order (Binance: ``userTrades?orderId=``)."""
        symbol = self._market_of[instrument.id]["symbol"]
        rows = await self._read(
            f"fills of {venue_order_id}",
            lambda: self.exchange.fetch_my_trades(symbol, None, None,
                                                  {"orderId": venue_order_id}))
        return [self.dialect.parse_fill(t, instrument) for t in rows
                if str(t.get("order")) == venue_order_id]

    # -- private streams -----------------------------------------------------------------
    async def watch_orders(self) -> Sequence[VenueOrder]:
        rows = await self.exchange.watch_orders()
        return [self.dialect.parse_order(o, self._inst_of[o["symbol"]]) for o in rows
                if o.get("symbol") in self._inst_of]

    async def watch_fills(self) -> Sequence[VenueFill]:
        rows = await self.exchange.watch_my_trades()
        return [self.dialect.parse_fill(t, self._inst_of[t["symbol"]]) for t in rows
                if t.get("symbol") in self._inst_of]

    # -- calls ---------------------------------------------------------------------------
    async def _read(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """An idempotent request: retried on rate limits and network failures."""
        return await self._attempts(what, call, idempotent=True)

    async def _write(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """A request that changes something: retried only when the venue refused it
        unexecuted (rate limited); a lost reply is the caller's to resolve."""
        return await self._attempts(what, call, idempotent=False)

    async def _attempts(self, what: str, call: Callable[[], Awaitable[T]], *,
                        idempotent: bool) -> T:
        import ccxt

        limiter = self.limiter
        assert limiter is not None
        error: BaseException | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await call()
            except RateLimited as exc:
                error = exc  # the next attempt's acquire waits out the venue-wide block
            except ccxt.InvalidNonce as exc:  # a NetworkError to ccxt; a clock to fix here
                raise self.dialect.refusal(exc, what) from exc
            except ccxt.NetworkError as exc:
                if not idempotent:
                    raise ResponseLost(f"{self.venue}: no reply to the {what} ({_first(exc)}); "
                                       "heron looks it up before any retry") from exc
                error = exc
                await limiter.pause(min(2 ** attempt, 10) * 250_000_000)
            except ccxt.BaseError as exc:
                refusal = self.dialect.refusal(exc, what)
                if refusal.kind != "unavailable":
                    raise refusal from exc
                if not idempotent:  # Binance -1001/-1007: "execution status unknown"
                    raise ResponseLost(f"{self.venue}: the {what} met a venue error with an "
                                       f"unknown outcome ({refusal}); heron looks it up "
                                       "before any retry") from exc
                error = exc
            limiter.count_retry()
            log.warning("%s: %s failed (%s), attempt %d of %d", self.venue, what,
                        _first(error), attempt, MAX_ATTEMPTS)
        raise VenueUnavailable(f"{self.venue} still failing after {MAX_ATTEMPTS} attempts at "
                               f"the {what} ({_first(error)}); wait and run again") from error


def _rate_signal(venue: str, exchange: Any, exc: BaseException) -> Any:
    """A rate-limit answer in a failed request (ccxt raised ``DDoSProtection`` or
    ``RateLimitExceeded``, or any error on an HTTP 418/429 reply)."""
    import ccxt

    if not isinstance(exc, ccxt.BaseError):
        return None
    headers = exchange.last_response_headers or {}
    body: Mapping[str, Any] | None = None
    try:
        parsed = json.loads(exchange.last_http_response or "null")
        body = parsed if isinstance(parsed, dict) else None
    except ValueError:
        body = None
    status = 429 if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded) else None
    if status is None and "Retry-After" not in headers:
        return None
    return rate_limit_signal(venue, status=status, headers=headers, body=body,
                             now_ns=time.time_ns())


def _bind(fn: Callable[[str], Awaitable[T]], arg: str) -> Callable[[], Awaitable[T]]:
    return lambda: fn(arg)


def _first(exc: BaseException | None) -> str:
    text = str(exc or "").strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


__all__ = ["MAX_ATTEMPTS", "CcxtClient"]
