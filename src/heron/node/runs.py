"""The run manager behind ``heron serve``: backtest, paper and live runs as processes.

A run is created from a config (:mod:`heron.node.run_config`), gets a directory
``HOME/runs/<run_id>/`` and a row in the registry (:mod:`heron.node.run_registry`), and
runs in a process of its own under the wrapper :mod:`heron.node.run_process`, so a run
that crashes takes nothing else down. The wrapper records the run's end in ``exit.json``;
:meth:`RunManager.refresh` turns that into the run's final status. Nothing about a run
lives only in the server's memory: a server started again on the same home finds the
runs that are still going (their wrapper's PID is alive and is theirs) and reaps them
when they end, and marks failed the ones whose wrapper vanished without an exit.

Statuses: ``created`` -> ``running`` -> ``finished`` | ``failed``; a stop request makes
it ``stopping`` -> ``stopped``; a backtest killed ends ``killed``. Killing a paper or
live run is the kill switch (:mod:`heron.risk.intervention`): its trading state goes to
HALTED while the process keeps running, recorded in its journal and audit log.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO, Literal

import msgspec

from heron.core.db import is_postgres
from heron.core.files import write_bytes_atomic, write_text_atomic
from heron.errors import InputError, RunConflict, RunNotFound, VenueUnavailable
from heron.node.paper_state import stored_journal
from heron.node.run_config import RunConfig, command_args, parse_config
from heron.node.run_process import COMMAND_FILE, EXIT_FILE, PID_FILE, Command, ExitInfo
from heron.node.run_registry import RunRecord, RunRegistry

RunKind = Literal["backtest", "paper", "live"]
RunStatus = Literal["created", "running", "stopping", "finished", "failed", "stopped",
                    "killed"]
PREFIX = {"backtest": "bt", "paper": "pp", "live": "lv"}
ACTIVE = ("running", "stopping")
#: a run claimed for start this recently may not have its PID recorded yet
START_GRACE_NS = 60_000_000_000
ERROR_CHARS = 400
INTERRUPTED = 130
#: wrappers started by a manager that was closed while they ran: a run outlives its
#: server by design, and holding the handle until it ends means the process is reaped
#: (no zombie) and never reported as leaked
_DETACHED: list[subprocess.Popen[bytes]] = []


class RunManager:
    """Creates, starts, stops and watches the runs of one server home."""

    def __init__(self, home: Path, *, db: str | None = None, python: str = sys.executable,
                 root: Path | None = None) -> None:
        self.home = Path(home).resolve()
        self.runs_dir = self.home / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.db = db
        self.location: str | Path = db if db is not None else self.home / "server.sqlite"
        self.registry = RunRegistry(self.location)
        self.python = python
        self.root = Path(root or Path.cwd()).resolve()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()

    # -- creating and starting -----------------------------------------------------------------
    def create(self, kind: str, config: str, *, name: str | None = None) -> RunRecord:
        """A new run (status ``created``) from a checked config; nothing runs yet."""
        parsed = parse_config(kind, config)
        run_id = new_run_id(kind)
        run_dir = self.runs_dir / run_id
        run_dir.mkdir(parents=True)
        write_text_atomic(run_dir / "run.toml", config)
        write_bytes_atomic(run_dir / COMMAND_FILE, msgspec.json.encode(
            self._command(parsed, run_id, run_dir)))
        record = RunRecord(run_id=run_id, kind=kind, name=(name or "").strip()[:200]
                           or parsed.default_name(), status="created", config=config,
                           created_at=time.time_ns(), started_at=None, ended_at=None,
                           pid=None, exit_code=None, error=None, directory=str(run_dir))
        self.registry.insert(record)
        return record

    def _command(self, config: RunConfig, run_id: str, run_dir: Path) -> Command:
        journal_db = self.db if self.db is not None and is_postgres(self.db) else None
        args = command_args(config, root=self.root, run_dir=run_dir, journal_db=journal_db,
                            run_id=run_id)
        return Command(argv=[self.python, "-m", "heron", *args], cwd=str(self.root))

    def start(self, run_id: str) -> RunRecord:
        """Start a created run in its own process; RunConflict if it was ever started."""
        with self._lock:
            record = self.get(run_id)
            if not self.registry.update(run_id, ["created"], status="running",
                                        started_at=time.time_ns()):
                raise RunConflict(f"run {run_id} was already started (status "
                                  f"{self.get(run_id).status}); create a new run to run it "
                                  "again")
            run_dir = Path(record.directory)
            try:
                with open(run_dir / "stderr.log", "ab") as log:  # the wrapper's own errors
                    child = subprocess.Popen(
                        [self.python, "-m", "heron.node.run_process", str(run_dir)],
                        cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=log, start_new_session=True, env=self._environment())
            except OSError as exc:
                self.registry.update(run_id, ["running"], status="failed",
                                     ended_at=time.time_ns(),
                                     error=f"could not start the run process: {exc}")
                return self.get(run_id)
            self._children[run_id] = child
            self.registry.update(run_id, ["running"], pid=child.pid)
            return self.get(run_id)

    def _environment(self) -> dict[str, str]:
        """The run's environment: the server's, with the journal database in ``HERON_DB``
        (never in the argv, which any local user can read) for PostgreSQL runs."""
        env = {k: v for k, v in os.environ.items() if k != "HERON_DB"}
        if self.db is not None and is_postgres(self.db):
            env["HERON_DB"] = self.db
        return env

    # -- stopping --------------------------------------------------------------------------------
    def stop(self, run_id: str) -> RunRecord:
        """Ask a running run to stop: SIGINT to paper/live (a clean stop), SIGTERM to a
        backtest. It is ``stopping`` until its process has ended, then ``stopped``."""
        record = self.get(run_id)
        sig = signal.SIGTERM if record.kind == "backtest" else signal.SIGINT
        return self._end(record, "stop", sig)

    def kill(self, run_id: str, *, flatten: bool = False, actor: str, reason: str
             ) -> RunRecord:
        """Paper/live: the kill switch (HALTED within one loop turn, in the audit log);
        ``flatten`` closes positions first. Backtest: end the process (``killed``)."""
        record = self.get(run_id)
        if record.kind == "backtest":
            return self._end(record, "kill", signal.SIGTERM)
        self._intervene(record, "flatten" if flatten else "halt", actor=actor, reason=reason)
        return self.get(run_id)

    def resume(self, run_id: str, *, actor: str, reason: str) -> RunRecord:
        """An operator's resume of a halted paper or live run (back to READY)."""
        record = self.get(run_id)
        if record.kind == "backtest":
            raise RunConflict(f"run {run_id} is a backtest; only paper and live runs resume")
        self._intervene(record, "resume", actor=actor, reason=reason)
        return self.get(run_id)

    def _end(self, record: RunRecord, request: str, sig: signal.Signals) -> RunRecord:
        with self._lock:
            run_id = record.run_id
            self.refresh()  # a run that has just ended is reaped as it ended, not "stopped"
            record = self.get(run_id)
            if not self.registry.update(run_id, ["running"], status="stopping",
                                        requested=request):
                if record.status == "stopping":  # asked again: say it again
                    self._signal(record, sig)
                    return self.get(run_id)
                raise RunConflict(f"run {run_id} is not running (status {record.status}); "
                                  "only a running run can be stopped or killed")
            self._signal(record, sig)
            return self.get(run_id)

    def _signal(self, record: RunRecord, sig: signal.Signals) -> None:
        if record.pid is not None and self._is_ours(record.run_id, record.pid,
                                                    record.directory):
            _await_handlers(Path(record.directory))
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, sig)

    def _intervene(self, record: RunRecord, action: str, *, actor: str, reason: str) -> None:
        from heron.risk.intervention import intervene

        if record.status != "running":
            raise RunConflict(f"run {record.run_id} is not running (status {record.status}); "
                              "the kill switch acts on a running paper or live run")
        state = self.state_dir(record.run_id)
        if state is None or not (state / "lock").exists():
            raise RunConflict(f"run {record.run_id} has not started trading yet; try again "
                              "in a moment")
        try:
            done = intervene(state, action, actor=actor, reason=reason, wait_s=5.0,
                             audit_run=record.run_id, db=self.db)
        except (VenueUnavailable, InputError) as exc:
            raise RunConflict(f"run {record.run_id}: {exc}") from None
        if done.audit_error is not None:
            import logging

            logging.getLogger(__name__).warning("run %s: the audit log did not record %s: %s",
                                                record.run_id, action, done.audit_error)

    # -- reading ---------------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        record = self.registry.get(run_id)
        if record is None:
            raise RunNotFound(f"no run {run_id!r}; list the runs with GET /api/runs or "
                              "`heron status`")
        return record

    def list(self, *, status: str | None = None, kind: str | None = None,
             limit: int = 100, after: str | None = None) -> list[RunRecord]:
        """Runs newest first; ``after`` is the last run id of the previous page."""
        return self.registry.select(status=status, kind=kind, limit=limit, after=after)

    def counts(self) -> dict[str, int]:
        return self.registry.counts()

    def run_dir(self, run_id: str) -> Path:
        return Path(self.get(run_id).directory)

    def state_dir(self, run_id: str) -> Path | None:
        """A paper or live run's ``--state`` directory; None for a backtest."""
        record = self.get(run_id)
        return None if record.kind == "backtest" else Path(record.directory) / "state"

    def journal_location(self, run_id: str) -> tuple[str, str | None]:
        """Where the run's journal is: (location, journal run id or None for ``main``).

        A run in a PostgreSQL server database is its run id there (a paper or live run
        started before heron journaled those there keeps its state's file). A backtest's
        SQLite journal appears whole at its end (it is written to a hidden temporary file
        until sealed); a paper or live run's is written in place as it goes."""
        record = self.get(run_id)
        run_dir = Path(record.directory)
        if record.kind != "backtest":
            state = run_dir / "state"
            if self.db is not None and is_postgres(self.db):
                stored_id, database = stored_journal(state)
                if database or not (state / "run.json").exists():
                    return self.db, stored_id or run_id
            return str(state / "journal.sqlite"), None
        if self.db is not None and is_postgres(self.db):
            return self.db, run_id
        return str(run_dir / "journal.sqlite"), None

    # -- watching --------------------------------------------------------------------------------
    def refresh(self) -> builtins.list[RunRecord]:
        """Reap ended runs (their ``exit.json``), fail the ones whose wrapper died without
        one, adopt the ones still alive; the records whose status changed."""
        changed = []
        with self._lock:
            self._reap_children()
            for record in self.registry.active():
                new = self._check(record)
                if new is not None:
                    changed.append(new)
        return changed

    def _check(self, record: RunRecord) -> RunRecord | None:
        run_dir = Path(record.directory)
        info = _read_exit(run_dir)
        if info is None:
            if record.pid is None:
                if time.time_ns() - (record.started_at or 0) < START_GRACE_NS:
                    return None  # being started by this server right now
            elif self._is_ours(record.run_id, record.pid, record.directory):
                return None      # still running (found again after a restart, maybe)
            info = _read_exit(run_dir)  # it may have ended just now
        if info is None:
            return self._vanished(record)
        status = final_status(self.registry.requested(record.run_id), info)
        error = None if status in ("finished", "stopped", "killed") else last_error(run_dir)
        if self.registry.update(record.run_id, ACTIVE, status=status, ended_at=info.ended_at,
                                exit_code=info.code, error=error):
            return self.get(record.run_id)
        return None

    def _vanished(self, record: RunRecord) -> RunRecord | None:
        """The wrapper is gone and left no exit: end whatever is left of its process group
        (a run must not trade unseen) and fail the run, saying so."""
        if record.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGTERM)
        error = (f"the run's process (pid {record.pid}) ended without recording how (killed, "
                 "or the machine restarted); see stderr.log in "
                 f"{record.directory}")
        if self.registry.update(record.run_id, ACTIVE, status="failed", ended_at=time.time_ns(),
                                error=error):
            return self.get(record.run_id)
        return None

    def _is_ours(self, run_id: str, pid: int, directory: str) -> bool:
        """Whether the run's wrapper is alive (a reused PID is someone else's)."""
        child = self._children.get(run_id)
        if child is not None:
            return child.poll() is None
        return wrapper_alive(pid, Path(directory))

    def _reap_children(self) -> None:
        """Wait for the wrappers that have exited (theirs is a zombie until then)."""
        for run_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[run_id]
        _DETACHED[:] = [child for child in _DETACHED if child.poll() is None]

    def close(self) -> None:
        """Let go of the database (runs keep running: a new manager finds them again)."""
        self._reap_children()
        _DETACHED.extend(self._children.values())
        self._children.clear()
        self.registry.close()


class HomeLock:
    """``HOME/server.lock``, held by the one ``heron serve`` of a home while it runs (the
    kernel frees it when the process dies; run processes do not inherit it).

    Two servers on one home would each start, reap and announce the same runs. And a
    ``heron status`` reaps runs itself only when no server holds the lock: a server reaps
    them within a second anyway, and announces what changed to its streams."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / "server.lock"
        self._file: BinaryIO | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        """The PID written by the holder ("?" when unreadable)."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def new_run_id(kind: str) -> str:
    """``bt-20261121-143005-3f2a``: kind, UTC time to the second, 4 random hex digits."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{PREFIX[kind]}-{stamp}-{secrets.token_hex(2)}"


def final_status(requested: str | None, info: ExitInfo) -> str:
    """The status of an ended run, from what was asked of it and how it ended."""
    if requested == "kill":
        return "killed"
    if requested == "stop" and (info.code in (0, INTERRUPTED) or info.signal is not None):
        return "stopped"   # 130: heron's exit on Ctrl-C, a run stopped while starting
    return "finished" if info.code == 0 else "failed"


def last_error(run_dir: Path) -> str:
    """The run's last stderr line (heron prints its error as one line), or the exit."""
    try:
        with open(run_dir / "stderr.log", "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            lines = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    for line in reversed(lines):
        if line.strip():
            return line.strip().removeprefix("error: ")[:ERROR_CHARS]
    info = _read_exit(run_dir)
    return f"the run exited with code {info.code if info else '?'} and printed no error"


def _read_exit(run_dir: Path) -> ExitInfo | None:
    try:
        return msgspec.json.decode((run_dir / EXIT_FILE).read_bytes(), type=ExitInfo)
    except (FileNotFoundError, msgspec.DecodeError):
        return None


def wrapper_alive(pid: int, run_dir: Path) -> bool:
    """Whether ``pid`` is the wrapper of ``run_dir``: alive, not a zombie, and (where
    ``/proc`` tells) running ``heron.node.run_process`` on that directory."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return False
        return b"heron.node.run_process" in cmdline and str(run_dir).encode() in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True



def _await_handlers(run_dir: Path, timeout_s: float = 10.0) -> None:
    """Wait until a just-started wrapper handles signals (it writes its ``pid`` file
    then), so a stop sent right after a start ends the run cleanly with an exit record."""
    deadline = time.monotonic() + timeout_s
    while not (run_dir / PID_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.01)

__all__ = ["HomeLock", "RunConflict", "RunKind", "RunManager", "RunNotFound", "RunRecord",
           "RunStatus", "final_status", "last_error", "new_run_id", "wrapper_alive"]
