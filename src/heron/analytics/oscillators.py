"""Momentum oscillators: RSI (Wilder), MACD and the stochastic oscillator.

Each follows TA-Lib's definition, lookback and seeding, noted per function, and
its order of arithmetic, so the values agree with TA-Lib to the last few bits even
where they cross zero (a MACD histogram is a small difference of large numbers).
"""

from __future__ import annotations

from typing import NamedTuple

from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from heron.analytics.averages import ema_from
from heron.analytics.inputs import (
    FloatArray,
    InvalidParameter,
    aligned,
    check_period,
    nan_array,
    series,
)
from heron.analytics.jit import kernel

# TA-Lib's TA_IS_ZERO: a sum below this is treated as no movement at all.
TA_ZERO = 1e-8


def rsi(values: ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's relative strength index, 0..100: ``100 * avg_gain / (avg_gain + avg_loss)``.

    Defined from bar ``period``: the averages are seeded with the plain means of the
    first ``period`` gains and losses (bars ``1..period``), then smoothed with
    ``avg = (avg * (period - 1) + new) / period``. As in TA-Lib, a window without any
    movement (``avg_gain + avg_loss < 1e-8``) gives 0, not NaN.
    """
    check_period("rsi", "period", period, 2, 14)
    x = series("rsi", "values", values)
    out = nan_array(len(x))
    if len(x) > period:
        _rsi_kernel(x, period, out)
    return out


@kernel
def _rsi_kernel(x: FloatArray, period: int, out: FloatArray) -> None:
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        change = x[i] - x[i - 1]
        if change < 0.0:
            loss -= change
        else:
            gain += change
    loss /= period
    gain /= period
    total = gain + loss
    out[period] = 100.0 * (gain / total) if abs(total) >= TA_ZERO else 0.0
    keep = float(period - 1)
    for i in range(period + 1, len(x)):
        change = x[i] - x[i - 1]
        loss *= keep
        gain *= keep
        if change < 0.0:
            loss -= change
        else:
            gain += change
        loss /= period
        gain /= period
        total = gain + loss
        out[i] = 100.0 * (gain / total) if abs(total) >= TA_ZERO else 0.0


class Macd(NamedTuple):
    """MACD line (fast EMA - slow EMA), its signal EMA, and line - signal."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def macd(values: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """Moving average convergence/divergence, TA-Lib's ``MACD``.

    TA-Lib's seeding, followed here: both EMAs start on bar ``slow - 1``, the slow one
    seeded with the SMA of the first ``slow`` values and the fast one with the SMA of
    the ``fast`` values ending on that same bar (not on bar ``fast - 1``); the signal
    EMA is seeded with the mean of the first ``signal`` MACD values. All three
    outputs are NaN before bar ``slow + signal - 2``, where the signal is first
    defined, so they share one lookback (the line alone would be known earlier).
    """
    check_period("macd", "fast", fast, 2, 12)
    check_period("macd", "slow", slow, 2, 26)
    check_period("macd", "signal", signal, 1, 9)
    if fast >= slow:
        raise InvalidParameter(
            f"macd fast ({fast}) must be shorter than slow ({slow}); e.g. fast=12, slow=26"
        )
    x = series("macd", "values", values)
    start = slow - 1
    line = ema_from(x, fast, start) - ema_from(x, slow, start)
    first = start + signal - 1
    sig = ema_from(line, signal, first)
    line[:first] = float("nan")
    return Macd(line, sig, line - sig)


class Stochastic(NamedTuple):
    """Slow %K and slow %D, 0..100."""

    k: FloatArray
    d: FloatArray


def stochastic(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowd_period: int = 3,
) -> Stochastic:
    """Stochastic oscillator with TA-Lib's default smoothing (``STOCH``, SMA for both).

    Fast %K is ``(close - lowest low) / ((highest high - lowest low) / 100)`` over the
    last ``fastk_period`` bars (0 when the range is 0, as in TA-Lib); slow %K is its
    ``slowk_period`` SMA and slow %D the ``slowd_period`` SMA of slow %K. Both outputs
    are NaN before bar ``fastk_period + slowk_period + slowd_period - 3``, where %D is
    first defined (TA-Lib's single lookback for the pair).
    """
    check_period("stochastic", "fastk_period", fastk_period, 1, 5)
    check_period("stochastic", "slowk_period", slowk_period, 1, 3)
    check_period("stochastic", "slowd_period", slowd_period, 1, 3)
    h, lo, c = aligned("stochastic", high=high, low=low, close=close)
    n = len(c)
    first = fastk_period + slowk_period + slowd_period - 3
    k, d = nan_array(n), nan_array(n)
    if n <= first:
        return Stochastic(k, d)
    fast_k = _fast_k(h, lo, c, fastk_period)
    slow_k = sliding_window_view(fast_k, slowk_period).mean(axis=1)
    slow_d = sliding_window_view(slow_k, slowd_period).mean(axis=1)
    k[first:] = slow_k[slowd_period - 1 :]
    d[first:] = slow_d
    return Stochastic(k, d)


def _fast_k(h: FloatArray, lo: FloatArray, c: FloatArray, period: int) -> FloatArray:
    """Fast %K for bars ``period - 1 ..`` (one value per full window)."""
    highest = sliding_window_view(h, period).max(axis=1)
    lowest = sliding_window_view(lo, period).min(axis=1)
    diff = (highest - lowest) / 100.0
    fast: FloatArray = (c[period - 1 :] - lowest) / _nonzero(diff)
    fast[diff == 0.0] = 0.0
    return fast


def _nonzero(diff: FloatArray) -> FloatArray:
    """``diff`` with zeros replaced by 1, so the division cannot warn; callers mask them."""
    safe = diff.copy()
    safe[safe == 0.0] = 1.0
    return safe
