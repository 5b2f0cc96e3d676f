"""The mirror strategy copies a reference run's journaled fills, scaled and delayed.

The reference is a real sma_cross backtest on the bundled BTC-PERP bars, journaled to
SQLite; the expected copies are worked from that journal's fills and the bar file.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.errors import InvalidConfiguration
from heron.node.api import backtest
from heron.strategy.library.journal_tail import JournalTail

DATA = Path(__file__).resolve().parents[3] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
LOT = Decimal("0.00000001")
MINUTE = 60_000_000_000


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    folder = tmp_path_factory.mktemp("reference")
    bars = folder / "bars.csv"
    pl.read_csv(DATA).head(8000).write_csv(bars)
    journal = folder / "reference.sqlite"
    result = backtest(bars, strategy="sma_cross", params={"fast": 10, "slow": 40},
                      journal=journal)
    return journal, result.fills


def _copy(reference: tuple[Path, pl.DataFrame], **params: object) -> pl.DataFrame:
    journal, _ = reference
    bars = journal.parent / "bars.csv"
    return backtest(bars, strategy="mirror", params={"source": str(journal), "poll": 60.0,
                                                     **params}).fills


def _opens() -> dict[int, Decimal]:
    frame = pl.read_csv(DATA).head(8000)
    ts = frame["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns")
    return {int(t): Decimal(str(o)) for t, o in zip(ts.dt.epoch("ns"), frame["open"],
                                                    strict=True)}


def test_a_scaled_copy_fills_with_the_reference_at_the_same_open(reference) -> None:
    _, ref = reference
    copy = _copy(reference, scale="0.5")
    assert ref.height > 100
    assert copy["ts"].to_list() == ref["ts"].to_list()
    assert copy["side"].to_list() == ref["side"].to_list()
    assert copy["price"].to_list() == ref["price"].to_list()
    halves = [(Decimal(q) * Decimal("0.5")).quantize(LOT, ROUND_DOWN) for q in ref["qty"]]
    assert [Decimal(q) for q in copy["qty"]] == halves


def test_a_delayed_copy_trades_five_bars_later_at_that_open(reference) -> None:
    _, ref = reference
    copy = _copy(reference, scale="0.25", delay=300.0)
    opens = _opens()
    late = [(ts + 5 * MINUTE, side) for ts, side in zip(ref["ts"], ref["side"], strict=True)
            if ts + 5 * MINUTE in opens]
    assert list(zip(copy["ts"].to_list(), copy["side"].to_list(), strict=True)) == late
    assert [Decimal(p) for p in copy["price"]] == [opens[ts] for ts, _ in late]


def test_the_position_cap_cuts_each_copy(reference) -> None:
    _, ref = reference
    cap = Decimal("0.5")
    copy = _copy(reference, scale="1", max_quantity=str(cap))
    position, most = Decimal(0), Decimal(0)
    for side, qty in zip(copy["side"], copy["qty"], strict=True):
        position += Decimal(qty) if side == "buy" else -Decimal(qty)
        most = max(most, abs(position))
    assert most == cap  # the reference buys about 2 BTC a time: every entry is cut
    assert copy.height == ref.height


def test_the_tail_reads_a_growing_journal_until_it_is_sealed(reference, tmp_path: Path
                                                             ) -> None:
    journal, ref = reference
    growing = tmp_path / "growing.sqlite"
    shutil.copy(journal, growing)
    with sqlite3.connect(growing) as db:  # roll the copy back to a run still going
        db.execute("CREATE TABLE later AS SELECT * FROM records WHERE seq > 200")
        db.execute("DELETE FROM records WHERE seq > 200")
        db.execute("UPDATE runs SET sealed = 0")
    tail = JournalTail(growing)
    first = tail.new_fills()
    assert 0 < len(first) < ref.height and not tail.sealed
    assert tail.new_fills() == []
    with sqlite3.connect(growing) as db:  # the run goes on, then ends
        db.execute("INSERT INTO records SELECT * FROM later")
        db.execute("UPDATE runs SET sealed = 1")
    rest = tail.new_fills()
    tail.close()
    assert tail.sealed
    assert [f.ts_event for f in first + rest] == ref["ts"].to_list()


def test_bad_sources_are_refused_with_the_fix(reference, tmp_path: Path) -> None:
    journal, _ = reference
    with pytest.raises(InvalidConfiguration, match="no source given"):
        backtest(journal.parent / "bars.csv", strategy="mirror")
    with pytest.raises(InvalidConfiguration, match="no run 'nope'"):
        _copy(reference, source_run="nope")
