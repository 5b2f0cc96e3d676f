"""Bybit v5 public market data, as ccxt.pro's ``bybit`` talks to it.

WebSocket: one socket per category, ``/v5/public/linear`` and ``/v5/public/spot`` (and
``inverse``, ``option``). ``{"op": "subscribe", "req_id": n, "args": [topic, ...]}`` is
answered with the recorded acknowledgement (``ws_subscription_ack.json``) carrying this
connection's ``conn_id`` and the request's ``req_id``; a topic the category does not have
(a channel it lacks, a depth it does not offer, a symbol it does not list) is refused
with the recorded refusal (``ws_subscription_failure.json``: ``success`` false,
``Invalid topic: <topic>``). Unsubscribe is acknowledged the same way;
``{"op": "ping"}`` is answered ``{"success": true, "ret_msg": "pong", "conn_id": ..,
"op": "ping"}`` (with the ``req_id`` when one was sent), as Bybit documents for its
public sockets. Topics are Bybit's (``orderbook.500.XRPUSDT``).

REST: ``GET /v5/market/instruments-info`` per ``category``:

* ``linear``: the recorded body (BTCUSDT, ETHUSDT), plus an entry for each symbol the
  recorded messages have and the body lacks (XRPUSDT's book, GALAUSDT's liquidation):
  the recorded BTCUSDT entry with the symbol, base coin and grid (:data:`UNLISTED_GRIDS`)
  put in. The recording was trimmed of
  ``result.category``, which Bybit's answers carry and ccxt reads to tell linear from
  inverse contracts: it is put back. The ``PreLaunch`` listing ccxt also asks for is
  empty;
* ``spot``: nothing was recorded, so Bybit's documented example (a BTCUSDT spot pair, as
  quoted in ccxt's ``fetch_spot_markets``): enough for a spot client to load a market
  and subscribe on the spot socket;
* ``inverse``, ``option``: an empty list (nothing recorded).

Frames, all on the linear socket (nothing was recorded on spot):

* the real ``orderbook.500.XRPUSDT`` archive lines, as recorded;
* ``orderbook.1.XRPUSDT``: not recorded, so built from that archive: after each archive
  message that changed the best bid or ask, a level-1 snapshot of the new top, at that
  message's times, numbered ``u`` 1, 2, ... (level 1 keeps a counter of its own);
* single recorded messages (the API-doc fixtures ``publicTrade``, ``tickers``, ...) at
  the archive's start. The ``liquidation.{symbol}`` fixture is sent as
  ``allLiquidation.{symbol}``, the topic ccxt subscribes, in that topic's documented
  shape (a list of ``{T, s, S, v, p}``) with the recorded values.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from heron.testing.venue_server import Frame, Reply, RestHandler, VenueProfile, WsSession

_NS_PER_MS = 1_000_000

#: (tickSize, qtyStep) of the recorded symbols the recorded listing lacks: the coarsest
#: decimal grid their recorded prices and sizes sit on (XRPUSDT's is what Bybit lists)
UNLISTED_GRIDS: Mapping[str, tuple[str, str]] = {
    "XRPUSDT": ("0.0001", "1"),
    "GALAUSDT": ("0.00001", "1"),
}

#: Bybit's documented spot ``instruments-info`` example (nothing recorded for spot)
SPOT_INSTRUMENTS: dict[str, Any] = {
    "retCode": 0, "retMsg": "OK",
    "result": {"category": "spot", "list": [{
        "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0",
        "status": "Trading", "marginTrading": "both",
        "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                          "minOrderQty": "0.00004", "maxOrderQty": "63.01197227",
                          "minOrderAmt": "1", "maxOrderAmt": "100000"},
        "priceFilter": {"tickSize": "0.01"}}]},
    "retExtInfo": {}, "time": 1672712468011,
}

#: the topics each category publishes (``orderbook`` by depth)
CHANNELS: Mapping[str, frozenset[str]] = {
    "linear": frozenset({"publicTrade", "orderbook.1", "orderbook.50", "orderbook.200",
                         "orderbook.500", "tickers", "allLiquidation", "liquidation"}),
    "spot": frozenset({"publicTrade", "orderbook.1", "orderbook.50", "orderbook.200",
                       "orderbook.1000", "tickers"}),
    "inverse": frozenset({"publicTrade", "orderbook.1", "orderbook.50", "orderbook.200",
                          "orderbook.500", "tickers", "allLiquidation", "liquidation"}),
    "option": frozenset({"publicTrade", "orderbook.25", "orderbook.100", "tickers"}),
}


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _channel(topic: str) -> tuple[str, str]:
    """``orderbook.500.XRPUSDT`` -> ``("orderbook.500", "XRPUSDT")``."""
    head, _, symbol = topic.rpartition(".")
    return head, symbol


class BybitProfile(VenueProfile):
    name = "bybit"
    subscribe_op = ("op", "subscribe")
    ws_paths = ("/v5/public/linear", "/v5/public/spot", "/v5/public/inverse",
                "/v5/public/option")

    def __init__(self, linear_instruments: bytes, ack: bytes, refusal: bytes, *,
                 book_archive: Path | None = None, messages: Sequence[str] = ()) -> None:
        self._ack, self._refusal = json.loads(ack), json.loads(refusal)
        self._frames = _archive_frames(book_archive) if book_archive is not None else []
        first = self._frames[0].ts if self._frames else 0
        self._frames[:0] = [Frame(first, *_single(text)) for text in messages]
        linear = json.loads(linear_instruments)
        linear["result"].setdefault("category", "linear")
        _list_unlisted(linear, {_channel(f.topic)[1] for f in self._frames})
        self.instruments: dict[str, dict[str, Any]] = {
            "linear": linear, "spot": SPOT_INSTRUMENTS,
            "inverse": _empty("inverse", linear), "option": _empty("option", linear)}
        self._connections = itertools.count(1)

    # -- REST ------------------------------------------------------------------------------
    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("GET", "/v5/market/instruments-info"): self._instruments}

    def _instruments(self, request: web.Request) -> Reply:
        category = request.query.get("category", "")
        body = self.instruments.get(category)
        if body is None:
            return Reply(_compact({"retCode": 10001, "retMsg": "params error: category "
                                   "invalid (emulator)", "result": {}, "retExtInfo": {}}))
        if request.query.get("status", "Trading") != "Trading":
            body = _empty(category, body)  # nothing recorded before launch
        return Reply(_compact(body))

    def listed(self, category: str) -> set[str]:
        return {entry["symbol"] for entry in self.instruments[category]["result"]["list"]}

    # -- WebSocket -------------------------------------------------------------------------
    def frames(self) -> Sequence[Frame]:
        return self._frames

    def on_open(self, session: WsSession) -> None:
        session.state["category"] = session.path.rsplit("/", 1)[-1]
        session.state["conn_id"] = f"emulator-{next(self._connections)}"

    def wants(self, session: WsSession, frame: Frame) -> bool:
        """Recorded frames are all linear: a spot client subscribed to the same names gets
        none of them."""
        return session.state["category"] == "linear" and frame.topic in session.topics

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            op, args = request.get("op"), request.get("args") or []
        except (ValueError, AttributeError):
            session.send(self._refused(session, {}, "error:request not json (emulator)"))
            return
        if op == "ping":
            self._reply(session, request, {"success": True, "ret_msg": "pong"})
        elif op == "subscribe":
            self._subscribe(session, request, [str(a) for a in args])
        elif op == "unsubscribe":
            session.topics.difference_update(str(a) for a in args)
            self._reply(session, request, dict(self._ack))
        else:
            session.send(self._refused(session, request, f"error:invalid op {op!r}"))

    def _subscribe(self, session: WsSession, request: Mapping[str, Any],
                   topics: list[str]) -> None:
        category = session.state["category"]
        bad = next((t for t in topics if not self._publishes(category, t)), None)
        if bad is not None:
            session.send(self._refused(session, request, f"Invalid topic: {bad}"))
            return
        session.topics.update(topics)
        self._reply(session, request, dict(self._ack))

    def _publishes(self, category: str, topic: str) -> bool:
        channel, symbol = _channel(topic)
        return channel in CHANNELS.get(category, ()) and symbol in self.listed(category)

    def _reply(self, session: WsSession, request: Mapping[str, Any],
               body: dict[str, Any]) -> None:
        body.update(conn_id=session.state["conn_id"], op=request.get("op"))
        body.pop("req_id", None)
        if request.get("req_id") is not None:
            body["req_id"] = str(request["req_id"])
        session.send(_compact(body))

    def _refused(self, session: WsSession, request: Mapping[str, Any], why: str) -> str:
        body = {**self._refusal, "ret_msg": why, "conn_id": session.state["conn_id"],
                "op": request.get("op") or self._refusal.get("op")}
        if request.get("req_id") is not None:
            body["req_id"] = str(request["req_id"])
        return _compact(body)


# -- the recordings -------------------------------------------------------------------------
def _single(text: str) -> tuple[str, str]:
    """``(topic, text)`` of a single recorded message; ``liquidation`` as
    ``allLiquidation`` (see the module docstring)."""
    message = json.loads(text)
    topic = str(message["topic"])
    if not topic.startswith("liquidation."):
        return topic, text
    d = message["data"]
    item = {"T": d.get("updatedTime", d.get("updateTime")), "s": d["symbol"], "S": d["side"],
            "v": d["size"], "p": d["price"]}
    topic = f"allLiquidation.{d['symbol']}"
    return topic, _compact({"topic": topic, "type": "snapshot", "ts": message["ts"],
                            "data": [item]})


def _archive_frames(path: Path) -> list[Frame]:
    """The archive's messages as recorded, each followed by the level-1 snapshot of the
    top it leaves, when that top changed."""
    frames: list[Frame] = []
    book: dict[str, dict[Decimal, list[str]]] = {"b": {}, "a": {}}
    last_top: tuple[list[str], list[str]] | None = None
    level_one = itertools.count(1)
    for text in path.read_text(encoding="utf-8").splitlines():
        message = json.loads(text)
        frames.append(Frame(message["ts"] * _NS_PER_MS, message["topic"], text))
        _apply(book, message)
        top = _top(book)
        if top is None or top == last_top:
            continue
        last_top = top
        data = message["data"]
        symbol = data["s"]
        one = {"topic": f"orderbook.1.{symbol}", "type": "snapshot", "ts": message["ts"],
               "data": {"s": symbol, "b": [top[0]], "a": [top[1]], "u": next(level_one),
                        "seq": data["seq"]}, "cts": message["cts"]}
        frames.append(Frame(message["ts"] * _NS_PER_MS, one["topic"], _compact(one)))
    return frames


def _apply(book: dict[str, dict[Decimal, list[str]]], message: Mapping[str, Any]) -> None:
    if message["type"] == "snapshot":
        for side in book.values():
            side.clear()
    for key, side in book.items():
        for price, size in message["data"][key]:
            if Decimal(size) == 0:
                side.pop(Decimal(price), None)
            else:
                side[Decimal(price)] = [price, size]


def _top(book: Mapping[str, Mapping[Decimal, list[str]]]) -> tuple[list[str], list[str]] | None:
    bids, asks = book["b"], book["a"]
    if not (bids and asks):
        return None
    return bids[max(bids)], asks[min(asks)]


def _empty(category: str, like: Mapping[str, Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": []},
            "retExtInfo": {}, "time": like.get("time", 0)}


def _list_unlisted(body: dict[str, Any], symbols: Iterable[str]) -> None:
    """Add an entry for each of ``symbols`` the recorded listing lacks (see the module
    docstring); a symbol with no known grid is an error here, not a test mystery later."""
    listing: list[dict[str, Any]] = body["result"]["list"]
    have = {entry["symbol"] for entry in listing}
    for symbol in sorted(set(symbols) - have):
        if symbol not in UNLISTED_GRIDS:
            raise ValueError(f"recorded messages of {symbol}, which neither the recorded "
                             "listing nor UNLISTED_GRIDS has")
        tick, step = UNLISTED_GRIDS[symbol]
        entry = json.loads(json.dumps(listing[0]))
        entry.update(symbol=symbol, baseCoin=symbol.removesuffix(entry["quoteCoin"]),
                     priceScale=str(len(tick.partition(".")[2])))
        entry["priceFilter"].update(minPrice=tick, tickSize=tick)
        entry["lotSizeFilter"].update(qtyStep=step, minOrderQty=step)
        listing.append(entry)
