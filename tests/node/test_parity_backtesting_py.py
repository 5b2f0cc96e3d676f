"""heron and backtesting.py agree on the same real bars under the same rules.

Rules (docs/backtesting.md, "Parity with backtesting.py"): SMA(close, 10) against
SMA(close, 50), long-only; enter when fast > slow, exit when fast <= slow; market
orders fill at the next bar's open (and, separately, at the signal bar's close);
0.1% commission on every fill; entries all-in at ``0.9999`` of equity, fees included,
sized when the order fills; an open position at the end is marked to the last close.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heron
from heron.data.bars import read_bars

backtesting = pytest.importorskip("backtesting")
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import FractionalBacktest  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
FAST, SLOW, FEE, SIZE = 10, 50, 0.001, 0.9999


def _sma_filled(values: np.ndarray, n: int) -> np.ndarray:
    """SMA with 0 instead of NaN before the window fills, so backtesting.py calls
    ``next`` from the first bars and the strategy itself waits for bar ``SLOW - 1``."""
    out = pd.Series(values).rolling(n).mean().to_numpy()
    return np.nan_to_num(out, nan=0.0)


class BtSmaCross(Strategy):
    #: the unscaled closes: FractionalBacktest divides prices by its unit, and averages of
    #: scaled floats can break an exact tie (fast == slow) by one ulp
    closes: np.ndarray = np.zeros(0)

    def init(self) -> None:
        self.fast = self.I(_sma_filled, self.closes, FAST)
        self.slow = self.I(_sma_filled, self.closes, SLOW)

    def next(self) -> None:
        if len(self.data) - 1 < SLOW - 1:
            return
        if self.fast[-1] > self.slow[-1]:
            if not self.position:
                self.buy(size=SIZE)
        elif self.position:
            self.position.close()


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    frame = read_bars(DATA).frame.to_pandas()
    frame.index = pd.to_datetime(frame.pop("ts"), unit="ns")
    return frame.rename(columns=str.capitalize)


def _run_peer(bars: pd.DataFrame, *, on_close: bool, fractional: bool) -> tuple[pd.DataFrame,
                                                                                 float]:
    BtSmaCross.closes = bars["Close"].to_numpy()
    cls = FractionalBacktest if fractional else Backtest
    kwargs = {"fractional_unit": 1e-6} if fractional else {}
    bt = cls(bars, BtSmaCross, cash=100_000, commission=FEE, trade_on_close=on_close,
             finalize_trades=False, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return stats["_trades"], float(stats["Equity Final [$]"])


def _run_heron(*, fill: str, lot: str) -> heron.BacktestResult:
    return heron.backtest(DATA, strategy="sma_cross", symbol="BTC-PERP",
                          params={"fast": FAST, "slow": SLOW, "fraction": str(SIZE)},
                          cash="100000", fee_bps="10", fill=fill, lot_size=lot)


@pytest.mark.slow
@pytest.mark.parametrize(("fill", "on_close"), [("next-open", False), ("close", True)])
@pytest.mark.parametrize(("lot", "fractional"), [("1", False), ("0.000001", True)])
def test_sma_cross_matches_backtesting_py_entries_exits_and_equity(
        bars: pd.DataFrame, fill: str, on_close: bool, lot: str, fractional: bool) -> None:
    peer_trades, peer_equity = _run_peer(bars, on_close=on_close, fractional=fractional)
    result = _run_heron(fill=fill, lot=lot)
    ours = result.trades
    closed_peer = peer_trades[peer_trades["ExitBar"].notna()]
    assert ours.height > 100  # the rules trade often on 1-minute bars: a real comparison
    assert ours["entry_bar"].to_list() == closed_peer["EntryBar"].astype(int).tolist()
    assert ours["exit_bar"].to_list() == closed_peer["ExitBar"].astype(int).tolist()
    assert [float(q) for q in ours["qty"].to_list()] == pytest.approx(
        closed_peer["Size"].abs().astype(float).tolist(), rel=1e-9)
    final = float(result.final_equity)
    assert final == pytest.approx(peer_equity, rel=1e-4)  # 0.01 %
