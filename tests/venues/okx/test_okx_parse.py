"""OKX v5 message parsing: each channel against its raw JSON values, control frames,
garbage, book sequencing, and the whole recorded 2022 session rebuilt into a book whose
CRC32 matches every checksum OKX sent.

Expected values are computed from the JSON text with ``json`` and ``Decimal`` (through
``Instrument.ticks``/``lots``), never with the parser's own integer arithmetic.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest

from conftest import SHARED_VENUES, need
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
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide
from heron.venues.okx import BOOK_SEQUENCE, BadKind, BadMessage, OkxParser, OkxSequence

DATA = SHARED_VENUES / "okx"
FIXTURES = DATA / "fixtures"
CAPTURE = DATA / "cryptofeed_ws_v5_public_2022-05-13.jsonl.gz"
REST_INSTRUMENTS = DATA / "cryptofeed_rest_instruments_2022-05-13.jsonl.gz"
TS = 1_700_000_000_123_456_789  # a receive time, ns
MS = 1_000_000


def inst(symbol: str = "BTC-USDT-SWAP", tick: str = "0.1", lot: str = "1",
         kind: InstrumentKind = InstrumentKind.LINEAR_PERPETUAL,
         multiplier: str = "0.01") -> Instrument:
    """An OKX instrument; swaps count lots in contracts, ``multiplier`` is ``ctVal``."""
    return Instrument(symbol, venue="OKX", kind=kind, price_increment=Decimal(tick),
                      size_increment=Decimal(lot), multiplier=Decimal(multiplier))


def spot(symbol: str = "BTC-USDT", tick: str = "0.1", lot: str = "0.00000001") -> Instrument:
    return inst(symbol, tick, lot, InstrumentKind.SPOT, "1")


def fixture(name: str) -> str:
    return need(FIXTURES / name).read_text()


def compact(raw: str) -> str:
    """The fixture as OKX sends it: no whitespace (the fixtures are pretty-printed)."""
    return json.dumps(json.loads(raw), separators=(",", ":"))


def events(parser: OkxParser, raw: str | bytes) -> list[Any]:
    out = parser.parse(raw, TS)
    assert isinstance(out, list), out
    return out


def bad(parser: OkxParser, raw: str | bytes) -> BadMessage:
    out = parser.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


def both_forms(parser: OkxParser, raw: str) -> list[Any]:
    """Events of the pretty fixture and of its compact form, which must agree: the
    compact one takes the one-pass path, the pretty one the envelope-first path."""
    pretty = events(parser, raw)
    assert events(parser, compact(raw)) == pretty
    assert events(parser, compact(raw).encode()) == pretty
    return pretty


def ticks(i: Instrument, text: str) -> int:
    return i.ticks(Decimal(text))


def lots(i: Instrument, text: str) -> int:
    return i.lots(Decimal(text))


def rounded(i: Instrument, text: str) -> int:
    return int((Decimal(text) / i.price_increment).to_integral_value(ROUND_HALF_EVEN))


# -- each channel against its fixture -------------------------------------------------------
def test_trades_fixture_gives_a_trade_with_the_taker_side() -> None:
    raw = fixture("ws_trades.json")
    row = json.loads(raw)["data"][0]
    i = spot("BTC-USD")
    [trade] = both_forms(OkxParser({"BTC-USD": i}), raw)
    assert trade == Trade(i, int(row["ts"]) * MS, TS, ticks(i, row["px"]), lots(i, row["sz"]),
                          row["side"], row["tradeId"])


def test_trades_all_is_read_like_trades() -> None:
    raw = fixture("ws_trades.json").replace('"trades"', '"trades-all"')
    parser = OkxParser({"BTC-USD": spot("BTC-USD")})
    assert both_forms(parser, raw) == both_forms(parser, fixture("ws_trades.json"))


@pytest.mark.parametrize("channel", ["books", "books-l2-tbt", "books50-l2-tbt"])
def test_book_snapshot_fixture_gives_a_snapshot_best_first_at_seq_id(channel: str) -> None:
    raw = fixture("ws_books_snapshot.json").replace('"books"', f'"{channel}"')
    row = json.loads(raw)["data"][0]
    i = spot(tick="0.01", lot="1")
    [snap] = both_forms(OkxParser({"BTC-USDT": i}), raw)
    assert snap == BookSnapshot(
        i, int(row["ts"]) * MS, TS,
        tuple((ticks(i, p), lots(i, q)) for p, q, *_ in row["bids"]),
        tuple((ticks(i, p), lots(i, q)) for p, q, *_ in row["asks"]), row["seqId"])
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)


def test_book_update_fixture_gives_one_delta_per_level_with_seq_and_prev_seq() -> None:
    raw = fixture("ws_books_update.json")
    row = json.loads(raw)["data"][0]
    i = spot(tick="0.01", lot="1")
    deltas = both_forms(OkxParser({"BTC-USDT": i}), raw)
    ts = int(row["ts"]) * MS
    levels = ([(BookSide.BID, p, q) for p, q, *_ in row["bids"]]
              + [(BookSide.ASK, p, q) for p, q, *_ in row["asks"]])
    assert deltas == [
        BookDelta(i, ts, TS, side, ticks(i, p), lots(i, q), row["seqId"], n == len(levels) - 1,
                  None, row["prevSeqId"])
        for n, (side, p, q) in enumerate(levels)]


def test_books5_push_is_a_whole_snapshot_each_time() -> None:
    raw = ('{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[{"asks":[["8476.98","415",'
           '"0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"]],'
           '"instId":"BTC-USDT","ts":"1597026383085","seqId":123456}]}')
    i = spot(tick="0.01", lot="1")
    [snap] = events(OkxParser({"BTC-USDT": i}), raw)
    assert snap == BookSnapshot(i, 1597026383085 * MS, TS, ((847697, 256),),
                                ((847698, 415), (847700, 7)), 123456)


def test_bbo_tbt_fixture_gives_a_quote_at_seq_id() -> None:
    raw = fixture("ws_bbo_tbt.json")
    row = json.loads(raw)["data"][0]
    i = spot(tick="0.01", lot="1")
    [quote] = both_forms(OkxParser({"BTC-USDT": i}), raw)
    bid, ask = row["bids"][0], row["asks"][0]
    assert quote == Quote(i, int(row["ts"]) * MS, TS, ticks(i, bid[0]), ticks(i, ask[0]),
                          lots(i, bid[1]), lots(i, ask[1]), row["seqId"])


def test_tickers_fixture_gives_a_quote_without_sequence() -> None:
    raw = fixture("ws_tickers.json")
    row = json.loads(raw)["data"][0]
    i = spot(tick="0.01", lot="0.1")
    [quote] = both_forms(OkxParser({"BTC-USDT": i}), raw)
    assert quote == Quote(i, int(row["ts"]) * MS, TS, ticks(i, row["bidPx"]),
                          ticks(i, row["askPx"]), lots(i, row["bidSz"]), lots(i, row["askSz"]))


@pytest.mark.parametrize("raw", [
    # arg after data, with a decoy "channel" inside a row: the guess is wrong, decoding fails
    '{"data":[{"channel":"books","instId":"BTC-USDT","tradeId":"1","px":"100.1","sz":"0.5",'
    '"side":"buy","ts":"1"}],"arg":{"channel":"trades","instId":"BTC-USDT"}}',
    # a decoy that decodes as the guessed channel: arg.channel disagrees, so it is re-read
    '{"x":{"channel":"trades-all"},"arg":{"channel":"trades","instId":"BTC-USDT"},"data":'
    '[{"instId":"BTC-USDT","tradeId":"1","px":"100.1","sz":"0.5","side":"buy","ts":"1"}]}',
    # spaces after the colons: no guess at all
    '{"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [{"instId": "BTC-USDT", '
    '"tradeId": "1", "px": "100.1", "sz": "0.5", "side": "buy", "ts": "1"}]}',
])
def test_the_channel_found_by_text_search_is_only_a_guess(raw: str) -> None:
    i = spot()
    [t] = events(OkxParser({"BTC-USDT": i}), raw)
    assert t == Trade(i, MS, TS, 1001, 50_000_000, "buy", "1")


def test_one_sided_bbo_and_ticker_give_no_quote() -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    bbo = ('{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT"},"data":[{"asks":[],'
           '"bids":[["1.0","1","0","1"]],"ts":"1","seqId":5}]}')
    ticker = ('{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
              '"bidPx":"1.0","bidSz":"1","askPx":"","askSz":"","ts":"1"}]}')
    assert events(parser, bbo) == events(parser, ticker) == []
    assert not parser.bad


def test_funding_rate_fixture_gives_the_rate_at_funding_time() -> None:
    raw = fixture("ws_funding_rate.json")
    row = json.loads(raw)["data"][0]
    i = inst()
    [funding] = both_forms(OkxParser({"BTC-USDT-SWAP": i}), raw)
    assert funding == FundingRate(i, int(row["fundingTime"]) * MS, TS, row["fundingRate"])


def test_negative_funding_rate_is_kept_as_sent() -> None:
    raw = ('{"arg":{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},"data":[{"instId":'
           '"BTC-USDT-SWAP","fundingRate":"-0.000012345678","fundingTime":"1744617600000",'
           '"nextFundingRate":"","ts":"1744590349506"}]}')
    [funding] = events(OkxParser({"BTC-USDT-SWAP": inst()}), raw)
    assert (funding.rate, funding.ts_event) == ("-0.000012345678", 1744617600000 * MS)


def test_mark_price_rows_give_the_mark_rounded_half_even_to_the_tick() -> None:
    rest = json.loads(fixture("http_get_mark_price.json"))  # the REST rows are the push's
    pushed = rest["data"] + [{**rest["data"][0], "markPx": "84660.15"},
                             {**rest["data"][0], "markPx": "84660.25"}]
    raw = json.dumps({"arg": {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
                      "data": pushed})
    i = inst()
    marks = events(OkxParser({"BTC-USDT-SWAP": i}), raw)
    assert marks == [MarkPrice(i, int(r["ts"]) * MS, TS, rounded(i, r["markPx"])) for r in pushed]
    assert [m.mark for m in marks[1:]] == [846602, 846602]  # half-even: .15 up, .25 down


LIQUIDATION = (  # the OKX v5 documentation's example push (no capture exists)
    '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":'
    '"0","bkPx":"0.007831","ccy":"","posSide":"short","side":"buy","sz":"13","ts":'
    '"1692266434010"},{"bkLoss":"0","bkPx":"0.0078305","ccy":"","posSide":"long","side":'
    '"sell","sz":"2","ts":"1692266434011"}],"instFamily":"IOST-USDT","instId":'
    '"IOST-USDT-SWAP","instType":"SWAP","uly":"IOST-USDT"}]}')


def test_liquidation_orders_give_one_liquidation_per_forced_order() -> None:
    i = inst("IOST-USDT-SWAP", tick="0.000001", multiplier="1000")
    details = json.loads(LIQUIDATION)["data"][0]["details"]
    out = events(OkxParser({"IOST-USDT-SWAP": i}), LIQUIDATION)
    assert out == [Liquidation(i, int(d["ts"]) * MS, TS, OrderSide(d["side"]),
                               rounded(i, d["bkPx"]), lots(i, d["sz"])) for d in details]
    assert [e.side for e in out] == [OrderSide.BUY, OrderSide.SELL]  # buy: a short closed


def test_liquidation_of_an_instrument_not_held_is_an_unknown_symbol() -> None:
    parser = OkxParser({"BTC-USDT-SWAP": inst()})
    assert bad(parser, LIQUIDATION).kind is BadKind.UNKNOWN_SYMBOL


def test_unheld_liquidations_are_skipped_and_counted_when_asked() -> None:
    """A live feed subscribes the channel per instrument type: other swaps' forced orders
    are nobody's error. Held rows of the same push still come through."""
    held = inst("IOST-USDT-SWAP", tick="0.000001", multiplier="1000")
    push = json.loads(LIQUIDATION)
    other = {**push["data"][0], "instId": "BTC-USDT-SWAP"}  # the same orders, not held
    mixed = json.dumps({**push, "data": [other, push["data"][0]]})
    parser = OkxParser({"IOST-USDT-SWAP": held}, skip_unheld_liquidations=True)
    assert events(parser, mixed) == events(OkxParser({"IOST-USDT-SWAP": held}), LIQUIDATION)
    only_other = OkxParser({"BTC-USDT-SWAP": inst()}, skip_unheld_liquidations=True)
    assert events(only_other, LIQUIDATION) == []
    assert (parser.unheld_liquidations, only_other.unheld_liquidations) == (2, 2)
    assert not parser.bad and not only_other.bad


# -- control frames go to ccxt (None), garbage is counted (never None) ----------------------
@pytest.mark.parametrize("raw", [
    b"pong", "pong",
    '{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}',
    b'{"event":"unsubscribe","arg":{"channel":"trades","instId":"BTC-USDT"}}',
    '{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}',
    '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service'
    ' upgrade. Please reconnect.","connId":"a4d3ae55"}',
    '{"event":"channel-conn-count","channel":"books","connCount":"2","connId":"a4d3ae55"}',
])
def test_control_frame_gives_none_and_is_counted_as_ignored(raw: str | bytes) -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    assert parser.parse(raw, TS) is None
    assert (parser.messages, parser.ignored, sum(parser.bad.values())) == (1, 1, 0)


TRADE = ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
         '"tradeId":"1","px":"%s","sz":"%s","side":"%s","ts":"1"}]}')


def trade(px: str = "100.1", sz: str = "0.5", side: str = "buy") -> bytes:
    return (TRADE % (px, sz, side)).encode()


@pytest.mark.parametrize(("raw", "kind"), [
    (b"not json at all", BadKind.MALFORMED),
    (b"ping", BadKind.MALFORMED),
    (b"", BadKind.TRUNCATED),
    (trade()[:70], BadKind.TRUNCATED),
    (b"[1, 2, 3]", BadKind.MALFORMED),
    (b'{"hello":"world"}', BadKind.UNSUPPORTED),
    (b'{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1","2"]]}',
     BadKind.UNSUPPORTED),
    (b'{"arg":{"channel":"open-interest","instId":"BTC-USDT"},"data":[]}', BadKind.UNSUPPORTED),
    (b'{"arg":{"channel":"trades","instId":"BTC-USDT"}}', BadKind.MALFORMED),
    (b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"1"}]}',
     BadKind.MALFORMED),
    (b'{"arg":{"channel":"books","instId":"BTC-USDT"},"data":[{"asks":[],"bids":[],"ts":"1"}]}',
     BadKind.MALFORMED),  # a book push that is neither snapshot nor update
    (b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
     b'[["100.1"]],"bids":[],"ts":"1"}]}', BadKind.MALFORMED),
    (trade(px="100.15"), BadKind.OFF_GRID),
    (trade(sz="0.000000001"), BadKind.OFF_GRID),
    (trade(px="-100.1"), BadKind.MALFORMED),
    (trade(px="1e2"), BadKind.MALFORMED),
    (trade(sz="0"), BadKind.MALFORMED),
    (trade(side="hold"), BadKind.MALFORMED),
    (trade().replace(b'"px":"100.1"', b'"px":100.1'), BadKind.MALFORMED),  # never a float
    (trade().replace(b"BTC-USDT", b"ETH-USDT"), BadKind.UNKNOWN_SYMBOL),
    (b'{"arg":{"channel":"funding-rate","instId":"BTC-USDT"},"data":[{"fundingRate":"abc",'
     b'"fundingTime":"1"}]}', BadKind.MALFORMED),
    (b'{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId":"BTC-USDT",'
     b'"details":[{"side":"buy","bkPx":"1","sz":"0","ts":"1"}]}]}', BadKind.MALFORMED),
])
def test_bad_message_is_returned_with_its_text_and_counted(raw: bytes, kind: BadKind) -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    out = bad(parser, raw)
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw.decode(), TS)
    assert (parser.bad, parser.messages, parser.ignored) == ({kind: 1}, 1, 0)


@pytest.mark.parametrize("name", ["ws_candle.json", "ws_instruments.json", "ws_orders.json",
                                  "ws_account.json", "ws_opt_summary.json"])
def test_channels_heron_does_not_read_are_bad_not_none(name: str) -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    out = bad(parser, fixture(name))
    assert out.kind in (BadKind.UNSUPPORTED, BadKind.MALFORMED)  # opt-summary: a bare array


def test_venue_error_reply_is_a_venue_error_with_its_code_and_text() -> None:
    raw = ('{"event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\",'
           ' \\"argss\\":[{ \\"channel\\" : \\"books\\"}]}","connId":"a4d3ae55"}')
    parser = OkxParser({"BTC-USDT": spot()})
    out = bad(parser, raw)
    assert out.kind is BadKind.VENUE_ERROR  # counted, and handed on to ccxt as well
    assert "60012" in out.detail
    assert "Invalid request" in out.detail
    conn = '{"event":"channel-conn-count-error","channel":"books","connCount":"30"}'
    assert bad(parser, conn).kind is BadKind.VENUE_ERROR
    assert parser.bad == {BadKind.VENUE_ERROR: 2}


def test_off_grid_book_levels_are_left_out_and_counted_not_the_message() -> None:
    raw = ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
           '[["100.1","1","0","1"],["100.15","2","0","1"]],"bids":[["99.95","3","0","1"],'
           '["99.9","0","0","0"]],"ts":"5","seqId":11,"prevSeqId":10}]}')
    parser = OkxParser({"BTC-USDT": spot()})
    out = events(parser, raw)
    assert [(d.side, d.price, d.size, d.is_last) for d in out] == [
        (BookSide.BID, 999, 0, False), (BookSide.ASK, 1001, 100_000_000, True)]
    assert parser.dropped_levels == {"BTC-USDT": 2}
    assert not parser.bad


# -- book sequencing ---------------------------------------------------------------------------
def book_push(action: str, seq: int, prev: int, bids: str = "", asks: str = "") -> str:
    row = {"asks": json.loads(f"[{asks}]"), "bids": json.loads(f"[{bids}]"),
           "ts": str(1000 + seq), "checksum": 0, "seqId": seq, "prevSeqId": prev}
    return json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": action,
                       "data": [row]}, separators=(",", ":"))


def test_keep_alive_update_gives_no_deltas_and_does_not_break_the_chain() -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    book = L2Book(spot(), BOOK_SEQUENCE)
    book.apply_snapshot(events(parser, book_push("snapshot", 5, -1, '["10.0","1","0","1"]',
                                                 '["10.1","1","0","1"]'))[0])
    assert events(parser, book_push("update", 5, 5)) == []  # seqId == prevSeqId, no levels
    for delta in events(parser, book_push("update", 6, 5, '["10.0","2","0","1"]')):
        book.apply_delta(delta)
    assert (book.gaps, book.stale_messages, book.last_sequence) == (0, 0, 6)
    assert book.best_bid() == (100, 200_000_000)


def test_sequence_reset_after_maintenance_follows_on_and_a_broken_link_is_a_gap() -> None:
    parser = OkxParser({"BTC-USDT": spot()})
    pushes = [book_push("update", 16, 15, '["10.0","2","0","1"]'),
              book_push("update", 3, 16, '["10.0","3","0","1"]'),   # the reset
              book_push("update", 4, 3, '["10.0","4","0","1"]')]
    snapshot = events(parser, book_push("snapshot", 15, -1, '["10.0","1","0","1"]'))[0]
    okx, linked = L2Book(spot(), BOOK_SEQUENCE), L2Book(spot(), LinkedSequence())
    for book in (okx, linked):
        book.apply_snapshot(snapshot)
        for push in pushes:
            for delta in events(parser, push):
                book.apply_delta(delta)
    assert (okx.gaps, okx.stale_messages, okx.best_bid()) == (0, 0, (100, 400_000_000))
    # model.book.LinkedSequence checks the link first as well, so it agrees
    assert (linked.gaps, linked.stale_messages, linked.best_bid()) == (0, 0, (100, 400_000_000))
    for delta in events(parser, book_push("update", 9, 7, '["10.0","5","0","1"]')):
        okx.apply_delta(delta)
    assert (okx.gaps, okx.needs_snapshot) == (1, True)


@pytest.mark.parametrize(("last", "final", "prev", "verdict"), [
    (10, 11, 10, Verdict.APPLY),   # the next push
    (10, 10, 10, Verdict.APPLY),   # a keep-alive (gives no deltas anyway)
    (10, 3, 10, Verdict.APPLY),    # seqId reset below prevSeqId after maintenance
    (10, 12, 11, Verdict.GAP),     # a push went missing
    (10, 12, None, Verdict.GAP),   # no prevSeqId: continuity cannot be shown
    (10, 10, 9, Verdict.STALE),    # the push already applied, again
    (10, 8, 7, Verdict.STALE),     # older than the snapshot
])
def test_okx_sequence_verdicts(last: int, final: int, prev: int | None,
                               verdict: Verdict) -> None:
    assert OkxSequence().check(last, final, final, prev) is verdict


def test_book_fixtures_chain_into_a_book_without_gaps() -> None:
    i = spot(tick="0.01", lot="1")
    parser = OkxParser({"BTC-USDT": i})
    book = L2Book(i, BOOK_SEQUENCE)
    [snap] = events(parser, fixture("ws_books_snapshot.json"))
    book.apply_snapshot(snap)
    for delta in events(parser, fixture("ws_books_update.json")):
        book.apply_delta(delta)
    assert (book.gaps, book.stale_messages, book.needs_snapshot) == (0, 0, False)
    assert book.last_sequence == json.loads(fixture("ws_books_update.json"))["data"][0]["seqId"]


def test_push_without_seq_id_is_numbered_by_its_time() -> None:
    """2022 pushes predate seqId: the time orders them, and no prev_sequence is claimed."""
    raw = ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
           '[["10.1","1","0","1"]],"bids":[],"ts":"1652459225464","checksum":-914047754}]}')
    [delta] = events(OkxParser({"BTC-USDT": spot()}), raw)
    assert (delta.sequence, delta.prev_sequence, delta.first_sequence, delta.is_last) == (
        1652459225464, None, None, True)


# -- the whole recorded session --------------------------------------------------------------
def rest_instruments(*ids: str) -> dict[str, Instrument]:
    """The session's instruments with the tick and lot OKX published that day."""
    need(REST_INSTRUMENTS)
    found: dict[str, Instrument] = {}
    with gzip.open(REST_INSTRUMENTS, "rt") as f:
        for line in f:
            entry = json.loads(line)
            if entry["dir"] != "http_response":
                continue
            for d in json.loads(entry["raw"])["data"]:
                if d["instId"] in ids:
                    found[d["instId"]] = (spot(d["instId"], d["tickSz"], d["lotSz"])
                                          if d["instType"] == "SPOT" else
                                          inst(d["instId"], d["tickSz"], d["lotSz"],
                                               multiplier=d["ctVal"]))
    assert set(found) == set(ids)
    return found


def capture() -> list[str]:
    with gzip.open(need(CAPTURE), "rt") as f:
        return [e["raw"] for e in map(json.loads, f) if e["dir"] == "recv"]


def test_rest_instruments_have_the_real_grids() -> None:
    found = rest_instruments("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")
    assert {k: (str(v.price_increment), str(v.size_increment)) for k, v in found.items()} == {
        "BTC-USD-220527": ("0.1", "1"), "UNI-USD-SWAP": ("0.001", "1"),
        "BTC-USDT": ("0.1", "1E-8")}


def test_whole_capture_agrees_with_a_json_and_decimal_reference() -> None:
    """Every push of the 2022 session, converted two independent ways; control frames
    are None, nothing is bad."""
    found = rest_instruments("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")
    parser = OkxParser(found)
    kinds: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for raw in capture():
        out = parser.parse(raw, TS)
        msg = json.loads(raw)
        if "event" in msg:
            assert out is None
            expected["None"] += 1
            kinds["None"] += 1
            continue
        assert isinstance(out, list)
        kinds.update(type(e).__name__ for e in out)
        expected.update(_check_against_reference(found[msg["arg"]["instId"]], msg, out))
    assert kinds == expected
    assert kinds == {"BookDelta": 7088, "Trade": 74, "Quote": 28, "None": 18, "BookSnapshot": 3}
    assert not parser.bad
    assert (parser.messages, parser.ignored) == (410, 18)


def _check_against_reference(i: Instrument, msg: dict[str, Any], out: list[Any]) -> Counter[str]:
    channel, rows = msg["arg"]["channel"], msg["data"]
    if channel == "trades":
        assert [(t.ts_event, t.price, t.size, t.aggressor, t.trade_id) for t in out] == [
            (int(r["ts"]) * MS, ticks(i, r["px"]), lots(i, r["sz"]), r["side"], r["tradeId"])
            for r in rows]
        return Counter({"Trade": len(rows)})
    if channel == "tickers":
        assert [(q.bid, q.ask, q.bid_size, q.ask_size, q.sequence) for q in out] == [
            (ticks(i, r["bidPx"]), ticks(i, r["askPx"]), lots(i, r["bidSz"]),
             lots(i, r["askSz"]), 0) for r in rows]
        return Counter({"Quote": len(rows)})
    [row] = rows
    levels = ([(BookSide.BID, ticks(i, p), lots(i, q)) for p, q, *_ in row["bids"]]
              + [(BookSide.ASK, ticks(i, p), lots(i, q)) for p, q, *_ in row["asks"]])
    if msg["action"] == "snapshot":
        [snap] = out
        got = [(BookSide.BID, *lv) for lv in snap.bids] + [(BookSide.ASK, *lv) for lv in snap.asks]
        assert got == levels
        return Counter({"BookSnapshot": 1})
    assert [(d.side, d.price, d.size) for d in out] == levels
    assert [d.is_last for d in out] == [False] * (len(out) - 1) + [True]
    assert {(d.sequence, d.prev_sequence, d.ts_event) for d in out} == {
        (int(row["ts"]), None, int(row["ts"]) * MS)}
    return Counter({"BookDelta": len(levels)})


def test_capture_books_rebuilt_from_events_match_every_okx_checksum() -> None:
    """The parser's events, applied to heron books, give after every push the levels of a
    reference book kept in OKX's own text, whose CRC32 over the top 25 levels is the
    checksum OKX sent with that push (290 of 290)."""
    found = rest_instruments("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")
    parser = OkxParser(found)
    books: dict[str, L2Book] = {}
    texts: dict[str, tuple[dict[Decimal, tuple[str, str]], dict[Decimal, tuple[str, str]]]] = {}
    checked = 0
    for raw in capture():
        msg = json.loads(raw)
        if msg.get("arg", {}).get("channel") != "books" or "data" not in msg:
            continue
        symbol, row = msg["arg"]["instId"], msg["data"][0]
        out = events(parser, raw)
        if msg["action"] == "snapshot":
            books[symbol] = L2Book(found[symbol], BOOK_SEQUENCE)
            books[symbol].apply_snapshot(out[0])
            texts[symbol] = ({}, {})
        else:
            for delta in out:
                books[symbol].apply_delta(delta)
        bids, asks = texts[symbol]
        _apply_text(bids, row["bids"])
        _apply_text(asks, row["asks"])
        top_bids = [bids[p] for p in sorted(bids, reverse=True)]
        top_asks = [asks[p] for p in sorted(asks)]
        assert _okx_checksum(top_bids[:25], top_asks[:25]) == row["checksum"]
        i, book = found[symbol], books[symbol]
        assert book.levels(BookSide.BID) == [(ticks(i, p), lots(i, q)) for p, q in top_bids]
        assert book.levels(BookSide.ASK) == [(ticks(i, p), lots(i, q)) for p, q in top_asks]
        checked += 1
    assert checked == 290
    assert all(b.crossed_messages == 0 and b.stale_messages == 0 for b in books.values())
    # 2022 pushes carry no prevSeqId: every update is applied but cannot prove it follows on
    assert sum(b.gaps for b in books.values()) == checked - len(books)


def _apply_text(side: dict[Decimal, tuple[str, str]], levels: list[list[str]]) -> None:
    for p, q, *_ in levels:
        if Decimal(q) == 0:
            side.pop(Decimal(p), None)
        else:
            side[Decimal(p)] = (p, q)


def _okx_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's book checksum: ``bid:size:ask:size:...`` interleaved, CRC32 as a signed int."""
    parts: list[str] = []
    for n in range(max(len(bids), len(asks))):
        for side in (bids, asks):
            if n < len(side):
                parts += side[n]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc
