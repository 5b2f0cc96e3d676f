"""``heron paper --db``: a paper run journaled as one run in a shared database.

The market is the Binance USD-M loopback venue replaying a real recorded session, as fast
as it can send; every run stops after the same number of trades, so two runs of one
config consume the same inputs and must journal the same records, wherever the journal
is. On restart the run rebuilds its journal under a scratch run id and swaps it in with
one transaction: the tests check that the result is the SQLite run's journal, that
another run in the same database is untouched, and that a ``kill -9`` in the middle of
the rebuild leaves the old journal whole.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from heron.core.db import create_engine
from heron.core.journal_store import JournalReader, list_runs
from heron.data.feeds.session import FeedOptions
from heron.errors import InputError
from heron.model.data import Trade
from heron.model.events import SubmitOrder
from heron.node.paper_run import run_paper
from heron.node.paper_state import PaperConfig, PaperState
from heron.node.run_journal import SCRATCH
from heron.strategy.base import Strategy
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

VENUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "venues" / "binance_usdm"
pytestmark = pytest.mark.skipif(not VENUE.exists(), reason="shared venue data not present")
HERE = Path(__file__).resolve().parent
#: the restart of a run whose strategy sees this many trades in its replay kills itself
KILL_AT_ENV = "HERON_TEST_KILL_AT"


class EveryTwenty(Strategy):
    """Buys 0.002 every 20 trades, sells it back 10 trades later: a journal of orders
    and fills to compare. With ``HERON_TEST_KILL_AT=N`` set, it commits the journal
    written so far and kills its own process (SIGKILL) at its N-th trade."""

    name = "every_twenty"

    def on_start(self) -> None:
        self.seen = 0
        self.kill_at = int(os.environ.get(KILL_AT_ENV, "0"))

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == self.kill_at:
            self.ctx.send.__self__.journal.flush()  # type: ignore[attr-defined]
            os.kill(os.getpid(), 9)
        if self.seen % 20 == 0:
            self.buy(size=Decimal("0.002"))
        elif self.seen % 20 == 10 and not self.position.is_flat:
            self.close_position()


CFG = PaperConfig(strategy=f"{__name__}:EveryTwenty", venue="binanceusdm",
                  symbols=["BTC/USDT:USDT"], streams=["trades"], bar="1s")


def _run(state_dir: Path, stop_after: int, db: str | None = None,
         run_id: str | None = None) -> Any:
    """One paper run in process on a fresh loopback venue, ``stop_after`` trades."""
    state = PaperState(state_dir)
    try:
        state.open_journal(db, run_id)
        with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=3000)) as server:
            return asyncio.run(run_paper(CFG, state, endpoint=server.url, stop_after=stop_after,
                                         options=FeedOptions(stale_after_s=30)))
    finally:
        state.close()


def _rows(url: str, run_id: str) -> list[tuple[Any, ...]]:
    """A run's rows and its runs row, as stored."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.text(
                "SELECT seq, ts, type, payload FROM records WHERE run_id = :r ORDER BY seq"),
                {"r": run_id})]
            run = conn.execute(sa.text("SELECT header, record_count, sha256, sealed FROM runs "
                                       "WHERE run_id = :r"), {"r": run_id}).first()
    finally:
        engine.dispose()
    return [*rows, tuple(run) if run is not None else None]


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory) -> list[object]:
    """The reference: the run uninterrupted, journaled to its state's SQLite file."""
    state = tmp_path_factory.mktemp("sqlite") / "state"
    _run(state, 300)
    return list(JournalReader(state / "journal.sqlite").records())


def test_a_restarted_paper_run_in_postgresql_journals_what_sqlite_does(
        pg_url: str, sqlite_run: list[object], tmp_path: Path) -> None:
    assert sum(isinstance(r, SubmitOrder) for r in sqlite_run) >= 10
    _run(tmp_path / "other", 120, db=pg_url, run_id="other-run")
    other = _rows(pg_url, "other-run")
    state = tmp_path / "state"
    _run(state, 150, db=pg_url, run_id="paper-db")  # stopped midway ...
    status = _run(state, 300, db=pg_url)             # ... and resumed: same run id
    assert status.replayed == 150
    assert '"run_id": "paper-db"' in (state / "run.json").read_text()
    reader = JournalReader(pg_url, "paper-db")
    assert list(reader.records()) == sqlite_run
    assert reader.record_count == len(sqlite_run) and reader.sealed
    assert _rows(pg_url, "other-run") == other  # another run's records: untouched
    runs = {r.run_id: r for r in list_runs(pg_url)}
    assert runs["paper-db"].kind == "paper" and runs["paper-db"].sealed
    assert not any(SCRATCH in run_id for run_id in runs)
    assert not (state / "journal.sqlite").exists()


def test_resuming_with_another_run_id_is_refused(pg_url: str, tmp_path: Path) -> None:
    state = PaperState(tmp_path / "state")
    try:
        state.open_journal(pg_url, "first-id")
        state.save(CFG, [])
        again = state.open_journal(pg_url, None)
        assert again.run_id == "first-id"
        with pytest.raises(InputError, match="journals as run 'first-id', not 'second-id'"):
            state.open_journal(pg_url, "second-id")
    finally:
        state.close()


def _paper_process(state: Path, url: str, db: str, stop_after: int,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "heron", "paper", "--strategy", f"{__name__}:EveryTwenty",
            "--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT", "--bar", "1s",
            "--state", str(state), "--endpoint", url, "--stop-after", str(stop_after),
            "--quiet"]
    base = {k: v for k, v in os.environ.items() if k not in ("HERON_DEBUG", KILL_AT_ENV)}
    path = os.pathsep.join([str(HERE), base.get("PYTHONPATH", "")])
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False,
                          env={**base, "PYTHONPATH": path, "HERON_DB": db, **(env or {})})


def test_kill_9_in_the_middle_of_the_rebuild_leaves_the_old_journal(
        pg_url: str, sqlite_run: list[object], tmp_path: Path) -> None:
    state = tmp_path / "state"
    with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=3000)) as server:
        first = _paper_process(state, server.url, pg_url, 300)
        assert first.returncode == 0, first.stderr
        assert "journal: postgresql://" in first.stderr  # the run id, printed at start
        run_id = json.loads((state / "run.json").read_text())["run_id"]
        assert f"journal: {pg_url} run {run_id}\n" in first.stderr
        before = _rows(pg_url, run_id)
        killed = _paper_process(state, server.url, pg_url, 300, {KILL_AT_ENV: "200"})
        assert killed.returncode == -9, killed.stderr
        scratch = _rows(pg_url, run_id + SCRATCH)
        assert len(scratch) > 1, "the rebuild had committed rows when it was killed"
        assert _rows(pg_url, run_id) == before  # the old journal, whole and sealed
        assert list(JournalReader(pg_url, run_id).records()) == sqlite_run
        again = _paper_process(state, server.url, pg_url, 300)
        assert again.returncode == 0, again.stderr
    assert _rows(pg_url, run_id + SCRATCH) == [None]  # the leftover rebuild is gone
    assert list(JournalReader(pg_url, run_id).records()) == sqlite_run


@pytest.mark.parametrize("url", ["mysql://u@127.0.0.1/x", "postgresql://u@127.0.0.1:1/x"])
def test_a_bad_db_url_is_one_line_and_exit_2(tmp_path: Path, url: str) -> None:
    with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=50)) as server:
        done = _paper_process(tmp_path / "state", server.url, url, 10)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_managed_paper_run_journals_to_the_servers_database(pg_url: str,
                                                              tmp_path: Path) -> None:
    """``heron serve --db``'s run manager passes its database in HERON_DB and its run id
    in ``--run-id``; the status read model finds the journal there."""
    from heron.cli.status import journal_summary
    from heron.node.runs import RunManager
    from managed_runs import stop_runs, wait_status

    runs = RunManager(tmp_path / "home", db=pg_url, root=tmp_path)
    try:
        with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=3000)) as server:
            config = (f'strategy = "sma_cross"\nvenue = "binanceusdm"\n'
                      f'symbol = "BTC/USDT:USDT"\nendpoint = "{server.url}"\nbar = "1s"\n'
                      "stop_after = 300\n[params]\nfast = 2\nslow = 3\n")
            run = runs.start(runs.create("paper", config).run_id)
            done = wait_status(runs, run.run_id)
        assert done.status == "finished", done.error
        assert runs.journal_location(run.run_id) == (pg_url, run.run_id)
        command = (Path(run.directory) / "command.json").read_text()
        assert pg_url not in command  # the URL travels in HERON_DB
        reader = JournalReader(pg_url, run.run_id)
        assert reader.sealed and reader.header["kind"] == "paper"
        summary = journal_summary(runs, run.run_id)
        assert summary is not None and summary["trading_state"] == "READY"
    finally:
        stop_runs(runs)
        runs.close()
