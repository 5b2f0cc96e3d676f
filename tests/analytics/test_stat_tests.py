"""The statistical-test wrappers give statsmodels' own numbers, on real BTC-PERP returns."""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from heron.analytics import stat_tests as st
from heron.analytics.inputs import InvalidParameter
from heron.data.bars import read_bars
from heron.errors import DataError

sm = pytest.importorskip("statsmodels.api")
from statsmodels.stats.diagnostic import acorr_ljungbox  # noqa: E402
from statsmodels.stats.stattools import jarque_bera  # noqa: E402
from statsmodels.tsa.stattools import adfuller, coint  # noqa: E402

BARS = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
Floats = NDArray[np.float64]


@pytest.fixture(scope="module")
def prices() -> dict[str, Floats]:
    frame = read_bars(BARS).frame
    return {name: np.log(frame[name].to_numpy()) for name in ("high", "low", "close")}


@pytest.fixture(scope="module")
def returns(prices: dict[str, Floats]) -> Floats:
    return np.diff(prices["close"])


def _adfuller(x: Floats, **kwargs: Any) -> tuple[Any, ...]:
    if "result_object" in inspect.signature(adfuller).parameters:
        kwargs["result_object"] = False
    out: tuple[Any, ...] = adfuller(x, **kwargs)
    return out


@pytest.mark.parametrize(
    ("regression", "autolag", "max_lags"),
    [("c", "AIC", None), ("ct", "BIC", 20), ("n", None, 5), ("c", "t-stat", 10)],
)
def test_adf_real_returns_equals_statsmodels(
    returns: Floats, regression: str, autolag: str | None, max_lags: int | None
) -> None:
    x = returns[:3000]
    ours = st.adf(x, regression=regression, autolag=autolag, max_lags=max_lags)  # type: ignore[arg-type]
    ref = _adfuller(x, maxlag=max_lags, regression=regression, autolag=autolag)
    assert ours.statistic == ref[0]
    assert ours.p_value == ref[1]
    assert ours.lags == ref[2]
    assert ours.n_obs == ref[3]
    assert dict(ours.critical_values) == ref[4]
    assert ours.ic_best == (ref[5] if autolag is not None else None)


def test_adf_returns_stationary_log_price_not(prices: dict[str, Floats], returns: Floats) -> None:
    stationary = st.adf(returns[:5000], max_lags=10)
    assert stationary.p_value < 0.01
    assert set(stationary.critical_values) == {"1%", "5%", "10%"}
    assert st.adf(prices["close"][:20000], max_lags=10).p_value > 0.1


def test_jarque_bera_real_returns_equals_statsmodels(returns: Floats) -> None:
    ours = st.jarque_bera(returns)
    ref = jarque_bera(returns)
    assert (ours.statistic, ours.p_value, ours.skew, ours.kurtosis) == tuple(float(v) for v in ref)
    assert ours.kurtosis > 3.0 and ours.p_value < 1e-10  # minute returns have fat tails


@pytest.mark.parametrize(("lags", "model_df"), [(10, 0), (1, 0), (20, 2)])
def test_ljung_box_real_returns_equals_statsmodels(
    returns: Floats, lags: int, model_df: int
) -> None:
    x = returns[:10000]
    ours = st.ljung_box(x, lags, model_df=model_df)
    ref = acorr_ljungbox(x, lags=[lags], model_df=model_df)
    assert ours.statistic == float(ref["lb_stat"].iloc[0])
    assert ours.p_value == float(ref["lb_pvalue"].iloc[0])
    assert ours.lags == lags


def test_ljung_box_volatility_clusters(returns: Floats) -> None:
    assert st.ljung_box(np.abs(returns[:10000]), 10).p_value < 1e-10


def test_hedge_ratio_real_prices_equals_statsmodels_ols(prices: dict[str, Floats]) -> None:
    y, x = prices["high"], prices["low"]
    ours = st.hedge_ratio(y, x)
    params = sm.OLS(y, sm.add_constant(x)).fit().params
    assert (ours.intercept, ours.hedge_ratio) == (float(params[0]), float(params[1]))
    assert ours.hedge_ratio == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("trend", "autolag", "max_lags"), [("c", "aic", None), ("ct", None, 4)])
def test_engle_granger_real_prices_equals_statsmodels_coint(
    prices: dict[str, Floats], trend: str, autolag: str | None, max_lags: int | None
) -> None:
    y, x = prices["high"][:3000], prices["low"][:3000]
    ours = st.engle_granger(y, x, trend=trend, autolag=autolag, max_lags=max_lags)  # type: ignore[arg-type]
    statistic, p_value, critical = coint(y, x, trend=trend, autolag=autolag, maxlag=max_lags)
    assert (ours.statistic, ours.p_value) == (statistic, p_value)
    assert list(ours.critical_values.values()) == critical.tolist()
    assert list(ours.critical_values) == ["1%", "5%", "10%"]
    assert ours.hedge_ratio == st.hedge_ratio(y, x).hedge_ratio
    assert ours.n_obs == 3000
    # A bar's high and low never drift apart: cointegrated beyond doubt.
    assert ours.p_value < 1e-6


def test_results_are_frozen(returns: Floats) -> None:
    result = st.adf(returns[:500])
    with pytest.raises(AttributeError):
        result.statistic = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.critical_values["1%"] = 0.0  # type: ignore[index]


def test_stat_test_nan_input_is_a_data_error(returns: Floats) -> None:
    bad = returns[:100].copy()
    bad[5] = math.nan
    with pytest.raises(DataError, match="NaN or infinite"):
        st.jarque_bera(bad)


def test_stat_test_too_short_or_mismatched_is_a_data_error() -> None:
    with pytest.raises(DataError, match="at least 10 observations"):
        st.adf([1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="one length"):
        st.engle_granger(np.arange(20.0), np.arange(21.0))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: st.adf(x, regression="x"), "adf regression must be one of"),
        (lambda x: st.adf(x, max_lags=-1), "adf max_lags must be >= 0"),
        (lambda x: st.ljung_box(x, 0), "ljung_box lags must be >= 1"),
        (lambda x: st.ljung_box(x, 3, model_df=3), "model_df \\(3\\) must be below lags"),
        (lambda x: st.engle_granger(x, x, trend="q"), "engle_granger trend must be one of"),
    ],
)
def test_stat_test_bad_parameter_is_refused(returns: Floats, call: Any, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        call(returns[:200])


def test_stat_tests_import_does_not_load_statsmodels() -> None:
    code = "import sys, heron.analytics.stat_tests; print('statsmodels' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
