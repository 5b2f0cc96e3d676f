"""The portfolio-risk monitor on a running node: marks sampled on its own timer.

:class:`~heron.risk.portfolio_risk.PortfolioRiskMonitor` needs recent prices of every
instrument on one time grid. A node builds that grid itself, from the portfolio's marks
sampled at each evaluation (every ``check_every_s``): the same in a backtest (market time,
and only what was known at that time, so no look-ahead), in paper and in live. Returns
are therefore per ``check_every_s`` period, and so are VaR and ES. Breaches go to the
trading-state machine (``fire``), which logs, journals and counts the transition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from heron.risk.portfolio_risk import (
    PortfolioLimits,
    PortfolioRiskMonitor,
    RiskSnapshot,
    exposures_of,
)

if TYPE_CHECKING:
    from heron.model.portfolio import Portfolio
    from heron.risk.portfolio_risk import FireFn, ScheduleFn

NS_PER_S = 1_000_000_000


class MarkHistory:
    """The last ``window + 1`` marks of each instrument, one per sample.

    An instrument joins at its first mark; from then on it is sampled every time (its
    last mark again when it did not trade), so the tails of all series are aligned."""

    def __init__(self, window: int) -> None:
        self._size = window + 1  # window returns need one more price
        self._marks: dict[str, deque[float]] = {}

    def sample(self, portfolio: Portfolio) -> None:
        for iid, mark in portfolio.marks.items():
            series = self._marks.get(iid)
            if series is None:
                series = self._marks[iid] = deque(maxlen=self._size)
            series.append(float(mark))  # ticks: returns are the same as in prices

    def arrays(self) -> dict[str, NDArray[np.float64]]:
        """Every series cut to the shortest one's length (the common grid)."""
        if not self._marks:
            return {}
        n = min(len(s) for s in self._marks.values())
        return {iid: np.fromiter(list(s)[-n:], dtype=np.float64, count=n)
                for iid, s in self._marks.items()}


def watch_portfolio(limits: PortfolioLimits, portfolio: Portfolio, schedule: ScheduleFn,
                    fire: FireFn) -> tuple[PortfolioRiskMonitor, Callable[[int], None]]:
    """A monitor, and the function that starts it at a market time (the node calls it
    at once in a backtest, at the first event in paper and live)."""
    monitor = PortfolioRiskMonitor(limits)
    history = MarkHistory(limits.window)

    def snapshot() -> RiskSnapshot:
        history.sample(portfolio)
        return RiskSnapshot(portfolio.money(portfolio.equity()), exposures_of(portfolio),
                            history.arrays())

    def start(ts: int) -> None:
        monitor.attach(schedule, start=ts, every=limits.check_every_s * NS_PER_S,
                       snapshot=snapshot, fire=fire)

    return monitor, start


__all__ = ["MarkHistory", "watch_portfolio"]
