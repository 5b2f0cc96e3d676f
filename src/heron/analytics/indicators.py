"""Indicators computed over a whole series at once (NumPy), NaN until defined.

Each window is summed on its own (a strided view), not by a running ``cumsum``
difference, so a crossover of two averages is decided by the same values a
pandas ``rolling().mean()`` gives, without the drift of a long running sum.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def sma(values: NDArray[np.floating] | NDArray[np.integer], period: int) -> FloatArray:
    """Simple moving average; the first ``period - 1`` values are NaN."""
    if period < 1:
        raise ValueError(f"sma period must be >= 1, got {period}")
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if len(x) >= period:
        out[period - 1:] = sliding_window_view(x, period).mean(axis=1)
    return out


def ema(values: NDArray[np.floating] | NDArray[np.integer], period: int) -> FloatArray:
    """Exponential moving average with ``alpha = 2 / (period + 1)``, seeded by the SMA."""
    if period < 1:
        raise ValueError(f"ema period must be >= 1, got {period}")
    x = np.asarray(values, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if len(x) < period:
        return out
    alpha = 2.0 / (period + 1)
    prev = float(x[:period].mean())
    out[period - 1] = prev
    for i in range(period, len(x)):
        prev = prev + alpha * (float(x[i]) - prev)
        out[i] = prev
    return out
