"""Engine registry, subprocess runner and report for bench/bench_backtest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "bench" / "peers"
PEER_VENVS = Path(os.environ.get("HERON_PEER_VENVS", ROOT / ".bench-venvs"))
HERON_PYTHON = ROOT / ".venv" / "bin" / "python"
AGREE_REL_TOL = Decimal("1e-6")


@dataclass(frozen=True)
class Engine:
    """One benchmarked engine: ``name`` for --only, ``venv`` None means heron's venv."""

    name: str
    label: str
    venv: str | None
    slow: bool = False

    @property
    def script(self) -> Path:
        return PEERS_DIR / f"peer_{self.name}.py"

    @property
    def python(self) -> Path:
        if self.venv is None:
            return HERON_PYTHON if HERON_PYTHON.exists() else Path(sys.executable)
        return PEER_VENVS / self.venv / "bin" / "python"


ENGINES: tuple[Engine, ...] = (
    Engine("heron", "heron", None),
    Engine("backtesting", "backtesting.py", "backtesting"),
    Engine("backtrader", "backtrader", "backtrader", slow=True),
    Engine("nautilus", "NautilusTrader", "nautilus", slow=True),
    Engine("reference", "reference (numpy, exact)", None),
)


@dataclass(frozen=True)
class Row:
    """One engine's outcome; ``seconds`` is None when it was skipped or failed."""

    engine: Engine
    bars: int
    version: str = ""
    seconds: float | None = None
    peak_mib: float | None = None
    trades: int | None = None
    final_equity: Decimal | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.seconds is not None and self.final_equity is not None

    @property
    def bars_per_second(self) -> float | None:
        return self.bars / self.seconds if self.seconds else None


def _tail(handle: IO[bytes], limit: int = 160) -> str:
    handle.seek(0)
    lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:limit] if lines else ""


def _wait_with_timeout(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float, bool]:
    """Reap ``proc`` with os.wait4: (exit code, peak RSS in MiB, timed out)."""
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # e.g. Ctrl-C: do not leave the engine running
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here; keeps Popen from waiting again
    return code, usage.ru_maxrss / 1024, expired.is_set()  # ru_maxrss is KiB on Linux


def run_engine_once(
    engine: Engine, bars_file: Path, *, bars: int, warmup: int, timeout: float
) -> Row:
    """Run one engine's script in a fresh process and parse its JSON line."""
    command = [
        str(engine.python),
        str(engine.script),
        "--bars-file",
        str(bars_file),
        "--warmup",
        str(warmup),
    ]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)
        code, peak, timed_out = _wait_with_timeout(proc, timeout)
        if timed_out:
            return Row(engine, bars, note=f"timed out after {timeout:.0f} s")
        if code != 0:
            return Row(engine, bars, note=f"failed (exit {code}): {_tail(err)}")
        try:
            out.seek(0)
            record = json.loads(out.read().decode().strip().splitlines()[-1])
            equity = Decimal(record["final_equity"])
        except (IndexError, KeyError, ValueError, InvalidOperation) as exc:
            return Row(engine, bars, note=f"unreadable output: {exc}")
    return Row(
        engine,
        int(record["bars"]),
        version=str(record["version"]),
        seconds=float(record["seconds"]),
        peak_mib=peak,
        trades=int(record["trades"]),
        final_equity=equity,
    )


def run_engine_best(
    engine: Engine, bars_file: Path, *, bars: int, repeat: int, warmup: int, timeout: float
) -> Row:
    """Best of ``repeat`` fresh runs (lowest seconds, highest peak); skip missing venvs."""
    if not engine.python.exists():
        return Row(
            engine,
            bars,
            note=f"skipped: no venv at {engine.python.parent.parent} (run make bench-peers)",
        )
    runs: list[Row] = []
    for _ in range(repeat):
        row = run_engine_once(engine, bars_file, bars=bars, warmup=warmup, timeout=timeout)
        if not row.ok:
            return row
        runs.append(row)
    best = min(runs, key=lambda run: run.seconds or 0.0)
    return replace(best, peak_mib=max(run.peak_mib or 0.0 for run in runs))


def baseline(rows: list[Row]) -> Row | None:
    """heron's row when it ran, else the exact reference's, else None."""
    for name in ("heron", "reference"):
        for row in rows:
            if row.engine.name == name and row.ok:
                return row
    return None


def agreement(row: Row, base: Row | None) -> str:
    """'yes (rel diff)' / 'NO (...)' against the baseline row, '' when not comparable."""
    if row is base:
        return "baseline"
    if base is None or row.final_equity is None or base.final_equity is None:
        return ""
    scale = abs(base.final_equity) or Decimal(1)
    rel = abs(row.final_equity - base.final_equity) / scale
    same = row.trades == base.trades and rel <= AGREE_REL_TOL
    if row.trades != base.trades:
        detail = f"trades {row.trades} vs {base.trades}"
    else:
        detail = "exact" if rel == 0 else f"{rel:.0e}"
    return f"{'yes' if same else 'NO'} ({detail})"
