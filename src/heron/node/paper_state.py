"""A paper run's state directory: what it is, what it consumed, what it decided.

::

    STATE/run.json        the run: strategy, parameters, venue, symbols, streams, cash,
                          bar, fees, the instruments as the venue defined them at start,
                          and where its journal goes (with --db: the database, no
                          password, and the run's id there, fixed for the state's life)
    STATE/inputs.bin      every market event the run consumed (heron.node.input_log)
    STATE/journal.sqlite  every command and event (rebuilt from the inputs at each start,
                          then appended; sealed on a clean stop); with --db, the run's
                          rows in that database instead (heron.node.run_journal)
    STATE/lock            held while a process runs the state: one run per directory

Restarting with the same directory resumes the run; the options given must match the
ones it started with (or be left out: they are read back).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar, cast

import msgspec

from heron.core.files import write_bytes_atomic
from heron.errors import InputError
from heron.model.instrument import Instrument
from heron.node.run_journal import RunJournal, choose_run_id


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a paper run is; two starts of one state must agree on all of it."""

    strategy: str
    venue: str
    symbols: list[str]
    streams: list[str] = msgspec.field(default_factory=lambda: ["trades"])
    params: dict[str, str] = msgspec.field(default_factory=dict)
    cash: str = "10000"
    bar: str = "1m"
    fee_bps: str | None = None
    slippage_bps: str = "0"
    warmup: int = 0   # closed bars fetched from the venue's history at the first start
    risk: str | None = None  # the --risk file's text (heron.risk.config), kept for restarts


C = TypeVar("C", bound=PaperConfig)


class _Where(msgspec.Struct, frozen=True):
    """The journal fields of ``run.json``, read without its config."""

    run_id: str = ""
    journal: str = ""


class _Stored(msgspec.Struct, Generic[C], frozen=True):
    config: C
    instruments: list[dict[str, Any]]
    run_id: str = ""   # the journal's run id in a --db database ("": none yet)
    journal: str = ""  # that database as shown (no password); "": STATE/journal.sqlite


class PaperState:
    """The files of one paper run; holds its lock while open."""

    #: what ``run.json`` holds (a live run's state stores a :class:`LiveConfig`)
    config_type: type[PaperConfig] = PaperConfig
    kind = "paper"

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create state directory {directory}: {exc.strerror}; "
                             "pass a writable --state") from None
        self._lock: BinaryIO = open(directory / "lock", "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(f"{directory} is in use by another heron paper run; stop it "
                             "first or pass another --state") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()).encode())
        self._lock.flush()
        #: where the run journals, once :meth:`open_journal` said (else the state's file)
        self.run_journal: RunJournal | None = None

    @property
    def inputs(self) -> Path:
        return self.dir / "inputs.bin"

    @property
    def journal(self) -> Path:
        return self.dir / "journal.sqlite"

    def stored(self) -> tuple[PaperConfig, list[Instrument]] | None:
        path = self.dir / "run.json"
        if not path.exists():
            return None
        try:
            kind = cast(Any, _Stored)[self.config_type]  # a runtime type argument
            stored = msgspec.json.decode(path.read_bytes(), type=kind)
        except msgspec.DecodeError as exc:
            raise InputError(f"{path} is not a heron {self.kind} run ({exc}); pass another "
                             "--state") from None
        return stored.config, [Instrument.from_dict(d) for d in stored.instruments]

    def save(self, config: PaperConfig, instruments: list[Instrument]) -> None:
        run_id, journal = self._journal_info()
        if self.run_journal is not None:
            run_id = self.run_journal.run_id or run_id
            journal = self.run_journal.shown
        body = _Stored(config, [i.to_dict() for i in instruments], run_id, journal)
        write_bytes_atomic(self.dir / "run.json", msgspec.json.format(msgspec.json.encode(body)))

    def _journal_info(self) -> tuple[str, str]:
        return stored_journal(self.dir)

    def open_journal(self, db: str | None, run_id: str | None) -> RunJournal:
        """Where this run journals (``--db``, ``--run-id``): the state's own file, or the
        run id stored in ``run.json`` (else ``run_id``, else a new one) in ``db``. A live
        run must keep journaling where it began: its journal is its record."""
        from heron.core.db import display, sqlalchemy_url

        stored_id, stored_db = self._journal_info()
        shown = "" if db is None else display(db)
        if self.kind == "live" and (self.dir / "run.json").exists() and shown != stored_db:
            raise InputError(f"this live run journals to {stored_db or 'its state directory'}"
                             f", not {shown or 'its state directory'}; pass the same --db (or "
                             "HERON_DB) to resume, or pass another --state")
        if db is not None:
            from heron.core.journal_store import check_database

            sqlalchemy_url(db)  # an unknown scheme: refused now, by name
            check_database(db)  # unreachable: refused before the venue is dialled
        self.run_journal = RunJournal(self.dir, db, choose_run_id(self.kind, stored_id,
                                                                 run_id))
        if (self.dir / "run.json").exists() and (self.run_journal.run_id or stored_id,
                                                 shown) != (stored_id, stored_db):
            stored = self.stored()
            assert stored is not None
            self.save(*stored)
        return self.run_journal

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()


def stored_journal(state_dir: Path) -> tuple[str, str]:
    """A state's journal run id and database as ``run.json`` keeps them (``""`` each when
    none: the state's own ``journal.sqlite``); read without taking the state's lock."""
    path = state_dir / "run.json"
    if not path.exists():
        return "", ""
    try:
        got = msgspec.json.decode(path.read_bytes(), type=_Where)
    except msgspec.DecodeError:
        return "", ""  # PaperState.stored() names the problem
    return got.run_id, got.journal


def resolve_config(given: dict[str, Any], stored: PaperConfig | None) -> PaperConfig:
    """The run's config from the options ``given`` (``None`` = not given) and the stored.

    A new state needs strategy, venue and symbols; a stored one fills what was left
    out and refuses what differs, naming the option.
    """
    chosen = {k: v for k, v in given.items() if v is not None}
    if stored is None:
        missing = [k for k in ("strategy", "venue", "symbols") if k not in chosen]
        if missing:
            raise InputError(f"a new paper run needs --{missing[0].rstrip('s')}; pass "
                             "--strategy, --venue and --symbol")
        return PaperConfig(**chosen)
    for key, given_value in chosen.items():
        old = getattr(stored, key)
        value = {**stored.params, **given_value} if key == "params" else given_value
        if value != old:
            raise InputError(f"this state was started with {key}={old!r}, not {value!r}; "
                             "leave the option out to resume, or pass another --state")
    return stored
