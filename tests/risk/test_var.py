"""VaR and ES against numpy and arch computed here, on the bundled real BTC-PERP bars."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from arch import arch_model
from numpy.typing import NDArray
from scipy import stats

from heron.data.bars import read_bars
from heron.errors import InputError
from heron.risk.var import (
    garch_t_var_es,
    historical_es,
    historical_var,
    historical_var_es,
    student_t_tail,
)

BARS = Path(__file__).parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@pytest.fixture(scope="module")
def btc_returns() -> NDArray[np.float64]:
    close = read_bars(BARS).frame["close"].to_numpy()
    returns = close[1:] / close[:-1] - 1.0
    assert returns.size == 45030
    return np.asarray(returns, dtype=np.float64)


@pytest.mark.parametrize("confidence", [0.95, 0.975, 0.99, 0.999])
def test_historical_var_es_equal_numpy_on_real_bars(btc_returns: NDArray[np.float64],
                                                    confidence: float) -> None:
    # numpy from the other side: the (1 - c) percentile of returns, sign flipped
    expected_var = -np.percentile(btc_returns, 100 * (1 - confidence))
    expected_es = -btc_returns[btc_returns <= -expected_var].mean()
    assert historical_var(btc_returns, confidence) == pytest.approx(expected_var, rel=1e-12)
    assert historical_es(btc_returns, confidence) == pytest.approx(expected_es, rel=1e-12)
    assert historical_es(btc_returns, confidence) >= historical_var(btc_returns, confidence) > 0


def test_historical_horizon_scales_by_square_root_of_time(
        btc_returns: NDArray[np.float64]) -> None:
    one = historical_var_es(btc_returns, 0.99)
    ten = historical_var_es(btc_returns, 0.99, horizon=10)
    assert ten.var == pytest.approx(one.var * math.sqrt(10), rel=1e-12)
    assert ten.es == pytest.approx(one.es * math.sqrt(10), rel=1e-12)
    assert (ten.observations, ten.method, ten.horizon) == (45030, "historical", 10)


def test_historical_var_es_of_normal_sample_match_the_formulas() -> None:
    sigma = 0.02
    sample = np.random.default_rng(11).normal(0.0, sigma, 2_000_000)
    z = stats.norm.ppf(0.99)
    assert historical_var(sample, 0.99) == pytest.approx(sigma * z, rel=5e-3)
    assert historical_es(sample, 0.99) == pytest.approx(sigma * stats.norm.pdf(z) / 0.01,
                                                        rel=5e-3)


@pytest.mark.parametrize("nu", [2.5, 4.0, 8.0, 30.0])
def test_student_t_tail_matches_scipy_integration(nu: float) -> None:
    s = math.sqrt((nu - 2) / nu)
    q = stats.t.ppf(0.99, nu)
    es = stats.t.expect(lambda x: x, args=(nu,), lb=q, conditional=True)
    var_z, es_z = student_t_tail(0.99, nu)
    assert var_z == pytest.approx(s * q, rel=1e-10)
    assert es_z == pytest.approx(s * es, rel=1e-7)


def _arch_reference(returns: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    """The same model fitted by arch's own rescaling, VaR/ES from scipy's t."""
    model = arch_model(returns * 100, mean="Constant", vol="GARCH", p=1, q=1, dist="t",
                       rescale=True)
    res = model.fit(disp="off")
    assert res.convergence_flag == 0
    scale = 100 * model.scale
    forecast = res.forecast(horizon=1, reindex=False)
    mu = forecast.mean.to_numpy()[-1, 0] / scale
    sigma = math.sqrt(forecast.variance.to_numpy()[-1, 0]) / scale
    nu = res.params["nu"]
    s = math.sqrt((nu - 2) / nu)
    q = stats.t.ppf(confidence, nu)
    tail = stats.t.expect(lambda x: x, args=(nu,), lb=q, conditional=True)
    return -mu + sigma * s * q, -mu + sigma * s * tail


@pytest.mark.parametrize(("start", "stop"), [(-5000, None), (0, 3000)])
def test_garch_t_var_es_equal_arch_reference_on_real_bars(
        btc_returns: NDArray[np.float64], start: int, stop: int | None) -> None:
    window = btc_returns[start:stop]
    ref_var, ref_es = _arch_reference(window, 0.99)
    got = garch_t_var_es(window, 0.99)
    assert got.converged
    assert got.scale == 1000.0           # 1-minute returns: percent, then x10 as arch does
    assert got.var == pytest.approx(ref_var, rel=1e-6)
    assert got.es == pytest.approx(ref_es, rel=1e-6)
    assert got.es > got.var > 0
    assert 2 < got.nu < 10               # BTC minute returns are fat tailed


def test_garch_refilter_with_previous_equals_arch_fix(btc_returns: NDArray[np.float64]) -> None:
    fitted = garch_t_var_es(btc_returns[-3000:-60], 0.99)
    later = btc_returns[-3000:]
    refiltered = garch_t_var_es(later, 0.99, previous=fitted)
    model = arch_model(later * fitted.scale, mean="Constant", vol="GARCH", p=1, q=1,
                       dist="t", rescale=False)
    fixed = model.fix(np.array(list(fitted.params.values())))
    variance = fixed.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
    assert refiltered.sigma == pytest.approx(math.sqrt(variance) / fitted.scale, rel=1e-12)
    assert refiltered.params == fitted.params
    assert refiltered.observations == 3000


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: historical_var(r, 1.0), "confidence"),
    (lambda r: historical_var(r, 0.99, horizon=0), "horizon"),
    (lambda r: historical_es(r[:10], 0.99), "at least 20"),
    (lambda r: historical_var(np.append(r, np.nan), 0.99), "NaN"),
    (lambda r: garch_t_var_es(r[:100], 0.99), "at least 250"),
    (lambda r: historical_var(r.reshape(-1, 2), 0.99), "1-d"),
])
def test_var_bad_input_is_refused(btc_returns: NDArray[np.float64], call: object,
                                  message: str) -> None:
    with pytest.raises(InputError, match=message):
        call(btc_returns)  # type: ignore[operator]
