"""The live feed's pure parts: backoff, book sync, the envelope, stream and CLI parsing,
the adapter's subscribe table.

No network and no ccxt: these are the rules the integration tests rely on, pinned one
by one so a failure there points at the rule that broke.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from heron.cli.feed import requests_from
from heron.data.feeds.adapter import VenueAdapter
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.book_sync import BookSync
from heron.data.feeds.envelope import EnvelopeWriter
from heron.data.feeds.session import endpoint_urls
from heron.data.feeds.streams import Stream, parse_streams
from heron.errors import InputError, InvalidConfiguration
from heron.model.book import ContiguousSequence, LinkedSequence, SequenceRule
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    OpenInterest,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide

BTC = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.10"), size_increment=Decimal("0.001"))


# -- Backoff ---------------------------------------------------------------------------------
def test_backoff_without_jitter_doubles_then_stops_at_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, cap_s=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff.attempts == 6


def test_backoff_jitter_stays_in_its_range_and_follows_the_seeded_rng() -> None:
    backoff = Backoff(initial_s=1.0, factor=3.0, cap_s=20.0, jitter=0.4,
                      rng=random.Random(7))
    draws = random.Random(7)
    for n in range(8):
        base = min(20.0, 3.0**n)
        delay = backoff.next_delay()
        assert (1 - 0.4) * base <= delay <= base
        assert delay == base * (1.0 - 0.4 * draws.random())


def test_backoff_jitter_draws_spread_across_the_range() -> None:
    backoff = Backoff(initial_s=10.0, factor=1.0, cap_s=10.0, jitter=0.5,
                      rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(200)]
    assert min(delays) < 5.5 and max(delays) > 9.5  # the whole [5, 10] band is used
    assert all(5.0 <= d <= 10.0 for d in delays)


def test_backoff_resets_only_after_a_long_enough_connection() -> None:
    backoff = Backoff(initial_s=0.5, jitter=0.0, reset_after_s=60.0)
    for _ in range(3):
        backoff.next_delay()
    backoff.connected_for(59.9)
    assert backoff.attempts == 3
    assert backoff.next_delay() == 4.0
    backoff.connected_for(60.0)
    assert backoff.attempts == 0
    assert backoff.next_delay() == 0.5


# -- BookSync --------------------------------------------------------------------------------
def message(first: int, last: int, prev: int | None, *levels: tuple[BookSide, int, int]
            ) -> list[BookDelta]:
    """One venue message ``first..last`` (``prev``: the id before it), one delta a level."""
    out = [BookDelta(BTC, last, last, side, price, size, last, False, first, prev)
           for side, price, size in levels or ((BookSide.BID, 100, 1),)]
    out[-1] = BookDelta(BTC, last, last, out[-1].side, out[-1].price, out[-1].size, last,
                        True, first, prev)
    return out


def snapshot(sequence: int) -> BookSnapshot:
    return BookSnapshot(BTC, sequence, sequence, ((100, 5),), ((101, 5),), sequence)


class Recorder:
    """What a BookSync passed on, and the gaps it reported."""

    def __init__(self, rule: SequenceRule | None, *, hold: bool) -> None:
        self.out: list[object] = []
        self.gaps: list[str] = []
        self.sync = BookSync(rule, hold_before_snapshot=hold, emit=self.out.append,
                             on_gap=self.gaps.append)

    def feed(self, *messages: list[BookDelta]) -> None:
        for msg in messages:
            for delta in msg:
                self.sync.delta(delta)

    def sequences(self) -> list[tuple[str, int]]:
        return [(type(e).__name__, e.sequence) for e in self.out  # type: ignore[attr-defined]
                if not isinstance(e, BookDelta) or e.is_last]


def test_book_sync_holds_deltas_until_the_rest_snapshot_then_replays_what_follows() -> None:
    rec = Recorder(LinkedSequence(), hold=True)
    old, straddling, next_one = message(1, 10, 0), message(11, 20, 10), message(21, 30, 20)
    rec.feed(old, straddling, next_one)
    assert rec.out == [] and not rec.sync.synced
    rec.sync.snapshot(snapshot(15))
    assert rec.sequences() == [("BookSnapshot", 15), ("BookDelta", 20), ("BookDelta", 30)]
    assert rec.out[1:] == straddling + next_one
    assert rec.sync.dropped == 1 and rec.sync.last == 30 and rec.gaps == []
    rec.feed(message(31, 40, 30))
    assert rec.sequences()[-1] == ("BookDelta", 40)


def test_book_sync_judges_a_message_at_its_last_level() -> None:
    rec = Recorder(LinkedSequence(), hold=True)
    rec.sync.snapshot(snapshot(10))
    three = message(11, 20, 10, (BookSide.BID, 99, 1), (BookSide.ASK, 102, 2),
                    (BookSide.ASK, 103, 0))
    for delta in three[:2]:
        rec.sync.delta(delta)
    assert rec.out == [snapshot(10)]  # nothing of a message passes before its end
    rec.sync.delta(three[2])
    assert rec.out[1:] == three


def test_book_sync_drops_replayed_messages_after_the_snapshot() -> None:
    rec = Recorder(LinkedSequence(), hold=True)
    rec.sync.snapshot(snapshot(10))
    rec.feed(message(11, 20, 10), message(11, 20, 10), message(5, 9, 4))
    assert rec.sequences() == [("BookSnapshot", 10), ("BookDelta", 20)]
    assert rec.sync.dropped == 2 and rec.gaps == []


def test_book_sync_gap_stops_the_stream_until_the_next_snapshot() -> None:
    rec = Recorder(LinkedSequence(), hold=True)
    rec.sync.snapshot(snapshot(10))
    rec.feed(message(11, 20, 10), message(31, 40, 30), message(41, 50, 40))
    assert rec.sequences() == [("BookSnapshot", 10), ("BookDelta", 20)]
    assert len(rec.gaps) == 1 and "last applied 20" in rec.gaps[0] and "31..40" in rec.gaps[0]
    assert rec.sync.gaps == 1 and not rec.sync.synced
    rec.sync.snapshot(snapshot(45))  # the held messages after the gap replay on it
    assert rec.sequences()[2:] == [("BookSnapshot", 45), ("BookDelta", 50)]
    assert rec.sync.synced and len(rec.gaps) == 1


def test_book_sync_socket_snapshot_venue_drops_deltas_before_and_after_a_gap() -> None:
    rec = Recorder(ContiguousSequence(), hold=False)
    rec.feed(message(1, 1, None))
    assert rec.out == [] and rec.sync.dropped == 1
    rec.sync.snapshot(snapshot(1))
    rec.feed(message(2, 2, None), message(4, 4, None), message(5, 5, None))
    assert rec.sequences() == [("BookSnapshot", 1), ("BookDelta", 2)]
    assert len(rec.gaps) == 1 and rec.sync.dropped == 2
    rec.sync.snapshot(snapshot(7))
    rec.feed(message(8, 8, None))
    assert rec.sequences()[2:] == [("BookSnapshot", 7), ("BookDelta", 8)]


def test_book_sync_reset_waits_for_a_new_snapshot() -> None:
    rec = Recorder(LinkedSequence(), hold=True)
    rec.sync.snapshot(snapshot(10))
    rec.sync.reset()
    rec.feed(message(11, 20, 10))
    assert rec.out == [snapshot(10)] and not rec.sync.synced


def test_book_sync_whole_snapshot_venues_pass_straight_through() -> None:
    rec = Recorder(None, hold=False)
    assert rec.sync.synced
    first, unrelated = message(1, 1, None), message(99, 99, None)
    rec.feed(first, unrelated)
    assert rec.out == first + unrelated and rec.gaps == []


# -- envelope --------------------------------------------------------------------------------
def line(event: object) -> dict[str, Any]:
    raw = EnvelopeWriter().encode(event)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def envelope(stream: str, kind: str, data: dict[str, Any], *, ts: int = 5,
             symbol: str = "BTCUSDT") -> dict[str, Any]:
    return {"venue": "binanceusdm", "symbol": symbol, "stream": stream, "type": kind,
            "ts_event": ts, "ts_recv": ts + 1, "data": data}


def test_envelope_trade_and_quote_write_ticks_and_lots_as_exact_decimals() -> None:
    trade = Trade(BTC, 5, 6, 618002, 6, "buy", "5266583935")
    assert line(trade) == envelope("trades", "trade", {
        "price": "61800.2", "size": "0.006", "aggressor": "buy", "trade_id": "5266583935"})
    quote = Quote(BTC, 5, 6, 618002, 618003, 2507, 0, 5123107839020)
    assert line(quote) == envelope("quotes", "quote", {
        "bid": "61800.2", "ask": "61800.3", "bid_size": "2.507", "ask_size": "0.000",
        "sequence": 5123107839020})


def test_envelope_book_snapshot_and_delta() -> None:
    snap = BookSnapshot(BTC, 5, 6, ((618002, 2909), (618001, 696)), ((618003, 1),), 77)
    assert line(snap) == envelope("book", "book_snapshot", {
        "bids": [["61800.2", "2.909"], ["61800.1", "0.696"]], "asks": [["61800.3", "0.001"]],
        "sequence": 77})
    delta = BookDelta(BTC, 5, 6, BookSide.ASK, 618003, 0, 90, True, 80, 77)
    assert line(delta) == envelope("book", "book_delta", {
        "side": "ask", "price": "61800.3", "size": "0.000", "sequence": 90,
        "first_sequence": 80, "prev_sequence": 77, "is_last": True})


def test_envelope_funding_mark_and_liquidation() -> None:
    assert line(FundingRate(BTC, 5, 6, "0.00038167")) == envelope(
        "funding", "funding", {"rate": "0.00038167"})
    assert line(MarkPrice(BTC, 5, 6, 117942, 117846)) == envelope(
        "mark", "mark", {"mark": "11794.2", "index": "11784.6"})
    assert line(MarkPrice(BTC, 5, 6, 117942))["data"] == {"mark": "11794.2", "index": None}
    assert line(Liquidation(BTC, 5, 6, OrderSide.SELL, 99100, 14)) == envelope(
        "liquidations", "liquidation", {"side": "sell", "price": "9910.0", "size": "0.014"})


def test_envelope_health_line_is_measured_when_written() -> None:
    health = FeedHealth(ts=9, venue="binanceusdm", symbol="BTCUSDT", stream="book",
                        state=FeedState.RESYNCING, last_message_age_ns=-1, messages=3,
                        reconnects=1, gaps=2, parse_errors=4, reason="book gap")
    assert line(health) == {
        "venue": "binanceusdm", "symbol": "BTCUSDT", "stream": "book", "type": "health",
        "ts_event": 9, "ts_recv": 9, "data": {
            "state": "resyncing", "reason": "book gap", "last_message_age_ns": -1,
            "messages": 3, "reconnects": 1, "gaps": 2, "parse_errors": 4}}


@pytest.mark.parametrize(("tick", "lot", "ticks", "lots", "price", "size"), [
    ("0.5", "1", 123457, 3, "61728.5", "3"),
    ("0.5", "1", 2, 0, "1.0", "0"),
    ("10", "0.01", 6180, 150, "61800", "1.50"),
    ("10", "0.01", 0, 1, "0", "0.01"),
    ("0.01", "0.00000001", 6180020, 1, "61800.20", "0.00000001"),
    ("0.0001", "0.00001", 1, 0, "0.0001", "0.00000"),
    ("1", "1000", 61800, 7, "61800", "7000"),
])
def test_envelope_decimals_on_any_grid(tick: str, lot: str, ticks: int, lots: int,
                                       price: str, size: str) -> None:
    inst = Instrument(symbol="X", venue="OKX", price_increment=Decimal(tick),
                      size_increment=Decimal(lot))
    data = line(Trade(inst, 1, 2, ticks, lots, "sell", "7"))["data"]
    assert (data["price"], data["size"]) == (price, size)
    assert Decimal(data["price"]) == ticks * Decimal(tick)
    assert Decimal(data["size"]) == lots * Decimal(lot)
    assert line(Trade(inst, 1, 2, ticks, lots, "sell", "7"))["venue"] == "okx"


class VenueTrade(Trade, frozen=True, gc=False):
    """A venue's own kind of trade: the session routes it by its model type, and so must
    the envelope."""


def test_envelope_writes_a_venue_subclass_as_its_model_type() -> None:
    trade = VenueTrade(BTC, 5, 6, 618002, 6, "sell", "1")
    assert line(trade) == line(Trade(BTC, 5, 6, 618002, 6, "sell", "1"))


def test_envelope_refuses_an_event_it_has_no_line_for() -> None:
    with pytest.raises(TypeError, match="no line for a OpenInterest"):
        EnvelopeWriter().encode(OpenInterest(BTC, 5, 6, 10))


# -- streams and the CLI's grouping -----------------------------------------------------------
def test_parse_streams_keeps_order_and_drops_repeats() -> None:
    assert parse_streams(" book, trades,book,,quotes ") == [Stream.BOOK, Stream.TRADES,
                                                            Stream.QUOTES]


@pytest.mark.parametrize(("text", "message"), [
    ("trade", "unknown stream 'trade'; choose from trades, book, quotes, funding, mark, "
              "liquidations"),
    ("trades,depth", "unknown stream 'depth'"),
    ("", "no stream given; pass --streams"),
    (" , ", "no stream given"),
])
def test_parse_streams_errors_name_the_fix(text: str, message: str) -> None:
    with pytest.raises(InputError, match="^" + message.replace("(", r"\(")):
        parse_streams(text)


def test_requests_from_pairs_groups_by_position() -> None:
    reqs = requests_from(["binanceusdm", "okx"], ["BTC/USDT:USDT, ETH/USDT:USDT", "BTC-USDT"],
                         ["trades,book", "quotes"], ["http://a:1", "http://b:2"])
    assert [(r.venue, r.symbols, r.streams, r.endpoint) for r in reqs] == [
        ("binanceusdm", ("BTC/USDT:USDT", "ETH/USDT:USDT"), (Stream.TRADES, Stream.BOOK),
         "http://a:1"),
        ("okx", ("BTC-USDT",), (Stream.QUOTES,), "http://b:2")]


def test_requests_from_later_groups_take_the_last_streams_and_endpoint() -> None:
    reqs = requests_from(["binanceusdm", "okx", "bybit"], ["A", "B", "C"], ["book", "mark"],
                         ["http://one:1"])
    assert [(r.streams, r.endpoint) for r in reqs] == [
        ((Stream.BOOK,), "http://one:1"), ((Stream.MARK,), "http://one:1"),
        ((Stream.MARK,), "http://one:1")]


def test_requests_from_defaults_to_trades_and_no_endpoint() -> None:
    (req,) = requests_from(["binanceusdm"], ["BTCUSDT"], None, None)
    assert (req.streams, req.endpoint) == ((Stream.TRADES,), None)


@pytest.mark.parametrize(("venues", "symbols", "streams", "endpoints", "message"), [
    (["binanceusdm", "okx"], ["BTCUSDT"], None, None,
     "2 --venue but 1 --symbol: give each --venue its own --symbol"),
    (["binanceusdm"], [" , "], None, None, "--symbol for binanceusdm is empty"),
    (["binanceusdm"], ["BTCUSDT"], ["trades", "quotes"], None,
     "2 --streams but 1 --venue: give each --venue at most one --streams; comma-separate"),
    (["binanceusdm"], ["BTCUSDT"], None, ["http://a:1", "http://b:1"],
     "2 --endpoint but 1 --venue"),
    (["binanceusdm"], ["BTCUSDT"], ["trades,nope"], None, "unknown stream 'nope'"),
])
def test_requests_from_refuses_groups_that_do_not_pair(
        venues: list[str], symbols: list[str], streams: list[str] | None,
        endpoints: list[str] | None, message: str) -> None:
    with pytest.raises(InputError, match="^" + message):
        requests_from(venues, symbols, streams, endpoints)


# -- endpoint_urls ---------------------------------------------------------------------------
def test_endpoint_urls_moves_every_host_and_keeps_paths_and_queries() -> None:
    urls = {"fapiPublic": "https://fapi.binance.com/fapi/v1",
            "ws": {"future": "wss://fstream.binance.com/ws",
                   "combined": "wss://fstream.binance.com:443/stream?streams=a@trade"},
            "okx": "https://{hostname}/api/v5", "rateLimit": 50, "list": ["kept"]}
    assert endpoint_urls(urls, "http://127.0.0.1:8080") == {
        "fapiPublic": "http://127.0.0.1:8080/fapi/v1",
        "ws": {"future": "ws://127.0.0.1:8080/ws",
               "combined": "ws://127.0.0.1:8080/stream?streams=a@trade"},
        "okx": "http://127.0.0.1:8080/api/v5", "rateLimit": 50, "list": ["kept"]}


def test_endpoint_urls_https_endpoint_gives_secure_sockets() -> None:
    moved = endpoint_urls({"a": "wss://x.io/ws", "b": "ws://y.io/ws", "c": "http://z.io/p"},
                          "https://proxy.local:9443")
    assert moved == {"a": "wss://proxy.local:9443/ws", "b": "wss://proxy.local:9443/ws",
                     "c": "https://proxy.local:9443/p"}


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8080", "ftp://host", "http://"])
def test_endpoint_urls_refuses_an_endpoint_without_http_scheme_and_host(endpoint: str) -> None:
    with pytest.raises(InvalidConfiguration, match="is not an http"):
        endpoint_urls({"rest": "https://fapi.binance.com/fapi/v1"}, endpoint)


# -- the adapter's subscribe table ------------------------------------------------------------
class _WatchTable(VenueAdapter):
    name: ClassVar[str] = "fake"
    watch: ClassVar[Mapping[Stream, str]] = {Stream.TRADES: "watch_trades",
                                             Stream.QUOTES: "watch_bids_asks"}


class _Exchange:
    """A ccxt.pro exchange as far as ``subscribe`` sees it: the watch calls it gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    async def watch_trades(self, symbol: str) -> None:
        self.calls.append(("watch_trades", symbol))

    async def watch_bids_asks(self, symbols: list[str]) -> None:
        self.calls.append(("watch_bids_asks", symbols))


def test_adapter_subscribe_calls_the_watch_method_its_table_names() -> None:
    """With the unified symbol; ``watch_bids_asks`` takes a list of symbols."""
    exchange, market = _Exchange(), {"symbol": "BTC/USDT:USDT", "id": "BTCUSDT"}
    for stream in (Stream.TRADES, Stream.QUOTES):
        asyncio.run(_WatchTable().subscribe(exchange, stream, market))
    assert exchange.calls == [("watch_trades", "BTC/USDT:USDT"),
                              ("watch_bids_asks", ["BTC/USDT:USDT"])]


def test_adapter_subscribe_refuses_a_stream_its_table_lacks_rather_than_spin() -> None:
    exchange = _Exchange()
    with pytest.raises(InputError, match="fake: heron has no subscription for book yet"):
        asyncio.run(_WatchTable().subscribe(exchange, Stream.BOOK, {"symbol": "BTC/USDT"}))
    assert exchange.calls == []
