"""freqtrade importer on freqtrade's own test data (GPL-3.0, read from the shared set and
never bundled): the XRP/ETH ccxt trades JSON, the ETH/USDT trades CSV, spot and futures
candles, mark candles and funding-rate candles. Expected values were read off the files.
"""

from __future__ import annotations

import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from heron.data.importers.freqtrade import read_freqtrade, sniff
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError
from heron.model.instrument import InstrumentKind

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
MS = 10**6
HOUR = 3600 * 10**9
PERP = "XRP/USDT:USDT"


def _real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def test_ccxt_trades_json_gz_keep_exact_decimals_and_ids() -> None:
    path = _real("ticks/freqtrade_binance_XRP_ETH_trades_2019-10.json.gz")
    [batch] = read_freqtrade(path, venue="BINANCE")
    instrument = batch.instrument
    assert (instrument.id, instrument.kind, instrument.quote_currency) == (
        "XRP/ETH.BINANCE", InstrumentKind.SPOT, "ETH")  # symbol from the trades themselves
    assert (instrument.price_increment, instrument.size_increment) == (Decimal("1E-8"),
                                                                        Decimal("0.1"))
    frame = batch.frame
    validate_frame(DataKind.TRADES, frame, source="test")
    assert frame.height == 12477
    # {"timestamp":1570752011620,"id":"13519807","side":"sell","price":0.00141342,"amount":23.0}
    assert frame.row(0, named=True) == {
        "ts_event": 1570752011620 * MS, "ts_recv": 1570752011620 * MS, "price": 141342,
        "size": 230, "aggressor": -1, "trade_id": "13519807", "sequence": 13519807}
    # last: id 13532283, 0.00152787 x 130.0 at 1570965568844
    assert frame.row(-1) == (1570965568844 * MS, 1570965568844 * MS, 152787, 1300, -1,
                             "13532283", 13532283)


def test_trades_csv_reads_the_pandas_export() -> None:
    path = _real("ticks/freqtrade_ETH_USDT_trades_2023-02-02.csv")
    assert sniff(path.read_bytes()) == "trades-csv"
    [batch] = read_freqtrade(path, venue="BINANCE", symbol="ETH/USDT")
    frame = batch.frame
    validate_frame(DataKind.TRADES, frame, source="test")
    assert frame.height == 1000
    assert (batch.instrument.price_increment, batch.instrument.size_increment) == (
        Decimal("0.01"), Decimal("0.001"))
    # 0,1675329600138,1206419187,,buy,1666.8,26.062,...
    assert frame.row(0) == (1675329600138 * MS, 1675329600138 * MS, 166680, 26062, 1,
                            "1206419187", 1206419187)
    # 999,1675329807493,1206420186,,buy,1667.3,0.018,...
    assert frame.row(-1) == (1675329807493 * MS, 1675329807493 * MS, 166730, 18, 1,
                             "1206420186", 1206420186)


def test_trades_rows_json_is_freqtrades_list_format(tmp_path: Path) -> None:
    path = tmp_path / "XRP_ETH-trades.json.gz"
    path.write_bytes(gzip.compress(
        b'[[1570752011620, "13519807", null, "sell", 0.00141342, 23.0, 0.03250866],'
        b' [1570752028907, "13519810", null, "buy", 0.00141379, 581.0, 0.82141199]]'))
    [batch] = read_freqtrade(path, venue="BINANCE")
    assert batch.instrument.id == "XRP/ETH.BINANCE"  # from freqtrade's file name
    assert batch.frame.select("price", "size", "aggressor", "sequence").rows() == [
        (141342, 230, -1, 13519807), (141379, 5810, 1, 13519810)]


def test_spot_candles_feather_become_bars() -> None:
    path = _real("bars/freqtrade_XRP_ETH_1m_2019-10.feather")
    [batch] = read_freqtrade(path, venue="BINANCE", symbol="XRP/ETH")
    assert batch.kind is DataKind.BARS
    frame = batch.frame
    validate_frame(batch.kind, frame, source="test")
    assert frame.height == 2469
    assert frame["interval_ns"].unique().to_list() == [60 * 10**9]
    # 2019-10-11 00:00, 0.00141342, 0.00141557, 0.00141266, 0.00141418, 1482.0
    assert frame.row(0)[3:] == (141342, 141557, 141266, 141418, 1482)
    assert frame["ts_event"][0] == 1570752000000 * MS


def test_candles_json_become_bars_with_the_name_symbol(tmp_path: Path) -> None:
    source = _real("bars/freqtrade_UNITTEST_BTC_1m_2017-11.json")
    path = tmp_path / "UNITTEST_BTC-1m.json"
    shutil.copy(source, path)
    [batch] = read_freqtrade(path, venue="BINANCE")
    assert batch.instrument.id == "UNITTEST/BTC.BINANCE"
    assert batch.frame.height == 13681
    # [1509836520000, 0.00162008, 0.00162008, 0.00162008, 0.00162008, 108.14853839]
    assert batch.frame.row(0)[:4] == (1509836520000 * MS, 1509836580000 * MS, 60 * 10**9,
                                      162008)
    assert batch.frame["volume"][0] == 10814853839


def test_futures_candles_are_perpetual_bars() -> None:
    path = _real("bars/freqtrade_XRP_USDT_perp_1h_futures_2021-11.feather")
    [batch] = read_freqtrade(path, venue="BINANCE_USDM", symbol=PERP)
    assert batch.instrument.kind is InstrumentKind.LINEAR_PERPETUAL
    assert batch.instrument.quote_currency == "USDT"
    assert batch.frame.height == 100
    # 2021-11-17 01:00, 1.0801, 1.09758, 1.07654, 1.07925, 3153694.607359
    assert batch.frame.row(0)[3:7] == (108010, 109758, 107654, 107925)
    assert batch.frame["volume"][0] == 3153694607359


def test_funding_rate_candles_become_funding_with_clean_decimals() -> None:
    path = _real("bars/freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather")
    [batch] = read_freqtrade(path, venue="BINANCE_USDM", symbol=PERP)
    assert batch.kind is DataKind.FUNDING
    frame = batch.frame
    validate_frame(batch.kind, frame, source="test")
    assert frame.height == 91
    # 2021-11-18 00:00:00.017, rate 0.0001 (in the open column)
    assert frame.row(0) == (1637193600017 * MS, 1637193600017 * MS, Decimal("0.0001"))
    # stored as the float -0.0021933400000000002; published as -0.00219334
    assert Decimal("-0.00219334") in frame["rate"].to_list()
    assert frame["rate"].min() == Decimal("-0.00219334")


def test_mark_candles_become_mark_prices_at_each_close() -> None:
    path = _real("bars/freqtrade_XRP_USDT_perp_1h_mark_2021-11.feather")
    [batch] = read_freqtrade(path, venue="BINANCE_USDM", symbol=PERP)
    assert batch.kind is DataKind.MARK
    frame = batch.frame
    validate_frame(batch.kind, frame, source="test")
    assert frame.height == 100
    # candle 2021-11-15 06:00 closes at 1.21431: the mark at 07:00
    assert frame.row(0) == (1636956000000 * MS + HOUR, 1636956000000 * MS + HOUR, 121431)
    assert frame.row(-1)[2] == 106051


def test_index_candles_are_refused(tmp_path: Path) -> None:
    source = _real("bars/freqtrade_XRP_USDT_perp_1h_futures_2021-11.feather")
    path = tmp_path / "XRP_USDT_USDT-1h-index.feather"
    shutil.copy(source, path)
    with pytest.raises(DataError, match="no catalog kind"):
        read_freqtrade(path, venue="BINANCE_USDM")


def test_missing_venue_is_asked_for() -> None:
    path = _real("ticks/freqtrade_ETH_USDT_trades_2023-02-02.csv")
    with pytest.raises(DataError, match=r"does not name its venue; pass venue="):
        read_freqtrade(path, symbol="ETH/USDT")
