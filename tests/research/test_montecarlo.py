"""Monte Carlo resampling: reproducibility, the iid expectation, block dependence, ruin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from heron.errors import DataError, InvalidConfiguration
from heron.node.api import backtest
from heron.research.montecarlo import (
    ReturnSeries,
    load_result,
    path_statistics,
    resample_indices,
    returns_from_result,
    simulate,
)
from heron.research.montecarlo_report import render_montecarlo_report

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


def series(returns: list[float] | NDArray[np.float64], start: float = 1000.0) -> ReturnSeries:
    r = np.asarray(returns, dtype=np.float64)
    history = start * np.concatenate(([1.0], np.cumprod(1 + r)))
    return ReturnSeries(method="trades", returns=r, start_equity=start, history=history)


@pytest.fixture(scope="module")
def real_doc() -> dict[str, object]:
    """The --json document of a real backtest: sma_cross on a month of BTC-PERP bars."""
    result = backtest(DATA, strategy="sma_cross", symbol="BTC-PERP", kind="perp", leverage=2,
                      fee_bps=4, params={"fast": 30, "slow": 240, "mode": "long-short"})
    return result.to_dict()


def test_simulate_same_seed_same_paths_other_seed_differs() -> None:
    s = series(np.linspace(-0.03, 0.04, 57))
    for scheme, block in (("iid", 1), ("stationary", 5), ("moving", 5)):
        a = simulate(s, paths=500, scheme=scheme, block=block, seed=11)
        b = simulate(s, paths=500, scheme=scheme, block=block, seed=11)
        c = simulate(s, paths=500, scheme=scheme, block=block, seed=12)
        assert np.array_equal(a.final_equity, b.final_equity)
        assert np.array_equal(a.fan, b.fan) and a.to_dict() == b.to_dict()
        assert not np.array_equal(a.final_equity, c.final_equity)


def test_simulate_unseeded_reports_a_seed_that_reproduces_it() -> None:
    s = series([0.01, -0.02, 0.03, 0.005])
    first = simulate(s, paths=300)
    again = simulate(s, paths=300, seed=first.seed)
    assert np.array_equal(first.final_equity, again.final_equity)


def test_iid_mean_final_equity_converges_to_analytical_expectation() -> None:
    # independent draws: E[prod(1 + r_i)] = prod(E[1 + r_i]) = (1 + mean(r))^n
    r = np.array([0.021, -0.013, 0.034, -0.027, 0.008, 0.015, -0.041, 0.029, -0.006, 0.012])
    s = series(r, start=1000.0)
    n, paths = 40, 200_000
    mc = simulate(s, paths=paths, seed=3, steps=n)
    expected = 1000.0 * (1 + r.mean()) ** n
    second_moment = 1000.0**2 * np.mean((1 + r) ** 2) ** n
    stderr = np.sqrt((second_moment - expected**2) / paths)
    assert abs(mc.final_equity.mean() - expected) < 4 * stderr
    assert mc.final_equity.std() ** 2 == pytest.approx(second_moment - expected**2, rel=0.03)


def test_iid_mean_on_real_trade_returns_matches_expectation(real_doc: dict[str, object]) -> None:
    s = returns_from_result(real_doc, "trades")
    paths = 50_000
    mc = simulate(s, paths=paths, seed=5)
    n, r = len(s.returns), s.returns
    expected = s.start_equity * (1 + r.mean()) ** n
    second = s.start_equity**2 * np.mean((1 + r) ** 2) ** n
    assert abs(mc.final_equity.mean() - expected) < 4 * np.sqrt((second - expected**2) / paths)


def _lag1(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lag-1 autocorrelation of each row."""
    d = x - x.mean(axis=1, keepdims=True)
    return (d[:, 1:] * d[:, :-1]).sum(axis=1) / (d * d).sum(axis=1)  # type: ignore[no-any-return]


def test_block_bootstrap_keeps_autocorrelation_that_iid_destroys() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros(3000)
    for t in range(1, len(x)):  # AR(1), phi = 0.9
        x[t] = 0.9 * x[t - 1] + rng.normal()
    truth = float(_lag1(x[None, :])[0])
    assert truth > 0.85
    draws = np.random.default_rng(1)
    iid = _lag1(x[resample_indices(draws, len(x), 200, len(x), "iid", 1)]).mean()
    stat = _lag1(x[resample_indices(draws, len(x), 200, len(x), "stationary", 50)]).mean()
    moving = _lag1(x[resample_indices(draws, len(x), 200, len(x), "moving", 50)]).mean()
    assert abs(iid) < 0.05
    # a block bootstrap only breaks the dependence at the ~1/50 block joins
    assert abs(stat - truth) < 0.1 and abs(moving - truth) < 0.1
    assert abs(stat - truth) < abs(iid - truth) / 5


def test_moving_blocks_are_runs_of_consecutive_returns() -> None:
    idx = resample_indices(np.random.default_rng(2), 100, 20, 47, "moving", 8)
    assert idx.shape == (20, 47) and idx.min() >= 0 and idx.max() < 100
    steps = np.diff(idx, axis=1)
    inside = np.ones(46, dtype=bool)
    inside[7::8] = False  # the joins between blocks of 8
    assert np.all(steps[:, inside] == 1)


def test_ruin_is_zero_when_every_return_is_positive() -> None:
    mc = simulate(series([0.001, 0.02, 0.05, 0.0005]), paths=2000, seed=1, ruin=0.01)
    assert mc.probability_of_ruin == 0.0
    assert mc.max_drawdown.max() == 0.0 and mc.under_water.max() == 0


def test_ruin_is_one_when_every_path_falls_below_the_threshold() -> None:
    # every step loses at least 5%: every path ends below 0.96 x start
    mc = simulate(series([-0.05, -0.08, -0.06, -0.1]), paths=2000, seed=1, ruin=0.04)
    assert mc.probability_of_ruin == 1.0
    assert np.all(mc.ruined)


def test_ruin_counts_the_paths_that_touch_the_level() -> None:
    # +50% or -50% per step; 2 steps from 1000: 2250, 750, 500 or 250. At a 20% loss
    # (800) only the path with two gains survives; at 40% (600) the +50%, -50% one too
    mc = simulate(series([0.5, -0.5]), paths=40_000, seed=9, ruin=0.2, steps=2)
    assert mc.probability_of_ruin == pytest.approx(0.75, abs=0.01)
    mc = simulate(series([0.5, -0.5]), paths=40_000, seed=9, ruin=0.4, steps=2)
    assert mc.probability_of_ruin == pytest.approx(0.5, abs=0.01)


def test_path_statistics_match_a_hand_computed_path() -> None:
    equity = np.array([[100.0, 110.0, 99.0, 105.0, 120.0, 90.0],
                       [100.0, 90.0, 80.0, 85.0, 95.0, 99.0]])
    dd, under = path_statistics(equity)
    assert dd.tolist() == pytest.approx([0.25, 0.2])
    assert under.tolist() == [2, 5]  # the second path never regains 100


def test_trade_returns_compound_to_the_realised_result(real_doc: dict[str, object]) -> None:
    s = returns_from_result(real_doc, "trades")
    trades = real_doc["trades_list"]
    assert isinstance(trades, list) and len(s.returns) == len(trades) == real_doc["trades"]
    realised = 100_000 + sum(float(t["net_pnl"]) for t in trades)
    assert s.history[-1] == pytest.approx(realised, rel=1e-12)
    assert 100_000 * np.prod(1 + s.returns) == pytest.approx(realised, rel=1e-12)


def test_daily_returns_end_at_the_final_equity(real_doc: dict[str, object]) -> None:
    s = returns_from_result(real_doc, "daily")
    assert len(s.returns) == 33  # 2021-12-31 plus the 32 days to 2022-02-01
    assert s.history[-1] == pytest.approx(float(str(real_doc["final_equity"])), rel=1e-9)


def test_fan_bands_are_ordered_and_start_at_the_start_equity() -> None:
    mc = simulate(series(np.linspace(-0.05, 0.05, 30)), paths=3000, seed=4, scheme="stationary",
                  block=4)
    assert mc.fan_steps[0] == 0 and mc.fan_steps[-1] == 30
    assert np.all(mc.fan[:, 0] == 1000.0)
    assert np.all(np.diff(mc.fan, axis=0) >= 0)


def test_report_is_self_contained_svg_and_deterministic() -> None:
    mc = simulate(series(np.linspace(-0.05, 0.06, 30)), paths=1000, seed=4)
    page = render_montecarlo_report(mc, title="t <x>", source="r.json")
    assert page == render_montecarlo_report(mc, title="t <x>", source="r.json")
    assert page.count("<svg") == 2 and page.count("<polygon") == 2
    assert "t &lt;x&gt;" in page and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"paths": 0}, "paths 0"),
    ({"paths": 10, "scheme": "bogus"}, "scheme 'bogus'"),
    ({"paths": 10, "scheme": "moving", "block": 99}, "block 99"),
    ({"paths": 10, "ruin": 0.0}, "ruin 0.0"),
    ({"paths": 10, "ruin": 1.5}, "ruin 1.5"),
    ({"paths": 10, "steps": 0}, "steps 0"),
])
def test_simulate_refuses_impossible_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidConfiguration, match=message):
        simulate(series([0.01, -0.01, 0.02]), **kwargs)  # type: ignore[arg-type]


def test_trades_method_refuses_a_result_without_trades(real_doc: dict[str, object]) -> None:
    with pytest.raises(InvalidConfiguration, match="no closed trades"):
        returns_from_result({**real_doc, "trades_list": []}, "trades")
    with pytest.raises(DataError, match="no trades_list"):
        returns_from_result({k: v for k, v in real_doc.items() if k != "trades_list"}, "trades")


def test_load_result_refuses_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_result(tmp_path / "nope.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(DataError, match="not a heron backtest result"):
        load_result(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="not JSON"):
        load_result(tmp_path / "bad.json")
