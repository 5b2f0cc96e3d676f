"""Every indicator against TA-Lib on a month of real BTC-PERP one-minute bars.

The comparison is ``np.testing.assert_allclose(rtol=1e-9)`` with NaN in the same
places (the lookback). Where TA-Lib has no single function (rolling VWAP, z-score)
the reference is built from TA-Lib's own pieces. The one documented divergence is
the stochastic: TA-Lib's running-sum SMA leaves residues of ~1e-13 (even negative
ones) where the exact value is 0; heron's windowed mean gives the 0, and the test
checks that those are the only differences.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from heron.analytics import indicators as ind
from heron.data.bars import read_bars

talib = pytest.importorskip("talib")

BARS = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
RTOL = 1e-9

Arrays = dict[str, NDArray[np.float64]]


@pytest.fixture(scope="module")
def bars() -> Arrays:
    frame = read_bars(BARS).frame
    out = {name: frame[name].to_numpy() for name in ("open", "high", "low", "close", "volume")}
    assert len(out["close"]) == 45031
    return out


def assert_matches(ours: NDArray[np.float64], ref: NDArray[np.float64], lookback: int) -> None:
    """Same NaN positions (the first ``lookback`` bars), then equal to 1e-9 relative."""
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ours[:lookback]).all()
    assert not np.isnan(ours[lookback:]).any()
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=0.0)


SINGLE: list[tuple[str, Callable[[Arrays], Any], Callable[[Arrays], Any], int]] = [
    ("sma_5", lambda b: ind.sma(b["close"], 5), lambda b: talib.SMA(b["close"], 5), 4),
    ("sma_200", lambda b: ind.sma(b["close"], 200), lambda b: talib.SMA(b["close"], 200), 199),
    ("ema_10", lambda b: ind.ema(b["close"], 10), lambda b: talib.EMA(b["close"], 10), 9),
    ("ema_50", lambda b: ind.ema(b["close"], 50), lambda b: talib.EMA(b["close"], 50), 49),
    ("wma_20", lambda b: ind.wma(b["close"], 20), lambda b: talib.WMA(b["close"], 20), 19),
    ("rsi_14", lambda b: ind.rsi(b["close"], 14), lambda b: talib.RSI(b["close"], 14), 14),
    ("rsi_2", lambda b: ind.rsi(b["close"], 2), lambda b: talib.RSI(b["close"], 2), 2),
    ("rsi_50", lambda b: ind.rsi(b["close"], 50), lambda b: talib.RSI(b["close"], 50), 50),
    (
        "trange",
        lambda b: ind.true_range(b["high"], b["low"], b["close"]),
        lambda b: talib.TRANGE(b["high"], b["low"], b["close"]),
        1,
    ),
    (
        "atr_14",
        lambda b: ind.atr(b["high"], b["low"], b["close"], 14),
        lambda b: talib.ATR(b["high"], b["low"], b["close"], 14),
        14,
    ),
    (
        "atr_1",
        lambda b: ind.atr(b["high"], b["low"], b["close"], 1),
        lambda b: talib.ATR(b["high"], b["low"], b["close"], 1),
        1,
    ),
    (
        "obv",
        lambda b: ind.obv(b["close"], b["volume"]),
        lambda b: talib.OBV(b["close"], b["volume"]),
        0,
    ),
    (
        "typical_price",
        lambda b: ind.typical_price(b["high"], b["low"], b["close"]),
        lambda b: talib.TYPPRICE(b["high"], b["low"], b["close"]),
        0,
    ),
]


@pytest.mark.parametrize(
    ("ours", "ref", "lookback"), [s[1:] for s in SINGLE], ids=[s[0] for s in SINGLE]
)
def test_indicator_real_bars_equals_talib(
    bars: Arrays, ours: Callable[[Arrays], Any], ref: Callable[[Arrays], Any], lookback: int
) -> None:
    assert_matches(ours(bars), ref(bars), lookback)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 2)])
def test_macd_real_bars_equals_talib(bars: Arrays, fast: int, slow: int, signal: int) -> None:
    close = bars["close"]
    ours = ind.macd(close, fast, slow, signal)
    ref = talib.MACD(close, fast, slow, signal)
    lookback = slow + signal - 2
    assert_matches(ours.macd, ref[0], lookback)
    # The signal and histogram cross zero thousands of times. Near a crossing no two
    # float implementations agree relative to the value: all either can promise is an
    # absolute rounding of ~1e-16 x the price. TA-Lib's wheel fuses the signal EMA's
    # multiply-add into an FMA instruction and heron does not (its bits must not
    # depend on the CPU), so next to rtol=1e-9 these get an atol of 1e-14 x the price.
    atol = 1e-14 * float(np.abs(close).max())
    for mine, theirs in ((ours.signal, ref[1]), (ours.histogram, ref[2])):
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
        assert not np.isnan(mine[lookback:]).any()
        np.testing.assert_allclose(mine, theirs, rtol=RTOL, atol=atol)
        near_zero = ~np.isclose(mine, theirs, rtol=RTOL, atol=0.0, equal_nan=True)
        assert np.count_nonzero(near_zero) <= 5
        assert np.all(np.abs(theirs[near_zero]) < 1e-3)
        assert np.count_nonzero(np.diff(np.sign(mine[lookback:]))) > 1000


@pytest.mark.parametrize(("period", "up", "down"), [(20, 2.0, 2.0), (10, 1.5, 2.5), (5, 1.0, 1.0)])
def test_bollinger_real_bars_equals_talib(
    bars: Arrays, period: int, up: float, down: float
) -> None:
    ours = ind.bollinger_bands(bars["close"], period, up, down)
    ref = talib.BBANDS(bars["close"], period, up, down, 0)
    for mine, theirs in zip(ours, ref, strict=True):
        assert_matches(mine, theirs, period - 1)


@pytest.mark.parametrize("period", [14, 5, 30])
def test_adx_real_bars_equals_talib(bars: Arrays, period: int) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    ours = ind.adx(h, lo, c, period)
    assert_matches(ours.adx, talib.ADX(h, lo, c, period), 2 * period - 1)
    assert_matches(ours.plus_di, talib.PLUS_DI(h, lo, c, period), period)
    assert_matches(ours.minus_di, talib.MINUS_DI(h, lo, c, period), period)


@pytest.mark.parametrize(("fastk", "slowk", "slowd"), [(5, 3, 3), (14, 3, 3), (9, 1, 5)])
def test_stochastic_real_bars_equals_talib_except_its_zero_residues(
    bars: Arrays, fastk: int, slowk: int, slowd: int
) -> None:
    h, lo, c = bars["high"], bars["low"], bars["close"]
    ours = ind.stochastic(h, lo, c, fastk, slowk, slowd)
    ref = talib.STOCH(h, lo, c, fastk, slowk, 0, slowd, 0)
    lookback = fastk + slowk + slowd - 3
    for mine, theirs in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
        assert not np.isnan(mine[lookback:]).any()
        close = np.isclose(mine, theirs, rtol=RTOL, atol=0.0, equal_nan=True)
        # Every difference is an exact 0 here against a running-sum residue there.
        assert np.all(mine[~close] == 0.0)
        assert np.all(np.abs(theirs[~close]) < 1e-11)
        assert np.count_nonzero(~close) < 100
        np.testing.assert_allclose(mine[close], theirs[close], rtol=RTOL, atol=0.0)


def test_rolling_vwap_real_bars_equals_talib_sums(bars: Arrays) -> None:
    price = ind.typical_price(bars["high"], bars["low"], bars["close"])
    volume = bars["volume"]
    ref = talib.SUM(price * volume, 30) / talib.SUM(volume, 30)
    assert_matches(ind.rolling_vwap(price, volume, 30), ref, 29)


@pytest.mark.parametrize("period", [20, 60])
def test_zscore_real_bars_equals_talib_sma_and_stddev(bars: Arrays, period: int) -> None:
    close = bars["close"]
    ref = (close - talib.SMA(close, period)) / talib.STDDEV(close, period, 1.0)
    assert_matches(ind.zscore(close, period), ref, period - 1)
    assert_matches(ind.rolling_std(close, period), talib.STDDEV(close, period, 1.0), period - 1)


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (lambda x: ind.sma(x, 30), lambda x: talib.SMA(x, 30)),
        (lambda x: ind.ema(x, 30), lambda x: talib.EMA(x, 30)),
        (lambda x: ind.rsi(x, 30), lambda x: talib.RSI(x, 30)),
        (lambda x: ind.macd(x).signal, lambda x: talib.MACD(x)[1]),
        (lambda x: ind.bollinger_bands(x, 30).upper, lambda x: talib.BBANDS(x, 30)[0]),
    ],
    ids=["sma", "ema", "rsi", "macd", "bbands"],
)
def test_indicator_shorter_than_lookback_is_all_nan_like_talib(
    bars: Arrays, ours: Callable[[Any], Any], ref: Callable[[Any], Any]
) -> None:
    short = bars["close"][:25]
    mine, theirs = ours(short), ref(short)
    assert np.isnan(theirs).all()
    assert np.isnan(mine).all()
    assert mine.shape == (25,)
