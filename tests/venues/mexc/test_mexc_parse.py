"""MEXC futures message parsing: each push type against its raw JSON, control, garbage, spot.

Expected values are computed from the JSON text with ``json`` (numbers read as ``Decimal``)
and ``Instrument.ticks``/``lots``, never with the parser's own arithmetic. The recorded
messages are the real ones in ``shared/data/venues/mexc`` (crypto-msg-parser's captures,
2022). Push types with no recorded example (``push.funding.rate``, ``push.fair.price``,
list-shaped ``push.deal``, merged ``push.depth`` with ``begin``/``end``, control replies) are
written in the shape MEXC's futures WebSocket docs give, and say so where they are used.
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import msgspec
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
    MarkPrice,
    Trade,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.mexc import BOOK_SEQUENCE, BadKind, BadMessage, MexcParser

DATA = SHARED_VENUES / "mexc"
CAPTURE = DATA / "crypto-msg-parser_raw_messages.jsonl"
TS = 1_700_000_000_123_456_789  # a receive time, ns
MS = 1_000_000


def inst(symbol: str = "BTC_USDT", tick: str = "0.1", lot: str = "1") -> Instrument:
    """A MEXC contract: sizes are contracts, a BTC_USDT contract is 0.0001 BTC."""
    return Instrument(symbol, venue="MEXC", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(tick), size_increment=Decimal(lot),
                      multiplier=Decimal("0.0001"))


def capture() -> list[dict[str, str]]:
    return [json.loads(line) for line in need(CAPTURE).read_text().splitlines() if line.strip()]


def recorded(source_test: str) -> str:
    [raw] = [row["raw"] for row in capture() if row["source_test"] == source_test]
    return raw


def exact(raw: str) -> Any:
    """The message as the reference reads it: every number an exact ``Decimal``."""
    return json.loads(raw, parse_float=Decimal, parse_int=Decimal)


def events(parser: MexcParser, raw: str | bytes) -> list[Any]:
    out = parser.parse(raw, TS)
    assert isinstance(out, list), out
    return out


def bad(parser: MexcParser, raw: str | bytes) -> BadMessage:
    out = parser.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


def levels(i: Instrument, rows: list[list[Decimal]]) -> list[tuple[int, int]]:
    return [(i.ticks(row[0]), i.lots(row[1])) for row in rows]


def half_even(i: Instrument, value: Decimal) -> int:
    return int((value / i.price_increment).to_integral_value(rounding=ROUND_HALF_EVEN))


# -- each push type ----------------------------------------------------------------------------
def test_recorded_deal_gives_a_trade_at_the_exact_price_with_the_taker_side() -> None:
    raw = recorded("trade::linear_swap")
    d = exact(raw)["data"]
    i = inst()
    [trade] = events(MexcParser({"BTC_USDT": i}), raw)
    assert trade == Trade(i, int(d["t"]) * MS, TS, i.ticks(d["p"]), i.lots(d["v"]), "sell", "")
    assert d["T"] == 2  # docs: T is the deal direction, 1 buy, 2 sell


def test_deal_list_gives_one_trade_per_deal_in_order() -> None:
    """Newer MEXC sends ``data`` as a list (no recorded example: the docs' shape)."""
    raw = ('{"symbol":"BTC_USDT","data":[{"p":114350.4,"v":4,"T":2,"O":3,"M":2,'
           '"t":1760368563597},{"p":114350.5,"v":10,"T":1,"O":1,"M":1,"t":1760368563598}],'
           '"channel":"push.deal","ts":1760368563600}')
    i = inst()
    parser = MexcParser({"BTC_USDT": i})
    out = events(parser, raw)
    assert [(t.ts_event, t.price, t.size, t.aggressor) for t in out] == [
        (int(d["t"]) * MS, i.ticks(d["p"]), i.lots(d["v"]), "sell" if d["T"] == 2 else "buy")
        for d in exact(raw)["data"]]
    single = ('{"symbol":"BTC_USDT","data":{"p":114350.4,"v":4,"T":2,"O":3,"M":2,'
              '"t":1760368563597},"channel":"push.deal","ts":1760368563600}')
    assert events(parser, single) == out[:1]  # the older one-deal form, same event


def test_recorded_depth_update_gives_one_delta_per_level_with_version_and_is_last() -> None:
    raw = recorded("l2_event::linear_swap_update")
    msg = exact(raw)
    data = msg["data"]
    i = inst()
    out = events(MexcParser({"BTC_USDT": i}), raw)
    ts, version = int(msg["ts"]) * MS, int(data["version"])
    want = [BookDelta(i, ts, TS, BookSide.BID, p, q, version, False)
            for p, q in levels(i, data["bids"])]
    want += [BookDelta(i, ts, TS, BookSide.ASK, p, q, version, False)
             for p, q in levels(i, data["asks"])]
    want[-1] = msgspec.structs.replace(want[-1], is_last=True)
    assert out == want
    assert [d.size for d in out if d.side is BookSide.ASK] == [0, 0]  # removals


def test_recorded_depth_full_gives_a_snapshot_best_first() -> None:
    raw = recorded("l2_topk::linear_swap")
    msg = exact(raw)
    i = inst()
    [snap] = events(MexcParser({"BTC_USDT": i}), raw)
    assert snap == BookSnapshot(i, int(msg["ts"]) * MS, TS, tuple(levels(i, msg["data"]["bids"])),
                                tuple(levels(i, msg["data"]["asks"])),
                                int(msg["data"]["version"]))
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)


def test_recorded_rest_depth_body_gives_a_snapshot_at_its_version_and_time() -> None:
    raw = recorded("l2_snapshot::linear_swap")
    data = exact(raw)["data"]
    i = inst()
    parser = MexcParser({"BTC_USDT": i})
    out = parser.snapshot(raw, TS, "BTC_USDT")
    assert out == [BookSnapshot(i, int(data["timestamp"]) * MS, TS,
                                tuple(levels(i, data["bids"])), tuple(levels(i, data["asks"])),
                                int(data["version"]))]
    assert (parser.messages, sum(parser.bad.values())) == (1, 0)


def test_recorded_ticker_gives_a_rounded_mark_and_index_and_no_quote_or_funding() -> None:
    raw = recorded("ticker::linear_swap")
    data = exact(raw)["data"]
    i = inst(tick="0.5")  # coarser than the venue's 0.1: the mark is rounded half-even
    out = events(MexcParser({"BTC_USDT": i}), raw)
    assert out == [MarkPrice(i, int(data["timestamp"]) * MS, TS,
                             half_even(i, data["fairPrice"]), half_even(i, data["indexPrice"]))]
    assert data["fairPrice"] / i.price_increment % 1 != 0  # it really was between ticks


def test_funding_rate_applies_at_next_settle_time_with_the_rate_as_sent() -> None:
    """No recorded example: the docs' shape (``rate``, ``nextSettleTime``)."""
    raw = ('{"symbol":"BTC_USDT","data":{"symbol":"BTC_USDT","rate":-0.000021,'
           '"nextSettleTime":1771084800000},"channel":"push.funding.rate","ts":1771069020506}')
    i = inst()
    parser = MexcParser({"BTC_USDT": i})
    assert events(parser, raw) == [FundingRate(i, 1771084800000 * MS, TS, "-0.000021")]
    [small] = events(parser, raw.replace("-0.000021", "1.2E-5"))  # JSON's exponent form
    assert isinstance(small, FundingRate)
    assert small.rate == "0.000012"


def test_fair_price_gives_a_mark_without_index() -> None:
    """No recorded example: the docs' shape (``price``)."""
    raw = ('{"symbol":"BTC_USDT","data":{"symbol":"BTC_USDT","price":86863.65},'
           '"channel":"push.fair.price","ts":1790134885147}')
    msg = exact(raw)
    i = inst()
    assert events(MexcParser({"BTC_USDT": i}), raw) == [
        MarkPrice(i, int(msg["ts"]) * MS, TS, half_even(i, msg["data"]["price"]), None)]


def test_merged_depth_push_takes_begin_as_its_first_version() -> None:
    """``compress`` (the default since 2025) merges pushes: the docs' shape via ccxt."""
    raw = ('{"channel":"push.depth","data":{"asks":[[39146.5,11264,1]],"bids":[[39144,35460,1]],'
           '"end":4895965272,"begin":4895965271,"version":4895965272},"symbol":"BTC_USDT",'
           '"ts":1651239652372}')
    out = events(MexcParser({"BTC_USDT": inst()}), raw)
    assert {(d.sequence, d.first_sequence, d.prev_sequence) for d in out} == {
        (4895965272, 4895965271, None)}
    assert [d.is_last for d in out] == [False, True]


def test_depth_push_without_ts_uses_the_receive_time() -> None:
    raw = '{"channel":"push.depth","data":{"asks":[[1.5,2,1]],"version":7},"symbol":"BTC_USDT"}'
    [delta] = events(MexcParser({"BTC_USDT": inst()}), raw)
    assert (delta.ts_event, delta.ts_recv, delta.price, delta.size) == (TS, TS, 15, 2)


# -- book sequence -----------------------------------------------------------------------------
def _push(version: int, bids: str = "[[29675.5,1,1]]", extra: str = "") -> str:
    return (f'{{"channel":"push.depth","data":{{"asks":[],"bids":{bids},"version":{version}'
            f'{extra}}},"symbol":"BTC_USDT","ts":1654328706800}}')


def _apply(book: L2Book, out: list[Any]) -> None:
    for event in out:
        book.apply_delta(event)


def test_book_follows_the_rest_snapshot_then_contiguous_versions_and_sees_gaps() -> None:
    raw = recorded("l2_snapshot::linear_swap")
    i = inst()
    parser = MexcParser({"BTC_USDT": i})
    out = parser.snapshot(raw, TS, "BTC_USDT")
    assert isinstance(out, list)
    [snap] = out
    assert isinstance(snap, BookSnapshot)
    book = L2Book(i, BOOK_SEQUENCE)
    book.apply_snapshot(snap)
    v = snap.sequence
    _apply(book, events(parser, _push(v)))          # already in the snapshot
    _apply(book, events(parser, _push(v + 1)))      # the next version: applied
    assert (book.stale_messages, book.gaps, book.depth_at(BookSide.BID, 296755)) == (1, 0, 1)
    _apply(book, events(parser, _push(v + 2, extra=f',"begin":{v + 2},"end":{v + 2}')))
    _apply(book, events(parser, _push(v + 4)))      # v + 3 never came
    assert (book.gaps, book.needs_snapshot, book.last_sequence) == (1, True, v + 4)


def test_an_empty_depth_push_is_folded_into_the_next_so_it_is_no_gap() -> None:
    i = inst()
    parser = MexcParser({"BTC_USDT": i})
    book = L2Book(i, BOOK_SEQUENCE)
    book.apply_snapshot(BookSnapshot(i, 0, 0, ((296755, 3),), ((296765, 4),), 100))
    assert events(parser, _push(101, bids="[]")) == []
    assert events(parser, _push(102, bids="[]")) == []
    out = events(parser, _push(103))
    assert {(d.sequence, d.first_sequence) for d in out} == {(103, 101)}
    _apply(book, out)
    assert (book.gaps, book.last_sequence) == (0, 103)
    assert events(parser, _push(104, bids="[]")) == []
    later = events(parser, _push(106))  # 105 is missing: not folded, the gap shows
    assert {(d.sequence, d.first_sequence) for d in later} == {(106, None)}
    _apply(book, later)
    assert book.gaps == 1


def test_off_grid_book_levels_are_left_out_and_counted_not_the_message() -> None:
    raw = _push(5, bids="[[100.0,1,1],[100.05,2,1],[100.1,0.5,1],[100.2,3,1]]")
    parser = MexcParser({"BTC_USDT": inst()})
    out = events(parser, raw)
    assert [(d.price, d.size, d.is_last) for d in out] == [(1000, 1, False), (1002, 3, True)]
    assert parser.dropped_levels == {"BTC_USDT": 2}
    assert not parser.bad


# -- control, garbage and spot -----------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    '{"channel":"rs.sub.deal","data":"success","ts":1587442022003}',  # docs: subscribe answer
    '{"channel":"rs.sub.depth","data":"success","ts":"1587442022003"}',
    '{"channel":"rs.login","data":"success","ts":"1587442022003"}',
    '{"channel":"pong","data":1587453241453}',
    '{"channel":"push.personal.order","data":{"orderId":"1","symbol":"CRV_USDT"},"ts":1}',
])
def test_control_message_is_none_and_counted_as_ignored(raw: str) -> None:
    parser = MexcParser({"BTC_USDT": inst()})
    assert parser.parse(raw, TS) is None
    assert (parser.ignored, parser.messages, sum(parser.bad.values())) == (1, 1, 0)


_DEAL = '{"channel":"push.deal","data":{"p":%s,"v":%s,"T":%s,"t":1},"symbol":"%s","ts":1}'


@pytest.mark.parametrize(("raw", "kind"), [
    ("not json at all", BadKind.MALFORMED),
    ('{"channel":"push.depth","data":{"asks":[[1,', BadKind.TRUNCATED),
    ("[1, 2, 3]", BadKind.MALFORMED),
    ('{"hello":"world"}', BadKind.UNSUPPORTED),
    ('{"channel":"rs.error","data":"Contract [NOPE_USDT] not exists","ts":1}',
     BadKind.VENUE_ERROR),
    ('{"channel":"push.kline","data":{"c":1},"symbol":"BTC_USDT","ts":1}', BadKind.UNSUPPORTED),
    ('{"channel":"push.index.price","data":{"price":1.5},"symbol":"BTC_USDT","ts":1}',
     BadKind.UNSUPPORTED),
    ('{"channel":"push.deal","data":{"p":1.5,"v":2},"symbol":"BTC_USDT"}', BadKind.MALFORMED),
    ('{"channel":"push.funding.rate","data":{"rate":0.001},"symbol":"BTC_USDT","ts":1}',
     BadKind.MALFORMED),  # no nextSettleTime: no time for the rate to apply at
    ('{"channel":"push.depth","data":{"bids":[[1.5]],"version":1},"symbol":"BTC_USDT"}',
     BadKind.MALFORMED),
    ('{"channel":"push.depth","data":{"bids":[[[1],2]],"version":1},"symbol":"BTC_USDT"}',
     BadKind.MALFORMED),
    (_DEAL % ("1.5", "2", "1", "ETH_USDT"), BadKind.UNKNOWN_SYMBOL),
    (_DEAL % ("1.55", "2", "1", "BTC_USDT"), BadKind.OFF_GRID),
    (_DEAL % ("1.5", "2.5", "1", "BTC_USDT"), BadKind.OFF_GRID),
    (_DEAL % ("1.5", "2", "3", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ("1.5", "0", "1", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ("-1.5", "2", "1", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ("1e999", "2", "1", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ('"abc"', "2", "1", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ('"1e"', "2", "1", "BTC_USDT"), BadKind.MALFORMED),
    (_DEAL % ("null", "2", "1", "BTC_USDT"), BadKind.MALFORMED),
])
def test_bad_message_is_returned_with_its_text_and_counted(raw: str, kind: BadKind) -> None:
    parser = MexcParser({"BTC_USDT": inst()})
    out = bad(parser, raw.encode())
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw, TS)
    assert parser.bad == {kind: 1}
    assert (parser.messages, parser.ignored) == (1, 0)


def test_venue_error_reply_keeps_the_venue_text() -> None:
    out = bad(MexcParser({}), '{"channel":"rs.error","data":"Not support limit","ts":1}')
    assert "Not support limit" in out.detail


def test_rest_error_body_is_unsupported_with_the_venue_message() -> None:
    parser = MexcParser({"BTC_USDT": inst()})
    out = parser.snapshot('{"success":false,"code":1001,"message":"Contract not exists"}',
                          TS, "BTC_USDT")
    assert isinstance(out, BadMessage)
    assert (out.kind, "Contract not exists" in out.detail) == (BadKind.UNSUPPORTED, True)
    torn = parser.snapshot('{"success":true,"code":0,"data":{"asks":[[1', TS, "BTC_USDT")
    assert isinstance(torn, BadMessage)
    assert torn.kind is BadKind.TRUNCATED
    assert parser.bad == {BadKind.UNSUPPORTED: 1, BadKind.TRUNCATED: 1}


@pytest.mark.parametrize("source_test", [
    "trade::spot", "l2_event::spot", "l2_topk::spot", "candlestick::spot",
    "candlestick::spot_sample_2", "l2_snapshot::spot",
])
def test_old_spot_json_message_is_unsupported_saying_spot_is_protobuf_now(
        source_test: str) -> None:
    raw = recorded(source_test)
    parser = MexcParser({"BTC_USDT": inst(), "DXGM_USDT": inst("DXGM_USDT")})
    out = (parser.snapshot(raw, TS, "BTC_USDT") if source_test.startswith("l2_snapshot")
           else parser.parse(raw, TS))
    assert isinstance(out, BadMessage)
    assert out.kind is BadKind.UNSUPPORTED
    assert "spot" in out.detail
    assert "protobuf" in out.detail


# -- numbers: exact, whatever way JSON writes them ---------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**15), st.integers(0, 8), st.sampled_from(["plain", "E", "e", "quoted"]))
def test_a_json_number_in_any_form_gives_the_same_ticks_as_decimal(
        units: int, places: int, form: str) -> None:
    value = Decimal(units).scaleb(-places)
    text = {"plain": format(value, "f"), "E": format(value, "E"), "e": format(value, "e"),
            "quoted": f'"{format(value, "f")}"'}[form]
    i = inst(tick="0.00000001")
    [trade] = events(MexcParser({"BTC_USDT": i}), _DEAL % (text, "1", "1", "BTC_USDT"))
    assert trade.price == i.ticks(value)


# -- the whole recorded capture ----------------------------------------------------------------
def test_whole_capture_gives_the_expected_events_and_only_spot_and_kline_are_refused() -> None:
    rows = capture()
    i = inst()
    parser = MexcParser({"BTC_USDT": i, "DXGM_USDT": inst("DXGM_USDT")})
    kinds: Counter[str] = Counter()
    refused = []
    for row in rows:
        name, raw = row["source_test"], row["raw"]
        out = (parser.snapshot(raw, TS, "BTC_USDT") if name.startswith("l2_snapshot")
               else parser.parse(raw, TS))
        if isinstance(out, BadMessage):
            refused.append(name)
            continue
        assert out is not None
        kinds.update(type(e).__name__ for e in out)
    assert kinds == {"Trade": 1, "BookDelta": 3, "BookSnapshot": 2, "MarkPrice": 1}
    spot = [r["source_test"] for r in rows if r["source_test"].split("::")[1].startswith("spot")]
    assert len(spot) == 6
    assert sorted(refused) == sorted([*spot, "candlestick::linear_swap"])  # kline: not parsed
    assert parser.bad == {BadKind.UNSUPPORTED: len(refused)}
    assert (parser.messages, parser.ignored, sum(parser.dropped_levels.values())) == (
        len(rows), 0, 0)
