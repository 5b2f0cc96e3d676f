"""The market-data catalog: exact round trips, idempotent and all-or-nothing writes,
time-range reads that touch only the days they need, listing, gaps and SQL.

Data is Binance spot BTCUSDT of 2021-01-08 (2,001 trades, 451 quotes over 46 seconds),
converted to ticks of 0.01 and lots of 0.000001. Tests that need several days move
later thirds of the trades one and two days on.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from heron.data.catalog import TICK_GAP_NS, Catalog, Gap, default_catalog_root
from heron.data.schemas import SCHEMAS, DataKind, to_grid
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument

BTC = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.01",
                 size_increment="0.000001")
SECOND = 10**9
DAY = 86_400 * SECOND


@pytest.fixture(scope="module")
def trades(btc_trades: pl.DataFrame) -> pl.DataFrame:
    return btc_trades


@pytest.fixture(scope="module")
def quotes(btc_quotes: pl.DataFrame) -> pl.DataFrame:
    return btc_quotes


def _spread_days(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows in thirds over three consecutive days (the later thirds moved on)."""
    third = frame.height // 3
    shift = (pl.int_range(pl.len()) // third).clip(0, 2) * DAY
    return frame.with_columns(pl.col("ts_event") + shift, pl.col("ts_recv") + shift)


def _bars(trades: pl.DataFrame) -> pl.DataFrame:
    """One-second bars built from the trades (every second of the sample has trades)."""
    return (trades.group_by((pl.col("ts_event") // SECOND * SECOND).alias("ts_event"))
            .agg(pl.col("price").first().alias("open"), pl.col("price").max().alias("high"),
                 pl.col("price").min().alias("low"), pl.col("price").last().alias("close"),
                 pl.col("size").sum().alias("volume"))
            .sort("ts_event")
            .with_columns((pl.col("ts_event") + SECOND).alias("ts_recv"),
                          pl.lit(SECOND, dtype=pl.Int64).alias("interval_ns")))


def _book_deltas(quotes: pl.DataFrame) -> pl.DataFrame:
    """Each quote as a two-delta message (bid then ask, the ask ends it)."""
    common = ["ts_event", "ts_recv", "sequence"]
    bids = quotes.select(*common, pl.lit(1, pl.Int8).alias("side"), pl.col("bid").alias(
        "price"), pl.col("bid_size").alias("size"), pl.lit(False).alias("is_last"))
    asks = quotes.select(*common, pl.lit(-1, pl.Int8).alias("side"), pl.col("ask").alias(
        "price"), pl.col("ask_size").alias("size"), pl.lit(True).alias("is_last"))
    return pl.concat([bids, asks])


def _book_snapshots(quotes: pl.DataFrame) -> pl.DataFrame:
    """Each quote as a one-level snapshot (level 0 on both sides)."""
    common = ["ts_event", "ts_recv", "sequence"]
    level = pl.lit(0, pl.Int32).alias("level")
    bids = quotes.select(*common, pl.lit(1, pl.Int8).alias("side"), level,
                         pl.col("bid").alias("price"), pl.col("bid_size").alias("size"))
    asks = quotes.select(*common, pl.lit(-1, pl.Int8).alias("side"), level,
                         pl.col("ask").alias("price"), pl.col("ask_size").alias("size"))
    return pl.concat([bids, asks])


def _funding() -> pl.DataFrame:
    ts = [1_610_064_000 * SECOND + k * 8 * 3_600 * SECOND for k in range(3)]
    rates = [Decimal("0.0001"), Decimal("-0.000030662783727812"), Decimal("0.00037500")]
    return pl.DataFrame({"ts_event": ts, "ts_recv": ts,
                         "rate": pl.Series(rates, dtype=pl.Decimal(38, 18))})


def _frame_of(kind: DataKind, trades: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """A frame of every kind, derived from the real trades and quotes."""
    every_50th = trades.gather_every(50)
    frames = {
        DataKind.TRADES: _spread_days(trades),
        DataKind.QUOTES: quotes,
        DataKind.BOOK_DELTAS: _book_deltas(quotes),
        DataKind.BOOK_SNAPSHOTS: _book_snapshots(quotes),
        DataKind.BARS: _bars(trades),
        DataKind.FUNDING: _funding(),
        DataKind.MARK: every_50th.select("ts_event", "ts_recv", "price"),
        DataKind.LIQUIDATIONS: every_50th.select(
            "ts_event", "ts_recv", pl.col("aggressor").alias("side"), "price", "size",
            "sequence"),
    }
    return frames[kind]


def _hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with a hash of its bytes."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _day_file(catalog: Catalog, kind: str, day: str) -> Path:
    (path,) = (catalog.root / "BINANCE" / "BTCUSDT" / kind / f"date={day}").glob("part-*")
    return path


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(DataKind))
def test_write_read_every_kind_round_trips_exactly(
        tmp_path: Path, kind: DataKind, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    frame = _frame_of(kind, trades, quotes).select(SCHEMAS[kind].schema.names())
    catalog = Catalog(tmp_path)
    report = catalog.write(BTC, kind, frame)
    back = catalog.read("BINANCE", "BTCUSDT", kind)
    assert report.rows_added == frame.height and report.rows_skipped == 0
    assert back.schema == SCHEMAS[kind].schema
    assert_frame_equal(back, frame.sort(SCHEMAS[kind].order))


def test_write_accepts_columns_in_any_order_and_narrower_integers(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    frame = trades.with_columns(pl.col("size").cast(pl.Int32)).select(reversed(trades.columns))
    Catalog(tmp_path).write(BTC, "trades", frame)
    assert_frame_equal(Catalog(tmp_path).read("BINANCE", "BTCUSDT", "trades"), trades)


def test_book_deltas_last_delta_of_a_message_reads_back_last(tmp_path: Path) -> None:
    rows = {"ts_event": [5, 5, 5], "ts_recv": [6, 6, 6], "side": [-1, 1, 1],
            "price": [101, 99, 98], "size": [3, 0, 7], "sequence": [42, 42, 42],
            "is_last": [True, False, False]}
    frame = pl.DataFrame(rows, schema=SCHEMAS[DataKind.BOOK_DELTAS].schema)
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "book_deltas", frame)
    assert catalog.read("BINANCE", "BTCUSDT", "book_deltas")["is_last"].to_list() == [
        False, False, True]


def test_symbol_with_slash_and_colon_is_stored_in_a_safe_directory(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    perp = Instrument(symbol="BTC/USDT:USDT", venue="BINANCE_USDM", price_increment="0.01",
                      size_increment="0.000001")
    catalog = Catalog(tmp_path)
    report = catalog.write(perp, "trades", trades)
    assert report.files[0].relative_to(tmp_path).parts[:3] == (
        "BINANCE_USDM", "BTC%2FUSDT%3AUSDT", "trades")
    assert catalog.read("BINANCE_USDM", "BTC/USDT:USDT", "trades").height == trades.height
    assert [(e.venue, e.symbol) for e in catalog.entries()] == [("BINANCE_USDM",
                                                                 "BTC/USDT:USDT")]


# -- idempotence ---------------------------------------------------------------------------
def test_rewriting_the_same_rows_adds_nothing_and_keeps_every_byte(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    first = catalog.write(BTC, "trades", _spread_days(trades))
    before = _hashes(tmp_path)
    again = catalog.write(BTC, "trades", _spread_days(trades).sample(fraction=1.0, seed=7))
    assert (again.rows_added, again.rows_skipped) == (0, trades.height)
    assert again.files == first.files
    assert _hashes(tmp_path) == before


def test_overlapping_append_adds_only_the_new_rows(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades.slice(0, 1200))
    report = catalog.write(BTC, "trades", trades.slice(800))
    assert (report.rows_added, report.rows_skipped) == (801, 400)
    assert_frame_equal(catalog.read("BINANCE", "BTCUSDT", "trades"), trades)


def test_same_rows_in_any_import_order_give_the_same_file(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    one, two = Catalog(tmp_path / "a"), Catalog(tmp_path / "b")
    one.write(BTC, "trades", trades.slice(0, 1200))
    one.write(BTC, "trades", trades.slice(800))
    two.write(BTC, "trades", trades.slice(800))
    two.write(BTC, "trades", trades.slice(0, 1200))
    assert _hashes(one.root) == _hashes(two.root)


def test_partition_left_with_two_files_by_a_crash_reads_once_and_is_folded(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    (older,) = catalog.write(BTC, "trades", trades.slice(0, 1000)).files
    saved = older.read_bytes()
    catalog.write(BTC, "trades", trades)
    older.write_bytes(saved)  # as if killed between renaming the new file and the unlink
    assert len(list(older.parent.glob("part-*"))) == 2
    assert_frame_equal(catalog.read("BINANCE", "BTCUSDT", "trades"), trades)
    assert catalog.entries()[0].rows == trades.height
    report = catalog.write(BTC, "trades", trades.slice(0, 10))
    assert report.rows_added == 0
    assert list(older.parent.glob("part-*")) == [report.files[0]]


def test_staged_file_left_by_a_killed_import_is_ignored_then_removed(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    (part,) = catalog.write(BTC, "trades", trades.slice(0, 1000)).files
    leftover = part.with_name(".part-0123.parquet.staged")
    leftover.write_bytes(part.read_bytes())
    assert catalog.read("BINANCE", "BTCUSDT", "trades").height == 1000
    catalog.write(BTC, "trades", trades)
    assert not leftover.exists()


# -- partitions and ranges -----------------------------------------------------------------
def test_rows_over_several_days_land_in_one_partition_per_day_and_read_back_sorted(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    report = catalog.write(BTC, "trades", spread.reverse())
    days = [path.parent.name for path in report.files]
    assert days == ["date=2021-01-08", "date=2021-01-09", "date=2021-01-10"]
    back = catalog.read("BINANCE", "BTCUSDT", "trades")
    assert back["ts_event"].is_sorted()
    assert_frame_equal(back, spread)


def test_range_query_reads_only_its_days(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    catalog.write(BTC, "trades", spread)
    _day_file(catalog, "trades", "2021-01-08").write_bytes(b"not parquet")
    start = int(spread["ts_event"][700]) + 5 * SECOND
    end = int(spread["ts_event"][1400])  # first trade of the third day: excluded
    expected = spread.filter((pl.col("ts_event") >= start) & (pl.col("ts_event") < end))
    assert 0 < expected.height < 700
    assert_frame_equal(catalog.read("BINANCE", "BTCUSDT", "trades", start, end), expected)
    batches = list(catalog.iter_batches("BINANCE", "BTCUSDT", "trades", start, end,
                                        batch_rows=100))
    assert_frame_equal(pl.concat(batches), expected)
    with pytest.raises(pl.exceptions.PolarsError):  # the damaged day is really unreadable
        catalog.read("BINANCE", "BTCUSDT", "trades")


def test_read_of_an_empty_range_or_missing_kind_is_empty_with_the_schema(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    assert catalog.read("BINANCE", "BTCUSDT", "trades", 0, DAY).height == 0
    assert catalog.read("BINANCE", "BTCUSDT", "trades", 5, 5).height == 0
    assert catalog.read("BINANCE", "BTCUSDT", "quotes").schema == SCHEMAS[DataKind.QUOTES].schema


def test_read_of_an_unknown_instrument_names_it(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    with pytest.raises(DataError, match=r"no ETHUSDT on BINANCE .*entries\(\)"):
        catalog.read("BINANCE", "ETHUSDT", "trades")
    with pytest.raises(InvalidConfiguration, match="unknown market-data kind 'ticks'"):
        catalog.read("BINANCE", "BTCUSDT", "ticks")


def test_iter_batches_yields_every_row_in_order_in_bounded_batches(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    catalog.write(BTC, "trades", spread)
    batches = list(catalog.iter_batches("BINANCE", "BTCUSDT", "trades", batch_rows=300))
    assert [b.height for b in batches] == [300] * 6 + [201]  # batches cross the days
    assert_frame_equal(pl.concat(batches), spread)
    with pytest.raises(InvalidConfiguration, match="batch_rows 0"):
        next(catalog.iter_batches("BINANCE", "BTCUSDT", "trades", batch_rows=0))


def test_iter_batches_over_many_row_groups_matches_read(tmp_path: Path) -> None:
    n = 300_000  # more than two row groups in one day's file
    ts = pl.int_range(n, eager=True, dtype=pl.Int64) * 100_000 + 1_610_064_000 * SECOND
    frame = pl.DataFrame({"ts_event": ts, "ts_recv": ts,
                          "price": pl.int_range(n, eager=True, dtype=pl.Int64) % 97 + 1000})
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "mark", frame)
    start, end = int(ts[150_000]), int(ts[280_001])
    batches = list(catalog.iter_batches("BINANCE", "BTCUSDT", "mark", start, end,
                                        batch_rows=50_000))
    assert max(b.height for b in batches) == 50_000
    assert_frame_equal(pl.concat(batches), catalog.read("BINANCE", "BTCUSDT", "mark", start,
                                                        end))
    assert sum(b.height for b in batches) == 130_001


# -- all or nothing ------------------------------------------------------------------------
def test_invalid_rows_on_a_later_day_write_nothing(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    before = _hashes(tmp_path)
    bad = _spread_days(trades).with_columns(
        pl.when(pl.col("ts_event") >= trades["ts_event"][0] + DAY).then(pl.lit(2, pl.Int8))
        .otherwise(pl.col("aggressor")).alias("aggressor"),
        pl.col("sequence") + 10_000)
    with pytest.raises(DataError, match=r"column aggressor must be .* row 667 has 2"):
        catalog.write(BTC, "trades", bad)
    assert _hashes(tmp_path) == before


def test_failure_while_merging_a_later_day_leaves_every_partition_as_it_was(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    catalog.write(BTC, "trades", spread)
    _day_file(catalog, "trades", "2021-01-10").write_bytes(b"damaged on disk")
    before = _hashes(tmp_path)
    newer = spread.with_columns(pl.col("ts_event") + 1, pl.col("sequence") + 10_000)
    with pytest.raises(DataError, match=r"date=2021-01-10/part-.*cannot read this partition"):
        catalog.write(BTC, "trades", newer)  # days 1 and 2 were staged before day 3 failed
    assert _hashes(tmp_path) == before


def test_failed_first_import_leaves_no_directory_behind(tmp_path: Path,
                                                        trades: pl.DataFrame) -> None:
    root = tmp_path / "catalog"
    with pytest.raises(DataError):
        Catalog(root).write(BTC, "trades", trades.with_columns(pl.lit(0).alias("size")))
    assert not root.exists()


# -- schema errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("ts_recv", "sequence"), "missing column(s) ts_recv, sequence"),
        (lambda f: f.with_columns(pl.lit("x").alias("venue")), "unexpected column(s) venue"),
        (lambda f: f.with_columns(pl.col("price") / 100),
         "column price is Float64, expected Int64 (convert prices/sizes with to_grid)"),
        (lambda f: f.with_columns(pl.lit(None, pl.String).alias("trade_id")),
         "null values in column(s) trade_id"),
        (lambda f: f.with_columns(pl.lit(300).alias("aggressor")), "does not fit its type"),
        (lambda f: f.with_columns(pl.lit(-5, pl.Int64).alias("size")),
         "column size must be >= 1; row 0 has -5"),
    ],
    ids=["missing", "extra", "float-price", "null", "overflow", "rule"],
)
def test_schema_errors_name_the_column(
        tmp_path: Path, trades: pl.DataFrame, change: Callable[[pl.DataFrame], pl.DataFrame],
        message: str) -> None:
    with pytest.raises(DataError, match=r"^trades for BTCUSDT\.BINANCE: ") as error:
        Catalog(tmp_path).write(BTC, "trades", change(trades))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


# -- instrument definitions ----------------------------------------------------------------
def test_instrument_definition_is_stored_beside_the_data(tmp_path: Path,
                                                         trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    assert (tmp_path / "BINANCE" / "BTCUSDT" / "instrument.json").is_file()
    assert catalog.instrument("BINANCE", "BTCUSDT") == BTC
    with pytest.raises(DataError, match="no ETHUSDT on BINANCE"):
        catalog.instrument("BINANCE", "ETHUSDT")


def test_definition_with_another_tick_is_refused_naming_the_difference(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    before = _hashes(tmp_path)
    coarser = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.1",
                         size_increment="0.000001")
    with pytest.raises(DataError, match=r"price_increment 0.01 \(stored\) vs 0.1 \(given\)"):
        catalog.write(coarser, "trades", trades.head(1))
    assert _hashes(tmp_path) == before


def test_definition_with_new_fees_replaces_the_stored_one(tmp_path: Path,
                                                          trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    same_grid = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.010",
                           size_increment="0.000001", taker_fee="0.001")
    assert catalog.write(same_grid, "trades", trades).rows_added == 0
    assert catalog.instrument("BINANCE", "BTCUSDT").taker_fee == Decimal("0.001")


# -- listing, gaps, SQL --------------------------------------------------------------------
def test_entries_count_rows_and_span_per_series(tmp_path: Path, trades: pl.DataFrame,
                                                quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    catalog.write(BTC, "trades", spread)
    catalog.write(BTC, "quotes", quotes)
    summary = [(e.kind, e.rows, e.first_ts, e.last_ts, e.partitions, e.view)
               for e in catalog.entries()]
    assert summary == [
        (DataKind.TRADES, 2001, spread["ts_event"].min(), spread["ts_event"].max(), 3,
         "binance__btcusdt__trades"),
        (DataKind.QUOTES, 451, quotes["ts_event"].min(), quotes["ts_event"].max(), 1,
         "binance__btcusdt__quotes"),
    ]
    assert Catalog(tmp_path / "empty").entries() == []


def test_gaps_finds_a_hole_cut_in_the_trades(tmp_path: Path, trades: pl.DataFrame) -> None:
    t0 = int(trades["ts_event"][0])
    cut = trades.filter(~pl.col("ts_event").is_between(t0 + 10 * SECOND, t0 + 20 * SECOND,
                                                        closed="left"))
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", cut)
    before = int(cut.filter(pl.col("ts_event") < t0 + 10 * SECOND)["ts_event"].max())
    after = int(cut.filter(pl.col("ts_event") >= t0 + 20 * SECOND)["ts_event"].min())
    assert catalog.gaps("BINANCE", "BTCUSDT", "trades", SECOND) == [Gap(before, after)]
    assert catalog.gaps("BINANCE", "BTCUSDT", "trades") == []  # under TICK_GAP_NS


def test_gaps_across_days_use_the_default_tick_threshold(tmp_path: Path,
                                                         trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    spread = _spread_days(trades)
    catalog.write(BTC, "trades", spread)
    gaps = catalog.gaps("BINANCE", "BTCUSDT", "trades")
    ts = spread["ts_event"]
    assert gaps == [Gap(int(ts[666]), int(ts[667])), Gap(int(ts[1333]), int(ts[1334]))]
    assert all(gap.duration_ns > TICK_GAP_NS for gap in gaps)


def test_gaps_in_bars_are_missing_bars_of_the_series_length(tmp_path: Path,
                                                             trades: pl.DataFrame) -> None:
    bars = _bars(trades)
    opens = bars["ts_event"]
    holed = bars.filter(~pl.col("ts_event").is_in(opens.slice(20, 3).implode()))
    minute = holed.head(1).with_columns(pl.lit(60 * SECOND).alias("interval_ns"))
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "bars", holed)
    assert catalog.gaps("BINANCE", "BTCUSDT", "bars") == [Gap(int(opens[19]), int(opens[23]))]
    catalog.write(BTC, "bars", minute)
    with pytest.raises(InvalidConfiguration, match="several lengths"):
        catalog.gaps("BINANCE", "BTCUSDT", "bars")
    assert catalog.gaps("BINANCE", "BTCUSDT", "bars", SECOND) == [
        Gap(int(opens[19]), int(opens[23]))]


def test_sql_queries_a_series_view_and_the_catalog_view(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", _spread_days(trades))
    catalog.write(BTC, "quotes", quotes)
    answer = catalog.sql("SELECT count(*) AS n, min(price) AS low, sum(size) AS lots "
                         "FROM binance__btcusdt__trades WHERE aggressor = -1")
    sells = trades.filter(pl.col("aggressor") == -1)
    assert answer.row(0) == (sells.height, sells["price"].min(), sells["size"].sum())
    listing = catalog.sql("SELECT view, rows FROM catalog ORDER BY view")
    assert listing.rows() == [("binance__btcusdt__quotes", 451),
                              ("binance__btcusdt__trades", 2001)]


def test_sql_error_is_a_one_line_data_error(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    with pytest.raises(DataError, match=r"SQL query failed: .*SELECT \* FROM catalog"):
        catalog.sql("SELECT * FROM binance__ethusdt__trades")


def test_funding_rates_keep_every_decimal_through_sql(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "funding", _funding())
    total = catalog.sql("SELECT sum(rate) AS total FROM binance__btcusdt__funding")["total"]
    assert total.to_list() == [Decimal("0.000444337216272188")]


# -- to_grid -------------------------------------------------------------------------------
def test_to_grid_accepts_float_noise_and_refuses_finer_values() -> None:
    sizes = pl.Series("size", [0.00031099999999999997, 1.0, 0.000001])
    assert to_grid(sizes, "0.000001").to_list() == [311, 1_000_000, 1]
    with pytest.raises(DataError, match=r"size: 1.5e-06 at row 0 is not a finite number "
                                        "with at most 6 decimal places"):
        to_grid(pl.Series("size", [0.0000015]), "0.000001", what="size")
    with pytest.raises(DataError, match="not a finite number"):
        to_grid(pl.Series([float("nan")]), "0.01")


def test_to_grid_handles_increments_that_are_not_powers_of_ten() -> None:
    assert to_grid(pl.Series([1.10, 0.05]), "0.05").to_list() == [22, 1]
    exact = pl.Series([Decimal("1.15"), Decimal("2")], dtype=pl.Decimal(38, 4))
    assert to_grid(exact, Decimal("0.05")).to_list() == [23, 40]
    with pytest.raises(DataError, match=r"1.12 at row 0 is not a multiple of 0.05"):
        to_grid(pl.Series([1.12]), "0.05", what="price")


# -- default root --------------------------------------------------------------------------
def test_default_root_is_heron_catalog_env_when_set(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("HERON_CATALOG", str(tmp_path / "mine"))
    assert default_catalog_root() == tmp_path / "mine"
    assert Catalog().root == tmp_path / "mine"


@pytest.mark.skipif(sys.platform in ("darwin", "win32"),
                    reason="XDG_DATA_HOME applies on Linux and other Unixes")
def test_default_root_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.delenv("HERON_CATALOG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_catalog_root() == tmp_path / "xdg" / "heron" / "catalog"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert default_catalog_root() == tmp_path / "home" / ".local" / "share" / "heron" / "catalog"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_catalog_root() == tmp_path / "home" / ".local" / "share" / "heron" / "catalog"


def test_write_many_is_all_or_nothing_across_series(tmp_path: Path, trades: pl.DataFrame,
                                                    quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, DataKind.TRADES, trades.head(100))
    before = _hashes(tmp_path)
    bad_quotes = quotes.with_columns(pl.lit(-5, dtype=pl.Int64).alias("bid_size"))
    with pytest.raises(DataError, match="bid_size"):
        catalog.write_many([(BTC, DataKind.TRADES, trades),
                            (BTC, DataKind.QUOTES, bad_quotes)])
    assert _hashes(tmp_path) == before  # the valid trades were not written either
    reports = catalog.write_many([(BTC, DataKind.TRADES, trades),
                                  (BTC, DataKind.QUOTES, quotes)])
    assert [r.rows_added for r in reports] == [trades.height - 100, quotes.height]


def test_write_many_refuses_the_same_series_twice(tmp_path: Path, trades: pl.DataFrame) -> None:
    with pytest.raises(InvalidConfiguration, match="twice"):
        Catalog(tmp_path).write_many([(BTC, DataKind.TRADES, trades.head(5)),
                                      (BTC, DataKind.TRADES, trades.tail(5))])
