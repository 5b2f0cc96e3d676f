"""Binance USD-M futures, as ccxt.pro's ``binanceusdm`` talks to it.

WebSocket: raw streams on ``/ws``, ``/public/ws/<n>`` and ``/market/ws/<n>`` (ccxt
puts depth, bookTicker and trades on ``public``, the rest on ``market``);
``{"method": "SUBSCRIBE", "params": ["btcusdt@trade", ...], "id": n}`` is answered
``{"result": null, "id": n}``. REST: ``GET /fapi/v1/exchangeInfo`` (markets) and
``GET /fapi/v1/depth``: the book as of the last depth update sent to any client, as the
venue answers (the recorded snapshot moved on by the recorded diffs after it), so a
client that missed an update can resync mid-replay.

The recording is an hftbacktest capture (``<recv ns> <text>`` lines, combined-stream
envelopes); topics are ``<symbol>@<channel>`` with the update speed left out, so a
client's ``btcusdt@depth@100ms`` gets the captured ``btcusdt@depth@0ms`` diffs. Extra
single messages (mark price, liquidation: the capture has none) go at the start.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

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
    subscribe_op = ("method", "SUBSCRIBE")
    ws_paths = ("/ws", "/ws/{n}", "/public/ws", "/public/ws/{n}", "/market/ws",
                "/market/ws/{n}")

    def __init__(self, capture: Path, exchange_info: bytes, *,
                 extra: Sequence[str] = (), lines: int | None = None) -> None:
        self._frames: list[Frame] = []
        self.snapshot = b""
        decoder = msgspec.json.Decoder(_Envelope)
        with gzip.open(capture, "rb") as file:
            for n, line in enumerate(file):
                if lines is not None and n >= lines:
                    break
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
        self._diffs = [frame for frame in self._frames if frame.topic.endswith("@depth")]
        self._book = _ReplayBook(self.snapshot, self._diffs)

    @classmethod
    def recorded(cls, venue_dir: Path, *, lines: int | None = None) -> BinanceUsdmProfile:
        """The shared recordings in ``venue_dir`` (``.../venues/binance_usdm``): the
        BTCUSDT capture (its first ``lines`` lines), the real exchangeInfo body of the
        cryptofeed REST capture, and the mark price and liquidation fixtures."""
        fixtures = venue_dir / "fixtures"
        extra = [(fixtures / name).read_text()
                 for name in ("mark_price_stream.json", "liquidation_stream.json")]
        return cls(venue_dir / "ws_capture_BTCUSDT_2024-08-08.txt.gz",
                   recorded_exchange_info(venue_dir), extra=extra, lines=lines)

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        self._book = _ReplayBook(self.snapshot, self._diffs)  # a server starts a new replay
        return {("GET", "/fapi/v1/exchangeInfo"): lambda _: Reply(self.exchange_info),
                ("GET", "/fapi/v1/depth"): self._depth}

    def _depth(self, request: web.Request) -> Reply:
        if request.query.get("symbol", "").upper() != "BTCUSDT" or not self.snapshot:
            return Reply('{"code":-1121,"msg":"Invalid symbol."}', status=400)
        return Reply(self._book.now(int(request.query.get("limit", "500"))))

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def render(self, session: WsSession, frame: Frame) -> str | bytes:
        self._book.sent(frame)
        return frame.text

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        request = json.loads(message)
        params = [topic_of(p) for p in request.get("params", [])]
        if request.get("method") == "SUBSCRIBE":
            session.topics.update(params)
        elif request.get("method") == "UNSUBSCRIBE":
            session.topics.difference_update(params)
        session.send(json.dumps({"result": None, "id": request.get("id")}))


def recorded_exchange_info(venue_dir: Path) -> bytes:
    """The real ``GET /fapi/v1/exchangeInfo`` body that cryptofeed recorded on 2021-07-22,
    from the shared recordings in ``venue_dir`` (``.../venues/binance_usdm``)."""
    path = venue_dir / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record["dir"] == "http_response" and "exchangeInfo" in record["url"]:
                return str(record["raw"]).encode()
    raise ValueError(f"no exchangeInfo response in {path}")


class _ReplayBook:
    """The venue's book as of the last depth diff sent: what ``GET /depth`` answers.

    Built from the recorded snapshot and the recorded diffs after it (the ones a skip
    left out included: the venue applied them), moved on as diffs go out and rebuilt
    when a new connection restarts the replay. Until a diff newer than the snapshot
    has gone out, the snapshot is answered as recorded.
    """

    def __init__(self, snapshot: bytes, diffs: Sequence[Frame]) -> None:
        self.snapshot = snapshot
        self.last_id = json.loads(snapshot)["lastUpdateId"] if snapshot else 0
        self.diffs = list(diffs)
        self.position = {frame: i for i, frame in enumerate(self.diffs)}
        self.sent_to = -1      # index of the last diff sent
        self.applied = -1      # index of the last diff in ``levels``
        self.levels: tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]] | None = None
        self.header: dict[str, Any] = {}

    def sent(self, frame: Frame) -> None:
        index = self.position.get(frame)
        if index is not None:
            self.sent_to = index

    def now(self, limit: int) -> bytes:
        if self.levels is None or self.sent_to < self.applied:  # (re)start from the snapshot
            body = json.loads(self.snapshot)
            self.levels = ({Decimal(p): [p, q] for p, q in body["bids"]},
                           {Decimal(p): [p, q] for p, q in body["asks"]})
            self.applied, self.header = -1, {}
        for index in range(self.applied + 1, self.sent_to + 1):
            self._apply(self.levels, json.loads(self.diffs[index].text))
        self.applied = max(self.applied, self.sent_to)
        if not self.header:
            return self.snapshot
        bids, asks = self.levels
        return json.dumps({
            **self.header,
            "bids": [bids[p] for p in sorted(bids, reverse=True)[:limit]],
            "asks": [asks[p] for p in sorted(asks)[:limit]]}).encode()

    def _apply(self, levels: tuple[dict[Decimal, list[str]], dict[Decimal, list[str]]],
               diff: dict[str, Any]) -> None:
        if diff["u"] <= self.last_id:
            return  # already in the recorded snapshot
        for side, key in zip(levels, ("b", "a"), strict=True):
            for price, size in diff[key]:
                if Decimal(size):
                    side[Decimal(price)] = [price, size]
                else:
                    side.pop(Decimal(price), None)
        self.header = {"lastUpdateId": diff["u"], "E": diff["E"], "T": diff["T"]}
