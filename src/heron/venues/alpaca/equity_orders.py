"""Alpaca US equities as a live venue: :class:`AlpacaEquityClient`, a
:class:`~heron.execution.port.VenueClient` over Alpaca's v2 trading API.

**Which parts of alpaca-py.** The ``trade_updates`` stream runs on alpaca-py's
``TradingStream`` (``url_override`` points it at ``--endpoint``), ended at its first
failure as heron's equity feed does with alpaca-py's data stream, so heron, not alpaca-py,
decides when to reconnect and knows that updates may have been missed. The REST calls go
through aiohttp, not alpaca-py's ``TradingClient``, for three reasons that matter to live
trading: ``TradingClient`` is synchronous ``requests`` with **no timeout** (a placement
could hang forever instead of becoming :class:`~heron.errors.ResponseLost`), its request
models hold quantities and prices as **floats**, and it **retries a POST** on 429/504 with a
fixed sleep that ignores ``Retry-After``. Here: Decimal text in and out, a timeout on every
request, a cut or timed-out *mutating* request is ``ResponseLost`` (never retried), 429
and 5xx are retried a bounded number of times (``Retry-After`` honoured, capped) and then
:class:`~heron.errors.VenueUnavailable`.

**Decisions** (Alpaca's rules, heron's choices):

* *Client ids*: heron's client order id goes to Alpaca as it is (``[A-Za-z0-9_-]``, at most
  100 characters; Alpaca takes 128 and refuses a reused one). A **replace** (``PATCH
  /v2/orders/{id}``, heron's amend) makes a new Alpaca order with a new order id; its client
  id is heron's id plus ``.`` and ten hex digits derived from the replaced order's id, so it
  is unique and deterministic, and every :class:`VenueOrder` reports the part before the
  ``.``: heron's id stays the order's name through any number of amends. Fetching by client
  id follows ``replaced_by`` from the original order to the live one (also after a lost
  amend reply or a restart).
* *Time in force*: heron's GTC is sent as ``gtc_as`` (``"gtc"`` by default; ``"day"`` for a
  strategy that must be flat of resting orders overnight), except that **market orders and
  fractional quantities are always ``day``** (Alpaca refuses fractional orders in anything
  else) and **extended-hours limits are ``day``** (Alpaca's rule). IOC/FOK are sent as such,
  whole shares only. Alpaca's ``day``/``gtc`` both read back as heron's GTC (a day order that
  ends at the close reads back as EXPIRED).
* *Market hours*: Alpaca *queues* a market order placed while the market is closed and fills
  it at the next open, at a price nobody decided on; heron refuses it before sending
  (:meth:`check`, by ``GET /v2/clock``, re-read when it says the session changes). Limit
  orders may be placed when closed: they rest until the open, or trade in the extended
  hours when the client is made with ``extended_hours=True``.
* Alpaca has no post-only or reduce-only orders: refused by :meth:`check`. Stops report
  OPEN, not UNTRIGGERED (Alpaca does not say whether a stop has triggered). Fees are 0
  (commission-free) and Alpaca does not say maker or taker: ``liquidity`` is ``""``.
* *Balances*: one ``USD`` balance: ``total`` the account's cash, ``free`` its buying power
  (what Alpaca checks a buy against; above cash on a margin account).
* *Cancel all* (the port's, per instrument) cancels the instrument's open orders one by
  one; :meth:`cancel_everything` is Alpaca's ``DELETE /v2/orders`` (every symbol).

Fill ids: a fill activity's id is ``<time>::<execution id>`` and the stream's fill carries
the same ``execution_id``, so both report the execution id as ``trade_id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from alpaca.trading.stream import TradingStream

from heron.errors import ResponseLost, VenueRejected, VenueUnavailable
from heron.execution.port import Amend
from heron.model.account import (
    VenueBalance,
    VenueFill,
    VenueOrder,
    VenueOrderStatus,
    VenuePosition,
    side_from,
)
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderType, TimeInForce
from heron.venues.alpaca.text import rfc3339_ns
from heron.venues.alpaca.trading import MarketClock, equity_instrument, keys, trading_url
from heron.venues.errors import Refusal

__all__ = ["VENUE", "AlpacaEquityClient"]

log = logging.getLogger("heron.live")

VENUE = "alpaca-stocks"
_CLIENT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_CLIENT_ID_MAX = 100      # Alpaca's 128, less room for a replacement's suffix
_REPLACED_HOPS = 50       # replace chains longer than this are not followed
_PAGE = 100               # fill activities per page (Alpaca's maximum)
_OPEN_LIMIT = 500         # open orders per request (Alpaca's maximum)
_ERROR_TEXT = 300
_PENNY = Decimal("0.01")
_STATUS = {
    "new": VenueOrderStatus.OPEN, "accepted": VenueOrderStatus.OPEN,
    "pending_new": VenueOrderStatus.OPEN, "accepted_for_bidding": VenueOrderStatus.OPEN,
    "pending_cancel": VenueOrderStatus.OPEN, "pending_replace": VenueOrderStatus.OPEN,
    "held": VenueOrderStatus.OPEN, "calculated": VenueOrderStatus.OPEN,
    "stopped": VenueOrderStatus.OPEN, "suspended": VenueOrderStatus.OPEN,
    "partially_filled": VenueOrderStatus.PARTIALLY_FILLED,
    "filled": VenueOrderStatus.FILLED, "canceled": VenueOrderStatus.CANCELED,
    "replaced": VenueOrderStatus.CANCELED, "expired": VenueOrderStatus.EXPIRED,
    "done_for_day": VenueOrderStatus.EXPIRED, "rejected": VenueOrderStatus.REJECTED,
}
_TIF_BACK = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}


class _StreamLost(Exception):
    """alpaca-py's trade stream failed; heron decides what happens next."""


class _TradeStream(TradingStream):
    """alpaca-py's ``trade_updates`` stream, ended at its first failure, telling when the
    server confirmed ``listen`` (events before that are not delivered)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listening = asyncio.Event()

    async def _wait_before_reconnect(self, retries: int) -> None:
        # alpaca-py calls this from the except clause that caught the failure
        failure = sys.exc_info()[1]
        raise _StreamLost(f"{type(failure).__name__}: {failure}" if failure
                          else "the trade stream ended")

    async def _dispatch(self, msg: dict[str, Any]) -> None:
        if msg.get("stream") == "listening":
            self.listening.set()
        await super()._dispatch(msg)


class AlpacaEquityClient:
    """Alpaca US equities, one account; see the module docstring for the decisions."""

    venue = VENUE
    supports_amend = True
    has_private_streams = True

    def __init__(self, symbols: Sequence[str], *, api_keys: Mapping[str, str] | None = None,
                 base_url: str | None = None, stream_url: str | None = None,
                 gtc_as: Literal["gtc", "day"] = "gtc", extended_hours: bool = False,
                 attempts: int = 3, timeout_s: float = 10.0, retry_cap_s: float = 5.0) -> None:
        self.symbols = [s.strip().upper() for s in symbols]
        self._keys = dict(api_keys) if api_keys is not None else keys()
        self.base_url = (base_url or trading_url()).rstrip("/")
        self.stream_url = stream_url or self.base_url.replace("http", "ws", 1) + "/stream"
        self.gtc_as = gtc_as
        self.extended_hours = extended_hours
        self.instruments: dict[str, Instrument] = {}
        self.retries = 0                       # 429/5xx retries so far, for the counters
        self._by_symbol: dict[str, Instrument] = {}
        self._attempts = max(1, attempts)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry_cap_s = retry_cap_s
        self._http: aiohttp.ClientSession | None = None
        self._clock: MarketClock | None = None
        self._client_ids: dict[str, str] = {}  # Alpaca order id -> heron's client id
        self._stream: _TradeStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._orders: asyncio.Queue[VenueOrder] = asyncio.Queue()
        self._fills: asyncio.Queue[VenueFill] = asyncio.Queue()

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Check the keys (``GET /v2/account``), load the symbols' assets and the clock."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout, headers={
                "APCA-API-KEY-ID": self._keys["apiKey"],
                "APCA-API-SECRET-KEY": self._keys["secret"]})
        try:
            await self._call("GET", "/v2/account", what="the account")
            for symbol in self.symbols:
                await self._instrument(symbol)
            await self._fresh_clock()
        except BaseException:  # a failed open leaves nothing open behind it
            await self.close()
            raise

    async def close(self) -> None:
        await self._stop_stream()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> AlpacaEquityClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- ids and checks --------------------------------------------------------------------
    def venue_client_id(self, client_order_id: str) -> str:
        """heron's id as it is; a ``.`` (the replacement suffix) or any character outside
        ``[A-Za-z0-9_-]`` is refused, so the mapping stays injective and reversible."""
        if not 0 < len(client_order_id) <= _CLIENT_ID_MAX or not set(
                client_order_id) <= _CLIENT_ID_CHARS:
            raise VenueRejected(
                f"{VENUE}: client order id {client_order_id!r} is not 1-{_CLIENT_ID_MAX} "
                "characters of [A-Za-z0-9_-]", venue=VENUE, code="client_id",
                kind=Refusal.INVALID.value)
        return client_order_id

    def check(self, cmd: SubmitOrder) -> str | None:
        """Why Alpaca would refuse ``cmd`` (or, for a market order while the market is
        closed, why heron does); ``None`` when it looks acceptable."""
        inst = self.instruments.get(cmd.instrument_id)
        if inst is None:
            return f"{cmd.instrument_id} is not open on {VENUE}: open() it with its symbol"
        if cmd.post_only or cmd.reduce_only:
            return "Alpaca has no post-only or reduce-only orders"
        if cmd.quantity <= 0 or inst.quantity(cmd.quantity) < inst.min_quantity:
            return f"quantity {inst.quantity(cmd.quantity)} is below {inst.min_quantity}"
        fractional = inst.quantity(cmd.quantity) % 1 != 0
        if fractional and cmd.time_in_force is not TimeInForce.GTC:
            return "fractional orders must be DAY orders at Alpaca (no IOC or FOK)"
        for name, ticks in (("limit", cmd.price), ("stop", cmd.trigger_price)):
            price = None if ticks is None else inst.price(ticks)
            if price is not None and price >= 1 and price % _PENNY:
                return f"{name} price {price} is sub-penny: Alpaca takes cents at $1 and above"
            if price is not None and fractional and price * inst.quantity(cmd.quantity) < 1:
                return "a fractional order must be worth at least $1 (Alpaca's minimum)"
        clock = self._clock
        if cmd.order_type is OrderType.MARKET and clock is not None \
                and not clock.open_at(time.time_ns()):
            return ("the market is closed: Alpaca would queue a market order for the open, "
                    "at a price nobody decided on; place a limit order instead")
        return None

    # -- orders ----------------------------------------------------------------------------
    async def place(self, cmd: SubmitOrder, client_id: str) -> VenueOrder:
        """``POST /v2/orders``; a lost reply is :class:`ResponseLost` (look it up by
        ``client_id``), a refusal before sending or by Alpaca :class:`VenueRejected`."""
        await self._fresh_clock()
        reason = self.check(cmd)
        if reason is not None:
            raise VenueRejected(f"{VENUE}: {reason}", venue=VENUE, code="heron",
                                kind=Refusal.INVALID.value)
        inst = self.instruments[cmd.instrument_id]
        body = self._order_body(cmd, inst, self.venue_client_id(client_id))
        order = await self._call("POST", "/v2/orders", body=body, what="the order")
        return await self._order(order)

    def _order_body(self, cmd: SubmitOrder, inst: Instrument, client_id: str
                    ) -> dict[str, Any]:
        """Alpaca's order request, exact text, with the time in force decided above."""
        qty = inst.quantity(cmd.quantity)
        extended = self.extended_hours and cmd.order_type is OrderType.LIMIT
        if cmd.time_in_force is not TimeInForce.GTC:
            tif = cmd.time_in_force.value
        elif cmd.order_type is OrderType.MARKET or qty % 1 != 0 or extended:
            tif = "day"
        else:
            tif = self.gtc_as
        body: dict[str, Any] = {
            "symbol": inst.symbol, "qty": _text(qty), "side": cmd.side.value,
            "type": cmd.order_type.value, "time_in_force": tif, "client_order_id": client_id}
        if cmd.price is not None:
            body["limit_price"] = _text(inst.price(cmd.price))
        if cmd.trigger_price is not None:
            body["stop_price"] = _text(inst.price(cmd.trigger_price))
        if extended and tif == "day":
            body["extended_hours"] = True
        return body

    async def cancel(self, instrument: Instrument, *, venue_order_id: str = "",
                     client_id: str = "", conditional: bool = False) -> VenueOrder:
        """``DELETE /v2/orders/{id}`` (the id looked up from ``client_id`` if need be),
        then the order as it stands."""
        order_id = venue_order_id or await self._order_id(instrument, client_id)
        path = f"/v2/orders/{quote(order_id, safe='')}"
        await self._call("DELETE", path, what=f"the cancel of {order_id}")
        return await self._order(await self._call("GET", path, what=f"order {order_id}"))

    async def cancel_all(self, instrument: Instrument) -> Sequence[VenueOrder]:
        """Each open order of ``instrument`` canceled (Alpaca's cancel-all spans symbols)."""
        out = []
        for order in await self.open_orders(instrument):
            try:
                out.append(await self.cancel(instrument, venue_order_id=order.venue_order_id))
            except VenueRejected as exc:  # filled meanwhile: reported as it is now
                if exc.kind != Refusal.NOT_FOUND.value:
                    raise
        return out

    async def cancel_everything(self) -> Sequence[VenueOrder]:
        """Alpaca's ``DELETE /v2/orders``: every open order on every symbol."""
        replies = await self._call("DELETE", "/v2/orders", what="cancel-all") or []
        return [await self._order(r["body"]) for r in replies if isinstance(r.get("body"), dict)]

    async def amend(self, amend: Amend) -> VenueOrder:
        """Alpaca's replace: the returned order has a *new* venue order id, heron's client
        id (see the module docstring)."""
        inst = amend.instrument
        body: dict[str, Any] = {"qty": _text(inst.quantity(amend.quantity)),
                                "client_order_id": _replacement_id(amend.client_id,
                                                                   amend.venue_order_id)}
        if amend.price is not None:
            body["limit_price"] = _text(inst.price(amend.price))
        if amend.trigger_price is not None:
            body["stop_price"] = _text(inst.price(amend.trigger_price))
        path = f"/v2/orders/{quote(amend.venue_order_id, safe='')}"
        order = await self._call("PATCH", path, body=body,
                                 what=f"the replace of {amend.venue_order_id}")
        return await self._order(order)

    async def fetch_order(self, instrument: Instrument, *, venue_order_id: str = "",
                          client_id: str = "", conditional: bool = False
                          ) -> VenueOrder | None:
        """By Alpaca's id as it is; by client id the *live* order of heron's id, following
        ``replaced_by`` from the original. ``None`` when Alpaca has no such order."""
        try:
            if venue_order_id:
                return await self._order(await self._call(
                    "GET", f"/v2/orders/{quote(venue_order_id, safe='')}",
                    what=f"order {venue_order_id}"))
            body = await self._call("GET", "/v2/orders:by_client_order_id",
                                    params={"client_order_id": client_id},
                                    what=f"order {client_id}")
            for _ in range(_REPLACED_HOPS):
                if body.get("status") != "replaced" or not body.get("replaced_by"):
                    break
                body = await self._call("GET", f"/v2/orders/{body['replaced_by']}",
                                        what=f"order {body['replaced_by']}")
            return await self._order(body)
        except VenueRejected as exc:
            if exc.kind == Refusal.NOT_FOUND.value:
                return None
            raise

    async def open_orders(self, instrument: Instrument | None = None
                          ) -> Sequence[VenueOrder]:
        params = {"status": "open", "limit": str(_OPEN_LIMIT), "direction": "asc"}
        if instrument is not None:
            params["symbols"] = instrument.symbol
        orders = await self._call("GET", "/v2/orders", params=params, what="open orders")
        return [await self._order(o) for o in orders]

    # -- account ---------------------------------------------------------------------------
    async def positions(self) -> Sequence[VenuePosition]:
        out = []
        for pos in await self._call("GET", "/v2/positions", what="positions"):
            inst = await self._instrument(str(pos["symbol"]))
            qty = inst.lots(Decimal(str(pos["qty"])).copy_abs())
            out.append(VenuePosition(
                venue=VENUE, instrument_id=inst.id,
                quantity=-qty if pos.get("side") == "short" else qty,
                entry_price=_decimal(pos.get("avg_entry_price")),
                unrealised_pnl=_decimal(pos.get("unrealized_pl")), ts=time.time_ns(),
                raw=pos))
        return out

    async def balances(self) -> Sequence[VenueBalance]:
        account = await self._call("GET", "/v2/account", what="the account")
        return [VenueBalance(venue=VENUE, currency=str(account.get("currency") or "USD"),
                             total=Decimal(str(account["cash"])),
                             free=Decimal(str(account["buying_power"])), ts=time.time_ns(),
                             raw=account)]

    async def fills(self, instrument: Instrument, since_ns: int | None = None
                    ) -> Sequence[VenueFill]:
        """``GET /v2/account/activities/FILL`` oldest first, page by page; the client id
        of each fill's order is asked for once per order heron has not seen."""
        params = {"direction": "asc", "page_size": str(_PAGE)}
        if since_ns is not None:
            params["after"] = _rfc3339(since_ns - 1)
        out: list[VenueFill] = []
        while True:
            page = await self._call("GET", "/v2/account/activities/FILL", params=params,
                                    what="fills")
            for activity in page:
                if activity.get("symbol") == instrument.symbol:
                    fill = await self._activity_fill(activity, instrument)
                    if since_ns is None or fill.ts >= since_ns:
                        out.append(fill)
            if len(page) < _PAGE:
                return out
            params["page_token"] = str(page[-1]["id"])

    async def _activity_fill(self, activity: Mapping[str, Any], inst: Instrument
                             ) -> VenueFill:
        order_id = str(activity.get("order_id") or "")
        if order_id and order_id not in self._client_ids:
            await self.fetch_order(inst, venue_order_id=order_id)
        return VenueFill(
            venue=VENUE, instrument_id=inst.id,
            trade_id=str(activity["id"]).rpartition("::")[2], venue_order_id=order_id,
            client_order_id=self._client_ids.get(order_id, ""),
            side=side_from(str(activity["side"])), quantity=inst.lots(str(activity["qty"])),
            price=inst.ticks(str(activity["price"])), fee=Decimal(0), fee_currency="USD",
            liquidity="", ts=rfc3339_ns(str(activity["transaction_time"])), raw=dict(activity))

    # -- the trade_updates stream ----------------------------------------------------------
    async def watching(self) -> None:
        """Start the stream if need be and wait until Alpaca confirms ``listen``: updates
        before that are not sent, so call this before placing orders to watch."""
        stream, task = self._ensure_stream()
        waiter = asyncio.ensure_future(stream.listening.wait())
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            waiter.cancel()
            self._raise_stream_end(task)

    async def watch_orders(self) -> Sequence[VenueOrder]:
        return await self._next(self._orders)

    async def watch_fills(self) -> Sequence[VenueFill]:
        return await self._next(self._fills)

    async def _next(self, queue: asyncio.Queue[Any]) -> list[Any]:
        """The queued updates, waiting for one; the stream's failure raised (the next call
        opens a fresh stream: updates in between are for REST to find)."""
        if queue.empty():
            _, task = self._ensure_stream()
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                self._raise_stream_end(task)
            out = [getter.result()]
        else:
            out = []
        while not queue.empty():
            out.append(queue.get_nowait())
        return out

    def _ensure_stream(self) -> tuple[_TradeStream, asyncio.Task[None]]:
        """The running stream, started if need be; a failure nobody saw yet is raised
        first, once, so a caller always learns that updates may have been missed."""
        stream, task = self._stream, self._stream_task
        if task is not None and task.done():
            self._raise_stream_end(task)
        if stream is None or task is None:
            stream = _TradeStream(self._keys["apiKey"], self._keys["secret"], raw_data=True,
                                  url_override=self.stream_url)
            stream.subscribe_trade_updates(self._on_update)
            run = stream._run_forever()  # type: ignore[no-untyped-call]
            task = asyncio.get_running_loop().create_task(run)
            self._stream, self._stream_task = stream, task
        return stream, task

    def _raise_stream_end(self, task: asyncio.Task[None]) -> None:
        self._stream = self._stream_task = None
        failure = task.exception() if not task.cancelled() else None
        reason = str(failure) if failure is not None else "the trade stream ended"
        if "failed to authenticate" in reason:
            raise VenueRejected(f"{VENUE}: the trade stream refused the keys; "
                                f"{Refusal.AUTH.fix}", venue=VENUE, code="stream_auth",
                                kind=Refusal.AUTH.value)
        raise VenueUnavailable(f"{VENUE}: trade stream lost ({reason}); open orders and "
                               "fills since are to be read by REST")

    async def _on_update(self, msg: dict[str, Any]) -> None:
        """alpaca-py's handler (``raw_data``: the message): the order to the order queue,
        an execution to the fill queue; ``replaced`` is skipped (the replacement's ``new``
        follows, under the same heron client id)."""
        data = msg.get("data") or {}
        body = data.get("order")
        if not isinstance(body, dict) or data.get("event") == "replaced":
            return
        try:
            order = await self._order(body)
            self._orders.put_nowait(order)
            if data.get("event") in ("fill", "partial_fill"):
                inst = self.instruments[order.instrument_id]
                self._fills.put_nowait(VenueFill(
                    venue=VENUE, instrument_id=inst.id,
                    trade_id=str(data.get("execution_id") or ""),
                    venue_order_id=order.venue_order_id,
                    client_order_id=order.client_order_id, side=order.side,
                    quantity=inst.lots(str(data["qty"])), price=inst.ticks(str(data["price"])),
                    fee=Decimal(0), fee_currency="USD", liquidity="",
                    ts=rfc3339_ns(str(data["timestamp"])), raw=data))
        except (KeyError, ValueError, VenueRejected, VenueUnavailable) as exc:
            log.warning("%s: unusable trade update (%s): %.300s", VENUE, exc, data)

    async def _stop_stream(self) -> None:
        stream, task = self._stream, self._stream_task
        self._stream = self._stream_task = None
        if stream is None or task is None:
            return
        await stream.stop_ws()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.close()

    # -- parsing ---------------------------------------------------------------------------
    async def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol``, its asset read once (positions and fills may name
        symbols heron did not open: adopted, not refused)."""
        inst = self._by_symbol.get(symbol)
        if inst is None:
            asset = await self._call("GET", f"/v2/assets/{quote(symbol, safe='')}",
                                     what=f"asset {symbol}", not_found=Refusal.SYMBOL)
            inst = equity_instrument(asset)
            self._by_symbol[symbol] = self.instruments[inst.id] = inst
        return inst

    async def _order(self, body: Mapping[str, Any]) -> VenueOrder:
        """Alpaca's order object, exact, on its instrument's grid."""
        inst = await self._instrument(str(body["symbol"]))
        filled = inst.lots(str(body.get("filled_qty") or "0"))
        status = _STATUS.get(str(body.get("status")), VenueOrderStatus.OPEN)
        if status is VenueOrderStatus.OPEN and filled:
            status = VenueOrderStatus.PARTIALLY_FILLED
        client_id = str(body.get("client_order_id") or "").partition(".")[0]
        self._client_ids[str(body["id"])] = client_id
        kind = str(body.get("type") or body.get("order_type"))
        return VenueOrder(
            venue=VENUE, instrument_id=inst.id, venue_order_id=str(body["id"]),
            client_order_id=client_id, side=side_from(str(body["side"])),
            order_type=OrderType(kind), status=status,
            quantity=inst.lots(str(body.get("qty") or "0")), filled=filled,
            price=_ticks(inst, body.get("limit_price")),
            trigger_price=_ticks(inst, body.get("stop_price")),
            avg_price=_decimal(body.get("filled_avg_price")),
            time_in_force=_TIF_BACK.get(str(body.get("time_in_force")), TimeInForce.GTC),
            ts=rfc3339_ns(str(body.get("updated_at") or body["created_at"])),
            reason=f"replaced by {body.get('replaced_by')}"
            if body.get("status") == "replaced" else "", raw=dict(body))

    async def _order_id(self, instrument: Instrument, client_id: str) -> str:
        order = await self.fetch_order(instrument, client_id=client_id)
        if order is None:
            raise VenueRejected(f"{VENUE}: no order {client_id!r}; {Refusal.NOT_FOUND.fix}",
                                venue=VENUE, code="40410000", kind=Refusal.NOT_FOUND.value)
        return order.venue_order_id

    async def _fresh_clock(self) -> None:
        clock = self._clock
        if clock is None or time.time_ns() >= clock.changes_ns:
            body = await self._call("GET", "/v2/clock", what="the clock")
            self._clock = MarketClock.from_body(body)

    # -- HTTP ------------------------------------------------------------------------------
    async def _call(self, method: str, path: str, *, what: str,
                    params: Mapping[str, str] | None = None,
                    body: Mapping[str, Any] | None = None,
                    not_found: Refusal = Refusal.NOT_FOUND) -> Any:
        """One request, its JSON reply (``None`` for 204). Connection failures before
        sending and 429/5xx are retried ``attempts`` times; a mutating request cut or
        timed out after sending is :class:`ResponseLost` at once."""
        http = self._http
        if http is None:
            raise VenueUnavailable(f"{VENUE}: the client is not open (call open() first)")
        delay, failure = 0.2, ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with http.request(method, self.base_url + path, params=params,
                                        json=body) as reply:
                    status, text = reply.status, await reply.text()
                    retry_after = reply.headers.get("Retry-After")
            except aiohttp.ClientConnectorError as exc:  # never reached the venue
                status, text, retry_after = 0, f"{type(exc).__name__}: {exc}", None
            except (aiohttp.ClientError, TimeoutError) as exc:
                if method != "GET":
                    raise ResponseLost(f"{VENUE}: {method} {path} ({what}) got no reply "
                                       f"({type(exc).__name__}: {exc}); look it up before "
                                       "sending it again") from None
                status, text, retry_after = 0, f"{type(exc).__name__}: {exc}", None
            if 200 <= status < 300:
                return json.loads(text) if text else None
            if status and status != 429 and status < 500:
                raise _refusal(status, text, what, not_found)
            failure = f"{status or 'no answer'}: {text.strip()[:_ERROR_TEXT]}"
            if attempt < self._attempts:
                self.retries += 1
                await asyncio.sleep(_wait(retry_after, delay, self._retry_cap_s))
                delay *= 2
        raise VenueUnavailable(f"{VENUE}: {method} {path} ({what}) still failing after "
                               f"{self._attempts} tries ({failure}); retry later")


def _refusal(status: int, text: str, what: str, not_found: Refusal) -> VenueRejected:
    """Alpaca's 4xx as heron's refusal, with Alpaca's code and words."""
    try:
        reply = json.loads(text)
    except ValueError:
        reply = {}
    reply = reply if isinstance(reply, dict) else {}
    code = str(reply.get("code") or status)
    message = str(reply.get("message") or text.strip())[:_ERROR_TEXT]
    low = message.lower()
    if status == 401:
        kind = Refusal.AUTH
    elif status == 404:
        kind = not_found
    elif status == 403:
        kind = Refusal.BALANCE if "insufficient" in low or "buying power" in low \
            else Refusal.AUTH
    elif "client_order_id must be unique" in low:
        kind = Refusal.DUPLICATE
    elif "asset" in low and "not found" in low:
        kind = Refusal.SYMBOL
    else:
        kind = Refusal.INVALID
    return VenueRejected(f"{VENUE} refused {what}: {message} ({status}, code {code}); "
                         f"{kind.fix}", venue=VENUE, code=code, kind=kind.value)


def _wait(retry_after: str | None, delay: float, cap: float) -> float:
    """Seconds before the next try: the venue's ``Retry-After`` when it gives one."""
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), cap)
        except ValueError:
            pass
    return min(delay, cap)


def _replacement_id(client_id: str, old_order_id: str) -> str:
    """A replacement's client id: heron's id, ``.``, ten hex digits of the replaced id."""
    base = client_id.partition(".")[0]
    return f"{base}.{hashlib.sha256(old_order_id.encode()).hexdigest()[:10]}"


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _decimal(value: object) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _ticks(inst: Instrument, value: object) -> int | None:
    return None if value is None or value == "" else inst.ticks(str(value))


def _rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"
