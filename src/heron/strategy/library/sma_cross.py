"""``sma_cross``: trade the side of a fast moving average against a slow one.

Rules, checked on every bar once both averages exist:

* long-only: hold a long while ``fast > slow``; otherwise be flat.
* long-short: hold a long while ``fast > slow`` and a short while ``fast < slow``
  (equal averages keep the position); a reversal closes and re-enters on one bar.

Entries are market orders sized as ``fraction`` of free equity at the fill price,
fees included (or a fixed ``quantity`` when given); exits flatten the position with a
reduce-only market order. One order at a time per instrument: while an order is
working the strategy waits, so a ``next-open`` fill is never doubled.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from heron.analytics.indicators import sma
from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.strategy.base import EquityFraction, Strategy
from heron.strategy.params import Param


class SmaCross(Strategy):
    """Long (or short) on the side of the fast average against the slow one."""

    name = "sma_cross"
    fast = Param(10, ge=1, doc="bars in the fast simple moving average")
    slow = Param(50, ge=2, doc="bars in the slow simple moving average")
    mode = Param("long-only", choices=("long-only", "long-short"), doc="which sides to trade")
    fraction = Param(Decimal("1"), gt=Decimal(0), le=Decimal(1),
                     doc="share of free equity per entry (fees included)")
    quantity = Param(Decimal(0), ge=Decimal(0),
                     doc="fixed size per entry instead of a fraction (0 = use fraction)")

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise InvalidConfiguration(
                f"sma_cross: fast ({self.fast}) must be below slow ({self.slow}); "
                "pass a smaller fast or a larger slow")

    def on_start(self) -> None:
        self.fast_ma = self.indicator(sma, self.fast, name=f"sma{self.fast}")
        self.slow_ma = self.indicator(sma, self.slow, name=f"sma{self.slow}")
        # sign(fast - slow) is exactly the comparison of the two floats (IEEE subtraction
        # is zero only for equal operands), so one bulk array answers both tests per bar.
        self.side = self.indicator(_spread_sign, self.fast, self.slow, name="sign")
        self.short_ok = self.mode == "long-short"
        self.working = self.ctx.om.open_orders  # live view: empty on most bars

    def on_bar(self, bar: Bar) -> None:
        side = self.side[-1]
        if self.working and self.has_open_orders():
            return
        qty = self.position.qty
        if side > 0:
            if qty < 0:
                self.close_position()
            if qty <= 0:
                self.buy(size=self._size())
        elif side < 0 or not self.short_ok:
            if qty > 0:
                self.close_position()
            if qty >= 0 and self.short_ok and side < 0:
                self.sell(size=self._size())

    def _size(self) -> Decimal | EquityFraction:
        if self.quantity:
            return self.quantity
        return self.equity_fraction(self.fraction)


def _spread_sign(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """+1 where SMA(fast) > SMA(slow), -1 where below, 0 where equal, NaN before both exist."""
    return np.sign(sma(close, fast) - sma(close, slow))
