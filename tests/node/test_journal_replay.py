"""Journal replay rebuilds every kind of state change: fills, funding, liquidation,
cancels, amends, rejections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

import heron
from heron.model.data import Bar
from heron.node.replay import replay_journal

T0 = 1_704_067_200_000_000_000
MINUTE = 60_000_000_000


def _frame(closes: list[float]) -> pl.DataFrame:
    c = np.array(closes)
    o = np.concatenate([[c[0]], c[:-1]])
    return pl.DataFrame({"ts": T0 + np.arange(len(c), dtype=np.int64) * MINUTE, "open": o,
                         "high": np.maximum(o, c) + 0.5, "low": np.minimum(o, c) - 0.5,
                         "close": c, "volume": np.full(len(c), 100.0)})


class Busy(heron.Strategy):
    """Exercises every order path: limits it amends and cancels, a rejected post-only,
    a leveraged long that the falling market liquidates."""

    name = "busy"

    def on_bar(self, bar: Bar) -> None:
        step = bar.index
        if step == 1:
            self.limit = self.buy(size="2", price="90.00")
            self.buy(size="1", price="200.00", post_only=True)  # would take: rejected
            self.buy(size="80")
        elif step == 2:
            self.amend(self.limit, price="91.00")
        elif step == 3:
            self.cancel(self.limit)
        elif step == 4:
            self.cancel(self.limit)  # already canceled: refused as an event


def test_replay_equals_the_run_after_funding_and_liquidation(tmp_path: Path) -> None:
    closes = [100.0, 100.0, 99.0, 98.0, 97.0, 96.0, 95.0, 93.0, 90.0, 85.0, 80.0, 80.0]
    funding = [(T0 + k * MINUTE + 1, "0.001") for k in range(2, 10)]
    result = heron.backtest(_frame(closes), strategy=Busy(), symbol="X", cash="1000",
                            kind="perp", leverage="10", maintenance_margin="0.05",
                            fill="close", tick_size="0.01", lot_size="1", fee_bps="5",
                            funding=funding, journal=tmp_path / "j.sqlite")
    kinds = {type(r).__name__ for r in result.engine.journal.records}
    assert {"FundingApplied", "PositionLiquidated", "OrderUpdated", "OrderCanceled",
            "OrderCancelRejected", "OrderRejected"} <= kinds
    replayed = replay_journal(tmp_path / "j.sqlite")
    assert replayed.portfolio.snapshot() == result.engine.portfolio.snapshot()
    assert {k: (o.status, o.filled, o.price) for k, o in replayed.orders.orders.items()} == {
        k: (o.status, o.filled, o.price) for k, o in result.engine.om.orders.items()}
    assert replayed.orders.adopted == result.engine.om.adopted != []
    assert replayed.portfolio.funding == result.engine.portfolio.funding < 0
