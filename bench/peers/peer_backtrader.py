"""backtrader 1.9.78.123 on the benchmark workload.

Configuration that makes it follow the shared rules: ``broker.set_coc(True)``
(cheat-on-close: a market order fills at the close of the bar it was placed on; the
default is the next open), a 0.1% stock-like percentage commission, ``buy(size=1)`` and
``close()``, ``stdstats=False`` (no observers). ``next`` first runs on bar 49, when the
50-bar SMA has its full window. Trades are counted from completed buy orders; the final
equity is ``broker.getvalue()`` (cash + position at the last close). The timed part
includes building the PandasData feed and its preload.
"""

from __future__ import annotations

import sys
from typing import Any

import common
import pandas as pd


def _version() -> str:
    import backtrader

    return str(backtrader.__version__)


def _strategy_class() -> type:
    import backtrader as bt

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.fast = bt.indicators.SMA(self.data.close, period=common.FAST)
            self.slow = bt.indicators.SMA(self.data.close, period=common.SLOW)
            self.entries = 0

        def next(self) -> None:
            want_long = self.fast[0] > self.slow[0]
            if want_long and not self.position:
                self.buy(size=common.QUANTITY)
            elif not want_long and self.position:
                self.close()

        def notify_order(self, order: Any) -> None:
            if order.status == order.Completed and order.isbuy():
                self.entries += 1

    return SmaCross


def _head(bars: pd.DataFrame, n: int) -> pd.DataFrame:
    return bars.iloc[:n]


def _run(bars: pd.DataFrame) -> common.Outcome:
    import backtrader as bt

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars))
    cerebro.addstrategy(_strategy_class())
    cerebro.broker.setcash(float(common.CASH))
    cerebro.broker.set_coc(True)
    cerebro.broker.setcommission(
        commission=common.FEE_RATE,
        commtype=bt.CommInfoBase.COMM_PERC,
        percabs=True,
        stocklike=True,
    )
    (strategy,) = cerebro.run()
    return strategy.entries, float(cerebro.broker.getvalue())


if __name__ == "__main__":
    sys.exit(common.main("backtrader", _version, load=common.load_pandas, head=_head, run=_run))
