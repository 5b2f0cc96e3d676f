"""Filters that hold back a grid's new orders: the trend and liquidity policies.

A grid earns its spacing each time the price swings across a level and loses when the
price runs away in one direction, leaving it holding the losing side at every level. The
two classic guards are a trend filter (stop adding to the side the trend runs against)
and a liquidity filter (stop quoting when the market is too thin for the fills to mean
anything). Both are policies: small objects asked, before each new grid order, whether
that side may be placed now. They never cancel resting orders; a held-back level is
placed as soon as its policy allows it again.

A policy reads precomputed, causal indicator arrays through the strategy's
:class:`~heron.strategy.indicators.IndicatorView`, so it sees the current bar and
earlier ones only. Write your own by implementing :class:`GridPolicy` and returning it
from :meth:`heron.strategy.library.grid.Grid.policies`.
"""

from __future__ import annotations

import math
from typing import Protocol

from heron.model.data import Bar
from heron.model.orders import OrderSide
from heron.strategy.indicators import IndicatorView


class GridPolicy(Protocol):
    """Asked on each bar, for each side, whether new grid orders on that side may go."""

    name: str

    def allows(self, side: OrderSide, bar: Bar) -> bool:
        """May a new ``side`` order be placed at the close of ``bar``?"""
        ...


class TrendFilter:
    """No new buys while the close is below its EMA by more than ``band`` (a downtrend),
    no new sells while it is above by more than ``band`` (an uptrend).

    Why the EMA and a band: the EMA follows the trend with little lag on one-minute bars,
    and the band keeps the filter from flipping on every wiggle around the average.
    Until the EMA is defined (its first ``period - 1`` bars) both sides are allowed.
    """

    name = "trend"

    def __init__(self, average: IndicatorView, band: float) -> None:
        self.average = average
        self.band = band

    def allows(self, side: OrderSide, bar: Bar) -> bool:
        mean = self.average[-1]
        if math.isnan(mean):
            return True
        close = float(bar.close_price)
        if side is OrderSide.BUY:
            return close >= mean * (1.0 - self.band)
        return close <= mean * (1.0 + self.band)


class LiquidityFilter:
    """No new orders on either side while the mean volume of the last ``window`` bars
    is below ``min_volume`` (base units per bar): a thin market fills a grid at prices
    nobody else traded, and a backtest would believe those fills."""

    name = "liquidity"

    def __init__(self, mean_volume: IndicatorView, min_volume: float) -> None:
        self.mean_volume = mean_volume
        self.min_volume = min_volume

    def allows(self, side: OrderSide, bar: Bar) -> bool:
        mean = self.mean_volume[-1]
        return not math.isnan(mean) and mean >= self.min_volume
