"""The journal: deterministic, verifiable, replayable, and loud about damage, on both
backends (a SQLite file and a real PostgreSQL server: ``backend``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import heron
from heron.core.journal import SCHEMA_VERSION, JournalWriter
from heron.core.journal_store import JournalReader, committed_payloads
from heron.errors import JournalError
from heron.model.events import OrderAccepted, SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.replay import replay_journal
from journal_backend import Backend

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


def _run(journal: str, **kwargs: object) -> heron.BacktestResult:
    return heron.backtest(DATA, strategy="sma_cross", symbol="BTC-PERP", journal=journal,
                          params={"fast": 10, "slow": 50}, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Backend:
    folder = tmp_path_factory.mktemp("journal")
    if request.param == "sqlite":
        return Backend("sqlite", folder)
    return Backend("postgresql", folder, request.getfixturevalue("pg_url"))


@pytest.fixture(scope="module")
def journaled(backend: Backend) -> tuple[heron.BacktestResult, str]:
    location = backend.location("run")
    return _run(location), location


def test_journal_two_runs_are_byte_identical(backend: Backend,
                                             journaled: tuple[heron.BacktestResult, str]
                                             ) -> None:
    first, first_location = journaled
    again = backend.location("again")
    second = _run(again)
    assert second.journal_sha256 == first.journal_sha256
    assert backend.fingerprint(again) == backend.fingerprint(first_location)


def test_journal_hash_changes_when_the_run_changes(backend: Backend,
                                                   journaled: tuple[heron.BacktestResult, str]
                                                   ) -> None:
    other = _run(backend.location("other"), fee_bps="11")
    assert other.journal_sha256 != journaled[0].journal_sha256


def test_journal_replay_rebuilds_final_balances_exactly(
        journaled: tuple[heron.BacktestResult, str]) -> None:
    result, path = journaled
    replayed = replay_journal(path)
    live = result.engine.portfolio
    assert replayed.portfolio.snapshot() == live.snapshot()
    assert replayed.portfolio.balance == live.balance
    assert replayed.records == result.engine.journal.seq
    assert {k: o.status for k, o in replayed.orders.orders.items()} == {
        k: o.status for k, o in result.engine.om.orders.items()}
    assert len(replayed.orders.trips.closed) == result.trades.height


def test_journal_without_path_keeps_same_hash(journaled: tuple[heron.BacktestResult, str]
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


def test_journal_foreign_database_is_refused(backend: Backend) -> None:
    location = backend.location("foreign")
    backend.execute(location, "CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match="not a heron journal"):
        JournalReader(location)


def test_journal_unreachable_server_is_named() -> None:
    from conftest import closed_port

    with pytest.raises(JournalError, match="cannot open the journal database"):
        JournalReader(f"postgresql://heron@127.0.0.1:{closed_port()}/nothing")


def test_journal_unsupported_url_is_refused() -> None:
    with pytest.raises(JournalError, match="unsupported database 'mysql'"):
        JournalReader("mysql://user@host/db")


def test_journal_truncated_rows_are_detected(backend: Backend,
                                             journaled: tuple[heron.BacktestResult, str]
                                             ) -> None:
    location = backend.copy(journaled[1], "cut")
    backend.execute(location, "DELETE FROM records "
                    "WHERE seq > (SELECT MAX(seq) - 3 FROM records)")
    with pytest.raises(JournalError, match="truncated or altered"):
        JournalReader(location)


def test_journal_edited_payload_is_detected(backend: Backend,
                                            journaled: tuple[heron.BacktestResult, str]) -> None:
    location = backend.copy(journaled[1], "edited")
    backend.execute(location, "UPDATE records SET payload = "
                    "(SELECT payload FROM records WHERE seq = 11) WHERE seq = 10")
    with pytest.raises(JournalError, match="truncated or altered"):
        JournalReader(location)


def test_journal_missing_middle_record_is_named(backend: Backend,
                                                journaled: tuple[heron.BacktestResult, str]
                                                ) -> None:
    location = backend.copy(journaled[1], "hole")
    backend.execute(location, "DELETE FROM records WHERE seq = 5")
    with pytest.raises(JournalError, match="record 5 missing"):
        JournalReader(location)


def test_journal_file_cut_short_is_corrupt(
        tmp_path: Path, journaled: tuple[heron.BacktestResult, str]) -> None:
    if "://" in journaled[1]:
        pytest.skip("a file cut short is a SQLite failure; a server has no file to cut")
    data = Path(journaled[1]).read_bytes()
    path = tmp_path / "short.sqlite"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(JournalError, match=r"corrupt|truncated"):
        JournalReader(path)


@pytest.mark.parametrize(("version", "message"), [
    (SCHEMA_VERSION + 1, "newer than this heron reads"),
    (0, "older than .* has no migration"),
])
def test_journal_other_schema_versions_are_refused_with_reason(
        backend: Backend, journaled: tuple[heron.BacktestResult, str], version: int,
        message: str) -> None:
    location = backend.copy(journaled[1], f"v{version}")
    backend.execute(location, f"UPDATE meta SET value = '{version}' "
                    "WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match=message):
        JournalReader(location)


def _cmd(ts: int) -> SubmitOrder:
    return SubmitOrder(ts, ts, f"H-x-{ts}", "x", "A.SIM", OrderSide.BUY, OrderType.MARKET, 1)


def test_journal_unsealed_sqlite_file_is_reported(tmp_path: Path) -> None:
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


def test_journal_unsealed_run_is_reported_and_in_place_abort_keeps_it(backend: Backend
                                                                       ) -> None:
    location = backend.location("open")
    writer = JournalWriter(location, {"kind": "test"}, batch_size=1, in_place=True)
    writer.append(_cmd(1))
    writer.append(_cmd(2))
    with pytest.raises(JournalError, match="never sealed"):
        JournalReader(location)
    writer.abort()
    assert len(committed_payloads(location)) == 2  # in place: kept for the restart


def test_journal_round_trips_records_in_order(backend: Backend) -> None:
    location = backend.location("small")
    writer = JournalWriter(location, {"kind": "test"}, batch_size=2)
    records = [_cmd(1), OrderAccepted(2, 2, "H-x-1", "A.SIM", "V1"), _cmd(3)]
    for rec in records:
        writer.append(rec)
    sha = writer.close()
    reader = JournalReader(location)
    assert reader.sha256 == sha
    assert reader.header == {"kind": "test"}
    assert list(reader.records()) == records


def test_journal_flushed_off_the_loop_keeps_every_batch_in_order(backend: Backend) -> None:
    """Batches written on the worker thread while records keep coming, then the last one
    written by close(): the journal holds every record once, in order, sealed."""
    import asyncio

    location = backend.location("threaded")
    writer = JournalWriter(location, {"kind": "test"}, in_place=True)
    records = [_cmd(i) for i in range(1, 301)]

    async def trade() -> None:
        flushes = []
        for i, rec in enumerate(records):
            writer.append(rec)
            if i % 40 == 39:  # a flush in flight while the next records are appended
                flushes.append(asyncio.ensure_future(writer.flush_off_loop()))
                await asyncio.sleep(0)
        await asyncio.gather(*flushes)

    asyncio.run(trade())
    writer.append(_cmd(301))  # pending when the run stops: close() writes it
    sha = writer.close()
    reader = JournalReader(location)
    assert reader.sha256 == sha and reader.record_count == 301
    assert list(reader.records()) == [*records, _cmd(301)]


def test_a_flush_canceled_by_the_runs_stop_still_writes_its_batch(backend: Backend
                                                                   ) -> None:
    """A run stops by canceling its tasks, the 100 ms flush among them. Its batch was
    already taken from the writer: canceled while queued behind the batch before it, it
    used to be dropped, and close() then sealed a journal that lacked it (a clean stop
    left a journal that fails its own check: "truncated or altered")."""
    import asyncio

    location = backend.location("canceled")
    writer = JournalWriter(location, {"kind": "test"}, in_place=True)
    records = [_cmd(i) for i in range(1, 30_002)]

    async def stop_midway() -> None:
        for rec in records[:30_000]:
            writer.append(rec)
        first = asyncio.ensure_future(writer.flush_off_loop())   # a big batch, writing
        await asyncio.sleep(0)
        writer.append(records[30_000])
        second = asyncio.ensure_future(writer.flush_off_loop())  # queued behind it
        await asyncio.sleep(0)
        second.cancel()                                           # the run stops
        await asyncio.gather(first, second, return_exceptions=True)

    asyncio.run(stop_midway())
    writer.append(_cmd(30_002))
    sha = writer.close()
    reader = JournalReader(location)
    assert reader.sha256 == sha and reader.record_count == 30_002
    assert list(reader.records())[-3:] == [*records[-2:], _cmd(30_002)]


def test_journal_retaining_the_newest_records_keeps_every_one_on_disk(backend: Backend
                                                                       ) -> None:
    """A long-running run keeps only its newest records in memory; the file and the hash
    are those of an unbounded journal's."""
    location = backend.location("retained")
    writer = JournalWriter(location, {"kind": "test"}, in_place=True)
    unbounded = JournalWriter(None, {"kind": "test"})
    records = [_cmd(i) for i in range(1, 1001)]
    writer.append(records[0])
    writer.retain(50)
    assert list(writer.records) == records[:1]  # what it had is kept
    kept_sizes = []
    for i, rec in enumerate(records[1:], 1):
        writer.append(rec)
        kept_sizes.append(len(writer.records))
        if i % 100 == 99:
            writer.flush()  # a run's periodic flush, while records keep coming
    for rec in records:
        unbounded.append(rec)
    assert kept_sizes == [min(i + 1, 50) for i in range(1, 1000)]
    assert list(writer.records) == records[-50:]  # the newest, in order
    sha = writer.close()
    assert sha == unbounded.close()
    reader = JournalReader(location)
    assert reader.record_count == 1000 and list(reader.records()) == records


def test_journal_refuses_to_retain_no_records() -> None:
    writer = JournalWriter(None, {"kind": "test"})
    with pytest.raises(ValueError, match="at least 1 record"):
        writer.retain(0)
