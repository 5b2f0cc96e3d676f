"""Binance message parsing: each message type against its raw JSON values, garbage, grids.

Expected values are computed from the JSON text with ``json`` and ``Decimal`` (through
``Instrument.ticks``/``lots``), never with the parser's own integer arithmetic.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import PurePath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED_VENUES, need
from heron.errors import DataError, InvalidConfiguration
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
from heron.model.instrument import Instrument, InstrumentKind, OffGrid
from heron.model.orders import OrderSide
from heron.venues.binance import (
    BadKind,
    BadMessage,
    BinanceMarket,
    BinanceParser,
    DecimalsSeen,
    decode,
    inferred_instrument,
    instruments_from_exchange_info,
)
from heron.venues.binance.parse import (
    DepthUpdateMsg,
    decimal_places,
    text_units,
    text_units_rounded,
)

USDM = SHARED_VENUES / "binance_usdm"
FIXTURES = USDM / "fixtures"
USDM_CAPTURE = USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
EXCHANGE_INFO = USDM / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz"
TS = 1_700_000_000_123_456_789  # a receive time, ns
MS = 1_000_000


def inst(symbol: str = "BTCUSDT", tick: str = "0.01", lot: str = "0.001") -> Instrument:
    return Instrument(symbol, venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(tick), size_increment=Decimal(lot))


def fixture(name: str) -> str:
    return need(FIXTURES / name).read_text()


def events(parser: BinanceParser, raw: str | bytes, **kw: Any) -> list[Any]:
    out = parser.parse(raw, TS, **kw)
    assert isinstance(out, list), out
    return out


def bad(parser: BinanceParser, raw: str | bytes) -> BadMessage:
    out = parser.parse(raw, TS)
    assert isinstance(out, BadMessage), out
    return out


# -- each message type against its fixture ----------------------------------------------------
def test_agg_trade_fixture_gives_a_sell_trade_at_the_raw_price() -> None:
    raw = fixture("agg_trade_stream.json")
    msg = json.loads(raw)
    i = inst(tick="0.001", lot="1")
    [trade] = events(BinanceParser({"BTCUSDT": i}), raw)
    assert trade == Trade(i, msg["T"] * MS, TS, i.ticks(Decimal(msg["p"])),
                          i.lots(Decimal(msg["q"])), "sell", str(msg["a"]))
    assert msg["m"] is True  # buyer was the maker: the seller took liquidity


def test_book_ticker_fixture_keeps_the_update_id_and_transaction_time() -> None:
    raw = fixture("book_ticker_stream.json")
    msg = json.loads(raw)
    i = inst("BNBUSDT", tick="0.0001", lot="0.01")
    [quote] = events(BinanceParser({"BNBUSDT": i}), raw)
    assert isinstance(quote, Quote)
    assert quote == Quote(
        i, msg["T"] * MS, TS, i.ticks(Decimal(msg["b"])), i.ticks(Decimal(msg["a"])),
        i.lots(Decimal(msg["B"])), i.lots(Decimal(msg["A"])), msg["u"])


def test_depth_update_fixture_gives_one_delta_per_level_with_ids_and_is_last() -> None:
    raw = fixture("depth_update_stream.json")
    msg = json.loads(raw)
    i = inst(tick="0.0001", lot="1")
    deltas = events(BinanceParser({"BTCUSDT": i}), raw)
    ts = msg["T"] * MS
    ids = (msg["u"], msg["U"], msg["pu"])
    assert deltas == [
        BookDelta(i, ts, TS, BookSide.BID, i.ticks(Decimal(msg["b"][0][0])),
                  i.lots(Decimal(msg["b"][0][1])), ids[0], False, ids[1], ids[2]),
        BookDelta(i, ts, TS, BookSide.ASK, i.ticks(Decimal(msg["a"][0][0])),
                  i.lots(Decimal(msg["a"][0][1])), ids[0], True, ids[1], ids[2]),
    ]


def test_mark_price_fixture_gives_mark_index_and_the_rate_at_next_funding() -> None:
    raw = fixture("mark_price_stream.json")
    msg = json.loads(raw)
    i = inst(tick="0.01")
    mark, funding = events(BinanceParser({"BTCUSDT": i}), raw)
    index = Decimal(msg["i"]).quantize(Decimal("0.01"))  # half-even, like the parser
    assert mark == MarkPrice(i, msg["E"] * MS, TS, i.ticks(Decimal(msg["p"])), i.ticks(index))
    assert funding == FundingRate(i, msg["T"] * MS, TS, msg["r"])
    assert Decimal(msg["i"]) != index  # the index really was between ticks


def test_liquidation_fixture_gives_the_order_side_price_and_quantity() -> None:
    raw = fixture("liquidation_stream.json")
    o = json.loads(raw)["o"]
    i = inst(tick="0.01")
    [liq] = events(BinanceParser({"BTCUSDT": i}), raw)
    assert liq == Liquidation(i, o["T"] * MS, TS, OrderSide.SELL, i.ticks(Decimal(o["p"])),
                              i.lots(Decimal(o["q"])))


@pytest.mark.parametrize(("name", "stream"), [
    ("agg_trade_stream.json", "btcusdt@aggTrade"),
    ("book_ticker_stream.json", "bnbusdt@bookTicker"),
    ("depth_update_stream.json", "btcusdt@depth@100ms"),
    ("mark_price_stream.json", "btcusdt@markPrice@1s"),
    ("liquidation_stream.json", "btcusdt@forceOrder"),
])
def test_combined_stream_envelope_gives_the_same_events_as_the_raw_message(
        name: str, stream: str) -> None:
    raw = fixture(name)
    parser = BinanceParser({"BTCUSDT": inst(tick="0.0001", lot="0.001"),
                            "BNBUSDT": inst("BNBUSDT", tick="0.0001", lot="0.01")})
    wrapped = json.dumps({"stream": stream, "data": json.loads(raw)})
    assert events(parser, wrapped) == events(parser, raw)


def test_spot_book_ticker_without_times_uses_the_receive_time() -> None:
    raw = ('{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",'
           '"b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}')
    i = inst(tick="0.01", lot="0.00001")
    [quote] = events(BinanceParser({"BTCUSDT": i}), raw)
    assert quote == Quote(i, TS, TS, 6183763, 6183764, 378826, 154698, 50093239212)
    [same] = events(BinanceParser({"BTCUSDT": i}), json.dumps(json.loads(raw)["data"]))
    assert same == quote  # a raw spot bookTicker has no "e": recognised by its "u"


def test_rest_snapshot_takes_its_symbol_from_the_caller_or_the_only_instrument() -> None:
    raw = '{"lastUpdateId":77,"bids":[["10.5","2"],["10.4","1"]],"asks":[["10.6","3"]]}'
    a, b = inst("AUSDT", tick="0.1", lot="1"), inst("BUSDT", tick="0.1", lot="1")
    [snap] = events(BinanceParser({"AUSDT": a}), raw)
    assert snap == BookSnapshot(a, TS, TS, ((105, 2), (104, 1)), ((106, 3),), 77)
    two = BinanceParser({"AUSDT": a, "BUSDT": b})
    assert bad(two, raw).kind is BadKind.UNKNOWN_SYMBOL
    [named] = events(two, raw, symbol="BUSDT")
    assert isinstance(named, BookSnapshot)
    assert named.instrument is b


def test_delivery_mark_price_has_no_funding_event() -> None:
    raw = ('{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"100.00","i":"100.00",'
           '"r":"","T":0}')
    out = events(BinanceParser({"BTCUSDT": inst()}), raw)
    assert [type(e) for e in out] == [MarkPrice]


# -- garbage is counted, never raised ------------------------------------------------------------
@pytest.mark.parametrize(("raw", "kind"), [
    (b"not json at all", BadKind.MALFORMED),
    (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1', BadKind.TRUNCATED),
    (b"[1, 2, 3]", BadKind.MALFORMED),
    (b'{"stream":"btcusdt@kline_1m","data":{"e":"kline"}}', BadKind.UNSUPPORTED),
    (b'{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate"}}', BadKind.UNSUPPORTED),
    (b'{"e":"24hrTicker","s":"BTCUSDT"}', BadKind.UNSUPPORTED),
    (b'{"hello":"world"}', BadKind.UNSUPPORTED),
    (b'{"error":{"code":2,"msg":"Invalid request"},"id":1}', BadKind.VENUE_ERROR),
    (b'{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}', BadKind.MALFORMED),
    (b'{"e":"trade","E":1,"T":1,"s":"ETHUSDT","t":1,"p":"1.00","q":"1.000","m":true}',
     BadKind.UNKNOWN_SYMBOL),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.005","q":"1.000","m":true}',
     BadKind.OFF_GRID),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"-1.00","q":"1.000","m":true}',
     BadKind.MALFORMED),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.%s1","q":"1.000","m":true}'
     % (b"0" * 60), BadKind.OFF_GRID),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1e5","q":"1.000","m":true}',
     BadKind.MALFORMED),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1_0.0","q":"1.000","m":true}',
     BadKind.MALFORMED),
    (b'{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":1,"p":"1.00","q":"0.000","m":true}',
     BadKind.MALFORMED),
    (b'{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"HOLD","p":"1.00","q":"1.000","T":1}}',
     BadKind.MALFORMED),
])
def test_bad_message_is_returned_with_its_text_and_counted(raw: bytes, kind: BadKind) -> None:
    parser = BinanceParser({"BTCUSDT": inst()})
    out = bad(parser, raw)
    assert (out.kind, out.raw, out.ts_recv) == (kind, raw.decode(), TS)
    assert parser.bad == {kind: 1}
    assert parser.messages == 1


def test_subscription_reply_is_ignored_not_bad() -> None:
    parser = BinanceParser({"BTCUSDT": inst()})
    assert parser.parse(b'{"result":null,"id":1}', TS) is None
    assert (parser.ignored, sum(parser.bad.values())) == (1, 0)


def test_off_grid_book_levels_are_left_out_and_counted_not_the_message() -> None:
    raw = ('{"e":"depthUpdate","E":5,"T":4,"s":"BTCUSDT","U":10,"u":12,"pu":9,'
           '"b":[["100.00","1.000"],["99.995","2.000"]],"a":[["100.05","0.5"],'
           '["100.10","0.0001"]]}')
    parser = BinanceParser({"BTCUSDT": inst()})
    out = events(parser, raw)
    assert [(d.side, d.price, d.size, d.is_last) for d in out] == [
        (BookSide.BID, 10000, 1000, False), (BookSide.ASK, 10005, 500, True)]
    assert parser.dropped_levels == {"BTCUSDT": 2}
    assert not parser.bad


def test_empty_depth_update_gives_no_deltas() -> None:
    raw = '{"e":"depthUpdate","E":5,"s":"BTCUSDT","U":10,"u":12,"b":[],"a":[]}'
    assert events(BinanceParser({"BTCUSDT": inst()}), raw) == []


# -- text to integer units, against Decimal ------------------------------------------------
@st.composite
def grid_and_text(draw: st.DrawFn) -> tuple[Instrument, str]:
    places = draw(st.integers(0, 8))
    step = draw(st.sampled_from([1, 2, 5, 10, 25]))
    tick = Decimal(step).scaleb(-places)
    whole = draw(st.integers(0, 10**9))
    frac = draw(st.text("0123456789", min_size=0, max_size=places + 3))
    pad = draw(st.integers(0, 3))
    text = f"{whole}.{frac}{'0' * pad}" if frac or pad else str(whole)
    return inst(tick=str(tick)), text


@settings(max_examples=400, deadline=None)
@given(grid_and_text())
def test_text_units_agrees_with_decimal_ticks_or_both_refuse(case: tuple[Instrument,
                                                                       str]) -> None:
    i, text = case
    try:
        want: int | None = i.ticks(Decimal(text))
    except OffGrid:
        want = None
    try:
        got: int | None = text_units(text, i.price_precision, i.tick_raw)
    except OffGrid:
        got = None
    assert got == want


@settings(max_examples=400, deadline=None)
@given(grid_and_text())
def test_text_units_rounded_is_decimal_half_even_rounding(case: tuple[Instrument,
                                                                    str]) -> None:
    i, text = case
    want = int((Decimal(text) / i.price_increment).to_integral_value(rounding="ROUND_HALF_EVEN"))
    assert text_units_rounded(text, i.price_precision, i.tick_raw) == want


def test_decimal_places_counts_printed_digits() -> None:
    assert [decimal_places(t) for t in ("1", "1.5", "0.0100", "61837.63000000")] == [0, 1, 4, 8]


def test_whole_usdm_capture_agrees_with_a_json_and_decimal_reference() -> None:
    """Every price and size of 94k real messages, converted two independent ways."""
    need(USDM_CAPTURE)
    i = inst(tick="0.1", lot="0.001")  # the real grid: prices print 2 decimals, tick 0.10
    parser = BinanceParser({"BTCUSDT": i})
    compared = 0
    with gzip.open(USDM_CAPTURE, "rb") as f:
        for line in f:
            stamp, raw = line.split(b" ", 1)
            out = parser.parse(raw, int(stamp))
            assert isinstance(out, list)
            compared += _check_against_reference(i, json.loads(raw), out)
    assert compared == 21313 + 66089 + 443521 + 2000  # trades, tickers, levels, snapshot levels
    assert not parser.bad


def _check_against_reference(i: Instrument, msg: dict[str, Any], out: list[Any]) -> int:
    data = msg.get("data", msg)
    if "lastUpdateId" in data:
        [snap] = out
        assert [*snap.bids, *snap.asks] == [(i.ticks(Decimal(p)), i.lots(Decimal(q)))
                                          for p, q in (*data["bids"], *data["asks"])]
        return len(data["bids"]) + len(data["asks"])
    if data["e"] == "trade":
        [t] = out
        assert (t.price, t.size, t.aggressor, t.trade_id) == (
            i.ticks(Decimal(data["p"])), i.lots(Decimal(data["q"])),
            "sell" if data["m"] else "buy", str(data["t"]))
        return 1
    if data["e"] == "bookTicker":
        [q] = out
        assert (q.bid, q.bid_size, q.ask, q.ask_size, q.sequence) == (
            i.ticks(Decimal(data["b"])), i.lots(Decimal(data["B"])),
            i.ticks(Decimal(data["a"])), i.lots(Decimal(data["A"])), data["u"])
        return 1
    levels = [(1, p, q) for p, q in data["b"]] + [(-1, p, q) for p, q in data["a"]]
    assert [(1 if d.side is BookSide.BID else -1, d.price, d.size) for d in out] == [
        (s, i.ticks(Decimal(p)), i.lots(Decimal(q))) for s, p, q in levels]
    assert [d.is_last for d in out] == [False] * (len(out) - 1) + [True]
    assert {(d.sequence, d.first_sequence, d.prev_sequence) for d in out} == {
        (data["u"], data["U"], data["pu"])}
    return len(levels)


# -- markets and instruments -------------------------------------------------------------------
@pytest.mark.parametrize(("url", "market"), [
    ("wss://fstream.binance.com/stream?streams=btcusdt@trade", BinanceMarket.USDM),
    ("https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT", BinanceMarket.USDM),
    ("wss://dstream.binance.com/ws/btcusd_perp@depth", BinanceMarket.COINM),
    ("wss://stream.binance.com:9443/stream?streams=btcusdt@trade", BinanceMarket.SPOT),
    ("https://api.binance.com/api/v3/depth", BinanceMarket.SPOT),
    ("wss://ws.okx.com:8443/ws/v5/public", None),
])
def test_market_from_url(url: str, market: BinanceMarket | None) -> None:
    assert BinanceMarket.from_url(url) is market


@pytest.mark.parametrize(("path", "market"), [
    ("/data/venues/binance_usdm/ws_capture_BTCUSDT.txt.gz", BinanceMarket.USDM),
    ("/data/venues/binance_coinm/x.txt.gz", BinanceMarket.COINM),
    ("examples/spot/btcusdt_20240808.gz", BinanceMarket.SPOT),
    ("sample_data/BINANCE_FUTURES.ws.1.0", BinanceMarket.USDM),
    ("examples/cm/btcusd_perp_20240808.gz", BinanceMarket.COINM),
    ("/data/Coin-M/x.gz", BinanceMarket.COINM),
    ("/home/spotify/binance_usdm/x.gz", BinanceMarket.USDM),
    ("/home/spotify/x.gz", None),
    ("/tmp/capture.txt.gz", None),
])
def test_market_from_path(path: str, market: BinanceMarket | None) -> None:
    assert BinanceMarket.from_path(PurePath(path)) is market


def test_market_from_venue_name_and_refusal_of_others() -> None:
    assert BinanceMarket.from_venue("binance_usdm") is BinanceMarket.USDM
    assert BinanceMarket.SPOT.kind is InstrumentKind.SPOT
    assert BinanceMarket.USDM.kind is InstrumentKind.LINEAR_PERPETUAL
    with pytest.raises(InvalidConfiguration, match="BINANCE_COINM"):
        BinanceMarket.from_venue("OKX")


def test_instruments_from_real_exchange_info_use_the_filters() -> None:
    need(EXCHANGE_INFO)
    with gzip.open(EXCHANGE_INFO, "rt") as f:
        body = next(e["raw"] for e in map(json.loads, f) if e["dir"] == "http_response")
    found = instruments_from_exchange_info(body, BinanceMarket.USDM)
    assert len(found) == 122
    sushi = found["SUSHIUSDT"]
    assert (sushi.price_increment, sushi.size_increment, sushi.min_quantity,
            sushi.min_notional, sushi.quote_currency, sushi.margin_init,
            sushi.margin_maint, sushi.venue) == (
        Decimal("0.001"), Decimal(1), Decimal(1), Decimal(5), "USDT", Decimal("0.05"),
        Decimal("0.025"), "BINANCE_USDM")
    assert found["BTCUSDT"].price_increment == Decimal("0.01")


def test_exchange_info_that_is_not_one_is_a_data_error() -> None:
    with pytest.raises(DataError, match="exchangeInfo"):
        instruments_from_exchange_info(b'{"code":-1121}', BinanceMarket.USDM)


def test_inferred_instrument_is_one_unit_of_the_printed_decimals() -> None:
    spot = inferred_instrument("BTCUSDT", BinanceMarket.SPOT, 8, 8)
    coinm = inferred_instrument("BTCUSD_PERP", BinanceMarket.COINM, 1, 0)
    assert (spot.price_increment, spot.size_increment, spot.quote_currency) == (
        Decimal("1E-8"), Decimal("1E-8"), "USDT")
    assert (coinm.price_increment, coinm.size_increment, coinm.quote_currency,
            coinm.venue) == (Decimal("0.1"), Decimal(1), "USD", "BINANCE_COINM")


def test_decimals_seen_takes_the_widest_price_and_size_per_symbol() -> None:
    seen = DecimalsSeen()
    for raw in ('{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[["1.5","2"]],'
                '"a":[["1.625","0.50"]]}',
                '{"e":"trade","E":1,"T":1,"s":"X","t":1,"p":"1.5","q":"0.125","m":true}',
                '{"e":"markPriceUpdate","E":1,"s":"X","p":"1.12345678"}'):
        message = decode(raw)
        assert message is not None
        assert not isinstance(message, BadMessage)
        seen.add(message)
    assert (seen.prices, seen.sizes) == ({"X": 3}, {"X": 3})  # the mark is not counted


def test_decode_gives_typed_structs() -> None:
    message = decode(b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[]}')
    assert isinstance(message, DepthUpdateMsg)
    assert (message.first_update_id, message.final_update_id,
            message.prev_final_update_id) == (1, 2, None)
