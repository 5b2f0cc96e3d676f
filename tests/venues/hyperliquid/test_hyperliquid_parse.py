"""Hyperliquid message parsing: the real capture and fixtures against their raw JSON, garbage.

Expected values are computed from the JSON text with ``json`` and ``Decimal`` (through
``Instrument.ticks``/``lots``), never with the parser's own integer arithmetic.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from typing import Any

import pytest

from conftest import SHARED_VENUES, need
from heron.model.book import L2Book
from heron.model.data import BookSnapshot, FundingRate, MarkPrice, Quote, Trade
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.hyperliquid import (
    BOOK_SEQUENCE,
    BadKind,
    BadMessage,
    HyperliquidParser,
    decode,
    next_funding_ns,
)

DATA = SHARED_VENUES / "hyperliquid"
CAPTURE = DATA / "ws_capture_BTC_2025-01-26.txt.gz"
TS = 1_737_918_843_893_903_000  # a receive time, ns (2025-01-26 19:14:03.893903 UTC)
MS = 1_000_000
HOUR = 3_600 * 10**9
ZERO_HASH = "0x" + "0" * 64


def inst(coin: str = "BTC", tick: str = "1", sz_decimals: int = 5) -> Instrument:
    """A Hyperliquid perp: lot ``10**-szDecimals``; tick 1 holds every BTC price above 10k."""
    return Instrument(coin, venue="HYPERLIQUID", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(tick),
                      size_increment=Decimal(1).scaleb(-sz_decimals),
                      quote_currency="USDC")


def capture() -> list[tuple[int, bytes]]:
    with gzip.open(need(CAPTURE), "rb") as f:
        return [(int(stamp), raw) for stamp, raw in
                (line.rstrip(b"\n").split(b" ", 1) for line in f)]


def btc_sz_decimals() -> int:
    meta = json.loads(need(DATA / "rest_info_meta_2023-07-17.json").read_text())
    [btc] = [a for a in meta["universe"] if a["name"] == "BTC"]
    return int(btc["szDecimals"])


def real_ctxs() -> list[dict[str, Any]]:
    """Every asset context of the recorded ``allDexsAssetCtxs`` push (the same ctx objects
    ``activeAssetCtx`` carries, one coin at a time); the first is BTC's."""
    msg = json.loads(need(DATA / "fixtures" / "ws_all_dexs_asset_ctxs.json").read_text())
    return [ctx for _, ctxs in msg["data"]["ctxs"] for ctx in ctxs]


def active_asset_ctx(coin: str, ctx: dict[str, Any]) -> str:
    return json.dumps({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}})


def events(parser: HyperliquidParser, raw: str | bytes, ts: int = TS) -> list[Any]:
    out = parser.parse(raw, ts)
    assert isinstance(out, list), out
    return out


def bad(parser: HyperliquidParser, raw: str | bytes) -> BadMessage:
    out = parser.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


def half_even(i: Instrument, text: str) -> int:
    return int((Decimal(text) / i.price_increment).to_integral_value(ROUND_HALF_EVEN))


# -- the real capture ------------------------------------------------------------------------
def test_whole_capture_agrees_with_a_json_and_decimal_reference() -> None:
    """46 book snapshots and 64 trades of a real BTC session, converted two ways."""
    i = inst(sz_decimals=btc_sz_decimals())
    parser = HyperliquidParser({"BTC": i})
    kinds: Counter[str] = Counter()
    for stamp, raw in capture():
        out = events(parser, raw, stamp)
        kinds.update(type(e).__name__ for e in out)
        _check_against_reference(i, json.loads(raw), out, stamp)
    assert kinds == {"BookSnapshot": 46, "Trade": 64}
    assert (parser.messages, parser.ignored, parser.bad) == (55, 0, Counter())


def _check_against_reference(i: Instrument, msg: dict[str, Any], out: list[Any],
                             stamp: int) -> None:
    data = msg["data"]
    if msg["channel"] == "l2Book":
        bids, asks = data["levels"]
        assert out == [BookSnapshot(
            i, data["time"] * MS, stamp,
            tuple((i.ticks(Decimal(lv["px"])), i.lots(Decimal(lv["sz"]))) for lv in bids),
            tuple((i.ticks(Decimal(lv["px"])), i.lots(Decimal(lv["sz"]))) for lv in asks),
            data["time"])]
        return
    assert msg["channel"] == "trades"
    assert out == [Trade(i, t["time"] * MS, stamp, i.ticks(Decimal(t["px"])),
                         i.lots(Decimal(t["sz"])), {"B": "buy", "A": "sell"}[t["side"]],
                         str(t["tid"])) for t in data]


def test_aggressor_is_the_party_on_every_fill_of_one_taker_order() -> None:
    """``users`` is ``[buyer, seller]``; the taker is the one address common to all fills
    of one order (one hash) that met several makers, and its side is the aggressor."""
    i = inst()
    parser = HyperliquidParser({"BTC": i})
    fills: defaultdict[str, list[tuple[Trade, list[str]]]] = defaultdict(list)
    for stamp, raw in capture():
        msg = json.loads(raw)
        if msg["channel"] == "trades":
            for trade, t in zip(events(parser, raw, stamp), msg["data"], strict=True):
                if t["hash"] != ZERO_HASH:  # TWAP slices share the zero hash
                    fills[t["hash"]].append((trade, t["users"]))
    checked = 0
    for group in fills.values():
        buyers = {users[0] for _, users in group}
        sellers = {users[1] for _, users in group}
        if len(group) > 1 and len(buyers | sellers) > 2:
            taker_sold = len(sellers) == 1 and len(buyers) > 1
            assert {trade.aggressor for trade, _ in group} == {"sell" if taker_sold else "buy"}
            checked += 1
    assert checked == 1  # the capture has one such order: side "A", one seller, three buyers


def test_book_snapshots_are_best_first_uncrossed_and_ordered_by_time() -> None:
    i = inst()
    parser = HyperliquidParser({"BTC": i})
    book = L2Book(i)
    last = 0
    for stamp, raw in capture():
        for snap in events(parser, raw, stamp):
            if isinstance(snap, BookSnapshot):
                assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids),
                                                           reverse=True)
                assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
                assert len(snap.bids) == len(snap.asks) == 20
                assert snap.sequence >= last  # the reply and the first push share a time
                last = snap.sequence
                book.apply_snapshot(snap)
                assert book.best_bid() == snap.bids[0]
                assert book.best_ask() == snap.asks[0]
    assert book.crossed_messages == 0
    assert BOOK_SEQUENCE is None  # whole snapshots: nothing to sequence


def test_bytes_and_text_give_the_same_events() -> None:
    parser = HyperliquidParser({"BTC": inst()})
    for stamp, raw in capture()[:3]:
        assert events(parser, raw, stamp) == events(parser, raw.decode(), stamp)


# -- bbo and asset contexts ----------------------------------------------------------------
def test_bbo_gives_a_quote_sequenced_by_the_book_time() -> None:
    """A ``bbo`` in its documented shape, built from the capture's first book's top."""
    stamp, raw = capture()[0]
    book = json.loads(raw)["data"]
    top = [side[0] for side in book["levels"]]
    msg = {"channel": "bbo", "data": {"coin": "BTC", "time": book["time"], "bbo": top}}
    i = inst()
    [quote] = events(HyperliquidParser({"BTC": i}), json.dumps(msg), stamp)
    bid, ask = top
    assert quote == Quote(i, book["time"] * MS, stamp, i.ticks(Decimal(bid["px"])),
                          i.ticks(Decimal(ask["px"])), i.lots(Decimal(bid["sz"])),
                          i.lots(Decimal(ask["sz"])), book["time"])


def test_bbo_with_an_empty_side_gives_no_quote_and_is_not_bad() -> None:
    raw = ('{"channel":"bbo","data":{"coin":"BTC","time":1,'
           '"bbo":[null,{"px":"105056.0","sz":"0.5","n":1}]}}')
    parser = HyperliquidParser({"BTC": inst()})
    assert events(parser, raw) == []
    assert not parser.bad


def test_active_asset_ctx_gives_mark_oracle_index_and_the_rate_at_the_next_hour() -> None:
    ctx = real_ctxs()[0]
    i = inst()
    mark, funding = events(HyperliquidParser({"BTC": i}), active_asset_ctx("BTC", ctx))
    assert mark == MarkPrice(i, TS, TS, i.ticks(Decimal(ctx["markPx"])),
                             i.ticks(Decimal(ctx["oraclePx"])))
    assert funding == FundingRate(i, (TS // HOUR + 1) * HOUR, TS, ctx["funding"])
    assert funding.ts_event == 1_737_921_600 * 10**9  # 2025-01-26 20:00:00 UTC


def test_every_recorded_asset_ctx_rounds_half_even_to_the_tick() -> None:
    """412 real contexts (every dex's perps) on one coarse grid: marks and oracles finer
    than the tick are rounded, never refused; the rate is kept as sent."""
    i = inst("X", tick="0.01", sz_decimals=0)
    parser = HyperliquidParser({"X": i})
    ctxs = real_ctxs()
    rounded = 0
    for ctx in ctxs:
        mark, funding = events(parser, active_asset_ctx("X", ctx))
        assert (mark.mark, mark.index, funding.rate) == (
            half_even(i, ctx["markPx"]), half_even(i, ctx["oraclePx"]), ctx["funding"])
        rounded += Decimal(ctx["oraclePx"]) != i.price(mark.index)
    assert (len(ctxs), parser.bad) == (412, Counter())
    assert rounded > 0  # the grid really was coarser than some oracle prices


def test_recorded_funding_settles_hourly_so_the_rate_applies_at_the_next_hour() -> None:
    history = json.loads(
        need(DATA / "rest_info_fundingHistory_BTC_2023-05-12_2023-07-17.json").read_text())
    hourly = history[-950:]  # every 8 h until 2023-06-07, hourly since
    assert all(row["time"] % 3_600_000 < 10_000 for row in hourly)  # paid on the hour
    gaps = Counter(round((b["time"] - a["time"]) / 3_600_000) for a, b in pairwise(hourly))
    assert gaps == {1: 948, 2: 1}  # one hour missing from the record
    assert next_funding_ns(5 * HOUR + 1) == next_funding_ns(6 * HOUR - 1) == 6 * HOUR
    assert next_funding_ns(6 * HOUR) == 7 * HOUR  # paid on the hour: the next one is later


# -- control messages are handed on, garbage is counted -------------------------------------
@pytest.mark.parametrize("raw", [
    b"Websocket connection established.",
    b'{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":'
    b'{"type":"l2Book","coin":"BTC","nSigFigs":5,"mantissa":null}}}',
    b'{"channel":"pong"}',
    b'{"channel":"post","data":{"id":1,"response":{"type":"info","payload":{}}}}',
])
def test_control_message_is_none_and_counted_as_ignored(raw: bytes) -> None:
    parser = HyperliquidParser({"BTC": inst()})
    assert parser.parse(raw, TS) is None
    assert decode(raw) is None
    assert (parser.ignored, parser.messages, parser.bad) == (1, 1, Counter())


def _trade(px: str = "105055.0", sz: str = "0.1", side: str = "A", coin: str = "BTC") -> bytes:
    return json.dumps({"channel": "trades", "data": [
        {"coin": coin, "side": side, "px": px, "sz": sz, "time": 1, "hash": ZERO_HASH,
         "tid": 7, "users": []}]}).encode()


def _book(bid_px: str = "105055.0") -> bytes:
    return json.dumps({"channel": "l2Book", "data": {"coin": "BTC", "time": 1, "levels": [
        [{"px": bid_px, "sz": "1.0", "n": 1}, {"px": "105050.0", "sz": "0.5", "n": 2}],
        [{"px": "105056.0", "sz": "2.0", "n": 1}]]}}).encode()


GARBAGE = [
    (b"not json at all", BadKind.MALFORMED),
    (b"\xff\xfe\x00", BadKind.MALFORMED),
    (b"", BadKind.TRUNCATED),
    (b'{"channel":"l2Book","data":{"coin":"BTC","levels":[[{"px":"105055.0"', BadKind.TRUNCATED),
    (b"[1, 2, 3]", BadKind.MALFORMED),
    (b"null", BadKind.MALFORMED),
    (b'{"hello":"world"}', BadKind.MALFORMED),
    (b'{"channel":5,"data":{}}', BadKind.MALFORMED),
    (b'{"channel":"error","data":"Invalid subscription {\\"type\\":\\"l2Bok\\"}"}',
     BadKind.VENUE_ERROR),
    (b'{"channel":"candle","data":{"s":"BTC"}}', BadKind.UNSUPPORTED),
    (b'{"channel":"activeSpotAssetCtx","data":{"coin":"@107","ctx":{}}}', BadKind.UNSUPPORTED),
    (b'{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[]]}}', BadKind.MALFORMED),
    (b'{"channel":"l2Book","data":{"coin":"BTC","levels":[[],[]]}}', BadKind.MALFORMED),
    (b'{"channel":"trades","data":{"coin":"BTC"}}', BadKind.MALFORMED),
    (b'{"channel":"bbo","data":{"coin":"BTC","time":1,"bbo":[null]}}', BadKind.MALFORMED),
    (b'{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"markPx":"1.0"}}}',
     BadKind.MALFORMED),
    (active_asset_ctx("BTC", {"funding": "1e-5", "markPx": "1.0", "oraclePx": "1.0"}).encode(),
     BadKind.MALFORMED),
    (active_asset_ctx("BTC", {"funding": "0.0", "markPx": "-1.0", "oraclePx": "1.0"}).encode(),
     BadKind.MALFORMED),
    (_trade(coin="ETH"), BadKind.UNKNOWN_SYMBOL),
    (active_asset_ctx("ETH", {"funding": "0.0", "markPx": "1.0", "oraclePx": "1.0"}).encode(),
     BadKind.UNKNOWN_SYMBOL),
    (b'{"channel":"bbo","data":{"coin":"ETH","time":1,"bbo":[null,null]}}',
     BadKind.UNKNOWN_SYMBOL),
    (_trade(px="105055.5"), BadKind.OFF_GRID),
    (_trade(sz="0.000001"), BadKind.OFF_GRID),
    (_book(bid_px="105054.9"), BadKind.OFF_GRID),
    (_trade(side="X"), BadKind.MALFORMED),
    (_trade(sz="0.0"), BadKind.MALFORMED),
    (_trade(px="-1.0"), BadKind.MALFORMED),
    (_trade(px="1e5"), BadKind.MALFORMED),
]


@pytest.mark.parametrize(("raw", "kind"), GARBAGE)
def test_bad_message_is_returned_with_its_text_and_counted(raw: bytes, kind: BadKind) -> None:
    parser = HyperliquidParser({"BTC": inst()})
    out = bad(parser, raw)
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw.decode("utf-8", "replace"), TS)
    assert (parser.bad, parser.messages, parser.ignored) == ({kind: 1}, 1, 0)


@pytest.mark.parametrize("name", ["ws_allmids.json", "ws_user_fill_liquidation.json",
                                  "ws_all_dexs_asset_ctxs.json"])
def test_recorded_channels_heron_does_not_read_are_unsupported(name: str) -> None:
    raw = need(DATA / "fixtures" / name).read_bytes()
    out = bad(HyperliquidParser({"BTC": inst()}), raw)
    assert out.kind is BadKind.UNSUPPORTED
    assert json.loads(raw)["channel"] in out.detail


def test_venue_error_keeps_the_venue_text() -> None:
    raw = '{"channel":"error","data":"Already subscribed: {\\"type\\":\\"trades\\"}"}'
    out = bad(HyperliquidParser({"BTC": inst()}), raw)
    assert out.detail == 'venue error: Already subscribed: {"type":"trades"}'


def test_an_off_grid_snapshot_is_refused_whole_and_the_next_one_is_read() -> None:
    parser = HyperliquidParser({"BTC": inst()})
    assert bad(parser, _book(bid_px="105054.9")).kind is BadKind.OFF_GRID
    [snap] = events(parser, _book())
    assert snap.bids == ((105055, 100000), (105050, 50000))
    assert snap.asks == ((105056, 200000),)


def test_a_finer_tick_holds_prices_a_coarse_one_refuses() -> None:
    """``10**-(6 - szDecimals)`` (0.1 for BTC) holds any price the venue can print."""
    raw = _trade(px="9999.9")
    assert bad(HyperliquidParser({"BTC": inst()}), raw).kind is BadKind.OFF_GRID
    [trade] = events(HyperliquidParser({"BTC": inst(tick="0.1")}), raw)
    assert (trade.price, trade.aggressor, trade.trade_id) == (99999, "sell", "7")


def test_empty_trades_message_gives_no_events() -> None:
    parser = HyperliquidParser({"BTC": inst()})
    assert events(parser, b'{"channel":"trades","data":[]}') == []
    assert not parser.bad
