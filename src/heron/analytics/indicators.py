"""Technical indicators over whole series at once: NaN until defined, TA-Lib's conventions.

One import for every indicator; each lives in a module named for its family:

- :mod:`~heron.analytics.averages`: ``sma``, ``ema``, ``wma``
- :mod:`~heron.analytics.oscillators`: ``rsi``, ``macd``, ``stochastic``
- :mod:`~heron.analytics.volatility`: ``true_range``, ``atr``, ``rolling_std``,
  ``bollinger_bands``, ``zscore``
- :mod:`~heron.analytics.trend`: ``adx`` (with +DI and -DI)
- :mod:`~heron.analytics.volume`: ``obv``, ``typical_price``, ``vwap``, ``rolling_vwap``

Every function takes array-likes (one value per bar), returns float64 arrays of the
same length (a NamedTuple of them for several outputs), and raises
:class:`~heron.analytics.inputs.InvalidParameter` (a ``ValueError``) for an impossible
period. A strategy reads one bar at a time through ``Strategy.indicator``::

    self.fast = self.indicator(sma, 10)
    self.hist = self.indicator(lambda close: macd(close).histogram, name="macd_hist")

Values agree with TA-Lib to 1e-9 relative on real bars (``tests/analytics``); where
TA-Lib's choice of seed or lookback is not the only reasonable one, the function's
docstring says which one is followed. ``docs/indicators.md`` lists them all.
"""

from __future__ import annotations

from heron.analytics.averages import ema, sma, wma
from heron.analytics.inputs import InvalidParameter
from heron.analytics.oscillators import Macd, Stochastic, macd, rsi, stochastic
from heron.analytics.trend import Adx, adx
from heron.analytics.volatility import (
    BollingerBands,
    atr,
    bollinger_bands,
    rolling_std,
    true_range,
    zscore,
)
from heron.analytics.volume import obv, rolling_vwap, typical_price, vwap

__all__ = [
    "Adx",
    "BollingerBands",
    "InvalidParameter",
    "Macd",
    "Stochastic",
    "adx",
    "atr",
    "bollinger_bands",
    "ema",
    "macd",
    "obv",
    "rolling_std",
    "rolling_vwap",
    "rsi",
    "sma",
    "stochastic",
    "true_range",
    "typical_price",
    "vwap",
    "wma",
    "zscore",
]
