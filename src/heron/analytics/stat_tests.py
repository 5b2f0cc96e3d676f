"""Statistical tests on return and price series, through statsmodels.

Thin, typed wrappers: each checks its input, calls statsmodels once, and returns a
small frozen dataclass instead of statsmodels' tuples and frames, so callers (the
``pairs`` strategy, research notebooks, reports) read named fields. The numbers are
statsmodels' own, unchanged.

- :func:`adf`: augmented Dickey-Fuller unit-root test (``adfuller``). Small p-value:
  no unit root, the series is stationary (mean-reverting).
- :func:`jarque_bera`: normality from skew and kurtosis. Small p-value: not normal.
- :func:`ljung_box`: autocorrelation up to a lag (``acorr_ljungbox``). Small p-value:
  autocorrelated.
- :func:`engle_granger`: two-step cointegration test (``coint``) with the OLS hedge
  ratio (:func:`hedge_ratio`) of ``y`` on ``x``. Small p-value: the spread
  ``y - intercept - hedge_ratio * x`` is stationary.

statsmodels is imported when a test runs, not when this module is imported: it takes
seconds to load, and a strategy module that imports this one should not pay that at
discovery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from inspect import signature
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from heron.analytics.inputs import FloatArray, InvalidParameter, check_period, series
from heron.errors import DataError

AdfRegression = Literal["c", "ct", "ctt", "n"]
CointTrend = Literal["c", "ct", "ctt", "n"]
AutoLag = Literal["AIC", "BIC", "t-stat"]

_MIN_OBS = 10


@dataclass(frozen=True, slots=True)
class AdfResult:
    """Augmented Dickey-Fuller: the t-statistic of the lagged level, its MacKinnon p-value,
    the lags used, the observations in the regression, the 1%/5%/10% critical values
    and, when the lag was chosen by an information criterion, its best value."""

    statistic: float
    p_value: float
    lags: int
    n_obs: int
    critical_values: Mapping[str, float]
    ic_best: float | None


@dataclass(frozen=True, slots=True)
class JarqueBeraResult:
    """Jarque-Bera statistic and chi-squared(2) p-value, with the sample skew and the
    (non-excess) kurtosis they come from; a normal sample has kurtosis 3."""

    statistic: float
    p_value: float
    skew: float
    kurtosis: float


@dataclass(frozen=True, slots=True)
class LjungBoxResult:
    """Ljung-Box Q over lags ``1..lags`` and its chi-squared p-value."""

    statistic: float
    p_value: float
    lags: int


@dataclass(frozen=True, slots=True)
class HedgeRatio:
    """OLS fit ``y = intercept + hedge_ratio * x``: hold ``hedge_ratio`` of x per unit of y."""

    hedge_ratio: float
    intercept: float


@dataclass(frozen=True, slots=True)
class CointegrationResult:
    """Engle-Granger test statistic, MacKinnon p-value and 1%/5%/10% critical values,
    with the OLS hedge ratio and intercept of ``y`` on ``x`` that define the spread."""

    statistic: float
    p_value: float
    critical_values: Mapping[str, float]
    hedge_ratio: float
    intercept: float
    n_obs: int


def adf(
    values: ArrayLike,
    *,
    max_lags: int | None = None,
    regression: AdfRegression = "c",
    autolag: AutoLag | None = "AIC",
) -> AdfResult:
    """Augmented Dickey-Fuller test of ``values`` (``statsmodels.tsa.stattools.adfuller``).

    ``regression``: ``"c"`` constant, ``"ct"`` constant and trend, ``"ctt"`` plus a
    quadratic trend, ``"n"`` neither. ``autolag=None`` uses exactly ``max_lags`` lags
    (statsmodels' default of ``12 * (n / 100) ** 0.25`` when that is None too).
    """
    from statsmodels.tsa.stattools import adfuller

    x = _observations("adf", "values", values)
    _choice("adf", "regression", regression, ("c", "ct", "ctt", "n"))
    _choice("adf", "autolag", autolag, ("AIC", "BIC", "t-stat", None))
    if max_lags is not None:
        check_period("adf", "max_lags", max_lags, 0, 10)
    out: tuple[Any, ...] = adfuller(
        x, maxlag=max_lags, regression=regression, autolag=autolag, **_tuple_result(adfuller)
    )
    return AdfResult(
        statistic=float(out[0]),
        p_value=float(out[1]),
        lags=int(out[2]),
        n_obs=int(out[3]),
        critical_values=_frozen(out[4]),
        ic_best=float(out[5]) if autolag is not None else None,
    )


def jarque_bera(values: ArrayLike) -> JarqueBeraResult:
    """Jarque-Bera normality test (``statsmodels.stats.stattools.jarque_bera``)."""
    from statsmodels.stats.stattools import jarque_bera as sm_jarque_bera

    x = _observations("jarque_bera", "values", values)
    statistic, p_value, skew, kurtosis = sm_jarque_bera(x)
    return JarqueBeraResult(float(statistic), float(p_value), float(skew), float(kurtosis))


def ljung_box(values: ArrayLike, lags: int = 10, *, model_df: int = 0) -> LjungBoxResult:
    """Ljung-Box test of no autocorrelation up to ``lags`` (``acorr_ljungbox``).

    ``model_df`` is subtracted from the degrees of freedom when ``values`` are the
    residuals of a fitted ARMA(p, q) model (give ``p + q``).
    """
    from statsmodels.stats.diagnostic import acorr_ljungbox

    x = _observations("ljung_box", "values", values)
    check_period("ljung_box", "lags", lags, 1, 10)
    check_period("ljung_box", "model_df", model_df, 0, 0)
    if model_df >= lags:
        raise InvalidParameter(f"ljung_box model_df ({model_df}) must be below lags ({lags})")
    frame = acorr_ljungbox(x, lags=[lags], model_df=model_df)
    return LjungBoxResult(
        statistic=float(frame["lb_stat"].iloc[0]),
        p_value=float(frame["lb_pvalue"].iloc[0]),
        lags=lags,
    )


def hedge_ratio(y: ArrayLike, x: ArrayLike) -> HedgeRatio:
    """OLS of ``y`` on ``x`` with an intercept (``statsmodels.api.OLS``), the EG first step."""
    import statsmodels.api as sm

    yy, xx = _pair("hedge_ratio", y, x)
    params = sm.OLS(yy, sm.add_constant(xx)).fit().params
    return HedgeRatio(hedge_ratio=float(params[1]), intercept=float(params[0]))


def engle_granger(
    y: ArrayLike,
    x: ArrayLike,
    *,
    trend: CointTrend = "c",
    max_lags: int | None = None,
    autolag: Literal["aic", "bic", "t-stat"] | None = "aic",
) -> CointegrationResult:
    """Engle-Granger cointegration test of ``y`` on ``x`` (``statsmodels.tsa.stattools.coint``).

    The null hypothesis is *no* cointegration. ``hedge_ratio`` and ``intercept`` are
    from :func:`hedge_ratio`, the regression whose residuals ``coint`` tests when
    ``trend="c"``. Order matters: ``y`` is the dependent leg.
    """
    from statsmodels.tsa.stattools import coint

    yy, xx = _pair("engle_granger", y, x)
    _choice("engle_granger", "trend", trend, ("c", "ct", "ctt", "n"))
    _choice("engle_granger", "autolag", autolag, ("aic", "bic", "t-stat", None))
    if max_lags is not None:
        check_period("engle_granger", "max_lags", max_lags, 0, 10)
    statistic, p_value, critical = coint(yy, xx, trend=trend, maxlag=max_lags, autolag=autolag)
    fit = hedge_ratio(yy, xx)
    return CointegrationResult(
        statistic=float(statistic),
        p_value=float(p_value),
        critical_values=_frozen(dict(zip(("1%", "5%", "10%"), critical, strict=True))),
        hedge_ratio=fit.hedge_ratio,
        intercept=fit.intercept,
        n_obs=len(yy),
    )


def _observations(func: str, name: str, values: ArrayLike) -> FloatArray:
    """A finite 1-D series long enough for the test."""
    x = series(func, name, values)
    if not bool(np.all(np.isfinite(x))):
        raise DataError(
            f"{func} {name} contain NaN or infinite values; drop them first "
            "(e.g. returns[np.isfinite(returns)])"
        )
    if len(x) < _MIN_OBS:
        raise DataError(f"{func} needs at least {_MIN_OBS} observations, got {len(x)}")
    return x


def _pair(func: str, y: ArrayLike, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
    yy = _observations(func, "y", y)
    xx = _observations(func, "x", x)
    if len(yy) != len(xx):
        raise DataError(
            f"{func} needs y and x of one length (aligned in time), got {len(yy)} and {len(xx)}"
        )
    return yy, xx


def _choice(func: str, name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise InvalidParameter(f"{func} {name} must be one of {shown}, got {value!r}")


def _tuple_result(func: Callable[..., Any]) -> dict[str, bool]:
    """``result_object=False`` where statsmodels has the switch (0.15+), so it returns the
    tuple of earlier releases without a FutureWarning about its coming result object."""
    return {"result_object": False} if "result_object" in signature(func).parameters else {}


def _frozen(values: Mapping[str, Any]) -> Mapping[str, float]:
    return MappingProxyType({str(key): float(value) for key, value in values.items()})
