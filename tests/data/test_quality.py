"""The data-quality report: silent on real data, and finding exactly what was planted.

Data is Binance spot BTCUSDT of 2021-01-08 (2,001 trades, 451 quotes over 46 seconds)
on ticks of 0.01 and lots of 0.000001; book deltas and snapshots are derived from the
quotes as a top-of-book L2 stream. Damage that ``Catalog.write`` refuses (identical
rows, rows out of order, a bar with high < low) is planted by overwriting a partition
file, as another tool writing into the catalog could.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import polars as pl
import pytest

from heron.analytics.bar_builders import time_bars
from heron.data.catalog import Catalog
from heron.data.quality import QualityReport, check_catalog
from heron.data.schemas import DataKind
from heron.errors import InvalidConfiguration
from heron.model.instrument import Instrument

BTC = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.01",
                 size_increment="0.000001")
SECOND = 10**9
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND


@pytest.fixture(scope="module")
def trades(btc_trades: pl.DataFrame) -> pl.DataFrame:
    return btc_trades


@pytest.fixture(scope="module")
def quotes(btc_quotes: pl.DataFrame) -> pl.DataFrame:
    return btc_quotes


def _top_of_book_deltas(quotes: pl.DataFrame) -> pl.DataFrame:
    """Each quote as one L2 message: delete the old best levels that moved, set the new.

    The ask delta ends the message (``is_last``), so after every message the book
    holds exactly that quote's bid and ask.
    """
    keep = ["ts_event", "ts_recv", "sequence"]
    moved = quotes.with_columns(pl.col("bid").shift(1).alias("old_bid"),
                                pl.col("ask").shift(1).alias("old_ask"))

    def deltas(side: int, price: str, size: pl.Expr, last: bool,
               rows: pl.DataFrame) -> pl.DataFrame:
        return rows.select(*keep, pl.lit(side, pl.Int8).alias("side"),
                           pl.col(price).alias("price"), size.cast(pl.Int64).alias("size"),
                           pl.lit(last).alias("is_last"))

    bid_gone = moved.filter(pl.col("old_bid") != pl.col("bid"))
    ask_gone = moved.filter(pl.col("old_ask") != pl.col("ask"))
    return pl.concat([
        deltas(1, "old_bid", pl.lit(0), False, bid_gone),
        deltas(1, "bid", pl.col("bid_size"), False, moved),
        deltas(-1, "old_ask", pl.lit(0), False, ask_gone),
        deltas(-1, "ask", pl.col("ask_size"), True, moved),
    ])


def _one_level_snapshots(quotes: pl.DataFrame) -> pl.DataFrame:
    keep = ["ts_event", "ts_recv", "sequence"]
    level = pl.lit(0, pl.Int32).alias("level")
    return pl.concat([
        quotes.select(*keep, pl.lit(1, pl.Int8).alias("side"), level,
                      pl.col("bid").alias("price"), pl.col("bid_size").alias("size")),
        quotes.select(*keep, pl.lit(-1, pl.Int8).alias("side"), level,
                      pl.col("ask").alias("price"), pl.col("ask_size").alias("size")),
    ])


def _set(frame: pl.DataFrame, row: int, **values: int) -> pl.DataFrame:
    """``frame`` with the given columns of one row replaced."""
    index = pl.int_range(pl.len())
    return frame.with_columns(pl.when(index == row).then(pl.lit(v, dtype=frame.schema[name]))
                              .otherwise(pl.col(name)).alias(name)
                              for name, v in values.items())


def _overwrite_partition(path: Path, frame: pl.DataFrame) -> None:
    """Replace a partition's file with ``frame`` as given (order and duplicates kept)."""
    frame.write_parquet(path, statistics=True)


def _only(report: QualityReport, check: str) -> tuple[str, int, tuple[int, ...]]:
    found = [(day.date, f.count, f.examples) for _, day, f in report.findings()
             if f.check == check]
    assert len(found) == 1, found
    return found[0]


# -- clean data ----------------------------------------------------------------------------
def test_check_catalog_real_data_every_kind_finds_nothing(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    catalog.write(BTC, "quotes", quotes)
    catalog.write(BTC, "book_deltas", _top_of_book_deltas(quotes))
    catalog.write(BTC, "book_snapshots", _one_level_snapshots(quotes))
    report = check_catalog(catalog)
    assert list(report.findings()) == []
    summary = report.summary
    assert (summary.series, summary.days, summary.errors, summary.warnings) == (4, 4, 0, 0)
    assert summary.ok and summary.checks == {}
    by_kind = {s.kind: s for s in report.series}
    assert by_kind[DataKind.TRADES].rows == 2001
    day = by_kind[DataKind.TRADES].days[0]
    assert (day.date, day.rows) == ("2021-01-08", 2001)
    assert (day.first_ts, day.last_ts) == (trades["ts_event"].min(), trades["ts_event"].max())


# -- planted problems ----------------------------------------------------------------------
def test_check_catalog_planted_problems_finds_exactly_them(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    later = pl.int_range(pl.len()) >= 1000  # a two-minute hole before trade 1000
    holed = trades.with_columns(pl.when(later).then(pl.col(c) + 2 * MINUTE).otherwise(pl.col(c))
                                for c in ("ts_event", "ts_recv"))
    zero_price = _set(holed, 20, price=0)
    restated = zero_price[10].with_columns(pl.col("size") + 1)  # trade 10 again, other size
    bad_trades = pl.concat([zero_price, restated])
    crossed = _set(quotes, 100, bid=int(quotes["ask"][100]) + 1)

    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", bad_trades)
    catalog.write(BTC, "quotes", crossed)
    catalog.write(BTC, "book_deltas", _top_of_book_deltas(crossed))
    report = check_catalog(catalog)

    assert report.summary.checks == {"conflicting_duplicate": 1, "crossed_book": 1,
                                     "crossed_quote": 1, "gap": 1, "nonpositive_price": 1}
    assert (report.summary.errors, report.summary.warnings, report.summary.ok) == (4, 1, False)
    ts = holed["ts_event"]
    assert _only(report, "gap") == ("2021-01-08", 1, (ts[999],))
    assert _only(report, "nonpositive_price") == ("2021-01-08", 1, (ts[20],))
    assert _only(report, "conflicting_duplicate") == ("2021-01-08", 1, (ts[10],))
    assert _only(report, "crossed_quote") == ("2021-01-08", 1, (quotes["ts_event"][100],))
    assert _only(report, "crossed_book") == ("2021-01-08", 1, (quotes["ts_event"][100],))
    severities = {f.check: f.severity for _, _, f in report.findings()}
    assert severities["gap"] == "warn" and severities["crossed_book"] == "error"


def test_check_catalog_foreign_partition_file_finds_duplicates_and_disorder(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    written = catalog.write(BTC, "trades", trades)
    # another tool appends trade 5 again at the end: an identical row, stored out of order
    _overwrite_partition(written.files[0], pl.concat([trades, trades[5]]))
    report = check_catalog(catalog)
    assert report.summary.checks == {"duplicate_row": 1, "out_of_order": 1}
    assert _only(report, "duplicate_row")[2] == (trades["ts_event"][5],)


def test_check_catalog_bars_missing_and_inverted_bars_found(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    built = time_bars(trades.rename({"ts_event": "ts"}), "1s")
    assert built.height == 47  # every second of the sample has trades
    bars = built.select(pl.col("ts").alias("ts_event"),
                        (pl.col("ts") + SECOND).alias("ts_recv"),
                        pl.lit(SECOND, pl.Int64).alias("interval_ns"),
                        "open", "high", "low", "close", "volume")
    catalog = Catalog(tmp_path)
    holed = bars.filter(~pl.int_range(pl.len()).is_between(10, 12))  # three bars missing
    written = catalog.write(BTC, "bars", holed)
    assert check_catalog(catalog).summary.checks == {"gap": 1}
    # high and low swapped in one bar: refused by write, so planted in the file
    inverted = _set(holed, 20, high=int(holed["low"][20]), low=int(holed["high"][20]))
    assert inverted["high"][20] < inverted["low"][20]
    _overwrite_partition(written.files[0], inverted)
    report = check_catalog(catalog)
    assert report.summary.checks == {"gap": 1, "high_below_low": 1}
    gap = next(f for _, _, f in report.findings() if f.check == "gap")
    assert gap.examples == (bars["ts_event"][9],)
    assert gap.detail.startswith("3 missing bar(s) in 1 hole(s)")


def test_check_catalog_sequence_regression_is_a_warning_only(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    ids, ts = trades["sequence"], trades["ts_event"]
    # two neighbours at different times swap trade ids: the later one now has the lower id
    i = next(i for i in range(300, trades.height) if ts[i] < ts[i + 1])
    swapped = _set(_set(trades, i, sequence=int(ids[i + 1])), i + 1, sequence=int(ids[i]))
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", swapped)
    report = check_catalog(catalog)
    assert report.summary.checks == {"sequence_regression": 1}
    assert report.summary.ok and report.summary.warnings == 1
    assert _only(report, "sequence_regression")[2] == (ts[i + 1],)


def test_check_catalog_hole_across_midnight_reported_on_resuming_day(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    second_half = pl.int_range(pl.len()) >= 1500
    moved = trades.with_columns(pl.when(second_half).then(pl.col(c) + DAY).otherwise(pl.col(c))
                                for c in ("ts_event", "ts_recv"))
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", moved)
    report = check_catalog(catalog)
    (series,) = report.series
    assert [(d.date, d.rows) for d in series.days] == [("2021-01-08", 1500),
                                                       ("2021-01-09", 501)]
    assert _only(report, "gap") == ("2021-01-09", 1, (trades["ts_event"][1499],))


def test_check_catalog_crossed_snapshot_and_restated_funding_found(
        tmp_path: Path, quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    crossed = _set(quotes, 7, ask=int(quotes["bid"][7]))  # locked: bid == ask
    catalog.write(BTC, "book_snapshots", _one_level_snapshots(crossed))
    ts = 1_610_064_000 * SECOND
    funding = pl.DataFrame({"ts_event": [ts, ts], "ts_recv": [ts, ts],
                            "rate": pl.Series([Decimal("0.0001"), Decimal("0.00011")],
                                              dtype=pl.Decimal(38, 18))})
    catalog.write(BTC, "funding", funding)
    report = check_catalog(catalog)
    assert report.summary.checks == {"conflicting_duplicate": 1, "crossed_snapshot": 1}
    assert _only(report, "crossed_snapshot")[2] == (quotes["ts_event"][7],)


# -- filters, options and the JSON form ----------------------------------------------------
def test_check_catalog_filters_select_series(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    catalog.write(BTC, "quotes", quotes)
    assert [s.kind for s in check_catalog(catalog, kind="quotes").series] == [DataKind.QUOTES]
    assert len(check_catalog(catalog, venue="BINANCE", symbol="BTCUSDT").series) == 2
    assert check_catalog(catalog, symbol="ETHUSDT").series == ()
    with pytest.raises(InvalidConfiguration, match="unknown market-data kind"):
        check_catalog(catalog, kind="candles")
    with pytest.raises(InvalidConfiguration, match="must be positive"):
        check_catalog(catalog, max_gap_ns=0)


def test_check_catalog_max_gap_threshold_is_honoured(
        tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", trades)
    steps = trades["ts_event"].diff().drop_nulls()
    threshold = 500_000_000  # half a second
    report = check_catalog(catalog, max_gap_ns=threshold)
    assert report.summary.checks.get("gap", 0) == int((steps > threshold).sum()) > 0


def test_quality_report_json_round_trips(tmp_path: Path, trades: pl.DataFrame) -> None:
    catalog = Catalog(tmp_path)
    catalog.write(BTC, "trades", _set(trades, 3, price=0))
    report = check_catalog(catalog)
    doc = json.loads(report.to_json())
    assert set(doc) == {"catalog", "summary", "series"}
    finding = doc["series"][0]["days"][0]["findings"][0]
    assert finding == {"check": "nonpositive_price", "severity": "error", "count": 1,
                       "detail": "price <= 0 ticks", "examples": [trades["ts_event"][3]]}
    assert msgspec.json.decode(report.to_json(), type=QualityReport) == report
