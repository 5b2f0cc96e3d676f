"""backtesting.py 0.6.6 on the benchmark workload.

Configuration that makes it follow the shared rules: ``trade_on_close=True`` (the default
fills at the next bar's open), ``commission=0.001`` (charged at entry and at exit),
``buy(size=1)`` for one whole unit, ``finalize_trades=False`` so an open trade stays open
and the final equity marks it at the last close. Both SMAs are 0.0 (not NaN) before bar
49: backtesting.py starts calling ``next`` only after every indicator is non-NaN plus one
bar, which would skip bar 49; 0 > 0 is False, so bars 1-48 stay flat.
The timed part includes the ``Backtest`` constructor and the statistics it computes.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import common
import pandas as pd


def _version() -> str:
    import backtesting

    return str(backtesting.__version__)


def _sma(values: Any, period: int) -> Any:
    """Rolling mean, 0.0 before the slow SMA's first full window (bar SLOW - 1)."""
    out = pd.Series(values).rolling(period).mean().to_numpy()
    out[: common.SLOW - 1] = 0.0
    return out


def _strategy_class() -> type:
    from backtesting import Strategy

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, common.FAST)
            self.slow = self.I(_sma, self.data.Close, common.SLOW)

        def next(self) -> None:
            want_long = self.fast[-1] > self.slow[-1]
            if want_long and not self.position:
                self.buy(size=common.QUANTITY)
            elif not want_long and self.position:
                self.position.close()

    return SmaCross


def _head(bars: pd.DataFrame, n: int) -> pd.DataFrame:
    return bars.iloc[:n]


def _run(bars: pd.DataFrame) -> common.Outcome:
    from backtesting import Backtest

    frame = bars.rename(columns=str.capitalize)
    test = Backtest(
        frame,
        _strategy_class(),
        cash=common.CASH,
        commission=common.FEE_RATE,
        trade_on_close=True,
        finalize_trades=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open" is expected
        stats = test.run()
    still_open = len(stats["_strategy"].trades)
    return len(stats["_trades"]) + still_open, float(stats["Equity Final [$]"])


if __name__ == "__main__":
    sys.exit(common.main("backtesting.py", _version, load=common.load_pandas, head=_head, run=_run))
