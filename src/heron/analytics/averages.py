"""Moving averages: simple, exponential and linearly weighted. NaN until defined.

TA-Lib conventions, which these follow so values agree with it to the last bits:

- ``sma`` and ``wma`` are defined from bar ``period - 1`` (the first full window).
- ``ema`` is seeded at bar ``period - 1`` with the SMA of the first ``period`` values
  (TA-Lib's default "compatibility" mode; Metastock's mode seeds with the first value
  instead), then ``ema += (x - ema) * alpha`` with ``alpha = 2 / (period + 1)``, in
  that order of operations. The seed and the recursion are one compiled loop.

TA-Lib's SMA and WMA update running sums as the window slides; here each window is
summed on its own (a strided view), so there is no drift over a long series and a
crossover of two averages is decided by the same values pandas' ``rolling().mean()``
gives. On prices the two agree to ~1e-15 relative.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from heron.analytics.inputs import FloatArray, check_period, nan_array, series
from heron.analytics.jit import kernel


def sma(values: ArrayLike, period: int) -> FloatArray:
    """Simple moving average of the last ``period`` values; the first ``period - 1`` are NaN."""
    check_period("sma", "period", period, 1, 20)
    x = series("sma", "values", values)
    out = nan_array(len(x))
    if len(x) >= period:
        out[period - 1 :] = sliding_window_view(x, period).mean(axis=1)
    return out


def ema(values: ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, ``alpha = 2 / (period + 1)``, seeded by the SMA.

    The first ``period - 1`` values are NaN; bar ``period - 1`` holds the SMA of the
    first ``period`` values (TA-Lib's seed).
    """
    check_period("ema", "period", period, 1, 20)
    x = series("ema", "values", values)
    return ema_from(x, period, period - 1)


def ema_from(x: FloatArray, period: int, start: int) -> FloatArray:
    """EMA of ``x`` seeded at bar ``start`` with the mean of ``x[start - period + 1 : start + 1]``.

    NaN before ``start``, and everywhere when ``x`` is shorter than ``start + 1``.
    TA-Lib seeds this way whenever an EMA starts later than its own lookback: MACD's
    fast EMA starts on the bar where the slow one does (see ``oscillators.macd``).
    """
    out = nan_array(len(x))
    if start >= len(x):
        return out
    _ema_kernel(x, period, 2.0 / (period + 1), start, out)
    return out


@kernel
def _ema_kernel(x: FloatArray, period: int, alpha: float, start: int, out: FloatArray) -> None:
    total = 0.0
    for i in range(start - period + 1, start + 1):
        total += x[i]
    prev = total / period
    out[start] = prev
    for i in range(start + 1, len(x)):
        prev = ((x[i] - prev) * alpha) + prev
        out[i] = prev


def wma(values: ArrayLike, period: int) -> FloatArray:
    """Linearly weighted moving average: weights ``1 .. period``, the newest heaviest.

    ``sum(k * x[t - period + k] for k in 1..period) / (period * (period + 1) / 2)``;
    the first ``period - 1`` values are NaN.
    """
    check_period("wma", "period", period, 1, 20)
    x = series("wma", "values", values)
    out = nan_array(len(x))
    if len(x) >= period:
        weights = np.arange(1, period + 1, dtype=np.float64)
        out[period - 1 :] = np.correlate(x, weights, mode="valid") / weights.sum()
    return out
