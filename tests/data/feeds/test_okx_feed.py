"""OKX live feed end to end: ccxt.pro, through heron's session, against the venue emulator
(``heron.testing.venues.okx``) replaying the real 2022 recording and REST market lists.

Expected values are read here from the recorded JSON with ``json`` and ``Decimal``
(through ``Instrument.ticks``/``lots``), never with the parser. What the emulator builds
(the snapshot a subscribe gets, today's ``seqId`` numbering, ``bbo-tbt`` from the
recorded books, ``mark-price`` from a REST body, the documented liquidation push) is
built again here, independently, from the same inputs.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Callable, Sequence
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
from heron.model.book import L2Book
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
from heron.testing.venue_server import VenueServer, WsSession
from heron.testing.venues.okx import (
    LIQUIDATION_EXAMPLE,
    OkxProfile,
    mark_price_pushes,
    recorded_instruments,
)
from heron.venues.okx import BOOK_SEQUENCE
from heron.venues.okx.feed import OkxAdapter

DATA = SHARED_VENUES / "okx"
CAPTURE = DATA / "cryptofeed_ws_v5_public_2022-05-13.jsonl.gz"
REST = DATA / "cryptofeed_rest_instruments_2022-05-13.jsonl.gz"
FIXTURES = DATA / "fixtures"
SPOT, SWAP, IOST = "BTC/USDT", "BTC/USDT:USDT", "IOST/USDT:USDT"
MS = 1_000_000
E = TypeVar("E", bound=msgspec.Struct)
SPOT_STREAMS = (Stream.TRADES, Stream.BOOK, Stream.QUOTES)
SWAP_STREAMS = (Stream.FUNDING, Stream.MARK, Stream.LIQUIDATIONS)


def extra_pushes() -> list[str]:
    """Funding (the fixture), mark (from the REST fixture), the documented liquidation."""
    return [need(FIXTURES / "ws_funding_rate.json").read_text(),
            *mark_price_pushes(need(FIXTURES / "http_get_mark_price.json").read_bytes()),
            LIQUIDATION_EXAMPLE]


@pytest.fixture(scope="module")
def numbered() -> OkxProfile:
    """The recording with its books numbered as OKX numbers them today."""
    return OkxProfile(recorded_instruments(need(REST)), capture=need(CAPTURE),
                      extra=extra_pushes(), number_books=True)


@pytest.fixture(scope="module")
def as_recorded() -> OkxProfile:
    """The recording as it is: 2022 book pushes carry no ``seqId``."""
    return OkxProfile(recorded_instruments(need(REST)), capture=need(CAPTURE))


# -- the recordings, read independently ---------------------------------------------------
def pushes(channel: str, inst_id: str) -> list[dict[str, Any]]:
    with gzip.open(need(CAPTURE), "rt") as lines:
        entries = [json.loads(line) for line in lines]
    messages = [json.loads(e["raw"]) for e in entries if e["dir"] == "recv"]
    return [m for m in messages
            if "data" in m and m["arg"] == {"channel": channel, "instId": inst_id}]


def rest_row(inst_id: str) -> dict[str, Any]:
    with gzip.open(need(REST), "rt") as lines:
        for line in lines:
            entry = json.loads(line)
            for row in json.loads(entry["raw"] or "{}").get("data", []):
                if row["instId"] == inst_id:
                    return dict(row)
    raise AssertionError(f"{inst_id} not recorded")


def ticks(i: Instrument, text: str) -> int:
    return i.ticks(Decimal(text))


def lots(i: Instrument, text: str) -> int:
    return i.lots(Decimal(text))


def half_even(i: Instrument, text: str) -> int:
    return int((Decimal(text) / i.price_increment).to_integral_value(ROUND_HALF_EVEN))


def levels(i: Instrument, rows: list[list[str]]) -> tuple[tuple[int, int], ...]:
    return tuple((ticks(i, p), lots(i, q)) for p, q, *_ in rows)


def expected_trades(i: Instrument) -> list[Trade]:
    return [Trade(i, int(r["ts"]) * MS, 0, ticks(i, r["px"]), lots(i, r["sz"]), r["side"],
                  r["tradeId"]) for m in pushes("trades", "BTC-USDT") for r in m["data"]]


def expected_book(i: Instrument) -> list[BookSnapshot | BookDelta]:
    """The recorded snapshot then every update, numbered ``seqId`` 1, 2, ... in order."""
    snap, *updates = pushes("books", "BTC-USDT")
    row = snap["data"][0]
    out: list[BookSnapshot | BookDelta] = [BookSnapshot(
        i, int(row["ts"]) * MS, 0, levels(i, row["bids"]), levels(i, row["asks"]), 1)]
    for seq, push in enumerate(updates, start=2):
        row = push["data"][0]
        changed = ([(BookSide.BID, p, q) for p, q, *_ in row["bids"]]
                   + [(BookSide.ASK, p, q) for p, q, *_ in row["asks"]])
        out += [BookDelta(i, int(row["ts"]) * MS, 0, side, ticks(i, p), lots(i, q), seq,
                          n == len(changed) - 1, None, seq - 1)
                for n, (side, p, q) in enumerate(changed)]
    return out


class TextBook:
    """A reference book in OKX's own text, keyed by ``Decimal`` price."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, list[str]] = {}
        self.asks: dict[Decimal, list[str]] = {}

    def apply(self, row: dict[str, Any]) -> None:
        for side, rows in ((self.bids, row["bids"]), (self.asks, row["asks"])):
            for level in rows:
                if Decimal(level[1]) == 0:
                    side.pop(Decimal(level[0]), None)
                else:
                    side[Decimal(level[0])] = level

    def sorted(self) -> tuple[list[list[str]], list[list[str]]]:
        return ([self.bids[p] for p in sorted(self.bids, reverse=True)],
                [self.asks[p] for p in sorted(self.asks)])

    def checksum(self) -> int:
        """OKX's: CRC32 of ``bid:size:ask:size:...`` over the top 25, signed."""
        bids, asks = self.sorted()
        parts = [x for n in range(25) for side in (bids, asks) if n < len(side)
                 for x in side[n][:2]]
        crc = zlib.crc32(":".join(parts).encode())
        return crc - (1 << 32) if crc >= 1 << 31 else crc


def recorded_final_book() -> tuple[TextBook, int]:
    """BTC-USDT's book after the last recorded push, and the checksum OKX sent with it."""
    book = TextBook()
    books = pushes("books", "BTC-USDT")
    for push in books:
        book.apply(push["data"][0])
    return book, books[-1]["data"][0]["checksum"]


def expected_quotes(i: Instrument) -> list[Quote]:
    """One quote per recorded book push that changed the best level of a side."""
    book, last, out = TextBook(), None, []
    for push in pushes("books", "BTC-USDT"):
        row = push["data"][0]
        book.apply(row)
        bids, asks = book.sorted()
        top = (bids[0], asks[0])
        if top != last:
            (bid, bid_sz, *_), (ask, ask_sz, *_) = top
            out.append(Quote(i, int(row["ts"]) * MS, 0, ticks(i, bid), ticks(i, ask),
                             lots(i, bid_sz), lots(i, ask_sz)))
        last = top
    return out


def unstamped(events: Sequence[Any], kind: type[E]) -> list[E]:
    """Events of ``kind`` with the receive time zeroed (it is the test run's clock)."""
    return [msgspec.structs.replace(e, ts_recv=0) for e in events if isinstance(e, kind)]


def book_events(events: Sequence[Any]) -> list[BookSnapshot | BookDelta]:
    return [msgspec.structs.replace(e, ts_recv=0) for e in events
            if isinstance(e, BookSnapshot | BookDelta)]


# -- running a session against the emulator ------------------------------------------------
def feed(profile: OkxProfile, symbols: Sequence[str], streams: Sequence[Stream],
         until: Callable[[FeedRun], bool], *, subscribes: int | None = None,
         **kwargs: Any) -> FeedRun:
    """OKX's session until ``until``, every frame's text kept; data flows once the
    subscribes are in (one a symbol and stream unless ``subscribes`` says)."""
    return run_feed(profile, OkxAdapter(), symbols, streams, until=until,
                    subscribes=subscribes or len(symbols) * len(streams), keep_frames=True,
                    **kwargs)


def after_reconnect(run: FeedRun) -> list[Any]:
    """Events from the first reconnect reported on."""
    return run.split(FeedState.RECONNECTING)[1]


def n_quotes() -> int:
    """How many quotes :func:`expected_quotes` gives (top-of-book changes)."""
    book, last, n = TextBook(), None, 0
    for push in pushes("books", "BTC-USDT"):
        book.apply(push["data"][0])
        bids, asks = book.sorted()
        top = (bids[0], asks[0])
        n += top != last
        last = top
    return n


def n_trades() -> int:
    return sum(len(m["data"]) for m in pushes("trades", "BTC-USDT"))


def n_deltas() -> int:
    """Levels in BTC-USDT's recorded book updates (the snapshot's not counted)."""
    return sum(len(m["data"][0]["bids"]) + len(m["data"][0]["asks"])
               for m in pushes("books", "BTC-USDT")[1:])


@pytest.fixture(scope="module")
def spot_run(numbered: OkxProfile) -> FeedRun:
    """Trades, book and quotes of BTC-USDT until the whole recording is through."""
    trades, deltas, quotes = n_trades(), n_deltas(), n_quotes()
    return feed(numbered, [SPOT], SPOT_STREAMS,  # every stream through: none cut short
                lambda r: len(r.of(Trade)) >= trades and len(r.of(BookDelta)) >= deltas
                and len(r.of(Quote)) >= quotes)


@pytest.fixture(scope="module")
def swap_run(numbered: OkxProfile) -> FeedRun:
    """Funding, mark and liquidations of two swaps: one liquidation subscription."""
    return feed(numbered, [SWAP, IOST], SWAP_STREAMS, subscribes=5,
                until=lambda r: len(r.of(Liquidation)) >= 2 and len(r.of(MarkPrice)) >= 1
                and len(r.of(FundingRate)) >= 1)


# -- markets --------------------------------------------------------------------------------
def test_markets_load_spot_swap_and_futures_lists_with_the_recorded_grids(
        spot_run: FeedRun, swap_run: FeedRun) -> None:
    """Options are not asked for: heron holds spot pairs and linear perpetuals."""
    asked = [q["instType"] for method, path, q in spot_run.server.requests]
    assert sorted(asked) == ["FUTURES", "SPOT", "SWAP"]
    spot, swap = rest_row("BTC-USDT"), rest_row("BTC-USDT-SWAP")
    inst = spot_run.instrument(SPOT)
    assert (inst.symbol, inst.venue, inst.kind) == ("BTC-USDT", "OKX", InstrumentKind.SPOT)
    assert (inst.price_increment, inst.size_increment, inst.multiplier) == (
        Decimal(spot["tickSz"]), Decimal(spot["lotSz"]), Decimal(1))
    perp = swap_run.instrument(SWAP)
    assert (perp.symbol, perp.kind) == ("BTC-USDT-SWAP", InstrumentKind.LINEAR_PERPETUAL)
    assert (perp.price_increment, perp.size_increment, perp.multiplier) == (
        Decimal(swap["tickSz"]), Decimal(swap["lotSz"]), Decimal(swap["ctVal"]))


# -- every stream, values against the recording --------------------------------------------
def test_subscribes_are_okxs_own_requests_one_per_channel(spot_run: FeedRun,
                                                          swap_run: FeedRun) -> None:
    """Two swaps' liquidations share one per-type subscription."""
    args = [arg for r in (spot_run, swap_run) for m in r.server.subscribes()
            for arg in m["args"]]
    assert sorted(args, key=json.dumps) == sorted([
        {"channel": "trades", "instId": "BTC-USDT"},
        {"channel": "books", "instId": "BTC-USDT"},
        {"channel": "bbo-tbt", "instId": "BTC-USDT"},
        *({"channel": c, "instId": i} for c in ("funding-rate", "mark-price")
          for i in ("BTC-USDT-SWAP", "IOST-USDT-SWAP")),
        {"channel": "liquidation-orders", "instType": "SWAP"}], key=json.dumps)
    acks = [json.loads(t) for t in spot_run.frames + swap_run.frames if '"event":"subscribe"' in t]
    assert sorted((a["arg"] for a in acks), key=json.dumps) == sorted(args, key=json.dumps)
    assert all(a["connId"] for a in acks)


def test_trades_are_the_recorded_trades_in_order(spot_run: FeedRun) -> None:
    assert unstamped(spot_run.events, Trade) == expected_trades(spot_run.instrument(SPOT))


def test_book_is_the_snapshot_then_every_update_linked_by_seq_id(spot_run: FeedRun) -> None:
    """The subscribe's snapshot, then each update's levels (bids first), ``is_last`` on
    its last level, ``prev_sequence`` the ``seqId`` before."""
    assert book_events(spot_run.events) == expected_book(spot_run.instrument(SPOT))


def test_quotes_are_the_recorded_books_best_levels(spot_run: FeedRun) -> None:
    assert unstamped(spot_run.events, Quote) == expected_quotes(spot_run.instrument(SPOT))


def test_funding_and_mark_are_the_pushed_values(swap_run: FeedRun) -> None:
    """The rate as sent, at the funding time; the mark rounded half-even to the tick."""
    perp = swap_run.instrument(SWAP)
    funding = json.loads(need(FIXTURES / "ws_funding_rate.json").read_text())["data"][0]
    mark = json.loads(need(FIXTURES / "http_get_mark_price.json").read_text())["data"][0]
    assert unstamped(swap_run.events, FundingRate) == [
        FundingRate(perp, int(funding["fundingTime"]) * MS, 0, funding["fundingRate"])]
    assert unstamped(swap_run.events, MarkPrice) == [
        MarkPrice(perp, int(mark["ts"]) * MS, 0, half_even(perp, mark["markPx"]))]


def test_liquidations_are_one_per_forced_order_at_the_bankruptcy_price(swap_run: FeedRun) -> None:
    iost = swap_run.instrument(IOST)
    [row] = json.loads(LIQUIDATION_EXAMPLE)["data"]
    assert unstamped(swap_run.events, Liquidation) == [
        Liquidation(iost, int(d["ts"]) * MS, 0, OrderSide(d["side"]), half_even(iost, d["bkPx"]),
                    lots(iost, d["sz"])) for d in row["details"]]


def test_every_stream_with_data_went_live_with_no_errors(spot_run: FeedRun,
                                                        swap_run: FeedRun) -> None:
    live = {(h.symbol, h.stream) for r in (spot_run, swap_run) for h in r.of(FeedHealth)
            if h.state is FeedState.LIVE}
    assert live == {("BTC-USDT", s.value) for s in SPOT_STREAMS} | {
        ("BTC-USDT-SWAP", "funding"), ("BTC-USDT-SWAP", "mark"),
        ("IOST-USDT-SWAP", "liquidations")}  # nothing was recorded for the others
    for run in (spot_run, swap_run):
        assert (run.session.parse_errors, run.session.ccxt_errors) == (0, 0)
        assert all(s.reconnects == s.gaps == 0 for s in run.session.subscriptions)


def test_other_swaps_liquidations_are_skipped_not_errors(numbered: OkxProfile) -> None:
    """``liquidation-orders`` is per type: BTC-USDT-SWAP's subscription gets IOST's."""
    run = feed(numbered, [SWAP], [Stream.LIQUIDATIONS],
               lambda r: any('"liquidation-orders","instType"' in t and '"data"' in t
                             for t in r.frames))
    assert not run.of(Liquidation)
    assert (run.session.parse_errors, run.session.ccxt_errors) == (0, 0)


def test_trades_alone_subscribe_trades_alone_through_run_feeds(numbered: OkxProfile) -> None:
    """The CLI's path (venue name -> adapter): stops on the count of recorded trades."""
    events: list[Any] = []
    with VenueServer(numbered) as server:
        request = FeedRequest("okx", (SPOT,), (Stream.TRADES,), endpoint=server.url)
        run = asyncio.run(run_feeds([request], events.append, count=n_trades(),
                                    duration_s=10))
        assert [m["args"] for m in server.subscribes()] == [
            [{"channel": "trades", "instId": "BTC-USDT"}]]
    assert run.stopped_by == "count"
    assert [e.trade_id for e in events if isinstance(e, Trade)] == [
        t.trade_id for t in expected_trades(run.sessions[0].instruments[0])]


# -- book sequencing --------------------------------------------------------------------------
def test_a_missed_update_resubscribes_and_the_new_snapshot_rebuilds_the_book(
        numbered: OkxProfile) -> None:
    """The first update is lost: the second does not link, the session fails the
    connection, and the resubscribe's snapshot and updates end on OKX's last checksum."""
    deltas = n_deltas()
    run = feed(numbered, [SPOT], [Stream.BOOK],
               lambda r: len([e for e in after_reconnect(r) if type(e) is BookDelta]) >= deltas,
               before=lambda server: server.skip("books:BTC-USDT", 1),
               backoff=lambda: Backoff(initial_s=0.05))
    [sub] = run.session.subscriptions
    assert (sub.gaps, sub.reconnects, run.server.connections) == (1, 1, 2)
    [gap] = [h for h in run.of(FeedHealth) if h.state is FeedState.RESYNCING]
    assert gap.reason == "book gap: last applied 1, next message 3..3 (prev 2)"
    assert not [e for e in run.events[:run.events.index(gap)] if type(e) is BookDelta]
    inst = run.instrument(SPOT)
    book = L2Book(inst, BOOK_SEQUENCE)
    again = [e for e in after_reconnect(run) if isinstance(e, BookSnapshot | BookDelta)]
    assert book_events(again) == expected_book(inst)
    for event in again:
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event)
        else:
            book.apply_delta(event)
    reference, okx_checksum = recorded_final_book()
    bids, asks = reference.sorted()
    assert reference.checksum() == okx_checksum
    assert book.levels(BookSide.BID) == list(levels(inst, bids))
    assert book.levels(BookSide.ASK) == list(levels(inst, asks))
    assert (book.gaps, book.stale_messages) == (0, 0)


def test_2022_updates_without_seq_id_never_pass_unproven(as_recorded: OkxProfile) -> None:
    """Pushes from before ``seqId`` cannot show they follow on: every connection gives the
    snapshot, its first update is a gap, and the session resubscribes rather than pass a
    delta it cannot vouch for. (Live OKX numbers every push today.)"""
    run = feed(as_recorded, [SPOT], [Stream.BOOK], lambda r: len(r.of(BookSnapshot)) >= 3,
               backoff=lambda: Backoff(initial_s=0.02, jitter=0.0))
    [snap, *_] = pushes("books", "BTC-USDT")
    row = snap["data"][0]
    inst = run.instrument(SPOT)
    recorded = BookSnapshot(inst, int(row["ts"]) * MS, 0, levels(inst, row["bids"]),
                            levels(inst, row["asks"]), int(row["ts"]))
    snapshots = unstamped(run.events, BookSnapshot)
    assert snapshots == [recorded] * len(snapshots)
    assert not run.of(BookDelta)
    assert run.session.subscriptions[0].gaps >= 2 and run.server.connections >= 3
    reasons = {h.reason for h in run.of(FeedHealth) if h.state is FeedState.RESYNCING}
    assert all(r.startswith(f"book gap: last applied {row['ts']}") and r.endswith("(prev None)")
               for r in reasons)


# -- connection trouble ---------------------------------------------------------------------
def test_keepalive_pings_are_answered_and_the_connection_stays(numbered: OkxProfile) -> None:
    """ccxt sends OKX's text ``ping`` every ``keepAlive`` ms and drops a connection after
    two unanswered: the ``pong`` must get past heron's parser to ccxt."""
    run = feed(numbered, [SPOT], [Stream.TRADES], lambda r: r.frames.count("pong") >= 4,
               ccxt_config={"streaming": {"keepAlive": 150}})
    assert (run.session.subscriptions[0].reconnects, run.server.connections) == (0, 1)
    assert run.session.ccxt_errors == 0
    assert sum(text == "ping" for _, text in run.server.received) >= 4


def test_garbage_and_venue_errors_are_counted_and_the_feed_goes_on(
        numbered: OkxProfile) -> None:
    trades = n_trades()
    error = ('{"event":"error","code":"60018","msg":"Wrong URL or channel:trades,instId:'
             'X-Y doesn\'t exist.","connId":"a4d3ae55"}')

    def inject(server: VenueServer) -> None:
        server.inject("not json")
        server.inject(error)

    run = feed(numbered, [SPOT], [Stream.TRADES],
               lambda r: len(r.of(Trade)) >= trades and r.session.parse_errors >= 2,
               before=inject)
    assert (run.session.parse_errors, run.session.ccxt_errors) == (2, 0)
    assert unstamped(run.events, Trade) == expected_trades(run.instrument(SPOT))


# -- what the user is told ------------------------------------------------------------------
def _open(profile: OkxProfile, symbol: str, streams: Sequence[Stream]) -> None:
    async def main(url: str) -> None:
        session = VenueSession(OkxAdapter(), [symbol], streams, lambda _: None,
                               FeedOptions(endpoint=url))
        await session.open()
        await session.stop()

    with VenueServer(profile) as server:
        asyncio.run(main(server.url))


def test_unknown_symbol_is_an_input_error_naming_close_matches(numbered: OkxProfile) -> None:
    with pytest.raises(InputError, match=r"closest: .*BTC/USDT"):
        _open(numbered, "BTC/USDX", [Stream.TRADES])


def test_a_future_is_refused_as_a_kind_heron_does_not_hold(numbered: OkxProfile) -> None:
    with pytest.raises(InputError, match="spot markets and linear perpetuals only"):
        _open(numbered, "BTC-USD-220527", [Stream.TRADES])


def test_funding_mark_and_liquidations_of_a_spot_pair_are_refused_with_the_reason(
        numbered: OkxProfile) -> None:
    """Refused at start, before anything is subscribed, with the reason."""
    adapter = OkxAdapter()
    for stream in (Stream.FUNDING, Stream.MARK, Stream.LIQUIDATIONS):
        with pytest.raises(InputError, match=f"okx has no {stream.value} stream for BTC/USDT"):
            adapter.check_market(stream, {"symbol": SPOT, "type": "spot", "swap": False})

    async def main(url: str) -> None:
        session = VenueSession(OkxAdapter(), [SPOT], [Stream.TRADES, Stream.FUNDING],
                               lambda event: None, FeedOptions(endpoint=url))
        with pytest.raises(InputError, match="perpetual swaps"):
            await session.open()

    with VenueServer(numbered) as server:
        asyncio.run(main(server.url))
        assert server.subscribes() == []


def test_todays_instrument_lists_load_and_unlisted_types_are_empty() -> None:
    """The current REST shape (``instFamily``, ``instIdCode``...) for swaps and futures;
    nothing was recorded for spot, which the emulator answers with an empty list."""
    bodies = {("SWAP", ""): need(FIXTURES / "http_get_instruments_swap.json").read_bytes(),
              ("FUTURES", ""): need(FIXTURES / "http_get_instruments_futures.json").read_bytes()}
    funding = need(FIXTURES / "ws_funding_rate.json").read_text()
    profile = OkxProfile(bodies, extra=[funding])
    run = feed(profile, [SWAP], [Stream.FUNDING], lambda r: len(r.of(FundingRate)) >= 1)
    listed = next(r for r in json.loads(bodies[("SWAP", "")])["data"]
                  if r["instId"] == "BTC-USDT-SWAP")
    perp = run.instrument(SWAP)
    assert (perp.size_increment, perp.multiplier) == (Decimal(listed["lotSz"]),
                                                      Decimal(listed["ctVal"]))
    assert [e.rate for e in run.of(FundingRate)] == [json.loads(funding)["data"][0]["fundingRate"]]
    with pytest.raises(InputError, match="no market 'BTC/USDT'"):
        _open(profile, SPOT, [Stream.TRADES])


def test_the_emulator_answers_subscribe_ping_and_refusals_as_okx_does(
        numbered: OkxProfile) -> None:
    """Acks echo the arg with a ``connId``; what the served lists lack is OKX's 60018."""
    session = WsSession("/ws/v5/public", {})
    numbered.on_open(session)
    known = {"channel": "books", "instId": "BTC-USDT"}
    numbered.on_message(session, json.dumps(
        {"op": "subscribe", "args": [known, {"channel": "trades", "instId": "NOPE-USDT"},
                                     {"channel": "funding-rate", "instId": "BTC-USDT"}]}))
    numbered.on_message(session, "ping")
    numbered.on_message(session, json.dumps({"op": "unsubscribe", "args": [known]}))
    numbered.on_message(session, "hello")
    replies: list[Any] = [m if m == "pong" else json.loads(m) for m in session.outbox]
    ack, nope, spot_funding, pong, unsub, garbage = replies
    conn = ack["connId"]
    assert ack == {"event": "subscribe", "arg": known, "connId": conn}
    assert (nope["event"], nope["code"], spot_funding["code"]) == ("error", "60018", "60018")
    assert nope["msg"].startswith("Wrong URL or channel:trades,instId:NOPE-USDT doesn't exist")
    assert pong == "pong"
    assert unsub == {"event": "unsubscribe", "arg": known, "connId": conn}
    assert (garbage["code"], session.topics) == ("60012", set())
