"""mean_reversion on real bars: its round trips are the ones a plain Bollinger-band
reference predicts (close against mean ± width · std, written without z-scores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import heron
from band_trades import heron_trades
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration

DATA = Path(__file__).resolve().parents[3] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    return read_bars(DATA).frame["close"].to_numpy()


def reference_bands(closes: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of each window of `period` closes."""
    mean = np.full(len(closes), np.nan)
    std = np.full(len(closes), np.nan)
    windows = sliding_window_view(closes, period)
    mean[period - 1:] = windows.mean(axis=1)
    std[period - 1:] = windows.std(axis=1)
    return mean, std


def reference_trades(closes: np.ndarray, period: int, width: float, exit_width: float,
                     shorts: bool) -> list[tuple[str, int, int]]:
    """(direction, entry bar, exit bar) per closed round trip, decided bar by bar:
    buy below the lower band, sell above the upper, leave `exit_width` std before the mean."""
    mean, std = reference_bands(closes, period)
    trades, side, opened = [], "", 0
    for i, close in enumerate(closes):
        m, s = mean[i], std[i]
        if np.isnan(m) or s == 0:  # no band yet, or a flat window: nothing to measure
            continue
        if ((side == "long" and close >= m - exit_width * s)
                or (side == "short" and close <= m + exit_width * s)):
            trades.append((side, opened, i))
            side = ""
        if not side and close < m - width * s:
            side, opened = "long", i
        elif not side and shorts and close > m + width * s:
            side, opened = "short", i
    return trades


def test_mean_reversion_long_only_exits_at_the_mean_as_the_reference(
        closes: np.ndarray) -> None:
    result = heron.backtest(DATA, strategy="mean_reversion", fill="close",
                            params={"period": 20, "width": 2.0})
    expected = reference_trades(closes, 20, 2.0, 0.0, shorts=False)
    assert len(expected) > 100
    assert heron_trades(result) == expected
    mean, _ = reference_bands(closes, 20)
    exits = result.trades["exit_bar"].to_numpy()
    assert (closes[exits] >= mean[exits]).all()  # every exit is at or above the mean


def test_mean_reversion_long_short_with_an_exit_band_matches_the_reference(
        closes: np.ndarray) -> None:
    params = {"period": 60, "width": 2.5, "exit_width": 0.5, "mode": "long-short"}
    result = heron.backtest(DATA, strategy="mean_reversion", fill="close", kind="perp",
                            params=params)
    expected = reference_trades(closes, 60, 2.5, 0.5, shorts=True)
    assert {d for d, _, _ in expected} == {"long", "short"}
    assert heron_trades(result) == expected


def test_mean_reversion_fixed_quantity_trades_that_size() -> None:
    result = heron.backtest(DATA, strategy="mean_reversion", fill="close", lot_size="0.001",
                            params={"quantity": "0.5"})
    assert result.trades.height > 10
    assert {str(q.normalize()) for q in result.trades["qty"].to_list()} == {"0.5"}


@pytest.mark.parametrize(("params", "needle"), [
    ({"exit_width": 2.0, "width": 2.0}, "exit_width (2.0) must be below width"),
    ({"period": 1}, "period=1 is out of range"),
    ({"width": 0}, "width=0.0 is out of range"),
    ({"exit_width": -1}, "exit_width=-1.0 is out of range"),
])
def test_mean_reversion_bad_parameters_are_refused_with_the_rule(
        params: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        heron.backtest(DATA, strategy="mean_reversion", params=params)
    assert needle in str(caught.value)
