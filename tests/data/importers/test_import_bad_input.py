"""Damaged and ambiguous input: each refusal is one DataError line naming the file and the
fix. Files are small ones written here, most of them cut from the real samples.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from heron.data.importers import detect_format, read_batches
from heron.errors import DataError

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
TARDIS_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
DEPTH_HEADER = "symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu\n"


def _real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def _refused(path: Path, match: str, **kwargs: object) -> str:
    with pytest.raises(DataError, match=match) as caught:
        read_batches(path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_corrupt_gzip_is_refused(tmp_path: Path) -> None:
    packed = gzip.compress(_real("ticks/tardis_bitmex_XBTUSD_trades_2020-03-01.csv")
                           .read_bytes())
    path = tmp_path / "trades.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    _refused(path, "corrupt gzip data")
    with pytest.raises(DataError, match="corrupt gzip data"):
        detect_format(path)


def test_truncated_last_line_is_refused_as_truncation(tmp_path: Path) -> None:
    text = _real("ticks/tardis_bitmex_XBTUSD_trades_2020-03-01.csv").read_text()
    path = tmp_path / "trades.csv"
    path.write_text(text[: text.rindex(",sell,")])  # cut inside the last line
    _refused(path, r"the last line \(line 11\) has 5 fields but the line before it has 8; "
                   "the file looks truncated")


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"\n")
    _refused(path, "the file is empty")


def test_zip_with_two_members_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("a.csv", TARDIS_HEADER)
        zipped.writestr("b.csv", TARDIS_HEADER)
    path = tmp_path / "two.zip"
    path.write_bytes(buffer.getvalue())
    _refused(path, "the zip holds 2 files")


def test_schema_drift_in_a_binance_header_names_the_new_column(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv"
    path.write_text("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
                    "is_buyer_maker,venue_flag\n1,10.5,1,1,1,1735689600000,true,x\n")
    _refused(path, "unexpected column.*venue_flag")


def test_mixed_symbols_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "depth.csv"
    path.write_text(DEPTH_HEADER
                    + "BTCUSDT,1667346579146,1,1,b,snap,20377.00,1.770,-1\n"
                    + "ETHUSDT,1667346579146,1,1,b,snap,1580.10,1.000,-1\n")
    _refused(path, r"the file mixes 2 symbols \(BTCUSDT, ETHUSDT\); import one symbol per file")


def test_unknown_update_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "depth.csv"
    path.write_text(DEPTH_HEADER + "BTCUSDT,1667346579146,1,1,b,delta,20377.00,1.770,-1\n")
    _refused(path, "update_type delta")


@pytest.mark.parametrize(("stamp", "recv", "recv_ns"), [  # one moment in ms, us and ns
    ("1583020803145", "1583020803307", 1583020803307000000),
    ("1583020803145000", "1583020803307160", 1583020803307160000),
    ("1583020803145000000", "1583020803307160000", 1583020803307160000),
])
def test_epoch_units_are_told_apart_by_magnitude(tmp_path: Path, stamp: str, recv: str,
                                                 recv_ns: int) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(TARDIS_HEADER + f"bitmex,XBTUSD,{stamp},{recv},a,sell,8531.5,2152\n")
    [batch] = read_batches(path)
    assert batch.frame["ts_event"][0] == 1583020803145000000
    assert batch.frame["ts_recv"][0] == recv_ns


def test_a_column_mixing_ms_and_us_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-trades-2025-01-01.csv"
    path.write_text("1,10.5,1,10.5,1735689599999,true,true\n"
                    "2,10.5,1,10.5,1735689600000000,true,true\n")
    _refused(path, "integer times mix units")


def test_an_epoch_outside_1971_2200_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(TARDIS_HEADER + "bitmex,XBTUSD,12345,12345,a,sell,8531.5,2152\n")
    _refused(path, "not an epoch time in s, ms, us or ns")


def test_a_price_that_is_not_a_number_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(TARDIS_HEADER
                    + "bitmex,XBTUSD,1583020803145000,1583020803307160,a,sell,8531.5,2152\n"
                    + "bitmex,XBTUSD,1583020803146000,1583020803307160,b,sell,NaN,1\n")
    _refused(path, "price 'NaN' at line 3 is not a number")


def test_a_blank_field_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(TARDIS_HEADER
                    + "bitmex,XBTUSD,1583020803145000,1583020803307160,a,sell,,2152\n"
                    + "bitmex,XBTUSD,1583020803146000,1583020803307160,b,sell,8531.5,1\n")
    _refused(path, "no price at line 2")


def test_a_given_tick_that_values_are_not_on_is_refused(tmp_path: Path) -> None:
    path = _real("ticks/tardis_bitmex_XBTUSD_trades_2020-03-01.csv")
    _refused(path, r"price 8531\.5 at line 2 is not a multiple of 1", tick_size="1")


def test_exponent_notation_is_read_exactly(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(TARDIS_HEADER
                    + "bitmex,XBTUSD,1583020803145000,1583020803307160,a,sell,8531.5,1.5e-05\n")
    [batch] = read_batches(path)
    assert str(batch.instrument.size_increment) == "0.000001"
    assert batch.frame["size"][0] == 15


def test_truncated_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "XRP_ETH-trades.json"
    path.write_text('[{"timestamp": 1570752011620, "price": 0.00141342, "amount": 23.0, '
                    '"side": "sell", "id": "1"}, {"timestamp": 15707')
    _refused(path, "malformed JSON", venue="BINANCE")


def test_binary_noise_is_not_a_known_format(tmp_path: Path) -> None:
    path = tmp_path / "noise.bin"
    path.write_bytes(bytes(range(256)) * 4)
    _refused(path, "cannot tell the format from the content")
