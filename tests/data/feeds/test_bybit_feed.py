"""Bybit v5 live feed end to end: ccxt.pro, through heron's session, against the venue
emulator replaying the real recordings (``heron.testing.venues.bybit``).

Expected values are read here from the recorded JSON with ``json`` and ``Decimal``
(through ``Instrument.ticks``/``lots``), never with the parser. The book is Bybit's
``orderbook.500.XRPUSDT`` archive; ``orderbook.1`` was not recorded, so the emulator
builds level-1 snapshots from that archive and the expected quotes are built here from
the same archive. Trades, tickers and the liquidation are Bybit's API-doc messages.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
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
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide
from heron.testing.feed_run import FeedRun, run_feed
from heron.testing.venue_server import VenueServer
from heron.testing.venues.bybit import BybitProfile
from heron.venues.bybit.feed import BybitAdapter, BybitSpotAdapter

DATA = SHARED_VENUES / "bybit"
FIXTURES = DATA / "fixtures"
ARCHIVE = DATA / "v5_orderbook.500_XRPUSDT_2024-12-01.jsonl"
SINGLES = ("ws_trade.json", "ws_ticker_linear.json", "ws_liquidation.json")
XRP, BTC, GALA = "XRP/USDT:USDT", "BTC/USDT:USDT", "GALA/USDT:USDT"
BOOK_TOPIC = "orderbook.500.XRPUSDT"
MS = 1_000_000
E = TypeVar("E", bound=msgspec.Struct)


def fixture(name: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(need(FIXTURES / name).read_text())
    return message


@pytest.fixture(scope="module")
def profile() -> BybitProfile:
    return BybitProfile(need(FIXTURES / "http_linear_instruments.json").read_bytes(),
                        need(FIXTURES / "ws_subscription_ack.json").read_bytes(),
                        need(FIXTURES / "ws_subscription_failure.json").read_bytes(),
                        book_archive=need(ARCHIVE),
                        messages=[need(FIXTURES / n).read_text() for n in SINGLES])


# -- the recordings, read independently ---------------------------------------------------
def archive() -> list[dict[str, Any]]:
    return [json.loads(line) for line in need(ARCHIVE).read_text().splitlines()]


def levels(i: Instrument, rows: list[list[str]]) -> tuple[tuple[int, int], ...]:
    return tuple((i.ticks(Decimal(p)), i.lots(Decimal(q))) for p, q in rows)


def expected_book(i: Instrument) -> list[BookSnapshot | BookDelta]:
    """The snapshot, then one delta per level (bids first), ``is_last`` on each message's
    last; times are the matching engine's ``cts``."""
    out: list[BookSnapshot | BookDelta] = []
    for m in archive():
        d, ts = m["data"], m["cts"] * MS
        if m["type"] == "snapshot":
            out.append(BookSnapshot(i, ts, 0, levels(i, d["b"]), levels(i, d["a"]), d["u"]))
            continue
        message = [BookDelta(i, ts, 0, side, p, q, d["u"], False)
                   for side, rows in ((BookSide.BID, d["b"]), (BookSide.ASK, d["a"]))
                   for p, q in levels(i, rows)]
        message[-1] = msgspec.structs.replace(message[-1], is_last=True)
        out += message
    return out


def archive_tops() -> list[tuple[int, tuple[Decimal, Decimal, Decimal, Decimal]]]:
    """``(cts, (bid, bid size, ask, ask size))`` after each archive message that changed
    the top of the book."""
    book: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
    out: list[tuple[int, tuple[Decimal, Decimal, Decimal, Decimal]]] = []
    for m in archive():
        if m["type"] == "snapshot":
            book = {"b": {}, "a": {}}
        for key, side in book.items():
            for p, q in m["data"][key]:
                side[Decimal(p)] = Decimal(q)
                if not Decimal(q):
                    del side[Decimal(p)]
        bid, ask = max(book["b"]), min(book["a"])
        top = (bid, book["b"][bid], ask, book["a"][ask])
        if not out or top != out[-1][1]:
            out.append((m["cts"], top))
    return out


def expected_quotes(i: Instrument) -> list[Quote]:
    """Level 1 numbered from 1 by the emulator, in the archive's order."""
    return [Quote(i, cts * MS, 0, i.ticks(bid), i.ticks(ask), i.lots(bid_size),
                  i.lots(ask_size), n)
            for n, (cts, (bid, bid_size, ask, ask_size)) in enumerate(archive_tops(), 1)]


def n_book_events() -> int:
    return sum(1 if m["type"] == "snapshot" else len(m["data"]["b"]) + len(m["data"]["a"])
               for m in archive())


def half_even(i: Instrument, text: str) -> int:
    return int((Decimal(text) / i.price_increment).to_integral_value(ROUND_HALF_EVEN))


def zero_recv(events: Iterable[E]) -> list[E]:
    """``events`` with the receive time zeroed (it is the test run's clock)."""
    return [msgspec.structs.replace(e, ts_recv=0) for e in events]


def unstamped(events: Sequence[Any], kind: type[E]) -> list[E]:
    return zero_recv(e for e in events if isinstance(e, kind))


def book_of(events: Sequence[Any]) -> list[BookSnapshot | BookDelta]:
    return zero_recv(e for e in events if isinstance(e, BookSnapshot | BookDelta))


# -- running a session against the emulator ------------------------------------------------
def sent(server: VenueServer, op: str = "subscribe") -> list[tuple[str, dict[str, Any]]]:
    """``(socket path, request)`` of every ``op`` request the clients sent."""
    requests = ((path, json.loads(text)) for path, text in server.received)
    return [(path, r) for path, r in requests if r.get("op") == op]


def topics(server: VenueServer) -> list[str]:
    return [topic for r in server.subscribes() for topic in r["args"]]


@pytest.fixture(scope="module")
def all_streams(profile: BybitProfile) -> FeedRun:
    """Every stream of three perpetuals at once (mark and funding share ``tickers``: five
    subscribes each), until every recorded message is through."""
    n_book, n_quotes = n_book_events(), len(archive_tops())

    def through(r: FeedRun) -> bool:
        book = len(r.of(BookSnapshot)) + len(r.of(BookDelta))
        singles = (Trade, MarkPrice, FundingRate, Liquidation)
        return book >= n_book and len(r.of(Quote)) >= n_quotes and all(
            r.of(kind) for kind in singles)

    return run_feed(profile, BybitAdapter(), [XRP, BTC, GALA], list(Stream), until=through,
                    subscribes=15)


# -- markets -------------------------------------------------------------------------------
def listings(server: VenueServer) -> list[tuple[str, str]]:
    """``(category, status)`` of every market list the client asked for."""
    return sorted((q["category"], q.get("status", "")) for _, path, q in server.requests
                  if path == "/v5/market/instruments-info")


def test_markets_are_the_linear_ones_only(all_streams: FeedRun) -> None:
    """No spot (its own adapter), inverse or option chains: ccxt's listed and pre-launch
    linear contracts."""
    assert listings(all_streams.server) == [("linear", ""), ("linear", "PreLaunch")]


def test_instruments_have_the_recorded_grid_and_limits(all_streams: FeedRun) -> None:
    [entry] = [e for e in fixture("http_linear_instruments.json")["result"]["list"]
               if e["symbol"] == "BTCUSDT"]
    inst = all_streams.instrument(BTC)
    assert (inst.symbol, inst.venue, inst.kind, inst.quote_currency) == (
        "BTCUSDT", "BYBIT", InstrumentKind.LINEAR_PERPETUAL, "USDT")
    assert inst.price_increment == Decimal(entry["priceFilter"]["tickSize"])
    assert inst.size_increment == Decimal(entry["lotSizeFilter"]["qtyStep"])
    assert inst.min_quantity == Decimal(entry["lotSizeFilter"]["minOrderQty"])


# -- every stream, values against the recording --------------------------------------------
def test_subscribes_are_bybits_requests_one_topic_each_on_the_linear_socket(
        all_streams: FeedRun) -> None:
    requests = sent(all_streams.server)
    assert {path for path, _ in requests} == {"/v5/public/linear"}
    assert sorted(topics(all_streams.server)) == sorted(
        f"{channel}.{symbol}" for symbol in ("XRPUSDT", "BTCUSDT", "GALAUSDT")
        for channel in ("publicTrade", "orderbook.500", "orderbook.1", "tickers",
                        "allLiquidation"))
    ids = [r["req_id"] for _, r in requests]
    assert len(set(ids)) == len(ids)


def test_book_is_the_recorded_snapshot_then_every_delta_in_order(all_streams: FeedRun) -> None:
    assert book_of(all_streams.events) == expected_book(all_streams.instrument(XRP))


def test_quotes_are_the_archive_tops_on_change(all_streams: FeedRun) -> None:
    assert unstamped(all_streams.events, Quote) == expected_quotes(all_streams.instrument(XRP))


def test_trade_is_the_recorded_fill_with_the_taker_side(all_streams: FeedRun) -> None:
    inst = all_streams.instrument(BTC)
    [t] = fixture("ws_trade.json")["data"]
    assert unstamped(all_streams.events, Trade) == [
        Trade(inst, t["T"] * MS, 0, inst.ticks(Decimal(t["p"])), inst.lots(Decimal(t["v"])),
              t["S"].lower(), t["i"])]


def test_mark_and_funding_come_from_the_recorded_ticker(all_streams: FeedRun) -> None:
    """Mark and index are rounded half-even to the tick (Bybit computes them finer); the
    rate applies at ``nextFundingTime``."""
    inst = all_streams.instrument(BTC)
    message = fixture("ws_ticker_linear.json")
    d = message["data"]
    assert unstamped(all_streams.events, MarkPrice) == [
        MarkPrice(inst, message["ts"] * MS, 0, half_even(inst, d["markPrice"]),
                  half_even(inst, d["indexPrice"]))]
    assert unstamped(all_streams.events, FundingRate) == [
        FundingRate(inst, int(d["nextFundingTime"]) * MS, 0, d["fundingRate"])]


def test_liquidation_is_the_forced_order_closing_the_recorded_position(
        all_streams: FeedRun) -> None:
    """Bybit names the liquidated position's side ("Buy": a long); heron the order's."""
    inst = all_streams.instrument(GALA)
    d = fixture("ws_liquidation.json")["data"]
    forced = {"Buy": OrderSide.SELL, "Sell": OrderSide.BUY}[d["side"]]
    assert unstamped(all_streams.events, Liquidation) == [
        Liquidation(inst, d["updatedTime"] * MS, 0, forced, inst.ticks(Decimal(d["price"])),
                    inst.lots(Decimal(d["size"])))]


def test_streams_with_data_went_live_and_nothing_failed(all_streams: FeedRun) -> None:
    session = all_streams.session
    live = {(h.symbol, h.stream) for h in all_streams.of(FeedHealth)
            if h.state is FeedState.LIVE}
    assert live == {("XRPUSDT", "book"), ("XRPUSDT", "quotes"), ("BTCUSDT", "trades"),
                    ("BTCUSDT", "mark"), ("BTCUSDT", "funding"),
                    ("GALAUSDT", "liquidations")}
    assert (session.parse_errors, session.ccxt_errors) == (0, 0)
    assert all(sub.reconnects == sub.gaps == 0 for sub in session.subscriptions)


# -- one stream, the CLI's path --------------------------------------------------------------
def test_the_venue_id_means_the_perpetual_through_run_feeds(profile: BybitProfile) -> None:
    """``BTCUSDT`` is both a spot pair and a perpetual; ccxt lists linear first, so the
    venue's own id resolves to the perpetual."""
    events: list[Any] = []
    with VenueServer(profile) as server:
        request = FeedRequest("bybit", ("BTCUSDT",), (Stream.TRADES,), endpoint=server.url)
        run = asyncio.run(run_feeds([request], events.append, count=1, duration_s=10))
        assert topics(server) == ["publicTrade.BTCUSDT"]
        assert {path for path, _ in sent(server)} == {"/v5/public/linear"}
    assert run.stopped_by == "count"
    [trade] = [e for e in events if isinstance(e, Trade)]
    assert trade.instrument.kind is InstrumentKind.LINEAR_PERPETUAL


# -- connection trouble ---------------------------------------------------------------------
def test_a_book_gap_drops_the_socket_and_the_new_snapshot_resyncs(
        profile: BybitProfile) -> None:
    """A delta left out after the snapshot: nothing past the hole is passed on, the
    session fails the socket, and the new subscription's snapshot starts the book again."""
    n_book = n_book_events()

    def again(r: FeedRun) -> bool:
        return len(book_of(r.split(FeedState.RECONNECTING)[1])) >= n_book

    run = run_feed(profile, BybitAdapter(), [XRP], [Stream.BOOK], until=again, subscribes=1,
                   during=_skip_a_delta, speed=10, backoff=lambda: Backoff(initial_s=0.05))
    [sub] = run.session.subscriptions
    assert (sub.gaps, sub.reconnects, run.server.connections) == (1, 1, 2)
    assert "book gap" in next(h.reason for h in run.of(FeedHealth)
                              if h.state is FeedState.RESYNCING)
    expected = expected_book(run.instrument(XRP))
    before, after = (book_of(part) for part in run.split(FeedState.RECONNECTING))
    assert before == expected[:len(before)] and len(before) < len(expected)
    assert after == expected


async def _skip_a_delta(run: FeedRun) -> None:
    await run.wait(lambda: bool(run.of(BookSnapshot)), "the snapshot")
    run.server.skip(BOOK_TOPIC)


def test_keepalive_pings_are_answered_and_the_connection_stays(
        profile: BybitProfile) -> None:
    """ccxt pings every ``keepAlive`` ms and drops a connection after two unanswered:
    Bybit's pong must get past heron's parser to ccxt."""
    def pinged(r: FeedRun) -> bool:
        return len(sent(r.server, "ping")) >= 4

    run = run_feed(profile, BybitAdapter(), [BTC], [Stream.TRADES], until=pinged, subscribes=1,
                   ccxt_config={"streaming": {"keepAlive": 150}})
    assert (run.session.subscriptions[0].reconnects, run.server.connections) == (0, 1)
    assert run.session.ccxt_errors == 0


def test_garbage_and_a_venue_refusal_are_counted_and_the_feed_goes_on(
        profile: BybitProfile) -> None:
    refusal = need(FIXTURES / "ws_subscription_failure.json").read_text()

    async def inject(run: FeedRun) -> None:
        run.server.inject("not json")
        run.server.inject(refusal)

    run = run_feed(profile, BybitAdapter(), [BTC], [Stream.TRADES, Stream.MARK],
                   until=lambda r: r.session.parse_errors >= 2 and bool(r.of(Trade))
                   and bool(r.of(MarkPrice)), subscribes=2, during=inject)
    # both counted; the refusal also reaches ccxt, which fails the subscriptions waiting
    # on the socket (they resubscribe): the data kept coming either way
    assert run.session.parse_errors == 2


class _Depth1000(BybitAdapter):
    """A book depth Bybit offers on spot only."""

    book_depth = 1000


def test_a_refused_subscription_is_logged_with_the_venues_reason(
        profile: BybitProfile, caplog: pytest.LogCaptureFixture) -> None:
    """The refusal is the parser's to report (ccxt would only fail the future): counted,
    logged with Bybit's text, and the stream does not go live."""
    run = run_feed(profile, _Depth1000(), [XRP], [Stream.BOOK],
                   until=lambda r: r.session.parse_errors >= 1, subscribes=1)
    assert "Invalid topic: orderbook.1000.XRPUSDT" in caplog.text
    assert not run.of(BookSnapshot) and run.session.subscriptions[0].state is not FeedState.LIVE


# -- spot -----------------------------------------------------------------------------------
def test_spot_loads_spot_and_subscribes_on_the_spot_socket_with_200_levels(
        profile: BybitProfile) -> None:
    """Nothing was recorded on spot: the test is the markets, the subscriptions and the
    instrument (Bybit's documented spot listing)."""
    [entry] = profile.instruments["spot"]["result"]["list"]
    run = run_feed(profile, BybitSpotAdapter(), ["BTCUSDT"],
                   [Stream.TRADES, Stream.BOOK, Stream.QUOTES], until=lambda r: True,
                   subscribes=3)
    assert listings(run.server) == [("spot", "")]
    assert {path for path, _ in sent(run.server)} == {"/v5/public/spot"}
    assert sorted(topics(run.server)) == [
        "orderbook.1.BTCUSDT", "orderbook.200.BTCUSDT", "publicTrade.BTCUSDT"]
    inst = run.instrument("BTC/USDT")
    assert (inst.symbol, inst.kind, inst.price_increment, inst.size_increment) == (
        "BTCUSDT", InstrumentKind.SPOT, Decimal(entry["priceFilter"]["tickSize"]),
        Decimal(entry["lotSizeFilter"]["basePrecision"]))
    assert run.session.parse_errors == 0


@pytest.mark.parametrize("stream", [Stream.MARK, Stream.FUNDING, Stream.LIQUIDATIONS])
def test_spot_refuses_derivatives_streams_with_the_reason(stream: Stream) -> None:
    with pytest.raises(InputError, match=f"bybitspot has no {stream.value} stream: .*"
                                         r"--venue bybit"):
        VenueSession(BybitSpotAdapter(), ["BTC/USDT"], [stream], lambda _: None)


def test_unknown_symbol_is_an_input_error_naming_close_matches(
        profile: BybitProfile) -> None:
    async def main(url: str) -> None:
        session = VenueSession(BybitAdapter(), ["BTC/USDT:USDC"], [Stream.TRADES],
                               lambda _: None, FeedOptions(endpoint=url))
        await session.open()

    with VenueServer(profile) as server, pytest.raises(InputError, match=r"BTC/USDT:USDT"):
        asyncio.run(main(server.url))
