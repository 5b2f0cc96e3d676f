"""Generic CSV importer: Kraken's header-less trade export by position, named-column
quotes, HistData tick quotes (EST, converted to UTC), and mapping mistakes. Expected
values were read off the files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from heron.data.importers.generic_csv import read_generic_csv, read_histdata
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import InstrumentKind

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
KRAKEN = {"ts": 0, "price": 1, "size": 2}


def _real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def _ns(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def test_kraken_headerless_trades_by_position() -> None:
    path = _real("ticks/kraken_BCHEUR_trades_2023-01-01.csv")
    [batch] = read_generic_csv(path, KRAKEN, venue="KRAKEN", symbol="BCH/EUR")
    instrument = batch.instrument
    assert (instrument.id, instrument.kind, instrument.quote_currency) == (
        "BCH/EUR.KRAKEN", InstrumentKind.SPOT, "EUR")
    # prices written with 6 decimals, volumes with 8
    assert (instrument.price_increment, instrument.size_increment) == (
        Decimal("0.000001"), Decimal("0.00000001"))
    frame = batch.frame
    validate_frame(DataKind.TRADES, frame, source="test")
    assert frame.height == 148
    # 1672531436,90.540000,1.10448420 (seconds; no side, no id)
    assert frame.row(0) == (1672531436 * 10**9, 1672531436 * 10**9, 90540000, 110448420, 0,
                            "", 0)
    # 1672615187,90.530000,1.00000000
    assert frame.row(-1)[:4] == (1672615187 * 10**9, 1672615187 * 10**9, 90530000,
                                 100000000)


def test_named_columns_read_quotes_with_sizes(tmp_path: Path) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text("time,bid_px,ask_px,bid_qty,ask_qty,pair\n"
                    "2024-01-02T00:00:00.125Z,42313.9,42314.0,7.166,3.393,BTCUSDT\n"
                    "2024-01-02T00:00:00.250Z,42313.8,42314.0,1.5,3.393,BTCUSDT\n")
    mapping = {"ts": "time", "bid": "bid_px", "ask": "ask_px", "bid_size": "bid_qty",
               "ask_size": "ask_qty", "symbol": "pair"}
    [batch] = read_generic_csv(path, mapping, venue="BINANCE")
    assert batch.kind is DataKind.QUOTES
    assert batch.instrument.id == "BTCUSDT.BINANCE"
    validate_frame(batch.kind, batch.frame, source="test")
    assert batch.frame.row(1) == (_ns("2024-01-02T00:00:00.250"),
                                  _ns("2024-01-02T00:00:00.250"), 423138, 423140, 1500, 3393,
                                  0)


def test_side_and_id_columns_give_aggressor_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text("ts,px,qty,taker,tid\n1700000000000,10.5,1,buy,7\n"
                    "1700000000000,10.4,2,SELL,8\n")
    mapping = {"ts": "ts", "price": "px", "size": "qty", "side": "taker", "id": "tid"}
    [batch] = read_generic_csv(path, mapping, venue="X", symbol="ABC")
    assert batch.frame.select("aggressor", "trade_id", "sequence").rows() == [
        (1, "7", 7), (-1, "8", 8)]


def test_histdata_quotes_are_moved_from_est_to_utc() -> None:
    path = _real("ticks/histdata_EURUSD_quotes_2020-01-01.csv")
    [batch] = read_histdata(path, symbol="EURUSD")
    assert batch.instrument.id == "EURUSD.HISTDATA"
    assert batch.instrument.price_increment == Decimal("0.000001")
    frame = batch.frame
    validate_frame(DataKind.QUOTES, frame, source="test")
    assert frame.height == 9500
    # 20200101 170000065,1.121200,1.121720,0 : 17:00:00.065 EST = 22:00:00.065 UTC
    assert frame.row(0) == (_ns("2020-01-01T22:00:00.065"), _ns("2020-01-01T22:00:00.065"),
                            1121200, 1121720, 0, 0, 0)
    # 20200101 230052125,1.121300,1.121320,0 : the next day 04:00:52.125 UTC
    assert frame.row(-1)[:4] == (_ns("2020-01-02T04:00:52.125"),
                                 _ns("2020-01-02T04:00:52.125"), 1121300, 1121320)


def test_mapping_with_unknown_role_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(InvalidConfiguration, match=r"unknown role.*qty"):
        read_generic_csv(path, {"ts": 0, "price": 1, "qty": 2}, venue="X", symbol="Y")


def test_mapping_by_name_on_a_headerless_file_is_refused() -> None:
    path = _real("ticks/kraken_BCHEUR_trades_2023-01-01.csv")
    with pytest.raises(InvalidConfiguration, match=r"no header.*by 0-based position"):
        read_generic_csv(path, {"ts": "time", "price": 1, "size": 2}, venue="K", symbol="B")


def test_mapped_column_missing_from_the_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,price,amount\n1700000000,1.5,2\n")
    with pytest.raises(DataError, match="no column 'size' for size"):
        read_generic_csv(path, {"ts": "time", "price": "price", "size": "size"},
                         venue="X", symbol="Y")


def test_unknown_taker_side_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,price,size,side\n1700000000,1.5,2,buy\n1700000001,1.5,2,hold\n")
    mapping = {"ts": "time", "price": "price", "size": "size", "side": "side"}
    with pytest.raises(DataError, match="side 'hold' at line 3 is not buy or sell"):
        read_generic_csv(path, mapping, venue="X", symbol="Y")
