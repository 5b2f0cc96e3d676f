"""The run wrapper (``python -m heron.node.run_process RUN_DIR``) as a real process: it
runs command.json's argv with its output in the logs, passes SIGINT/SIGTERM on, and
always records how the run ended in exit.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec

from heron.node.run_process import Command
from managed_runs import child_pids, wait_until

HANDLES_TERM = """
import signal, sys, time
def stop(signum, frame):
    print("got", signum, flush=True)
    sys.exit(5)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
open("ready", "w").close()
time.sleep(120)
"""


def _wrapper(run_dir: Path, argv: list[str]) -> subprocess.Popen[bytes]:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "command.json").write_bytes(msgspec.json.encode(
        Command(argv=argv, cwd=str(run_dir))))
    return subprocess.Popen([sys.executable, "-m", "heron.node.run_process", str(run_dir)],
                            start_new_session=True)


def _exit(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "exit.json").read_text())
    return data


def test_the_run_output_and_exit_code_are_recorded(tmp_path: Path) -> None:
    proc = _wrapper(tmp_path, [sys.executable, "-c",
                               "import sys; print('hello'); print('bad', file=sys.stderr); "
                               "sys.exit(3)"])
    assert proc.wait(timeout=60) == 0
    info = _exit(tmp_path)
    assert (info["code"], info["signal"]) == (3, None)
    assert isinstance(info["ended_at"], int) and info["ended_at"] > 0
    assert (tmp_path / "stdout.log").read_text() == "hello\n"
    assert (tmp_path / "stderr.log").read_text() == "bad\n"
    assert int((tmp_path / "pid").read_text()) == proc.pid
    assert not list(tmp_path.glob(".*.tmp"))   # written atomically: no temporary left


def test_the_run_is_told_its_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    proc = _wrapper(run_dir, [sys.executable, "-c",
                              "import os; print(os.environ['HERON_RUN_DIR'])"])
    assert proc.wait(timeout=60) == 0
    assert (run_dir / "stdout.log").read_text() == f"{run_dir.resolve()}\n"


def test_sigterm_and_sigint_are_passed_to_the_run(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        run_dir = tmp_path / sig.name
        proc = _wrapper(run_dir, [sys.executable, "-c", HANDLES_TERM])
        try:
            wait_until(lambda d=run_dir: (d / "ready").exists(), "the run to start")  # type: ignore[misc]
            os.kill(proc.pid, sig)
            assert proc.wait(timeout=60) == 0   # the wrapper outlives the signal
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert (_exit(run_dir)["code"], _exit(run_dir)["signal"]) == (5, None)
        assert (run_dir / "stdout.log").read_text() == f"got {int(sig)}\n"


def test_a_run_ended_by_a_signal_says_which(tmp_path: Path) -> None:
    proc = _wrapper(tmp_path, ["sleep", "120"])
    try:
        wait_until((tmp_path / "pid").exists, "the wrapper to start")
        wait_until(lambda: child_pids(proc.pid), "the run to start")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _exit(tmp_path)["code"] == 128 + signal.SIGTERM
    assert _exit(tmp_path)["signal"] == "SIGTERM"


def test_a_command_that_cannot_start_is_recorded(tmp_path: Path) -> None:
    proc = _wrapper(tmp_path, [str(tmp_path / "no-such-program")])
    assert proc.wait(timeout=60) == 0
    assert _exit(tmp_path)["code"] == 127
    assert "cannot start the run" in (tmp_path / "stderr.log").read_text()


def test_usage_without_a_run_directory(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "heron.node.run_process"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "usage" in done.stderr
