"""The feed keeps going when the venue misbehaves, and says so in its health events.

ccxt.pro (the real client) through :class:`VenueSession` against the loopback Binance
USD-M venue, whose knobs make the failures: a dropped connection (reconnect and
resubscribe), a silent server (stale, then reconnect), a missed book diff (resync from
a new REST snapshot, never a book with a hole), a REST book older than the stream (fetch
again, not called live), and garbage frames (counted, logged, skipped).

The server replays its recording from the start on every new connection, so data after
a reconnect is the recording again: assertions count and order events per connection,
never expect the stream to pick up where it was cut.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiohttp import web

from conftest import SHARED_VENUES, need
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.streams import Stream
from heron.model.book import LinkedSequence, Verdict
from heron.model.data import BookDelta, BookSnapshot, Quote, Trade
from heron.model.feed import FeedHealth, FeedState
from heron.testing.feed_run import FeedRun, running_feed
from heron.testing.venue_server import Reply, RestHandler, VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

USDM = SHARED_VENUES / "binance_usdm"
SYMBOL = "BTC/USDT:USDT"
DEPTH_GET = ("GET", "/fapi/v1/depth")
RESYNCED = (FeedState.LIVE, "book resynced from a REST snapshot")


@pytest.fixture(scope="module")
def profile() -> BinanceUsdmProfile:
    return BinanceUsdmProfile.recorded(need(USDM), lines=3000)


def quick_backoff() -> Backoff:
    return Backoff(initial_s=0.05, cap_s=0.1)


def running(server: VenueServer, stream: Stream, *, symbols: tuple[str, ...] = (SYMBOL,),
            **options: Any) -> AbstractAsyncContextManager[FeedRun]:
    """One session of one stream, running for an ``async with`` block. Leaving the block
    stops it and checks that ``run()`` ends normally and that nothing follows STOPPED,
    though frames were still arriving."""
    return running_feed(server, adapter_for("binanceusdm"), symbols, [stream],
                        timeout_s=10.0, backoff=quick_backoff, **options)


def health(feed: FeedRun) -> list[FeedHealth]:
    return feed.of(FeedHealth)


def first_sub(feed: FeedRun) -> Any:
    return feed.session.subscriptions[0]


def subscribes(server: VenueServer, topic: str) -> list[str]:
    return [text for _, text in server.received
            if isinstance(text, str) and '"SUBSCRIBE"' in text and topic in text]


# -- a dropped connection ------------------------------------------------------------------------
def test_dropped_connection_reconnects_resubscribes_and_data_continues(
        profile: BinanceUsdmProfile) -> None:
    async def main(server: VenueServer) -> tuple[FeedRun, int]:
        async with running(server, Stream.TRADES) as feed:
            recorded = sum(1 for f in profile.frames() if f.topic == "btcusdt@trade")
            await feed.wait(lambda: len(feed.of(Trade)) == recorded, "the recorded trades")
            cut = len(feed.events)
            server.drop()
            await feed.wait(lambda: len(feed.of(Trade)) == 2 * recorded, "the trades again")
        return feed, cut

    with VenueServer(profile) as server:
        feed, cut = asyncio.run(main(server))
        assert server.connections == 2
        assert subscribes(server, "btcusdt@trade") == [
            '{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}',
            '{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}']
    after = feed.states(cut)
    assert [state for state, _ in after] == [FeedState.RECONNECTING, FeedState.CONNECTING,
                                            FeedState.LIVE, FeedState.STOPPED]
    assert "closed" in after[0][1]
    reconnecting, live = (next(h for h in feed.events[cut:]
                               if isinstance(h, FeedHealth) and h.state is state)
                          for state in (FeedState.RECONNECTING, FeedState.LIVE))
    assert reconnecting.reconnects == live.reconnects == first_sub(feed).reconnects == 1
    trades = feed.of(Trade)
    half = len(trades) // 2  # the new connection replays the recording from its start
    assert [t.trade_id for t in trades[half:]] == [t.trade_id for t in trades[:half]]
    assert trades[half].ts_recv > reconnecting.ts


# -- a silent server -------------------------------------------------------------------------------
def test_silent_server_is_found_stale_within_stale_after_and_reconnected(
        profile: BinanceUsdmProfile) -> None:
    stale_after = 0.5

    async def main(server: VenueServer) -> tuple[FeedRun, int]:
        async with running(server, Stream.QUOTES, stale_after_s=stale_after) as feed:
            await feed.wait(lambda: len(feed.of(Quote)) >= 20, "20 quotes")
            silenced = time.time_ns()
            server.stall(1.2)
            await feed.wait(lambda: stale(feed) is not None, "STALE")
            index = feed.events.index(stale(feed))
            await feed.wait(lambda: FeedState.LIVE in dict(feed.states(index)), "LIVE again")
            count = len(feed.of(Quote))
            await feed.wait(lambda: len(feed.of(Quote)) >= count + 20, "data again")
        return feed, silenced

    with VenueServer(profile, speed=2.0) as server:  # recorded gaps under 0.1 s at this speed
        feed, silenced = asyncio.run(main(server))
        assert len(subscribes(server, "btcusdt@bookTicker")) >= 2
    first = stale(feed)
    assert first is not None and first.ts > silenced  # quiet only once the server was
    last_quote = max(q.ts_recv for q in feed.of(Quote) if q.ts_recv < first.ts)
    # never before stale_after; the upper bound is generous (the watchdog ticks every
    # stale_after/4): it fails only if detection is broken, not on a busy machine
    assert stale_after <= (first.ts - last_quote) / 1e9 <= stale_after + 5.0
    assert first.last_message_age_ns >= stale_after * 1e9
    assert first.reason == "no quotes message for 0.5s"
    index = feed.events.index(first)
    reconnect = next(h for h in health(feed) if h.ts >= first.ts
                     and h.state is FeedState.RECONNECTING)
    assert reconnect.reason == "stale stream" and reconnect.reconnects >= 1
    # dropped at once: the next state after STALE is RECONNECTING, nothing in between
    assert [state for state, _ in feed.states(index)][:2] == [FeedState.STALE,
                                                             FeedState.RECONNECTING]
    assert feed.states(index)[-2][0] is FeedState.LIVE
    # each new connection gets its own stale_after_s to bring data before it is judged
    stales = [h.ts for h in health(feed) if h.state is FeedState.STALE]
    assert all(b - a >= stale_after * 1e9 for a, b in itertools.pairwise(stales))
    assert 1 <= len(stales) <= 3


def test_a_quiet_symbol_going_stale_leaves_its_neighbours_connections_alone(
        profile: BinanceUsdmProfile) -> None:
    """ETHUSDT has no message in the recording: its subscription goes stale and is
    reconnected, but BTCUSDT's busy connection must not be cut with it."""
    async def main(server: VenueServer) -> FeedRun:
        async with running(server, Stream.QUOTES, symbols=(SYMBOL, "ETH/USDT:USDT"),
                           stale_after_s=0.5) as feed:
            await feed.wait(lambda: feed.session.subscriptions[1].reconnects >= 2,
                            "two reconnects of ETHUSDT")
        return feed

    with VenueServer(profile, speed=2.0) as server:
        feed = asyncio.run(main(server))
    btc, eth = feed.session.subscriptions
    assert (btc.reconnects, btc.state) == (0, FeedState.STOPPED) and btc.messages > 20
    assert eth.messages == 0
    assert {h.symbol for h in health(feed) if h.state is FeedState.STALE} == {"ETHUSDT"}


def stale(feed: FeedRun) -> FeedHealth | None:
    return next((h for h in health(feed) if h.state is FeedState.STALE), None)


# -- a missed book diff ----------------------------------------------------------------------------
def book_messages_follow_on(events: list[Any]) -> int:
    """Judge every emitted book message as a consumer would; the number of messages.

    A snapshot sets the book; each delta message must then follow on (Binance USD-M:
    ``pu`` is the previous ``u``, or the first straddles the snapshot's id).
    """
    rule, last, messages = LinkedSequence(), None, 0
    head: BookDelta | None = None
    for event in events:
        if isinstance(event, BookSnapshot):
            last, head = event.sequence, None
        elif isinstance(event, BookDelta):
            assert last is not None, "a delta before any snapshot"
            head = head or event
            if event.is_last:
                first = head.first_sequence
                assert first is not None
                verdict = rule.check(last, first, head.sequence, head.prev_sequence)
                assert verdict is Verdict.APPLY, (last, head)
                last, head, messages = event.sequence, None, messages + 1
    return messages


def resynced(feed: FeedRun, times: int) -> bool:
    return feed.states().count(RESYNCED) >= times


def diffs(feed: FeedRun) -> int:
    """Book messages emitted (a diff is one delta a level, the last marked)."""
    return sum(1 for delta in feed.of(BookDelta) if delta.is_last)


async def a_diff_skipped(server: VenueServer, *, diffs_after: int = 0) -> tuple[FeedRun, int]:
    """A synced book, one diff left out, the resync, then ``diffs_after`` more diffs: the
    run, and the index of its first event after the skip."""
    async with running(server, Stream.BOOK, ccxt_config={"enableRateLimit": False}) as feed:
        await feed.wait(lambda: resynced(feed, 1) and diffs(feed) >= 20, "a synced book")
        skipped = len(feed.events)
        server.skip("btcusdt@depth", 1)
        await feed.wait(lambda: resynced(feed, 2), "the resync")
        count = diffs(feed)
        await feed.wait(lambda: diffs(feed) >= count + diffs_after, "diffs after the resync")
    return feed, skipped


def test_book_gap_resyncs_from_a_new_rest_snapshot_and_never_emits_a_hole(
        profile: BinanceUsdmProfile) -> None:
    with VenueServer(profile, speed=2.0) as server:
        feed, skipped = asyncio.run(a_diff_skipped(server, diffs_after=20))
        assert [r[:2] for r in server.requests].count(DEPTH_GET) == 2
    after = feed.states(skipped)
    assert after[0][0] is FeedState.RESYNCING and after[0][1].startswith("book gap: last ")
    assert after[1:] == [RESYNCED, (FeedState.STOPPED, "stopped")]
    assert first_sub(feed).gaps == 1 and health(feed)[-1].gaps == 1
    assert len(feed.of(BookSnapshot)) == 2
    assert book_messages_follow_on(feed.events) == diffs(feed) >= 40


class LaggingRestBook(BinanceUsdmProfile):
    """A venue whose REST book lags its stream: the second snapshot it answers is the
    opening one, older than every update since (Binance's documented case: "if the
    snapshot's lastUpdateId is below the first event's U, fetch it again")."""

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        routes = dict(super().rest())
        current, answered = routes[DEPTH_GET], [0]

        def depth(request: web.Request) -> Reply:
            answered[0] += 1
            return Reply(self.snapshot) if answered[0] == 2 else current(request)
        routes[DEPTH_GET] = depth
        return routes


def test_rest_snapshot_older_than_the_stream_is_fetched_again_not_called_live() -> None:
    profile = LaggingRestBook.recorded(need(USDM), lines=3000)
    with VenueServer(profile, speed=2.0) as server:
        feed, skipped = asyncio.run(a_diff_skipped(server))
        assert [r[:2] for r in server.requests].count(DEPTH_GET) == 3
    after = [state for state in feed.states(skipped) if state[0] is not FeedState.STOPPED]
    assert after[-1] == RESYNCED
    assert {state for state, _ in after[:-1]} == {FeedState.RESYNCING}  # never LIVE before
    assert (FeedState.RESYNCING,
            "the REST snapshot is older than the stream: fetching another") in after
    assert book_messages_follow_on(feed.events) == diffs(feed)


# -- garbage ---------------------------------------------------------------------------------
GARBAGE = {
    "this is not JSON at all": "malformed",
    '{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":51231': "truncated",
    '{"hello":"world"}': "unsupported",
    # counted too, and also handed on: ccxt may be waiting for an answer to a request
    '{"error":{"code":2,"msg":"Invalid request: unknown property"},"id":99}': "venue_error",
}


def test_malformed_frames_are_counted_logged_and_the_feed_reads_on(
        profile: BinanceUsdmProfile, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="heron.feed")

    async def main(server: VenueServer) -> tuple[FeedRun, int]:
        async with running(server, Stream.QUOTES, health_every_s=0.1) as feed:
            await feed.wait(lambda: len(feed.of(Quote)) >= 20, "20 quotes")
            before = len(feed.of(Quote))
            for text in GARBAGE:
                server.inject(text)
            await feed.wait(lambda: feed.session.parse_errors == len(GARBAGE), "the parse errors")
            await feed.wait(lambda: len(feed.of(Quote)) >= before + 50
                            and health(feed)[-1].parse_errors == len(GARBAGE),
                            "quotes after the garbage")
        return feed, before

    with VenueServer(profile, speed=2.0) as server:
        feed, before = asyncio.run(main(server))
        assert server.connections == 1  # the same connection read on: ccxt's loop is intact
    assert feed.session.parse_errors == len(GARBAGE) and feed.session.ccxt_errors == 0
    assert first_sub(feed).reconnects == 0 and first_sub(feed).state is FeedState.STOPPED
    assert all(h.state is not FeedState.RECONNECTING for h in health(feed))
    logged = [r.getMessage() for r in caplog.records if r.name == "heron.feed"]
    for text, kind in GARBAGE.items():
        assert any(f"unusable frame ({kind}:" in m and m.endswith(text) for m in logged), text
    quotes = feed.of(Quote)
    assert len(quotes) >= before + 50
    assert [q.sequence for q in quotes] == sorted(q.sequence for q in quotes)
