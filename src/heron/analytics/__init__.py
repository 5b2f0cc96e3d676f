"""Pure numeric functions on arrays: indicators, microstructure features, statistical
tests, bar builders, performance metrics.

Indicators are imported from :mod:`heron.analytics.indicators`, features from
:mod:`~heron.analytics.microstructure`, tests from :mod:`~heron.analytics.stat_tests`
(which loads statsmodels only when a test runs).

Imports nothing from heron except ``heron.errors``, so research code and the report
can use it without pulling in the engine.
"""

from heron.analytics.bar_builders import (
    dollar_bars,
    interval_ns,
    tick_bars,
    time_bars,
    volume_bars,
)
from heron.analytics.indicators import ema, sma
from heron.analytics.metrics import (
    PerformanceMetrics,
    compute_metrics,
    drawdown_series,
    infer_periods_per_year,
)

__all__ = [
    "PerformanceMetrics",
    "compute_metrics",
    "dollar_bars",
    "drawdown_series",
    "ema",
    "infer_periods_per_year",
    "interval_ns",
    "sma",
    "tick_bars",
    "time_bars",
    "volume_bars",
]
