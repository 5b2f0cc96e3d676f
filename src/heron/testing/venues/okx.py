"""OKX v5, as ccxt.pro's ``okx`` talks to it.

WebSocket: ``/ws/v5/public`` (ccxt's ``urls['api']['ws']`` + ``/public``). Text
``ping`` is answered ``pong``. ``{"op": "subscribe", "args": [arg, ...]}`` is answered
arg by arg, ``{"event": "subscribe", "arg": <arg>, "connId": "..."}``, ``unsubscribe``
likewise (the recorded 2022 acks are the same without ``connId``, which OKX has added
since). An arg naming an instrument the served lists lack, ``funding-rate`` of anything
but a swap, or ``liquidation-orders`` of an unknown ``instType`` gets OKX's documented
``{"event": "error", "code": "60018", "msg": "Wrong URL or channel:..,instId:.. doesn't
exist. ..."}``; text that is not a request ``60012 Invalid request``, an unknown ``op``
``60019``. Topics are ``<channel>:<instId>`` (``liquidation-orders:<instType>``).

REST: ``GET /api/v5/public/instruments?instType=..[&uly=..]`` serves the bodies given,
keyed by ``(instType, uly)`` (:func:`recorded_instruments` reads them from a cryptofeed
capture, which has SPOT, SWAP, FUTURES and the BTC-USD and ETH-USD OPTION lists). An
``instType`` with no body given is answered ``{"code":"0","msg":"","data":[]}``: a valid
empty list, not a recording; a missing or unknown one a ``51000`` parameter error (the
code OKX's error table gives; the exact text is not recorded).

Frames: the recorded pushes (cryptofeed's ``recv`` lines), and ``extra`` pushes first.
Two things are built from them, in their documented shapes, and said so:

* ``books``: OKX sends the book's snapshot in answer to a subscribe, then updates. A
  replay cannot know when a client subscribes, so the recorded snapshot is not replayed
  as such: before each recorded update (and after the last) sits a snapshot *slot*,
  which a client subscribed to that book and not yet given a snapshot receives as the
  book as it stands there: the recorded snapshot with every recorded update before the
  slot applied (the recorded text itself where nothing was applied; else rebuilt, with
  OKX's CRC32 ``checksum`` over the top 25 levels). Updates reach a client only after
  its snapshot. ``number_books=True`` numbers each book's pushes as OKX does today
  (``seqId`` from 1, ``prevSeqId`` the one before, ``-1`` on a snapshot): the 2022
  capture predates ``seqId``;
* ``bbo-tbt`` (not captured): after each recorded book push that changes the best level
  of a side, a push of the two best levels as recorded, at that push's ``ts``, no seqId.

:func:`mark_price_pushes` builds ``mark-price`` pushes from a REST mark-price body (the
push's rows have the REST rows' fields); :data:`LIQUIDATION_EXAMPLE` is OKX's documented
``liquidation-orders`` push: no capture of either exists.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from heron.testing.venue_server import Frame, Reply, RestHandler, VenueProfile, WsSession

#: OKX v5 documentation's ``liquidation-orders`` push (no capture exists)
LIQUIDATION_EXAMPLE = (
    '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":'
    '"0","bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":'
    '"1692266434010"},{"bkLoss":"0","bkPx":"0.0078305","ccy":"","posSide":"long","side":'
    '"sell","sz":"2","ts":"1692266434011"}],"instFamily":"IOST-USDT","instId":'
    '"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}')

INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"})
_LIQUIDATION_TYPES = frozenset({"SWAP", "FUTURES", "MARGIN", "OPTION"})
_EMPTY = b'{"code":"0","msg":"","data":[]}'
_SLOT = "#snapshot"          # topic suffix of a book's snapshot slots
_CHECKSUM_LEVELS = 25
Level = list[str]            # [price, size, "0", order count], as OKX sends it


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def recorded_instruments(capture: Path) -> dict[tuple[str, str], bytes]:
    """``(instType, uly) -> body`` of each instruments request in a cryptofeed REST
    capture (the first answer to each URL; ``uly`` is ``""`` where none was asked)."""
    out: dict[tuple[str, str], bytes] = {}
    with gzip.open(capture, "rt", encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            if entry.get("dir") != "http_response" or "/public/instruments" not in entry["url"]:
                continue
            query = parse_qs(urlsplit(entry["url"]).query)
            key = (query["instType"][0], query.get("uly", [""])[0])
            out.setdefault(key, entry["raw"].encode())
    return out


def recorded_pushes(capture: Path) -> list[tuple[int, str]]:
    """``(receive ns, text)`` of every data push in a cryptofeed WebSocket capture."""
    out: list[tuple[int, str]] = []
    with gzip.open(capture, "rt", encoding="utf-8") as lines:
        for line in lines:
            entry = json.loads(line)
            raw = entry.get("raw")
            if entry.get("dir") == "recv" and raw and '"data":' in raw:
                out.append((int(Decimal(str(entry["ts"])) * 10**9), raw))
    return out


def mark_price_pushes(rest_body: bytes) -> list[str]:
    """One ``mark-price`` push per row of a ``GET /api/v5/public/mark-price`` body."""
    return [_compact({"arg": {"channel": "mark-price", "instId": row["instId"]},
                      "data": [row]}) for row in json.loads(rest_body)["data"]]


def topic_of(arg: Mapping[str, Any]) -> str:
    """``books:BTC-USDT``; ``liquidation-orders:SWAP`` (that channel is per type)."""
    return f"{arg.get('channel')}:{arg.get('instId') or arg.get('instType')}"


def okx_checksum(bids: Sequence[Level], asks: Sequence[Level]) -> int:
    """OKX's book checksum: CRC32 of ``bid:size:ask:size:...`` over the top 25 levels,
    interleaved, as a signed 32-bit int."""
    parts: list[str] = []
    for n in range(_CHECKSUM_LEVELS):
        for side in (bids, asks):
            if n < len(side):
                parts += side[n][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


@dataclass(slots=True)
class _Book:
    """One instrument's recorded book as it replays, levels kept in OKX's text."""

    inst_id: str
    bids: dict[Decimal, Level] = field(default_factory=dict)
    asks: dict[Decimal, Level] = field(default_factory=dict)
    ts: str = ""
    seq: int = 0
    loaded: bool = False              # a recorded snapshot has been seen
    snapshot_text: str | None = None  # the recorded snapshot, while nothing is applied

    def load(self, row: Mapping[str, Any], text: str) -> None:
        self.bids, self.asks = {}, {}
        self.apply(row)
        self.loaded, self.snapshot_text = True, text

    def apply(self, row: Mapping[str, Any]) -> None:
        for side, levels in ((self.bids, row["bids"]), (self.asks, row["asks"])):
            for level in levels:
                if Decimal(level[1]) == 0:
                    side.pop(Decimal(level[0]), None)
                else:
                    side[Decimal(level[0])] = list(level)
        self.ts = str(row["ts"])
        self.snapshot_text = None

    def top(self) -> tuple[Level | None, Level | None]:
        return (self.bids[max(self.bids)] if self.bids else None,
                self.asks[min(self.asks)] if self.asks else None)

    def snapshot(self, numbered: bool) -> str:
        """The book now, as OKX's answer to a subscribe."""
        if self.snapshot_text is not None and not numbered:
            return self.snapshot_text
        bids = [self.bids[p] for p in sorted(self.bids, reverse=True)]
        asks = [self.asks[p] for p in sorted(self.asks)]
        row: dict[str, Any] = {"asks": asks, "bids": bids, "ts": self.ts,
                               "checksum": okx_checksum(bids, asks)}
        if numbered:
            row |= {"prevSeqId": -1, "seqId": self.seq}
        return _compact({"arg": {"channel": "books", "instId": self.inst_id},
                         "action": "snapshot", "data": [row]})


class OkxProfile(VenueProfile):
    name = "okx"
    subscribe_op = ("op", "subscribe")
    ws_paths = ("/ws/v5/public",)

    def __init__(self, instruments: Mapping[tuple[str, str], bytes], *,
                 capture: Path | None = None, extra: Sequence[str] = (),
                 number_books: bool = False) -> None:
        self.instruments = dict(instruments)
        self.number_books = number_books
        self._kinds = _inst_types(self.instruments.values())
        self._frames: list[Frame] = []
        self._slots: dict[str, str] = {}      # slot frame text (its key) -> snapshot text
        self._books: dict[str, _Book] = {}
        self._connections = 0
        pushes = recorded_pushes(capture) if capture is not None else []
        first = pushes[0][0] if pushes else 0
        for ts, text in [(first, text) for text in extra] + pushes:
            self._add(ts, text)
        for book in self._books.values():  # a late subscriber still gets the last book
            if book.loaded:
                self._slot(self._frames[-1].ts if self._frames else first, book)

    # -- the recording -----------------------------------------------------------------------
    def _add(self, ts: int, text: str) -> None:
        push = json.loads(text)
        arg = push["arg"]
        if arg.get("channel") != "books":
            self._frames.append(Frame(ts, topic_of(arg), text))
            return
        book = self._books.setdefault(arg["instId"], _Book(arg["instId"]))
        before = book.top()
        [row] = push["data"]
        if push.get("action") == "snapshot":
            book.seq += 1
            book.load(row, text)
        elif not book.loaded:
            return  # an update before any snapshot: OKX sends none, nothing to offer
        else:
            self._slot(ts, book)
            book.seq += 1
            book.apply(row)
            if self.number_books:
                row |= {"prevSeqId": book.seq - 1, "seqId": book.seq}
                text = _compact(push)
            self._frames.append(Frame(ts, topic_of(arg), text))
        bid, ask = book.top()
        if (bid, ask) != before:
            bbo = {"asks": [ask] if ask else [], "bids": [bid] if bid else [], "ts": book.ts}
            self._frames.append(Frame(ts, f"bbo-tbt:{book.inst_id}", _compact(
                {"arg": {"channel": "bbo-tbt", "instId": book.inst_id}, "data": [bbo]})))

    def _slot(self, ts: int, book: _Book) -> None:
        """A place where a newly subscribed client gets the book as it stands."""
        key = f"books:{book.inst_id}{_SLOT}:{len(self._slots)}"
        self._slots[key] = book.snapshot(self.number_books)
        self._frames.append(Frame(ts, f"books:{book.inst_id}{_SLOT}", key))

    def frames(self) -> Sequence[Frame]:
        return self._frames

    def wants(self, session: WsSession, frame: Frame) -> bool:
        synced: set[str] = session.state.setdefault("synced", set())
        if frame.topic.endswith(_SLOT):
            book = frame.topic.removesuffix(_SLOT)
            if book in session.topics and book not in synced:
                synced.add(book)
                return True
            return False
        if frame.topic.startswith("books:"):
            return frame.topic in synced
        return frame.topic in session.topics

    def render(self, session: WsSession, frame: Frame) -> str | bytes:
        if frame.topic.endswith(_SLOT):
            return self._slots[frame.text]  # a slot's text is its key
        return frame.text

    # -- REST --------------------------------------------------------------------------------
    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        return {("GET", "/api/v5/public/instruments"): self._instruments}

    def _instruments(self, request: web.Request) -> Reply:
        inst_type = request.query.get("instType", "")
        if inst_type not in INST_TYPES:
            return Reply('{"code":"51000","data":[],"msg":"Parameter instType error"}',
                         status=400)
        uly = request.query.get("uly") or request.query.get("instFamily") or ""
        return Reply(self.instruments.get((inst_type, uly), _EMPTY))

    # -- WebSocket ---------------------------------------------------------------------------
    def on_open(self, session: WsSession) -> None:
        self._connections += 1
        session.state["connId"] = f"{0xa4d3ae00 + self._connections:08x}"

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        if text == "ping":
            session.send("pong")
            return
        try:
            request = json.loads(text)
            op, args = request.get("op"), request.get("args")
        except (ValueError, AttributeError):
            self._error(session, "60012", f"Invalid request: {text}")
            return
        if op not in ("subscribe", "unsubscribe"):
            self._error(session, "60019", f"Invalid op: {op}")
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            self._error(session, "60012", f"Invalid request: {text}")
            return
        for arg in args:
            self._subscription(session, op, arg)

    def _subscription(self, session: WsSession, op: str, arg: Mapping[str, Any]) -> None:
        refusal = self._refusal(arg)
        if refusal:
            self._error(session, "60018", f"Wrong URL or {refusal} doesn't exist. Please use "
                        "the correct URL, channel and parameters referring to API document.")
            return
        topic = topic_of(arg)
        if op == "subscribe":
            session.topics.add(topic)
        else:
            session.topics.discard(topic)
            session.state.setdefault("synced", set()).discard(topic)
        session.send(_compact({"event": op, "arg": arg, "connId": session.state["connId"]}))

    def _refusal(self, arg: Mapping[str, Any]) -> str:
        """What OKX would say does not exist in ``arg`` (``""``: it exists)."""
        channel = arg.get("channel")
        if channel == "liquidation-orders":
            kind = arg.get("instType")
            return "" if kind in _LIQUIDATION_TYPES else \
                f"channel:{channel},instType:{kind}"
        kind = self._kinds.get(str(arg.get("instId")))
        if kind is None or (channel == "funding-rate" and kind != "SWAP"):
            return f"channel:{channel},instId:{arg.get('instId')}"
        return ""

    @staticmethod
    def _error(session: WsSession, code: str, msg: str) -> None:
        session.send(_compact({"event": "error", "code": code, "msg": msg,
                               "connId": session.state["connId"]}))


def _inst_types(bodies: Iterable[bytes]) -> dict[str, str]:
    """``instId -> instType`` of every instrument served."""
    return {row["instId"]: row["instType"] for body in bodies
            for row in json.loads(body).get("data", [])}
