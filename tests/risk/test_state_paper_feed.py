"""The feed trigger in a paper *run* (``heron paper``), not only in process.

The loopback Binance USD-M venue sends the first 1,500 lines of its recorded session as
fast as it can, then nothing: the run's trade stream goes silent, the feed session calls
it stale after 1 s, and the run must go DEGRADED on the feed trigger with the stream's
health as evidence. The feed's health changes are inputs of the run (logged in
``STATE/inputs.bin`` between the market events they came between), so a restart
rebuilds the very same journal, that transition included, record for record.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from heron.core.journal_store import JournalReader
from heron.data.feeds.session import FeedOptions
from heron.model.data import Trade
from heron.model.events import TradingStateChanged
from heron.model.feed import FeedHealth, FeedState
from heron.node.input_log import InputLog
from heron.node.paper_run import run_paper
from heron.node.paper_state import PaperConfig, PaperState
from heron.strategy.base import Strategy
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

VENUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "venues" / "binance_usdm"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not VENUE.exists(), reason="shared venue data not present")]


class Watch(Strategy):
    """Trades nothing: the run's journal is its trading state."""

    name = "watch"

    def on_trade(self, trade: Trade) -> None:
        pass


CFG = PaperConfig(strategy=f"{__name__}:Watch", venue="binanceusdm",
                  symbols=["BTC/USDT:USDT"], streams=["trades"], bar="1s")


def _run(state_dir: Path, **how: Any) -> Any:
    state = PaperState(state_dir)
    try:
        with VenueServer(BinanceUsdmProfile.recorded(VENUE, lines=1500)) as server:
            return asyncio.run(run_paper(CFG, state, endpoint=server.url,
                                         options=FeedOptions(stale_after_s=1), **how))
    finally:
        state.close()


def test_a_silent_feed_degrades_a_paper_run_and_the_restart_rebuilds_it(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _run(state, duration_s=5)
    records = list(JournalReader(state / "journal.sqlite").records())
    moves = [(r.from_state, r.to_state, r.trigger) for r in records
             if isinstance(r, TradingStateChanged)]
    assert moves[0] == ("INIT", "READY", "start")
    assert moves[1] == ("READY", "DEGRADED", "feed"), moves
    change = next(r for r in records if isinstance(r, TradingStateChanged)
                  and r.trigger == "feed")
    evidence = json.loads(change.evidence)
    assert evidence["state"] == "stale" and evidence["stream"] == "trades"
    logged = _logged_health(state)
    assert FeedState.STALE in [h.state for h in logged]
    assert all(a.state is not b.state for a, b in itertools.pairwise(logged)), \
        "only changes are logged, not the feed's periodic reports"

    consumed = first.engine.consumed
    again = _run(state, stop_after=consumed)  # rebuilt from the inputs, then stopped
    assert again.replayed == consumed and again.live == 0
    rebuilt = JournalReader(state / "journal.sqlite")
    assert list(rebuilt.records()) == records
    assert rebuilt.record_count == len(records)


def _logged_health(state_dir: Path) -> list[FeedHealth]:
    st = PaperState(state_dir)
    try:
        stored = st.stored()
        assert stored is not None
        log = InputLog(st.inputs, stored[1])
        try:
            return [e for e in log.replay() if isinstance(e, FeedHealth)]
        finally:
            log.close()
    finally:
        st.close()
