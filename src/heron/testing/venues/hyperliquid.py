"""Hyperliquid perpetuals, as ccxt.pro's ``hyperliquid`` talks to it.

WebSocket: one socket on ``/ws``. The server greets each connection with the plain text
``Websocket connection established.`` (the venue's Python SDK skips exactly that text);
``{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}`` is
answered ``{"channel": "subscriptionResponse", "data": <the request>}`` (the venue's
docs: the data is the original subscription request), a second subscribe of the same
thing ``{"channel": "error", "data": "Already subscribed: {...}"}``, and
``{"method": "ping"}`` ``{"channel": "pong"}``. Topics are ``<type>:<coin>``.

REST: ``POST /info`` with a JSON ``type``. ccxt (``fetchMarkets.types`` = swap, as
heron's adapter sets it) asks for ``spotMeta`` (its currencies) and
``metaAndAssetCtxs`` (the perps). Served:

* ``meta``: the recorded body as given;
* ``metaAndAssetCtxs``: ``[meta, ctxs]``, the recorded ``meta`` with the recorded asset
  contexts of the main dex (the ``""`` entry of an ``allDexsAssetCtxs`` push) lined up by
  asset index, which is how the venue numbers both (the universe only grows: the
  recording's 28 coins from 2023 are the first 28 contexts, delisted ones at funding 0);
* ``spotMeta``: nothing was recorded, so the documented example (USDC and PURR);
* any other type: 422 with a deserialization error, as the venue answers a body it
  cannot read.

Frames: the recorded capture (``<recv ns> <raw>`` lines: ``l2Book`` and ``trades``) as
recorded. ``bbo`` and ``activeAssetCtx`` were not captured, so they are built, in their
documented shapes, from recorded data: a ``bbo`` with the top level of each side of each
recorded book whose top differs from the previous book's (the venue sends ``bbo`` on
changes only), at that book's time; and one ``activeAssetCtx`` per coin of ``meta`` with
that coin's recorded context, at the start.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from heron.testing.venue_server import Frame, Reply, RestHandler, VenueProfile, WsSession

GREETING = "Websocket connection established."

#: The documented ``spotMeta`` example (nothing recorded): ccxt reads currencies from it.
SPOT_META: dict[str, Any] = {
    "tokens": [
        {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0,
         "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054", "isCanonical": True,
         "evmContract": None, "fullName": None},
        {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1,
         "tokenId": "0xc1fb593aeffbeb02f85e0308e9956a90", "isCanonical": True,
         "evmContract": None, "fullName": None},
    ],
    "universe": [{"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True}],
}


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def topic_of(message: Mapping[str, Any]) -> str:
    """``<channel>:<coin>`` of a data message (``trades`` carries the coin per fill)."""
    data = message["data"]
    coin = data[0]["coin"] if isinstance(data, list) else data["coin"]
    return f"{message['channel']}:{coin}"


def main_dex_ctxs(asset_ctxs: bytes) -> list[dict[str, Any]]:
    """The main perp dex's contexts (asset index order) from an ``allDexsAssetCtxs`` push."""
    push = json.loads(asset_ctxs)
    return next(list(ctxs) for dex, ctxs in push["data"]["ctxs"] if dex == "")


class HyperliquidProfile(VenueProfile):
    """``capture``: a gzipped ``<recv ns> <raw>`` WebSocket capture; ``meta``: a recorded
    ``meta`` body; ``asset_ctxs``: a recorded ``allDexsAssetCtxs`` push."""

    name = "hyperliquid"
    subscribe_op = ("method", "subscribe")
    ws_paths = ("/ws",)

    def __init__(self, capture: Path, meta: bytes, asset_ctxs: bytes) -> None:
        universe = json.loads(meta)["universe"]
        ctxs = main_dex_ctxs(asset_ctxs)[:len(universe)]
        self.info_requests: list[str] = []   # the ``type`` of every POST /info, in order
        self.info: dict[str, bytes] = {
            "meta": meta, "spotMeta": _compact(SPOT_META).encode(),
            "metaAndAssetCtxs": _compact([json.loads(meta), ctxs]).encode()}
        self._frames = _recorded_frames(capture)
        first = self._frames[0].ts if self._frames else 0
        self._frames[:0] = [
            Frame(first, f"activeAssetCtx:{asset['name']}", _compact(
                {"channel": "activeAssetCtx", "data": {"coin": asset["name"], "ctx": ctx}}))
            for asset, ctx in zip(universe, ctxs, strict=True)]

    # -- REST ------------------------------------------------------------------------------
    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("POST", "/info"): self._info}

    def _info(self, request: web.Request) -> Reply:
        """The body for the request's ``type``.

        The server's handlers are synchronous, so the body is what has arrived with the
        headers: ccxt's aiohttp sends a small request in one write, which arrives whole on
        the loopback. A body still on its way is refused loudly, never guessed.
        """
        raw = request.content.read_nowait()
        if not request.content.is_eof():
            return Reply('"emulator: the request body did not arrive with its headers"',
                         status=400)
        try:
            kind = json.loads(raw).get("type")
        except (ValueError, AttributeError):
            kind = None
        self.info_requests.append(str(kind))
        body = self.info.get(kind) if isinstance(kind, str) else None
        if body is None:
            return Reply("Failed to deserialize the JSON body into the target type: "
                         f"unknown variant {kind!r}", status=422, content_type="text/plain")
        return Reply(body)

    # -- WebSocket -------------------------------------------------------------------------
    def frames(self) -> Sequence[Frame]:
        return self._frames

    def on_open(self, session: WsSession) -> None:
        session.send(GREETING)

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            method = request.get("method")
        except (ValueError, AttributeError):
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            session.send(_compact({"channel": "error", "data": "Error parsing JSON into "
                                   f"valid websocket request: {text}"}))
            return
        if method == "ping":
            session.send(_compact({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(session, method, request.get("subscription") or {})
        else:
            session.send(_compact({"channel": "error", "data": "Error parsing JSON into "
                                   f"valid websocket request: {_compact(request)}"}))

    def _subscription(self, session: WsSession, method: str,
                      subscription: Mapping[str, Any]) -> None:
        topic = f"{subscription.get('type')}:{subscription.get('coin')}"
        if method == "subscribe":
            if topic in session.topics:
                session.send(_compact({"channel": "error", "data":
                                       f"Already subscribed: {_compact(subscription)}"}))
                return
            session.topics.add(topic)
        else:
            session.topics.discard(topic)
        session.send(_compact({"channel": "subscriptionResponse",
                               "data": {"method": method, "subscription": subscription}}))


def _recorded_frames(capture: Path) -> list[Frame]:
    """The capture's messages as recorded, each followed by the ``bbo`` its book implies."""
    frames: list[Frame] = []
    last_top: list[Any] | None = None
    with gzip.open(capture, "rt", encoding="utf-8") as lines:
        for line in lines:
            stamp, _, text = line.rstrip("\n").partition(" ")
            message = json.loads(text)
            frames.append(Frame(int(stamp), topic_of(message), text))
            if message["channel"] != "l2Book":
                continue
            book = message["data"]
            top = [side[0] if side else None for side in book["levels"]]
            if top != last_top:
                bbo = {"coin": book["coin"], "time": book["time"], "bbo": top}
                frames.append(Frame(int(stamp), f"bbo:{book['coin']}",
                                    _compact({"channel": "bbo", "data": bbo})))
            last_top = top
    return frames
