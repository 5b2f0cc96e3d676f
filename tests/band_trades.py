"""Round trips of the band rules that momentum and news_sentiment share, computed by hand,
and the same shape read from a heron result, so the tests compare like with like."""

from __future__ import annotations

import numpy as np

import heron


def reference_trades(score: np.ndarray, entry: float, exit_: float,
                     shorts: bool) -> list[tuple[str, int, int]]:
    """(direction, entry bar, exit bar) of each closed round trip, one decision per bar:
    long above +entry, short below -entry, out once back inside +-exit."""
    trades, side, opened = [], "", 0
    for i, value in enumerate(score):
        if (side == "long" and value <= exit_) or (side == "short" and value >= -exit_):
            trades.append((side, opened, i))
            side = ""
        if not side and value > entry:
            side, opened = "long", i
        elif not side and shorts and value < -entry:
            side, opened = "short", i
    return trades


def heron_trades(result: heron.BacktestResult) -> list[tuple[str, int, int]]:
    """(direction, entry bar, exit bar) of each round trip heron closed."""
    t = result.trades
    return list(zip(t["direction"].to_list(), t["entry_bar"].to_list(),
                    t["exit_bar"].to_list(), strict=True))
