"""``heron status``: the runs of a home in one table, read straight from the home (no
server) or from a running server's API, with the same figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.cli.status import home_summary
from heron.node.runs import RunManager
from managed_runs import backtest_config, heron, served, stop_runs, wait_status


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A home with a finished backtest and a failed one."""
    home = tmp_path / "home"
    manager = RunManager(home, root=tmp_path)
    try:
        good = manager.start(manager.create("backtest", backtest_config(),
                                            name="month").run_id)
        bad = manager.start(manager.create("backtest", backtest_config(tmp_path / "gone.csv"),
                                           name="broken").run_id)
        assert wait_status(manager, good.run_id).status == "finished"
        assert wait_status(manager, bad.run_id).status == "failed"
    finally:
        stop_runs(manager)
        manager.close()
    yield home


def _rows(table: str) -> dict[str, list[str]]:
    """Table rows by run id: the cells of each line that starts with one."""
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and re.fullmatch(r"bt-\d{8}-\d{6}-[0-9a-f]{4}", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_status_from_the_home(home: Path) -> None:
    shown = heron("status", "--home", str(home))
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert sorted(r[2] for r in rows.values()) == ["broken", "month"]
    month = next(r for r in rows.values() if r[2] == "month")
    broken = next(r for r in rows.values() if r[2] == "broken")
    assert month[1:4] == ["backtest", "month", "finished"]
    assert re.fullmatch(r"[\d,]+\.\d\d", month[5])          # equity, to the cent
    assert broken[3] == "failed" and broken[5] == "-"
    assert re.search(r"bt-\S+: .*gone\.csv: file not found", shown.stdout)


def test_status_from_the_api_matches_the_home(home: Path, tmp_path: Path) -> None:
    direct = _rows(heron("status", "--home", str(home)).stdout)
    with served(home, cwd=tmp_path) as url:
        shown = heron("status", "--url", url)
    assert shown.returncode == 0, shown.stderr
    assert _rows(shown.stdout) == direct


@pytest.mark.slow
def test_status_from_a_server_that_requires_a_token(home: Path, tmp_path: Path) -> None:
    made = heron("token", "create", "--role", "viewer", "--home", str(home))
    assert made.returncode == 0, made.stderr
    with served(home, "--require-token", cwd=tmp_path) as url:
        refused = heron("status", "--url", url)
        shown = heron("status", "--url", url, "--token", made.stdout.strip())
    assert refused.returncode == 2 and "--token" in refused.stderr
    assert shown.returncode == 0, shown.stderr
    assert len(_rows(shown.stdout)) == 2


def test_status_bad_input(tmp_path: Path) -> None:
    missing = heron("status", "--home", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no heron server home" in missing.stderr
    down = heron("status", "--url", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach heron serve" in down.stderr


def test_a_paper_or_live_runs_summary_needs_no_journal_replay(tmp_path: Path) -> None:
    """A run's ``status.json`` now carries its PnL: the summary comes from it alone (a
    month-old live journal took minutes to replay on every ``heron status``); an older
    ``status.json`` without it still goes through the journal."""
    manager = RunManager(tmp_path / "home", root=tmp_path)
    try:
        record = manager.create("paper", 'strategy = "sma_cross"\nvenue = "binanceusdm"\n'
                                'symbol = "BTC/USDT:USDT"\n[params]\nfast = 2\nslow = 3\n')
        status = {"trading_state": "READY", "equity": "10012.5", "pnl": "12.5",
                  "marks": {"BTCUSDT": "60000"},
                  "positions": [{"symbol": "BTCUSDT", "quantity": "-0.2"}]}
        assert home_summary(manager, record, status) == {   # no journal exists yet
            "trading_state": "READY", "equity": "10012.5", "pnl": "12.5",
            "exposure": "12000"}
        older = {k: v for k, v in status.items() if k != "pnl"}
        assert home_summary(manager, record, older) is None   # the journal's: none yet
    finally:
        manager.close()
