"""Alpaca's market-data streams and trading API, as ccxt.pro and alpaca-py talk to them.

Both streams follow Alpaca's WebSocket protocol (docs.alpaca.markets, "WebSocket Stream"):
on connecting the server sends ``[{"T": "success", "msg": "connected"}]``; ``{"action":
"auth", "key", "secret"}`` is answered ``[{"T": "success", "msg": "authenticated"}]`` or
``[{"T": "error", "code": 402, "msg": "auth failed"}]``; ``{"action": "subscribe",
"trades": [...], "quotes": [...], ...}`` before that gets ``401 not authenticated``, after
it a ``[{"T": "subscription", ...}]`` listing every channel's symbols. A topic is
``<channel>:<symbol>`` (``trades:AAPL``, ``orderbooks:BTC/USD``).

* :class:`AlpacaCryptoProfile`: ``/v1beta3/crypto/{loc}``, JSON text frames. **Nothing
  of Alpaca crypto is recorded**: :data:`CRYPTO_FRAMES` are written in the shape of the
  docs' "Real-time Crypto Data" schemas (trades with ``i`` and ``tks``, quotes, an
  ``orderbooks`` whole book with ``"r": true`` and then changed levels, a size of 0
  removing one), values illustrative; :data:`CRYPTO_ASSETS` is ``GET /v2/assets`` in the
  docs' asset shape (also not recorded), with the 1e-9 price and size increments
  Alpaca's crypto assets carry now.
* :class:`AlpacaStocksProfile`: ``/v2/{feed}`` (``iex``, ``sip``), msgpack *binary*
  frames, ``t`` a msgpack Timestamp (ext type -1), prices msgpack floats: what alpaca-py
  reads. The frames are the **real recorded REST records** of
  ``/work/shared/data/venues/alpaca`` (AAPL trades and quotes of 2022-03-09, the latest
  trade and quote of 2022-03-18 and the 2022-03-18 snapshot's), each turned into the
  stream record by adding ``T`` and ``S`` (the stream's trade and quote carry the same
  fields as the REST ones), in time order. ``GET /v2/assets/{symbol}``, ``GET /v2/assets``
  and ``GET /v2/clock`` are not recorded: the docs' shapes, AAPL's values as Alpaca lists
  it.

Both check the keys on REST (401 ``{"code": 40110000, "message": "request is not
authorized"}``) and on the socket; ``stream_keys`` lets a test make only the socket
refuse them.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from heron.testing.venue_server import Frame, Reply, RestHandler, VenueProfile, WsSession

__all__ = ["CRYPTO_ASSETS", "CRYPTO_FRAMES", "KEYS", "AlpacaCryptoProfile",
           "AlpacaStocksProfile", "equity_asset"]

KEYS = ("test-key", "test-secret")
_CHANNEL_OF = {"t": "trades", "q": "quotes", "o": "orderbooks", "b": "bars",
               "u": "updatedBars", "d": "dailyBars", "s": "statuses", "l": "lulds"}
_CRYPTO_CHANNELS = ("trades", "quotes", "orderbooks", "bars", "updatedBars", "dailyBars")
_STOCK_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses",
                   "lulds", "corrections", "cancelErrors")
_UNAUTHORIZED = '{"code":40110000,"message":"request is not authorized"}'


def _crypto_asset(symbol: str, name: str, asset_id: str, min_order: str) -> dict[str, Any]:
    return {"id": asset_id, "class": "crypto", "exchange": "CRYPTO", "symbol": symbol,
            "name": name, "status": "active", "tradable": True, "marginable": False,
            "maintenance_margin_requirement": 100, "shortable": False,
            "easy_to_borrow": False, "fractionable": True, "attributes": [],
            "min_order_size": min_order, "min_trade_increment": "0.000000001",
            "price_increment": "0.000000001"}


CRYPTO_ASSETS: list[dict[str, Any]] = [
    _crypto_asset("BTC/USD", "Bitcoin  / US Dollar", "276e2673-764b-4ab6-a611-caf665ca6340",
                  "0.0001"),
    _crypto_asset("ETH/USD", "Ethereum  / US Dollar", "35f33a69-f5d6-4dc9-b158-4485e5e92e4b",
                  "0.001"),
]

_T0 = "2024-03-12T10:38:50"
CRYPTO_FRAMES: list[str] = [
    '[{"T":"o","S":"BTC/USD","t":"' + _T0 + '.79613221Z","b":[{"p":71859.53,"s":0.27994},'
    '{"p":71849.4,"s":0.553986},{"p":71820.469,"s":0.83495}],"a":[{"p":71877.1,'
    '"s":0.273},{"p":71890.2,"s":0.55165},{"p":71911.18,"s":0.835}],"r":true}]',
    '[{"T":"q","S":"BTC/USD","bp":71859.53,"bs":0.27994,"ap":71877.1,"as":0.273,'
    '"t":"' + _T0 + '.801193454Z"}]',
    '[{"T":"t","S":"BTC/USD","p":71877.1,"s":0.0001,"t":"' + _T0 + '.858228144Z",'
    '"i":3447222699101865076,"tks":"B"}]',
    '[{"T":"o","S":"BTC/USD","t":"' + _T0 + '.858331Z","b":[],"a":[{"p":71877.1,'
    '"s":0.2729}]}]',
    '[{"T":"t","S":"BTC/USD","p":71859.53,"s":5e-07,"t":"' + _T0 + '.91Z",'
    '"i":3447222699101865077,"tks":"S"}]',
    '[{"T":"o","S":"BTC/USD","t":"' + _T0 + '.912004512Z","b":[{"p":71849.4,"s":0},'
    '{"p":71855,"s":0.1}],"a":[]}]',
    '[{"T":"q","S":"BTC/USD","bp":71859.53,"bs":0.279939,"ap":71877.1,"as":0.2729,'
    '"t":"' + _T0 + '.912004512Z"}]',
]


def equity_asset(symbol: str, name: str, exchange: str = "NASDAQ", *,
                 fractionable: bool = True) -> dict[str, Any]:
    """A ``GET /v2/assets/{symbol}`` body in the shape of Alpaca's docs (not recorded)."""
    return {"id": f"emulated-{symbol.lower()}", "class": "us_equity", "exchange": exchange,
            "symbol": symbol, "name": name, "status": "active", "tradable": True,
            "marginable": True, "maintenance_margin_requirement": 30, "shortable": True,
            "easy_to_borrow": True, "fractionable": fractionable,
            "attributes": ["fractional_eh_enabled", "has_options"]}


_EQUITIES = [equity_asset("AAPL", "Apple Inc. Common Stock"),
             equity_asset("AAPD", "Direxion Daily AAPL Bear 1X Shares"),
             equity_asset("AMZN", "Amazon.com, Inc. Common Stock"),
             equity_asset("BRK.A", "Berkshire Hathaway Inc. Class A", "NYSE",
                          fractionable=False)]


class _AlpacaStream(VenueProfile):
    """Alpaca's stream handshake, for text (JSON) or binary (msgpack) frames."""

    channels: Sequence[str] = ()

    def __init__(self, *, keys: tuple[str, str] = KEYS,
                 stream_keys: tuple[str, str] | None = None) -> None:
        self.keys = keys
        self.stream_keys = stream_keys or keys

    # -- encoding --------------------------------------------------------------------------
    def encode(self, records: list[dict[str, Any]]) -> str | bytes:
        raise NotImplementedError

    def decode(self, message: str | bytes) -> Any:
        raise NotImplementedError

    # -- the socket --------------------------------------------------------------------------
    def on_open(self, session: WsSession) -> None:
        session.send(self.encode([{"T": "success", "msg": "connected"}]))

    def subscription(self, message: str | bytes) -> Mapping[str, Any] | None:
        try:
            request = self.decode(message)
        except (ValueError, msgspec.DecodeError):
            return None
        if isinstance(request, dict) and request.get("action") == "subscribe":
            return request
        return None

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        try:
            request = self.decode(message)
            action = request.get("action")
        except (ValueError, AttributeError, msgspec.DecodeError):
            session.send(self._error(400, "invalid syntax"))
            return
        if action == "auth":
            self._auth(session, request)
        elif action in ("subscribe", "unsubscribe"):
            self._subscribe(session, request, action == "subscribe")
        else:
            session.send(self._error(400, "invalid syntax"))

    def _auth(self, session: WsSession, request: Mapping[str, Any]) -> None:
        if session.auth:
            session.send(self._error(403, "already authenticated"))
        elif (request.get("key"), request.get("secret")) != self.stream_keys:
            session.send(self._error(402, "auth failed"))
        else:
            session.auth = True
            session.send(self.encode([{"T": "success", "msg": "authenticated"}]))

    def _subscribe(self, session: WsSession, request: Mapping[str, Any], add: bool) -> None:
        if not session.auth:
            session.send(self._error(401, "not authenticated"))
            return
        for channel in self.channels:
            topics = {f"{channel}:{symbol}" for symbol in request.get(channel) or ()}
            if add:
                session.topics |= topics
            else:
                session.topics -= topics
        ack: dict[str, Any] = {"T": "subscription"}
        for channel in self.channels:
            ack[channel] = sorted(t.split(":", 1)[1] for t in session.topics
                                  if t.split(":", 1)[0] == channel)
        session.send(self.encode([ack]))

    def _error(self, code: int, text: str) -> str | bytes:
        return self.encode([{"T": "error", "code": code, "msg": text}])

    # -- REST --------------------------------------------------------------------------------
    def authorized(self, request: web.Request) -> bool:
        return (request.headers.get("APCA-API-KEY-ID"),
                request.headers.get("APCA-API-SECRET-KEY")) == self.keys

    def guarded(self, body: Any) -> RestHandler:
        """A handler that answers ``body`` (JSON) to the right keys and 401 to the others."""
        text = json.dumps(body)

        def handle(request: web.Request) -> Reply:
            if not self.authorized(request):
                return Reply(_UNAUTHORIZED, status=401)
            return Reply(text)
        return handle


class AlpacaCryptoProfile(_AlpacaStream):
    name = "alpaca"
    ws_paths = ("/v1beta3/crypto/{loc}",)
    channels = _CRYPTO_CHANNELS

    def __init__(self, frames: Sequence[str] = tuple(CRYPTO_FRAMES), *,
                 assets: Sequence[Mapping[str, Any]] = tuple(CRYPTO_ASSETS),
                 keys: tuple[str, str] = KEYS,
                 stream_keys: tuple[str, str] | None = None) -> None:
        super().__init__(keys=keys, stream_keys=stream_keys)
        self.assets = [dict(a) for a in assets]
        self._frames = [Frame(_ns(json.loads(text)[0]["t"]), _topic(json.loads(text)[0]), text)
                        for text in frames]

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def encode(self, records: list[dict[str, Any]]) -> str | bytes:
        return json.dumps(records, separators=(",", ":"))

    def decode(self, message: str | bytes) -> Any:
        return json.loads(message)

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("GET", "/v2/assets"): self.guarded(self.assets)}


class AlpacaStocksProfile(_AlpacaStream):
    name = "alpaca-stocks"
    ws_paths = ("/v2/{feed}",)
    binary = True
    channels = _STOCK_CHANNELS

    def __init__(self, records: Sequence[Mapping[str, Any]], *,
                 assets: Sequence[Mapping[str, Any]] = tuple(_EQUITIES),
                 keys: tuple[str, str] = KEYS, stream_keys: tuple[str, str] | None = None,
                 market_open: bool = True) -> None:
        super().__init__(keys=keys, stream_keys=stream_keys)
        self.assets = {str(a["symbol"]): dict(a) for a in assets}
        self.market_open = market_open
        self._frames = sorted((Frame(_ns(r["t"]), _topic(r), json.dumps(r)) for r in records),
                              key=lambda f: f.ts)

    @classmethod
    def recorded(cls, venue_dir: Path, **kwargs: Any) -> AlpacaStocksProfile:
        """The real REST records in ``venue_dir`` as stream records (see the module doc)."""
        return cls(recorded_records(venue_dir), **kwargs)

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def render(self, session: WsSession, frame: Frame) -> str | bytes:
        return self.encode([json.loads(frame.text)])

    def encode(self, records: list[dict[str, Any]]) -> str | bytes:
        return msgspec.msgpack.encode([_wire(r) for r in records])

    def decode(self, message: str | bytes) -> Any:
        if isinstance(message, str):
            raise ValueError("the equity stream speaks msgpack")
        return msgspec.msgpack.decode(message)

    # -- REST --------------------------------------------------------------------------------
    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("GET", "/v2/assets/{symbol}"): self._asset,
                ("GET", "/v2/assets"): self._assets,
                ("GET", "/v2/clock"): self._clock}

    def _asset(self, request: web.Request) -> Reply:
        if not self.authorized(request):
            return Reply(_UNAUTHORIZED, status=401)
        symbol = request.match_info["symbol"]
        if symbol.replace("/", "") == "BTCUSD":
            return Reply(json.dumps(CRYPTO_ASSETS[0]))
        asset = self.assets.get(symbol)
        if asset is None:
            return Reply(json.dumps({"code": 40410000,
                                     "message": f"asset not found for {symbol}"}), status=404)
        return Reply(json.dumps(asset))

    def _assets(self, request: web.Request) -> Reply:
        if not self.authorized(request):
            return Reply(_UNAUTHORIZED, status=401)
        return Reply(json.dumps(list(self.assets.values())))

    def _clock(self, request: web.Request) -> Reply:
        """The clock as Alpaca answers it (ET offsets), open or closed as the test wants."""
        if not self.authorized(request):
            return Reply(_UNAUTHORIZED, status=401)
        now = time.time()
        stamp = _et(now)
        if self.market_open:  # closes in an hour, opens again tomorrow
            next_open, next_close = _et(now + 86_400 - 3_600), _et(now + 3_600)
        else:  # opens in twelve hours
            next_open, next_close = _et(now + 43_200), _et(now + 43_200 + 23_400)
        return Reply(json.dumps({"timestamp": stamp, "is_open": self.market_open,
                                 "next_open": next_open, "next_close": next_close}))


def recorded_records(venue_dir: Path) -> list[dict[str, Any]]:
    """Every recorded AAPL trade and quote of ``venue_dir`` as a stream record (T, S added)."""
    out: list[dict[str, Any]] = []
    for name, key, kind in (("rest_v2_stocks_trades_AAPL_2022-03-09.json", "trades", "t"),
                            ("rest_v2_stocks_quotes_AAPL_2022-03-09.json", "quotes", "q"),
                            ("rest_v2_stocks_trades_latest_AAPL_2022-03-18.json", "trades", "t"),
                            ("rest_v2_stocks_quotes_latest_AAPL_2022-03-18.json", "quotes", "q")):
        rows = json.loads((venue_dir / name).read_text())[key]["AAPL"]
        for row in rows if isinstance(rows, list) else [rows]:
            out.append({"T": kind, "S": "AAPL", **row})
    snapshot = json.loads((venue_dir / "rest_v2_stocks_snapshots_AAPL_2022-03-18.json")
                          .read_text())["AAPL"]
    out.append({"T": "t", "S": "AAPL", **snapshot["latestTrade"]})
    out.append({"T": "q", "S": "AAPL", **snapshot["latestQuote"]})
    return out


# -- helpers ----------------------------------------------------------------------------------
def _topic(record: Mapping[str, Any]) -> str:
    return f"{_CHANNEL_OF[record['T']]}:{record['S']}"


def _ns(text: str) -> int:
    """RFC-3339 with up to nine fractional digits -> ns, written apart from heron's parser
    (the emulator must not share the code it is testing)."""
    head, _, rest = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int((rest + "000000000")[:9])


def _wire(record: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON record as Alpaca's msgpack stream sends it: ``t`` a timestamp (extension -1,
    the 96-bit form: nanoseconds, then seconds), prices floats."""
    out = dict(record)
    if "t" in out and isinstance(out["t"], str):
        seconds, nanos = divmod(_ns(out["t"]), 1_000_000_000)
        out["t"] = msgspec.msgpack.Ext(-1, struct.pack(">IQ", nanos, seconds))
    for key in ("p", "bp", "ap"):
        if key in out:
            out[key] = float(out[key])
    return out


def _et(epoch_s: float) -> str:
    """``epoch_s`` as Alpaca's clock prints it: New York time with its offset (EST here)."""
    local = datetime.fromtimestamp(epoch_s - 5 * 3600, tz=UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + "-05:00"
