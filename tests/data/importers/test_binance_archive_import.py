"""Binance archive importer on real data: the USD-M depth snapshot/update files, the
bundled ADABTC klines, and trades/aggTrades archives rebuilt line by line from real
trades (the bundled BTCUSDT trade ticks; the raw Binance aggTrade objects freqtrade
keeps in its XRP/ETH trade file). Expected values were read off the files.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.data.importers.binance_archive import read_binance_archive, sniff
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError
from heron.model.instrument import InstrumentKind

HERE = Path(__file__).resolve()
SHARED = HERE.parents[4] / "shared" / "data"
BUNDLED = HERE.parents[3] / "data"
MS = 10**6


def _real(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data {path} not present")
    return path


def _valid(kind: DataKind, frame: pl.DataFrame) -> None:
    validate_frame(kind, frame, source="test")


def test_depth_snapshot_rows_become_levels_counted_from_the_best_bid() -> None:
    path = _real(SHARED / "books" / "binance_usdm_BTCUSDT_depth_snapshot_2022-11-01.csv")
    [batch] = read_binance_archive(path)
    assert batch.kind is DataKind.BOOK_SNAPSHOTS
    instrument = batch.instrument
    assert (instrument.id, instrument.kind) == ("BTCUSDT.BINANCE_USDM",
                                                 InstrumentKind.LINEAR_PERPETUAL)
    assert (instrument.price_increment, instrument.size_increment) == (Decimal("0.01"),
                                                                        Decimal("0.001"))
    assert instrument.quote_currency == "USDT"
    frame = batch.frame
    _valid(batch.kind, frame)
    assert frame.height == 100
    assert frame["level"].to_list() == list(range(100))
    assert frame["sequence"].unique().to_list() == [2098021528332]
    # BTCUSDT,1667346579146,...,b,snap,20377.00,1.770,-1 (first) / 20365.90,0.207 (last)
    assert frame.row(0, named=True) == {
        "ts_event": 1667346579146 * MS, "ts_recv": 1667346579146 * MS,
        "sequence": 2098021528332, "side": 1, "level": 0, "price": 2037700, "size": 1770}
    assert frame.row(-1, named=True)["price"] == 2036590
    assert frame.row(-1, named=True)["size"] == 207


def test_depth_updates_end_their_message_with_is_last() -> None:
    path = _real(SHARED / "books" / "binance_usdm_BTCUSDT_depth_updates_2022-11-01.csv")
    [batch] = read_binance_archive(path)
    assert batch.kind is DataKind.BOOK_DELTAS
    frame = batch.frame
    _valid(batch.kind, frame)
    assert frame.height == 100
    assert frame["side"].value_counts().sort("side").rows() == [(-1, 77), (1, 23)]
    assert frame["sequence"].unique().to_list() == [2098041696700]  # one message
    assert frame["is_last"].to_list() == [False] * 99 + [True]
    # first: a,set,20472.80,0.000 (a deleted level); last: a,set,20879.10,10.249
    assert frame.row(0, named=True)["price"] == 2047280
    assert frame.row(0, named=True)["size"] == 0
    assert (frame["price"][-1], frame["size"][-1]) == (2087910, 10249)


def test_depth_file_with_snap_and_set_rows_gives_both_kinds(tmp_path: Path) -> None:
    snap = _real(SHARED / "books" / "binance_usdm_BTCUSDT_depth_snapshot_2022-11-01.csv")
    updates = _real(SHARED / "books" / "binance_usdm_BTCUSDT_depth_updates_2022-11-01.csv")
    both = tmp_path / "BTCUSDT-depth.csv"
    lines = updates.read_text().splitlines()
    both.write_text(snap.read_text() + "\n".join(lines[1:]) + "\n")
    batches = read_binance_archive(both)
    assert [(b.kind, b.frame.height) for b in batches] == [
        (DataKind.BOOK_SNAPSHOTS, 100), (DataKind.BOOK_DELTAS, 100)]
    assert batches[0].instrument == batches[1].instrument


def test_klines_bundled_file_become_one_minute_bars() -> None:
    [batch] = read_binance_archive(_real(BUNDLED / "ADABTC-1m-2021-11-27.csv"))
    assert batch.kind is DataKind.BARS
    assert (batch.instrument.id, batch.instrument.kind) == ("ADABTC.BINANCE",
                                                           InstrumentKind.SPOT)
    assert batch.instrument.price_increment == Decimal("0.00000001")
    assert batch.instrument.quote_currency == "BTC"
    frame = batch.frame
    _valid(batch.kind, frame)
    assert frame.height == 10
    assert frame["interval_ns"].unique().to_list() == [60 * 10**9]
    # 1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,...
    first = frame.row(0, named=True)
    assert (first["ts_event"], first["ts_recv"]) == (1637971200000 * MS, 1637971260000 * MS)
    assert [first[c] for c in ("open", "high", "low", "close")] == [2853, 2854, 2851, 2854]
    assert first["volume"] * batch.instrument.size_increment == Decimal("36304.2")
    assert (frame["open"][-1], frame["close"][-1]) == (2863, 2865)


def test_klines_in_binance_zip_read_the_same(tmp_path: Path) -> None:
    csv_path = _real(BUNDLED / "ADABTC-1m-2021-11-27.csv")
    archive = tmp_path / "ADABTC-1m-2021-11-27.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(csv_path, csv_path.name)
    [plain] = read_binance_archive(csv_path)
    [unzipped] = read_binance_archive(archive)
    assert unzipped.frame.equals(plain.frame)
    assert unzipped.instrument == plain.instrument


def _spot_trades_csv(path: Path) -> str:
    """The bundled BTCUSDT trades as a data.binance.vision spot trades dump (no header)."""
    src = pl.read_parquet(path)
    lines = []
    for ts, trade_id, price, qty, maker in src.iter_rows():
        p, q = Decimal(repr(price)), Decimal(repr(qty))
        lines.append(f"{trade_id},{p:.8f},{q:.8f},{p * q:.8f},"
                     f"{int(ts.timestamp() * 1000)},{maker},True")
    return "\n".join(lines) + "\n"


def test_spot_trades_dump_keeps_ids_and_exact_prices(tmp_path: Path) -> None:
    source = _real(BUNDLED / "binance_spot_BTCUSDT_trades_2021-01-08.parquet")
    path = tmp_path / "BTCUSDT-trades-2021-01-08.csv"
    path.write_text(_spot_trades_csv(source))
    [batch] = read_binance_archive(path, tick_size=Decimal("0.01"),
                                   lot_size=Decimal("0.000001"))
    assert (batch.instrument.id, batch.instrument.kind) == ("BTCUSDT.BINANCE",
                                                           InstrumentKind.SPOT)
    frame = batch.frame
    _valid(DataKind.TRADES, frame)
    assert frame.height == 2001
    fields = [line.split(",") for line in path.read_text().splitlines()]
    assert frame["sequence"].to_list() == [int(f[0]) for f in fields]
    assert frame["price"].to_list() == [int(Decimal(f[1]) / Decimal("0.01")) for f in fields]
    assert frame["size"].to_list() == [int(Decimal(f[2]) / Decimal("0.000001")) for f in fields]
    assert frame["aggressor"].to_list() == [-1 if f[5] == "True" else 1 for f in fields]
    # 553287559, 39432.48, 0.000263, 2021-01-08 00:00:00.278, buyer maker
    assert frame.row(0, named=True) == {
        "ts_event": 1610064000278 * MS, "ts_recv": 1610064000278 * MS, "price": 3943248,
        "size": 263, "aggressor": -1, "trade_id": "553287559", "sequence": 553287559}


def test_futures_trades_with_header_and_microsecond_times_are_usdm(tmp_path: Path) -> None:
    source = _real(BUNDLED / "binance_spot_BTCUSDT_trades_2021-01-08.parquet")
    rows = [line.rsplit(",", 1)[0].split(",") for line in
            _spot_trades_csv(source).splitlines()[:50]]
    lines = ["id,price,qty,quote_qty,time,is_buyer_maker"]
    lines += [",".join([*row[:4], row[4] + "000", row[5].lower()]) for row in rows]
    path = tmp_path / "BTCUSDT-trades-2025-01-08.csv"
    path.write_text("\n".join(lines) + "\n")
    [batch] = read_binance_archive(path)
    assert (batch.instrument.id, batch.instrument.kind) == ("BTCUSDT.BINANCE_USDM",
                                                           InstrumentKind.LINEAR_PERPETUAL)
    assert batch.instrument.price_increment == Decimal("0.00000001")  # 8 decimals written
    assert batch.frame.height == 50
    assert batch.frame["ts_event"][0] == 1610064000278 * MS  # us detected, like ms above
    assert batch.frame["price"][0] == 3943248000000


def test_spot_aggtrades_gzip_from_real_binance_objects(tmp_path: Path) -> None:
    source = _real(SHARED / "ticks" / "freqtrade_binance_XRP_ETH_trades_2019-10.json.gz")
    infos = [trade["info"] for trade in json.loads(gzip.decompress(source.read_bytes()))[:300]]
    lines = [f"{i['a']},{i['p']},{i['q']},{i['f']},{i['l']},{i['T']},{i['m']},{i['M']}"
             for i in infos]
    path = tmp_path / "XRPETH-aggTrades-2019-10-11.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    assert sniff(gzip.decompress(path.read_bytes())) == "aggTrades"
    [batch] = read_binance_archive(path)
    assert batch.instrument.id == "XRPETH.BINANCE"
    assert batch.instrument.quote_currency == "ETH"
    frame = batch.frame
    _valid(DataKind.TRADES, frame)
    assert frame.height == 300
    # {"a":13519807,"p":"0.00141342","q":"23.00000000","T":1570752011620,"m":true}
    assert frame.row(0, named=True) == {
        "ts_event": 1570752011620 * MS, "ts_recv": 1570752011620 * MS, "price": 141342,
        "size": 2300000000, "aggressor": -1, "trade_id": "13519807", "sequence": 13519807}
    assert frame["sequence"].to_list() == [i["a"] for i in infos]
    assert frame["aggressor"].to_list() == [-1 if i["m"] else 1 for i in infos]


def test_book_ticker_rows_become_quotes_sequenced_by_update_id(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-bookTicker-2024-01-01.csv"
    path.write_text(
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,"
        "event_time\n"
        "3781451862321,42313.90,7.166,42314.00,3.393,1704067200003,1704067200008\n"
        "3781451862458,42313.90,7.166,42314.00,3.352,1704067200010,1704067200015\n")
    [batch] = read_binance_archive(path)
    assert batch.kind is DataKind.QUOTES
    assert batch.instrument.id == "BTCUSDT.BINANCE_USDM"
    _valid(batch.kind, batch.frame)
    assert batch.frame.row(1, named=True) == {
        "ts_event": 1704067200010 * MS, "ts_recv": 1704067200010 * MS, "bid": 4231390,
        "ask": 4231400, "bid_size": 7166, "ask_size": 3352, "sequence": 3781451862458}


def test_funding_rate_archive_keeps_rates_exact(tmp_path: Path) -> None:
    path = tmp_path / "XRPUSDT-fundingRate-2021-11.csv"
    path.write_text("calc_time,funding_interval_hours,last_funding_rate\n"
                    "1637193600000,8,0.00010000\n1638921600000,8,-0.00219334\n")
    [batch] = read_binance_archive(path)
    assert batch.kind is DataKind.FUNDING
    assert batch.instrument.kind is InstrumentKind.LINEAR_PERPETUAL
    _valid(batch.kind, batch.frame)
    assert batch.frame["rate"].to_list() == [Decimal("0.0001"), Decimal("-0.00219334")]


def test_unknown_archive_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-bookDepth-2024-01-01.csv"
    path.write_text("timestamp,percentage,depth,notional\n2024-01-01 00:00:08,-5,1.0,2.0\n")
    with pytest.raises(DataError, match="not a Binance archive layout"):
        read_binance_archive(path)
