"""Indicator views read the current bar with [-1] and cannot look ahead."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

import heron
from heron.analytics.indicators import sma
from heron.model.data import Bar
from heron.strategy.base import Strategy


def _bars(n: int) -> pl.DataFrame:
    close = np.arange(1, n + 1, dtype=float)
    return pl.DataFrame({"ts": np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_600_000_000
                         * 1_000_000_000, "open": close, "high": close, "low": close,
                         "close": close, "volume": np.ones(n)})


class Recorder(Strategy):
    name = "recorder"

    def on_start(self) -> None:
        self.avg = self.indicator(sma, 3)
        self.seen: list[tuple[int, float, float]] = []
        self.errors: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((bar.index, self.avg[-1], self.avg[-2]))
        try:
            self.avg[0]
        except IndexError as exc:
            self.errors.append(str(exc))


def test_indicator_minus_one_is_the_bar_being_handled() -> None:
    strat = Recorder()
    heron.backtest(_bars(6), strategy=strat, tick_size="1")
    idx, now, prev = zip(*strat.seen, strict=True)
    assert idx == (0, 1, 2, 3, 4, 5)
    assert all(math.isnan(v) for v in now[:2])
    assert now[2:] == (2.0, 3.0, 4.0, 5.0)  # mean of closes i-2..i = i
    assert prev[3:] == (2.0, 3.0, 4.0)


def test_indicator_non_negative_index_is_refused_as_look_ahead() -> None:
    strat = Recorder()
    heron.backtest(_bars(4), strategy=strat, tick_size="1")
    assert len(strat.errors) == 4
    assert "look ahead" in strat.errors[0]


def test_sma_matches_pandas_rolling_mean() -> None:
    values = np.random.default_rng(3).normal(100, 5, 500)
    import pandas as pd

    expected = pd.Series(values).rolling(20).mean().to_numpy()
    np.testing.assert_allclose(sma(values, 20), expected, rtol=1e-12, equal_nan=True)
    with pytest.raises(ValueError, match="period"):
        sma(values, 0)
