"""Indicators beyond the TA-Lib comparison: VWAP by hand, bad parameters, strategy use."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import heron
from heron.analytics import indicators as ind
from heron.analytics.inputs import InvalidParameter
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.strategy.base import Strategy

BARS = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
DAY_NS = 86_400_000_000_000


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return read_bars(BARS).frame


def _vwap_loop(price: list[float], volume: list[float], session: list[int]) -> list[float]:
    """Cumulative VWAP restarting per session, one bar at a time."""
    out: list[float] = []
    notional = traded = 0.0
    for i, (p, v) in enumerate(zip(price, volume, strict=True)):
        if i == 0 or session[i] != session[i - 1]:
            notional = traded = 0.0
        notional += p * v
        traded += v
        out.append(notional / traded if traded else math.nan)
    return out


def test_vwap_real_bars_per_utc_day_equals_loop(frame: pl.DataFrame) -> None:
    price = ind.typical_price(frame["high"], frame["low"], frame["close"])
    volume = frame["volume"].to_numpy()
    days = frame["ts"].to_numpy() // DAY_NS
    ours = ind.vwap(price, volume, sessions=days)
    ref = _vwap_loop(price.tolist(), volume.tolist(), days.tolist())
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0.0)
    # The sum restarts: the first bar of each day has VWAP == its own price.
    first = np.flatnonzero(np.diff(days)) + 1
    assert len(first) == 32  # 2022-01-01 .. 2022-02-01
    has_volume = volume[first] > 0
    np.testing.assert_allclose(ours[first][has_volume], price[first][has_volume], rtol=1e-15)


def test_vwap_without_sessions_is_one_running_average(frame: pl.DataFrame) -> None:
    price = frame["close"].to_numpy()[:500]
    volume = frame["volume"].to_numpy()[:500]
    ours = ind.vwap(price, volume)
    ref = _vwap_loop(price.tolist(), volume.tolist(), [0] * 500)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert ours[-1] == pytest.approx(float((price * volume).sum() / volume.sum()), rel=1e-12)


def test_vwap_hand_example_zero_volume_is_nan_until_traded() -> None:
    out = ind.vwap([10.0, 11.0, 13.0, 9.0], [0.0, 1.0, 3.0, 0.0])
    assert math.isnan(out[0])
    assert out[1] == 11.0
    assert out[2] == pytest.approx((11.0 + 39.0) / 4.0)  # 12.5
    assert out[3] == pytest.approx(12.5)


def test_rolling_vwap_hand_example() -> None:
    out = ind.rolling_vwap([10.0, 20.0, 30.0, 40.0], [1.0, 1.0, 2.0, 0.0], 2)
    assert math.isnan(out[0])
    assert out[1:].tolist() == pytest.approx([15.0, (20.0 + 60.0) / 3.0, 30.0])


def test_zscore_flat_window_is_nan_not_inf() -> None:
    out = ind.zscore([5.0, 5.0, 5.0, 6.0, 4.0], 3)
    assert np.isnan(out[:3]).all()
    assert out[3] == pytest.approx((6.0 - 16.0 / 3.0) / np.std([5.0, 5.0, 6.0]))
    assert np.isfinite(out[4])


BAD: list[tuple[Callable[[], Any], str]] = [
    (lambda: ind.sma([1.0, 2.0], 0), "sma period must be >= 1"),
    (lambda: ind.ema([1.0, 2.0], 2.5), "ema period must be an int"),
    (lambda: ind.wma([1.0], True), "wma period must be an int"),
    (lambda: ind.rsi([1.0, 2.0], 1), "rsi period must be >= 2"),
    (lambda: ind.macd([1.0], 26, 12), "macd fast \\(26\\) must be shorter than slow"),
    (lambda: ind.macd([1.0], signal=0), "macd signal must be >= 1"),
    (lambda: ind.bollinger_bands([1.0], 20, -1.0), "bollinger_bands width_up must be"),
    (lambda: ind.bollinger_bands([1.0], 20, math.nan), "width_up must be a finite number"),
    (lambda: ind.atr([1.0], [1.0], [1.0], 0), "atr period must be >= 1"),
    (lambda: ind.adx([1.0], [1.0], [1.0], 1), "adx period must be >= 2"),
    (lambda: ind.stochastic([1.0], [1.0], [1.0], slowd_period=0), "slowd_period must be"),
    (lambda: ind.zscore([1.0, 2.0], 1), "zscore period must be >= 2"),
    (lambda: ind.rolling_std([1.0, 2.0], 2, ddof=2), "rolling_std period must be >= 3"),
    (lambda: ind.atr([1.0, 2.0], [1.0], [1.0]), "atr|true_range needs inputs of one length"),
    (lambda: ind.sma(np.ones((3, 2)), 2), "sma values must be one-dimensional"),
    (lambda: ind.vwap([1.0, 2.0], [1.0, 1.0], sessions=[0]), "vwap sessions must hold one"),
]


@pytest.mark.parametrize(("call", "message"), BAD, ids=[m for _, m in BAD])
def test_indicator_bad_parameter_raises_value_error_naming_it(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert isinstance(info.value, InvalidParameter)
    assert isinstance(info.value, InvalidConfiguration)


def test_indicator_accepts_integer_and_list_input() -> None:
    assert ind.sma([1, 2, 3, 4], 2).tolist()[1:] == [1.5, 2.5, 3.5]
    assert ind.ema(np.arange(5), 5)[-1] == 2.0
    assert ind.wma(np.array([1, 2, 3], dtype=np.int32), 3)[-1] == pytest.approx(14 / 6)


def test_indicators_import_does_not_load_numba() -> None:
    code = "import sys, heron.analytics.indicators; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


class MacdFollower(Strategy):
    """Records the histogram and RSI seen on each bar, as the module docstring shows."""

    name = "macd_follower"

    def on_start(self) -> None:
        self.hist = self.indicator(lambda close: ind.macd(close).histogram, name="macd_hist")
        self.strength = self.indicator(ind.rsi, 14)
        self.seen: list[tuple[float, float]] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((self.hist[-1], self.strength[-1]))


def test_strategy_reads_new_indicators_bar_by_bar(frame: pl.DataFrame) -> None:
    bars = frame.head(300)
    strat = MacdFollower()
    heron.backtest(bars, strategy=strat, tick_size="0.25")
    hist, strength = (np.array(col) for col in zip(*strat.seen, strict=True))
    close = bars["close"].to_numpy()
    np.testing.assert_array_equal(hist, ind.macd(close).histogram)
    np.testing.assert_array_equal(strength, ind.rsi(close, 14))
    assert np.isnan(hist[:33]).all() and not np.isnan(hist[33:]).any()
