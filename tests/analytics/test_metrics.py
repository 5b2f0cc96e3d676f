"""Metrics are checked against empyrical and quantstats on real bars, and by hand."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import ArrayLike, NDArray

from heron.analytics.metrics import (
    NS_PER_YEAR,
    PerformanceMetrics,
    compute_metrics,
    drawdown_series,
    infer_periods_per_year,
)
from heron.errors import DataError, InvalidConfiguration

pd = pytest.importorskip("pandas")
empyrical = pytest.importorskip("empyrical")
qs_stats = pytest.importorskip("quantstats.stats")

BARS = Path(__file__).resolve().parents[3] / "shared" / "data" / "bars"
BTC_1M = BARS / "BTC-PERP_1m_2021-12-31_2022-02-01.csv.gz"
GOOG_1D = BARS / "GOOG_1d_2004-2013.csv"
MINUTE_NS = 60 * 1_000_000_000
MINUTES_PER_YEAR = 365 * 24 * 60

# empyrical and quantstats sum in a different order: agree to ~1e-12 relative.
REL = 1e-9


def _ts_ns(dates: object) -> NDArray[np.int64]:
    # Through datetime64[ns] explicitly: pandas may infer a coarser unit.
    return np.asarray(pd.to_datetime(dates), dtype="datetime64[ns]").view(np.int64)


def _load_btc() -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    if not BTC_1M.exists():
        pytest.skip(f"{BTC_1M} is not available")
    df = pd.read_csv(BTC_1M)
    return _ts_ns(df["timestamp"]), df["close"].to_numpy(dtype=np.float64)


def _load_goog() -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    if not GOOG_1D.exists():
        pytest.skip(f"{GOOG_1D} is not available")
    df = pd.read_csv(GOOG_1D)
    return _ts_ns(df.iloc[:, 0]), df["Close"].to_numpy(dtype=np.float64)


def _returns(ts: NDArray[np.int64], equity: NDArray[np.float64]) -> object:
    values = np.diff(equity) / equity[:-1]
    return pd.Series(values, index=pd.to_datetime(ts[1:]))


def _minutes(n: int) -> NDArray[np.int64]:
    return np.arange(n, dtype=np.int64) * MINUTE_NS


# --- against empyrical / quantstats on real bars ---------------------------------


def test_compute_metrics_btc_minute_bars_match_empyrical() -> None:
    ts, close = _load_btc()
    equity = 10_000.0 * close / close[0]
    m = compute_metrics(ts=ts, equity=equity)
    r = _returns(ts, equity)
    ann = MINUTES_PER_YEAR

    assert m.periods_per_year == pytest.approx(ann, rel=1e-12)
    assert m.sharpe_ratio == pytest.approx(empyrical.sharpe_ratio(r, annualization=ann), rel=REL)
    assert m.sortino_ratio == pytest.approx(empyrical.sortino_ratio(r, annualization=ann), rel=REL)
    assert m.annual_volatility_pct == pytest.approx(
        100 * empyrical.annual_volatility(r, annualization=ann), rel=REL
    )
    assert m.max_drawdown_pct == pytest.approx(-100 * empyrical.max_drawdown(r), rel=REL)
    # The BTC file has no gaps, so the real span equals n_returns / periods_per_year.
    assert m.annual_return_pct == pytest.approx(
        100 * empyrical.annual_return(r, annualization=ann), rel=REL
    )
    assert m.calmar_ratio == pytest.approx(empyrical.calmar_ratio(r, annualization=ann), rel=REL)
    assert m.total_return_pct == pytest.approx(100 * (close[-1] / close[0] - 1), rel=1e-12)


def test_compute_metrics_btc_minute_bars_match_quantstats() -> None:
    ts, close = _load_btc()
    m = compute_metrics(ts=ts, equity=close)
    r = _returns(ts, close)
    ann = MINUTES_PER_YEAR

    assert m.sharpe_ratio == pytest.approx(qs_stats.sharpe(r, periods=ann), rel=REL)
    assert m.sortino_ratio == pytest.approx(qs_stats.sortino(r, periods=ann), rel=REL)
    assert m.annual_volatility_pct == pytest.approx(
        100 * qs_stats.volatility(r, periods=ann), rel=REL
    )
    assert m.max_drawdown_pct == pytest.approx(-100 * qs_stats.max_drawdown(r), rel=REL)
    assert m.annual_return_pct == pytest.approx(100 * qs_stats.cagr(r, periods=ann), rel=REL)


def test_compute_metrics_goog_daily_with_252_matches_empyrical() -> None:
    ts, close = _load_goog()
    m = compute_metrics(ts=ts, equity=close, periods_per_year=252)
    r = _returns(ts, close)

    assert m.periods_per_year == 252
    assert m.sharpe_ratio == pytest.approx(empyrical.sharpe_ratio(r, annualization=252), rel=REL)
    assert m.sortino_ratio == pytest.approx(empyrical.sortino_ratio(r, annualization=252), rel=REL)
    assert m.annual_volatility_pct == pytest.approx(
        100 * empyrical.annual_volatility(r, annualization=252), rel=REL
    )
    assert m.max_drawdown_pct == pytest.approx(-100 * empyrical.max_drawdown(r), rel=REL)


def test_compute_metrics_goog_daily_annual_return_uses_calendar_span() -> None:
    ts, close = _load_goog()
    m = compute_metrics(ts=ts, equity=close, periods_per_year=252)
    years = (ts[-1] - ts[0]) / NS_PER_YEAR
    expected = ((close[-1] / close[0]) ** (1 / years) - 1) * 100
    r = _returns(ts, close)

    assert m.annual_return_pct == pytest.approx(expected, rel=1e-12)
    # empyrical counts years as n / 252 instead: close on real daily data, not equal.
    assert m.annual_return_pct == pytest.approx(
        100 * empyrical.annual_return(r, annualization=252), abs=1.0
    )
    assert m.calmar_ratio == pytest.approx(expected / m.max_drawdown_pct, rel=1e-12)


def test_compute_metrics_risk_free_rate_matches_quantstats_and_empyrical() -> None:
    ts, close = _load_goog()
    m = compute_metrics(ts=ts, equity=close, periods_per_year=252, risk_free_rate=0.04)
    r = _returns(ts, close)
    per_period = 1.04 ** (1 / 252) - 1

    assert m.sharpe_ratio == pytest.approx(qs_stats.sharpe(r, rf=0.04, periods=252), rel=REL)
    assert m.sharpe_ratio == pytest.approx(
        empyrical.sharpe_ratio(r, risk_free=per_period, annualization=252), rel=REL
    )
    assert m.sortino_ratio == pytest.approx(
        empyrical.sortino_ratio(r, required_return=per_period, annualization=252), rel=REL
    )
    plain = compute_metrics(ts=ts, equity=close, periods_per_year=252)
    assert plain.sharpe_ratio is not None
    assert m.sharpe_ratio is not None
    assert m.sharpe_ratio < plain.sharpe_ratio


# --- hand-checkable cases ---------------------------------------------------------


def test_compute_metrics_small_curve_drawdown_by_hand() -> None:
    # Peak 110 at sample 1, trough 99 (10% down), back above at sample 4 (121);
    # then a one-sample dip to 120 that has not recovered when the curve ends.
    equity = np.array([100.0, 110.0, 99.0, 105.0, 121.0, 120.0])
    m = compute_metrics(ts=_minutes(6), equity=equity)

    assert m.max_drawdown_pct == pytest.approx(10.0)
    assert m.max_drawdown_duration_periods == 3
    assert m.max_drawdown_duration_ns == 3 * MINUTE_NS
    assert m.total_return_pct == pytest.approx(20.0)
    assert m.num_periods == 5
    assert m.duration_ns == 5 * MINUTE_NS


def test_drawdown_series_small_curve_by_hand() -> None:
    depth = drawdown_series([100.0, 110.0, 99.0, 121.0, 120.0])
    np.testing.assert_allclose(depth, [0.0, 0.0, 0.1, 0.0, 1 - 120 / 121])


def test_compute_metrics_unrecovered_drawdown_runs_to_last_sample() -> None:
    equity = np.array([100.0, 120.0, 90.0, 95.0, 100.0])
    m = compute_metrics(ts=_minutes(5), equity=equity)

    assert m.max_drawdown_duration_periods == 3
    assert m.max_drawdown_duration_ns == 3 * MINUTE_NS
    assert m.max_drawdown_pct == pytest.approx(25.0)


def test_compute_metrics_trade_stats_by_hand() -> None:
    m = compute_metrics(
        ts=_minutes(2),
        equity=[100.0, 110.0],
        trade_pnl=[10.0, -5.0, 0.0, 20.0, -15.0],
        trade_returns=[0.1, -0.05, 0.0, 0.2, -0.15],
    )

    assert m.num_trades == 5
    assert m.win_rate_pct == pytest.approx(40.0)  # a zero-PnL trade is not a win
    assert m.profit_factor == pytest.approx(30.0 / 20.0)
    assert m.avg_trade_pnl == pytest.approx(2.0)
    assert m.best_trade_pnl == 20.0
    assert m.worst_trade_pnl == -15.0
    assert m.avg_trade_return_pct == pytest.approx(2.0)
    assert m.best_trade_return_pct == pytest.approx(20.0)
    assert m.worst_trade_return_pct == pytest.approx(-15.0)


def test_compute_metrics_all_winning_trades_profit_factor_is_none() -> None:
    m = compute_metrics(ts=_minutes(2), equity=[100.0, 130.0], trade_pnl=[10.0, 20.0])

    assert m.win_rate_pct == 100.0
    assert m.profit_factor is None
    assert m.num_trades == 2


def test_compute_metrics_all_losing_trades_profit_factor_is_zero() -> None:
    m = compute_metrics(ts=_minutes(2), equity=[100.0, 70.0], trade_pnl=[-10.0, -20.0])

    assert m.win_rate_pct == 0.0
    assert m.profit_factor == 0.0


def test_compute_metrics_zero_trades_gives_none_not_nan() -> None:
    m = compute_metrics(ts=_minutes(3), equity=[100.0, 101.0, 99.0])

    assert m.num_trades == 0
    for name in (
        "win_rate_pct",
        "profit_factor",
        "avg_trade_pnl",
        "best_trade_pnl",
        "worst_trade_pnl",
        "avg_trade_return_pct",
    ):
        assert getattr(m, name) is None, name


def test_compute_metrics_single_sample_is_defined_and_json_safe() -> None:
    m = compute_metrics(ts=[1_700_000_000_000_000_000], equity=[1000.0])

    assert m.total_return_pct == 0.0
    assert m.max_drawdown_pct == 0.0
    assert m.max_drawdown_duration_periods == 0
    assert m.periods_per_year is None
    assert m.annual_return_pct is None
    assert m.sharpe_ratio is None
    assert m.annual_volatility_pct is None
    assert msgspec.json.decode(msgspec.json.encode(m), type=PerformanceMetrics) == m


def test_compute_metrics_flat_equity_has_no_sharpe_or_calmar() -> None:
    m = compute_metrics(ts=_minutes(10), equity=np.full(10, 500.0))

    assert m.annual_volatility_pct == 0.0
    assert m.sharpe_ratio is None
    assert m.sortino_ratio is None
    assert m.calmar_ratio is None
    assert m.annual_return_pct == 0.0


def test_compute_metrics_constant_growth_sharpe_is_none_not_huge() -> None:
    # Rounding makes std(returns) ~1e-18 here; that is not a Sharpe of 1e16.
    equity = 100.0 * 1.001 ** np.arange(50)
    m = compute_metrics(ts=_minutes(50), equity=equity)

    assert m.sharpe_ratio is None
    assert m.sortino_ratio is None  # no losing period: downside deviation is zero
    assert m.max_drawdown_pct == 0.0


def test_compute_metrics_ruined_account_stops_returns_at_zero_equity() -> None:
    equity = np.array([100.0, 50.0, 0.0, 10.0, 20.0])
    m = compute_metrics(ts=_minutes(5), equity=equity)

    # Returns are [-0.5, -1.0]: the rebound from zero carries no return.
    r = np.array([-0.5, -1.0])
    expected_sharpe = r.mean() / r.std(ddof=1) * math.sqrt(MINUTES_PER_YEAR)
    assert m.sharpe_ratio == pytest.approx(expected_sharpe)
    assert m.max_drawdown_pct == pytest.approx(100.0)
    assert m.total_return_pct == pytest.approx(-80.0)


def test_compute_metrics_negative_end_equity_annual_return_is_minus_100() -> None:
    m = compute_metrics(ts=_minutes(2), equity=[100.0, -20.0])

    assert m.annual_return_pct == -100.0
    assert m.total_return_pct == pytest.approx(-120.0)
    assert m.max_drawdown_pct == pytest.approx(120.0)


def test_compute_metrics_huge_annualised_growth_is_none() -> None:
    # Doubling in one minute compounds past float range over a year.
    m = compute_metrics(ts=_minutes(2), equity=[100.0, 200.0])

    assert m.annual_return_pct is None
    assert m.total_return_pct == pytest.approx(100.0)


def test_compute_metrics_starting_cash_is_base_of_total_return() -> None:
    m = compute_metrics(ts=_minutes(2), equity=[990.0, 1100.0], starting_cash=1000.0)

    assert m.start_equity == 1000.0
    assert m.total_return_pct == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("exposure", "expected"),
    [
        (np.array([True, False, True, True]), 75.0),
        (np.array([0.5, -1.0, 0.0, 0.5]), 50.0),
        (0.3, 30.0),
    ],
)
def test_compute_metrics_exposure_forms_give_percent(
    exposure: ArrayLike | float, expected: float
) -> None:
    m = compute_metrics(ts=_minutes(4), equity=[1.0, 1.1, 1.2, 1.3], exposure=exposure)

    assert m.exposure_pct == pytest.approx(expected)


def test_compute_metrics_passes_through_turnover_and_fees() -> None:
    m = compute_metrics(ts=_minutes(2), equity=[1.0, 1.0], turnover=12_345.5, fees_paid=6.25)

    assert m.turnover == 12_345.5
    assert m.fees_paid == 6.25
    assert m.exposure_pct is None


@pytest.mark.parametrize(
    ("ts", "equity"),
    [
        ([0, 2, 1], [1.0, 1.0, 1.0]),  # unsorted
        ([0, 1, 1], [1.0, 1.0, 1.0]),  # duplicate timestamp
        ([0.0, 1.0], [1.0, 1.0]),  # float timestamps would round nanoseconds
        ([0, 1], [1.0, float("nan")]),
        ([0, 1, 2], [1.0, 1.0]),  # length mismatch
        ([], []),
        ([0, 1], [0.0, 1.0]),  # no positive base for returns
    ],
)
def test_compute_metrics_bad_arrays_raise_data_error(ts: ArrayLike, equity: ArrayLike) -> None:
    with pytest.raises(DataError):
        compute_metrics(ts=ts, equity=equity)


def test_compute_metrics_trade_returns_length_mismatch_raises() -> None:
    with pytest.raises(DataError, match="trade_returns"):
        compute_metrics(ts=_minutes(2), equity=[1.0, 1.0], trade_pnl=[1.0], trade_returns=[])


@pytest.mark.parametrize("kwargs", [{"periods_per_year": 0.0}, {"risk_free_rate": -1.5}])
def test_compute_metrics_impossible_parameters_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidConfiguration):
        compute_metrics(ts=_minutes(3), equity=[1.0, 1.1, 1.2], **kwargs)


def test_infer_periods_per_year_hourly_and_daily() -> None:
    hour = 3_600 * 1_000_000_000
    assert infer_periods_per_year(np.arange(10) * hour) == pytest.approx(8_760)
    # A weekend gap does not move the median spacing of daily bars.
    days = np.array([0, 1, 2, 3, 4, 7, 8, 9]) * 24 * hour
    assert infer_periods_per_year(days) == pytest.approx(365)
    assert infer_periods_per_year([5]) is None


# --- properties -------------------------------------------------------------------

positive_curves = st.lists(
    st.floats(min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)


@given(positive_curves)
def test_drawdown_of_positive_curve_is_a_fraction(values: list[float]) -> None:
    depth = drawdown_series(values)
    assert depth.shape == (len(values),)
    assert depth[0] == 0.0
    assert bool(np.all((depth >= 0.0) & (depth < 1.0)))

    m = compute_metrics(ts=_minutes(len(values)), equity=values)
    assert 0.0 <= m.max_drawdown_pct < 100.0
    assert 0 <= m.max_drawdown_duration_periods <= len(values) - 1


@given(positive_curves)
def test_drawdown_of_monotone_curve_is_zero(values: list[float]) -> None:
    curve = np.sort(np.asarray(values))
    m = compute_metrics(ts=_minutes(len(curve)), equity=curve)

    assert bool(np.all(drawdown_series(curve) == 0.0))
    assert m.max_drawdown_pct == 0.0
    assert m.max_drawdown_duration_ns == 0


@given(positive_curves, st.floats(min_value=1e-3, max_value=1e3))
def test_ratios_do_not_depend_on_account_size(values: list[float], scale: float) -> None:
    ts = _minutes(len(values))
    small = compute_metrics(ts=ts, equity=values)
    large = compute_metrics(ts=ts, equity=np.asarray(values) * scale)

    assert large.max_drawdown_pct == pytest.approx(small.max_drawdown_pct, abs=1e-9)
    if small.annual_volatility_pct is not None:
        assert large.annual_volatility_pct == pytest.approx(
            small.annual_volatility_pct, rel=1e-6, abs=1e-6
        )
