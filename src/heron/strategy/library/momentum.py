"""``momentum``: ride a move that is unusually strong for its recent history.

The score is a z-score of returns. ``R_t = close_t / close_{t-lookback} - 1`` is the
return over the last ``lookback`` bars (``lookback = 1``: the one-bar return), and

    z_t = (R_t - mean(R over the last window bars)) / std(R over the same bars)

with the population standard deviation, the window including bar ``t``
(:func:`heron.analytics.indicators.zscore`). ``z`` is NaN for the first
``lookback + window - 1`` bars and wherever the window is flat.

Rules, on each bar (the band rules of :mod:`heron.strategy.library.bands`):

* flat: long when ``z > entry``; short when ``z < -entry`` (``mode = "long-short"``);
* long: close when ``z <= exit``, i.e. once the move is back inside the exit band;
* short: close when ``z >= -exit``;
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


class Momentum(BandStrategy):
    """Long (or short) when the z-score of returns leaves the entry band; out inside
    the exit band."""

    name = "momentum"
    lookback = Param(60, ge=1, le=100_000, doc="bars in each return (close / close n bars "
                     "ago - 1)")
    window = Param(240, ge=2, le=100_000, doc="returns the z-score is measured against")
    entry = Param(2.0, gt=0.0, le=10.0, doc="enter when |z| exceeds this many deviations")
    exit = Param(0.5, ge=0.0, le=10.0, doc="exit once z is back at or inside this band "
                 "(below entry)")
    mode = Param("long-only", choices=("long-only", "long-short"), doc="which sides to trade")
    fraction = Param(Decimal("1"), gt=Decimal(0), le=Decimal(1),
                     doc="share of free equity per entry (fees included)")
    quantity = Param(Decimal(0), ge=Decimal(0),
                     doc="fixed size per entry instead of a fraction (0 = use fraction)")

    def validate(self) -> None:
        if self.exit >= self.entry:
            raise InvalidConfiguration(
                f"momentum: exit ({self.exit}) must be below entry ({self.entry}); "
                "pass a smaller exit or a larger entry")

    def on_start(self) -> None:
        score = self.indicator(momentum_score, self.lookback, self.window, name="z")
        self.start_bands(score, entry=self.entry, exit_=self.exit,
                         shorts=self.mode == "long-short", quantity=self.quantity,
                         fraction=self.fraction)

    @classmethod
    def vector_signals(cls, bars: BarArrays, params: Mapping[str, Any],
                       indicators: IndicatorCache) -> ThresholdSignals:
        """The band rules of ``on_bar`` on the same score, for the vectorised path."""
        from heron.research.signals import Sizing, band_signals

        score = indicators(momentum_score, int(params["lookback"]), int(params["window"]))
        return band_signals(score, entry=float(params["entry"]), exit_=float(params["exit"]),
                            shorts=params["mode"] == "long-short",
                            sizing=Sizing.from_params(params))


def momentum_score(close: NDArray[np.float64], lookback: int,
                   window: int) -> NDArray[np.float64]:
    """z-score over ``window`` bars of the ``lookback``-bar return; NaN until defined."""
    returns = np.full(len(close), np.nan)
    if len(close) > lookback:
        returns[lookback:] = close[lookback:] / close[:-lookback] - 1.0
    return zscore(returns, window)
