"""``python -m heron.node.run_process RUN_DIR``: the process that carries one managed run.

The run manager starts this wrapper in a session of its own (so a signal to the server's
terminal never reaches a run) and the wrapper starts the run's command
(``RUN_DIR/command.json``), output to ``stdout.log`` / ``stderr.log``. The wrapper exists
so that how a run ended is never lost: it outlives the run, waits for it and writes
``RUN_DIR/exit.json`` atomically (``{"code", "ended_at", "signal"}``), whether or not the
server that started it is still there. A server that restarts finds the wrapper's PID in
``RUN_DIR/pid`` (and in its registry) and the outcome in ``exit.json``.

SIGINT and SIGTERM sent to the wrapper are passed on to the run (a paper or live run
stops cleanly on either), and the wrapper keeps waiting for the run to end. A signal
that arrives before the run was started means the run never starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import msgspec

from heron.core.files import write_bytes_atomic

COMMAND_FILE = "command.json"
EXIT_FILE = "exit.json"
PID_FILE = "pid"
FORWARDED = (signal.SIGINT, signal.SIGTERM)


class Command(msgspec.Struct, frozen=True):
    """What the wrapper runs: the full argv and the folder to run it in."""

    argv: list[str]
    cwd: str


class ExitInfo(msgspec.Struct, frozen=True):
    """How the run ended: exit code (128 + n when killed by signal n) and when."""

    code: int
    ended_at: int
    signal: str | None


class _Forwarder:
    """Passes SIGINT/SIGTERM to the run; remembers one that came before it started."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.early: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.child is None:
            self.early = signum
        elif self.child.poll() is None:
            self.child.send_signal(signum)


def run(run_dir: Path) -> ExitInfo:
    """Run ``run_dir``'s command to its end; write and return its exit."""
    forward = _Forwarder()
    for signum in FORWARDED:
        signal.signal(signum, forward)
    command = msgspec.json.decode((run_dir / COMMAND_FILE).read_bytes(), type=Command)
    # written once the signals are handled: the manager waits for it before signalling,
    # so a stop right after a start is a clean stop, not a wrapper killed mid-import
    write_bytes_atomic(run_dir / PID_FILE, f"{os.getpid()}\n".encode())
    info = _supervise(command, run_dir, forward)
    write_bytes_atomic(run_dir / EXIT_FILE, msgspec.json.encode(info))
    return info


def _supervise(command: Command, run_dir: Path, forward: _Forwarder) -> ExitInfo:
    with open(run_dir / "stdout.log", "ab") as out, open(run_dir / "stderr.log", "ab") as err:
        if forward.early is not None:
            return _ended(128 + forward.early, forward.early)
        try:
            child = subprocess.Popen(command.argv, cwd=command.cwd, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=err,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1",
                                          "HERON_RUN_DIR": str(run_dir.resolve())})
        except OSError as exc:
            err.write(f"error: cannot start the run ({exc}); check the server's Python\n"
                      .encode())
            return _ended(127, None)
        forward.child = child
        if forward.early is not None:  # arrived while the run was being started
            child.send_signal(forward.early)
        code = child.wait()
    if code < 0:
        return _ended(128 - code, -code)
    return _ended(code, None)


def _ended(code: int, signum: int | None) -> ExitInfo:
    name = None if signum is None else signal.Signals(signum).name
    return ExitInfo(code=code, ended_at=time.time_ns(), signal=name)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m heron.node.run_process RUN_DIR", file=sys.stderr)
        return 2
    run(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
