"""The live recorder and the raw capture: hours, limits, stops, crashes, round trips.

Events are built by hand on a Binance USD-M grid (tick 0.1, lot 0.001) with receive
times in 2024-08-09 from 00:00 UTC, so hours and days are known; expected catalog rows
are written out here as tuples, not made by the converters under test. The crash tests
SIGKILL a child process that records, then read what it left.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from heron.data.catalog import Catalog
from heron.data.importers.captures import parse_hftbacktest_capture
from heron.data.importers.registry import import_path
from heron.data.recording.raw import RawCapture
from heron.data.recording.recorder import NS_PER_HOUR, Recorder
from heron.data.schemas import DataKind
from heron.errors import DataError, InputError
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide

BTC = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.1"), size_increment=Decimal("0.001"),
                 quote_currency="USDT")
H0 = 1_723_161_600 * 10**9  # 2024-08-09 00:00:00 UTC
SEC = 10**9
LAG = 5_000_000  # ts_recv - ts_event: 5 ms


def trade(ts_recv: int, n: int, *, inst: Instrument = BTC) -> Trade:
    return Trade(inst, ts_recv - LAG, ts_recv, 618_003 + n % 7, 6 + n % 3,
                 "sell" if n % 2 else "buy", str(5_266_583_935 + n))


def trade_row(event: Trade) -> tuple[Any, ...]:
    aggressor = {"buy": 1, "sell": -1}[event.aggressor]
    return (event.ts_event, event.ts_recv, event.price, event.size, aggressor, event.trade_id,
            int(event.trade_id))


def rows(catalog: Catalog, kind: DataKind) -> list[tuple[Any, ...]]:
    try:
        return catalog.read(BTC.venue, BTC.symbol, kind).rows()
    except DataError:  # nothing of the instrument stored yet
        return []


def message(ts_recv: int, sequence: int, levels: list[tuple[BookSide, int, int]]
            ) -> list[BookDelta]:
    last = len(levels) - 1
    return [BookDelta(BTC, ts_recv - LAG, ts_recv, side, price, size, sequence, i == last,
                      sequence - 2, sequence - 3)
            for i, (side, price, size) in enumerate(levels)]


# -- hours, limits, stop --------------------------------------------------------------------
def test_recorder_first_event_of_a_new_hour_flushes_the_hour_before(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    hour0 = [trade(H0 + k * 60 * SEC, k) for k in range(60)]  # 00:00 .. 00:59
    hour1 = [trade(H0 + NS_PER_HOUR + k * SEC, 100 + k) for k in range(3)]
    with Recorder(catalog) as recorder:
        for event in hour0:
            recorder.emit(event)
        recorder.wait()
        assert rows(catalog, DataKind.TRADES) == []  # the hour is still open
        recorder.emit(hour1[0])
        recorder.wait()
        assert rows(catalog, DataKind.TRADES) == [trade_row(t) for t in hour0]
        for event in hour1[1:]:
            recorder.emit(event)
    assert rows(catalog, DataKind.TRADES) == [trade_row(t) for t in hour0 + hour1]
    assert [f.reason for f in recorder.flushes] == ["hour", "stop"]
    assert [f.rows for f in recorder.flushes] == [60, 3]


def test_recorder_tick_closes_an_hour_no_event_closed(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    recorder = Recorder(catalog)
    recorder.emit(trade(H0 + 10 * SEC, 0))
    recorder.tick(H0 + NS_PER_HOUR - 1)
    recorder.wait()
    assert rows(catalog, DataKind.TRADES) == []
    recorder.tick(H0 + NS_PER_HOUR)
    recorder.wait()
    assert len(rows(catalog, DataKind.TRADES)) == 1
    recorder.close()
    assert [f.reason for f in recorder.flushes] == ["hour"]


def test_recorder_close_flushes_everything_buffered_once(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    events = [trade(H0 + k * SEC, k) for k in range(5)]
    recorder = Recorder(catalog)
    for event in events:
        recorder.emit(event)
    recorder.close()
    recorder.close()  # idempotent
    recorder.emit(trade(H0 + 9 * SEC, 9))  # after close: counted, not written
    assert rows(catalog, DataKind.TRADES) == [trade_row(t) for t in events]
    assert (len(recorder.flushes), recorder.dropped) == (1, 1)


def test_recorder_row_limit_flushes_only_the_full_series(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    recorder = Recorder(catalog, row_limit=10)
    for k in range(9):
        recorder.emit(trade(H0 + k * SEC, k))
        recorder.emit(Quote(BTC, H0 + k * SEC, H0 + k * SEC, 618_000, 618_001, 5, 7, k))
    recorder.wait()
    assert recorder.flushes == []
    recorder.emit(trade(H0 + 9 * SEC, 9))
    recorder.wait()
    assert len(rows(catalog, DataKind.TRADES)) == 10
    assert rows(catalog, DataKind.QUOTES) == []
    assert recorder.buffered == 9  # the quotes
    recorder.close()
    assert len(rows(catalog, DataKind.QUOTES)) == 9
    assert [f.reason for f in recorder.flushes] == ["row limit", "stop"]


def test_recorder_row_limit_waits_for_the_end_of_a_book_message(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    recorder = Recorder(catalog, row_limit=5)
    levels = [(BookSide.BID, 618_000 - i, 10 + i) for i in range(4)]
    buffered = []
    for n in range(2):  # 4 + 4 deltas: the limit is passed inside the second message
        for delta in message(H0 + n * SEC, 100 + n, levels):
            recorder.emit(delta)
            buffered.append(recorder.buffered)
    assert buffered == [1, 2, 3, 4, 5, 6, 7, 0]  # flushed at the message's last delta
    recorder.wait()
    assert len(rows(catalog, DataKind.BOOK_DELTAS)) == 8
    recorder.close()


def test_recorder_leaves_out_a_book_message_cut_by_the_stop(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    whole = message(H0 + SEC, 7, [(BookSide.ASK, 618_010, 3), (BookSide.BID, 618_000, 0)])
    cut = message(H0 + 2 * SEC, 8, [(BookSide.ASK, 618_011, 1), (BookSide.ASK, 618_012, 2),
                                    (BookSide.BID, 617_990, 4)])[:2]
    with Recorder(catalog) as recorder:
        for delta in whole + cut:
            recorder.emit(delta)
    assert rows(catalog, DataKind.BOOK_DELTAS) == [
        (H0 + SEC - LAG, H0 + SEC, -1, 618_010, 3, 7, False),
        (H0 + SEC - LAG, H0 + SEC, 1, 618_000, 0, 7, True)]
    assert recorder.incomplete == 2
    assert recorder.events["book"] == 4


def test_recorder_counts_health_and_writes_none(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    health = FeedHealth(ts=H0, venue="binanceusdm", symbol="BTCUSDT", stream="trades",
                        state=FeedState.LIVE, last_message_age_ns=0, messages=1,
                        reconnects=0, gaps=0, parse_errors=0)
    with Recorder(catalog) as recorder:
        recorder.emit(health)
        recorder.emit(health)
    assert (recorder.health, sum(recorder.events.values()), recorder.flushes) == (2, 0, [])
    assert catalog.entries() == []


def test_recorder_catalog_on_another_grid_fails_at_the_first_event(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    other = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM",
                       kind=InstrumentKind.LINEAR_PERPETUAL, price_increment=Decimal("0.01"),
                       size_increment=Decimal("0.001"), quote_currency="USDT")
    with Recorder(catalog) as first:
        first.emit(trade(H0, 0, inst=other))
    recorder = Recorder(catalog)
    recorder.emit(trade(H0 + SEC, 1))
    with pytest.raises(DataError, match="another grid"):
        recorder.wait()
    recorder.emit(trade(H0 + 2 * SEC, 2))
    assert recorder.dropped == 1
    with pytest.raises(DataError):
        recorder.close()
    assert len(rows(catalog, DataKind.TRADES)) == 1  # the first recorder's trade only


# -- round trip of every kind ---------------------------------------------------------------
def _every_kind() -> tuple[list[object], dict[DataKind, list[tuple[Any, ...]]]]:
    """Events of every kind over two hours of one day, and the rows the catalog must hold."""
    t1, t2 = H0 + 10 * SEC, H0 + NS_PER_HOUR + 10 * SEC  # one event time in each hour
    funding_t, next_t = H0 + 8 * NS_PER_HOUR, H0 + 16 * NS_PER_HOUR
    events: list[object] = [
        trade(t1, 0), trade(t2, 1),
        Quote(BTC, t1 - LAG, t1, 618_000, 618_001, 1_500, 20, 77),
        *message(t1, 90, [(BookSide.BID, 617_999, 12), (BookSide.ASK, 618_002, 0)]),
        BookSnapshot(BTC, t1 - LAG, t1, ((618_000, 5), (617_990, 8)),
                     ((618_001, 2), (618_020, 9)), 89),
        MarkPrice(BTC, t1 - LAG, t1, 618_004, 618_010),
        FundingRate(BTC, funding_t, t1, "0.0001"),
        FundingRate(BTC, funding_t, t1 + SEC, "0.00012"),  # the last for funding_t
        Liquidation(BTC, t1 - LAG, t1, OrderSide.SELL, 617_500, 14),
        # hour 1
        Liquidation(BTC, t1 - LAG, t2, OrderSide.BUY, 618_500, 3),  # same venue time: seq 1
        FundingRate(BTC, next_t, t2, "-0.00003"),  # settles funding_t
        FundingRate(BTC, funding_t, t2 + SEC, "0.9"),  # a late restatement: ignored
        FundingRate(BTC, next_t, t2 + 2 * SEC, "-0.00004"),  # pending at close: an estimate
        MarkPrice(BTC, t2 - LAG, t2, 618_104),
    ]
    expected = {
        DataKind.TRADES: [trade_row(trade(t1, 0)), trade_row(trade(t2, 1))],
        DataKind.QUOTES: [(t1 - LAG, t1, 618_000, 618_001, 1_500, 20, 77)],
        DataKind.BOOK_DELTAS: [(t1 - LAG, t1, 1, 617_999, 12, 90, False),
                               (t1 - LAG, t1, -1, 618_002, 0, 90, True)],
        DataKind.BOOK_SNAPSHOTS: [(t1 - LAG, t1, 89, -1, 0, 618_001, 2),
                                  (t1 - LAG, t1, 89, -1, 1, 618_020, 9),
                                  (t1 - LAG, t1, 89, 1, 0, 618_000, 5),
                                  (t1 - LAG, t1, 89, 1, 1, 617_990, 8)],
        DataKind.MARK: [(t1 - LAG, t1, 618_004), (t2 - LAG, t2, 618_104)],
        DataKind.FUNDING: [(funding_t, t1 + SEC, Decimal("0.00012")),
                           (next_t, t2 + 2 * SEC, Decimal("-0.00004"))],
        DataKind.LIQUIDATIONS: [(t1 - LAG, t1, -1, 617_500, 14, 0),
                                (t1 - LAG, t2, 1, 618_500, 3, 1)],
    }
    return events, expected


def test_recorder_catalog_round_trip_of_every_kind_equals_the_events(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    events, expected = _every_kind()
    with Recorder(catalog) as recorder:
        for event in events:
            recorder.emit(event)
    for kind, want in expected.items():  # rows in the catalog's order (schemas.py)
        assert rows(catalog, kind) == want, kind
    assert catalog.instrument(BTC.venue, BTC.symbol) == BTC
    assert [f.reason for f in recorder.flushes] == ["hour", "stop"]
    assert dict(recorder.events) == {"trades": 2, "quotes": 1, "book": 3, "mark": 2,
                                     "funding": 5, "liquidations": 2}


def test_recorder_writes_funding_once_settled_and_leaves_out_predictions(
        tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    funding_t = H0 + 8 * NS_PER_HOUR
    recorder = Recorder(catalog)
    recorder.emit(FundingRate(BTC, funding_t, H0 + SEC, "0.0001"))
    recorder.emit(FundingRate(BTC, funding_t, H0 + 2 * SEC, "0.0002"))
    recorder.tick(funding_t - 1)  # not yet due
    recorder.emit(FundingRate(BTC, funding_t, H0 + 3 * SEC, "0.0003"))
    recorder.tick(funding_t)  # due: the last announcement is the rate
    recorder.emit(FundingRate(BTC, funding_t, funding_t + SEC, "0.5"))  # restated: ignored
    recorder.emit(FundingRate(BTC, funding_t + 8 * NS_PER_HOUR, funding_t + 2 * SEC,
                              "0.0004"))  # the next one, still a prediction at the stop
    recorder.close(now_ns=funding_t + 3 * SEC)
    assert rows(catalog, DataKind.FUNDING) == [(funding_t, H0 + 3 * SEC, Decimal("0.0003"))]
    assert recorder.unsettled == 1


def test_recorder_flushes_of_one_day_merge_into_its_one_file(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    with Recorder(catalog) as recorder:
        for hour in range(4):
            for k in range(3):
                recorder.emit(trade(H0 + hour * NS_PER_HOUR + k * SEC, 10 * hour + k))
    day = tmp_path / "BINANCE_USDM" / "BTCUSDT" / "trades" / "date=2024-08-09"
    assert [p.name.startswith("part-") for p in day.iterdir()] == [True]
    assert len(recorder.flushes) == 4
    assert catalog.entries()[0].rows == 12


# -- a recorder killed mid-flush ------------------------------------------------------------
RECORDER_CHILD = """
import sys
from decimal import Decimal
from heron.data.catalog import Catalog
from heron.data.recording.recorder import NS_PER_HOUR, Recorder
from heron.model.data import Trade
from heron.model.instrument import Instrument, InstrumentKind

btc = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.1"), size_increment=Decimal("0.001"),
                 quote_currency="USDT")
root, first, per_hour = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
day = 1_723_161_600 * 10**9
recorder = Recorder(Catalog(root))
for hour in range(first, first + 10_000):
    for i in range(per_hour):
        ts = day + hour * NS_PER_HOUR + i
        recorder.emit(Trade(btc, day + hour * 1_000_000 + i, ts, 618_000 + i % 9, 1 + i % 5,
                            "buy", str(hour * per_hour + i)))
    recorder.wait()  # the flush of hour - 1, started by this hour's first trade, is done
    print(hour - 1, flush=True)
"""


def _kill_after(child: list[str], flushed_hours: int, delay_s: float) -> int:
    """Run ``child`` until it reports ``flushed_hours`` hours, SIGKILL it ``delay_s`` later;
    the last hour it reported flushed."""
    with subprocess.Popen(child, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        reported = [int(proc.stdout.readline()) for _ in range(flushed_hours)]
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        reported += [int(line) for line in proc.stdout.read().split()]  # before the kill
    return reported[-1]


def test_recorder_killed_mid_hour_keeps_every_flushed_hour_readable(tmp_path: Path) -> None:
    per_hour = 20_000
    start = 0
    kept: set[str] = set()
    for delay in (0.0, 0.07, 0.25):  # three kills at different points of a flush
        last = _kill_after([sys.executable, "-c", RECORDER_CHILD, str(tmp_path), str(start),
                            str(per_hour)], 2, delay)
        catalog = Catalog(tmp_path)
        ids = set(catalog.read(BTC.venue, BTC.symbol, DataKind.TRADES)["trade_id"].to_list())
        kept |= {str(n) for n in range(start * per_hour, (last + 1) * per_hour)}
        assert kept <= ids  # every hour reported flushed, by this run or before, survived
        assert len(ids) % per_hour == 0  # and hours land whole: no flush half-written
        for part in tmp_path.rglob("*.parquet"):  # every visible file is whole
            assert pq.read_metadata(part).num_rows > 0
        start = last + 100  # the next run records later hours into the same catalog
    entry = Catalog(tmp_path).entries()[0]
    assert entry.rows % per_hour == 0 and entry.partitions == 1


# -- raw capture ----------------------------------------------------------------------------
NAMES = {"binanceusdm": "BINANCE_USDM", "okx": "OKX"}


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        return f.read().splitlines()


def test_raw_capture_writes_one_gzip_file_per_venue_per_hour(tmp_path: Path) -> None:
    capture = RawCapture(tmp_path, venue_names=NAMES)
    capture("binanceusdm", "ws://x/ws", H0 + 1, '{"result": null, "id": 1}')
    capture("okx", "ws://y/ws", H0 + 2, '{"arg":\n {"channel": "trades"}}')
    capture("binanceusdm", "ws://x/ws", H0 + NS_PER_HOUR + 3, '{"e": "trade"}')
    usdm, okx = tmp_path / "BINANCE_USDM", tmp_path / "OKX"
    assert sorted(p.name for p in usdm.iterdir()) == [
        ".2024-08-09T01.txt.gz.open", "2024-08-09T00.txt.gz"]  # hour 0 closed by hour 1
    capture.tick(H0 + NS_PER_HOUR + 5)  # okx's hour is over though okx sent nothing
    assert [p.name for p in okx.iterdir()] == ["2024-08-09T00.txt.gz"]
    capture.close()
    assert _lines(usdm / "2024-08-09T00.txt.gz") == [f'{H0 + 1} {{"result": null, "id": 1}}']
    assert _lines(usdm / "2024-08-09T01.txt.gz") == [f'{H0 + NS_PER_HOUR + 3} {{"e": "trade"}}']
    assert _lines(okx / "2024-08-09T00.txt.gz") == [f'{H0 + 2} {{"arg":  {{"channel": "trades"}}}}']
    assert capture.frames == 3 and len(capture.closed) == 3
    with RawCapture(tmp_path, venue_names=NAMES) as again:  # a second run in the same hour
        again("okx", "ws://y/ws", H0 + 9, "{}")
    assert sorted(p.name for p in okx.iterdir()) == ["2024-08-09T00.1.txt.gz",
                                                      "2024-08-09T00.txt.gz"]


def test_raw_capture_refuses_a_folder_another_capture_holds(tmp_path: Path) -> None:
    with RawCapture(tmp_path, venue_names=NAMES), pytest.raises(InputError, match="in use"):
        RawCapture(tmp_path, venue_names=NAMES)


RAW_CHILD = """
import itertools, sys
from heron.data.recording.raw import RawCapture
names = {"binanceusdm": "BINANCE_USDM"}
capture = RawCapture(sys.argv[1], flush_every_s=0.0, venue_names=names)
for n in itertools.count():
    text = ('{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":%d,'
            '"p":"61800.30","q":"0.006","X":"MARKET","m":false}' % n)
    capture("binanceusdm", "ws://127.0.0.1/public/ws/0", 1_795_000_000_000_000_000 + n, text)
    if n == 999:
        print("1000", flush=True)
"""


def test_raw_capture_killed_is_recovered_as_a_whole_partial_file(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-c", RAW_CHILD, str(tmp_path)],
                          stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "1000"
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    folder = tmp_path / "BINANCE_USDM"
    [left] = folder.iterdir()
    assert left.name.endswith(".txt.gz.open")  # only the open hour's hidden file is left
    with RawCapture(tmp_path) as capture:
        [item] = capture.recovered
    assert item.path is not None and item.path.name.endswith(".partial.txt.gz")
    assert sorted(p.name for p in folder.iterdir()) == [item.path.name]
    assert item.lines >= 1000 and not item.damage
    text = gzip.decompress(item.path.read_bytes()).decode()  # whole: end marker, CRC
    assert text.endswith("\n") and text.count("\n") == item.lines
    parsed = parse_hftbacktest_capture(item.path)  # venue from the folder: BINANCE_USDM
    [batch] = parsed.batches()
    assert batch.frame["trade_id"].to_list() == [str(n) for n in range(item.lines)]
    assert (batch.instrument.venue, parsed.truncated) == ("BINANCE_USDM", [])
    report = import_path(Catalog(tmp_path / "catalog"), item.path)  # heron data import
    assert report.rows_added == item.lines


def test_raw_capture_recovery_drops_empty_files_and_keeps_damaged_ones(
        tmp_path: Path) -> None:
    folder = tmp_path / "OKX"
    folder.mkdir()
    (folder / ".2024-08-09T00.txt.gz.open").write_bytes(b"")
    good = gzip.compress(b"1 {}\n2 {}\n")
    (folder / ".2024-08-09T01.txt.gz.open").write_bytes(good[:-8] + b"\x00" * 8)  # bad CRC
    with RawCapture(tmp_path, venue_names=NAMES) as capture:
        empty, damaged = capture.recovered
    assert (empty.path, empty.lines) == (None, 0)
    assert damaged.damage and damaged.lines == 2
    assert damaged.damaged == folder / "2024-08-09T01.damaged.gz"
    assert damaged.path == folder / "2024-08-09T01.partial.txt.gz"
    assert _lines(damaged.path) == ["1 {}", "2 {}"]
    assert sorted(p.name for p in folder.iterdir()) == ["2024-08-09T01.damaged.gz",
                                                         "2024-08-09T01.partial.txt.gz"]


def test_raw_capture_recovery_cut_short_is_finished_without_a_duplicate(
        tmp_path: Path) -> None:
    folder = tmp_path / "OKX"
    folder.mkdir()
    lines = gzip.compress(b"1 {}\n2 {}\n3 {")
    # cut while copying: the source is still there, the copy may be incomplete
    (folder / ".2024-08-09T00.txt.gz.open").write_bytes(lines)
    (folder / ".2024-08-09T00.txt.gz.recovering").write_bytes(gzip.compress(b"1 {}\n"))
    # cut after the source was deleted: the copy is whole, only its rename is missing
    (folder / ".2024-08-09T01.txt.gz.recovering").write_bytes(gzip.compress(b"7 {}\n"))
    with RawCapture(tmp_path, venue_names=NAMES) as capture:
        [item] = capture.recovered
    assert item.lines == 2
    assert sorted(p.name for p in folder.iterdir()) == ["2024-08-09T00.partial.txt.gz",
                                                         "2024-08-09T01.partial.txt.gz"]
    assert _lines(folder / "2024-08-09T00.partial.txt.gz") == ["1 {}", "2 {}"]
    assert _lines(folder / "2024-08-09T01.partial.txt.gz") == ["7 {}"]
