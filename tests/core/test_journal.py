"""The journal: deterministic, verifiable, replayable, and loud about damage."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import heron
from heron.core.journal import SCHEMA_VERSION, JournalWriter
from heron.core.journal_store import JournalReader
from heron.errors import JournalError
from heron.model.events import OrderAccepted, SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.replay import replay_journal

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


def _run(journal: Path, **kwargs: object) -> heron.BacktestResult:
    return heron.backtest(DATA, strategy="sma_cross", symbol="BTC-PERP", journal=journal,
                          params={"fast": 10, "slow": 50}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def journaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[heron.BacktestResult, Path]:
    path = tmp_path_factory.mktemp("journal") / "run.sqlite"
    return _run(path), path


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_journal_two_runs_are_byte_identical(tmp_path: Path,
                                             journaled: tuple[heron.BacktestResult, Path]
                                             ) -> None:
    first, first_path = journaled
    second = _run(tmp_path / "again.sqlite")
    assert second.journal_sha256 == first.journal_sha256
    assert _sha_file(tmp_path / "again.sqlite") == _sha_file(first_path)


def test_journal_hash_changes_when_the_run_changes(tmp_path: Path,
                                                   journaled: tuple[heron.BacktestResult, Path]
                                                   ) -> None:
    other = _run(tmp_path / "other.sqlite", fee_bps="11")
    assert other.journal_sha256 != journaled[0].journal_sha256


def test_journal_replay_rebuilds_final_balances_exactly(
        journaled: tuple[heron.BacktestResult, Path]) -> None:
    result, path = journaled
    replayed = replay_journal(path)
    live = result.engine.portfolio
    assert replayed.portfolio.snapshot() == live.snapshot()
    assert replayed.portfolio.balance == live.balance
    assert replayed.records == result.engine.journal.seq
    assert {k: o.status for k, o in replayed.orders.orders.items()} == {
        k: o.status for k, o in result.engine.om.orders.items()}
    assert len(replayed.orders.trips.closed) == result.trades.height


def test_journal_without_path_keeps_same_hash(journaled: tuple[heron.BacktestResult, Path]
                                              ) -> None:
    in_memory = heron.backtest(DATA, strategy="sma_cross", symbol="BTC-PERP",
                               params={"fast": 10, "slow": 50})
    assert in_memory.journal_sha256 == journaled[0].journal_sha256


def test_journal_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="not found"):
        JournalReader(tmp_path / "absent.sqlite")


def test_journal_garbage_file_is_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(b"this is not a database" * 50)
    with pytest.raises(JournalError, match="not an SQLite database"):
        JournalReader(path)


def test_journal_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match="not a heron journal"):
        JournalReader(path)


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def test_journal_truncated_rows_are_detected(tmp_path: Path,
                                             journaled: tuple[heron.BacktestResult, Path]
                                             ) -> None:
    path = _copy(journaled[1], tmp_path / "cut.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE seq > (SELECT MAX(seq) - 3 FROM records)")
    with pytest.raises(JournalError, match="truncated or altered"):
        JournalReader(path)


def test_journal_edited_payload_is_detected(tmp_path: Path,
                                            journaled: tuple[heron.BacktestResult, Path]) -> None:
    path = _copy(journaled[1], tmp_path / "edited.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET payload = "
                     "(SELECT payload FROM records WHERE seq = 11) WHERE seq = 10")
    with pytest.raises(JournalError, match="truncated or altered"):
        JournalReader(path)


def test_journal_missing_middle_record_is_named(tmp_path: Path,
                                                journaled: tuple[heron.BacktestResult, Path]
                                                ) -> None:
    path = _copy(journaled[1], tmp_path / "hole.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE seq = 5")
    with pytest.raises(JournalError, match="record 5 missing"):
        JournalReader(path)


def test_journal_file_cut_short_is_corrupt(tmp_path: Path,
                                           journaled: tuple[heron.BacktestResult, Path]) -> None:
    data = journaled[1].read_bytes()
    path = tmp_path / "short.sqlite"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(JournalError, match=r"corrupt|truncated"):
        JournalReader(path)


@pytest.mark.parametrize(("version", "message"), [
    (SCHEMA_VERSION + 1, "newer than this heron reads"),
    (0, "older than .* has no migration"),
])
def test_journal_other_schema_versions_are_refused_with_reason(
        tmp_path: Path, journaled: tuple[heron.BacktestResult, Path], version: int,
        message: str) -> None:
    path = _copy(journaled[1], tmp_path / f"v{version}.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    with pytest.raises(JournalError, match=message):
        JournalReader(path)


def _cmd(ts: int) -> SubmitOrder:
    return SubmitOrder(ts, ts, f"H-x-{ts}", "x", "A.SIM", OrderSide.BUY, OrderType.MARKET, 1)


def test_journal_unsealed_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "open.sqlite"
    writer = JournalWriter(path, {"kind": "test"}, batch_size=1)
    writer.append(_cmd(1))
    tmp_files = list(tmp_path.iterdir())
    assert not path.exists()  # nothing at the target until the journal is sealed
    assert len(tmp_files) == 1
    with pytest.raises(JournalError, match="never sealed"):
        JournalReader(tmp_files[0])
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_journal_round_trips_records_in_order(tmp_path: Path) -> None:
    path = tmp_path / "small.sqlite"
    writer = JournalWriter(path, {"kind": "test"}, batch_size=2)
    records = [_cmd(1), OrderAccepted(2, 2, "H-x-1", "A.SIM", "V1"), _cmd(3)]
    for rec in records:
        writer.append(rec)
    sha = writer.close()
    reader = JournalReader(path)
    assert reader.sha256 == sha
    assert reader.header == {"kind": "test"}
    assert list(reader.records()) == records
