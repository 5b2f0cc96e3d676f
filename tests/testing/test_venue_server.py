"""The loopback venue itself, driven by a plain aiohttp WebSocket client.

Everything the feed tests lean on is pinned here with no ccxt in the way: the Binance
USD-M subscribe handshake, which recorded frames go out and in what order, pacing, the
knobs (drop, stall, inject, skip, hold), the REST routes, and a clean stop. Expected
frames come from the capture read independently (gzip + json), not from the profile.

Timing checks are one-sided: the server must not send *before* a frame is due, a stall
or a hold ends; how late it is on a loaded machine is not asserted.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from conftest import SHARED_VENUES, need
from heron.testing.venue_server import VenueServer, WsSession
from heron.testing.venues.binance import BinanceUsdmProfile

USDM = SHARED_VENUES / "binance_usdm"
CAPTURE = USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
LINES = 1500  # about six seconds of the recording: 1 snapshot, ~120 diffs, ~230 trades
TRADE, TICKER, DEPTH = "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@depth"


class Recording:
    """The capture's first ``LINES`` lines: (recv ns, topic, data) and the REST snapshot."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, str, dict[str, Any]]] = []
        self.snapshot = b""
        with gzip.open(CAPTURE, "rb") as f:
            for _, line in zip(range(LINES), f, strict=False):
                stamp, _, text = line.rstrip(b"\n").partition(b" ")
                body = json.loads(text)
                if "stream" in body:
                    topic = "@".join(body["stream"].split("@")[:2])
                    self.frames.append((int(stamp), topic, body["data"]))
                else:
                    self.snapshot = text

    def of(self, *topics: str) -> list[dict[str, Any]]:
        return [data for _, topic, data in self.frames if topic in topics]


@pytest.fixture(scope="module")
def recording() -> Recording:
    need(CAPTURE)
    return Recording()


@pytest.fixture(scope="module")
def profile(recording: Recording) -> BinanceUsdmProfile:
    return BinanceUsdmProfile.recorded(USDM, lines=LINES)


@asynccontextmanager
async def client(server: VenueServer, path: str = "/ws"
                 ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"ws://127.0.0.1:{server.port}{path}", autoping=False) as ws:
        yield ws


async def subscribe(ws: aiohttp.ClientWebSocketResponse, *topics: str, request_id: int = 1,
                    method: str = "SUBSCRIBE") -> None:
    await ws.send_str(json.dumps({"method": method, "params": list(topics), "id": request_id}))


async def texts(ws: aiohttp.ClientWebSocketResponse, n: int, timeout: float = 10.0
                ) -> list[Any]:
    """The next ``n`` text frames, decoded."""
    out = []
    for _ in range(n):
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        out.append(json.loads(msg.data))
    return out


async def nothing_for(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        msg = await asyncio.wait_for(ws.receive(), seconds)
        pytest.fail(f"unexpected frame {msg}")


# -- handshake and what goes out ---------------------------------------------------------------
def test_subscribe_is_acked_then_only_its_topic_goes_out_in_recorded_order(
        profile: BinanceUsdmProfile, recording: Recording) -> None:
    trades = recording.of(TRADE)

    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade", request_id=7)
            assert await texts(ws, 1) == [{"result": None, "id": 7}]
            assert await texts(ws, len(trades)) == trades
            await nothing_for(ws, 0.2)  # no other topic, no second replay

    with VenueServer(profile) as server:
        asyncio.run(main(server))
        assert server.received == [
            ("/ws", '{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 7}')]
        assert server.connections == 1 and server.frames_sent == len(trades)
    assert len(trades) > 100


def test_two_topics_arrive_interleaved_as_recorded(profile: BinanceUsdmProfile,
                                                   recording: Recording) -> None:
    expected = recording.of(TRADE, TICKER)

    async def main(server: VenueServer) -> None:
        async with client(server, "/public/ws/3") as ws:
            await subscribe(ws, "btcusdt@trade", "btcusdt@bookTicker")
            assert await texts(ws, 1) == [{"result": None, "id": 1}]
            assert await texts(ws, len(expected)) == expected
            await nothing_for(ws, 0.1)

    with VenueServer(profile) as server:
        asyncio.run(main(server))
    kinds = [frame["e"] for frame in expected]
    assert kinds.count("trade") and kinds.count("bookTicker")


def test_update_speed_suffix_maps_to_the_recorded_stream(profile: BinanceUsdmProfile,
                                                         recording: Recording) -> None:
    diffs = recording.of(DEPTH)

    async def main(server: VenueServer) -> None:
        async with client(server, "/public/ws/0") as ws:
            # the client's update speed is not the capture's (0ms): it gets the diffs
            await subscribe(ws, "btcusdt@depth@100ms")
            assert await texts(ws, 1 + len(diffs)) == [{"result": None, "id": 1}, *diffs]

    with VenueServer(profile) as server:
        asyncio.run(main(server))


def test_mark_and_liquidation_fixtures_go_out_first(profile: BinanceUsdmProfile) -> None:
    fixtures = USDM / "fixtures"
    mark = json.loads((fixtures / "mark_price_stream.json").read_text())
    liquidation = json.loads((fixtures / "liquidation_stream.json").read_text())

    async def main(server: VenueServer) -> None:
        async with client(server, "/market/ws/1") as ws:
            await subscribe(ws, "btcusdt@markPrice@1s", "btcusdt@forceOrder")
            assert await texts(ws, 3) == [{"result": None, "id": 1}, liquidation, mark]
            await nothing_for(ws, 0.1)

    with VenueServer(profile) as server:
        asyncio.run(main(server))


def test_unsubscribe_is_acked_and_stops_the_topic_while_held(profile: BinanceUsdmProfile,
                                                            recording: Recording) -> None:
    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade", "btcusdt@bookTicker", request_id=1)
            await subscribe(ws, "btcusdt@bookTicker", request_id=2, method="UNSUBSCRIBE")
            assert await texts(ws, 2) == [{"result": None, "id": 1}, {"result": None, "id": 2}]
            server.release()
            trades = recording.of(TRADE)
            assert await texts(ws, len(trades)) == trades

    with VenueServer(profile) as server:
        server.hold()
        asyncio.run(main(server))


# -- pacing --------------------------------------------------------------------------------
def test_speed_never_sends_a_frame_before_its_recorded_time(profile: BinanceUsdmProfile,
                                                            recording: Recording) -> None:
    speed = 25.0
    start_rec = recording.frames[0][0]
    due = [(stamp - start_rec) / 1e9 / speed for stamp, topic, _ in recording.frames
           if topic == TRADE]
    arrivals: list[float] = []

    async def main(server: VenueServer) -> float:
        opened = time.monotonic()  # before the server's replay clock starts
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade")
            await texts(ws, 1)
            for _ in due:
                await texts(ws, 1)
                arrivals.append(time.monotonic())
        return opened

    with VenueServer(profile, speed=speed) as server:
        opened = asyncio.run(main(server))
    late = [arrival - opened - wait for arrival, wait in zip(arrivals, due, strict=True)]
    assert min(late) >= 0  # each frame waited for its recorded time
    assert arrivals[-1] - opened >= due[-1] > 0.1  # the replay took its recorded span


# -- knobs -----------------------------------------------------------------------------------
def test_drop_cuts_the_connection_and_the_next_one_replays_from_the_start(
        profile: BinanceUsdmProfile, recording: Recording) -> None:
    trades = recording.of(TRADE)

    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade")
            await texts(ws, 1 + len(trades))
            server.drop()
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR,
                                aiohttp.WSMsgType.CLOSE)
            assert ws.closed or msg.type is aiohttp.WSMsgType.CLOSE
        async with client(server) as again:
            await subscribe(again, "btcusdt@trade")
            assert (await texts(again, 2))[1] == trades[0]

    with VenueServer(profile) as server:
        asyncio.run(main(server))
        assert server.connections == 2


def test_stall_sends_nothing_not_even_pongs_until_it_ends(profile: BinanceUsdmProfile,
                                                         recording: Recording) -> None:
    window = 0.4

    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            stalled_at = time.monotonic()
            server.stall(window)
            await ws.ping(b"are you there")
            await subscribe(ws, "btcusdt@trade")
            pong = await asyncio.wait_for(ws.receive(), 5)
            answered = time.monotonic()
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
            assert answered - stalled_at >= window
            assert await texts(ws, 2) == [{"result": None, "id": 1}, recording.of(TRADE)[0]]

    with VenueServer(profile) as server:
        asyncio.run(main(server))


def test_ping_is_answered_at_once_without_a_stall(profile: BinanceUsdmProfile) -> None:
    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await ws.ping(b"x")
            pong = await asyncio.wait_for(ws.receive(), 5)
            assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"x")

    with VenueServer(profile) as server:
        asyncio.run(main(server))


def test_inject_reaches_every_connected_client(profile: BinanceUsdmProfile,
                                               recording: Recording) -> None:
    trades = recording.of(TRADE)

    async def main(server: VenueServer) -> None:
        async with client(server) as one, client(server, "/public/ws/1") as two:
            for ws in (one, two):
                await subscribe(ws, "btcusdt@trade")
                await texts(ws, 1 + len(trades))
            server.inject("not json {")
            server.inject(b"\x00binary")
            for ws in (one, two):
                first = await asyncio.wait_for(ws.receive(), 5)
                second = await asyncio.wait_for(ws.receive(), 5)
                assert (first.type, first.data) == (aiohttp.WSMsgType.TEXT, "not json {")
                assert (second.type, second.data) == (aiohttp.WSMsgType.BINARY, b"\x00binary")
            async with client(server) as late:  # came after: not its message
                await subscribe(late, "btcusdt@trade")
                assert (await texts(late, 2))[1] == trades[0]

    with VenueServer(profile) as server:
        asyncio.run(main(server))


def test_skip_leaves_out_exactly_n_frames_of_the_topic_once(profile: BinanceUsdmProfile,
                                                            recording: Recording) -> None:
    trades, tickers = recording.of(TRADE), recording.of(TICKER)

    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade", "btcusdt@bookTicker")
            got = await texts(ws, 1 + len(trades) - 3 + len(tickers))
            await nothing_for(ws, 0.1)
        assert [m for m in got[1:] if m["e"] == "trade"] == trades[3:]
        assert [m for m in got[1:] if m["e"] == "bookTicker"] == tickers
        async with client(server) as again:  # the skip is used up
            await subscribe(again, "btcusdt@trade")
            assert await texts(again, 1 + len(trades)) == [{"result": None, "id": 1}, *trades]

    with VenueServer(profile) as server:
        server.skip(TRADE, 3)
        asyncio.run(main(server))


def test_hold_keeps_data_back_but_answers_until_release(profile: BinanceUsdmProfile,
                                                        recording: Recording) -> None:
    async def main(server: VenueServer) -> None:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade")
            assert await texts(ws, 1) == [{"result": None, "id": 1}]
            await nothing_for(ws, 0.2)
            released = time.monotonic()
            server.release()
            assert await texts(ws, 1) == [recording.of(TRADE)[0]]
            assert time.monotonic() >= released

    with VenueServer(profile) as server:
        server.hold()
        asyncio.run(main(server))


# -- REST ------------------------------------------------------------------------------------
def _exchange_info() -> bytes:
    with gzip.open(USDM / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz", "rt") as f:
        for line in f:
            record = json.loads(line)
            if record["dir"] == "http_response" and record["url"].endswith("/exchangeInfo"):
                return str(record["raw"]).encode()
    raise AssertionError("no exchangeInfo in the capture")


async def get(server: VenueServer, path: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        return response.status, await response.read()


def test_rest_routes_answer_recorded_bodies_and_are_logged(profile: BinanceUsdmProfile,
                                                           recording: Recording) -> None:
    async def main(server: VenueServer) -> list[tuple[int, bytes]]:
        return [await get(server, path) for path in (
            "/fapi/v1/exchangeInfo", "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",
            "/fapi/v1/depth?symbol=ETHUSDT", "/fapi/v1/nothing")]

    with VenueServer(profile) as server:
        info, depth, wrong, missing = asyncio.run(main(server))
        assert server.requests == [
            ("GET", "/fapi/v1/exchangeInfo", {}),
            ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "1000"}),
            ("GET", "/fapi/v1/depth", {"symbol": "ETHUSDT"})]
    assert info == (200, _exchange_info())
    assert depth == (200, recording.snapshot)  # nothing streamed yet: the recorded snapshot
    assert wrong == (400, b'{"code":-1121,"msg":"Invalid symbol."}')
    assert missing[0] == 404


def _book_after(recording: Recording, diffs: int) -> tuple[int, dict[str, Any]]:
    """The recorded snapshot moved on by the diffs after it among the first ``diffs``."""
    body = json.loads(recording.snapshot)
    last = body["lastUpdateId"]
    sides = [{Decimal(p): q for p, q in body["bids"]}, {Decimal(p): q for p, q in body["asks"]}]
    for diff in recording.of(DEPTH)[:diffs]:
        if diff["u"] <= last:
            continue
        last = diff["u"]
        for side, key in zip(sides, ("b", "a"), strict=True):
            for price, size in diff[key]:
                side[Decimal(price)] = size
    bids = sorted((p, q) for p, q in sides[0].items() if Decimal(q))
    asks = sorted((p, q) for p, q in sides[1].items() if Decimal(q))
    return last, {"bid": bids[-1], "ask": asks[0]}


def test_rest_depth_is_the_book_as_of_the_last_diff_sent(profile: BinanceUsdmProfile,
                                                         recording: Recording) -> None:
    """A resync mid-replay needs what the venue answers: the book now, not the book when
    the recording began; a new connection starts the replay (and that book) over."""
    diffs = recording.of(DEPTH)

    async def main(server: VenueServer) -> dict[str, Any]:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@depth")
            await texts(ws, 1 + len(diffs))
            _, body = await get(server, "/fapi/v1/depth?symbol=BTCUSDT&limit=5")
        return dict(json.loads(body))

    with VenueServer(profile) as server:
        now = asyncio.run(main(server))
        replay = WsSession("/ws", {}, topics={DEPTH})
        for frame in [f for f in profile.frames() if f.topic == DEPTH][:3]:
            profile.render(replay, frame)  # what a new connection's pump does first
        _, restarted = asyncio.run(get(server, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"))
    last, best = _book_after(recording, len(diffs))
    assert now["lastUpdateId"] == last == diffs[-1]["u"]
    assert (now["E"], now["T"]) == (diffs[-1]["E"], diffs[-1]["T"])
    assert len(now["bids"]) == len(now["asks"]) == 5
    assert (Decimal(now["bids"][0][0]), now["bids"][0][1]) == best["bid"]
    assert (Decimal(now["asks"][0][0]), now["asks"][0][1]) == best["ask"]
    prices = [Decimal(p) for p, _ in now["bids"]] + [-Decimal(p) for p, _ in now["asks"]]
    assert prices[:5] == sorted(prices[:5], reverse=True)
    assert prices[5:] == sorted(prices[5:], reverse=True)
    assert restarted == recording.snapshot  # 3 diffs in, all older than the snapshot


# -- stop ------------------------------------------------------------------------------------
def test_stop_closes_connected_clients_and_frees_the_port(profile: BinanceUsdmProfile) -> None:
    server = VenueServer(profile).start()
    port = server.port

    async def main() -> aiohttp.WSMessage:
        async with client(server) as ws:
            await subscribe(ws, "btcusdt@trade")
            await texts(ws, 1)
            ending = asyncio.create_task(_until_closed(ws))
            await asyncio.to_thread(server.stop)
            return await asyncio.wait_for(ending, 5)

    last = asyncio.run(main())
    assert last.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    with pytest.raises(ConnectionRefusedError), \
            socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    server.stop()  # a second stop is harmless
    server.drop()  # and so are knobs on a stopped server


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    while True:
        msg = await ws.receive()
        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            return msg
