"""Format detection from content, the fmt/mapping rules, and end-to-end imports into a
temporary catalog: counts, idempotent re-imports, grids reconciled with the stored
instrument, and nothing written when any batch of a file is refused.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.data.catalog import Catalog
from heron.data.importers import (
    IMPORT_FORMATS,
    ImportBatch,
    detect_format,
    import_path,
    read_batches,
)
from heron.data.schemas import SCHEMAS, DataKind, validate_frame
from heron.errors import DataError, InvalidConfiguration

HERE = Path(__file__).resolve()
SHARED = HERE.parents[4] / "shared" / "data"
BUNDLED = HERE.parents[3] / "data"
TARDIS_TRADES = "ticks/tardis_bitmex_XBTUSD_trades_2020-03-01.csv"
DEPTH_SNAP = "books/binance_usdm_BTCUSDT_depth_snapshot_2022-11-01.csv"
DEPTH_UPDATES = "books/binance_usdm_BTCUSDT_depth_updates_2022-11-01.csv"
SPOT_CAPTURE = "venues/binance_spot/ws_capture_BTCUSDT_2024-08-08.txt.gz"
CRYPTOFEED_CAPTURE = ("venues/binance_usdm/"
                      "cryptofeed_ws_SUSHI_AKRO_KEEP_CTK-USDT_2021-07-22.jsonl.gz")
HAS_CAPTURES = importlib.util.find_spec("heron.data.importers.captures") is not None


def _real(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


@pytest.mark.parametrize(("relative", "fmt"), [
    (DEPTH_SNAP, "binance-archive"),
    (TARDIS_TRADES, "tardis"),
    ("books/tardis_binance-futures_BTCUSDT_book_snapshot_5_2020-09-01.csv", "tardis"),
    ("books/tardis_deribit_BTC-PERPETUAL_incremental_L2_2020-04-01.csv", "tardis"),
    ("ticks/freqtrade_binance_XRP_ETH_trades_2019-10.json.gz", "freqtrade"),
    ("ticks/freqtrade_ETH_USDT_trades_2023-02-02.csv", "freqtrade"),
    ("bars/freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather", "freqtrade"),
    ("bars/freqtrade_UNITTEST_BTC_1m_2017-11.json", "freqtrade"),
    ("ticks/histdata_EURUSD_quotes_2020-01-01.csv", "csv"),
    ("bars/GOOG_1d_2004-2013.csv", "bars"),
    ("bars/fxcm_GBPUSD_1m_bid_2012-02.csv.gz", "bars"),
    ("venues/binance_usdm/ws_capture_BTCUSDT_2024-08-08.txt.gz", "capture-hftbacktest"),
    ("venues/bitmex/cryptofeed_ws_2021-07-22.jsonl.gz", "capture-cryptofeed"),
])
def test_detect_format_on_real_files(relative: str, fmt: str) -> None:
    assert detect_format(_real(relative)) == fmt


def test_detect_format_on_bundled_files() -> None:
    assert detect_format(BUNDLED / "ADABTC-1m-2021-11-27.csv") == "binance-archive"
    assert detect_format(BUNDLED / "btc-perp-20211231-20220201_1m.csv.gz") == "bars"


def test_detection_ignores_the_file_name(tmp_path: Path) -> None:
    disguised = tmp_path / "prices.json"
    shutil.copy(_real(TARDIS_TRADES), disguised)
    assert detect_format(disguised) == "tardis"


def test_unrecognised_content_lists_the_formats() -> None:
    with pytest.raises(DataError) as caught:
        detect_format(_real("ticks/kraken_BCHEUR_trades_2023-01-01.csv"))
    message = str(caught.value)
    assert "cannot tell the format" in message and "1672531436,90.540000" in message
    assert all(fmt in message for fmt in IMPORT_FORMATS)
    assert "\n" not in message


def test_unrecognised_parquet_names_its_columns() -> None:
    with pytest.raises(DataError, match="columns timestamp, trade_id, price, quantity"):
        detect_format(BUNDLED / "binance_spot_BTCUSDT_trades_2021-01-08.parquet")


def test_wrong_format_flag_says_what_the_file_looks_like() -> None:
    with pytest.raises(DataError) as caught:
        read_batches(_real(TARDIS_TRADES), fmt="binance-archive")
    message = str(caught.value)
    assert "fmt='binance-archive' but the file looks like a Tardis.dev CSV" in message
    assert "leave fmt out" in message and "\n" not in message


def test_bars_flag_reads_klines_and_freqtrade_candles() -> None:
    [klines] = read_batches(BUNDLED / "ADABTC-1m-2021-11-27.csv", fmt="bars",
                            venue="BINANCE")
    assert (klines.kind, klines.frame.height, klines.instrument.symbol) == (
        DataKind.BARS, 10, "ADABTC")
    candles = _real("bars/freqtrade_XRP_ETH_5m_2019-10.feather")
    [bars] = read_batches(candles, fmt="bars", venue="BINANCE", symbol="XRP/ETH")
    assert bars.frame.height == 706


def test_csv_flag_with_a_mapping_reads_any_csv() -> None:
    mapping = {"ts": "timestamp", "ts_recv": "local_timestamp", "price": "price",
               "size": "amount", "side": "side", "symbol": "symbol"}
    [batch] = read_batches(_real(TARDIS_TRADES), fmt="csv", mapping=mapping, venue="BITMEX")
    [tardis] = read_batches(_real(TARDIS_TRADES))
    assert batch.frame.drop("trade_id").equals(tardis.frame.drop("trade_id"))


def test_mapping_alone_selects_the_generic_reader() -> None:
    path = _real("ticks/kraken_BCHEUR_trades_2023-01-01.csv")
    [batch] = read_batches(path, mapping={"ts": 0, "price": 1, "size": 2}, venue="KRAKEN",
                           symbol="BCH/EUR")
    assert batch.frame.height == 148


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fmt": "ccxt"}, "unknown import format 'ccxt'"),
    ({"fmt": "tardis", "mapping": {"ts": 0}}, "only used with fmt='csv'"),
    ({"tick_size": "-0.1"}, "tick_size -0.1 must be positive"),
    ({"lot_size": 0.001}, "binary floats"),
    ({"venue": " "}, "venue is empty"),
])
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidConfiguration, match=match):
        read_batches(_real(TARDIS_TRADES), **kwargs)  # type: ignore[arg-type]


def test_csv_flag_without_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="needs a mapping"):
        read_batches(_real(TARDIS_TRADES), fmt="csv")


def _sorted(batch: ImportBatch) -> pl.DataFrame:
    return batch.frame.sort(SCHEMAS[batch.kind].order)


def test_import_path_writes_every_batch_and_reimport_adds_nothing(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    path = _real(TARDIS_TRADES)
    report = import_path(catalog, path)
    assert report.fmt == "tardis"
    [written] = report.batches
    assert (written.instrument_id, written.kind, written.rows, written.rows_added,
            written.rows_skipped) == ("XBTUSD.BITMEX", DataKind.TRADES, 10, 10, 0)
    [batch] = read_batches(path)
    assert catalog.read("BITMEX", "XBTUSD", "trades").equals(_sorted(batch))
    again = import_path(catalog, path)
    assert (again.rows_added, again.rows_skipped) == (0, 10)


def test_depth_updates_file_has_37_duplicate_lines_the_catalog_keeps_once(
        tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    report = import_path(catalog, _real(DEPTH_UPDATES))
    # 100 rows; 37 lines repeat an earlier line exactly; one of them is the message's
    # last row, which differs from its twin in is_last, so 36 rows are duplicates
    assert (report.batches[0].rows, report.rows_added, report.rows_skipped) == (100, 64, 36)
    assert import_path(catalog, _real(DEPTH_UPDATES)).rows_added == 0


def test_rows_on_another_grid_are_recounted_on_the_stored_one(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    path = _real(TARDIS_TRADES)
    first = import_path(catalog, path, tick_size="0.01")
    assert first.rows_added == 10
    assert catalog.instrument("BITMEX", "XBTUSD").price_increment == Decimal("0.01")
    again = import_path(catalog, path)  # infers 0.1 from the text; stored is 0.01
    assert (again.rows_added, again.rows_skipped) == (0, 10)
    assert catalog.read("BITMEX", "XBTUSD", "trades")["price"][0] == 853150


def test_a_given_tick_that_differs_from_the_stored_one_is_refused(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    import_path(catalog, _real(TARDIS_TRADES))
    with pytest.raises(DataError, match=r"tick_size 0\.5 but the catalog .* stores"):
        import_path(catalog, _real(TARDIS_TRADES), tick_size="0.5")


def test_prices_off_the_stored_grid_are_refused(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    import_path(catalog, _real(TARDIS_TRADES), tick_size="0.5")
    finer = tmp_path / "bitmex_trades.csv"
    finer.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
                     "bitmex,XBTUSD,1583020804145000,1583020804307160,x,buy,8531.7,5\n")
    with pytest.raises(DataError, match=r"price 8531\.7 is not a multiple of the price "
                                        r"increment 0\.5"):
        import_path(catalog, finer)


def test_a_refused_batch_leaves_the_file_unwritten(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    updates = _real(DEPTH_UPDATES)
    assert import_path(catalog, updates, tick_size="0.1").rows_added == 64
    combined = tmp_path / "BTCUSDT-depth.csv"
    bad_update = updates.read_text().splitlines()[1].replace("20472.80", "20472.85")
    combined.write_text(_real(DEPTH_SNAP).read_text() + bad_update + "\n")
    with pytest.raises(DataError, match=r"not a multiple of the price increment 0\.1"):
        import_path(catalog, combined)
    kinds = {entry.kind for entry in catalog.entries()}
    assert kinds == {DataKind.BOOK_DELTAS}  # the snapshot batch, itself fine, was not written


def test_funding_then_bars_of_one_perpetual_share_its_instrument(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog")
    perp = {"venue": "BINANCE_USDM", "symbol": "XRP/USDT:USDT"}
    funding = import_path(catalog, _real(
        "bars/freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather"), **perp)
    bars = import_path(catalog, _real(
        "bars/freqtrade_XRP_USDT_perp_1h_futures_2021-11.feather"), **perp)
    mark = import_path(catalog, _real(
        "bars/freqtrade_XRP_USDT_perp_1h_mark_2021-11.feather"), **perp)
    assert (funding.rows_added, bars.rows_added, mark.rows_added) == (91, 100, 100)
    stored = catalog.instrument("BINANCE_USDM", "XRP/USDT:USDT")
    assert stored.price_increment == Decimal("0.00000001")  # funding came first: fine grid
    assert catalog.read("BINANCE_USDM", "XRP/USDT:USDT", "bars")["open"][0] == 108010000


def _capture_head(tmp_path: Path) -> Path:
    """The first 300 messages of the real Binance spot capture, still hftbacktest framed."""
    lines = gzip.decompress(_real(SPOT_CAPTURE).read_bytes()).splitlines(keepends=True)
    path = tmp_path / "ws_capture_head.txt.gz"
    path.write_bytes(gzip.compress(b"".join(lines[:300])))
    return path


@pytest.mark.skipif(not HAS_CAPTURES, reason="heron.data.importers.captures not built yet")
@pytest.mark.parametrize("which", ["hftbacktest", "cryptofeed"])
def test_captures_import_through_the_registry(which: str, tmp_path: Path) -> None:
    if which == "hftbacktest":
        path, venue = _capture_head(tmp_path), "BINANCE"
    else:
        path, venue = _real(CRYPTOFEED_CAPTURE), None
    assert detect_format(path) == f"capture-{which}"
    batches = read_batches(path, venue=venue)
    assert batches
    for batch in batches:
        validate_frame(batch.kind, batch.frame, source=batch.source)
    catalog = Catalog(tmp_path / "catalog")
    first = import_path(catalog, path, venue=venue)
    assert first.fmt == f"capture-{which}"
    assert first.rows_added > 0
    assert import_path(catalog, path, venue=venue).rows_added == 0


@pytest.mark.skipif(not HAS_CAPTURES, reason="heron.data.importers.captures not built yet")
def test_captures_refuse_a_symbol_or_grid() -> None:
    path = _real(SPOT_CAPTURE)
    with pytest.raises(InvalidConfiguration, match="names its own symbols"):
        read_batches(path, symbol="BTC")
