"""The vectorised fast path gives the event engine's trades on real bars.

For sma_cross, momentum and mean_reversion over several parameter sets, both fill
conventions, fees, slippage, fixed and fractional sizing, spot and a perpetual
without liquidation: the same round trips (count, entry and exit times, sides), the
same open position at the end, and equity within 1e-9 relative on every bar. The
engine's money is exact decimal on a lot grid, the fast path's float64 (see the
module docstring of heron.research.vector): a few ulps per fill, so 1e-9 is loose.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.node.api import backtest
from heron.research.vector import BarArrays, Costs, run_vectorised
from heron.strategy.base import Strategy
from heron.strategy.library.mean_reversion import MeanReversion
from heron.strategy.library.momentum import Momentum
from heron.strategy.library.sma_cross import SmaCross

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
TOLERANCE = 1e-9  # relative, on every bar's equity and on the final equity


@pytest.fixture(scope="module")
def bars() -> BarArrays:
    return BarArrays.from_file(DATA)


def _engine_kwargs(costs: Costs) -> dict[str, Any]:
    kw: dict[str, Any] = {"cash": str(int(costs.cash)), "fee_bps": str(costs.fee_bps),
                          "slippage_bps": str(costs.slippage_bps), "fill": costs.fill,
                          "kind": costs.kind}
    if costs.kind == "perp":
        kw.update(leverage=str(costs.leverage), maintenance_margin="0")
    return kw


def assert_same_run(bars: BarArrays, cls: type[Strategy], params: Mapping[str, Any],
                    costs: Costs, data: Any = DATA) -> int:
    """Run both paths and compare trip by trip; return the number of round trips."""
    event = backtest(data, strategy=cls, params=dict(params), **_engine_kwargs(costs))
    fast = run_vectorised(bars, cls, params, costs)
    trips = event.trades
    assert fast.trades == trips.height == fast.metrics.num_trades
    assert fast.open_trades == event.open_trades
    np.testing.assert_array_equal(fast.trips.entry_ts, trips["entry_ts"].to_numpy())
    np.testing.assert_array_equal(fast.trips.exit_ts, trips["exit_ts"].to_numpy())
    sides = np.where(trips["direction"].to_numpy() == "long", 1, -1)
    np.testing.assert_array_equal(fast.trips.direction, sides)
    np.testing.assert_allclose(fast.trips.qty, trips["qty"].cast(float).to_numpy(),
                               rtol=TOLERANCE)
    np.testing.assert_allclose(fast.trips.exit_price,
                               trips["exit_price"].cast(float).to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(fast.ts, event.equity["ts"].to_numpy())
    np.testing.assert_allclose(fast.equity, event.equity["equity"].to_numpy(), rtol=TOLERANCE)
    assert fast.final_equity == pytest.approx(float(event.final_equity), rel=TOLERANCE)
    assert fast.metrics.max_drawdown_pct == pytest.approx(event.metrics.max_drawdown_pct,
                                                          rel=1e-6)
    assert fast.metrics.fees_paid == pytest.approx(float(event.fees), rel=TOLERANCE)
    return fast.trades


CASES = [
    (SmaCross, {"fast": 10, "slow": 50}),
    (SmaCross, {"fast": 5, "slow": 200}),
    (SmaCross, {"fast": 30, "slow": 90, "fraction": "0.5"}),
    (SmaCross, {"fast": 20, "slow": 60, "quantity": "0.25"}),
    (Momentum, {}),
    (Momentum, {"lookback": 10, "window": 60, "entry": 1.5, "exit": 0.2}),
    (Momentum, {"lookback": 1, "window": 30, "entry": 2.5, "exit": 0.0, "quantity": "1"}),
    (MeanReversion, {}),
    (MeanReversion, {"period": 60, "width": 1.5, "exit_width": 0.5}),
    (MeanReversion, {"period": 10, "width": 2.5, "fraction": "0.3"}),
]


@pytest.mark.parametrize("fill", ["next-open", "close"])
@pytest.mark.parametrize(("cls", "params"), CASES,
                         ids=[f"{c.name}-{i}" for i, (c, _) in enumerate(CASES)])
def test_same_trades_as_the_event_engine_spot(bars: BarArrays, cls: type[Strategy],
                                              params: dict[str, Any], fill: str) -> None:
    trades = assert_same_run(bars, cls, params, Costs(fill=fill))
    assert trades > 20  # every case trades enough to be a real comparison


@pytest.mark.parametrize(("cls", "params"), [
    (SmaCross, {"fast": 10, "slow": 50, "mode": "long-short"}),
    (Momentum, {"lookback": 10, "window": 60, "entry": 1.5, "exit": 0.2, "mode": "long-short"}),
    (MeanReversion, {"period": 30, "width": 2.0, "mode": "long-short", "fraction": "0.9"}),
])
@pytest.mark.parametrize("fill", ["next-open", "close"])
def test_long_short_on_a_perpetual(bars: BarArrays, cls: type[Strategy], params: dict[str, Any],
                                   fill: str) -> None:
    costs = Costs(fill=fill, kind="perp", leverage=2.0, fee_bps=5.0, maintenance_margin=0.0)
    assert assert_same_run(bars, cls, params, costs) > 20
    shorts = run_vectorised(bars, cls, params, costs).trips.direction
    assert (shorts < 0).sum() > 10 and (shorts > 0).sum() > 10


def test_a_spot_account_never_goes_short_in_either_path(bars: BarArrays) -> None:
    params = {"fast": 10, "slow": 50, "mode": "long-short"}
    assert_same_run(bars, SmaCross, params, Costs())
    run = run_vectorised(bars, SmaCross, params, Costs())
    assert run.trades > 100 and (run.trips.direction == 1).all()


@pytest.mark.parametrize("slippage", [3.0, 12.5])
def test_slippage_rounds_to_the_tick_as_the_venue_does(bars: BarArrays, slippage: float) -> None:
    costs = Costs(slippage_bps=slippage, fee_bps=2.0)
    assert_same_run(bars, MeanReversion, {"period": 40, "width": 2.0}, costs)
    run = run_vectorised(bars, MeanReversion, {"period": 40, "width": 2.0}, costs)
    ticks = run.trips.entry_price * 10**bars.price_decimals
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)  # on the grid


def test_an_entry_the_cash_cannot_pay_for_is_dropped_like_the_venue_does(
        bars: BarArrays) -> None:
    # 4 BTC at 33,000-48,000 is more than 100,000 of cash: the venue cancels every entry
    params = {"fast": 10, "slow": 50, "quantity": "4"}
    assert assert_same_run(bars, SmaCross, params, Costs()) == 0
    assert assert_same_run(bars, SmaCross, params, Costs(cash=200_000.0)) > 100


def test_a_window_matches_the_engine_on_the_same_cut(bars: BarArrays) -> None:
    start, end = int(bars.ts[5_000]), int(bars.ts[25_000])
    cut = bars.window(start, end)
    assert len(cut) == 20_000 and cut.ts[0] == start and cut.ts[-1] < end
    import polars as pl

    from heron.data.bars import read_bars
    frame = read_bars(DATA).frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    assert_same_run(cut, Momentum, {"lookback": 5, "window": 90, "entry": 1.8, "exit": 0.4},
                     Costs(), data=frame)
