"""Value at risk and expected shortfall: historical, and GARCH(1,1) with Student-t noise.

Convention (every function here):

* input: per-period simple returns (or P&L), gains positive, in time order;
* output: LOSSES as positive numbers in the input's unit: a 1-day 99% VaR of ``0.031``
  on daily returns means "a loss of 3.1% or worse happens on 1% of days";
* ``confidence`` is the probability of NOT exceeding VaR (0.99, 0.975 ...), in (0.5, 1);
* VaR is the ``confidence`` quantile of the loss ``L = -r``; ES is the mean loss at or
  beyond it (``E[L | L >= VaR]``), so ES >= VaR;
* historical figures scale to ``horizon`` periods by ``sqrt(horizon)`` (square root of
  time: it assumes i.i.d. returns and ignores drift, which is how it is usually quoted);
  the GARCH forecast is one step ahead only, where the model is at its best.

Why two methods: historical simulation needs no model but reacts slowly after calm
periods; GARCH-t tracks the current volatility regime and fat tails, at the cost of a
fit (tens of milliseconds to a second: a monitor refits every few evaluations and, in
between, re-filters the new data with the last parameters, see ``previous``).

The quantile is numpy's default (linear interpolation between order statistics), so
the figures can be checked with one line of numpy. Floats throughout: these are
statistics, never order sizes or balances.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heron.errors import InputError

if TYPE_CHECKING:
    from arch.univariate.base import ARCHModelFixedResult

# arch (and the scipy and statsmodels under it) is imported where a GARCH fit is made:
# it takes over a second to import, and every heron command imports this module.

MIN_HISTORICAL = 20   # fewer losses than this give no tail worth a number
MIN_GARCH = 250       # a GARCH(1,1)-t fit on fewer points is mostly its starting values


@dataclass(frozen=True, slots=True)
class VarEs:
    """VaR and ES at ``confidence`` over ``horizon`` periods (positive = loss)."""

    var: float
    es: float
    confidence: float
    horizon: int
    method: str
    observations: int


@dataclass(frozen=True, slots=True)
class GarchVarEs:
    """A one-step-ahead GARCH(1,1)-t forecast and the VaR/ES it implies.

    ``mu`` and ``sigma`` are the forecast mean and volatility of the next return (input
    units), ``nu`` the Student-t degrees of freedom, ``params`` the fitted parameters on
    the ``scale``-multiplied returns (pass them back to re-filter without refitting),
    ``converged`` whether the optimiser said so (a fixed-parameter filter counts)."""

    var: float
    es: float
    confidence: float
    mu: float
    sigma: float
    nu: float
    scale: float
    observations: int
    converged: bool
    params: dict[str, float] = field(default_factory=dict)


def historical_var(returns: ArrayLike, confidence: float = 0.99, horizon: int = 1) -> float:
    """The ``confidence`` quantile of losses, scaled by ``sqrt(horizon)``."""
    losses = -_series(returns, MIN_HISTORICAL)
    _confidence(confidence)
    return float(np.quantile(losses, confidence)) * math.sqrt(_horizon(horizon))


def historical_es(returns: ArrayLike, confidence: float = 0.99, horizon: int = 1) -> float:
    """The mean of the losses at or beyond the historical VaR, scaled by ``sqrt(horizon)``."""
    losses = -_series(returns, MIN_HISTORICAL)
    _confidence(confidence)
    var = np.quantile(losses, confidence)
    return float(losses[losses >= var].mean()) * math.sqrt(_horizon(horizon))


def historical_var_es(returns: ArrayLike, confidence: float = 0.99, horizon: int = 1) -> VarEs:
    """Both historical figures, with what they were computed from."""
    values = _series(returns, MIN_HISTORICAL)
    return VarEs(historical_var(values, confidence, horizon),
                 historical_es(values, confidence, horizon), confidence, horizon,
                 "historical", int(values.size))


def student_t_tail(confidence: float, nu: float) -> tuple[float, float]:
    """VaR and ES of a loss ``-Z`` where ``Z`` is Student-t with ``nu`` degrees of freedom
    rescaled to unit variance (arch's ``StudentsT``), at ``confidence``.

    With ``t = t_nu.ppf(confidence)`` and ``s = sqrt((nu - 2) / nu)``:
    ``VaR = s * t`` and ``ES = s * pdf_nu(t) / (1 - confidence) * (nu + t**2) / (nu - 1)``
    (McNeil, Frey and Embrechts, *Quantitative Risk Management*, 2.2.3). The quantile is
    arch's own (the distribution the model was fitted with); the density is closed form.
    """
    _confidence(confidence)
    if not nu > 2:
        raise InputError(f"var: Student-t nu must be > 2 for a finite variance, got {nu}")
    s = math.sqrt((nu - 2.0) / nu)
    from arch.univariate import StudentsT

    z = float(np.asarray(StudentsT().ppf(confidence, [nu])).reshape(-1)[0])  # = s * t
    t = z / s
    log_pdf = (math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0)
               - 0.5 * math.log(nu * math.pi) - (nu + 1.0) / 2.0 * math.log1p(t * t / nu))
    es = math.exp(log_pdf) / (1.0 - confidence) * (nu + t * t) / (nu - 1.0)
    return z, s * es


def garch_t_var_es(returns: ArrayLike, confidence: float = 0.99, *,
                   previous: GarchVarEs | None = None) -> GarchVarEs:
    """Fit a constant-mean GARCH(1,1) with standardised Student-t innovations with ``arch``
    (or, given the ``previous`` result, filter the returns with its parameters and scale:
    no optimisation, about a hundred times faster) and turn its one-step-ahead forecast
    into VaR and ES.

    ``arch``'s optimiser wants returns with a variance between 0.1 and 10,000: they are
    multiplied by 100 (percent) and then by powers of 10 as arch's own ``rescale``
    would, and the forecast is divided back, so the result is in the input's units."""
    values = _series(returns, MIN_GARCH)
    _confidence(confidence)
    scale = fit_scale(values) if previous is None else previous.scale
    from arch import arch_model

    model = arch_model(values * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="t",
                       rescale=False)
    result: ARCHModelFixedResult
    if previous is None:
        with warnings.catch_warnings():
            # non-convergence is reported in ``converged``, not as a warning to the log
            warnings.simplefilter("ignore")
            result = model.fit(disp="off", show_warning=False)
        converged = result.convergence_flag == 0
    else:
        result = model.fix(np.array(list(previous.params.values())))
        converged = True
    forecast = result.forecast(horizon=1, reindex=False)
    mu = float(forecast.mean.to_numpy()[-1, 0]) / scale
    sigma = math.sqrt(float(forecast.variance.to_numpy()[-1, 0])) / scale
    nu = float(result.params["nu"])
    z_var, z_es = student_t_tail(confidence, nu)
    return GarchVarEs(-mu + sigma * z_var, -mu + sigma * z_es, confidence, mu, sigma, nu,
                      scale, int(values.size), converged,
                      {str(k): float(v) for k, v in result.params.items()})


def fit_scale(returns: NDArray[np.float64]) -> float:
    """100 (percent) times the power of 10 that brings the variance into [0.1, 10000):
    the same rule as ``arch``'s ``rescale``, so a fit here equals arch's own."""
    base = float(np.var(returns)) * 100.0**2
    scale = 100.0
    variance = base
    while not 0.1 <= variance < 10000.0 and variance > 0:
        scale = scale * 10 if variance < 1.0 else scale / 10
        variance = base * (scale / 100.0) ** 2
    return scale


def _series(returns: ArrayLike, minimum: int) -> NDArray[np.float64]:
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1:
        raise InputError(f"var: returns must be one series (1-d), got shape {values.shape}")
    if values.size < minimum:
        raise InputError(f"var: need at least {minimum} returns, got {values.size}; "
                         f"use a longer history")
    if not np.isfinite(values).all():
        raise InputError("var: returns contain NaN or infinity; drop the gaps first")
    return values


def _confidence(confidence: float) -> None:
    if not 0.5 < confidence < 1.0:
        raise InputError(f"var: confidence must be in (0.5, 1), got {confidence}; "
                         f"write 99% as 0.99")


def _horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise InputError(f"var: horizon must be a whole number of periods >= 1, got {horizon}")
    return horizon
