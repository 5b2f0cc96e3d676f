"""Tests for heron.data.bars: every format on real files, every refusal on small bad files.

Real files come from the repo's ``data/`` (bundled, LGPL-3.0) and from the shared
test set next to the repo (GPL/AGPL files that must not be bundled); tests on
the latter skip when it is absent. Expected values were read off the files.
"""

from __future__ import annotations

import gzip
import io
import shutil
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.data import BAR_FORMATS, BarFrame, bars_from_frame, read_bars
from heron.data.bar_columns import text_decimals
from heron.errors import DataError, EngineError, InvalidConfiguration

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "data"
BTC_PERP = BUNDLED / "btc-perp-20211231-20220201_1m.csv.gz"
ADABTC = BUNDLED / "ADABTC-1m-2021-11-27.csv"
SHARED = ROOT.parent / "shared" / "data" / "bars"

HEADER = "timestamp,open,high,low,close,volume\n"


def ns(text: str) -> int:
    """ISO-8601 (naive = UTC) to ns since the epoch, independently of the code under test."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def first_last(bars: BarFrame) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return bars.frame.row(0), bars.frame.row(-1)


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path: Path, **kwargs: str) -> str:
    """Read a file that must be refused; return the message after checking its shape."""
    with pytest.raises(DataError) as caught:
        read_bars(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


# --- real files, every format ------------------------------------------------------------


def test_read_bars_bundled_btc_perp_gzip_csv_reads_every_bar() -> None:
    bars = read_bars(BTC_PERP)
    first, last = first_last(bars)
    assert len(bars) == 45031
    assert first == (ns("2021-12-31T23:01:00"), 46319.0, 46385.0, 46319.0, 46377.0, 2300413.7295)
    assert last == (ns("2022-02-01T05:31:00"), 38525.0, 38546.0, 38525.0, 38544.0, 685906.9735)
    assert bars.price_decimals == 3  # 43613.875 at 2022-01-13 03:03
    assert bars.source == str(BTC_PERP)
    assert bars.symbol is None


def test_read_bars_bundled_binance_kline_reads_ms_times_and_symbol_from_name() -> None:
    bars = read_bars(ADABTC)
    first, last = first_last(bars)
    assert len(bars) == 10
    assert first == (1637971200000 * 10**6, 0.00002853, 0.00002854, 0.00002851, 0.00002854, 36304.2)
    assert last == (1637971740000 * 10**6, 0.00002863, 0.00002865, 0.00002863, 0.00002865, 8160.5)
    assert bars.price_decimals == 8
    assert bars.symbol == "ADABTC"


def test_read_bars_binance_kline_under_other_name_has_no_symbol() -> None:
    bars = read_bars(shared("binance_spot_ADABTC_1m_2021-11-27.csv"))
    assert len(bars) == 10
    assert bars.symbol is None


SHARED_FILES = [
    # file, rows, first bar, last bar, price decimals; each file shows one layout
    (  # backtesting.py: unnamed first column holding dates
        "GOOG_1d_2004-2013.csv",
        2148,
        (ns("2004-08-19T00:00:00"), 100.0, 104.06, 95.96, 100.34, 22351900.0),
        (ns("2013-03-01T00:00:00"), 797.8, 807.14, 796.15, 806.19, 2175400.0),
        2,
    ),
    (  # backtesting.py: unnamed first column holding naive datetimes
        "EURUSD_1h_2017-2018.csv",
        5000,
        (ns("2017-04-19T09:00:00"), 1.0716, 1.0722, 1.07083, 1.07219, 1413.0),
        (ns("2018-02-07T15:00:00"), 1.23427, 1.23444, 1.22904, 1.22904, 6143.0),
        5,
    ),
    (  # gzip, time column called timestamp_utc
        "CME_6EH4_1m_2024-01.csv.gz",
        29996,
        (ns("2024-01-01T23:01:00"), 1.1076, 1.10785, 1.1076, 1.1078, 205.0),
        (ns("2024-01-31T23:59:00"), 1.08225, 1.0824, 1.08225, 1.0823, 36.0),
        5,
    ),
    (  # gzip, +00:00 offsets, no volume column (reads as 0.0); "1.57610" counts 5 places
        "fxcm_GBPUSD_1m_bid_2012-02.csv.gz",
        30117,
        (ns("2012-02-01T00:00:00"), 1.57597, 1.57606, 1.57576, 1.57576, 0.0),
        (ns("2012-03-01T00:00:00"), 1.59206, 1.59211, 1.59194, 1.59208, 0.0),
        5,
    ),
    (  # freqtrade JSON candles, ms times
        "freqtrade_UNITTEST_BTC_1m_2017-11.json",
        13681,
        (1509836520000 * 10**6, 0.00162008, 0.00162008, 0.00162008, 0.00162008, 108.14853839),
        (1510700340000 * 10**6, 0.00270001, 0.00270002, 0.00270001, 0.00270002, 1.94577668),
        8,
    ),
    (  # freqtrade feather, tz-aware dates; 0.09828605 needs 8 places, and float
        # noise such as 0.10441057000000001 must not count as more
        "freqtrade_ETH_BTC_5m_2018-01.feather",
        5760,
        (ns("2018-01-10T04:55:00Z"), 0.0984, 0.0994766, 0.09828605, 0.0994766, 1820.54447418),
        (ns("2018-01-30T04:50:00Z"), 0.10440995, 0.10441058, 0.10400025, 0.10441057, 31.94851561),
        8,
    ),
]


@pytest.mark.parametrize(("name", "rows", "first", "last", "decimals"), SHARED_FILES)
def test_read_bars_shared_file_reads_every_bar_exactly(
    name: str,
    rows: int,
    first: tuple[float, ...],
    last: tuple[float, ...],
    decimals: int,
) -> None:
    bars = read_bars(shared(name))
    assert len(bars) == rows
    assert bars.frame.row(0) == pytest.approx(first, rel=1e-15)
    assert bars.frame.row(-1) == pytest.approx(last, rel=1e-15)
    assert bars.frame.row(0)[0] == first[0]  # times exactly, not approximately
    assert bars.frame.row(-1)[0] == last[0]
    assert bars.price_decimals == decimals
    assert bars.symbol is None


@pytest.mark.parametrize(
    ("shared_name", "conventional_name", "symbol"),
    [
        ("freqtrade_ETH_BTC_5m_2018-01.feather", "ETH_BTC-5m.feather", "ETH/BTC"),
        (
            "freqtrade_XRP_USDT_perp_1h_futures_2021-11.feather",
            "XRP_USDT_USDT-1h-futures.feather",
            "XRP/USDT:USDT",
        ),
        ("freqtrade_UNITTEST_BTC_1m_2017-11.json", "UNITTEST_BTC-1m.json", "UNITTEST/BTC"),
    ],
)
def test_read_bars_freqtrade_file_name_gives_symbol(
    tmp_path: Path, shared_name: str, conventional_name: str, symbol: str
) -> None:
    path = tmp_path / conventional_name
    shutil.copyfile(shared(shared_name), path)
    assert read_bars(path).symbol == symbol


def test_read_bars_mark_price_candles_all_nan_volume_reads_zero_volume() -> None:
    bars = read_bars(shared("freqtrade_XRP_USDT_perp_1h_mark_2021-11.feather"))
    assert len(bars) == 100
    assert bars.frame["volume"].eq(0.0).all()
    assert bars.frame.row(0)[:2] == (ns("2021-11-15T06:00:00Z"), 1.20932)
    assert bars.price_decimals == 5


def test_read_bars_funding_rate_candles_refused_as_non_positive_prices() -> None:
    path = shared("freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather")
    assert "high price 0.0 is not positive at row 1" in refused(path)


@pytest.mark.parametrize("time_kind", ["datetime", "epoch_ms", "text", "date_index"])
def test_read_bars_parquet_time_column_variants_read_same_bars(
    tmp_path: Path, time_kind: str
) -> None:
    expected = read_bars(BTC_PERP).frame
    when = pl.from_epoch(expected["ts"], time_unit="ns")
    variants = {
        "datetime": expected.with_columns(when.dt.replace_time_zone("UTC").alias("ts")),
        "epoch_ms": expected.with_columns(when.dt.epoch("ms").alias("ts")),
        "text": expected.with_columns(when.dt.strftime("%Y-%m-%dT%H:%M:%S").alias("ts")),
        "date_index": expected.rename({"ts": "__index_level_0__", "open": "Open"}).with_columns(
            when.alias("__index_level_0__")
        ),
    }
    path = tmp_path / "bars.parquet"
    variants[time_kind].write_parquet(path)
    bars = read_bars(path)
    assert bars.frame.equals(expected)
    assert bars.price_decimals == 3  # from the floats: 43613.875


def test_read_bars_pandas_written_parquet_reads_datetime_index(tmp_path: Path) -> None:
    expected = read_bars(BTC_PERP).frame.head(100)
    frame = expected.to_pandas().rename(columns=str.capitalize)
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Ts"), unit="ns"), name="Date")
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    assert read_bars(path).frame.equals(expected)


# --- compression and detection ------------------------------------------------------------


def test_read_bars_gzip_detected_by_magic_bytes_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "klines.csv"
    path.write_bytes(gzip.compress(ADABTC.read_bytes()))
    assert read_bars(path).frame.equals(read_bars(ADABTC).frame)


def test_read_bars_plain_text_with_gz_extension_reads_as_text(tmp_path: Path) -> None:
    path = tmp_path / "klines.csv.gz"
    path.write_bytes(ADABTC.read_bytes())
    assert len(read_bars(path)) == 10


def test_read_bars_zip_with_one_member_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "ADABTC-1m-2021-11-27.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ADABTC-1m-2021-11-27.csv", ADABTC.read_bytes())
    bars = read_bars(path)
    assert bars.frame.equals(read_bars(ADABTC).frame)
    assert bars.symbol == "ADABTC"


def test_read_bars_gzipped_feather_is_detected(tmp_path: Path) -> None:
    expected = read_bars(BTC_PERP).frame.head(50)
    buffer = io.BytesIO()
    expected.write_ipc(buffer)
    path = tmp_path / "bars.bin"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    assert read_bars(path).frame.equals(expected)


def binance_lines(*, header: bool, scale: int) -> str:
    """The bundled ADABTC klines, optionally with the 2025 header and times scaled to us."""
    rows = []
    for line in ADABTC.read_text().splitlines():
        fields = line.split(",")
        fields[0] = str(int(fields[0]) * scale)
        fields[6] = str(int(fields[6]) * scale)
        rows.append(",".join(fields))
    names = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore"
    )
    return "\n".join(([names] if header else []) + rows) + "\n"


@pytest.mark.parametrize(("header", "scale"), [(True, 1), (True, 1000), (False, 1000)])
def test_read_bars_binance_header_and_microsecond_variants_read_same_times(
    tmp_path: Path, header: bool, scale: int
) -> None:
    path = write(tmp_path, binance_lines(header=header, scale=scale))
    bars = read_bars(path)
    assert bars.frame.equals(read_bars(ADABTC).frame)


def test_read_bars_forced_format_agrees_with_detection() -> None:
    assert read_bars(ADABTC, fmt="binance-kline").frame.equals(read_bars(ADABTC).frame)
    assert len(read_bars(BTC_PERP, fmt="csv")) == 45031


def test_read_bars_header_variants_any_case_short_names_and_extra_columns(
    tmp_path: Path,
) -> None:
    text = (
        "Symbol,Date,O,H,L,C,Vol,Trades\n"
        "EURUSD,2022-01-03T00:05:00Z,1.10,1.12,1.09,1.11,5,3\n"
        "EURUSD,2022-01-03T02:06:00+02:00,1.11,1.13,1.10,1.125,6,4\n"
    )
    bars = read_bars(write(tmp_path, text))
    assert bars.frame["ts"].to_list() == [ns("2022-01-03T00:05:00Z"), ns("2022-01-03T00:06:00Z")]
    assert bars.frame["volume"].to_list() == [5.0, 6.0]
    assert bars.symbol == "EURUSD"
    assert bars.price_decimals == 3


@pytest.mark.parametrize(
    ("times", "first_ns"),
    [
        (("1641168300", "1641168360"), ns("2022-01-03T00:05:00Z")),
        (("1641168300000", "1641168360000"), ns("2022-01-03T00:05:00Z")),
        (("1641168300000000", "1641168360000000"), ns("2022-01-03T00:05:00Z")),
        (("1641168300000000000", "1641168360000000000"), ns("2022-01-03T00:05:00Z")),
        (("2022-01-03", "2022-01-04"), ns("2022-01-03T00:00:00Z")),
        (
            ("2022-01-03 00:05:00.250", "2022-01-03 00:06:00"),
            ns("2022-01-03T00:05:00Z") + 250 * 10**6,
        ),
    ],
)
def test_read_bars_time_text_variants_convert_to_utc_ns(
    tmp_path: Path, times: tuple[str, str], first_ns: int
) -> None:
    text = HEADER + "".join(f"{t},1.0,1.0,1.0,1.0,1\n" for t in times)
    assert read_bars(write(tmp_path, text)).frame["ts"][0] == first_ns


def test_read_bars_padded_values_are_stripped(tmp_path: Path) -> None:
    text = HEADER + "2022-01-03T00:05:00Z, 1.50, 1.5 ,1.5,1.5,  7\n"
    bars = read_bars(write(tmp_path, text))
    assert bars.frame.row(0)[1:] == (1.5, 1.5, 1.5, 1.5, 7.0)
    assert bars.price_decimals == 2


# --- refusals: each names the file, the row and the problem ---------------------------------

BAD_CSV = [
    (HEADER, "no bars in the file"),
    ("time,open,high,close\n2022-01-03,1,1,1\n", "missing column(s) low (found 'time', 'open'"),
    ("Date,Time,Open,High,Low,Close\n2022-01-03,10:00,1,1,1,1\n", "several time columns"),
    ("ts,open,o,high,low,close\n1641168300,1,1,1,1,1\n", "several open columns"),
    (
        HEADER + "2022-01-03,1,1,1,1,1\nyesterday,1,1,1,1,1\n",
        "cannot parse time 'yesterday' at line 3",
    ),
    (HEADER + "01/02/2022,1,1,1,1,1\n", "cannot parse time '01/02/2022' at line 2"),
    (
        HEADER + "1641168300,1,1,1,1,1\n2022-01-03,1,1,1,1,1\n",
        "time '2022-01-03' at line 3 is not an integer",
    ),
    (HEADER + "12345,1,1,1,1,1\n", "integer time 12345 at line 2 is not an epoch time"),
    (HEADER + "1641168300000,1,1,1,1,1\n1641168360000000,1,1,1,1,1\n", "integer times mix units"),
    (
        HEADER + "2022-01-03T00:06:00Z,1,1,1,1,1\n2022-01-03T00:05:00Z,1,1,1,1,1\n",
        "times not sorted at line 3 (2022-01-03T00:05:00Z after 2022-01-03T00:06:00Z)",
    ),
    (
        HEADER + "2022-01-03T00:05:00Z,1,1,1,1,1\n2022-01-03T00:05:00Z,1,1,1,1,1\n",
        "duplicate time 2022-01-03T00:05:00Z at line 3 (same as line 2)",
    ),
    (HEADER + ",1,1,1,1,1\n", "missing time at line 2"),
    (
        HEADER + "2022-01-03,NaN,1,1,1,1\n",
        "open is missing or not a number at line 2 (2022-01-03T00:00:00Z)",
    ),
    (HEADER + "2022-01-03,1,1,,1,1\n", "low is missing or not a number at line 2"),
    (HEADER + "2022-01-03,1,1,1,abc,1\n", "cannot read close 'abc' at line 2 as a number"),
    (HEADER + "2022-01-03,1,1,0,1,1\n", "low price 0.0 is not positive at line 2"),
    (HEADER + "2022-01-03,-1,1,1,1,1\n", "open price -1.0 is not positive at line 2"),
    (
        HEADER + "2022-01-03,1.2,1.1,1.0,1.05,1\n",
        "inconsistent bar at line 2 (2022-01-03T00:00:00Z): "
        "high 1.1 is below max(open 1.2, close 1.05)",
    ),
    (
        HEADER + "2022-01-03,1.2,1.3,1.1,1.05,1\n",
        "inconsistent bar at line 2 (2022-01-03T00:00:00Z): "
        "low 1.1 is above min(open 1.2, close 1.05)",
    ),
    (HEADER + "2022-01-03,1,1,1,1,-5\n", "negative volume -5.0 at line 2"),
    (
        HEADER + "2022-01-03,1,1,1,1,1\n2022-01-04,1,1,1,1,\n",
        "volume is missing or not a number at line 3",
    ),
    (
        HEADER + "2022-01-03,1,1,1,1,1\n2022-01-04,1,1,1,1,1,9\n",
        "line 3 has 7 fields but the first line has 6",
    ),
    ("1641168300,1,1,1,1,1\n", "the first line is data, not column names"),
    (
        "symbol,ts,open,high,low,close\nA,1641168300,1,1,1,1\nB,1641168360,1,1,1,1\n",
        "several symbols (A, B)",
    ),
]


@pytest.mark.parametrize(("text", "problem"), BAD_CSV)
def test_read_bars_bad_csv_refused_with_problem_named(
    tmp_path: Path, text: str, problem: str
) -> None:
    assert problem in refused(write(tmp_path, text))


def test_read_bars_missing_columns_message_lists_accepted_names(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "when,price\n2022-01-03,1\n"))
    assert "found 'when', 'price'" in message
    assert "time=open_time|timestamp|timestamp_utc|datetime|date|time|ts" in message
    assert "open=open|o" in message


def test_read_bars_missing_file_refused(tmp_path: Path) -> None:
    assert "file not found" in refused(tmp_path / "nope.csv")


def test_read_bars_directory_refused(tmp_path: Path) -> None:
    assert "is a directory" in refused(tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_read_bars_empty_file_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert "the file is empty" in refused(path)


def test_read_bars_truncated_gzip_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(BTC_PERP.read_bytes()[:5000])
    assert "corrupt gzip data" in refused(path)


def test_read_bars_gzip_with_bad_checksum_refused(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(ADABTC.read_bytes()))
    data[-8] ^= 0xFF  # CRC32 of the content
    path = tmp_path / "crc.csv.gz"
    path.write_bytes(bytes(data))
    assert "corrupt gzip data" in refused(path)


def test_read_bars_zip_with_two_members_refused(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", ADABTC.read_bytes())
        archive.writestr("b.csv", ADABTC.read_bytes())
    assert "the zip holds 2 files" in refused(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[[1509836520000, 0.1, 0.1, 0.1]]", "not freqtrade candles"),
        (b"[[1509836520000, 0.1, 0.1, 0.1, 0.1, 1.0]", "malformed JSON"),
        (b"[]", "no bars in the file"),
        (
            b"[[1509836520000, 0.1, 0.1, 0.1, null, 1.0]]",
            "close is missing or not a number at candle 1",
        ),
        (b"PAR1 not really parquet", "cannot read as Parquet"),
        (b"ARROW1 not really arrow", "cannot read as Feather"),
        (b"\x00\x01\x02binary", "binary data, not CSV text"),
    ],
)
def test_read_bars_bad_binary_or_json_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bars.dat"
    path.write_bytes(content)
    assert problem in refused(path)


def test_read_bars_parquet_missing_column_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pl.DataFrame({"date": [1641168300], "open": [1.0], "close": [1.0]}).write_parquet(path)
    assert "missing column(s) high, low" in refused(path)


def test_read_bars_format_mismatch_refused() -> None:
    message = refused(BTC_PERP, fmt="parquet")
    assert "fmt='parquet' but the file looks like CSV with a header of named columns" in message
    message = refused(BTC_PERP, fmt="binance-kline")
    assert "fmt='binance-kline' but the file looks like CSV with a header" in message
    message = refused(ADABTC, fmt="feather")
    assert "fmt='feather' but the file looks like a Binance kline CSV" in message


def test_read_bars_unknown_format_is_a_configuration_error() -> None:
    with pytest.raises(InvalidConfiguration, match="unknown bar format 'xlsx'"):
        read_bars(BTC_PERP, fmt="xlsx")


def test_bar_formats_lists_every_supported_format() -> None:
    assert BAR_FORMATS == ("csv", "binance-kline", "freqtrade-json", "feather", "parquet")


# --- price decimals -------------------------------------------------------------------------


@given(mantissa=st.integers(1, 10**15), places=st.integers(0, 12))
def test_text_decimals_counts_written_places_including_trailing_zeros(
    mantissa: int, places: int
) -> None:
    text = format(Decimal(mantissa).scaleb(-places), "f")  # 1500 and 3 give "1.500"
    assert text_decimals(pl.Series([text, "1"])) == places


def test_text_decimals_scientific_notation_counts_implied_places() -> None:
    assert text_decimals(pl.Series(["2.853e-05", "1.5"])) == 8
    assert text_decimals(pl.Series(["1.25E+2"])) == 0


# --- in-memory frames ----------------------------------------------------------------------


def backtesting_style(frame: pl.DataFrame) -> pd.DataFrame:
    """A backtesting.py-style pandas frame: DatetimeIndex, capitalised OHLCV columns."""
    result = frame.to_pandas()
    result.index = pd.DatetimeIndex(pd.to_datetime(result.pop("ts"), unit="ns"))
    result.columns = ["Open", "High", "Low", "Close", "Volume"]
    return result


def test_bars_from_frame_pandas_datetime_index_matches_file() -> None:
    expected = read_bars(BTC_PERP)
    bars = bars_from_frame(backtesting_style(expected.frame))
    assert bars.frame.equals(expected.frame)
    assert bars.price_decimals == 3
    assert bars.source == "<frame>"


def test_bars_from_frame_pandas_date_column_and_tz_aware_times() -> None:
    frame = pd.DataFrame(
        {
            "Date": pd.to_datetime(["2024-03-10 01:00", "2024-03-10 03:00"]).tz_localize(
                "America/New_York"
            ),
            "Open": [1.5, 1.25],
            "High": [1.5, 1.25],
            "Low": [1.5, 1.25],
            "Close": [1.5, 1.25],
        }
    )
    bars = bars_from_frame(frame)
    # 01:00 EST and 03:00 EDT (the clocks jumped at 02:00) are 06:00 and 07:00 UTC
    assert bars.frame["ts"].to_list() == [ns("2024-03-10T06:00:00Z"), ns("2024-03-10T07:00:00Z")]
    assert bars.price_decimals == 2


def test_bars_from_frame_polars_epoch_ms_column() -> None:
    frame = pl.DataFrame(
        {"ts": [1641168300000, 1641168360000], "o": [2.0, 2.1], "h": [2.2, 2.2], "l": [1.9, 2.0]}
    ).with_columns(c=pl.Series([2.1, 2.15]), volume=pl.Series([1, 2]))
    bars = bars_from_frame(frame, source="live feed")
    assert bars.frame.row(1) == (ns("2022-01-03T00:06:00Z"), 2.1, 2.2, 2.0, 2.15, 2.0)
    assert bars.price_decimals == 2
    assert bars.source == "live feed"


def test_bars_from_frame_bad_bar_named_by_row_and_source() -> None:
    frame = backtesting_style(read_bars(BTC_PERP).frame.head(10))
    frame.iloc[5, 1] = 1.0  # High of the 6th bar
    with pytest.raises(DataError) as caught:
        bars_from_frame(frame, source="mine")
    assert str(caught.value).startswith(
        "mine: inconsistent bar at row 6 (2021-12-31T23:06:00Z): high 1.0 is below max("
    )


def test_bars_from_frame_empty_frame_refused() -> None:
    with pytest.raises(DataError, match="no bars in the frame"):
        bars_from_frame(pl.DataFrame({"ts": [], "open": [], "high": [], "low": [], "close": []}))


def test_bars_from_frame_not_a_frame_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not list"):
        bars_from_frame([1, 2, 3])  # type: ignore[arg-type]


def test_bar_frame_wrong_schema_is_an_engine_error() -> None:
    frame = pl.DataFrame(
        {"ts": [1], "open": [1], "high": [1], "low": [1], "close": [1], "volume": [1]}
    )
    with pytest.raises(EngineError, match="build it with read_bars or bars_from_frame"):
        BarFrame(frame, 0, "test")
