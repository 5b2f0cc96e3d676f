"""The run manager with real processes and a real SQLite registry: create (checked
configs), start in a process of its own, stop, kill, crash, and a server restart that
finds its runs again."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.core.journal_store import JournalReader
from heron.errors import InvalidConfiguration, JournalError, RunConflict, RunNotFound
from heron.model.events import OrderFilled
from heron.node.run_process import ExitInfo
from heron.node.runs import RunManager, final_status, wrapper_alive
from managed_runs import (
    TINY_BARS,
    backtest_config,
    child_pids,
    slow_config,
    stop_runs,
    wait_status,
    wait_until,
)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[RunManager]:
    runs = RunManager(tmp_path / "home", root=tmp_path)
    try:
        yield runs
    finally:
        stop_runs(runs)
        runs.close()


def test_create_unknown_key_is_refused_by_name(manager: RunManager) -> None:
    with pytest.raises(InvalidConfiguration, match=r"unknown key 'fee_bsp'.*'fee_bps'"):
        manager.create("backtest", f'data = "{TINY_BARS}"\nfee_bsp = "4"\n')
    assert manager.list() == []
    assert list((manager.home / "runs").iterdir()) == []


def test_create_config_errors_name_the_key_or_line(manager: RunManager) -> None:
    cases = {
        'data = "x.csv"\njson = "out.json"\n': "key 'json' is set by the server",
        'strategy = "sma_cross"\n': "missing key 'data'",
        'data = "x.csv"\ncash = 1.5\n': "key 'cash'",
        'data = "x.csv"\n[params]\nfast = 50\nslow = 10\n': "fast (50) must be below slow",
        'data = "x.csv"\nstrategy = "smacross"\n': "did you mean 'sma_cross'",
    }
    for text, message in cases.items():
        with pytest.raises(InvalidConfiguration, match=re.escape(message)):
            manager.create("backtest", text)
    with pytest.raises(InvalidConfiguration) as bad_toml:
        manager.create("backtest", 'data = "x.csv"\ncash = \n')
    assert "line 2" in str(bad_toml.value) and "\n" not in str(bad_toml.value)
    with pytest.raises(InvalidConfiguration, match="key 'state' is set by the server"):
        manager.create("paper", 'strategy = "sma_cross"\nvenue = "okx"\nsymbol = "X"\n'
                                'state = "s"\n')
    with pytest.raises(InvalidConfiguration, match="unknown run kind"):
        manager.create("replay", backtest_config())
    assert manager.list() == []


def test_backtest_run_writes_journal_result_and_report(manager: RunManager) -> None:
    created = manager.create("backtest", backtest_config())
    assert created.status == "created" and created.run_id.startswith("bt-")
    assert Path(created.directory, "run.toml").read_text() == backtest_config()
    started = manager.start(created.run_id)
    assert started.status == "running" and started.pid is not None
    assert os.getsid(started.pid) == started.pid  # the wrapper leads a session of its own
    done = wait_status(manager, created.run_id)
    assert (done.status, done.exit_code, done.error) == ("finished", 0, None)
    run_dir = manager.run_dir(created.run_id)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["bars"] == 10
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
    location, journal_run = manager.journal_location(created.run_id)
    assert (location, journal_run) == (str(run_dir / "journal.sqlite"), None)
    assert JournalReader(location).record_count > 0
    exit_info = json.loads((run_dir / "exit.json").read_text())
    assert exit_info["code"] == 0 and exit_info["signal"] is None
    assert int((run_dir / "pid").read_text()) == started.pid


def test_a_run_starts_once(manager: RunManager) -> None:
    run_id = manager.create("backtest", backtest_config()).run_id
    manager.start(run_id)
    with pytest.raises(RunConflict, match="already started"):
        manager.start(run_id)
    wait_status(manager, run_id)
    with pytest.raises(RunConflict, match="already started"):
        manager.start(run_id)
    with pytest.raises(RunNotFound):
        manager.start("bt-nope")
    with pytest.raises(RunConflict, match="not running"):
        manager.stop(run_id)


def test_a_crashing_run_fails_alone_with_its_error_line(manager: RunManager,
                                                        tmp_path: Path) -> None:
    slow = manager.start(manager.create("backtest", slow_config(tmp_path, pause=600)).run_id)
    broken = manager.start(manager.create(
        "backtest", backtest_config(tmp_path / "missing.csv")).run_id)
    failed = wait_status(manager, broken.run_id)
    assert failed.status == "failed" and failed.exit_code == 2
    assert failed.error is not None and "missing.csv: file not found" in failed.error
    assert manager.get(slow.run_id).status == "running"   # the other run goes on
    good = manager.start(manager.create("backtest", backtest_config()).run_id)
    assert wait_status(manager, good.run_id).status == "finished"
    assert manager.get(slow.run_id).status == "running"


def test_stop_and_kill_end_a_long_backtest(manager: RunManager, tmp_path: Path) -> None:
    config = slow_config(tmp_path, pause=600)
    stopping = manager.start(manager.create("backtest", config).run_id)
    killing = manager.start(manager.create("backtest", config).run_id)
    for run in (stopping, killing):
        assert run.pid is not None
        wait_until(lambda pid=run.pid: child_pids(pid), "the run's process")  # type: ignore[misc]
    assert manager.stop(stopping.run_id).status == "stopping"
    assert manager.kill(killing.run_id, actor="test", reason="why not").status == "stopping"
    stopped = wait_status(manager, stopping.run_id)
    killed = wait_status(manager, killing.run_id)
    assert (stopped.status, stopped.exit_code) == ("stopped", 128 + signal.SIGTERM)
    assert (killed.status, killed.exit_code) == ("killed", 128 + signal.SIGTERM)
    assert json.loads(Path(killed.directory, "exit.json").read_text())["signal"] == "SIGTERM"
    assert stopped.error is None and killed.error is None


def test_a_stop_right_after_the_start_is_a_clean_stop(manager: RunManager,
                                                      tmp_path: Path) -> None:
    """The wrapper may still be importing when the stop comes: the manager waits until
    it handles signals, so the run ends ``stopped`` with its exit record, never
    ``failed`` for want of one."""
    run = manager.start(manager.create("backtest", slow_config(tmp_path, pause=600)).run_id)
    assert manager.stop(run.run_id).status == "stopping"
    stopped = wait_status(manager, run.run_id)
    assert stopped.status == "stopped", stopped.error
    assert Path(stopped.directory, "exit.json").exists()


@pytest.mark.slow
def test_a_new_manager_finds_a_running_run_and_reaps_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = RunManager(home, root=tmp_path)
    run = first.start(first.create("backtest", slow_config(tmp_path, pause=4)).run_id)
    first.close()
    again = RunManager(home, root=tmp_path)   # the server, restarted
    try:
        assert again.refresh() == []
        found = again.get(run.run_id)
        assert (found.status, found.pid) == ("running", run.pid)
        assert found.pid is not None and wrapper_alive(found.pid, Path(found.directory))
        done = wait_status(again, run.run_id)
        assert (done.status, done.exit_code) == ("finished", 0)
        assert again.refresh() == []
    finally:
        stop_runs(again)
        again.close()


def test_a_run_whose_wrapper_died_fails_and_its_process_ends(manager: RunManager,
                                                             tmp_path: Path) -> None:
    run = manager.start(manager.create("backtest", slow_config(tmp_path, pause=600)).run_id)
    assert run.pid is not None
    wait_until(lambda: child_pids(run.pid), "the run's process")  # type: ignore[arg-type]
    child = child_pids(run.pid)[0]
    os.kill(run.pid, signal.SIGKILL)       # the wrapper dies: no exit.json
    failed = wait_status(manager, run.run_id)
    assert failed.status == "failed" and failed.exit_code is None
    assert failed.error is not None and "ended without recording how" in failed.error
    assert not Path(failed.directory, "exit.json").exists()
    wait_until(lambda: not Path(f"/proc/{child}").exists()
               or Path(f"/proc/{child}/stat").read_text().split()[2] == "Z",
               "the orphaned run process to end")


def test_list_filters_and_pages_newest_first(manager: RunManager) -> None:
    ids = [manager.create("backtest", backtest_config()).run_id for _ in range(3)]
    ids.reverse()
    assert [r.run_id for r in manager.list()] == ids
    assert [r.run_id for r in manager.list(limit=2)] == ids[:2]
    assert [r.run_id for r in manager.list(after=ids[1])] == ids[2:]
    assert manager.list(kind="paper") == []
    assert [r.run_id for r in manager.list(status="created")] == ids
    assert manager.counts() == {"created": 3}
    assert manager.state_dir(ids[0]) is None


def test_backtest_journal_in_postgres(tmp_path: Path, pg_url: str) -> None:
    runs = RunManager(tmp_path / "home", db=pg_url, root=tmp_path)
    try:
        run = runs.start(runs.create("backtest", backtest_config()).run_id)
        done = wait_status(runs, run.run_id)
        assert done.status == "finished", done.error
        location, journal_run = runs.journal_location(run.run_id)
        assert (location, journal_run) == (pg_url, run.run_id)
        reader = JournalReader(location, journal_run)
        assert reader.record_count > 0 and reader.sealed
        assert any(isinstance(r, OrderFilled) for r in reader.records())
        assert not (tmp_path / "home" / "server.sqlite").exists()
        command = (Path(run.directory) / "command.json").read_text()
        assert pg_url not in command and "--db" not in command  # the URL is in HERON_DB
        other = RunManager(tmp_path / "other", db=pg_url)
        assert other.get(run.run_id).status == "finished"
        other.close()
    finally:
        stop_runs(runs)
        runs.close()


@pytest.mark.slow
def test_kill_and_resume_a_paper_run_then_stop_it(manager: RunManager) -> None:
    from conftest import SHARED_VENUES, need
    from heron.core.audit import AuditLog
    from heron.risk.kill import running_pid
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    venue = need(SHARED_VENUES / "binance_usdm")
    with VenueServer(BinanceUsdmProfile.recorded(venue), speed=5) as server:
        config = (f'strategy = "sma_cross"\nvenue = "binanceusdm"\nsymbol = "BTC/USDT:USDT"\n'
                  f'endpoint = "{server.url}"\nbar = "1s"\nduration = 120\n'
                  "[params]\nfast = 2\nslow = 3\nfraction = \"0.1\"\n")
        run = manager.start(manager.create("paper", config, name="paper test").run_id)
        assert run.run_id.startswith("pp-") and run.name == "paper test"
        state = manager.state_dir(run.run_id)
        assert state is not None
        wait_until(lambda: (state / "lock").exists() and running_pid(state) is not None,
                   "the paper run to hold its state")
        wait_until(lambda: _states(state)[:1] == [("INIT", "READY", "start")], "READY")
        killed = manager.kill(run.run_id, actor="api:tester", reason="test kill")
        assert killed.status == "running"   # halted, not ended
        wait_until(lambda: ("READY", "HALTED", "manual") in _states(state), "HALTED")
        manager.resume(run.run_id, actor="api:tester", reason="all clear")
        wait_until(lambda: ("HALTED", "READY", "operator") in _states(state),
                   "READY again")
        audit = AuditLog(state / "journal.sqlite").entries()
        assert [(e.run_id, e.actor, e.action, e.details["reason"]) for e in audit] == [
            (run.run_id, "api:tester", "kill.halt", "test kill"),
            (run.run_id, "api:tester", "kill.resume", "all clear")]
        assert manager.stop(run.run_id).status == "stopping"
        stopped = wait_status(manager, run.run_id)
    assert (stopped.status, stopped.exit_code) == ("stopped", 0), stopped.error
    location, journal_run = manager.journal_location(run.run_id)
    assert (location, journal_run) == (str(state / "journal.sqlite"), None)
    with pytest.raises(RunConflict, match="not running"):
        manager.kill(run.run_id, actor="api:tester", reason="too late")
    with pytest.raises(RunConflict, match="backtest"):
        manager.resume(manager.create("backtest", backtest_config()).run_id, actor="a",
                       reason="r")


def _states(state: Path) -> list[tuple[str, str, str]]:
    from heron.core.journal import decode_record
    from heron.core.journal_store import committed_payloads
    from heron.model.events import TradingStateChanged

    try:
        payloads = committed_payloads(state / "journal.sqlite")
    except JournalError:  # not there yet, or being created by the run right now
        return []
    records = [decode_record(p) for p in payloads]
    return [(r.from_state, r.to_state, r.trigger) for r in records
            if isinstance(r, TradingStateChanged)]


def test_final_status_follows_the_request_and_the_exit() -> None:
    def ended(code: int, sig: str | None = None) -> ExitInfo:
        return ExitInfo(code=code, ended_at=1, signal=sig)

    assert final_status(None, ended(0)) == "finished"
    assert final_status(None, ended(2)) == "failed"
    assert final_status(None, ended(143, "SIGTERM")) == "failed"   # nobody asked
    assert final_status("stop", ended(0)) == "stopped"
    assert final_status("stop", ended(130)) == "stopped"
    assert final_status("stop", ended(143, "SIGTERM")) == "stopped"
    assert final_status("stop", ended(3)) == "failed"               # broke while stopping
    assert final_status("kill", ended(143, "SIGTERM")) == "killed"
