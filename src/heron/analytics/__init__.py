"""Pure numeric functions on arrays: indicators, statistics and performance metrics.

Imports nothing from heron except ``heron.errors``, so research code and the report
can use it without pulling in the engine.
"""

from heron.analytics.metrics import (
    PerformanceMetrics,
    compute_metrics,
    drawdown_series,
    infer_periods_per_year,
)

__all__ = ["PerformanceMetrics", "compute_metrics", "drawdown_series", "infer_periods_per_year"]
