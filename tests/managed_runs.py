"""Helpers for tests of managed runs (``heron serve``'s run manager): configs, a strategy
that takes as long as a test needs, waiting for a status, and ``heron serve`` itself as a
subprocess on a free loopback port, always stopped by its PID.

The slow strategy is written as a module into the run's root folder: a run's process
starts in the root (``python -m heron`` puts it on ``sys.path``), so ``slow_bars:Pause``
is importable there, as a user's own strategy module would be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from heron.node.runs import RunManager, RunRecord

REPO = Path(__file__).resolve().parents[1]
TINY_BARS = REPO / "data" / "ADABTC-1m-2021-11-27.csv"      # 10 bars: a run of ~1 s
MONTH_BARS = REPO / "data" / "btc-perp-20211231-20220201_1m.csv.gz"   # 45,031 bars
ENDED = ("finished", "failed", "stopped", "killed")

SLOW_STRATEGY = '''
import time
from heron import Param, Strategy


class Pause(Strategy):
    """Sleeps ``pause`` seconds at the start, then ``per_bar`` seconds on every bar."""

    name = "pause"
    pause = Param(0.0, ge=0.0)
    per_bar = Param(0.0, ge=0.0)

    def on_start(self):
        time.sleep(self.pause)

    def on_bar(self, bar):
        time.sleep(self.per_bar)
'''


def backtest_config(data: Path = TINY_BARS, **params: object) -> str:
    lines = ['strategy = "sma_cross"', f'data = "{data}"', "[params]", "fast = 2", "slow = 3"]
    return "\n".join(lines + [f"{k} = {v!r}" for k, v in params.items()]) + "\n"


def slow_config(root: Path, *, pause: float = 0.0, per_bar: float = 0.0) -> str:
    """A backtest that lasts: ``pause`` s at the start, ``per_bar`` s per bar (10 bars)."""
    (root / "slow_bars.py").write_text(SLOW_STRATEGY)
    return (f'strategy = "slow_bars:Pause"\ndata = "{TINY_BARS}"\n'
            f"[params]\npause = {pause}\nper_bar = {per_bar}\n")


def wait_status(manager: RunManager, run_id: str, statuses: tuple[str, ...] = ENDED,
                limit_s: float = 60.0) -> RunRecord:
    """Refresh until the run has one of ``statuses``; fail the test after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while True:
        manager.refresh()
        record = manager.get(run_id)
        if record.status in statuses:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {record.status} after {limit_s} s "
                                 f"(wanted {statuses}); stderr: {_stderr(record)}")
        time.sleep(0.1)


def wait_until(condition: Callable[[], Any], what: str, limit_s: float = 60.0) -> Any:
    """``condition()``'s first truthy answer, polled every 50 ms; fails after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not (got := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {limit_s:.0f} s")
        time.sleep(0.05)
    return got


def _stderr(record: RunRecord) -> str:
    path = Path(record.directory) / "stderr.log"
    return path.read_text()[-2000:] if path.exists() else "(none)"


def child_pids(pid: int) -> list[int]:
    """The children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def heron_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | {"COLUMNS": "200"}


def heron(*args: str, cwd: Path = REPO, timeout: float = 60
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, env=heron_env(), cwd=cwd)


@contextlib.contextmanager
def served(home: Path, *args: str, cwd: Path = REPO) -> Iterator[str]:
    """``heron serve --home HOME`` on a free port; yields its URL once it answers HTTP.
    Stopped by its PID (SIGTERM, then SIGKILL) whatever the test did."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "heron", "serve", "--home", str(home), "--port", str(port),
         *args], cwd=cwd, env=heron_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url)
        yield url
    finally:
        _stop(proc)


def _wait_healthy(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"heron serve exited with {proc.returncode}: {err}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{url}/api/health", timeout=2)  # any answer (401 too): it listens
            return
        time.sleep(0.1)
    raise AssertionError("heron serve did not answer within 60 s")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    else:
        proc.communicate()


def stop_runs(manager: RunManager) -> None:
    """End every run the test left going (teardown): by the wrapper's PID."""
    for record in manager.list(limit=1000):
        if record.status in ("running", "stopping") and record.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pid, signal.SIGKILL)
