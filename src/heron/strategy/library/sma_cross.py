"""``sma_cross``: trade the side of a fast moving average against a slow one.

Rules, checked on every bar once both averages exist:

* long-only: hold a long while ``fast > slow``; otherwise be flat.
* long-short: hold a long while ``fast > slow`` and a short while ``fast < slow``
  (equal averages keep the position); a reversal closes and re-enters on one bar.

Entries are market orders sized as ``fraction`` of free equity at the fill price,
fees included (or a fixed ``quantity`` when given); exits flatten the position with a
reduce-only market order. One order at a time per instrument: while an order is
working the strategy waits, so a ``next-open`` fill is never doubled.

``vector_signals`` states the same rules for the vectorised fast path
(:mod:`heron.research.vector`), on the same ``sma`` values.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from heron.analytics.indicators import sma
from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.strategy.base import EquityFraction, Strategy
from heron.strategy.params import Param

if TYPE_CHECKING:
    from heron.research.signals import IndicatorCache, ThresholdSignals
    from heron.research.vector_data import BarArrays


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

    @classmethod
    def vector_signals(cls, bars: BarArrays, params: Mapping[str, Any],
                       indicators: IndicatorCache) -> ThresholdSignals:
        """The rules of ``on_bar`` as levels on ``SMA(fast) - SMA(slow)``: long above 0;
        long-only exits at or below 0 (and before both averages exist); long-short
        exits a long below 0 and a short above 0 (the smallest float either side of 0
        makes ``<=``/``>=`` strict), so equal averages keep the position."""
        from heron.research.signals import Sizing, ThresholdSignals

        fast = indicators(sma, int(params["fast"]))
        slow = indicators(sma, int(params["slow"]))
        sizing = Sizing.from_params(params)
        if params["mode"] == "long-short":
            tiny = float(np.nextafter(0.0, 1.0))
            return ThresholdSignals(score=fast, minus=slow, long_entry_above=0.0,
                                    long_exit_at_or_below=-tiny, short_entry_below=0.0,
                                    short_exit_at_or_above=tiny, sizing=sizing)
        return ThresholdSignals(score=fast, minus=slow, long_entry_above=0.0,
                                long_exit_at_or_below=0.0, exit_on_nan=True, sizing=sizing)

    def _size(self) -> Decimal | EquityFraction:
        if self.quantity:
            return self.quantity
        return self.equity_fraction(self.fraction)


def _spread_sign(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """+1 where SMA(fast) > SMA(slow), -1 where below, 0 where equal, NaN before both exist."""
    return np.sign(sma(close, fast) - sma(close, slow))
