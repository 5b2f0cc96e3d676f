"""Tardis.dev importer on the real samples (BitMEX trades, Deribit incremental L2, Binance
USD-M book_snapshot_5/25) and on small files written from Tardis's documented columns
for the layouts without a sample (quotes, derivative_ticker). Expected values were read
off the files.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.data.importers.tardis import read_tardis, sniff
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError
from heron.model.instrument import InstrumentKind

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
US = 1000
TICKER_HEADER = ("exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,"
                 "predicted_funding_rate,open_interest,last_price,index_price,mark_price\n")


def _real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def test_bitmex_trades_keep_uuid_ids_and_receive_times() -> None:
    [batch] = read_tardis(_real("ticks/tardis_bitmex_XBTUSD_trades_2020-03-01.csv"))
    instrument = batch.instrument
    assert (instrument.id, instrument.kind) == ("XBTUSD.BITMEX",
                                                 InstrumentKind.LINEAR_PERPETUAL)
    assert (instrument.price_increment, instrument.size_increment) == (Decimal("0.1"),
                                                                        Decimal(1))
    frame = batch.frame
    validate_frame(DataKind.TRADES, frame, source="test")
    assert frame.height == 10
    # bitmex,XBTUSD,1583020803145000,1583020803307160,ccc3c1fa-...,sell,8531.5,2152
    assert frame.row(0, named=True) == {
        "ts_event": 1583020803145000 * US, "ts_recv": 1583020803307160 * US,
        "price": 85315, "size": 2152, "aggressor": -1,
        "trade_id": "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf", "sequence": 0}
    # nine trades share one timestamp: sequenced 0..8 in file order
    assert frame["sequence"].to_list() == [0, *range(9)]
    assert frame["trade_id"][-1] == "7cae8d7b-b69d-025b-cc3c-84b911f37a8a"


def test_deribit_incremental_snapshot_rows_become_a_snapshot() -> None:
    path = _real("books/tardis_deribit_BTC-PERPETUAL_incremental_L2_2020-04-01.csv")
    [batch] = read_tardis(path)
    assert batch.kind is DataKind.BOOK_SNAPSHOTS
    assert batch.instrument.id == "BTC-PERPETUAL.DERIBIT"
    frame = batch.frame
    validate_frame(batch.kind, frame, source="test")
    assert frame.height == 15
    assert frame["level"].to_list() == list(range(15))
    assert set(frame["side"]) == {-1}
    assert frame["sequence"].unique().to_list() == [1585699200355684 * US]
    # ask levels 6421.5 x 18640 ... 6428.5 x 39950
    assert (frame["price"][0], frame["size"][0]) == (64215, 18640)
    assert (frame["price"][-1], frame["size"][-1]) == (64285, 39950)


def test_incremental_updates_become_deltas_and_zero_amount_deletes(tmp_path: Path) -> None:
    path = tmp_path / "deribit_incremental_book_L2.csv"
    path.write_text(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
        "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,18640\n"
        "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,bid,6421,1000\n"
        "deribit,BTC-PERPETUAL,1585699200390000,1585699200450000,false,ask,6421.5,0\n"
        "deribit,BTC-PERPETUAL,1585699200390000,1585699200450000,false,bid,6421,1200\n"
        "deribit,BTC-PERPETUAL,1585699200400000,1585699200460000,false,ask,6422,500\n")
    snapshot, deltas = read_tardis(path)
    assert snapshot.frame.height == 2
    assert deltas.kind is DataKind.BOOK_DELTAS
    validate_frame(deltas.kind, deltas.frame, source="test")
    assert deltas.frame.select("side", "price", "size", "is_last").rows() == [
        (-1, 64215, 0, False), (1, 64210, 1200, True), (-1, 64220, 500, True)]


def test_book_snapshot_5_wide_rows_become_ten_levels_each() -> None:
    path = _real("books/tardis_binance-futures_BTCUSDT_book_snapshot_5_2020-09-01.csv")
    [batch] = read_tardis(path)
    assert batch.instrument.id == "BTCUSDT.BINANCE_USDM"
    frame = batch.frame
    validate_frame(batch.kind, frame, source="test")
    assert frame.height == 100
    assert frame["sequence"].n_unique() == 10
    first = frame.filter(pl.col("sequence") == 1598918403810979 * US)
    # asks[0] 11657.08 x 1.714, bids[0] 11657.07 x 10.896 ... bids[4] 11655.68 x 0.111
    assert first.filter(level=0).select("side", "price", "size").sort("side").rows() == [
        (-1, 1165708, 1714), (1, 1165707, 10896)]
    assert first.filter(level=4, side=1).select("price", "size").row(0) == (1165568, 111)
    assert first["ts_event"].unique().to_list() == [1598918403696000 * US]


def test_book_snapshot_25_reads_fifty_levels_per_row() -> None:
    path = _real("books/tardis_binance-futures_BTCUSDT_book_snapshot_25_2020-09-01.csv")
    assert sniff(path.read_bytes()) == "book_snapshot_25"
    [batch] = read_tardis(path)
    assert batch.frame.height == 500
    assert batch.frame["level"].max() == 24


def test_quotes_layout_becomes_quotes(tmp_path: Path) -> None:
    path = tmp_path / "binance-futures_quotes.csv"
    path.write_text(
        "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n"
        "binance-futures,BTCUSDT,1598918403696000,1598918403810979,1.714,11657.08,11657.07,"
        "10.896\n")
    [batch] = read_tardis(path)
    assert batch.kind is DataKind.QUOTES
    assert batch.frame.select("bid", "ask", "bid_size", "ask_size").row(0) == (
        1165707, 1165708, 10896, 1714)


def test_derivative_ticker_gives_mark_rows_and_settled_funding(tmp_path: Path) -> None:
    path = tmp_path / "binance-futures_derivative_ticker.csv"
    path.write_text(TICKER_HEADER
                    + "binance-futures,BTCUSDT,1598918399000000,1598918399100000,"
                      "1598918400000000,0.00010000,0.0001,,11650.1,11651.2,11652.12345678\n"
                    + "binance-futures,BTCUSDT,1598918399500000,1598918399600000,"
                      "1598918400000000,0.00012000,0.0001,,11650.1,11651.2,\n"
                    + "binance-futures,BTCUSDT,1598918401000000,1598918401100000,"
                      "1598947200000000,0.00003000,0.0001,,11650.1,11651.2,11653.5\n")
    mark, funding = read_tardis(path)
    assert mark.kind is DataKind.MARK
    assert mark.instrument.price_increment == Decimal("0.00000001")
    validate_frame(mark.kind, mark.frame, source="test")
    assert mark.frame["price"].to_list() == [1165212345678, 1165350000000]
    assert funding.kind is DataKind.FUNDING
    validate_frame(funding.kind, funding.frame, source="test")
    # the 00:00 funding was seen to pass; the last rate before it is the one applied;
    # the 08:00 one had not happened by the end of the file
    assert funding.frame.rows() == [(1598918400000000 * US, 1598918399600000 * US,
                                     Decimal("0.00012"))]


def test_header_drift_is_refused_with_the_changed_columns(tmp_path: Path) -> None:
    path = tmp_path / "bitmex_trades.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount,fee\n"
                    "bitmex,XBTUSD,1583020803145000,1583020803307160,x,sell,8531.5,2152,0\n")
    with pytest.raises(DataError, match=r"unexpected column.*fee"):
        read_tardis(path)


def test_two_symbols_in_one_file_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "bitmex_trades.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
                    "bitmex,XBTUSD,1583020803145000,1583020803307160,a,sell,8531.5,2152\n"
                    "bitmex,ETHUSD,1583020803145000,1583020803307160,b,buy,231.05,10\n")
    with pytest.raises(DataError, match=r"mixes 2 symbols \(XBTUSD, ETHUSD\)"):
        read_tardis(path)
