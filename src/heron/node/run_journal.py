"""Where a paper or live run's journal lives, and how a restart replaces it.

By default the journal is the state directory's own file, ``STATE/journal.sqlite``. With
``--db URL`` it is one run in a shared database (PostgreSQL, or a SQLite file given as
``sqlite:///PATH``), named by a run id fixed for the life of the state directory
(``STATE/run.json``).

Either way a restart writes a *new* journal -- a paper run rebuilds it from its inputs, a
live run re-journals what the previous process committed -- and the old one must stay
whole until the new one holds everything:

* file: the old file is set aside as ``journal.prev.sqlite`` and removed once the new
  one is complete. A restart that finds ``journal.prev.sqlite`` still there was itself cut
  off before its new journal was complete: the set-aside file is the journal, and the
  partial one is dropped. A process killed in the middle of a commit leaves a *hot*
  rollback journal (``journal.sqlite-journal``) that SQLite finds by the database's name;
  it is rolled back into its own file before that file is moved, or the next file of
  that name would receive the old file's pages;
* database: the new journal is written under a scratch run id (``<run id>~rebuild``);
  once complete, one transaction deletes the run's old rows and gives the scratch rows
  its id (:meth:`heron.core.journal.JournalWriter.adopt`). A crash before that commit
  leaves the old journal (the scratch rows are dropped at the next start), after it the
  new one; other runs in the database are never touched.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from heron.core.db import display, sqlite_path
from heron.core.journal import JournalWriter, new_run_id
from heron.errors import JournalError

SCRATCH = "~rebuild"


class RunJournal:
    """One paper or live run's journal location: a state file or a run in a database."""

    def __init__(self, state_dir: Path, db: str | None = None, run_id: str = "") -> None:
        self.db = db
        self.file = state_dir / "journal.sqlite"
        self.prev = state_dir / "journal.prev.sqlite"
        self.run_id = run_id if db is not None else ""

    @property
    def location(self) -> str | Path:
        """What the engine's journal writes to (and the writer lock is keyed on)."""
        return self.db if self.db is not None else self.file

    @property
    def writer_run_id(self) -> str | None:
        """The run id the engine's new journal is written under until it is complete."""
        return self.run_id + SCRATCH if self.db is not None else None

    @property
    def shown(self) -> str:
        """The database as ``run.json`` keeps it (no password); ``""`` for the file."""
        return "" if self.db is None else display(self.db)

    @property
    def kept(self) -> str:
        """Where the old journal stays while the new one is written (for messages)."""
        return self.prev.name if self.db is None else f"run {self.run_id} in {self.shown}"

    def describe(self) -> str:
        """Where the journal is, for the line a run prints at start (no password)."""
        if self.db is None:
            return str(self.file)
        return f"{display(self.db)} run {self.run_id}"

    def previous(self) -> list[bytes]:
        """What the previous process committed (sealed or not), in order; the old
        journal stays whole until :meth:`complete`."""
        from heron.core.journal_store import committed_payloads, resume_payloads

        if self.db is not None:
            shared = sqlite_path(self.db)
            if shared is not None:
                roll_back_hot_journal(shared)
            return resume_payloads(self.db, self.run_id, self.run_id + SCRATCH)
        roll_back_hot_journal(self.file)
        if self.prev.exists():  # the last restart never completed: prev is the journal
            self.file.unlink(missing_ok=True)
        elif self.file.exists():
            self.file.replace(self.prev)
        return committed_payloads(self.prev) if self.prev.exists() else []

    def complete(self, journal: JournalWriter) -> None:
        """The new journal holds everything the old one did: it replaces the old."""
        if self.db is not None:
            journal.adopt(self.run_id)
        else:
            journal.flush()
            self.prev.unlink(missing_ok=True)


def roll_back_hot_journal(path: Path) -> None:
    """Undo the transaction a killed writer left half-done in the SQLite file ``path``.

    SQLite rolls a hot journal back when a read-write connection first reads the file;
    heron's readers open journals read-only, and a move would strand the journal, so
    this is done here, before either."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path}: not a readable journal ({exc}); move it away, or "
                           "pass another --state") from None


def choose_run_id(kind: str, stored: str, given: str | None) -> str:
    """The run id of a state directory: the stored one, else ``given``, else a new one;
    a ``given`` one that differs from the stored is refused (exit 2)."""
    from heron.errors import InputError

    if given is not None and SCRATCH in given:
        raise InputError(f"--run-id {given!r}: a run id may not contain {SCRATCH!r}")
    if given is not None and not 0 < len(given) <= 64 - len(SCRATCH):
        raise InputError(f"--run-id {given!r}: give 1 to {64 - len(SCRATCH)} characters")
    if stored and given is not None and given != stored:
        raise InputError(f"this state journals as run {stored!r}, not {given!r}; leave "
                         "--run-id out to resume, or pass another --state")
    return stored or given or new_run_id(kind)


__all__ = ["SCRATCH", "RunJournal", "choose_run_id", "roll_back_hot_journal"]
