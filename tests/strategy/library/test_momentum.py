"""momentum on real bars: its round trips are the ones a plain NumPy reference predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import heron
from band_trades import heron_trades, reference_trades
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.strategy.library.momentum import momentum_score

DATA = Path(__file__).resolve().parents[3] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    return read_bars(DATA).frame["close"].to_numpy()


def reference_z(closes: np.ndarray, lookback: int, window: int) -> np.ndarray:
    """z-score of the lookback-bar return against its last `window` values, per window."""
    ret = np.full(len(closes), np.nan)
    ret[lookback:] = closes[lookback:] / closes[:-lookback] - 1.0
    z = np.full(len(closes), np.nan)
    windows = sliding_window_view(ret, window)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z[window - 1:] = np.where(std > 0, (ret[window - 1:] - mean) / std, np.nan)
    return z


def test_momentum_score_equals_the_reference_z(closes: np.ndarray) -> None:
    ours, ref = momentum_score(closes, 30, 120), reference_z(closes, 30, 120)
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ours[: 30 + 120 - 1]).all() and not np.isnan(ours[30 + 120 - 1])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_momentum_long_only_round_trips_match_the_reference(closes: np.ndarray) -> None:
    params = {"lookback": 30, "window": 120, "entry": 2.0, "exit": 0.5}
    result = heron.backtest(DATA, strategy="momentum", params=params, fill="close")
    expected = reference_trades(reference_z(closes, 30, 120), 2.0, 0.5, shorts=False)
    assert len(expected) > 50
    assert heron_trades(result) == expected


def test_momentum_long_short_round_trips_match_the_reference(closes: np.ndarray) -> None:
    params = {"lookback": 5, "window": 60, "entry": 2.5, "exit": 0.0, "mode": "long-short"}
    result = heron.backtest(DATA, strategy="momentum", params=params, fill="close",
                            kind="perp")
    expected = reference_trades(reference_z(closes, 5, 60), 2.5, 0.0, shorts=True)
    assert {d for d, _, _ in expected} == {"long", "short"}
    assert heron_trades(result) == expected


def test_momentum_next_open_fills_one_bar_after_each_decision(closes: np.ndarray) -> None:
    params = {"lookback": 30, "window": 120, "entry": 2.0, "exit": 0.5}
    result = heron.backtest(DATA, strategy="momentum", params=params, fill="next-open")
    expected = reference_trades(reference_z(closes, 30, 120), 2.0, 0.5, shorts=False)
    assert heron_trades(result) == [(d, a + 1, b + 1) for d, a, b in expected
                                    if b + 1 < len(closes)]


@pytest.mark.parametrize(("params", "needle"), [
    ({"exit": 2.0, "entry": 2.0}, "exit (2.0) must be below entry"),
    ({"lookback": 0}, "lookback=0 is out of range"),
    ({"window": 1}, "window=1 is out of range"),
    ({"entry": 11}, "entry=11.0 is out of range"),
    ({"mode": "short-only"}, "one of long-only, long-short"),
])
def test_momentum_bad_parameters_are_refused_with_the_rule(params: dict[str, object],
                                                           needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        heron.backtest(DATA, strategy="momentum", params=params)
    assert needle in str(caught.value)
