"""MEXC futures (contract), as ccxt.pro's ``mexc`` talks to it.

WebSocket: one socket, ``/edge``. ``{"method": "sub.deal", "param": {"symbol":
"BTC_USDT"}}`` is answered ``{"channel": "rs.sub.deal", "data": "success", "ts": ms}``
(``unsub.*`` likewise, ``rs.unsub.*``); a contract that does not exist gets
``{"channel": "rs.error", "data": "Contract [X] not exists", "ts": ms}``; ``{"method":
"ping"}`` is answered ``{"channel": "pong", "data": ms}``. A topic is the push channel
without ``push.`` and the symbol: ``deal:BTC_USDT``, ``depth:BTC_USDT``,
``ticker:BTC_USDT``, ``funding.rate:BTC_USDT``.

REST: ``GET /api/v3/exchangeInfo`` (spot markets) and ``GET /api/v1/contract/detail``
(contracts), which ccxt's ``fetch_markets`` reads, and ``GET
/api/v1/contract/depth/{symbol}`` (the book snapshot).

**What is recorded and what is not.** The frames are crypto-msg-parser's real captures
of MEXC's contract socket (``crypto-msg-parser_raw_messages.jsonl``, 2022): one deal, one
depth diff, one ``push.depth.full``, one kline and one ticker; every one of them is
replayed under its topic (nobody here subscribes to ``depth.full`` or ``kline``, but a
client that did would get them). Its spot rows are the retired JSON spot protocol and
are not served. There is no recorded market list, so the two market bodies below are
written in the shape MEXC's API docs give, with the BTC_USDT values of the docs' own
contract-info example (contract size 0.0001 BTC, price step 0.1, volume step 1), and one
spot row (BTCUSDT) in the docs' exchangeInfo shape, there only so that a spot symbol
resolves and can be refused. Pushes with no recording (``push.funding.rate``) come in
through ``extra``, in the documented shape.

**The book snapshot.** The recorded REST depth body (version 5216820883, June 2022) is
three months newer than the recorded diff (version 4702740808, March 2022, prices 10,000
higher), so it cannot sit under it. By default the profile serves one built for the
diff instead: version = the diff's version - 1, time = the diff's, and levels the diff
makes sense on: the two asks it deletes (39961, 39961.5) plus one ask above its new bid
(39963), and three bids below (39960.5, 39960, 39959.5), with the sizes and order
counts of the recorded body's levels, in order. ``recorded_snapshot=True`` serves the
recorded body unchanged (newer than the diff: the diff must then be dropped).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from heron.testing.venue_server import (
    Frame,
    Reply,
    RestHandler,
    VenueProfile,
    WsSession,
    json_request,
)

# GET /api/v1/contract/detail, in the shape and with the BTC_USDT values of MEXC's docs
# ("Get Contract Info" response example, futures/market-endpoints/get-contract-info);
# the docs' list of risk tiers and icon fields is left out: ccxt does not read them.
CONTRACT_DETAIL: dict[str, Any] = {
    "success": True, "code": 0,
    "data": [{
        "symbol": "BTC_USDT", "displayName": "BTC_USDT永续",
        "displayNameEn": "BTC_USDT PERPETUAL", "positionOpenType": 3,
        "baseCoin": "BTC", "quoteCoin": "USDT", "baseCoinName": "BTC",
        "quoteCoinName": "USDT", "futureType": 1, "settleCoin": "USDT",
        "contractSize": 0.0001, "minLeverage": 1, "maxLeverage": 500,
        "priceScale": 1, "volScale": 0, "amountScale": 4, "priceUnit": 0.1, "volUnit": 1,
        "minVol": 1, "maxVol": 400000, "bidLimitPriceRate": 0.1, "askLimitPriceRate": 0.1,
        "takerFeeRate": 0.0004, "makerFeeRate": 0.0001, "maintenanceMarginRate": 0.001,
        "initialMarginRate": 0.002, "riskBaseVol": 4500000, "riskIncrVol": 0,
        "riskIncrMmr": 0, "riskIncrImr": 0, "riskLevelLimit": 1,
        "priceCoefficientVariation": 0.004,
        "indexOrigin": ["BITGET", "BYBIT", "BINANCE", "HTX", "OKX", "MEXC", "KUCOIN"],
        "state": 0, "isNew": False, "isHot": False, "isHidden": False,
        "depthStepList": ["0.1", "1", "10", "100"], "id": 10, "apiAllowed": False,
    }],
}

# GET /api/v3/exchangeInfo in the shape of MEXC's spot v3 docs ("Exchange Information");
# BTCUSDT's precisions are illustrative: the row exists so that BTC/USDT resolves.
SPOT_EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "CST", "serverTime": 1647521860402, "rateLimits": [], "exchangeFilters": [],
    "symbols": [{
        "symbol": "BTCUSDT", "status": "1", "baseAsset": "BTC", "baseAssetPrecision": 6,
        "quoteAsset": "USDT", "quotePrecision": 2, "quoteAssetPrecision": 2,
        "baseCommissionPrecision": 6, "quoteCommissionPrecision": 2,
        "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"], "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "quoteAmountPrecision": "1",
        "baseSizePrecision": "0.000001", "permissions": ["SPOT"], "filters": [],
        "maxQuoteAmount": "2000000", "makerCommission": "0", "takerCommission": "0.0005",
        "quoteAmountPrecisionMarket": "1", "maxQuoteAmountMarket": "100000",
        "fullName": "Bitcoin", "tradeSideType": "1", "st": False,
    }],
}

# the levels of the built snapshot (module docstring): prices chosen for the recorded
# diff, sizes and order counts taken from the recorded REST body in order
_BUILT_ASKS = ("39961", "39961.5", "39963")
_BUILT_BIDS = ("39960.5", "39960", "39959.5")
_NS_PER_MS = 1_000_000


def _capture_rows(capture: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in capture.read_text().splitlines() if line.strip()]


def topic_of(message: Mapping[str, Any]) -> str:
    """``{"channel": "push.deal", "symbol": "BTC_USDT"}`` -> ``deal:BTC_USDT``."""
    return f"{str(message['channel']).removeprefix('push.')}:{message['symbol']}"


def built_snapshot(update: str, recorded: str) -> str:
    """The REST body the recorded depth ``update`` applies to (module docstring).

    ``json`` reads the prices as floats here; each is a short decimal whose shortest
    repr is its own text, so the body written out carries the same digits.
    """
    diff = json.loads(update)
    body = json.loads(recorded)
    data = body["data"]

    def levels(prices: Sequence[str], like: list[list[Any]]) -> list[list[Any]]:
        return [[json.loads(price), row[1], row[2]] for price, row in zip(prices, like,
                                                                          strict=True)]

    body["data"] = {"asks": levels(_BUILT_ASKS, data["asks"]),
                    "bids": levels(_BUILT_BIDS, data["bids"]),
                    "version": diff["data"]["version"] - 1, "timestamp": diff["ts"]}
    return json.dumps(body, separators=(",", ":"))


class MexcProfile(VenueProfile):
    name = "mexc"
    ws_paths = ("/edge",)

    def __init__(self, capture: Path, *, extra: Sequence[str] = (),
                 recorded_snapshot: bool = False) -> None:
        self._frames: list[Frame] = []
        self.recorded_snapshot = ""
        update = ""
        for row in _capture_rows(capture):
            if not row["source_test"].endswith(("::linear_swap", "::linear_swap_update")):
                continue  # spot rows: the retired JSON spot protocol
            message = json.loads(row["raw"])
            if "channel" not in message:  # the REST depth body
                self.recorded_snapshot = row["raw"]
                continue
            self._frames.append(Frame(int(message["ts"]) * _NS_PER_MS, topic_of(message),
                                      row["raw"]))
            if message["channel"] == "push.depth" and not update:
                update = row["raw"]
        first = self._frames[0].ts if self._frames else 0
        for text in extra:
            self._frames.insert(0, Frame(first, topic_of(json.loads(text)), text))
        self.snapshot = (self.recorded_snapshot if recorded_snapshot or not update
                         else built_snapshot(update, self.recorded_snapshot))
        self.contracts = {row["symbol"] for row in CONTRACT_DETAIL["data"]}

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {
            ("GET", "/api/v3/exchangeInfo"): lambda _: Reply(json.dumps(SPOT_EXCHANGE_INFO)),
            ("GET", "/api/v1/contract/detail"): lambda _: Reply(json.dumps(CONTRACT_DETAIL)),
            ("GET", "/api/v1/contract/depth/{symbol}"): self._depth,
        }

    def _depth(self, request: web.Request) -> Reply:
        if request.match_info["symbol"] != "BTC_USDT" or not self.snapshot:
            return Reply('{"success":false,"code":1001,"message":"contract not exists"}')
        return Reply(self.snapshot)

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def subscription(self, message: str | bytes) -> Mapping[str, Any] | None:
        """``sub.<channel>``: a subscribe request names its channel."""
        request = json_request(message)
        return request if str(request.get("method", "")).startswith("sub.") else None

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        request = json.loads(message)
        method = str(request.get("method", ""))
        now = int(time.time() * 1000)
        if method == "ping":
            session.send(json.dumps({"channel": "pong", "data": now}))
            return
        action, _, channel = method.partition(".")
        symbol = str((request.get("param") or {}).get("symbol", ""))
        if action not in ("sub", "unsub") or not channel:
            session.send(json.dumps({"channel": "rs.error", "data": f"unknown method "
                                     f"{method}", "ts": now}))
            return
        if symbol not in self.contracts:
            session.send(json.dumps({"channel": "rs.error",
                                     "data": f"Contract [{symbol}] not exists", "ts": now}))
            return
        topic = f"{channel}:{symbol}"
        if action == "sub":
            session.topics.add(topic)
        else:
            session.topics.discard(topic)
        session.send(json.dumps({"channel": f"rs.{method}", "data": "success", "ts": now}))
