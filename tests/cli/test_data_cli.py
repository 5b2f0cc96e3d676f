"""``heron data`` end to end, through the real command in a subprocess.

Catalogs are filled with ``Catalog.write`` from Binance spot BTCUSDT of 2021-01-08
(2,001 trades, 451 quotes over 46 seconds) on ticks of 0.01 and lots of 0.000001.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from heron.data.catalog import Catalog
from heron.model.instrument import Instrument

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BTC = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.01",
                 size_increment="0.000001")
HELD = "holds BTCUSDT.BINANCE (trades, quotes)"


def heron(*args: str | Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m heron`` with no HERON_CATALOG unless given, and a wide terminal."""
    base = {k: v for k, v in os.environ.items() if k not in ("HERON_CATALOG", "HERON_DEBUG")}
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**base, "COLUMNS": "200", **(env or {})})


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


@pytest.fixture(scope="module")
def trades(btc_trades: pl.DataFrame) -> pl.DataFrame:
    return btc_trades


@pytest.fixture(scope="module")
def quotes(btc_quotes: pl.DataFrame) -> pl.DataFrame:
    return btc_quotes


def _fill(root: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> Path:
    catalog = Catalog(root)
    catalog.write(BTC, "trades", trades)
    catalog.write(BTC, "quotes", quotes)
    return root


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, trades: pl.DataFrame,
          quotes: pl.DataFrame) -> Path:
    """A catalog that no command writes to (tests that write use their own)."""
    return _fill(tmp_path_factory.mktemp("clean"), trades, quotes)


# -- list ----------------------------------------------------------------------------------
def test_data_list_json_has_exact_keys_and_values(
        clean: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    proc = heron("data", "list", "--json", "--catalog", clean)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [
        {"venue": "BINANCE", "instrument": "BTCUSDT", "kind": "trades", "rows": 2001,
         "first_ts": trades["ts_event"].min(), "last_ts": trades["ts_event"].max()},
        {"venue": "BINANCE", "instrument": "BTCUSDT", "kind": "quotes", "rows": 451,
         "first_ts": quotes["ts_event"].min(), "last_ts": quotes["ts_event"].max()},
    ]


def test_data_list_catalog_from_heron_catalog_env(clean: Path) -> None:
    proc = heron("data", "list", env={"HERON_CATALOG": str(clean)})
    assert proc.returncode == 0, proc.stderr
    assert "BTCUSDT" in proc.stdout and "2,001" in proc.stdout
    assert "2021-01-08 00:00:00.278" in proc.stdout  # first trade, UTC


def test_data_list_empty_catalog_says_so(tmp_path: Path) -> None:
    proc = heron("data", "list", "--catalog", tmp_path / "none")
    assert proc.returncode == 0, proc.stderr
    assert "is empty" in proc.stdout
    assert json.loads(heron("data", "list", "--json", "--catalog", tmp_path).stdout) == []


# -- show ----------------------------------------------------------------------------------
def test_data_show_head_prints_first_rows_only(clean: Path, trades: pl.DataFrame) -> None:
    ids = trades["trade_id"].to_list()
    for name in ("BTCUSDT", "BTCUSDT.BINANCE"):
        proc = heron("data", "show", name, "--kind", "trades", "--head", "3", "--catalog", clean)
        assert proc.returncode == 0, proc.stderr
        assert all(trade_id in proc.stdout for trade_id in ids[:3])
        assert ids[3] not in proc.stdout
        assert "2,001 rows" in proc.stdout
        assert "39432.48" in proc.stdout and "0.000263" in proc.stdout  # first trade, decimal


def test_data_show_raw_prints_stored_integers(clean: Path, quotes: pl.DataFrame) -> None:
    proc = heron("data", "show", "BTCUSDT", "--kind", "quotes", "--venue", "BINANCE",
                 "--head", "1", "--raw", "--catalog", clean)
    assert proc.returncode == 0, proc.stderr
    first = quotes.row(0, named=True)
    for name in ("ts_event", "bid", "ask", "bid_size", "ask_size"):
        assert str(first[name]) in proc.stdout


# -- bars ----------------------------------------------------------------------------------
def _bar_count(stdout: str) -> int:
    first = stdout.strip().splitlines()[0]
    return int(first.split(" bars of ")[0].replace(",", ""))


def test_data_bars_counts_match_the_trades(clean: Path, trades: pl.DataFrame) -> None:
    seconds = trades["ts_event"] // 10**9
    lots = 5_000_000  # 5 BTC: a bar closes at each multiple of the running volume
    before = trades["size"].cum_sum() - trades["size"]
    expected = {("--interval", "1s"): seconds.n_unique(),
                ("--ticks", "100"): -(-trades.height // 100),
                ("--volume", str(lots)): (before // lots).n_unique()}
    for (flag, value), count in expected.items():
        proc = heron("data", "bars", "BTCUSDT", "--from", "trades", flag, value,
                     "--head", "2", "--catalog", clean)
        assert proc.returncode == 0, proc.stderr
        assert _bar_count(proc.stdout) == count, (flag, proc.stdout)
        assert "the first 2 shown" in proc.stdout


def test_data_bars_dollars_counts_in_quote_currency(clean: Path, trades: pl.DataFrame) -> None:
    # 1,000,000 USDT = 1e14 tick·lots of 0.01 x 0.000001
    value = trades["price"].cast(pl.Int128) * trades["size"]
    expected = ((value.cum_sum() - value) // 10**14).n_unique()
    proc = heron("data", "bars", "BTCUSDT", "--dollars", "1000000", "--catalog", clean)
    assert proc.returncode == 0, proc.stderr
    assert _bar_count(proc.stdout) == expected


def test_data_bars_write_stores_time_bars_once(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    root = _fill(tmp_path, trades, quotes)
    proc = heron("data", "bars", "BTCUSDT", "--interval", "1s", "--write", "--catalog", root)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 47 new bar(s)" in proc.stdout
    stored = Catalog(root).read("BINANCE", "BTCUSDT", "bars")
    assert stored.height == 47 and stored["interval_ns"].unique().to_list() == [10**9]
    assert stored["volume"].sum() == trades["size"].sum()
    assert (stored["ts_recv"] - stored["ts_event"]).unique().to_list() == [10**9]
    again = heron("data", "bars", "BTCUSDT", "--interval", "1s", "--write", "--catalog", root)
    assert "wrote 0 new bar(s)" in again.stdout and "47 already stored" in again.stdout


# -- sql -----------------------------------------------------------------------------------
def test_data_sql_json_returns_rows(clean: Path, trades: pl.DataFrame) -> None:
    proc = heron("data", "sql", "SELECT count(*) AS n, min(price) AS low "
                 "FROM binance__btcusdt__trades", "--json", "--catalog", clean)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [{"n": 2001, "low": trades["price"].min()}]


def test_data_sql_table_lists_views(clean: Path) -> None:
    proc = heron("data", "sql", "SELECT view, rows FROM catalog ORDER BY view", "--catalog",
                 clean)
    assert proc.returncode == 0, proc.stderr
    assert "binance__btcusdt__quotes" in proc.stdout and "binance__btcusdt__trades" in proc.stdout
    assert "2 row(s)" in proc.stdout


# -- check ---------------------------------------------------------------------------------
def test_data_check_clean_catalog_exits_0(clean: Path) -> None:
    proc = heron("data", "check", "--catalog", clean)
    assert proc.returncode == 0, proc.stderr
    assert "0 error(s), 0 warning(s)" in proc.stdout
    doc = json.loads(heron("data", "check", "--json", "--catalog", clean).stdout)
    assert doc["summary"]["ok"] is True and doc["summary"]["rows"] == 2452


def test_data_check_error_finding_exits_1(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    zero = trades.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(0)
                               .otherwise(pl.col("price")).alias("price"))
    root = _fill(tmp_path, zero, quotes)
    proc = heron("data", "check", "--json", "--catalog", root)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["checks"] == {"nonpositive_price": 1}
    assert doc["summary"]["errors"] == 1 and doc["summary"]["ok"] is False
    table = heron("data", "check", "--catalog", root)
    assert table.returncode == 1
    assert "nonpositive_price" in table.stdout and "1 error(s)" in table.stdout
    only_quotes = heron("data", "check", "--kind", "quotes", "--catalog", root)
    assert only_quotes.returncode == 0, only_quotes.stdout


# -- bad input: one line, exit 2 -----------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (("show", "ETHUSDT", "--kind", "trades"), "no trades for ETHUSDT in the catalog at"),
    (("show", "BTCUSDT", "--kind", "trades", "--venue", "OKX"), "no trades for BTCUSDT on OKX"),
    (("show", "BTCUSDT", "--kind", "candles"), "unknown kind 'candles'"),
    (("show", "BTCUSDT", "--kind", "bars"), "no bars for BTCUSDT"),
    (("bars", "BTCUSDT", "--interval", "1m", "--ticks", "5"), "exactly one of"),
    (("bars", "BTCUSDT", "--ticks", "5", "--write"), "--write stores time bars only"),
    (("bars", "BTCUSDT", "--from", "quotes", "--interval", "1m"), "built from trades only"),
    (("bars", "BTCUSDT", "--interval", "1 week"), "bar interval '1 week' is not understood"),
    (("bars", "BTCUSDT", "--dollars", "0.000000001"), "positive multiple of one tick"),
    (("sql", "SELECT * FROM nope"), "SQL query failed"),
    (("check", "--symbol", "ETHUSDT"), "no series match"),
])
def test_data_bad_input_one_line_exit_2(clean: Path, args: tuple[str, ...],
                                        expected: str) -> None:
    proc = heron("data", *args, "--catalog", clean)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert expected in lines[0]
    if "no " in expected or "unknown kind" in expected:
        assert HELD in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_data_show_symbol_on_two_venues_asks_for_venue(
        tmp_path: Path, trades: pl.DataFrame, quotes: pl.DataFrame) -> None:
    root = _fill(tmp_path, trades, quotes)
    other = Instrument(symbol="BTCUSDT", venue="BINANCE_US", price_increment="0.01",
                       size_increment="0.000001")
    Catalog(root).write(other, "trades", trades.head(10))
    proc = heron("data", "show", "BTCUSDT", "--kind", "trades", "--catalog", root)
    assert proc.returncode == 2
    assert "is on several venues (BINANCE, BINANCE_US); pass --venue" in proc.stderr
    picked = heron("data", "show", "BTCUSDT.BINANCE_US", "--kind", "trades", "--catalog", root)
    assert picked.returncode == 0 and "10 rows" in picked.stdout


# -- import --------------------------------------------------------------------------------
def test_data_import_writes_once_into_the_catalog(tmp_path: Path) -> None:
    pytest.importorskip("heron.data.importers.registry")
    source = _shared(SHARED / "ticks" / "tardis_bitmex_XBTUSD_trades_2020-03-01.csv")
    proc = heron("data", "import", source, "--catalog", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "XBTUSD.BITMEX" in proc.stdout and "tardis" in proc.stdout
    listed = json.loads(heron("data", "list", "--json", "--catalog", tmp_path).stdout)
    assert [(e["venue"], e["instrument"], e["kind"], e["rows"]) for e in listed] == [
        ("BITMEX", "XBTUSD", "trades", 10)]
    again = heron("data", "import", source, "--json", "--catalog", tmp_path)
    assert again.returncode == 0, again.stderr
    (batch,) = json.loads(again.stdout)["batches"]
    assert (batch["rows"], batch["rows_added"], batch["rows_skipped"]) == (10, 0, 10)


def test_data_import_unreadable_file_exit_2(tmp_path: Path) -> None:
    pytest.importorskip("heron.data.importers.registry")
    proc = heron("data", "import", tmp_path / "missing.csv", "--catalog", tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
