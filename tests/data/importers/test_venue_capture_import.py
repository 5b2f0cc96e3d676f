"""Captures of every venue with a live parser -> catalog: OKX, Bybit, Hyperliquid, MEXC and
Alpaca, in the hftbacktest format ``heron record --raw`` writes.

Each capture is built from the real recorded messages in ``shared/data/venues`` (skipped
where absent), framed ``<receive ns> <text>`` under the folder the recorder would use, and
imported; expected rows are computed from the JSON with ``json`` and ``Decimal`` (through
``Instrument.ticks``/``lots``), never with the parsers' integer arithmetic. The round trip
at the end records a session with the recorder's own raw writer and catalog recorder,
then imports the raw file back.
"""

from __future__ import annotations

import calendar
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest

from conftest import SHARED_VENUES, need
from heron.data.catalog import Catalog
from heron.data.importers import detect_format, import_path
from heron.data.importers.batch import ImportBatch
from heron.data.importers.capture_venues import sniff_family
from heron.data.importers.venue_captures import (
    parse_venue_capture,
    read_capture,
)
from heron.data.recording.raw import RawCapture
from heron.data.recording.recorder import Recorder
from heron.data.schemas import SCHEMAS, DataKind
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.okx import OkxParser
from heron.venues.wire import BadKind

OKX_WS = SHARED_VENUES / "okx" / "cryptofeed_ws_v5_public_2022-05-13.jsonl.gz"
OKX_REST = SHARED_VENUES / "okx" / "cryptofeed_rest_instruments_2022-05-13.jsonl.gz"
BYBIT_BOOK = SHARED_VENUES / "bybit" / "v5_orderbook.500_XRPUSDT_2024-12-01.jsonl"
BYBIT_FIXTURES = SHARED_VENUES / "bybit" / "fixtures"
HYPERLIQUID = SHARED_VENUES / "hyperliquid" / "ws_capture_BTC_2025-01-26.txt.gz"
MEXC = SHARED_VENUES / "mexc" / "crypto-msg-parser_raw_messages.jsonl"
ALPACA = SHARED_VENUES / "alpaca"
BINANCE_USDM = SHARED_VENUES / "binance_usdm"
BASE = 1_733_011_200_000_000_000  # a receive time for messages recorded without one, ns
MS = 1_000_000
SPOT, PERP = InstrumentKind.SPOT, InstrumentKind.LINEAR_PERPETUAL
Frames = list[tuple[int, str]]


# -- helpers -------------------------------------------------------------------------------------
def write_capture(path: Path, frames: Iterable[tuple[int, str]]) -> Path:
    """``frames`` as ``heron record --raw`` writes them: gzip, ``<ns> <text>`` lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress("".join(f"{ts} {raw}\n" for ts, raw in frames).encode()))
    return path


def compact(path: Path) -> str:
    """A pretty-printed fixture as the venue sends it: one line, no blanks."""
    return json.dumps(json.loads(need(path).read_text()), separators=(",", ":"))


def stamped(texts: Iterable[str]) -> Frames:
    return [(BASE + n * MS, text) for n, text in enumerate(texts)]


def exact(raw: str) -> Any:
    return json.loads(raw, parse_float=Decimal, parse_int=Decimal)


def places(texts: Iterable[Any]) -> int:
    """Decimals of the finest digit any non-zero value uses (trailing zeros are not)."""
    exponents = [Decimal(str(t)).normalize().as_tuple().exponent for t in texts
                 if Decimal(str(t)) != 0]
    return max((-int(e) for e in exponents), default=0)


def rows(batches: list[ImportBatch], symbol: str, kind: DataKind, *columns: str) -> list[Any]:
    [batch] = [b for b in batches if (b.instrument.symbol, b.kind) == (symbol, kind)]
    return batch.frame.select(columns).rows()


def counts(batches: list[ImportBatch]) -> dict[tuple[str, str], int]:
    return {(b.instrument.symbol, b.kind.value): b.frame.height for b in batches}


def holding(root: Path, *instruments: Instrument) -> Catalog:
    """A catalog that holds ``instruments`` (as ``heron record`` stores them at start)."""
    catalog = Catalog(root)
    empty = pl.DataFrame(schema=SCHEMAS[DataKind.TRADES].schema)
    catalog.write_many([(i, DataKind.TRADES, empty) for i in instruments])
    return catalog


def rounded(i: Instrument, text: Any) -> int:
    return int((Decimal(str(text)) / i.price_increment).quantize(Decimal(1), ROUND_HALF_EVEN))


# -- OKX: the recorded 2022 session (trades, tickers, 400-level books) ---------------------------
def okx_frames(only: str | None = None) -> Frames:
    """The session's WebSocket frames with their receive times; ``only`` one instrument's
    pushes (and every control frame)."""
    out: Frames = []
    with gzip.open(need(OKX_WS), "rt") as f:
        for line in f:
            entry = json.loads(line, parse_float=Decimal)
            if entry["dir"] != "recv":
                continue
            arg = json.loads(entry["raw"]).get("arg", {})
            if only is None or "event" in json.loads(entry["raw"]) or arg["instId"] == only:
                out.append((int(entry["ts"].scaleb(9)), entry["raw"]))
    return out


def okx_instruments() -> dict[str, Instrument]:
    """The session's instruments from OKX's REST bodies: tickSz, lotSz, ctVal."""
    out: dict[str, Instrument] = {}
    with gzip.open(need(OKX_REST), "rt") as f:
        for line in f:
            entry = json.loads(line)
            if entry["dir"] != "http_response":
                continue
            for d in json.loads(entry["raw"])["data"]:
                if d["instId"] in ("BTC-USDT", "UNI-USD-SWAP", "BTC-USD-220527"):
                    out[d["instId"]] = Instrument(
                        d["instId"], venue="OKX", kind=SPOT if d["instType"] == "SPOT" else PERP,
                        price_increment=Decimal(d["tickSz"]), size_increment=Decimal(d["lotSz"]),
                        multiplier=Decimal(d["ctVal"] or 1))
    return out


def okx_expected(frames: Frames, insts: dict[str, Instrument]) -> dict[tuple[str, str], list[Any]]:
    """Rows per (symbol, kind) from the JSON: trades, quotes (tickers), snapshot and delta
    levels (sequence: seqId, or the push's ts before OKX sent one)."""
    out: dict[tuple[str, str], list[Any]] = {}
    for ts_recv, raw in frames:
        push = exact(raw)
        if "event" in push:
            continue
        channel, symbol = push["arg"]["channel"], push["arg"]["instId"]
        i = insts[symbol]
        for r in push["data"]:
            ts = int(r["ts"]) * MS
            if channel == "trades":
                row = (ts, ts_recv, i.ticks(r["px"]), i.lots(r["sz"]),
                       1 if r["side"] == "buy" else -1, r["tradeId"])
                out.setdefault((symbol, "trades"), []).append(row)
            elif channel == "tickers":
                out.setdefault((symbol, "quotes"), []).append(
                    (ts, ts_recv, i.ticks(r["bidPx"]), i.ticks(r["askPx"]), i.lots(r["bidSz"]),
                     i.lots(r["askSz"])))
            elif push["action"] == "snapshot":
                out.setdefault((symbol, "book_snapshots"), []).extend(
                    (ts, ts_recv, side, level, i.ticks(lv[0]), i.lots(lv[1]))
                    for side, levels in ((1, r["bids"]), (-1, r["asks"]))
                    for level, lv in enumerate(levels))
            else:
                seq = int(r.get("seqId", r["ts"]))
                out.setdefault((symbol, "book_deltas"), []).extend(
                    (ts, ts_recv, side, i.ticks(lv[0]), i.lots(lv[1]), seq)
                    for side, levels in ((1, r["bids"]), (-1, r["asks"])) for lv in levels)
    return out


_OKX_COLUMNS = {
    "trades": ("ts_event", "ts_recv", "price", "size", "aggressor", "trade_id"),
    "quotes": ("ts_event", "ts_recv", "bid", "ask", "bid_size", "ask_size"),
    "book_snapshots": ("ts_event", "ts_recv", "side", "level", "price", "size"),
    "book_deltas": ("ts_event", "ts_recv", "side", "price", "size", "sequence"),
}


def test_okx_capture_with_the_catalogs_instruments_imports_every_channel(
        tmp_path: Path) -> None:
    """Spot, an inverse swap and a future, all on OKX's REST grid: every trade, ticker
    and book level is a row, equal to the JSON; the import adds exactly those rows."""
    insts = okx_instruments()
    frames = okx_frames()
    path = write_capture(tmp_path / "raw" / "OKX" / "2022-05-13T16.txt.gz", frames)
    capture = parse_venue_capture(path, instruments=insts)
    batches = capture.batches()
    want = okx_expected(frames, insts)
    assert counts(batches) == {key: len(value) for key, value in want.items()}
    for (symbol, kind), expected in want.items():
        assert rows(batches, symbol, DataKind(kind), *_OKX_COLUMNS[kind]) == expected
    assert (capture.venue.venue, capture.inferred, capture.bad) == ("OKX", [], [])
    assert capture.ignored == 18  # the subscription answers
    assert sum(counts(batches).values()) == 8_366
    report = import_path(holding(tmp_path / "catalog", *insts.values()), path)
    assert report.fmt == "capture-hftbacktest"
    assert {(b.instrument_id, b.kind.value): b.rows_added for b in report.batches} == {
        (f"{symbol}.OKX", kind): len(value) for (symbol, kind), value in want.items()}


def test_okx_cryptofeed_session_imports_like_its_raw_capture(tmp_path: Path) -> None:
    """The same session in cryptofeed's own format: venue from its URLs, same rows."""
    insts = okx_instruments()
    path = write_capture(tmp_path / "raw" / "OKX" / "2022-05-13T16.txt.gz", okx_frames())
    raw = import_path(holding(tmp_path / "a", *insts.values()), path)
    session = import_path(holding(tmp_path / "b", *insts.values()), need(OKX_WS))
    assert (raw.fmt, session.fmt) == ("capture-hftbacktest", "capture-cryptofeed")
    assert [(b.instrument_id, b.kind, b.rows_added) for b in session.batches] == [
        (b.instrument_id, b.kind, b.rows_added) for b in raw.batches]


def test_okx_spot_grid_is_inferred_from_the_decimals_it_prints(tmp_path: Path) -> None:
    """Without a stored instrument a spot pair gets the finest digit its prices and sizes
    use: BTC-USDT's 0.1 tick (OKX's own) and a lot of 1e-8."""
    frames = okx_frames(only="BTC-USDT")
    path = write_capture(tmp_path / "OKX" / "2022-05-13T16.txt.gz", frames)
    capture = parse_venue_capture(path)
    pushes = [exact(raw) for _, raw in frames if "event" not in exact(raw)]
    prices = [lv[0] for p in pushes if p["arg"]["channel"] == "books" for r in p["data"]
              for lv in r["bids"] + r["asks"]]
    prices += [r["px"] for p in pushes if p["arg"]["channel"] == "trades" for r in p["data"]]
    sizes = [lv[1] for p in pushes if p["arg"]["channel"] == "books" for r in p["data"]
             for lv in r["bids"] + r["asks"]]
    inst = capture.instruments["BTC-USDT"]
    assert (inst.price_increment, inst.kind, inst.quote_currency) == (
        Decimal(1).scaleb(-places(prices)), SPOT, "USDT")
    assert inst.price_increment == Decimal("0.1")
    assert inst.size_increment == Decimal(1).scaleb(-places(sizes)) == Decimal("1e-8")
    want = okx_expected(frames, {"BTC-USDT": inst})
    for (symbol, kind), expected in want.items():
        assert rows(capture.batches(), symbol, DataKind(kind), *_OKX_COLUMNS[kind]) == expected
    assert capture.inferred == ["BTC-USDT"]
    assert any("inferred from the decimals" in note for note in capture.notes)


def test_okx_contracts_without_a_stored_instrument_are_refused(tmp_path: Path) -> None:
    """Swap and future sizes are contracts: no guessed contract value, a clear refusal."""
    path = write_capture(tmp_path / "OKX" / "2022-05-13T16.txt.gz", okx_frames())
    with pytest.raises(DataError, match=r"BTC-USD-220527, UNI-USD-SWAP: sizes are counted "
                                        r"in contracts.*catalog that holds"):
        import_path(Catalog(tmp_path / "catalog"), path)


# -- Bybit: the v5 orderbook.500 archive and the v5 fixtures --------------------------------
def bybit_frames() -> Frames:
    fixtures = ["ws_subscription_ack.json", "ws_trade.json", "ws_ticker_linear.json",
                "ws_liquidation.json"]
    book = need(BYBIT_BOOK).read_text().splitlines()
    return stamped([compact(BYBIT_FIXTURES / name) for name in fixtures] + book)


def test_bybit_capture_imports_book_trades_ticker_and_liquidation(tmp_path: Path) -> None:
    frames = bybit_frames()
    capture = parse_venue_capture(write_capture(tmp_path / "BYBIT" / "h.txt.gz", frames))
    batches = capture.batches()
    book = [(ts, exact(raw)) for ts, raw in frames[4:]]
    xrp = capture.instruments["XRPUSDT"]
    levels = [lv for _, m in book for lv in m["data"]["b"] + m["data"]["a"]]
    assert (xrp.price_increment, xrp.size_increment, xrp.kind, xrp.venue) == (
        Decimal(1).scaleb(-places(lv[0] for lv in levels)),
        Decimal(1).scaleb(-places(lv[1] for lv in levels)), PERP, "BYBIT")
    snap_ts, snap = book[0]
    assert rows(batches, "XRPUSDT", DataKind.BOOK_SNAPSHOTS, "ts_recv", "side", "level",
                "price", "size", "sequence") == [
        (snap_ts, side, n, xrp.ticks(p), xrp.lots(q), int(snap["data"]["u"]))
        for side, key in ((1, "b"), (-1, "a")) for n, (p, q) in enumerate(snap["data"][key])]
    assert rows(batches, "XRPUSDT", DataKind.BOOK_DELTAS, "ts_event", "ts_recv", "side",
                "price", "size", "sequence") == [
        (int(m.get("cts", m["ts"])) * MS, ts, side, xrp.ticks(p), xrp.lots(q), int(m["data"]["u"]))
        for ts, m in book[1:] for side, key in ((1, "b"), (-1, "a")) for p, q in m["data"][key]]
    trade = exact(frames[1][1])["data"][0]
    btc = capture.instruments["BTCUSDT"]
    assert rows(batches, "BTCUSDT", DataKind.TRADES, "ts_event", "price", "size", "aggressor",
                "trade_id") == [(int(trade["T"]) * MS, btc.ticks(trade["p"]),
                                 btc.lots(trade["v"]), 1, trade["i"])]
    ticker = exact(frames[2][1])
    assert rows(batches, "BTCUSDT", DataKind.MARK, "ts_event", "price") == [
        (int(ticker["ts"]) * MS, rounded(btc, ticker["data"]["markPrice"]))]
    assert rows(batches, "BTCUSDT", DataKind.FUNDING, "ts_event", "rate") == [
        (int(ticker["data"]["nextFundingTime"]) * MS, Decimal(ticker["data"]["fundingRate"]))]
    liquidation = exact(frames[3][1])["data"]
    gala = capture.instruments["GALAUSDT"]
    assert gala.price_increment == Decimal("1e-8")  # no traded price seen: the fine default
    assert rows(batches, "GALAUSDT", DataKind.LIQUIDATIONS, "ts_event", "side", "price",
                "size") == [(int(liquidation["updatedTime"]) * MS, -1,  # a long closed: sell
                             gala.ticks(liquidation["price"]), gala.lots(liquidation["size"]))]
    assert (capture.ignored, capture.bad) == (1, [])


def test_bybit_spot_is_told_by_the_recorders_folder(tmp_path: Path) -> None:
    """Spot and linear frames look alike: the folder ``heron record`` names says spot."""
    frames = stamped(need(BYBIT_BOOK).read_text().splitlines())
    spot = parse_venue_capture(write_capture(tmp_path / "bybitspot" / "h.txt.gz", frames))
    linear = parse_venue_capture(write_capture(tmp_path / "elsewhere" / "h.txt.gz", frames))
    assert (spot.venue.label, spot.instruments["XRPUSDT"].kind) == ("bybitspot", SPOT)
    assert (linear.venue.label, linear.instruments["XRPUSDT"].kind) == ("bybit", PERP)
    assert spot.instruments["XRPUSDT"].venue == "BYBIT"
    assert counts(spot.batches()) == counts(linear.batches())


# -- Hyperliquid: the live capture, already in the hftbacktest format --------------------------
def hyperliquid_lines() -> list[tuple[int, Any]]:
    return [(ts, exact(raw)) for ts, raw in hyperliquid_frames()]


def hyperliquid_frames() -> Frames:
    with gzip.open(need(HYPERLIQUID), "rt") as f:
        return [(int(stamp), raw) for stamp, raw in
                (line.rstrip("\n").split(" ", 1) for line in f)]


def test_hyperliquid_capture_imports_book_snapshots_and_trades(tmp_path: Path) -> None:
    messages = hyperliquid_lines()
    books = [(ts, m["data"]) for ts, m in messages if m["channel"] == "l2Book"]
    trades = [(ts, t) for ts, m in messages if m["channel"] == "trades" for t in m["data"]]
    capture = parse_venue_capture(HYPERLIQUID)
    inst = capture.instruments["BTC"]
    prices = [lv["px"] for _, b in books for side in b["levels"] for lv in side]
    sizes = [lv["sz"] for _, b in books for side in b["levels"] for lv in side]
    prices += [t["px"] for _, t in trades]
    sizes += [t["sz"] for _, t in trades]
    assert (inst.price_increment, inst.size_increment, inst.kind, inst.quote_currency) == (
        Decimal(1).scaleb(-places(prices)), Decimal(1).scaleb(-places(sizes)), PERP, "USDC")
    batches = capture.batches()
    assert rows(batches, "BTC", DataKind.TRADES, "ts_event", "ts_recv", "price", "size",
                "aggressor", "trade_id") == [
        (int(t["time"]) * MS, ts, inst.ticks(t["px"]), inst.lots(t["sz"]),
         1 if t["side"] == "B" else -1, str(t["tid"])) for ts, t in trades]
    assert rows(batches, "BTC", DataKind.BOOK_SNAPSHOTS, "ts_event", "ts_recv", "side", "level",
                "price", "size", "sequence") == [
        (int(b["time"]) * MS, ts, side, n, inst.ticks(lv["px"]), inst.lots(lv["sz"]),
         int(b["time"])) for ts, b in books
        for side, levels in zip((1, -1), b["levels"], strict=True)
        for n, lv in enumerate(levels)]
    report = import_path(Catalog(tmp_path / "catalog"), HYPERLIQUID)
    levels = sum(len(side) for _, b in books for side in b["levels"])
    assert {b.kind.value: b.rows_added for b in report.batches} == {
        "book_snapshots": levels, "trades": len(trades)}


def test_hyperliquid_capture_cut_by_a_kill_keeps_what_came_before(tmp_path: Path) -> None:
    """An unterminated, torn last line is what a killed recorder leaves: skipped and said;
    the same tear in mid-file is damage, refused with its line."""
    lines = gzip.decompress(need(HYPERLIQUID).read_bytes()).splitlines(keepends=True)
    torn = tmp_path / "HYPERLIQUID" / "h.partial.txt.gz"
    torn.parent.mkdir()
    torn.write_bytes(gzip.compress(b"".join(lines[:-1]) + lines[-1][:80]))
    capture = parse_venue_capture(torn)
    assert capture.truncated == [f"h.partial.txt.gz line {len(lines)}: message cut short at "
                                 "the end of the file, skipped"]
    assert capture.messages == len(lines)
    damaged = tmp_path / "HYPERLIQUID" / "h.txt.gz"
    damaged.write_bytes(gzip.compress(b"".join([*lines[:3], lines[3][:80] + b"\n",
                                                *lines[4:]])))
    with pytest.raises(DataError, match="line 4 holds a message cut short"):
        parse_venue_capture(damaged)


# -- MEXC: the recorded futures pushes -----------------------------------------------------------
def mexc_frames(*names: str) -> Frames:
    by_test = {json.loads(line)["source_test"]: json.loads(line)["raw"]
               for line in need(MEXC).read_text().splitlines() if line.strip()}
    return stamped(by_test[name] for name in names)


MEXC_PUSHES = ("trade::linear_swap", "l2_event::linear_swap_update", "l2_topk::linear_swap",
               "candlestick::linear_swap", "ticker::linear_swap")
MEXC_BTC = Instrument("BTC_USDT", venue="MEXC", kind=PERP, price_increment=Decimal("0.1"),
                      size_increment=Decimal(1), multiplier=Decimal("0.0001"))


def test_mexc_capture_imports_onto_the_catalogs_contract(tmp_path: Path) -> None:
    """Sizes stay contracts, on the stored instrument (contract value 0.0001 BTC); the
    unsupported kline push is reported, not fatal."""
    frames = mexc_frames(*MEXC_PUSHES)
    path = write_capture(tmp_path / "MEXC" / "h.txt.gz", frames)
    catalog = holding(tmp_path / "catalog", MEXC_BTC)
    report = import_path(catalog, path)
    assert {b.kind.value: b.rows_added for b in report.batches} == {
        "trades": 1, "book_deltas": 3, "book_snapshots": 6, "mark": 1}
    capture = parse_venue_capture(path, instruments={"BTC_USDT": MEXC_BTC})
    batches, i = capture.batches(), MEXC_BTC
    deal, depth, full, ticker = (exact(frames[n][1]) for n in (0, 1, 2, 4))
    assert rows(batches, "BTC_USDT", DataKind.TRADES, "ts_event", "price", "size",
                "aggressor", "trade_id") == [(int(deal["data"]["t"]) * MS,
                                              i.ticks(deal["data"]["p"]),
                                              i.lots(deal["data"]["v"]), -1, "")]
    assert rows(batches, "BTC_USDT", DataKind.BOOK_DELTAS, "side", "price", "size",
                "sequence") == [(side, i.ticks(p), i.lots(q), int(depth["data"]["version"]))
                                for side, key in ((1, "bids"), (-1, "asks"))
                                for p, q, _ in depth["data"][key]]
    assert rows(batches, "BTC_USDT", DataKind.BOOK_SNAPSHOTS, "side", "level", "price",
                "size") == [(side, n, i.ticks(lv[0]), i.lots(lv[1]))
                            for side, key in ((1, "bids"), (-1, "asks"))
                            for n, lv in enumerate(full["data"][key])]
    assert rows(batches, "BTC_USDT", DataKind.MARK, "ts_event", "price") == [
        (int(ticker["data"]["timestamp"]) * MS, rounded(i, ticker["data"]["fairPrice"]))]
    assert capture.bad_counts() == {BadKind.UNSUPPORTED: 1}
    assert capture.notes == []  # the depth.full push is this capture's snapshot


def test_mexc_contracts_without_a_stored_instrument_are_refused(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "MEXC" / "h.txt.gz", mexc_frames(*MEXC_PUSHES))
    with pytest.raises(DataError, match="BTC_USDT: sizes are counted in contracts"):
        import_path(Catalog(tmp_path / "catalog"), path)


def test_mexc_deltas_without_their_rest_snapshot_import_as_deltas(tmp_path: Path) -> None:
    """The live feed's REST snapshot is not in a raw capture: the deltas still import."""
    path = write_capture(tmp_path / "MEXC" / "h.txt.gz",
                         mexc_frames("l2_event::linear_swap_update"))
    capture = parse_venue_capture(path, instruments={"BTC_USDT": MEXC_BTC})
    assert counts(capture.batches()) == {("BTC_USDT", "book_deltas"): 3}
    assert capture.notes == ["BTC_USDT: book deltas without a snapshot (mexc sends its book "
                             "snapshot over REST, which a raw capture does not keep)"]


# -- Alpaca: real equity records, framed as the equity feed's raw capture writes them ------------
def alpaca_load(name: str) -> Any:
    return json.loads(need(ALPACA / name).read_text(), parse_float=Decimal)


def ns(text: str) -> int:
    head, _, frac = text.removesuffix("Z").partition(".")
    return calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(
        frac.ljust(9, "0") or 0)


_JSON = msgspec.json.Encoder(decimal_format="number")  # a Decimal out as the number read


def alpaca_text(kind: str, record: dict[str, Any]) -> str:
    """One record as ``[{...}]``, numbers as the venue sent them."""
    return _JSON.encode([{"T": kind, "S": "AAPL", **record}]).decode()


def test_alpaca_equity_records_import_as_trades_and_quotes(tmp_path: Path) -> None:
    trades = alpaca_load("rest_v2_stocks_trades_AAPL_2022-03-09.json")["trades"]["AAPL"]
    quotes = alpaca_load("rest_v2_stocks_quotes_AAPL_2022-03-09.json")["quotes"]["AAPL"]
    snap = alpaca_load("rest_v2_stocks_snapshots_AAPL_2022-03-18.json")["AAPL"]
    trades, quotes = [*trades, snap["latestTrade"]], [*quotes, snap["latestQuote"]]
    texts = ([alpaca_text("t", t) for t in trades] + [alpaca_text("q", q) for q in quotes]
             + [alpaca_text("b", snap["minuteBar"])])
    frames = stamped(texts)
    capture = parse_venue_capture(write_capture(tmp_path / "alpaca-stocks" / "h.txt.gz",
                                                frames))
    i = capture.instruments["AAPL"]
    prices = [t["p"] for t in trades] + [q[k] for q in quotes for k in ("bp", "ap")]
    assert (i.venue, i.kind, i.price_increment, i.size_increment, i.quote_currency) == (
        "ALPACA", SPOT, Decimal(1).scaleb(-places(prices)), Decimal(1), "USD")
    assert i.price_increment == Decimal("0.0001")  # the sub-penny 161.1998
    batches = capture.batches()
    assert rows(batches, "AAPL", DataKind.TRADES, "ts_event", "ts_recv", "price", "size",
                "aggressor", "trade_id") == [
        (ns(t["t"]), frames[n][0], i.ticks(t["p"]), i.lots(t["s"]), 0, str(t["i"]))
        for n, t in enumerate(trades)]
    assert rows(batches, "AAPL", DataKind.QUOTES, "ts_event", "bid", "ask", "bid_size",
                "ask_size") == [(ns(q["t"]), i.ticks(q["bp"]), i.ticks(q["ap"]), i.lots(q["bs"]),
                                 i.lots(q["as"])) for q in quotes]
    assert capture.bad_counts() == {BadKind.UNSUPPORTED: 1}  # the bar record


# -- which venue ---------------------------------------------------------------------------------
def first_frames() -> dict[str, list[str]]:
    return {
        "okx": [raw for _, raw in okx_frames()[:3]],
        "bybit": [compact(BYBIT_FIXTURES / "ws_trade.json")],
        "hyperliquid": [raw for _, raw in hyperliquid_frames()[:2]],
        "mexc": [raw for _, raw in mexc_frames("trade::linear_swap")],
        "alpaca": [alpaca_text("t", {"t": "2022-03-09T05:00:02.183Z", "p": 1, "s": 1})],
        "binance": [compact(BINANCE_USDM / "fixtures" / "mark_price_stream.json")],
    }


def test_each_venue_is_told_from_its_frames() -> None:
    assert {family: sniff_family(texts) for family, texts in first_frames().items()} == {
        family: family for family in first_frames()}
    assert sniff_family(['{"unknown": 1}', "pong"]) is None


def test_a_venue_the_frames_contradict_or_none_can_tell_is_refused(tmp_path: Path) -> None:
    trade = ('{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"105056.0",'
             '"sz":"0.00219","time":1737918794873,"tid":121451470284048}]}')  # docs' shape
    hyperliquid = write_capture(tmp_path / "captures" / "h.txt.gz", [(BASE, trade)])
    assert counts(read_capture(hyperliquid)) == {("BTC", "trades"): 1}
    with pytest.raises(DataError, match="venue 'okx' was given, but the frames are "
                                        "hyperliquid's"):
        import_path(Catalog(tmp_path / "catalog"), hyperliquid, venue="okx")
    with pytest.raises(InvalidConfiguration, match="no capture reader for venue 'kraken'"):
        parse_venue_capture(hyperliquid, "kraken")
    unknown = write_capture(tmp_path / "captures" / "u.txt.gz", [(BASE, '{"unknown":1}')])
    with pytest.raises(DataError, match="cannot tell which venue"):
        parse_venue_capture(unknown)
    named = write_capture(tmp_path / "HYPERLIQUID" / "u.txt.gz", [(BASE, '{"unknown":1}')])
    assert parse_venue_capture(named).venue.label == "hyperliquid"  # the folder, then


def test_binance_capture_parses_on_the_catalogs_instrument(tmp_path: Path) -> None:
    """A Binance capture still goes to its own reader, now on the stored grid: a mark
    price is rounded to the stored 0.1 tick (on the inferred 0.01 it could not be stored)."""
    trade = ('{"e":"trade","E":1562305380000,"T":1562305380000,"s":"BTCUSDT","t":1,'
             '"p":"11794.10","q":"0.006","X":"MARKET","m":false}')
    mark = compact(BINANCE_USDM / "fixtures" / "mark_price_stream.json")
    path = write_capture(tmp_path / "BINANCE_USDM" / "h.txt.gz", stamped([trade, mark]))
    stored = Instrument("BTCUSDT", venue="BINANCE_USDM", kind=PERP,
                        price_increment=Decimal("0.1"), size_increment=Decimal("0.001"))
    catalog = holding(tmp_path / "catalog", stored)
    report = import_path(catalog, path)
    assert {b.kind.value: b.rows_added for b in report.batches} == {
        "trades": 1, "mark": 1, "funding": 1}
    marks = catalog.scan("BINANCE_USDM", "BTCUSDT", DataKind.MARK).collect()
    assert marks["price"].to_list() == [rounded(stored, "11794.15000000")] == [117942]
    inferred = read_capture(path)  # no catalog: the printed decimals, as before
    assert {b.instrument.price_increment for b in inferred} == {Decimal("0.01")}


# -- the round trip: heron record's raw writer and recorder, then heron data import -------------
def record(frames: Frames, insts: dict[str, Instrument], raw: Path, catalog: Catalog) -> None:
    """What ``heron record --raw`` does with each frame: keep it, and parse it live."""
    parser = OkxParser(insts, skip_unheld_liquidations=True)
    with RawCapture(raw) as capture, Recorder(catalog) as recorder:
        for ts_recv, text in frames:
            capture("okx", "wss://ws.okx.com:8443/ws/v5/public", ts_recv, text)
            out = parser.parse(text, ts_recv)
            for event in out if isinstance(out, list) else ():
                recorder.emit(event)


def series(catalog: Catalog) -> Iterator[tuple[str, str, DataKind, pl.DataFrame]]:
    for entry in catalog.entries():
        frame = catalog.scan(entry.venue, entry.symbol, entry.kind).collect()
        if frame.height:
            yield entry.venue, entry.symbol, entry.kind, frame


def test_okx_raw_capture_imports_back_into_the_recordings_catalog(tmp_path: Path) -> None:
    """Recorded live (raw file and catalog), the raw file imports into the recording's
    catalog adding nothing, and into a new catalog holding the instruments giving the
    very rows the recording wrote."""
    insts = okx_instruments()
    recorded = Catalog(tmp_path / "catalog")
    record(okx_frames(), insts, tmp_path / "raw", recorded)
    [raw] = (tmp_path / "raw" / "OKX").iterdir()
    assert raw.name == "2022-05-13T16.txt.gz" and detect_format(raw) == "capture-hftbacktest"
    again = import_path(recorded, raw)  # heron data import, venue and grid found alone
    assert again.rows_added == 0
    assert again.rows_skipped == sum(b.rows for b in again.batches) == 8_366
    fresh = holding(tmp_path / "fresh", *insts.values())
    assert import_path(fresh, raw).rows_added == 8_366
    mine, theirs = list(series(fresh)), list(series(recorded))
    assert [s[:3] for s in mine] == [s[:3] for s in theirs] and len(mine) == 12
    for (*_, a), (*_, b) in zip(mine, theirs, strict=True):
        assert a.equals(b)
