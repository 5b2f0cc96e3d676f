"""MEXC futures live feed: ccxt.pro's real ``mexc`` client against the loopback venue.

Each test runs a :class:`VenueSession` (ccxt loads the markets over REST, subscribes over
the WebSocket, pings; heron parses) against :class:`VenueServer` with
:class:`MexcProfile`, which replays crypto-msg-parser's recorded MEXC contract messages.
Expected values come from the raw JSON, read here with ``json`` and ``Decimal`` and the
tick and lot of the contract body the server served, never from the parser. Only
``push.funding.rate`` has no recording: its frame is the documented push (see FUNDING).

ccxt charges its contract-list call 100 rate-limit units (5 s at MEXC's 50 ms), which
would hold the first book snapshot back that long: the tests run ccxt at 1 ms a unit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from conftest import SHARED_VENUES, need
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.session import FeedOptions, VenueSession
from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.data import BookDelta, BookSide, BookSnapshot, FundingRate, MarkPrice, Trade
from heron.model.feed import FeedHealth
from heron.testing.feed_run import FeedRun, run_feed
from heron.testing.venue_server import VenueServer
from heron.testing.venues.mexc import CONTRACT_DETAIL, MexcProfile

DATA = SHARED_VENUES / "mexc"
CAPTURE = DATA / "crypto-msg-parser_raw_messages.jsonl"
SYMBOL = "BTC/USDT:USDT"
NS_PER_MS = 1_000_000
# push.funding.rate as MEXC's futures WebSocket docs and ccxt (pro/mexc.py,
# handle_funding_rate) give it: no recorded example exists
FUNDING = ('{"symbol":"BTC_USDT","data":{"symbol":"BTC_USDT","rate":-0.000021,'
           '"nextSettleTime":1771084800000},"channel":"push.funding.rate","ts":1771069020506}')


# -- the raw messages, read independently ------------------------------------------------------
def capture() -> list[dict[str, str]]:
    return [json.loads(line) for line in need(CAPTURE).read_text().splitlines() if line.strip()]


def exact(raw: str | bytes) -> Any:
    """The message with every number an exact ``Decimal``."""
    return json.loads(raw, parse_float=Decimal, parse_int=Decimal)


def recorded(channel: str) -> list[Any]:
    """The recorded contract pushes of ``channel``, in order."""
    rows = [exact(row["raw"]) for row in capture() if "::linear_swap" in row["source_test"]]
    return [row for row in rows if isinstance(row, dict) and row.get("channel") == channel]


def contract(field: str) -> Decimal:
    """A field of the BTC_USDT contract body the server serves, as written."""
    return Decimal(str(CONTRACT_DETAIL["data"][0][field]))


TICK, LOT = contract("priceUnit"), contract("volUnit")


def ticks(price: Decimal) -> int:
    units = price / TICK
    assert units == units.to_integral_value(), f"{price} is off the {TICK} grid"
    return int(units)


def lots(size: Decimal) -> int:
    units = size / LOT
    assert units == units.to_integral_value(), f"{size} is off the {LOT} grid"
    return int(units)


def levels(rows: list[list[Decimal]]) -> list[tuple[int, int]]:
    return [(ticks(row[0]), lots(row[1])) for row in rows]


# -- running a session against the venue -------------------------------------------------------
def profile(**kwargs: Any) -> MexcProfile:
    capture()  # skips without the shared data
    return MexcProfile(CAPTURE, extra=[FUNDING], **kwargs)


def options(**ccxt: Any) -> dict[str, Any]:
    """The sessions' :class:`FeedOptions`: quick retries, ccxt at 1 ms a rate-limit unit."""
    return {"stale_after_s": 30.0, "health_every_s": 60.0,
            "backoff": lambda: Backoff(initial_s=0.05, jitter=0.0),
            "ccxt_config": {"rateLimit": 1, **ccxt}}


def feed(venue: MexcProfile, streams: Sequence[Stream], until: Callable[[FeedRun], bool], *,
         during: Callable[[FeedRun], Awaitable[None]] | None = None, **ccxt: Any) -> FeedRun:
    """Run a session until ``until(run)``; data is held until every stream subscribed."""
    return run_feed(venue, adapter_for("mexc"), [SYMBOL], streams, until=until,
                    subscribes=len(streams), during=during, **options(**ccxt))


def has(kind: type, n: int = 1) -> Callable[[FeedRun], bool]:
    return lambda run: len(run.of(kind)) >= n


# -- each stream against its recording ---------------------------------------------------------
def test_mexc_feed_trades_match_the_recorded_deal() -> None:
    deals = recorded("push.deal")
    run = feed(profile(), [Stream.TRADES], has(Trade, len(deals)))
    trades = run.of(Trade)
    want = [(int(d["data"]["t"]) * NS_PER_MS, ticks(d["data"]["p"]), lots(d["data"]["v"]),
             {1: "buy", 2: "sell"}[int(d["data"]["T"])]) for d in deals]
    assert [(t.ts_event, t.price, t.size, t.aggressor) for t in trades] == want
    inst = trades[0].instrument
    assert (inst.symbol, inst.price_increment, inst.size_increment, inst.multiplier) == (
        "BTC_USDT", TICK, LOT, contract("contractSize"))
    assert run.server.subscribes() == [{"method": "sub.deal", "param": {"symbol": "BTC_USDT"}}]
    assert run.session.parse_errors == 0


def book_events(events: list[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, BookSnapshot | BookDelta)]


def test_mexc_feed_book_is_the_rest_snapshot_then_the_recorded_diff() -> None:
    [diff] = recorded("push.depth")
    venue = profile()
    snap = exact(venue.snapshot)["data"]
    n_levels = len(diff["data"]["bids"]) + len(diff["data"]["asks"])
    run = feed(venue, [Stream.BOOK], has(BookDelta, n_levels))
    first, *deltas = book_events(run.events)
    assert isinstance(first, BookSnapshot)
    assert (list(first.bids), list(first.asks)) == (levels(snap["bids"]), levels(snap["asks"]))
    assert first.sequence == int(snap["version"]) == int(diff["data"]["version"]) - 1
    want = [(BookSide.BID, *lvl) for lvl in levels(diff["data"]["bids"])]
    want += [(BookSide.ASK, *lvl) for lvl in levels(diff["data"]["asks"])]
    assert [(d.side, d.price, d.size) for d in deltas] == want
    assert {d.sequence for d in deltas} == {int(diff["data"]["version"])}
    assert [d.is_last for d in deltas] == [False] * (len(want) - 1) + [True]
    assert ("GET", "/api/v1/contract/depth/BTC_USDT", {}) in run.server.requests
    assert run.server.subscribes() == [{"method": "sub.depth", "param": {"symbol": "BTC_USDT"}}]


def test_mexc_feed_book_after_the_diff_is_the_snapshot_with_its_levels_applied() -> None:
    [diff] = recorded("push.depth")
    venue = profile()
    n_levels = len(diff["data"]["bids"]) + len(diff["data"]["asks"])
    run = feed(venue, [Stream.BOOK], has(BookDelta, n_levels))
    sides: dict[str, dict[int, int]] = {}
    for side, rows in exact(venue.snapshot)["data"].items():
        if side in ("bids", "asks"):
            sides[side] = dict(levels(rows))
    for side in ("bids", "asks"):
        for price, size in levels(diff["data"][side]):
            if size:
                sides[side][price] = size
            else:
                del sides[side][price]  # the diff deletes a level the snapshot has
    book: dict[BookSide, dict[int, int]] = {BookSide.BID: {}, BookSide.ASK: {}}
    for event in book_events(run.events):
        if isinstance(event, BookSnapshot):
            book = {BookSide.BID: dict(event.bids), BookSide.ASK: dict(event.asks)}
        elif event.size:
            book[event.side][event.price] = event.size
        else:
            book[event.side].pop(event.price)
    assert book == {BookSide.BID: sides["bids"], BookSide.ASK: sides["asks"]}
    assert max(book[BookSide.BID]) < min(book[BookSide.ASK])  # the built book is not crossed


def test_mexc_feed_recorded_snapshot_newer_than_the_diff_drops_the_diff() -> None:
    """The real REST body (June 2022) is newer than the real diff (March): nothing applies."""
    venue = profile(recorded_snapshot=True)
    snap = exact(venue.recorded_snapshot)["data"]
    [diff] = recorded("push.depth")
    assert int(diff["data"]["version"]) < int(snap["version"])

    async def diff_arrives(run: FeedRun) -> None:
        await run.wait(lambda: run.session.subscriptions[0].messages > 0, "the diff")

    run = feed(venue, [Stream.BOOK], has(BookSnapshot), during=diff_arrives)
    assert run.server.frames_sent == 1
    [only] = book_events(run.events)
    assert isinstance(only, BookSnapshot)
    assert (list(only.bids), list(only.asks), only.sequence) == (
        levels(snap["bids"]), levels(snap["asks"]), int(snap["version"]))
    assert only.ts_event == int(snap["timestamp"]) * NS_PER_MS
    assert run.session.subscriptions[0].gaps == 0


def test_mexc_feed_mark_is_the_recorded_tickers_fair_and_index_price() -> None:
    tickers = recorded("push.ticker")
    run = feed(profile(), [Stream.MARK], has(MarkPrice, len(tickers)))
    marks = run.of(MarkPrice)
    want = [(int(t["data"]["timestamp"]) * NS_PER_MS, ticks(t["data"]["fairPrice"]),
             ticks(t["data"]["indexPrice"])) for t in tickers]
    assert [(m.ts_event, m.mark, m.index) for m in marks] == want
    assert run.server.subscribes() == [
        {"method": "sub.ticker", "param": {"symbol": "BTC_USDT"}}]


def test_mexc_feed_funding_is_the_pushed_rate_at_the_next_settlement() -> None:
    push = exact(FUNDING)
    run = feed(profile(), [Stream.FUNDING], has(FundingRate))
    [rate] = run.of(FundingRate)
    assert Decimal(rate.rate) == push["data"]["rate"]
    assert rate.ts_event == int(push["data"]["nextSettleTime"]) * NS_PER_MS
    assert run.server.subscribes() == [
        {"method": "sub.funding.rate", "param": {"symbol": "BTC_USDT"}}]


# -- the connection ----------------------------------------------------------------------------
def test_mexc_feed_streams_share_one_connection_kept_alive_by_ping_and_pong() -> None:
    """ccxt pings every ``keepAlive`` and drops a connection two pongs late: with 0.2 s, a
    second of quiet after the data proves the venue's pongs reach ccxt."""
    streams = [Stream.TRADES, Stream.BOOK, Stream.MARK, Stream.FUNDING]
    want = {Trade: len(recorded("push.deal")), MarkPrice: len(recorded("push.ticker")),
            FundingRate: 1, BookSnapshot: 1}

    def pinged(n: int) -> Callable[[FeedRun], bool]:
        return lambda run: all(has(kind, k)(run) for kind, k in want.items()) and sum(
            json.loads(m) == {"method": "ping"} for _, m in list(run.server.received)) >= n

    run = feed(profile(), streams, pinged(5), streaming={"keepAlive": 200})
    assert run.server.connections == 1
    assert {kind: len(run.of(kind)) for kind in want} == want
    assert all(sub.reconnects == 0 for sub in run.session.subscriptions)
    assert (run.session.parse_errors, run.session.ccxt_errors) == (0, 0)
    assert {h.state for h in run.of(FeedHealth)} >= {"live"}


def test_mexc_feed_dropped_connection_resubscribes_and_rebuilds_the_book() -> None:
    [diff] = recorded("push.depth")
    n_levels = len(diff["data"]["bids"]) + len(diff["data"]["asks"])

    async def drop_once(run: FeedRun) -> None:
        server = run.server
        await run.wait(lambda: has(BookDelta, n_levels)(run), "the first book")
        server.hold()  # the replay restarts with the first resubscription: wait for both
        server.drop()
        await run.wait(lambda: len(server.subscribes()) == 4, "the resubscriptions")
        server.release()

    run = feed(profile(), [Stream.TRADES, Stream.BOOK], has(BookDelta, 2 * n_levels),
               during=drop_once)
    server = run.server
    depth_requests = [r for r in server.requests if r[1].startswith("/api/v1/contract/depth")]
    assert server.connections == 2
    once = [BookSnapshot] + [BookDelta] * n_levels
    assert [type(e) for e in book_events(run.events)] == once + once  # a new snapshot, no hole
    assert len(depth_requests) == 2
    assert len(run.of(Trade)) == 2 * len(recorded("push.deal"))  # replayed anew
    assert all(sub.reconnects >= 1 for sub in run.session.subscriptions)
    assert [m["method"] for m in server.subscribes()].count("sub.depth") == 2


# -- what the venue does not offer -------------------------------------------------------------
def test_mexc_feed_unknown_symbol_is_an_input_error_naming_close_ones() -> None:
    with VenueServer(profile()) as server:
        session = VenueSession(adapter_for("mexc"), ["BTC/USDX:USDT"], [Stream.TRADES],
                               lambda _: None,
                               FeedOptions(endpoint=server.url, **options()))
        with pytest.raises(InputError, match=r"closest: .*BTC/USDT:USDT"):
            asyncio.run(session.open())


def test_mexc_feed_spot_symbol_is_an_input_error_saying_spot_is_protobuf() -> None:
    with VenueServer(profile()) as server:
        session = VenueSession(adapter_for("mexc"), ["BTC/USDT"], [Stream.TRADES],
                               lambda _: None,
                               FeedOptions(endpoint=server.url, **options()))
        with pytest.raises(InputError, match="protobuf"):
            asyncio.run(session.open())


@pytest.mark.parametrize(("stream", "reason"), [
    (Stream.QUOTES, "no best bid/ask stream with sizes"),
    (Stream.LIQUIDATIONS, "no public liquidation channel"),
])
def test_mexc_feed_stream_the_venue_lacks_is_an_input_error_with_the_reason(
        stream: Stream, reason: str) -> None:
    with pytest.raises(InputError, match=f"mexc has no {stream.value} stream: .*{reason}"):
        VenueSession(adapter_for("mexc"), [SYMBOL], [stream], lambda _: None)
