"""Bybit v5 message parsing: each topic against its raw JSON values, control, garbage, books.

Expected values are computed from the JSON text with ``json`` and ``Decimal`` (through
``Instrument.ticks``/``lots``), never with the parser's own integer arithmetic. Messages
are the real ones in the shared data set: the ``orderbook.500.XRPUSDT`` archive, Bybit's
API-doc fixtures, and the retired pre-v5 capture (which must be refused, never parsed).
"""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED_VENUES, need
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
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide
from heron.venues.bybit import BOOK_SEQUENCE, BadKind, BadMessage, BybitParser

DATA = SHARED_VENUES / "bybit"
FIXTURES = DATA / "fixtures"
CAPTURE = DATA / "v5_orderbook.500_XRPUSDT_2024-12-01.jsonl"
LEGACY = DATA / "legacy_cryptofeed_ws_realtime_public_2021-04-17.jsonl.gz"
TS = 1_700_000_000_123_456_789  # a receive time, ns
MS = 1_000_000


def inst(symbol: str = "BTCUSDT", tick: str = "0.10", lot: str = "0.001") -> Instrument:
    return Instrument(symbol, venue="BYBIT", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(tick), size_increment=Decimal(lot))


BTC = inst()  # Bybit's BTCUSDT grid (http_linear_instruments.json): tick 0.10, step 0.001
XRP = inst("XRPUSDT", tick="0.0001", lot="1")


def parser() -> BybitParser:
    return BybitParser({"BTCUSDT": BTC, "XRPUSDT": XRP})


def fixture(name: str) -> str:
    return need(FIXTURES / name).read_text()


def capture_lines() -> list[str]:
    return need(CAPTURE).read_text().splitlines()


def capture_lines_or_empty() -> list[bytes]:
    """Real lines to cut short, read at collection time (no skip possible there)."""
    if not CAPTURE.exists():
        return [b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1}']
    return [line.encode() for line in CAPTURE.read_text().splitlines()[:5]]


def events(p: BybitParser, raw: str | bytes) -> list[Any]:
    out = p.parse(raw, TS)
    assert isinstance(out, list), out
    return out


def bad(p: BybitParser, raw: str | bytes) -> BadMessage:
    out = p.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


def levels(i: Instrument, rows: list[list[str]]) -> tuple[tuple[int, int], ...]:
    return tuple((i.ticks(Decimal(p)), i.lots(Decimal(q))) for p, q in rows)


def rounded(i: Instrument, text: str) -> int:
    ticks = Decimal(text) / i.price_increment
    return int(ticks.to_integral_value(rounding=ROUND_HALF_EVEN))


# -- each topic against its message -------------------------------------------------------------
def test_public_trade_fixture_gives_a_trade_with_the_taker_side_and_id() -> None:
    raw = fixture("ws_trade.json")
    [t] = json.loads(raw)["data"]
    [trade] = events(parser(), raw)
    assert trade == Trade(BTC, t["T"] * MS, TS, BTC.ticks(Decimal(t["p"])),
                          BTC.lots(Decimal(t["v"])), "buy", t["i"])


def test_public_trade_with_several_fills_gives_one_trade_each_in_order() -> None:
    msg = json.loads(fixture("ws_trade.json"))
    first = msg["data"][0]
    msg["data"] = [first, {**first, "S": "Sell", "p": "16578.40", "i": "x2", "BT": True}]
    out = events(parser(), json.dumps(msg))
    assert [(t.aggressor, t.price, t.trade_id) for t in out] == [
        ("buy", BTC.ticks(Decimal("16578.50")), first["i"]),
        ("sell", BTC.ticks(Decimal("16578.40")), "x2")]


@pytest.mark.parametrize("name", ["ws_orderbook_snapshot.json",
                                  "ws_orderbook_snapshot_no_asks.json"])
def test_orderbook_snapshot_fixture_gives_one_book_snapshot_as_of_u(name: str) -> None:
    raw = fixture(name)
    msg = json.loads(raw)
    data = msg["data"]
    [snap] = events(parser(), raw)
    assert snap == BookSnapshot(BTC, msg["ts"] * MS, TS, levels(BTC, data["b"]),
                                levels(BTC, data["a"]), data["u"])


@pytest.mark.parametrize("name", ["ws_orderbook_delta.json", "ws_orderbook_delta_no_asks.json"])
def test_orderbook_delta_fixture_gives_one_delta_per_level_and_is_last(name: str) -> None:
    raw = fixture(name)
    msg = json.loads(raw)
    data = msg["data"]
    out = events(parser(), raw)
    rows = [(BookSide.BID, p, q) for p, q in data["b"]] + [
        (BookSide.ASK, p, q) for p, q in data["a"]]
    assert out == [
        BookDelta(BTC, msg["ts"] * MS, TS, side, BTC.ticks(Decimal(p)), BTC.lots(Decimal(q)),
                  data["u"], n == len(rows) - 1)
        for n, (side, p, q) in enumerate(rows)]
    assert any(d.size == 0 for d in out)  # "0" removes a level


def test_orderbook_time_is_the_matching_engine_cts_when_sent() -> None:
    msg = json.loads(capture_lines()[1])
    [first, *_] = events(parser(), json.dumps(msg))
    assert first.ts_event == msg["cts"] * MS != msg["ts"] * MS


def test_orderbook_1_snapshot_is_a_quote_not_a_book() -> None:
    msg = json.loads(capture_lines()[0])  # the real top of book, as a level-1 message
    data = msg["data"]
    msg["topic"] = "orderbook.1.XRPUSDT"
    data["b"], data["a"] = data["b"][:1], data["a"][:1]
    [quote] = events(parser(), json.dumps(msg))
    (bid, bid_size), (ask, ask_size) = levels(XRP, data["b"])[0], levels(XRP, data["a"])[0]
    assert quote == Quote(XRP, msg["cts"] * MS, TS, bid, ask, bid_size, ask_size, data["u"])


def test_orderbook_1_with_an_empty_side_gives_no_quote_and_is_counted() -> None:
    msg = json.loads(fixture("ws_orderbook_snapshot_no_asks.json"))
    msg["topic"] = "orderbook.1.BTCUSDT"
    p = parser()
    assert events(p, json.dumps(msg)) == []
    assert (p.one_sided_quotes, sum(p.bad.values())) == (1, 0)


def test_orderbook_1_delta_is_unsupported_not_guessed() -> None:
    msg = json.loads(fixture("ws_orderbook_delta.json"))
    msg["topic"] = "orderbook.1.BTCUSDT"
    assert bad(parser(), json.dumps(msg)).kind is BadKind.UNSUPPORTED


def test_linear_ticker_snapshot_gives_rounded_mark_and_index_and_the_next_funding() -> None:
    raw = fixture("ws_ticker_linear.json")
    msg = json.loads(raw)
    d = msg["data"]
    mark, funding = events(parser(), raw)
    assert mark == MarkPrice(BTC, msg["ts"] * MS, TS, rounded(BTC, d["markPrice"]),
                             rounded(BTC, d["indexPrice"]))
    assert funding == FundingRate(BTC, int(d["nextFundingTime"]) * MS, TS, d["fundingRate"])
    assert Decimal(d["markPrice"]) % BTC.price_increment  # the mark really was between ticks


def ticker_delta(p: BybitParser, symbol: str = "BTCUSDT", **fields: str) -> list[Any]:
    """A ``tickers`` delta of the recorded message's envelope, carrying only ``fields``."""
    base = json.loads(fixture("ws_ticker_linear.json"))
    msg = {**base, "topic": f"tickers.{symbol}", "type": "delta",
           "data": {"symbol": symbol, **fields}}
    return events(p, json.dumps(msg))


def test_ticker_delta_gives_a_mark_only_when_the_mark_changed() -> None:
    p = parser()
    events(p, fixture("ws_ticker_linear.json"))
    assert ticker_delta(p, bid1Price="17215.50", bid1Size="84.489") == []
    [mark] = ticker_delta(p, markPrice="17220.01")
    assert (mark.mark, mark.index) == (rounded(BTC, "17220.01"), None)
    assert not p.bad


def test_ticker_delta_funding_takes_its_missing_half_from_the_stream_so_far() -> None:
    """Deltas carry only changed fields: a new rate keeps the snapshot's funding time,
    a new funding time keeps the last rate."""
    p = parser()
    msg = json.loads(fixture("ws_ticker_linear.json"))
    events(p, fixture("ws_ticker_linear.json"))
    assert ticker_delta(p, fundingRate="-0.0002") == [
        FundingRate(BTC, int(msg["data"]["nextFundingTime"]) * MS, TS, "-0.0002")]
    assert ticker_delta(p, nextFundingTime="1673308800000") == [
        FundingRate(BTC, 1673308800000 * MS, TS, "-0.0002")]
    assert ticker_delta(p, markPrice="17220.01", fundingRate="0.0001") == [
        MarkPrice(BTC, msg["ts"] * MS, TS, rounded(BTC, "17220.01")),
        FundingRate(BTC, 1673308800000 * MS, TS, "0.0001")]
    assert not p.bad


def test_ticker_delta_before_any_snapshot_has_no_funding_time_to_use() -> None:
    p = parser()
    assert ticker_delta(p, fundingRate="-0.0002") == []
    assert [type(e) for e in ticker_delta(p, nextFundingTime="1673308800000")] == [FundingRate]


def test_ticker_snapshot_starts_afresh_and_symbols_are_remembered_apart() -> None:
    p = parser()
    events(p, fixture("ws_ticker_linear.json"))
    msg = json.loads(fixture("ws_ticker_linear.json"))
    del msg["data"]["nextFundingTime"]
    assert [type(e) for e in events(p, json.dumps(msg))] == [MarkPrice]
    assert ticker_delta(p, fundingRate="0.0003") == []  # the new snapshot had no time
    assert ticker_delta(p, "XRPUSDT", fundingRate="0.0003") == []  # nor has XRPUSDT


def test_a_refused_ticker_delta_changes_nothing_remembered() -> None:
    p = parser()
    d = json.loads(fixture("ws_ticker_linear.json"))["data"]
    events(p, fixture("ws_ticker_linear.json"))
    base = json.loads(fixture("ws_ticker_linear.json"))
    bad_delta = {**base, "type": "delta", "data": {"symbol": "BTCUSDT", "fundingRate": "0.0001",
                                                   "nextFundingTime": "soon"}}
    assert bad(p, json.dumps(bad_delta)).kind is BadKind.MALFORMED
    assert [type(e) for e in ticker_delta(p, markPrice="17220.01")] == [MarkPrice]
    [funding] = ticker_delta(p, fundingRate="0.0002")
    assert (funding.ts_event, funding.rate) == (int(d["nextFundingTime"]) * MS, "0.0002")


def test_spot_ticker_gives_no_events_and_dated_future_no_funding() -> None:
    p = parser()
    assert events(p, fixture("ws_ticker_spot.json")) == []
    msg = json.loads(fixture("ws_ticker_linear.json"))
    msg["data"].update(fundingRate="", nextFundingTime="0")
    assert [type(e) for e in events(p, json.dumps(msg))] == [MarkPrice]


def test_liquidation_fixture_buy_position_is_a_sell_forced_order() -> None:
    raw = fixture("ws_liquidation.json")
    d = json.loads(raw)["data"]
    gala = inst("GALAUSDT", tick="0.00001", lot="1")
    [liq] = events(BybitParser({"GALAUSDT": gala}), raw)
    assert d["side"] == "Buy"  # Bybit: a long position was liquidated ...
    assert liq == Liquidation(gala, d["updatedTime"] * MS, TS, OrderSide.SELL,  # ... by a sell
                              gala.ticks(Decimal(d["price"])), gala.lots(Decimal(d["size"])))


def test_all_liquidation_gives_one_liquidation_per_entry_on_the_forced_order_side() -> None:
    # The v5 docs' allLiquidation example, with a second (long) entry.
    raw = ('{"topic":"allLiquidation.ROSEUSDT","type":"snapshot","ts":1739502303204,"data":'
           '[{"T":1739502302929,"s":"ROSEUSDT","S":"Sell","v":"20000","p":"0.04499"},'
           '{"T":1739502302930,"s":"ROSEUSDT","S":"Buy","v":"10","p":"0.04500"}]}')
    rose = inst("ROSEUSDT", tick="0.00001", lot="1")
    out = events(BybitParser({"ROSEUSDT": rose}), raw)
    assert out == [
        Liquidation(rose, 1739502302929 * MS, TS, OrderSide.BUY, 4499, 20000),
        Liquidation(rose, 1739502302930 * MS, TS, OrderSide.SELL, 4500, 10)]


# -- control messages and garbage ---------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    '{"success":true,"ret_msg":"subscribe","conn_id":"c1","req_id":"r","op":"subscribe"}',
    '{"success":true,"ret_msg":"","conn_id":"c1","op":"unsubscribe"}',
    '{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}',
    '{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"c1"}',
    '{"ret_msg":"pong"}',
])
def test_control_messages_give_none_and_are_counted_as_ignored(raw: str) -> None:
    p = parser()
    assert p.parse(raw, TS) is None
    assert (p.ignored, p.messages, sum(p.bad.values())) == (1, 1, 0)


@pytest.mark.parametrize("name", ["ws_subscription_ack.json", "ws_auth_success.json"])
def test_control_fixtures_give_none(name: str) -> None:
    assert parser().parse(fixture(name), TS) is None


@pytest.mark.parametrize(("name", "text"), [
    ("ws_subscription_failure.json", "Invalid topic: invalid.topic.BTCUSDT"),
    ("ws_auth_failure.json", "Invalid apikey"),
])
def test_venue_refusal_is_a_venue_error_with_its_message(name: str, text: str) -> None:
    p = parser()
    out = bad(p, fixture(name))
    assert out.kind is BadKind.VENUE_ERROR
    assert text in out.detail
    assert p.bad == {BadKind.VENUE_ERROR: 1}


_TRADE = ('{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,'
          '"s":"%s","S":"%s","v":"%s","p":"%s","i":"a","BT":false}]}')


@pytest.mark.parametrize(("raw", "kind"), [
    ("not json at all", BadKind.MALFORMED),
    ('{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1',
     BadKind.TRUNCATED),
    ("[1, 2, 3]", BadKind.MALFORMED),
    ("", BadKind.TRUNCATED),
    ('{"hello":"world"}', BadKind.UNSUPPORTED),
    ('{"topic":"kline.5.BTCUSDT","type":"snapshot","ts":1,"data":[]}', BadKind.UNSUPPORTED),
    ('{"topic":"execution","data":[]}', BadKind.UNSUPPORTED),
    ('{"topic":"publicTrade.BTCUSDT","ts":1,"data":{"T":1}}', BadKind.MALFORMED),
    ('{"topic":"publicTrade.BTCUSDT","ts":1}', BadKind.MALFORMED),
    ('{"topic":"orderbook.50.BTCUSDT","type":"partial","ts":1,"data":{"s":"BTCUSDT",'
     '"b":[],"a":[],"u":1}}', BadKind.MALFORMED),
    ('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT",'
     '"b":[["1.0"]],"a":[],"u":1}}', BadKind.MALFORMED),
    (_TRADE % ("ETHUSDT", "Buy", "1.000", "1.00"), BadKind.UNKNOWN_SYMBOL),
    (_TRADE % ("BTCUSDT", "Buy", "1.000", "1.05"), BadKind.OFF_GRID),
    (_TRADE % ("BTCUSDT", "Buy", "1.0001", "1.00"), BadKind.OFF_GRID),
    (_TRADE % ("BTCUSDT", "Buy", "1.000", "-1.00"), BadKind.MALFORMED),
    (_TRADE % ("BTCUSDT", "Buy", "1.000", "1e5"), BadKind.MALFORMED),
    (_TRADE % ("BTCUSDT", "Buy", "0.000", "1.00"), BadKind.MALFORMED),
    (_TRADE % ("BTCUSDT", "Hold", "1.000", "1.00"), BadKind.MALFORMED),
    ('{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT",'
     '"fundingRate":"0.0001","nextFundingTime":"soon"}}', BadKind.MALFORMED),
    ('{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT",'
     '"fundingRate":"0.0001","nextFundingTime":"1673280000000.5"}}', BadKind.MALFORMED),
    ('{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"symbol":"BTCUSDT",'
     '"fundingRate":"1e-4","nextFundingTime":"1673280000000"}}', BadKind.MALFORMED),
    ('{"topic":"tickers.BTCUSDT","type":"delta","ts":1,"data":{"symbol":"BTCUSDT",'
     '"markPrice":"-5"}}', BadKind.MALFORMED),
    ('{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,'
     '"s":"BTCUSDT","S":"Long","v":"1.000","p":"1.00"}]}', BadKind.MALFORMED),
])
def test_bad_message_is_returned_with_its_text_and_counted(raw: str, kind: BadKind) -> None:
    p = parser()
    out = bad(p, raw.encode())
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw, TS)
    assert p.bad == {kind: 1}
    assert p.messages == 1


def test_undecodable_bytes_are_kept_as_replaced_text() -> None:
    out = bad(parser(), b"\xff\xfe{")
    assert out.kind is BadKind.MALFORMED
    assert out.raw == b"\xff\xfe{".decode("utf-8", "replace")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode),
                 st.sampled_from(capture_lines_or_empty()).map(lambda s: s[:len(s) // 3])))
def test_garbage_is_never_none_and_never_raises(raw: bytes) -> None:
    """``None`` goes to ccxt, whose JSON parser would raise on garbage: only JSON objects."""
    out = parser().parse(raw, TS)
    if out is None:
        assert isinstance(json.loads(raw), dict)


def test_bytes_and_text_give_the_same_events() -> None:
    raw = fixture("ws_orderbook_delta.json")
    assert events(parser(), raw.encode()) == events(parser(), raw)


def test_ticker_without_a_symbol_in_data_takes_the_topic_symbol() -> None:
    raw = ('{"topic":"tickers.BTCUSDT","type":"delta","ts":7,'
           '"data":{"markPrice":"17217.30"}}')
    [mark] = events(parser(), raw)
    assert (mark.instrument, mark.mark, mark.ts_event) == (BTC, 172173, 7 * MS)


def test_liquidation_time_spelled_update_time_is_read_too() -> None:
    raw = ('{"topic":"liquidation.BTCUSDT","type":"snapshot","ts":9,"data":{"updateTime":8,'
           '"symbol":"BTCUSDT","side":"Sell","size":"0.003","price":"43511.70"}}')
    [liq] = events(parser(), raw)
    assert liq == Liquidation(BTC, 8 * MS, TS, OrderSide.BUY, 435117, 3)


def test_retired_pre_v5_capture_is_refused_never_parsed() -> None:
    p = BybitParser({s: inst(s, tick="0.05", lot="0.01") for s in (
        "BCHUSDT", "XTZUSDT", "UNIUSDT", "LTCUSDT", "DOTUSDT", "LINKUSDT", "ADAUSDT",
        "ETHUSDT")})
    results: dict[str, int] = {}
    with gzip.open(need(LEGACY), "rt") as f:
        for line in f:
            entry = json.loads(line)
            if entry["dir"] != "recv":
                continue
            out = p.parse(entry["raw"], TS)
            assert not isinstance(out, list), out
            key = "none" if out is None else out.kind.value
            results[key] = results.get(key, 0) + 1
    # 16 subscription acks (success: true) go to ccxt; every market message is refused.
    assert results == {"none": 16, "unsupported": 66 + 8 + 3252}


def test_off_grid_book_levels_are_left_out_and_counted_not_the_message() -> None:
    raw = ('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"s":"BTCUSDT",'
           '"b":[["100.00","1.000"],["99.95","2.000"]],"a":[["100.10","0.5"],'
           '["100.20","0.0001"]],"u":7,"seq":9}}')
    p = parser()
    out = events(p, raw)
    assert [(d.side, d.price, d.size, d.is_last) for d in out] == [
        (BookSide.BID, 1000, 1000, False), (BookSide.ASK, 1001, 500, True)]
    assert p.dropped_levels == {"BTCUSDT": 2}
    assert not p.bad


def test_empty_delta_gives_no_events() -> None:
    raw = ('{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"s":"BTCUSDT",'
           '"b":[],"a":[],"u":7}}')
    assert events(parser(), raw) == []


# -- the real order-book archive ----------------------------------------------------------------
def test_whole_capture_agrees_with_a_json_and_decimal_reference() -> None:
    """Every level of the real ``orderbook.500.XRPUSDT`` archive, converted two ways."""
    p = parser()
    kinds: dict[str, int] = {}
    compared = 0
    for line in capture_lines():
        msg = json.loads(line)
        out = events(p, line.encode())
        for e in out:
            kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
        compared += _check_against_reference(msg, out)
    assert kinds == {"BookSnapshot": 1, "BookDelta": compared - 1000}
    assert compared == 1000 + 2966  # snapshot levels, then every delta level
    assert (p.messages, p.ignored, sum(p.bad.values()), sum(p.dropped_levels.values())) == (
        50, 0, 0, 0)


def _check_against_reference(msg: dict[str, Any], out: list[Any]) -> int:
    data = msg["data"]
    ts = msg["cts"] * MS
    if msg["type"] == "snapshot":
        [snap] = out
        assert snap == BookSnapshot(XRP, ts, TS, levels(XRP, data["b"]), levels(XRP, data["a"]),
                                    data["u"])
        assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
        assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)  # best first
        return len(data["b"]) + len(data["a"])
    rows = [(BookSide.BID, *lv) for lv in levels(XRP, data["b"])] + [
        (BookSide.ASK, *lv) for lv in levels(XRP, data["a"])]
    assert [(d.side, d.price, d.size) for d in out] == rows
    assert [d.is_last for d in out] == [False] * (len(out) - 1) + [True]
    assert {(d.sequence, d.first_sequence, d.prev_sequence, d.ts_event) for d in out} == {
        (data["u"], None, None, ts)}
    return len(rows)


def test_capture_update_ids_are_contiguous_and_the_book_sees_no_gap() -> None:
    lines = capture_lines()
    ids = [json.loads(line)["data"]["u"] for line in lines]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # why BOOK_SEQUENCE is contiguous
    book = _replay(lines)
    assert (book.gaps, book.stale_messages, book.crossed_messages, book.needs_snapshot) == (
        0, 0, 0, False)
    assert book.last_sequence == ids[-1]
    assert {side: book.levels(side) for side in BookSide} == _reference_book(lines)


def test_a_missed_delta_is_a_gap_and_a_replayed_one_is_stale() -> None:
    lines = capture_lines()
    assert _replay([*lines[:5], *lines[6:]]).gaps == 1
    replayed = _replay([*lines[:5], lines[4], *lines[5:]])
    assert (replayed.gaps, replayed.stale_messages) == (0, 1)


def test_restart_snapshot_with_u_1_resets_the_book_and_deltas_follow_on() -> None:
    lines = capture_lines()
    restart = json.loads(lines[0])
    restart["data"]["u"] = 1
    after = json.loads(lines[1])
    after["data"]["u"] = 2
    book = _replay([*lines[:10], json.dumps(restart), json.dumps(after)])
    assert (book.gaps, book.stale_messages, book.last_sequence) == (0, 0, 2)


def _replay(lines: list[str]) -> L2Book:
    p = parser()
    book = L2Book(XRP, BOOK_SEQUENCE)
    for line in lines:
        for e in events(p, line):
            if isinstance(e, BookSnapshot):
                book.apply_snapshot(e)
            else:
                book.apply_delta(e)
    return book


def _reference_book(lines: list[str]) -> dict[BookSide, list[tuple[int, int]]]:
    """The book rebuilt from the JSON with ``Decimal`` and dicts, best level first."""
    sides: dict[BookSide, dict[Decimal, Decimal]] = {BookSide.BID: {}, BookSide.ASK: {}}
    for line in lines:
        msg = json.loads(line)
        if msg["type"] == "snapshot":
            sides = {BookSide.BID: {}, BookSide.ASK: {}}
        for side, key in ((BookSide.BID, "b"), (BookSide.ASK, "a")):
            for p, q in msg["data"][key]:
                if Decimal(q):
                    sides[side][Decimal(p)] = Decimal(q)
                else:
                    sides[side].pop(Decimal(p), None)
    return {side: [(XRP.ticks(p), XRP.lots(q))
                   for p, q in sorted(levels.items(), reverse=side is BookSide.BID)]
            for side, levels in sides.items()}
