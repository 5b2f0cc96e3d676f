"""A paper or live run's journal file across restarts (``RunJournal``): the old journal
stays whole until the new one holds everything, whatever state a killed process left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heron.core.journal import JournalWriter, decode_record
from heron.core.journal_store import JournalReader
from heron.errors import JournalError
from heron.model.events import OrderSide, OrderType, SubmitOrder
from heron.node.run_journal import RunJournal

# A writer killed in the middle of a commit: its changes have already reached the file
# (a one-page cache spills them) and the rollback journal beside it is "hot".
KILLED_MID_COMMIT = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=DELETE")
conn.execute("PRAGMA cache_size=1")
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM records")
conn.execute("CREATE TABLE junk (x BLOB)")
for _ in range(200):
    conn.execute("INSERT INTO junk VALUES (randomblob(4000))")
os.kill(os.getpid(), signal.SIGKILL)
"""


def _orders(first: int, n: int) -> list[SubmitOrder]:
    return [SubmitOrder(ts, ts, f"H-x-{ts}", "x", "A.SIM", OrderSide.BUY, OrderType.MARKET, 1)
            for ts in range(first, first + n)]


def _write(path: Path, records: list[SubmitOrder], *, seal: bool) -> None:
    writer = JournalWriter(path, {"kind": "paper"}, batch_size=1, in_place=True)
    for record in records:
        writer.append(record)
    if seal:
        writer.close()
    else:
        writer.abort()  # in place: what was committed stays, as after a kill


def test_a_writer_killed_mid_commit_leaves_the_committed_journal_and_a_clean_new_file(
        tmp_path: Path) -> None:
    old = _orders(1, 7)
    _write(tmp_path / "journal.sqlite", old, seal=False)
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_COMMIT,
                             str(tmp_path / "journal.sqlite")], check=False, timeout=60)
    assert killed.returncode == -9
    assert (tmp_path / "journal.sqlite-journal").exists()  # hot: the commit never happened

    journal = RunJournal(tmp_path)
    assert [decode_record(p) for p in journal.previous()] == old
    assert not (tmp_path / "journal.sqlite-journal").exists()

    new = _orders(100, 9)  # the restarted run's journal, under the old file's name
    writer = JournalWriter(journal.location, {"kind": "paper"}, batch_size=1, in_place=True)
    for record in new:
        writer.append(record)
    journal.complete(writer)
    writer.close()
    assert list(JournalReader(tmp_path / "journal.sqlite").records()) == new  # verified, sealed
    assert not journal.prev.exists()


def test_a_restart_cut_off_before_its_journal_was_complete_keeps_the_set_aside_one(
        tmp_path: Path) -> None:
    old = _orders(1, 5)
    _write(tmp_path / "journal.sqlite", old, seal=False)
    first = RunJournal(tmp_path)
    assert [decode_record(p) for p in first.previous()] == old  # set aside as prev
    _write(tmp_path / "journal.sqlite", old[:2], seal=False)  # the rebuild, killed early

    again = RunJournal(tmp_path)
    assert [decode_record(p) for p in again.previous()] == old  # not the partial rebuild
    assert not (tmp_path / "journal.sqlite").exists()


def test_a_journal_file_that_is_not_a_database_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "journal.sqlite").write_bytes(b"not a database " * 100)
    with pytest.raises(JournalError, match=r"journal.sqlite: not a readable journal .*"
                       r"another --state") as info:
        RunJournal(tmp_path).previous()
    assert "\n" not in str(info.value)
    assert (tmp_path / "journal.sqlite").exists()  # left where it was, for the user
