"""``heron record`` end to end: a subprocess against the Binance USD-M loopback server.

The server (:class:`heron.testing.venue_server.VenueServer`) replays the real capture
``ws_capture_BTCUSDT_2024-08-08.txt.gz`` from its start on each connection, so the
trades a run records are the capture's first trades, in order; the expected values are
read from the capture here with ``json`` and ``Decimal``. Skipped without the shared data.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import SHARED_VENUES, need
from heron.data.catalog import Catalog
from heron.data.schemas import SCHEMAS, DataKind
from heron.model.instrument import Instrument, InstrumentKind

USDM = SHARED_VENUES / "binance_usdm"
CAPTURE = USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
EXCHANGE_INFO = USDM / "cryptofeed_rest_exchangeInfo_2021-07-22.jsonl.gz"
COUNT = 400


def heron(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("HERON_CATALOG", "HERON_DEBUG")}
    return subprocess.run([sys.executable, "-m", "heron", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**base, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    need(CAPTURE, EXCHANGE_INFO)
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile, recorded_exchange_info

    # real time: each connection paced by the recorded times, so a run with trades and
    # quotes gets both, mixed as recorded (about 190 quotes and 60 trades a second)
    profile = BinanceUsdmProfile(CAPTURE, recorded_exchange_info(USDM))
    with VenueServer(profile, speed=1.0) as srv:
        yield srv


@pytest.fixture(scope="module")
def capture_trades() -> list[tuple[int, Decimal, Decimal, int, str]]:
    """The capture's trades, in order: (ts_event, price, size, aggressor, trade id)."""
    out = []
    with gzip.open(CAPTURE, "rt") as f:
        for line in f:
            message = json.loads(line.partition(" ")[2])
            if message.get("stream") == "btcusdt@trade":
                data = message["data"]
                out.append((data["T"] * 10**6, Decimal(data["p"]), Decimal(data["q"]),
                            -1 if data["m"] else 1, str(data["t"])))
    return out


def record(server: Any, catalog: Path, *args: str) -> list[str]:
    return ["record", "--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT",
            "--endpoint", server.url, "--catalog", str(catalog), *args]


@dataclass(frozen=True)
class Recorded:
    catalog: Path
    raw: Path
    stderr: str


@pytest.fixture(scope="module")
def recorded(server: Any, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One run: trades and quotes, --count, --raw."""
    root = tmp_path_factory.mktemp("record")
    proc = heron(*record(server, root / "catalog", "--streams", "trades,quotes",
                         "--raw", str(root / "raw"), "--count", str(COUNT)))
    assert proc.returncode == 0, proc.stderr
    return Recorded(root / "catalog", root / "raw", proc.stderr)


def decimal_trades(catalog: Path) -> list[tuple[int, int, Decimal, Decimal, int, str]]:
    """The catalog's trades as (ts_event, ts_recv, price, size, aggressor, id) decimals."""
    store = Catalog(catalog)
    inst = store.instrument("BINANCE_USDM", "BTCUSDT")
    frame = store.read("BINANCE_USDM", "BTCUSDT", "trades")
    return [(row["ts_event"], row["ts_recv"], inst.price(row["price"]),
             inst.quantity(row["size"]), row["aggressor"], row["trade_id"])
            for row in frame.iter_rows(named=True)]


# -- the recording ----------------------------------------------------------------------------
def test_record_count_lands_in_the_catalog_with_the_right_rows(
        recorded: Recorded, capture_trades: list[tuple[int, Decimal, Decimal, int, str]]
        ) -> None:
    listed = heron("data", "list", "--json", "--catalog", recorded.catalog)
    assert listed.returncode == 0, listed.stderr
    series = {entry["kind"]: entry for entry in json.loads(listed.stdout)}
    assert set(series) == {"trades", "quotes"}
    trades = series["trades"]["rows"]
    assert trades > 0 and trades + series["quotes"]["rows"] == COUNT
    assert {(e["venue"], e["instrument"]) for e in series.values()} == {
        ("BINANCE_USDM", "BTCUSDT")}
    first = capture_trades[:trades]  # one connection replays the trades from the start
    assert (series["trades"]["first_ts"], series["trades"]["last_ts"]) == (
        min(t[0] for t in first), max(t[0] for t in first))
    got = decimal_trades(recorded.catalog)
    assert [(ts, price, size, side, tid) for ts, _, price, size, side, tid in got] == first
    assert f"recorded {COUNT:,} events" in recorded.stderr


def test_record_raw_capture_imports_back_to_the_same_trades(
        recorded: Recorded, tmp_path: Path) -> None:
    files = sorted((recorded.raw / "BINANCE_USDM").glob("*.txt.gz"))
    assert files and not list(recorded.raw.rglob(".*.open"))  # closed on exit
    for file in files:
        proc = heron("data", "import", file, "--catalog", tmp_path / "again")
        assert proc.returncode == 0, proc.stderr
    recorded_trades = decimal_trades(recorded.catalog)
    reimported = decimal_trades(tmp_path / "again")
    # the raw file also holds the frames that came after --count stopped the recording
    assert reimported[:len(recorded_trades)] == recorded_trades
    # into the recording's own catalog, the import adds nothing it already holds
    shutil.copytree(recorded.catalog, tmp_path / "same")
    for file in files:
        proc = heron("data", "import", file, "--catalog", tmp_path / "same", "--json")
        assert proc.returncode == 0, proc.stderr
        skipped = {b["kind"]: b["rows_skipped"] for b in json.loads(proc.stdout)["batches"]}
        held = {e.kind.value: e.rows for e in Catalog(recorded.catalog).entries()}
        assert skipped == held


# -- stopping and failing ---------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_record_signal_flushes_and_exits_0(server: Any, tmp_path: Path,
                                            sig: signal.Signals) -> None:
    catalog = tmp_path / "catalog"
    args = [sys.executable, "-m", "heron", *record(server, catalog, "--streams", "trades")]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        deadline = time.monotonic() + 120
        while not (catalog / "BINANCE_USDM" / "BTCUSDT" / "instrument.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)  # the definition is stored at the first event
        time.sleep(0.5)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    rows = Catalog(catalog).entries()[0].rows
    assert rows > 0 and f"recorded {rows:,} events" in stderr


def test_record_catalog_holding_another_grid_exits_2(server: Any, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    other = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM",
                       kind=InstrumentKind.LINEAR_PERPETUAL, price_increment=Decimal("0.001"),
                       size_increment=Decimal("0.001"), quote_currency="USDT")
    empty = pl.DataFrame(schema=SCHEMAS[DataKind.TRADES].schema)
    Catalog(catalog).write(other, "trades", empty)  # stores the definition only
    proc = heron(*record(server, catalog, "--streams", "trades", "--count", "50"))
    assert proc.returncode == 2, proc.stderr
    assert "another grid" in proc.stderr


@pytest.mark.parametrize(("venue", "streams", "message"), [
    ("nowhere", "trades", "unknown venue 'nowhere'"),
    ("binanceusdm", "trades,candles", "unknown stream 'candles'")])
def test_record_bad_input_exits_2_before_writing_anything(
        tmp_path: Path, venue: str, streams: str, message: str) -> None:
    proc = heron("record", "--venue", venue, "--symbol", "BTC", "--streams", streams,
                 "--catalog", tmp_path / "catalog", "--raw", tmp_path / "raw")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []
