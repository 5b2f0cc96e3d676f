"""heron: one engine and one strategy API from research to live trading.

The names most users need are importable from here::

    import heron
    result = heron.backtest("data/btc-perp_1m.csv.gz", strategy="sma_cross",
                            params={"fast": 10, "slow": 50})
    print(result.metrics.sharpe_ratio, result.final_equity)
"""

from __future__ import annotations

from heron.model.data import Bar
from heron.model.instrument import Instrument, InstrumentKind
from heron.node.api import backtest, replay
from heron.node.result import BacktestResult
from heron.strategy.base import Strategy
from heron.strategy.params import Param

__version__ = "0.1.0"
__all__ = [
    "BacktestResult",
    "Bar",
    "Instrument",
    "InstrumentKind",
    "Param",
    "Strategy",
    "backtest",
    "replay",
]
