"""Volatility: true range, ATR (Wilder), rolling standard deviation, Bollinger bands, z-score.

Standard deviations here are population deviations (``ddof=0``) by default, TA-Lib's
``STDDEV`` and Bollinger convention (pandas' ``rolling().std()`` uses ``ddof=1``).
Each window's deviation is computed in two passes (mean, then squared deviations
from it) in a compiled loop. TA-Lib instead keeps a running sum of squares and takes
``E[x^2] - E[x]^2``, which cancels catastrophically on prices far from zero (a flat
window of BTC prices can come out with a deviation of 1e-3 instead of 0); so heron's
deviations are the accurate ones, and the bands, which add the deviation to a price,
still agree with TA-Lib's to ~1e-12 relative.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from heron.analytics.averages import sma
from heron.analytics.inputs import (
    FloatArray,
    aligned,
    check_number,
    check_period,
    nan_array,
    series,
)
from heron.analytics.jit import kernel


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    """``max(high, previous close) - min(low, previous close)``; NaN on the first bar.

    TA-Lib's ``TRANGE``: the first bar has no previous close, so no value.
    """
    h, lo, c = aligned("true_range", high=high, low=low, close=close)
    out = nan_array(len(c))
    if len(c) > 1:
        prev = c[:-1]
        out[1:] = np.maximum(h[1:], prev) - np.minimum(lo[1:], prev)
    return out


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> FloatArray:
    """Average true range, Wilder's smoothing: ``atr = (atr * (period - 1) + tr) / period``.

    TA-Lib's seeding: the first value, on bar ``period``, is the plain mean of the true
    ranges of bars ``1..period``; earlier bars are NaN.
    """
    check_period("atr", "period", period, 1, 14)
    tr = true_range(high, low, close)
    out = nan_array(len(tr))
    if len(tr) > period:
        _wilder_kernel(tr, period, out)
    return out


@kernel
def _wilder_kernel(tr: FloatArray, period: int, out: FloatArray) -> None:
    total = 0.0
    for i in range(1, period + 1):
        total += tr[i]
    prev = total / period
    out[period] = prev
    keep = float(period - 1)
    for i in range(period + 1, len(tr)):
        prev *= keep
        prev += tr[i]
        prev /= period
        out[i] = prev


def rolling_std(values: ArrayLike, period: int, *, ddof: int = 0) -> FloatArray:
    """Standard deviation of each window of ``period`` values; NaN before bar ``period - 1``."""
    check_period("rolling_std", "period", period, 1, 20)
    check_period("rolling_std", "ddof", ddof, 0, 0)
    x = series("rolling_std", "values", values)
    if ddof >= period:
        check_period("rolling_std", "period", period, ddof + 1, ddof + 20)
    out = nan_array(len(x))
    if len(x) >= period:
        _window_std_kernel(x, period, ddof, out)
    return out


@kernel
def _window_std_kernel(x: FloatArray, period: int, ddof: int, out: FloatArray) -> None:
    for end in range(period - 1, len(x)):
        total = 0.0
        for i in range(end - period + 1, end + 1):
            total += x[i]
        mean = total / period
        squares = 0.0
        for i in range(end - period + 1, end + 1):
            dev = x[i] - mean
            squares += dev * dev
        out[end] = math.sqrt(squares / (period - ddof))


class BollingerBands(NamedTuple):
    """Upper band, middle (the SMA) and lower band."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


def bollinger_bands(
    values: ArrayLike, period: int = 20, width_up: float = 2.0, width_down: float = 2.0
) -> BollingerBands:
    """Bollinger bands: ``sma ± width * population standard deviation`` over ``period`` bars.

    TA-Lib's ``BBANDS`` with its SMA middle (``matype=0``); NaN before bar ``period - 1``.
    """
    check_period("bollinger_bands", "period", period, 1, 20)
    up = check_number("bollinger_bands", "width_up", width_up, minimum=0.0, example=2.0)
    down = check_number("bollinger_bands", "width_down", width_down, minimum=0.0, example=2.0)
    middle = sma(values, period)
    std = rolling_std(values, period)
    return BollingerBands(middle + up * std, middle, middle - down * std)


def zscore(values: ArrayLike, period: int, *, ddof: int = 0) -> FloatArray:
    """How many standard deviations each value is from the mean of its last ``period`` values.

    ``(x - sma) / rolling_std``, the window including the current value; NaN before bar
    ``period - 1`` and wherever the window is flat (a deviation of 0 leaves the
    distance undefined). ``ddof=0`` (population) matches the Bollinger bands, so
    ``|z| > 2`` means outside the 2-width bands.
    """
    check_period("zscore", "period", period, 2, 20)
    x = series("zscore", "values", values)
    std = rolling_std(x, period, ddof=ddof)
    distance = x - sma(x, period)
    flat = std == 0.0
    out: FloatArray = distance / np.where(flat, 1.0, std)
    out[flat] = np.nan
    return out
