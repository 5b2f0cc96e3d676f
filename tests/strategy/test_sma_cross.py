"""sma_cross on real bars: its trades follow its rules, computed independently here."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heron
from heron.data.bars import read_bars

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@pytest.fixture(scope="module")
def closes() -> np.ndarray:
    return read_bars(DATA).frame["close"].to_numpy()


def _reference_signals(closes: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """+1/-1/0 per bar from pandas rolling means (an independent implementation)."""
    s = pd.Series(closes)
    f, w = s.rolling(fast).mean().to_numpy(), s.rolling(slow).mean().to_numpy()
    return np.where(np.isnan(w), np.nan, np.sign(f - w))


def test_sma_cross_long_only_enters_and_exits_on_the_reference_signal_bars(
        closes: np.ndarray) -> None:
    result = heron.backtest(DATA, strategy="sma_cross", params={"fast": 10, "slow": 50},
                            fill="close")
    sig = _reference_signals(closes, 10, 50)
    expected_entries, expected_exits, long = [], [], False
    for i, s in enumerate(sig):
        if not long and s > 0:
            expected_entries.append(i)
            long = True
        elif long and s <= 0:
            expected_exits.append(i)
            long = False
    assert result.trades["entry_bar"].to_list() == expected_entries[: result.trades.height]
    assert result.trades["exit_bar"].to_list() == expected_exits
    assert set(result.trades["direction"].to_list()) == {"long"}


def test_sma_cross_long_short_is_always_in_the_market_after_the_first_signal(
        closes: np.ndarray) -> None:
    result = heron.backtest(DATA, strategy="sma_cross", fill="close", kind="perp",
                            params={"fast": 10, "slow": 50, "mode": "long-short"})
    trades = result.trades
    assert {"long", "short"} == set(trades["direction"].to_list())
    # each exit is the next entry: reversals close and re-open on the same bar
    assert trades["exit_bar"].to_list()[:-1] == trades["entry_bar"].to_list()[1:]
    directions = trades["direction"].to_list()
    assert all(a != b for a, b in itertools.pairwise(directions))


def test_sma_cross_fixed_quantity_trades_that_size(closes: np.ndarray) -> None:
    result = heron.backtest(DATA, strategy="sma_cross", fill="close", lot_size="0.001",
                            params={"fast": 5, "slow": 20, "quantity": "0.25"})
    assert result.trades.height > 10
    assert {str(q.normalize()) for q in result.trades["qty"].to_list()} == {"0.25"}


def test_sma_cross_long_short_on_spot_cannot_short(closes: np.ndarray) -> None:
    result = heron.backtest(DATA, strategy="sma_cross", fill="close",
                            params={"fast": 10, "slow": 50, "mode": "long-short"})
    assert set(result.trades["direction"].to_list()) == {"long"}
    canceled = [o for o in result.engine.om.orders.values() if o.status.value == "canceled"]
    assert canceled and all(o.side.value == "sell" for o in canceled)
