"""Binance captures -> catalog batches, and the rebuilt book held to the venue's bookTicker.

The must-show: replaying the Binance USD-M live capture through the L2 book reproduces
the venue's best bid and ask at every bookTicker whose book state the depth stream
publishes, and names every other ticker with the reason it cannot be compared.
"""

from __future__ import annotations

import functools
import gzip
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from conftest import SHARED_VENUES as VENUES
from conftest import need
from heron.data.book_check import EXPLAINED, TickerVerdict, check_book, check_capture
from heron.data.importers.batch import ImportBatch
from heron.data.importers.captures import (
    Capture,
    parse_cryptofeed_capture,
    parse_hftbacktest_capture,
    read_cryptofeed_capture,
    read_hftbacktest_capture,
)
from heron.data.schemas import SCHEMAS, DataKind
from heron.errors import DataError
from heron.venues.binance import BadKind, BinanceMarket

USDM = VENUES / "binance_usdm" / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
SPOT_BTC = VENUES / "binance_spot" / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
SPOT_ETH = VENUES / "binance_spot" / "ws_capture_ETHUSDT_2024-08-09.txt.gz"
COINM = VENUES / "binance_coinm" / "ws_capture_BTCUSD_PERP_2024-08-08.txt.gz"
CRYPTOFEED = VENUES / "binance_usdm" / "cryptofeed_ws_SUSHI_AKRO_KEEP_CTK-USDT_2021-07-22.jsonl.gz"
CRYPTOFEED_REST = (VENUES / "binance_usdm" / "cryptofeed_rest_depth_snapshots_2021-07-22.jsonl.gz",
                   VENUES / "binance_usdm" / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz")
FIXTURES = VENUES / "binance_usdm" / "fixtures"
M = TickerVerdict


@functools.cache
def hftbacktest(path: Path) -> Capture:
    return parse_hftbacktest_capture(path)


@functools.cache
def cryptofeed() -> Capture:
    return parse_cryptofeed_capture(CRYPTOFEED, related=CRYPTOFEED_REST)


def read_lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def rows(batches: list[ImportBatch]) -> dict[tuple[str, str], int]:
    return {(b.instrument.symbol, b.kind.value): b.frame.height for b in batches}


# -- the must-show ------------------------------------------------------------------------------
def test_usdm_capture_replay_reproduces_every_observable_book_ticker() -> None:
    """Each of the 66,089 bookTickers is matched exactly or explained, none contradicted.

    629 tickers carry the id of a depth message's last update: the book after that
    message must equal them, and does. 65,427 fall strictly inside a depth message's
    U..u range (the 0ms stream still merges updates): the state at their id is never
    published, and the levels the message leaves alone agree with them. 33 are older
    than the REST snapshot, so no rebuilt book covers them.
    """
    need(USDM)
    check = check_capture(hftbacktest(USDM))["BTCUSDT"]
    assert check.mismatches == []
    assert all(verdict in EXPLAINED for _, verdict, _ in check.problems)
    assert check.counts() == {M.MATCH: 629, M.INSIDE_DIFF: 65427, M.BEFORE_SYNC: 33}
    assert sum(check.counts().values()) == 66089
    first_line, verdict, why = check.problems[0]
    assert (first_line, verdict) == (2, M.BEFORE_SYNC)
    assert "line 55" in why  # the snapshot's line, named


@pytest.mark.parametrize(("path", "symbol", "counts"), [
    (COINM, "BTCUSD_PERP", {M.MATCH: 1124, M.INSIDE_DIFF: 18002, M.BEFORE_SYNC: 10}),
    (SPOT_BTC, "BTCUSDT", {M.MATCH: 564, M.INSIDE_DIFF: 27466, M.AFTER_LAST_DIFF: 9,
                           M.BEFORE_SYNC: 1}),
    (SPOT_ETH, "ETHUSDT", {M.MATCH: 0, M.NO_SNAPSHOT: 34681}),
])
def test_other_captures_replay_without_contradiction(path: Path, symbol: str,
                                                    counts: dict[TickerVerdict, int]) -> None:
    need(path)
    check = check_capture(hftbacktest(path))[symbol]
    assert check.mismatches == []
    assert check.counts() == counts


def test_cryptofeed_session_replay_with_its_rest_snapshots() -> None:
    need(CRYPTOFEED, *CRYPTOFEED_REST)
    checks = check_capture(cryptofeed())
    assert [c.mismatches for c in checks.values()] == [[]] * 4
    assert {s: dict(c.counts()) for s, c in checks.items()} == {
        "SUSHIUSDT": {M.MATCH: 12, M.INSIDE_DIFF: 290, M.BEFORE_SYNC: 2, M.AFTER_LAST_DIFF: 1},
        "AKROUSDT": {M.MATCH: 7, M.INSIDE_DIFF: 81},
        "KEEPUSDT": {M.MATCH: 13, M.INSIDE_DIFF: 62},
        "CTKUSDT": {M.MATCH: 18, M.INSIDE_DIFF: 126, M.BEFORE_SYNC: 1},
    }


def test_book_check_finds_a_level_the_venue_never_had(tmp_path: Path) -> None:
    """The check has teeth: a bid the venue never had, slipped into the snapshot between
    its best bid and ask (off the real 0.10 tick, so no diff ever touches it), is caught
    at exactly the tickers it should spoil: those whose venue bid is below it."""
    need(USDM)
    lines = list(_head())
    capture = parse_hftbacktest_capture(_excerpt(tmp_path, lines))
    clean = check_capture(capture)["BTCUSDT"]
    stamp, raw = lines[54].split(b" ", 1)  # line 55: the REST snapshot
    body = json.loads(raw)
    assert (body["bids"][0][0], body["asks"][0][0]) == ("61800.20", "61800.30")
    body["bids"].insert(0, ["61800.25", "1.000"])
    lines[54] = stamp + b" " + json.dumps(body).encode() + b"\n"
    check = check_capture(parse_hftbacktest_capture(_excerpt(tmp_path, lines)))["BTCUSDT"]
    unexplained = {line for line, verdict, _ in clean.problems if verdict in EXPLAINED
                   and verdict is not M.INSIDE_DIFF}
    below = {line for line, q in capture.symbols["BTCUSDT"].quotes
             if q.bid < 6180025 and line not in unexplained}
    assert clean.mismatches == []
    assert {line for line, _ in check.mismatches} == below
    assert len(below) > 500
    assert all("6180025" in why for _, why in check.mismatches)


def test_book_check_reports_tickers_after_a_broken_chain(tmp_path: Path) -> None:
    need(USDM)
    lines = read_lines(USDM)[:3000]
    depth = [n for n, line in enumerate(lines) if b"@depth" in line[:60] and n > 100]
    dropped = depth[0]
    path = tmp_path / "binance_usdm" / "capture.txt.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(b"".join(lines[:dropped] + lines[dropped + 1:])))
    check = check_capture(parse_hftbacktest_capture(path))["BTCUSDT"]
    gapped = [why for _, verdict, why in check.problems if verdict is M.AFTER_GAP]
    assert gapped
    assert f"line {depth[1]}" in gapped[0]  # the message after the hole, renumbered


# -- row counts per file and kind -----------------------------------------------------------------
@pytest.mark.parametrize(("path", "venue", "counts"), [
    (USDM, "BINANCE_USDM", {("BTCUSDT", "trades"): 21313, ("BTCUSDT", "quotes"): 66089,
                            ("BTCUSDT", "book_deltas"): 443521,
                            ("BTCUSDT", "book_snapshots"): 2000}),
    (SPOT_BTC, "BINANCE", {("BTCUSDT", "trades"): 9757, ("BTCUSDT", "quotes"): 28040,
                           ("BTCUSDT", "book_deltas"): 124090,
                           ("BTCUSDT", "book_snapshots"): 2000}),
    (SPOT_ETH, "BINANCE", {("ETHUSDT", "trades"): 8409, ("ETHUSDT", "quotes"): 34681,
                           ("ETHUSDT", "book_deltas"): 165950}),
    (COINM, "BINANCE_COINM", {("BTCUSD_PERP", "trades"): 2286,
                              ("BTCUSD_PERP", "quotes"): 19136,
                              ("BTCUSD_PERP", "book_deltas"): 296013,
                              ("BTCUSD_PERP", "book_snapshots"): 2000}),
])
def test_hftbacktest_capture_rows_per_kind(path: Path, venue: str,
                                          counts: dict[tuple[str, str], int]) -> None:
    need(path)
    capture = hftbacktest(path)
    batches = capture.batches()
    assert rows(batches) == counts
    assert (capture.market.venue, capture.messages, capture.bad, capture.truncated) == (
        venue, len(read_lines(path)), [], [])
    for batch in batches:
        assert batch.instrument.venue == venue
        assert batch.frame.schema == SCHEMAS[batch.kind].schema
        assert batch.source.startswith(path.name + "#")


def test_cryptofeed_session_rows_per_kind_with_exchange_info_grid() -> None:
    need(CRYPTOFEED, *CRYPTOFEED_REST)
    capture = cryptofeed()
    counts = rows(capture.batches())
    assert counts == {
        ("SUSHIUSDT", "trades"): 40, ("SUSHIUSDT", "quotes"): 305,
        ("SUSHIUSDT", "book_deltas"): 4029, ("SUSHIUSDT", "book_snapshots"): 2000,
        ("AKROUSDT", "trades"): 8, ("AKROUSDT", "quotes"): 88,
        ("AKROUSDT", "book_deltas"): 953, ("AKROUSDT", "book_snapshots"): 1372,
        ("KEEPUSDT", "trades"): 5, ("KEEPUSDT", "quotes"): 75,
        ("KEEPUSDT", "book_deltas"): 599, ("KEEPUSDT", "book_snapshots"): 1012,
        ("CTKUSDT", "trades"): 38, ("CTKUSDT", "quotes"): 145,
        ("CTKUSDT", "book_deltas"): 716, ("CTKUSDT", "book_snapshots"): 1098,
    }
    assert capture.market is BinanceMarket.USDM  # from the fstream URL
    assert capture.bad_counts() == {BadKind.UNSUPPORTED: 67}  # kline_1m, kept with text
    assert all("kline_1m" in bad.raw for _, _, bad in capture.bad)
    # 131 CTKUSDT levels rest between the ticks exchangeInfo declares (orders from
    # before a tick change): left out of the snapshot, reported
    assert capture.notes == ["CTKUSDT: 131 book levels off the instrument's grid left out"]
    assert capture.symbols["SUSHIUSDT"].instrument.price_increment == Decimal("0.001")


def test_cryptofeed_without_rest_files_infers_the_grid_from_printed_decimals() -> None:
    need(CRYPTOFEED)
    batches = read_cryptofeed_capture(CRYPTOFEED)
    kinds = {(b.instrument.symbol, b.kind) for b in batches}
    assert ("SUSHIUSDT", DataKind.BOOK_SNAPSHOTS) not in kinds
    sushi = next(b for b in batches if b.instrument.symbol == "SUSHIUSDT")
    assert sushi.instrument.price_increment == Decimal("0.0001")  # "7.6110": 4 printed
    trades = next(b for b in batches if b.kind is DataKind.TRADES)
    assert trades.source.endswith("#aggTrade")


def test_usdm_first_rows_hold_the_raw_values() -> None:
    need(USDM)
    batches = {b.kind: b for b in hftbacktest(USDM).batches()}
    trade = batches[DataKind.TRADES].frame.row(0, named=True)
    # line 3: {"e":"trade","E":1723161256322,"T":1723161256322,"t":5266583935,
    #          "p":"61800.30","q":"0.006","m":false}
    assert trade == {"ts_event": 1723161256322 * 10**6, "ts_recv": 1723161255088176367,
                     "price": 6180030, "size": 6, "aggressor": 1, "trade_id": "5266583935",
                     "sequence": 5266583935}
    deltas = batches[DataKind.BOOK_DELTAS].frame
    first = deltas.filter(pl.col("sequence") == 5123107837557)
    assert (first.height, first["is_last"].sum(), first["ts_event"][0]) == (
        first.height, 1, 1723161256298 * 10**6)
    assert first.row(0, named=True)["price"] == 5871020  # "58710.20"
    snap = batches[DataKind.BOOK_SNAPSHOTS].frame
    assert snap.group_by("side").len().sort("side").rows() == [(-1, 1000), (1, 1000)]
    assert set(snap["sequence"]) == {5123107852948}


# -- mark price, funding, liquidations (fixtures; no capture has them) -----------------------
def _fixture_capture(tmp_path: Path, messages: list[tuple[str, str]]) -> Path:
    lines = []
    for n, (stream, name) in enumerate(messages):
        data = json.loads((FIXTURES / name).read_text())
        lines.append(f"{1_700_000_000_000_000_000 + n} "
                     f"{json.dumps({'stream': stream, 'data': data})}\n")
    path = tmp_path / "capture.txt.gz"
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def test_mark_funding_and_liquidation_rows_from_fixture_messages(tmp_path: Path) -> None:
    need(FIXTURES / "mark_price_stream.json", FIXTURES / "liquidation_stream.json")
    path = _fixture_capture(tmp_path, [("btcusdt@markPrice", "mark_price_stream.json"),
                                       ("btcusdt@forceOrder", "liquidation_stream.json"),
                                       ("btcusdt@markPrice", "mark_price_stream.json")])
    batches = {b.kind: b.frame for b in read_hftbacktest_capture(path, "BINANCE_USDM")}
    assert set(batches) == {DataKind.MARK, DataKind.FUNDING, DataKind.LIQUIDATIONS}
    # grid inferred from the liquidation's "9910.00000000"/"0.014": 8 and 3 decimals
    assert batches[DataKind.MARK]["price"].to_list() == [1179415000000] * 2
    funding = batches[DataKind.FUNDING]
    assert funding.height == 1  # two announcements of one funding time: the last kept
    assert funding.row(0) == (1562306400000 * 10**6, 1_700_000_000_000_000_002,
                              Decimal("0.000381670000000000"))
    assert batches[DataKind.LIQUIDATIONS].row(0) == (
        1568014460893 * 10**6, 1_700_000_000_000_000_001, -1, 991000000000, 14, 0)


def test_agg_trades_are_left_out_when_the_trade_stream_is_there(tmp_path: Path) -> None:
    need(FIXTURES / "agg_trade_stream.json")
    trade = {"e": "trade", "E": 2, "T": 2, "s": "BTCUSDT", "t": 9, "p": "0.002", "q": "5",
             "m": False}
    agg = json.loads((FIXTURES / "agg_trade_stream.json").read_text())
    text = "".join(f"{n} {json.dumps({'stream': s, 'data': d})}\n" for n, (s, d) in
                   enumerate([("btcusdt@aggTrade", agg), ("btcusdt@trade", trade)], 1))
    path = tmp_path / "binance_usdm" / "c.txt"
    path.parent.mkdir()
    path.write_text(text)  # not gzipped: plain text works too
    capture = parse_hftbacktest_capture(path)
    [batch] = capture.batches()
    assert (batch.kind, batch.frame["trade_id"].to_list(), batch.source) == (
        DataKind.TRADES, ["9"], "c.txt#trade")
    assert capture.notes == ["BTCUSDT: 1 aggTrade messages left out: the trade stream "
                             "holds the same fills"]


# -- damage: venue garbage is counted, file damage is named ---------------------------------
def _excerpt(tmp_path: Path, lines: list[bytes], *, gz: bool = True) -> Path:
    path = tmp_path / "binance_usdm" / ("capture.txt.gz" if gz else "capture.txt")
    path.parent.mkdir(exist_ok=True)
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@functools.cache
def _head() -> list[bytes]:
    return read_lines(USDM)[:2000]


def _kind_rows(capture: Capture) -> dict[tuple[str, str], int]:
    return rows(capture.batches())


def test_junk_line_in_a_capture_is_counted_not_fatal(tmp_path: Path) -> None:
    need(USDM)
    clean = parse_hftbacktest_capture(_excerpt(tmp_path, _head()))
    junk = [*_head()[:100], b"1723161255999999999 this is not json\n", *_head()[100:]]
    dirty = parse_hftbacktest_capture(_excerpt(tmp_path, junk))
    assert _kind_rows(dirty) == _kind_rows(clean)
    [(file, line, bad)] = dirty.bad
    assert (file, line, bad.kind, bad.raw) == ("capture.txt.gz", 101, BadKind.MALFORMED,
                                               "this is not json")
    assert dirty.messages == clean.messages + 1


def test_line_without_framing_is_a_data_error_naming_it(tmp_path: Path) -> None:
    need(USDM)
    broken = [*_head()[:10], b"no timestamp here\n", *_head()[10:]]
    with pytest.raises(DataError, match="line 11 "):
        parse_hftbacktest_capture(_excerpt(tmp_path, broken))


def test_message_cut_short_mid_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    need(USDM)
    head = list(_head())
    head[20] = head[20][:80] + b"\n"
    with pytest.raises(DataError, match="line 21 holds a message cut short"):
        parse_hftbacktest_capture(_excerpt(tmp_path, head))


@pytest.mark.parametrize("cut", [10, 80])  # inside the timestamp; inside the JSON
def test_unterminated_last_line_is_skipped_and_reported(tmp_path: Path, cut: int) -> None:
    need(USDM)
    clean = parse_hftbacktest_capture(_excerpt(tmp_path, _head()[:-1]))
    torn = parse_hftbacktest_capture(_excerpt(tmp_path, [*_head()[:-1], _head()[-1][:cut]]))
    assert _kind_rows(torn) == _kind_rows(clean)
    assert len(torn.truncated) == 1
    assert "line 2000" in torn.truncated[0]
    assert torn.bad == []


def test_gzip_stream_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    need(USDM)
    whole = gzip.compress(b"".join(_head()))
    path = tmp_path / "binance_usdm" / "capture.txt.gz"
    path.parent.mkdir()
    path.write_bytes(whole[: len(whole) // 2])
    capture = parse_hftbacktest_capture(path)
    assert 0 < capture.messages < 2000
    assert "end marker" in capture.truncated[-1]
    assert sum(_kind_rows(capture).values()) > 0


def test_corrupt_gzip_is_a_data_error(tmp_path: Path) -> None:
    need(USDM)
    data = bytearray(gzip.compress(b"".join(_head())))
    data[-6] ^= 0xFF  # the CRC
    path = tmp_path / "binance_usdm" / "capture.txt.gz"
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt gzip"):
        parse_hftbacktest_capture(path)


def test_venue_comes_from_the_argument_else_the_path(tmp_path: Path) -> None:
    need(USDM)
    plain = tmp_path / "capture.txt"
    plain.write_bytes(b"".join(_head()[:60]))
    with pytest.raises(DataError, match="venue="):
        parse_hftbacktest_capture(plain)
    assert parse_hftbacktest_capture(plain, "BINANCE_USDM").market is BinanceMarket.USDM
    coinm = tmp_path / "binance_coinm" / "capture.txt"
    coinm.parent.mkdir()
    coinm.write_bytes(plain.read_bytes())
    assert parse_hftbacktest_capture(coinm).market is BinanceMarket.COINM


def test_cryptofeed_line_that_is_not_json_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    good = json.dumps({"ts": 1.5, "dir": "recv", "url": "wss://fstream.binance.com/ws",
                       "raw": '{"e":"trade","E":1,"T":1,"s":"X","t":1,"p":"1.0","q":"2",'
                              '"m":true}'})
    path.write_text(f"{good}\nnot json\n{good}\n")
    with pytest.raises(DataError, match="line 2 "):
        parse_cryptofeed_capture(path)
    path.write_text(f"{good}\n{good[:30]}")
    capture = parse_cryptofeed_capture(path)
    assert (capture.messages, capture.truncated) == (1, [
        "session.jsonl line 2: unterminated and unreadable, skipped"])
    [trade] = capture.batches()
    assert trade.frame["ts_recv"].to_list() == [1_500_000_000]


def test_capture_of_another_venue_is_refused() -> None:
    okx = VENUES / "okx" / "cryptofeed_ws_v5_public_2022-05-13.jsonl.gz"
    need(okx)
    with pytest.raises(DataError, match="not a Binance session"):
        parse_cryptofeed_capture(okx)


def test_check_book_without_a_snapshot_explains_every_ticker() -> None:
    need(SPOT_ETH)
    data = hftbacktest(SPOT_ETH).symbols["ETHUSDT"]
    check = check_book(data, BinanceMarket.SPOT.sequence_rule())
    assert check.matches == 0
    assert {verdict for _, verdict, _ in check.problems} == {M.NO_SNAPSHOT}
