"""Hyperliquid live feed end to end: ccxt.pro, through heron's session, against the venue
emulator replaying the real recordings (``heron.testing.venues.hyperliquid``).

Expected values are read here from the recorded JSON with ``json`` and ``Decimal``
(through ``Instrument.ticks``/``lots``), never with the parser. ``bbo`` and
``activeAssetCtx`` were not captured: the emulator builds them from the recorded books
and asset contexts, and the expectations below are built from the same recordings.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

import msgspec
import pytest

from conftest import SHARED_VENUES, need
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.live import FeedRequest, run_feeds
from heron.data.feeds.session import FeedOptions, VenueSession
from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.data import BookDelta, BookSnapshot, FundingRate, MarkPrice, Quote, Trade
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument, InstrumentKind
from heron.testing.feed_run import FeedRun, run_feed
from heron.testing.venue_server import VenueServer
from heron.testing.venues.hyperliquid import HyperliquidProfile
from heron.venues.hyperliquid.feed import HyperliquidAdapter

DATA = SHARED_VENUES / "hyperliquid"
CAPTURE = DATA / "ws_capture_BTC_2025-01-26.txt.gz"
META = DATA / "rest_info_meta_2023-07-17.json"
CTXS = DATA / "fixtures" / "ws_all_dexs_asset_ctxs.json"
SYMBOL = "BTC/USDC:USDC"
MS = 1_000_000
HOUR = 3_600 * 10**9
E = TypeVar("E", bound=msgspec.Struct)
OFFERED = (Stream.TRADES, Stream.BOOK, Stream.QUOTES, Stream.MARK, Stream.FUNDING)
CHANNEL = {Stream.TRADES: "trades", Stream.BOOK: "l2Book", Stream.QUOTES: "bbo",
           Stream.MARK: "activeAssetCtx", Stream.FUNDING: "activeAssetCtx"}


@pytest.fixture(scope="module")
def profile() -> HyperliquidProfile:
    return HyperliquidProfile(need(CAPTURE), need(META).read_bytes(), need(CTXS).read_bytes())


# -- the recordings, read independently ---------------------------------------------------
def recorded(channel: str) -> list[Any]:
    with gzip.open(need(CAPTURE), "rt") as lines:
        messages = [json.loads(line.split(" ", 1)[1]) for line in lines]
    return [m["data"] for m in messages if m["channel"] == channel]


def meta_and_ctx(coin: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The coin's recorded ``meta`` entry and its recorded context (the main dex's, at the
    same asset index)."""
    universe = json.loads(need(META).read_text())["universe"]
    ctxs = dict(json.loads(need(CTXS).read_text())["data"]["ctxs"])[""]
    [index] = [i for i, asset in enumerate(universe) if asset["name"] == coin]
    return universe[index], ctxs[index]


def venue_tick(coin: str) -> Decimal:
    """The price grid Hyperliquid allows at the recorded mark: five significant figures,
    at most ``6 - szDecimals`` decimals, whole numbers always."""
    meta, ctx = meta_and_ctx(coin)
    significant = 4 - Decimal(ctx["markPx"]).adjusted()
    return Decimal(1).scaleb(-max(0, min(6 - meta["szDecimals"], significant)))


def level(i: Instrument, lv: dict[str, str]) -> tuple[int, int]:
    return i.ticks(Decimal(lv["px"])), i.lots(Decimal(lv["sz"]))


def expected_trades(i: Instrument) -> list[Trade]:
    return [Trade(i, t["time"] * MS, 0, i.ticks(Decimal(t["px"])), i.lots(Decimal(t["sz"])),
                  {"B": "buy", "A": "sell"}[t["side"]], str(t["tid"]))
            for message in recorded("trades") for t in message]


def expected_books(i: Instrument) -> list[BookSnapshot]:
    return [BookSnapshot(i, b["time"] * MS, 0, tuple(level(i, lv) for lv in b["levels"][0]),
                         tuple(level(i, lv) for lv in b["levels"][1]), b["time"])
            for b in recorded("l2Book")]


def changed_tops() -> list[tuple[int, dict[str, str], dict[str, str]]]:
    """``(time, best bid, best ask)`` of each recorded book whose top changed: the venue
    sends ``bbo`` on changes only."""
    out = []
    last = None
    for book in recorded("l2Book"):
        bid, ask = (side[0] for side in book["levels"])
        if (bid, ask) != last:
            out.append((book["time"], bid, ask))
        last = (bid, ask)
    return out


def expected_quotes(i: Instrument) -> list[Quote]:
    out = []
    for ms, bid, ask in changed_tops():
        (bid_px, bid_sz), (ask_px, ask_sz) = level(i, bid), level(i, ask)
        out.append(Quote(i, ms * MS, 0, bid_px, ask_px, bid_sz, ask_sz, ms))
    return out


def half_even(i: Instrument, text: str) -> int:
    return int((Decimal(text) / i.price_increment).to_integral_value(ROUND_HALF_EVEN))


def unstamped(events: Sequence[Any], kind: type[E]) -> list[E]:
    """Events of ``kind`` with the receive time zeroed (it is the test run's clock)."""
    return [msgspec.structs.replace(e, ts_recv=0) for e in events if isinstance(e, kind)]


# -- running a session against the emulator ------------------------------------------------
def feed(profile: HyperliquidProfile, streams: Sequence[Stream],
         until: Callable[[FeedRun], bool], *,
         during: Callable[[FeedRun], Awaitable[None]] | None = None, symbol: str = SYMBOL,
         **options: Any) -> FeedRun:
    """``streams`` of ``symbol`` until ``until``; data flows once every channel's subscribe
    is in (mark and funding share one)."""
    return run_feed(profile, HyperliquidAdapter(), [symbol], streams, until=until,
                    subscribes=len({CHANNEL[s] for s in streams}), during=during, **options)


def after_reconnect(run: FeedRun, kind: type) -> list[Any]:
    """Events of ``kind`` since the last reconnect was reported (what the connection now up
    delivered)."""
    return [e for e in run.split(FeedState.RECONNECTING, last=True)[1] if type(e) is kind]


@pytest.fixture(scope="module")
def all_streams_run(profile: HyperliquidProfile) -> tuple[FeedRun, list[str]]:
    """Every stream Hyperliquid offers, at once, until the whole recording is through; and
    the ``/info`` requests the run made."""
    n_trades = sum(len(m) for m in recorded("trades"))
    want = {Trade: n_trades, BookSnapshot: len(recorded("l2Book")),
            Quote: len(changed_tops()), MarkPrice: 1, FundingRate: 1}
    asked = len(profile.info_requests)
    run = feed(profile, OFFERED, lambda r: all(len(r.of(kind)) >= n for kind, n in want.items()))
    return run, profile.info_requests[asked:]


@pytest.fixture(scope="module")
def all_streams(all_streams_run: tuple[FeedRun, list[str]]) -> FeedRun:
    return all_streams_run[0]


def btc(run: FeedRun) -> Instrument:
    [inst] = run.session.instruments
    return inst


# -- markets -------------------------------------------------------------------------------
def test_markets_load_the_recorded_perps_with_two_info_requests(
        all_streams_run: tuple[FeedRun, list[str]]) -> None:
    """The coin is the symbol; the lot is ``10**-szDecimals``; the tick is the venue's
    price grid at the recorded mark price."""
    all_streams, info_requests = all_streams_run
    meta, _ = meta_and_ctx("BTC")
    inst = btc(all_streams)
    assert (inst.symbol, inst.venue, inst.kind, inst.quote_currency) == (
        "BTC", "HYPERLIQUID", InstrumentKind.LINEAR_PERPETUAL, "USDC")
    assert inst.size_increment == Decimal(1).scaleb(-meta["szDecimals"])
    assert inst.price_increment == venue_tick("BTC")
    assert info_requests == ["spotMeta", "metaAndAssetCtxs"]


# -- every stream, values against the recording --------------------------------------------
def test_subscribes_are_hyperliquids_own_requests_one_per_channel(all_streams: FeedRun) -> None:
    """Mark and funding share one ``activeAssetCtx`` subscription."""
    sent = all_streams.server.subscribes()
    assert sorted(sent, key=json.dumps) == sorted(
        ({"method": "subscribe", "subscription": {"type": channel, "coin": "BTC"}}
         for channel in {CHANNEL[s] for s in OFFERED}), key=json.dumps)


def test_trades_are_the_recorded_fills_in_order(all_streams: FeedRun) -> None:
    assert unstamped(all_streams.events, Trade) == expected_trades(btc(all_streams))


def test_books_are_the_recorded_snapshots_whole_and_unsequenced(all_streams: FeedRun) -> None:
    assert unstamped(all_streams.events, BookSnapshot) == expected_books(btc(all_streams))
    assert not all_streams.of(BookDelta)


def test_quotes_are_the_recorded_books_tops(all_streams: FeedRun) -> None:
    assert unstamped(all_streams.events, Quote) == expected_quotes(btc(all_streams))


def test_mark_and_funding_come_from_btcs_recorded_context(all_streams: FeedRun) -> None:
    """Only BTC's context reaches the client (the emulator has every coin's); the mark and
    oracle are rounded half-even to the tick; the rate applies at the next whole hour."""
    inst = btc(all_streams)
    _, ctx = meta_and_ctx("BTC")
    [mark] = all_streams.of(MarkPrice)
    [funding] = all_streams.of(FundingRate)
    assert mark == MarkPrice(inst, mark.ts_recv, mark.ts_recv, half_even(inst, ctx["markPx"]),
                             half_even(inst, ctx["oraclePx"]))
    assert funding == FundingRate(inst, (funding.ts_recv // HOUR + 1) * HOUR,
                                  funding.ts_recv, ctx["funding"])


def test_every_stream_went_live_with_no_errors(all_streams: FeedRun) -> None:
    session = all_streams.session
    live = {h.stream for h in all_streams.of(FeedHealth) if h.state is FeedState.LIVE}
    assert live == {s.value for s in OFFERED}
    assert (session.parse_errors, session.ccxt_errors) == (0, 0)
    assert all(sub.reconnects == sub.gaps == 0 for sub in session.subscriptions)


def test_a_coin_ccxt_renames_is_subscribed_and_keyed_by_the_venues_name(
        profile: HyperliquidProfile) -> None:
    """ccxt calls kPEPE ``KPEPE/USDC:USDC`` (base ``KPEPE``); the venue knows ``kPEPE``."""
    _, ctx = meta_and_ctx("kPEPE")
    run = feed(profile, OFFERED, lambda r: len(r.of(FundingRate)) >= 1,
               symbol="KPEPE/USDC:USDC")
    assert {m["subscription"]["coin"] for m in run.server.subscribes()} == {"kPEPE"}
    [mark] = run.of(MarkPrice)
    inst = mark.instrument
    assert (inst.symbol, inst.price_increment) == ("kPEPE", venue_tick("kPEPE"))
    assert (mark.mark, mark.index) == (half_even(inst, ctx["markPx"]),
                                       half_even(inst, ctx["oraclePx"]))


# -- one stream subscribes one channel ------------------------------------------------------
def test_trades_alone_subscribe_trades_alone_through_run_feeds(
        profile: HyperliquidProfile) -> None:
    """The CLI's path (venue name -> adapter): stops on the count of recorded fills."""
    n_trades = sum(len(m) for m in recorded("trades"))
    events: list[Any] = []
    with VenueServer(profile) as server:
        request = FeedRequest("hyperliquid", (SYMBOL,), (Stream.TRADES,), endpoint=server.url)
        run = asyncio.run(run_feeds([request], events.append, count=n_trades, duration_s=10))
        assert [m["subscription"]["type"] for m in server.subscribes()] == ["trades"]
    assert run.stopped_by == "count"
    assert [e.trade_id for e in events if isinstance(e, Trade)] == [
        t.trade_id for t in expected_trades(run.sessions[0].instruments[0])]


# -- connection trouble ---------------------------------------------------------------------
def test_a_dropped_connection_reconnects_and_the_books_come_again(
        profile: HyperliquidProfile) -> None:
    """No sequence to resync: the new connection's first ``l2Book`` is a whole book."""
    n_books = len(recorded("l2Book"))
    run = feed(profile, [Stream.BOOK],
               lambda r: len(after_reconnect(r, BookSnapshot)) >= n_books,
               during=_drop_after_first_book, backoff=lambda: Backoff(initial_s=0.05))
    [sub] = run.session.subscriptions
    assert (sub.reconnects, sub.gaps, run.server.connections) == (1, 0, 2)
    changes = [h.state for h in after_reconnect(run, FeedHealth)]
    assert [s for i, s in enumerate(changes) if i == 0 or changes[i - 1] is not s] == [
        FeedState.RECONNECTING, FeedState.CONNECTING, FeedState.LIVE, FeedState.STOPPED]
    again = unstamped(after_reconnect(run, BookSnapshot), BookSnapshot)
    assert again == expected_books(btc(run))


async def _drop_after_first_book(run: FeedRun) -> None:
    await run.wait(lambda: bool(run.of(BookSnapshot)), "the first book")
    run.server.drop()


def test_keepalive_pings_are_answered_and_the_connection_stays(
        profile: HyperliquidProfile) -> None:
    """ccxt pings every ``keepAlive`` ms and drops a connection after two unanswered:
    the pong must get past heron's parser to ccxt."""
    run = feed(profile, [Stream.TRADES], lambda r: _pings(r) >= 4,
               ccxt_config={"streaming": {"keepAlive": 150}})
    assert (run.session.subscriptions[0].reconnects, run.server.connections) == (0, 1)
    assert run.session.ccxt_errors == 0


def _pings(run: FeedRun) -> int:
    return sum(json.loads(text) == {"method": "ping"} for _, text in run.server.received)


def test_a_silent_venue_is_dropped_by_the_keepalive_and_rejoined(
        profile: HyperliquidProfile) -> None:
    n_trades = sum(len(m) for m in recorded("trades"))
    run = feed(profile, [Stream.TRADES], lambda r: len(after_reconnect(r, Trade)) >= n_trades,
               during=_stall_after_first_trade, backoff=lambda: Backoff(initial_s=0.05),
               ccxt_config={"streaming": {"keepAlive": 150}})
    assert run.session.subscriptions[0].reconnects >= 1
    assert run.server.connections >= 2
    assert "timed out" in next(h.reason for h in run.of(FeedHealth)
                               if h.state is FeedState.RECONNECTING)
    assert unstamped(after_reconnect(run, Trade), Trade) == expected_trades(btc(run))


async def _stall_after_first_trade(run: FeedRun) -> None:
    await run.wait(lambda: bool(run.of(Trade)), "the first trade")
    run.server.stall(1.0)


def test_garbage_and_venue_errors_are_counted_and_the_feed_goes_on(
        profile: HyperliquidProfile) -> None:
    n_trades = sum(len(m) for m in recorded("trades"))
    with_garbage = _inject('not json', '{"channel":"error","data":"Invalid subscription"}')
    run = feed(profile, [Stream.TRADES], lambda r: len(r.of(Trade)) >= n_trades
               and r.session.parse_errors >= 2, during=with_garbage)
    assert (run.session.parse_errors, run.session.ccxt_errors) == (2, 0)
    assert unstamped(run.events, Trade) == expected_trades(btc(run))


def _inject(*texts: str) -> Callable[[FeedRun], Awaitable[None]]:
    async def action(run: FeedRun) -> None:
        for text in texts:
            run.server.inject(text)
    return action


# -- what the user is told ------------------------------------------------------------------
def test_unknown_symbol_is_an_input_error_naming_close_matches(
        profile: HyperliquidProfile) -> None:
    async def main(url: str) -> None:
        session = VenueSession(HyperliquidAdapter(), ["BTX/USDC:USDC"], [Stream.TRADES],
                               lambda _: None, FeedOptions(endpoint=url))
        await session.open()

    with VenueServer(profile) as server, pytest.raises(InputError, match=r"BTC/USDC:USDC"):
        asyncio.run(main(server.url))


def test_liquidations_are_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="no public liquidation channel"):
        VenueSession(HyperliquidAdapter(), [SYMBOL], [Stream.LIQUIDATIONS], lambda _: None)
