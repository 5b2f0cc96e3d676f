"""Binance USD-M futures, as ccxt.pro's ``binanceusdm`` talks to it.

WebSocket: raw streams on ``/ws``, ``/public/ws/<n>`` and ``/market/ws/<n>`` (ccxt
puts depth, bookTicker and trades on ``public``, the rest on ``market``);
``{"method": "SUBSCRIBE", "params": ["btcusdt@trade", ...], "id": n}`` is answered
``{"result": null, "id": n}``. REST: ``GET /fapi/v1/exchangeInfo`` (markets) and
``GET /fapi/v1/depth`` (the recorded book snapshot).

The recording is an hftbacktest capture (``<recv ns> <text>`` lines, combined-stream
envelopes); topics are ``<symbol>@<channel>`` with the update speed left out, so a
client's ``btcusdt@depth@100ms`` gets the captured ``btcusdt@depth@0ms`` diffs. Extra
single messages (mark price, liquidation: the capture has none) go at the start.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
from aiohttp import web

from heron.testing.venue_server import Frame, Reply, RestHandler, VenueProfile, WsSession


class _Envelope(msgspec.Struct):
    stream: str = ""
    data: msgspec.Raw = msgspec.Raw()


def topic_of(stream: str) -> str:
    """``btcusdt@depth@100ms`` -> ``btcusdt@depth``; ``btcusdt@markPrice@1s`` likewise."""
    parts = stream.split("@")
    return "@".join(parts[:2])


class BinanceUsdmProfile(VenueProfile):
    name = "binanceusdm"
    ws_paths = ("/ws", "/ws/{n}", "/public/ws", "/public/ws/{n}", "/market/ws",
                "/market/ws/{n}")

    def __init__(self, capture: Path, exchange_info: bytes, *,
                 extra: Sequence[str] = ()) -> None:
        self._frames: list[Frame] = []
        self.snapshot = b""
        decoder = msgspec.json.Decoder(_Envelope)
        with gzip.open(capture, "rb") as lines:
            for line in lines:
                stamp, _, text = line.rstrip(b"\n").partition(b" ")
                envelope = decoder.decode(text)
                if envelope.stream:
                    self._frames.append(Frame(int(stamp), topic_of(envelope.stream),
                                              bytes(envelope.data).decode()))
                elif b"lastUpdateId" in text and not self.snapshot:
                    self.snapshot = text
        first = self._frames[0].ts if self._frames else 0
        for extra_text in extra:
            message = json.loads(extra_text)
            symbol = (message.get("s") or message["o"]["s"]).lower()
            channel = {"markPriceUpdate": "markPrice", "forceOrder": "forceOrder"}[message["e"]]
            self._frames.insert(0, Frame(first, f"{symbol}@{channel}", extra_text))
        self.exchange_info = exchange_info

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("GET", "/fapi/v1/exchangeInfo"): lambda _: Reply(self.exchange_info),
                ("GET", "/fapi/v1/depth"): self._depth}

    def _depth(self, request: web.Request) -> Reply:
        if request.query.get("symbol", "").upper() != "BTCUSDT" or not self.snapshot:
            return Reply('{"code":-1121,"msg":"Invalid symbol."}', status=400)
        return Reply(self.snapshot)

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        request = json.loads(message)
        params = [topic_of(p) for p in request.get("params", [])]
        if request.get("method") == "SUBSCRIBE":
            session.topics.update(params)
        elif request.get("method") == "UNSUBSCRIBE":
            session.topics.difference_update(params)
        session.send(json.dumps({"result": None, "id": request.get("id")}))
