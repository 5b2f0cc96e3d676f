"""Paper runs survive a restart: killed (SIGKILL) or stopped (SIGTERM) mid-run and started
again with the same state, they end with the same journal as a run never interrupted.

The market is the Binance USD-M loopback venue replaying a real recorded session (21,313
BTCUSDT trades, 2024-08-08); ``heron paper`` runs as a subprocess through ccxt.pro,
exactly as a user would run it. The venue replays the session from its start on every
connection, so the restarted run also checks that what it already consumed is not
consumed twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import SHARED_VENUES
from heron.core.journal_store import JournalReader
from heron.model.events import OrderFilled
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile, recorded_exchange_info

VENUE = SHARED_VENUES / "binance_usdm"
CAPTURE = VENUE / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
TRADES = 21_313  # trades in the capture: the run stops after consuming all of them

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CAPTURE.exists(),
                                                   reason="shared venue data not present")]


@pytest.fixture(scope="module")
def profile() -> BinanceUsdmProfile:
    return BinanceUsdmProfile(CAPTURE, recorded_exchange_info(VENUE))


def _paper(state: Path, url: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "heron", "paper", "--strategy", "sma_cross",
            "--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT", "--param", "fast=2",
            "--param", "slow=4", "--bar", "10s", "--state", str(state), "--endpoint", url,
            "--stop-after", str(TRADES), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "HERON_DEBUG"}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _finish(proc: subprocess.Popen[bytes]) -> str:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def _records(state: Path) -> list[object]:
    return list(JournalReader(state / "journal.sqlite").records())


def _interrupt_midway(proc: subprocess.Popen[bytes], state: Path, sig: int) -> None:
    """Stop ``proc`` with ``sig`` once it has consumed a third of the session."""
    inputs = state / "inputs.bin"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if inputs.exists() and inputs.stat().st_size > 320_000:  # ~7k of ~21k trades
            break
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.02)
    else:
        raise AssertionError("the paper run consumed nothing in 60 s")
    proc.send_signal(sig)
    proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def uninterrupted(profile: BinanceUsdmProfile, tmp_path_factory: pytest.TempPathFactory
                  ) -> list[object]:
    state = tmp_path_factory.mktemp("uninterrupted")
    with VenueServer(profile) as server:
        _finish(_paper(state, server.url))
    return _records(state)


def test_the_uninterrupted_run_trades(uninterrupted: list[object]) -> None:
    kinds = Counter(type(r).__name__ for r in uninterrupted)
    assert kinds["OrderFilled"] >= 4, kinds  # the comparison below is about real fills
    assert kinds["SubmitOrder"] == kinds["OrderFilled"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_restarted_run_ends_with_the_same_journal(
        profile: BinanceUsdmProfile, uninterrupted: list[object], tmp_path: Path,
        sig: int) -> None:
    state = tmp_path / "state"
    with VenueServer(profile, speed=60) as server:  # slow enough to stop it midway
        _interrupt_midway(_paper(state, server.url), state, sig)
    consumed_before = (state / "inputs.bin").stat().st_size
    assert consumed_before > 0
    with VenueServer(profile) as server:
        err = _finish(_paper(state, server.url))
    assert "replayed" in err and " (0 replayed)" not in err  # it resumed, not restarted
    resumed = _records(state)
    fills = [r for r in resumed if isinstance(r, OrderFilled)]
    assert fills == [r for r in uninterrupted if isinstance(r, OrderFilled)]
    assert resumed == uninterrupted


def test_a_second_process_on_the_same_state_is_refused(
        profile: BinanceUsdmProfile, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with VenueServer(profile) as server:
        server.hold()  # no data: the first run waits for the market until told to stop
        first = _paper(state, server.url)
        deadline = time.monotonic() + 30
        while not (state / "inputs.bin").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = _paper(state, server.url)
        _, err = second.communicate(timeout=60)
        assert first.poll() is None, "the first run should still be waiting for data"
        first.send_signal(signal.SIGTERM)
        _finish(first)
    assert second.returncode == 2
    assert "in use by another heron paper run" in err.decode()


def test_resuming_with_other_options_is_refused(profile: BinanceUsdmProfile,
                                                tmp_path: Path) -> None:
    state = tmp_path / "state"
    with VenueServer(profile) as server:
        first = _paper(state, server.url)
        _finish(first)
        proc = subprocess.run(
            [sys.executable, "-m", "heron", "paper", "--state", str(state), "--param",
             "fast=3", "--endpoint", server.url, "--quiet"], check=False,
            capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert "started with params" in proc.stderr.decode()
