"""Binance USD-M live feed end to end: ccxt.pro (the real client) through VenueSession.

The loopback venue replays the first seconds of a real BTCUSDT capture; every stream
the adapter offers must come out as heron events whose values are the recorded JSON's,
read here independently (gzip + json + Decimal): each trade and quote in order, the
mark price, funding rate and liquidation fixtures, and the book -- the REST snapshot,
then every later diff with no gap, which rebuilt in an :class:`L2Book` gives the
venue's own best bid and ask wherever a bookTicker names a diff's last update id.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from conftest import SHARED_VENUES, closed_port, need
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.session import FeedOptions, VenueSession
from heron.data.feeds.streams import Stream
from heron.errors import InputError, VenueUnavailable
from heron.model.book import L2Book, LinkedSequence, Verdict
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
from heron.model.orders import OrderSide
from heron.testing.feed_run import FeedRun, run_feed
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

USDM = SHARED_VENUES / "binance_usdm"
CAPTURE = USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
LINES = 3000  # twelve seconds of the recording, replayed in four
SPEED = 3.0   # paced: the venue's REST book is as of now, and diffs must follow it
SYMBOL = "BTC/USDT:USDT"


class Recording:
    """The capture's first ``LINES`` lines, by channel, and its REST snapshot."""

    def __init__(self) -> None:
        self.by_channel: dict[str, list[dict[str, Any]]] = {}
        with gzip.open(CAPTURE, "rb") as f:
            for _, line in zip(range(LINES), f, strict=False):
                body = json.loads(line.partition(b" ")[2])
                if "stream" in body:
                    channel = body["stream"].split("@")[1]
                    self.by_channel.setdefault(channel, []).append(body["data"])
                else:
                    self.snapshot = body
        fixtures = USDM / "fixtures"
        self.mark = json.loads((fixtures / "mark_price_stream.json").read_text())
        self.liquidation = json.loads((fixtures / "liquidation_stream.json").read_text())

    @property
    def trades(self) -> list[dict[str, Any]]:
        return self.by_channel["trade"]

    @property
    def tickers(self) -> list[dict[str, Any]]:
        return self.by_channel["bookTicker"]

    @property
    def diffs(self) -> list[dict[str, Any]]:
        return self.by_channel["depth"]

    def book_at(self, update_id: int) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """The venue's book as of ``update_id``: the snapshot and the diffs after it."""
        last = self.snapshot["lastUpdateId"]
        bids = {Decimal(p): Decimal(q) for p, q in self.snapshot["bids"]}
        asks = {Decimal(p): Decimal(q) for p, q in self.snapshot["asks"]}
        for diff in self.diffs:
            if diff["u"] <= last:
                continue
            if diff["u"] > update_id:
                break
            for side, key in ((bids, "b"), (asks, "a")):
                for price, size in diff[key]:
                    side[Decimal(price)] = Decimal(size)
        return ({p: q for p, q in bids.items() if q}, {p: q for p, q in asks.items() if q})


@pytest.fixture(scope="module")
def recording() -> Recording:
    need(CAPTURE)
    return Recording()


@pytest.fixture(scope="module")
def server(recording: Recording) -> Iterator[VenueServer]:
    with VenueServer(BinanceUsdmProfile.recorded(USDM, lines=LINES), speed=SPEED) as srv:
        yield srv


def book_of(run: FeedRun) -> list[BookSnapshot | BookDelta]:
    return [e for e in run.events if isinstance(e, BookSnapshot | BookDelta)]


@pytest.fixture(scope="module")
def streamed(recording: Recording) -> FeedRun:
    """Every event of one session over all six streams."""
    last_diff = recording.diffs[-1]["u"]

    def everything(run: FeedRun) -> bool:
        count = {kind: 0 for kind in (Trade, Quote, MarkPrice, FundingRate, Liquidation)}
        book_done = False
        for e in run.events:
            if type(e) in count:
                count[type(e)] += 1
            elif isinstance(e, BookDelta) and e.sequence == last_diff and e.is_last:
                book_done = True
        return book_done and count == {Trade: len(recording.trades),
                                       Quote: len(recording.tickers), MarkPrice: 1,
                                       FundingRate: 1, Liquidation: 1}

    return run_feed(BinanceUsdmProfile.recorded(USDM, lines=LINES), adapter_for("binanceusdm"),
                    [SYMBOL], list(Stream), until=everything, speed=SPEED, timeout_s=20.0)


def ms_ns(ms: int) -> int:
    return ms * 1_000_000


# -- one test per stream --------------------------------------------------------------------
def test_trades_are_the_recorded_trades_in_order(streamed: FeedRun,
                                                 recording: Recording) -> None:
    trades: list[Trade] = streamed.of(Trade)
    assert len(trades) == len(recording.trades) > 400
    for trade, raw in zip(trades, recording.trades, strict=True):
        inst = trade.instrument
        assert (inst.price(trade.price), inst.quantity(trade.size), trade.trade_id,
                trade.aggressor, trade.ts_event) == (
            Decimal(raw["p"]), Decimal(raw["q"]), str(raw["t"]),
            "sell" if raw["m"] else "buy", ms_ns(raw["T"]))
    assert {t.instrument.id for t in trades} == {"BTCUSDT.BINANCE_USDM"}
    assert all(t.ts_recv > t.ts_event for t in trades)  # heard now, traded in 2024


def test_quotes_are_the_recorded_book_tickers_in_order(streamed: FeedRun,
                                                       recording: Recording) -> None:
    quotes: list[Quote] = streamed.of(Quote)
    assert len(quotes) == len(recording.tickers) > 2000
    for quote, raw in zip(quotes, recording.tickers, strict=True):
        inst = quote.instrument
        assert (inst.price(quote.bid), inst.quantity(quote.bid_size), inst.price(quote.ask),
                inst.quantity(quote.ask_size), quote.sequence, quote.ts_event) == (
            Decimal(raw["b"]), Decimal(raw["B"]), Decimal(raw["a"]), Decimal(raw["A"]),
            raw["u"], ms_ns(raw["T"]))


def test_mark_funding_and_liquidation_are_the_recorded_messages(
        streamed: FeedRun, recording: Recording) -> None:
    (mark,) = streamed.of(MarkPrice)
    (funding,) = streamed.of(FundingRate)
    (liquidation,) = streamed.of(Liquidation)
    raw, order = recording.mark, recording.liquidation["o"]
    inst = mark.instrument
    tick = inst.price_increment  # marks are computed finer than the tick: rounded half-even
    assert inst.price(mark.mark) == Decimal(raw["p"]).quantize(tick, ROUND_HALF_EVEN)
    assert mark.index is not None
    assert inst.price(mark.index) == Decimal(raw["i"]).quantize(tick, ROUND_HALF_EVEN)
    assert mark.ts_event == ms_ns(raw["E"])
    assert (funding.rate, funding.ts_event) == (raw["r"], ms_ns(raw["T"]))
    assert (liquidation.side, inst.price(liquidation.price), inst.quantity(liquidation.size),
            liquidation.ts_event) == (OrderSide(order["S"].lower()), Decimal(order["p"]),
                                      Decimal(order["q"]), ms_ns(order["T"]))


def _levels(side: tuple[tuple[int, int], ...], price: Callable[[int], Decimal],
            size: Callable[[int], Decimal]) -> list[tuple[Decimal, Decimal]]:
    return [(price(p), size(s)) for p, s in side]


def test_book_is_the_rest_snapshot_then_every_later_diff_without_a_gap(
        streamed: FeedRun, recording: Recording) -> None:
    book = book_of(streamed)
    snap = book[0]
    assert isinstance(snap, BookSnapshot)
    assert [e for e in book if isinstance(e, BookSnapshot)] == [snap]
    inst = snap.instrument
    bids, asks = recording.book_at(snap.sequence)
    depth = 100
    assert _levels(snap.bids, inst.price, inst.quantity)[:depth] == sorted(
        bids.items(), reverse=True)[:depth]
    assert _levels(snap.asks, inst.price, inst.quantity)[:depth] == sorted(asks.items())[:depth]
    assert ("GET", "/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "1000"}) in \
        streamed.server.requests

    messages = _messages([e for e in book[1:] if isinstance(e, BookDelta)])
    expected = [d for d in recording.diffs if d["u"] > snap.sequence]
    assert len(messages) == len(expected) > 50
    rule, last = LinkedSequence(), snap.sequence
    for message, diff in zip(messages, expected, strict=True):
        head = message[0]
        assert (head.first_sequence, head.sequence, head.prev_sequence) == (
            diff["U"], diff["u"], diff["pu"])
        assert rule.check(last, diff["U"], diff["u"], diff["pu"]) is Verdict.APPLY
        last = diff["u"]
        assert [(d.side, inst.price(d.price), inst.quantity(d.size)) for d in message] == [
            (side, Decimal(p), Decimal(q)) for side, key in ((BookSide.BID, "b"),
                                                             (BookSide.ASK, "a"))
            for p, q in diff[key]]


def _messages(deltas: list[BookDelta]) -> list[list[BookDelta]]:
    out: list[list[BookDelta]] = [[]]
    for delta in deltas:
        out[-1].append(delta)
        if delta.is_last:
            out.append([])
    assert out[-1] == []
    return out[:-1]


def test_rebuilt_book_has_the_venues_best_bid_and_ask_at_its_tickers(
        streamed: FeedRun, recording: Recording) -> None:
    """Where a bookTicker carries the id of a diff's last update, the book after that
    diff must show exactly its best bid and ask (the ticker's other ids fall inside a
    diff's range: that state is never published, so nothing can be compared there)."""
    tickers = {t["u"]: t for t in recording.tickers}
    book_events = book_of(streamed)
    inst = book_events[0].instrument
    l2 = L2Book(inst, LinkedSequence())
    compared = 0
    for event in book_events:
        if isinstance(event, BookSnapshot):
            l2.apply_snapshot(event)
            continue
        l2.apply_delta(event)
        ticker = tickers.get(event.sequence) if event.is_last else None
        if ticker is None:
            continue
        bid, ask = l2.best_bid(), l2.best_ask()
        assert bid is not None and ask is not None
        assert (inst.price(bid[0]), inst.quantity(bid[1]), inst.price(ask[0]),
                inst.quantity(ask[1])) == (Decimal(ticker["b"]), Decimal(ticker["B"]),
                                           Decimal(ticker["a"]), Decimal(ticker["A"]))
        compared += 1
    assert compared >= 5  # 23 such tickers in the recording; how many follow the snapshot
    # depends on when it was taken
    assert (l2.gaps, l2.stale_messages, l2.crossed_messages) == (0, 0, 0)


def test_every_stream_went_live_with_nothing_unusable(streamed: FeedRun) -> None:
    health: list[FeedHealth] = streamed.of(FeedHealth)
    live = {h.stream for h in health if h.state is FeedState.LIVE}
    assert live == {s.value for s in Stream}
    book = [(h.state, h.reason) for h in health if h.stream == "book"]
    waiting = book.index((FeedState.RESYNCING, "book stream started: waiting for a snapshot"))
    assert (FeedState.LIVE, "book resynced from a REST snapshot") in book[waiting:]
    assert streamed.session.parse_errors == streamed.session.ccxt_errors == 0
    assert all(h.parse_errors == 0 and h.reconnects == 0 and h.gaps == 0 for h in health)
    assert health[-1].state is FeedState.STOPPED
    assert {s.state for s in streamed.session.subscriptions} == {FeedState.STOPPED}


def test_the_venues_own_id_names_the_same_market(server: VenueServer) -> None:
    async def main() -> str:
        session = VenueSession(adapter_for("binanceusdm"), ["BTCUSDT"], [Stream.TRADES],
                               lambda _: None, FeedOptions(endpoint=server.url))
        await session.open()
        await session.exchange.close()
        return session.instruments[0].id

    assert asyncio.run(main()) == "BTCUSDT.BINANCE_USDM"


# -- refusals --------------------------------------------------------------------------------
def test_unknown_symbol_is_an_input_error_naming_close_matches(server: VenueServer) -> None:
    session = VenueSession(adapter_for("binanceusdm"), ["BTCUSD"], [Stream.TRADES],
                           lambda _: None, FeedOptions(endpoint=server.url))
    with pytest.raises(InputError, match=r"no market 'BTCUSD' \(closest: BTCUSDT, ") as err:
        asyncio.run(session.open())
    assert err.value.exit_code == 2
    assert "BTC/USDT:USDT" in str(err.value)  # and how to name one


def test_network_down_at_start_is_venue_unavailable_after_quick_retries() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    session = VenueSession(adapter_for("binanceusdm"), [SYMBOL], [Stream.TRADES],
                           lambda _: None, FeedOptions(
                               endpoint=endpoint, start_attempts=3,
                               backoff=lambda: Backoff(initial_s=0.01, cap_s=0.02)))
    with pytest.raises(VenueUnavailable, match=f"cannot reach {endpoint} after 3 tries"
                       ) as err:
        asyncio.run(session.open())
    assert err.value.exit_code == 1
    assert "check the network or --endpoint" in str(err.value)
