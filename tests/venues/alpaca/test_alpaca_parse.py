"""Alpaca stream parsing: equities from real records, crypto in the documented shape.

There is no recorded Alpaca *stream* message in the shared data, only REST bodies
(embedded in alpaca-py's tests, real AAPL prints of 2022-03). The REST trade and quote
records carry the same per-record keys as the stream (``t x p s c i z`` / ``t ax ap as
bx bp bs c z``), so the equity frames here are those real records with the stream's
``"T"`` and ``"S"`` added, nothing else changed. Crypto frames are written in the shape
Alpaca documents (docs.alpaca.markets "Real-time Crypto Data": the AVAX/USD trade and
BAT/USD quote examples, and the ``"o"`` order book with its ``"r"`` reset flag).

Expected values come from the JSON text through ``json`` with ``Decimal`` numbers and
``Instrument.ticks``/``lots``; expected times from ``time.strptime`` and the fraction
digits, never from the parser's own arithmetic.
"""

from __future__ import annotations

import calendar
import json
import time
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED_VENUES, need
from heron.model.book import L2Book
from heron.model.data import BookDelta, BookSide, BookSnapshot, Quote, Trade
from heron.model.instrument import Instrument
from heron.venues.alpaca import BOOK_SEQUENCE, AlpacaParser, BadKind, BadMessage, rfc3339_ns
from heron.venues.alpaca.text import float_text

DATA = SHARED_VENUES / "alpaca"
TS = 1_700_000_000_123_456_789  # a receive time, ns

# Equity trades print at sub-penny prices off-exchange (161.2958 below), so the equity
# grid is 0.0001; quotes are on the penny and fit it too.
AAPL = Instrument("AAPL", venue="ALPACA", price_increment=Decimal("0.0001"),
                  size_increment=Decimal(1))
BTC = Instrument("BTC/USD", venue="ALPACA", price_increment=Decimal("0.001"),
                 size_increment=Decimal("0.000000001"))
AVAX = Instrument("AVAX/USD", venue="ALPACA", price_increment=Decimal("0.001"),
                  size_increment=Decimal("0.000000001"))
BAT = Instrument("BAT/USD", venue="ALPACA", price_increment=Decimal("0.00001"),
                 size_increment=Decimal("0.001"))
ALL = {"AAPL": AAPL, "BTC/USD": BTC, "AVAX/USD": AVAX, "BAT/USD": BAT}

# Crypto, as documented (the trade and quote are Alpaca's own examples).
CRYPTO_TRADE = ('[{"T":"t","S":"AVAX/USD","p":47.299,"s":29.205707815,'
                '"t":"2024-03-12T10:27:48.858228144Z","i":3447222699101865076,"tks":"S"}]')
CRYPTO_QUOTE = ('[{"T":"q","S":"BAT/USD","bp":0.35718,"bs":13445.46,"ap":0.3581,'
                '"as":13561.902,"t":"2024-03-12T10:29:43.111588173Z"}]')
BOOK_RESET = ('[{"T":"o","S":"BTC/USD","t":"2024-03-12T10:30:00.000000001Z",'
              '"b":[{"p":27511.78,"s":0.26265668},{"p":27539.494,"s":0.2632414}],'
              '"a":[{"p":27560.1,"s":1.5},{"p":27541,"s":0.05}],"r":true}]')
BOOK_UPDATE = ('[{"T":"o","S":"BTC/USD","t":"2024-03-12T10:30:00.5Z",'
               '"b":[{"p":27539.494,"s":0}],"a":[{"p":27541,"s":0.07},'
               '{"p":27540.5,"s":0.001}]}]')


def load(name: str) -> Any:
    return json.loads(need(DATA / name).read_text(), parse_float=Decimal)


_JSON = msgspec.json.Encoder(decimal_format="number")  # Decimal out as the number it read


def frame(kind: str, symbol: str, *records: dict[str, Any]) -> str:
    """A stream frame made of REST records: ``T`` and ``S`` added, numbers as sent."""
    return dumps([{"T": kind, "S": symbol, **r} for r in records])


def dumps(value: Any) -> str:
    return _JSON.encode(value).decode()


def ns(text: str) -> int:
    """RFC-3339 ``...Z`` -> ns, independently of the parser (strptime and the digits)."""
    head, _, frac = text.removesuffix("Z").partition(".")
    seconds = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 10**9 + int(frac.ljust(9, "0") or 0)


def events(parser: AlpacaParser, raw: str | bytes) -> list[Any]:
    out = parser.parse(raw, TS)
    assert isinstance(out, list), out
    return out


def bad(parser: AlpacaParser, raw: str | bytes) -> BadMessage:
    out = parser.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


def want_trade(i: Instrument, r: dict[str, Any], aggressor: str = "") -> Trade:
    return Trade(i, ns(r["t"]), TS, i.ticks(r["p"]), i.lots(r["s"]), aggressor, str(r["i"]))


def want_quote(i: Instrument, r: dict[str, Any]) -> Quote:
    return Quote(i, ns(r["t"]), TS, i.ticks(r["bp"]), i.ticks(r["ap"]), i.lots(r["bs"]),
                 i.lots(r["as"]), 0)


# -- equities: real records as stream frames --------------------------------------------------
def test_real_aapl_trades_give_trades_without_aggressor() -> None:
    records = load("rest_v2_stocks_trades_AAPL_2022-03-09.json")["trades"]["AAPL"]
    parser = AlpacaParser(ALL)
    for r in records:
        assert events(parser, frame("t", "AAPL", r)) == [want_trade(AAPL, r)]
    assert ns(records[1]["t"]) == ns("2022-03-09T05:00:16.910000000Z")  # ".91Z": 2 digits


def test_real_aapl_quotes_are_kept_as_sent_even_crossed() -> None:
    records = load("rest_v2_stocks_quotes_AAPL_2022-03-09.json")["quotes"]["AAPL"]
    parser = AlpacaParser(ALL)
    out = [events(parser, frame("q", "AAPL", r)) for r in records]
    assert out == [[want_quote(AAPL, r)] for r in records]
    # 09:00 UTC, before the open: the consolidated ask (K) is below the bid (Q).
    assert all(q.ask < q.bid for [q] in out)


def test_real_latest_trade_and_quote_keep_nanoseconds_and_sub_penny_prices() -> None:
    trade = load("rest_v2_stocks_trades_latest_AAPL_2022-03-18.json")["trades"]["AAPL"]
    quote = load("rest_v2_stocks_quotes_latest_AAPL_2022-03-18.json")["quotes"]["AAPL"]
    parser = AlpacaParser(ALL)
    [t] = events(parser, frame("t", "AAPL", trade))
    [q] = events(parser, frame("q", "AAPL", quote))
    assert (t, q) == (want_trade(AAPL, trade), want_quote(AAPL, quote))
    assert t.ts_event % 1000 != 0  # 14:02:09.722539521: all nine digits kept
    assert trade["p"] == Decimal("161.2958")
    penny = Instrument("AAPL", venue="ALPACA", price_increment=Decimal("0.01"),
                       size_increment=Decimal(1))
    assert bad(AlpacaParser({"AAPL": penny}), frame("t", "AAPL", trade)).kind \
        is BadKind.OFF_GRID


def test_every_real_trade_and_quote_record_parses_in_one_frame_each_and_in_one_frame() -> None:
    """All 12 trade and quote records of the shared Alpaca bodies, zero bad."""
    trades, quotes = _all_real_records()
    parser = AlpacaParser(ALL)
    one_by_one = [e for r in trades for e in events(parser, frame("t", "AAPL", r))]
    one_by_one += [e for r in quotes for e in events(parser, frame("q", "AAPL", r))]
    batch = dumps([{"T": "t", "S": "AAPL", **r} for r in trades]
                  + [{"T": "q", "S": "AAPL", **r} for r in quotes])
    together = events(parser, batch)
    assert together == one_by_one
    assert [type(e) for e in together] == [Trade] * len(trades) + [Quote] * len(quotes)
    assert (len(trades), len(quotes)) == (4, 4)
    assert (parser.messages, sum(parser.bad.values())) == (9, 0)


def _all_real_records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    trades = list(load("rest_v2_stocks_trades_AAPL_2022-03-09.json")["trades"]["AAPL"])
    quotes = list(load("rest_v2_stocks_quotes_AAPL_2022-03-09.json")["quotes"]["AAPL"])
    trades.append(load("rest_v2_stocks_trades_latest_AAPL_2022-03-18.json")["trades"]["AAPL"])
    quotes.append(load("rest_v2_stocks_quotes_latest_AAPL_2022-03-18.json")["quotes"]["AAPL"])
    snap = load("rest_v2_stocks_snapshots_AAPL_2022-03-18.json")["AAPL"]
    trades.append(snap["latestTrade"])
    quotes.append(snap["latestQuote"])
    return trades, quotes


# -- the msgpack/dict path (alpaca-py raw_data=True) -------------------------------------------
def test_dict_records_with_float_numbers_give_the_json_events() -> None:
    """``json.loads`` without parse_float gives Python floats, as msgpack does."""
    trades, quotes = _all_real_records()
    raw = dumps([{"T": "t", "S": "AAPL", **r} for r in trades]
                + [{"T": "q", "S": "AAPL", **r} for r in quotes])
    parser = AlpacaParser(ALL)
    records = json.loads(raw)
    assert isinstance(records[0]["p"], float)
    assert parser.parse_records(records, TS) == events(parser, raw)


def test_dict_records_take_a_msgpack_timestamp() -> None:
    msgpack = pytest.importorskip("msgpack")  # comes with alpaca-py
    [record] = json.loads(CRYPTO_TRADE)
    stamp = msgpack.Timestamp.from_unix_nano(ns(record["t"]))
    packed = msgpack.packb([{**record, "t": stamp}])
    parser = AlpacaParser(ALL)
    assert parser.parse_records(msgpack.unpackb(packed), TS) == events(parser, CRYPTO_TRADE)


def test_dict_book_records_keep_the_numbering_of_the_json_path() -> None:
    parser, other = AlpacaParser(ALL), AlpacaParser(ALL)
    for raw in (BOOK_RESET, BOOK_UPDATE):
        assert parser.parse_records(json.loads(raw), TS) == events(other, raw)


@pytest.mark.parametrize(("record", "kind"), [
    ({"T": "t", "S": "AAPL", "p": True, "s": 1, "t": "2022-03-09T05:00:02Z"}, BadKind.MALFORMED),
    ({"T": "t", "S": "AAPL", "p": float("nan"), "s": 1, "t": "2022-03-09T05:00:02Z"},
     BadKind.MALFORMED),
    ({"T": "t", "S": "AAPL", "p": 1.5, "s": 1, "t": 1646802002}, BadKind.MALFORMED),
    ({"T": "t", "S": "AAPL", "p": 1.5, "t": "2022-03-09T05:00:02Z"}, BadKind.MALFORMED),
    ({"T": "t", "S": "MSFT", "p": 1.5, "s": 1, "t": "2022-03-09T05:00:02Z"},
     BadKind.UNKNOWN_SYMBOL),
    ({"T": "o", "S": "BTC/USD", "t": "2022-03-09T05:00:02Z", "b": 5}, BadKind.MALFORMED),
    ({"T": "o", "S": "BTC/USD", "t": "2022-03-09T05:00:02Z", "r": "yes"}, BadKind.MALFORMED),
    ({"T": "b", "S": "AAPL"}, BadKind.UNSUPPORTED),
    ({"T": "error", "code": 406, "msg": "connection limit exceeded"}, BadKind.VENUE_ERROR),
    ({"S": "AAPL"}, BadKind.UNSUPPORTED),
    ("not a dict", BadKind.MALFORMED),
])
def test_bad_dict_record_is_returned_and_counted(record: Any, kind: BadKind) -> None:
    parser = AlpacaParser(ALL)
    out = parser.parse_records([record], TS)
    assert isinstance(out, BadMessage)
    assert (out.kind, parser.bad) == (kind, {kind: 1})


def test_dict_records_not_in_a_list_are_malformed() -> None:
    out = AlpacaParser(ALL).parse_records({"T": "t"}, TS)  # type: ignore[arg-type]
    assert isinstance(out, BadMessage)
    assert out.kind is BadKind.MALFORMED


# -- crypto, in the documented shape --------------------------------------------------------
def test_crypto_trade_has_the_taker_side_and_exact_size() -> None:
    [r] = json.loads(CRYPTO_TRADE, parse_float=Decimal)
    assert events(AlpacaParser(ALL), CRYPTO_TRADE) == [want_trade(AVAX, r, "sell")]
    buy = CRYPTO_TRADE.replace('"tks":"S"', '"tks":"B"')
    [trade] = events(AlpacaParser(ALL), buy)
    assert trade.aggressor == "buy"


def test_crypto_quote_gives_sizes_with_decimals() -> None:
    [r] = json.loads(CRYPTO_QUOTE, parse_float=Decimal)
    assert events(AlpacaParser(ALL), CRYPTO_QUOTE) == [want_quote(BAT, r)]


def test_book_reset_is_one_snapshot_best_first_then_updates_are_deltas() -> None:
    [snap_msg] = json.loads(BOOK_RESET, parse_float=Decimal)
    [upd_msg] = json.loads(BOOK_UPDATE, parse_float=Decimal)
    parser = AlpacaParser(ALL)
    [snap] = events(parser, BOOK_RESET)

    def levels(side: list[dict[str, Decimal]], best_first_reverse: bool) -> tuple[Any, ...]:
        pairs = [(BTC.ticks(x["p"]), BTC.lots(x["s"])) for x in side]
        return tuple(sorted(pairs, reverse=best_first_reverse))

    assert snap == BookSnapshot(BTC, ns(snap_msg["t"]), TS, levels(snap_msg["b"], True),
                                levels(snap_msg["a"], False), 1)
    deltas = events(parser, BOOK_UPDATE)
    ts = ns(upd_msg["t"])
    sides = [(BookSide.BID, x) for x in upd_msg["b"]] + [(BookSide.ASK, x) for x in upd_msg["a"]]
    assert deltas == [BookDelta(BTC, ts, TS, side, BTC.ticks(x["p"]), BTC.lots(x["s"]), 2,
                                n == len(sides) - 1) for n, (side, x) in enumerate(sides)]


def test_book_follows_snapshot_and_updates_under_the_book_rule() -> None:
    parser = AlpacaParser(ALL)
    book = L2Book(BTC, BOOK_SEQUENCE)
    for raw in (BOOK_RESET, BOOK_UPDATE):
        for event in events(parser, raw):
            if isinstance(event, BookSnapshot):
                book.apply_snapshot(event)
            else:
                book.apply_delta(event)
    assert book.levels(BookSide.BID) == [(27511780, 262656680)]  # 27539.494 was removed
    assert book.levels(BookSide.ASK) == [(27540500, 1000000), (27541000, 70000000),
                                         (27560100, 1500000000)]
    assert (book.gaps, book.stale_messages, book.needs_snapshot) == (0, 0, False)


def test_unusable_book_record_leaves_a_gap_that_asks_for_a_snapshot() -> None:
    parser = AlpacaParser(ALL)
    book = L2Book(BTC, BOOK_SEQUENCE)
    [snap] = events(parser, BOOK_RESET)
    assert isinstance(snap, BookSnapshot)
    book.apply_snapshot(snap)
    broken = BOOK_UPDATE.replace('"s":0.07', '"s":"0.07"')  # a string: not Alpaca's shape
    assert bad(parser, broken).kind is BadKind.MALFORMED
    for delta in events(parser, BOOK_UPDATE):
        book.apply_delta(delta)
    assert (book.gaps, book.needs_snapshot) == (1, True)
    [again] = events(parser, BOOK_RESET)  # what Alpaca sends on resubscribing
    assert isinstance(again, BookSnapshot)
    book.apply_snapshot(again)
    assert (again.sequence, book.needs_snapshot) == (4, False)


def test_empty_book_update_gives_nothing_and_uses_no_number() -> None:
    parser = AlpacaParser(ALL)
    events(parser, BOOK_RESET)
    empty = '[{"T":"o","S":"BTC/USD","t":"2024-03-12T10:30:01Z","b":[],"a":[]}]'
    assert events(parser, empty) == []
    assert {d.sequence for d in events(parser, BOOK_UPDATE)} == {2}


def test_off_grid_book_levels_are_left_out_and_counted() -> None:
    raw = ('[{"T":"o","S":"BTC/USD","t":"2024-03-12T10:30:01Z",'
           '"b":[{"p":100.0001,"s":1},{"p":100,"s":1}],"a":[{"p":101,"s":0.0000000001}]}]')
    parser = AlpacaParser(ALL)
    [delta] = events(parser, raw)
    assert (delta.price, delta.size, delta.is_last) == (100000, 1000000000, True)
    assert (parser.dropped_levels, parser.bad) == ({"BTC/USD": 2}, {})


def test_exponent_numbers_are_read_exactly() -> None:
    raw = CRYPTO_TRADE.replace("29.205707815", "5e-09").replace("47.299", "4.7299E1")
    [trade] = events(AlpacaParser(ALL), raw)
    assert (trade.price, trade.size) == (47299, 5)
    assert float_text(5e-09) == "0.000000005"
    assert float_text(1e16) == "10000000000000000"


# -- control, errors, garbage --------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    '[{"T":"success","msg":"connected"}]',
    '[{"T":"success","msg":"authenticated"}]',
    '[{"T":"subscription","trades":["BTC/USD"],"quotes":[],"orderbooks":["BTC/USD"],'
    '"bars":[],"updatedBars":[],"dailyBars":[]}]',
])
def test_control_frames_are_none_for_ccxt(raw: str) -> None:
    parser = AlpacaParser(ALL)
    assert parser.parse(raw, TS) is None
    assert (parser.ignored, parser.bad) == (1, {})


@pytest.mark.parametrize(("raw", "kind"), [
    (b"not json", BadKind.MALFORMED),
    (CRYPTO_TRADE[:40].encode(), BadKind.TRUNCATED),
    (b'{"T":"t"}', BadKind.MALFORMED),
    (b"[1]", BadKind.MALFORMED),
    (b'[{"S":"AAPL"}]', BadKind.MALFORMED),
    (b'[{"T":"error","code":402,"msg":"auth failed"}]', BadKind.VENUE_ERROR),
    (b'[{"T":"b","S":"BTC/USD","o":1,"h":1,"l":1,"c":1,"v":1,"t":"2024-03-12T10:30:00Z"}]',
     BadKind.UNSUPPORTED),
    (b'[{"T":"zz","S":"BTC/USD"}]', BadKind.UNSUPPORTED),
    (CRYPTO_TRADE.replace("AVAX/USD", "DOGE/USD").encode(), BadKind.UNKNOWN_SYMBOL),
    (CRYPTO_TRADE.replace("47.299", "47.2991").encode(), BadKind.OFF_GRID),
    (CRYPTO_TRADE.replace("47.299", "-47.299").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("47.299", '"47.299"').encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("29.205707815", "0").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace('"S"}', '"X"}').encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("858228144Z", "8582281449Z").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("T10:", " 10:").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("03-12", "02-30").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace(".858228144Z", "").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace(".858228144Z", ".Z").encode(), BadKind.MALFORMED),
    (CRYPTO_TRADE.replace("Z", "+5:30").encode(), BadKind.MALFORMED),
])
def test_bad_frame_is_returned_with_its_text_and_counted(raw: bytes, kind: BadKind) -> None:
    parser = AlpacaParser(ALL)
    out = bad(parser, raw)
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw.decode(), TS)
    assert (parser.bad, parser.messages) == ({kind: 1}, 1)


def test_venue_error_is_a_venue_error_with_code_and_text() -> None:
    """VENUE_ERROR, not UNSUPPORTED: a live session counts it and still hands the frame to
    ccxt, whose login or subscribe may be waiting for exactly this answer."""
    out = bad(AlpacaParser(ALL), '[{"T":"error","code":405,"msg":"symbol limit exceeded"}]')
    assert (out.kind, out.detail) == (BadKind.VENUE_ERROR, "venue error 405: symbol limit exceeded")


def test_venue_error_record_from_alpaca_py_is_a_venue_error() -> None:
    parser = AlpacaParser(ALL)
    out = parser.parse_records([{"T": "error", "code": 402, "msg": "auth failed"}], TS)
    assert isinstance(out, BadMessage)
    assert (out.kind, out.detail) == (BadKind.VENUE_ERROR, "venue error 402: auth failed")
    assert parser.bad == {BadKind.VENUE_ERROR: 1}


def test_a_bad_record_spoils_only_itself_in_a_batched_frame() -> None:
    good = json.loads(CRYPTO_TRADE)[0]
    raw = json.dumps([{"T": "b", "S": "AVAX/USD"}, good, {**good, "S": "DOGE/USD"}])
    parser = AlpacaParser(ALL)
    [trade] = events(parser, raw)
    assert isinstance(trade, Trade)
    assert parser.bad == {BadKind.UNSUPPORTED: 1, BadKind.UNKNOWN_SYMBOL: 1}
    assert [(b.kind, b.detail.split(":")[0]) for b in parser.dropped] == [
        (BadKind.UNSUPPORTED, "record 1 of 3"), (BadKind.UNKNOWN_SYMBOL, "record 3 of 3")]


def test_empty_frame_gives_no_events() -> None:
    assert events(AlpacaParser(ALL), "[]") == []


# -- times and numbers, against independent references -----------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**62), st.integers(0, 9))
def test_rfc3339_ns_reads_every_digit_count(when: int, digits: int) -> None:
    when -= when % 10 ** (9 - digits)
    seconds, frac = divmod(when, 10**9)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    text = head + (f".{frac:09d}"[: digits + 1] if digits else "") + "Z"
    assert rfc3339_ns(text) == when


def test_rfc3339_ns_applies_an_offset() -> None:
    assert rfc3339_ns("2024-03-12T16:00:48.5+05:30") == ns("2024-03-12T10:30:48.5Z")
    assert rfc3339_ns("2024-03-12T05:30:48.5-05:00") == ns("2024-03-12T10:30:48.5Z")


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**15 - 1), st.integers(-12, 6))
def test_float_text_recovers_a_decimal_of_up_to_15_digits(mantissa: int, exponent: int) -> None:
    value = Decimal(mantissa).scaleb(exponent)
    assert Decimal(float_text(float(value))) == value
