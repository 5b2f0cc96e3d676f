"""``mean_reversion``: fade a price that has left its Bollinger bands; out at the mean.

The bands are ``mean ± width * std`` of the last ``period`` closes (the SMA and the
population standard deviation, bar ``t`` included: TA-Lib's ``BBANDS``), so the
distance of the close from the mean in deviations,

    z_t = (close_t - mean_t) / std_t        (:func:`heron.analytics.indicators.zscore`)

says where the close is: ``z < -width`` is below the lower band, ``z > width`` above
the upper one, ``z = 0`` on the mean. ``z`` is NaN for the first ``period - 1`` bars
and on flat windows.

Rules, on each bar (the band rules of :mod:`heron.strategy.library.bands` on ``-z``):

* flat: long when the close is below the lower band (``z < -width``); short when it is
  above the upper band (``z > width``, ``mode = "long-short"``);
* long: close once ``z >= -exit_width``: at the mean by default (``exit_width = 0``),
  or that many deviations before it;
* short: close once ``z <= exit_width``;
* a close and an opposite entry may fall on one bar; a NaN ``z`` changes nothing.

Entries are market orders for ``fraction`` of free equity (fees included) or a fixed
``quantity``; exits are reduce-only market orders; one order at a time.

``vector_signals`` states the same rules for the vectorised fast path
(:mod:`heron.research.vector`), on the same score.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from heron.analytics.indicators import zscore
from heron.errors import InvalidConfiguration
from heron.strategy.library.bands import BandStrategy
from heron.strategy.params import Param

if TYPE_CHECKING:
    from heron.research.signals import IndicatorCache, ThresholdSignals
    from heron.research.vector_data import BarArrays


class MeanReversion(BandStrategy):
    """Long below the lower Bollinger band (short above the upper); exit at the mean."""

    name = "mean_reversion"
    period = Param(20, ge=2, le=100_000, doc="bars in the mean and standard deviation")
    width = Param(2.0, gt=0.0, le=10.0, doc="band width in standard deviations (entry)")
    exit_width = Param(0.0, ge=0.0, le=10.0, doc="exit this many deviations before the "
                       "mean (0 = at the mean; below width)")
    mode = Param("long-only", choices=("long-only", "long-short"), doc="which sides to trade")
    fraction = Param(Decimal("1"), gt=Decimal(0), le=Decimal(1),
                     doc="share of free equity per entry (fees included)")
    quantity = Param(Decimal(0), ge=Decimal(0),
                     doc="fixed size per entry instead of a fraction (0 = use fraction)")

    def validate(self) -> None:
        if self.exit_width >= self.width:
            raise InvalidConfiguration(
                f"mean_reversion: exit_width ({self.exit_width}) must be below width "
                f"({self.width}); pass a smaller exit_width or a larger width")

    def on_start(self) -> None:
        score = self.indicator(reversion_score, self.period, name="-z")
        self.start_bands(score, entry=self.width, exit_=self.exit_width,
                         shorts=self.mode == "long-short", quantity=self.quantity,
                         fraction=self.fraction)

    @classmethod
    def vector_signals(cls, bars: BarArrays, params: Mapping[str, Any],
                       indicators: IndicatorCache) -> ThresholdSignals:
        """The band rules of ``on_bar`` on the same score, for the vectorised path."""
        from heron.research.signals import Sizing, band_signals

        score = indicators(reversion_score, int(params["period"]))
        return band_signals(score, entry=float(params["width"]),
                            exit_=float(params["exit_width"]),
                            shorts=params["mode"] == "long-short",
                            sizing=Sizing.from_params(params))


def reversion_score(close: NDArray[np.float64], period: int) -> NDArray[np.float64]:
    """``-z``: high when the close is far below its mean (the side to buy)."""
    return -zscore(close, period)
