"""Features and labels for ``ml_signal``: what the model sees at a bar, and what it learns.

Every feature at bar ``t`` is computed from bars ``0..t`` only (trailing windows, or the
recursive Wilder/EMA averages of :mod:`heron.analytics.indicators`, which are causal by
construction), so computing them over a whole series at once, as a backtest does, gives
the same row ``t`` as computing them over the bars up to ``t``. The label of row ``t``
looks ``horizon`` bars ahead, which is why training only ever uses rows whose label window
has closed (:func:`training_rows`).

Statistics in float64: these are model inputs, not money.

The columns (``w`` is the ``window`` parameter), in :data:`FEATURE_NAMES` order:

* ``ret_1``, ``ret_5``, ``ret_w``: log returns over 1, 5 and ``w`` bars;
* ``rsi``: ``rsi(close, 14) / 100 - 0.5``;
* ``zscore``: z-score of the close against its last ``w`` closes (population std);
* ``volatility``: population std of the last ``w`` one-bar log returns;
* ``atr``: ``atr(high, low, close, 14) / close``;
* ``volume_z``: z-score of ``log(1 + volume)`` against its last ``w`` values;
* ``range``: ``log(high / low)`` of the bar;
* ``ema_gap``: ``close / ema(close, w) - 1``.

NaN where a window is not full yet (or flat, for the z-scores); such rows are left out
of training and give no prediction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from heron.analytics.indicators import atr, ema, rolling_std, rsi, zscore

FloatArray = NDArray[np.float64]

FEATURE_NAMES = ("ret_1", "ret_5", "ret_w", "rsi", "zscore", "volatility", "atr", "volume_z",
                 "range", "ema_gap")
RSI_PERIOD = 14
ATR_PERIOD = 14


def log_return(close: FloatArray, bars: int) -> FloatArray:
    """``log(close_t / close_{t-bars})``; NaN for the first ``bars`` rows."""
    out = np.full(len(close), np.nan)
    if len(close) > bars:
        out[bars:] = np.log(close[bars:] / close[:-bars])
    return out


def feature_matrix(series: Mapping[str, FloatArray], window: int) -> FloatArray:
    """One row per bar, one column per :data:`FEATURE_NAMES` entry (see the module doc)."""
    close = np.asarray(series["close"], dtype=np.float64)
    high = np.asarray(series["high"], dtype=np.float64)
    low = np.asarray(series["low"], dtype=np.float64)
    volume = np.asarray(series["volume"], dtype=np.float64)
    r1 = log_return(close, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = (
            r1,
            log_return(close, 5),
            log_return(close, window),
            rsi(close, RSI_PERIOD) / 100.0 - 0.5,
            zscore(close, window),
            rolling_std(r1, window),
            atr(high, low, close, ATR_PERIOD) / close,
            zscore(np.log1p(volume), window),
            np.log(high / low),
            close / ema(close, window) - 1.0,
        )
    out = np.column_stack(columns)
    out[~np.isfinite(out)] = np.nan  # inf (a zero low, say) is as unusable as a gap
    return out


def forward_labels(close: FloatArray, horizon: int, threshold: float) -> FloatArray:
    """1.0 where the return over the next ``horizon`` bars is above ``threshold``, 0.0
    where it is below ``-threshold``, NaN in between and where the future is unknown (the
    last ``horizon`` rows): a move inside the band is noise the model should not learn."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(len(close), np.nan)
    if len(close) > horizon:
        ahead = close[horizon:] / close[:-horizon] - 1.0
        labels = np.where(ahead > threshold, 1.0, np.where(ahead < -threshold, 0.0, np.nan))
        out[:-horizon] = labels
    return out


def training_rows(now: int, train: int, horizon: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` a model fitted at bar ``now`` may learn from: the last
    ``train`` rows whose label window (``horizon`` bars ahead) has closed by ``now``. The
    gap of ``horizon`` rows between the last one and ``now`` is the purge: no training
    label overlaps the bars the model then predicts."""
    stop = now - horizon + 1
    return max(0, stop - train), max(0, stop)

