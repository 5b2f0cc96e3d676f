"""Trend strength: Wilder's directional movement system (ADX, +DI, -DI).

Follows TA-Lib's ``ADX``, ``PLUS_DI`` and ``MINUS_DI`` step for step, since Wilder's
system has several seeding choices and TA-Lib's are the ones users compare with:

- ``+DM = high - prev high`` when that is positive and larger than ``prev low - low``
  (``-DM`` the mirror image), true range as in :func:`~heron.analytics.volatility.true_range`.
- The smoothed sums start as plain sums of bars ``1 .. period - 1`` (``period - 1``
  values, not ``period``), then each bar ``s = s - s / period + new`` (Wilder).
- ``+DI = 100 * +DM_s / TR_s`` from bar ``period`` (0 while ``TR_s < 1e-8``);
  ``DX = 100 * |+DI - -DI| / (+DI + -DI)``.
- ADX is first the mean of the ``period`` DX values of bars ``period .. 2 * period - 1``
  (defined on bar ``2 * period - 1``), then ``adx = (adx * (period - 1) + dx) / period``.
  A bar whose DX is undefined (no range, or no directional movement) leaves ADX as it
  was, and counts as 0 in the first mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from heron.analytics.inputs import FloatArray, aligned, check_period, nan_array
from heron.analytics.jit import kernel
from heron.analytics.oscillators import TA_ZERO
from heron.analytics.volatility import true_range


class Adx(NamedTuple):
    """Average directional index and the two directional indicators, 0..100."""

    adx: FloatArray
    plus_di: FloatArray
    minus_di: FloatArray


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> Adx:
    """ADX, +DI and -DI over ``period`` bars (Wilder; TA-Lib's seeding, see the module).

    +DI and -DI are NaN before bar ``period``, ADX before bar ``2 * period - 1``.
    """
    check_period("adx", "period", period, 2, 14)
    h, lo, c = aligned("adx", high=high, low=low, close=close)
    n = len(c)
    out = Adx(nan_array(n), nan_array(n), nan_array(n))
    if n <= period:
        return out
    up = np.zeros(n)
    down = np.zeros(n)
    up[1:] = np.diff(h)
    down[1:] = -np.diff(lo)
    plus_dm = np.where((up > 0.0) & (up > down), up, 0.0)
    minus_dm = np.where((down > 0.0) & (up < down), down, 0.0)
    tr_s = _wilder_sums(true_range(h, lo, c), period)
    no_range = np.abs(tr_s) < TA_ZERO
    safe_tr = np.where(no_range, 1.0, tr_s)
    plus_di = np.where(no_range, 0.0, 100.0 * (_wilder_sums(plus_dm, period) / safe_tr))
    minus_di = np.where(no_range, 0.0, 100.0 * (_wilder_sums(minus_dm, period) / safe_tr))
    both = minus_di + plus_di
    no_direction = no_range | (np.abs(both) < TA_ZERO)
    dx = np.where(
        no_direction,
        np.nan,
        100.0 * (np.abs(minus_di - plus_di) / np.where(no_direction, 1.0, both)),
    )
    out.plus_di[period:] = plus_di[period:]
    out.minus_di[period:] = minus_di[period:]
    if n >= 2 * period:
        _adx_kernel(dx, period, out.adx)
    return out


def _wilder_sums(values: FloatArray, period: int) -> FloatArray:
    """Wilder's running sums from bar ``period`` (seeded by bars ``1 .. period - 1``); 0 before."""
    out = np.zeros(len(values))
    _wilder_sums_kernel(values, period, out)
    return out


@kernel
def _wilder_sums_kernel(values: FloatArray, period: int, out: FloatArray) -> None:
    total = 0.0
    for i in range(1, period):
        total += values[i]
    for i in range(period, len(values)):
        total = total - (total / period) + values[i]
        out[i] = total


@kernel
def _adx_kernel(dx: FloatArray, period: int, out: FloatArray) -> None:
    total = 0.0
    for i in range(period, 2 * period):
        if not math.isnan(dx[i]):
            total += dx[i]
    smoothed = total / period
    out[2 * period - 1] = smoothed
    keep = float(period - 1)
    for i in range(2 * period, len(dx)):
        if not math.isnan(dx[i]):
            smoothed = ((smoothed * keep) + dx[i]) / period
        out[i] = smoothed
