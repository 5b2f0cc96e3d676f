"""Volume indicators: on-balance volume, typical price and VWAP (cumulative, per session, rolling).

VWAP is the volume-weighted mean price, ``sum(price * volume) / sum(volume)``. On bars
the price is usually the typical price ``(high + low + close) / 3``
(:func:`typical_price`); on trades it is each trade's price. A span without volume has
no VWAP (NaN).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from heron.analytics.inputs import (
    FloatArray,
    InvalidParameter,
    aligned,
    check_period,
    nan_array,
)
from heron.analytics.jit import kernel


def obv(close: ArrayLike, volume: ArrayLike) -> FloatArray:
    """On-balance volume: a running total adding the volume of up bars and taking that of down bars.

    TA-Lib's ``OBV`` convention: the total starts at the first bar's volume (not 0), and
    a bar that closes unchanged adds nothing. Defined from the first bar.
    """
    c, v = aligned("obv", close=close, volume=volume)
    if len(c) == 0:
        return nan_array(0)
    signed = np.zeros(len(c))
    signed[0] = v[0]
    change = np.diff(c)
    signed[1:] = np.where(change > 0.0, v[1:], np.where(change < 0.0, -v[1:], 0.0))
    out: FloatArray = np.cumsum(signed)
    return out


def typical_price(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    """``(high + low + close) / 3``, the bar price VWAP is usually taken over (``TYPPRICE``)."""
    h, lo, c = aligned("typical_price", high=high, low=low, close=close)
    out: FloatArray = (h + lo + c) / 3.0
    return out


def vwap(price: ArrayLike, volume: ArrayLike, *, sessions: ArrayLike | None = None) -> FloatArray:
    """Cumulative VWAP from the first bar, or from the start of each session.

    ``sessions`` labels each bar with its session (any integers, e.g.
    ``ts // 86_400_000_000_000`` for UTC days); the sums restart wherever the label
    changes. NaN until the first bar with volume in each session.
    """
    p, v = aligned("vwap", price=price, volume=volume)
    starts = np.zeros(len(p), dtype=np.bool_)
    if len(p):
        starts[0] = True
    if sessions is not None:
        labels = np.asarray(sessions)
        if labels.shape != p.shape:
            raise InvalidParameter(
                f"vwap sessions must hold one label per bar ({p.shape}), got shape "
                f"{labels.shape}; e.g. sessions=ts // 86_400_000_000_000 for UTC days"
            )
        starts[1:] |= labels[1:] != labels[:-1]
    out = nan_array(len(p))
    _session_vwap_kernel(p, v, starts, out)
    return out


@kernel
def _session_vwap_kernel(
    p: FloatArray, v: FloatArray, starts: NDArray[np.bool_], out: FloatArray
) -> None:
    notional = 0.0
    volume = 0.0
    for i in range(len(p)):
        if starts[i]:
            notional = 0.0
            volume = 0.0
        notional += p[i] * v[i]
        volume += v[i]
        if volume != 0.0:
            out[i] = notional / volume


def rolling_vwap(price: ArrayLike, volume: ArrayLike, period: int) -> FloatArray:
    """VWAP of the last ``period`` bars; NaN before bar ``period - 1`` and without volume."""
    check_period("rolling_vwap", "period", period, 1, 20)
    p, v = aligned("rolling_vwap", price=price, volume=volume)
    out = nan_array(len(p))
    if len(p) < period:
        return out
    notional = sliding_window_view(p * v, period).sum(axis=1)
    traded = sliding_window_view(v, period).sum(axis=1)
    has_volume = traded != 0.0
    out[period - 1 :][has_volume] = notional[has_volume] / traded[has_volume]
    return out
