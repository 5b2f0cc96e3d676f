"""Indicator views: values computed in bulk, read bar by bar without look-ahead.

``Strategy.indicator(sma, 10)`` computes the whole series once at start (NumPy), then
``view[-1]`` returns the value at the bar being handled, ``view[-2]`` the one before.
Non-negative indices are refused: reading ``[0]`` or ``[5]`` would be reading the
future, the classic backtest bug, so it cannot be written.
"""

from __future__ import annotations

import math
from typing import Any

from heron.strategy.context import StrategyContext


class IndicatorView:
    """Per-instrument arrays of one indicator, indexed relative to the current bar."""

    __slots__ = ("_ctx", "_values", "name")

    def __init__(self, name: str, ctx: StrategyContext, values: list[Any]) -> None:
        self.name = name
        self._ctx = ctx
        self._values = values  # per slot: a memoryview over float64 (fast scalar reads)

    def __getitem__(self, key: int) -> float:
        if key >= 0:
            raise IndexError(f"{self.name}[{key}]: read indicators backwards ([-1] is the "
                             "current bar); non-negative indices would look ahead")
        ctx = self._ctx
        i = ctx.index + 1 + key
        if i < 0:
            return math.nan
        value: float = self._values[ctx.slot][i]
        return value

    def of(self, slot: int, bars_ago: int = 0) -> float:
        """Value for another instrument ``slot`` at its latest bar (minus ``bars_ago``)."""
        ctx = self._ctx
        i = (ctx.index if slot == ctx.slot else ctx.last_index[slot]) - bars_ago
        if i < 0:
            return math.nan
        value: float = self._values[slot][i]
        return value
