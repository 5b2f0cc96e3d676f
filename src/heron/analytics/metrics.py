"""Backtest performance metrics as pure functions over NumPy arrays.

Everything here is float arithmetic on a sampled equity curve and on the closed
round trips of a run; money exactness lives in the engine, and these figures only
have to be right to float precision.

Conventions (the ones that differ between libraries are pinned down here, and the
tests check them against ``empyrical`` and ``quantstats``):

* **Period returns** are simple returns of consecutive samples,
  ``r[i] = equity[i + 1] / equity[i] - 1``. If the equity reaches zero or below
  (a ruined, over-leveraged account) the returns stop at that sample: after ruin a
  ratio to the previous value means nothing.
* **Periods per year**: given explicitly (``252`` for daily equity bars of a stock
  exchange), or inferred as ``365 days / median(diff(ts))``, i.e. assuming a market
  that trades 24/7, which is right for crypto and wrong for exchange hours.
* **A year is 365 days** of 86,400 s (leap days ignored) everywhere, so that on a
  gap-free 24/7 curve the real-time span equals ``n_returns / periods_per_year``
  and the annualised return agrees with empyrical's.
* **Total return** = ``end_equity / start_equity - 1``; ``start_equity`` is
  ``starting_cash`` when given (fees paid on the first bar then count), else
  ``equity[0]``.
* **Annualised return** (CAGR) = ``(end_equity / start_equity) ** (1 / years) - 1``
  over the *real* span ``ts[-1] - ts[0]``, so gaps in the data do not inflate it.
* **Annualised volatility** = ``std(r, ddof=1) * sqrt(periods_per_year)``.
* **Sharpe** = ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``, where
  the annual risk-free rate is turned into a per-period one geometrically,
  ``rf = (1 + risk_free_rate) ** (1 / periods_per_year) - 1`` (as quantstats does).
* **Sortino** = ``mean(r - rf) / sqrt(mean(min(r - rf, 0) ** 2)) *
  sqrt(periods_per_year)``: the downside deviation averages over *all* periods, as in
  empyrical, not only over the losing ones.
* **Drawdown** is the fraction below the running peak, ``1 - equity / peak``: a
  non-negative depth, 0 at a new high, 0.25 when 25% below the best value so far
  (above 1 only if the equity goes negative). **Max drawdown %** is its maximum.
* **Max drawdown duration** is the longest spell below a previous peak, from the
  sample of that peak to the first sample back at or above it (or to the last
  sample if the curve never recovered); it is the longest spell, not necessarily
  the one of the deepest drawdown.
* **Calmar** = annualised return / max drawdown (both as fractions).
* **Trades**: a win is a trade with ``pnl > 0``; win rate = wins / trades.
  **Profit factor** = sum of winning PnL / |sum of losing PnL|.
* **Exposure %** = mean of ``|exposure|`` over the samples: for a bool array the
  share of samples with a position open, for a float array the mean gross
  exposure as a fraction of equity (can exceed 100% with leverage).

Undefined values are ``None``, never NaN or infinity, so that a
``PerformanceMetrics`` always serialises to plain JSON: ratios with fewer than two
returns, zero volatility or downside deviation (Sharpe, Sortino), zero drawdown
(Calmar), no losing trade (profit factor; the number of trades tells an
all-winning run from an empty one), no trades (win rate, averages, best/worst),
and an annualised return that overflows a float (a big move over a tiny span).
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

from heron.errors import DataError, InvalidConfiguration

__all__ = [
    "NS_PER_YEAR",
    "PerformanceMetrics",
    "compute_metrics",
    "drawdown_series",
    "infer_periods_per_year",
]

NS_PER_DAY: Final = 86_400 * 1_000_000_000
NS_PER_YEAR: Final = 365 * NS_PER_DAY

# A per-period standard deviation at or below this is float rounding noise (a
# trillionth of a percent per period), not risk: dividing by it would turn a
# constant-growth curve into a Sharpe ratio of 1e16.
_ZERO_DEVIATION: Final = 1e-12


class PerformanceMetrics(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The headline statistics of one run; ``None`` marks a value that is undefined.

    Percentages are in percent (12.5 means 12.5%); ratios are plain numbers; money
    figures are in the account currency. See the module docstring for the exact
    conventions.
    """

    start_ts: int
    end_ts: int
    duration_ns: int
    num_periods: int
    periods_per_year: float | None
    start_equity: float
    end_equity: float
    total_return_pct: float
    annual_return_pct: float | None
    annual_volatility_pct: float | None
    sharpe_ratio: float | None
    sortino_ratio: float | None
    calmar_ratio: float | None
    max_drawdown_pct: float
    max_drawdown_duration_ns: int
    max_drawdown_duration_periods: int
    num_trades: int
    win_rate_pct: float | None
    profit_factor: float | None
    avg_trade_pnl: float | None
    best_trade_pnl: float | None
    worst_trade_pnl: float | None
    avg_trade_return_pct: float | None
    best_trade_return_pct: float | None
    worst_trade_return_pct: float | None
    exposure_pct: float | None
    turnover: float
    fees_paid: float


def compute_metrics(
    *,
    ts: ArrayLike,
    equity: ArrayLike,
    trade_pnl: ArrayLike = (),
    trade_returns: ArrayLike | None = None,
    exposure: ArrayLike | float | None = None,
    fees_paid: float = 0.0,
    turnover: float = 0.0,
    starting_cash: float | None = None,
    periods_per_year: float | None = None,
    risk_free_rate: float = 0.0,
) -> PerformanceMetrics:
    """Compute every metric of a run from its equity samples and closed trades.

    ``ts`` are int64 UTC nanoseconds, strictly increasing, one per equity sample;
    ``trade_pnl`` is the net PnL of each closed round trip (after fees) and
    ``trade_returns`` its return as a fraction (0.01 = 1%). ``exposure`` is a bool
    or float array per sample, or an already computed fraction. ``risk_free_rate``
    is annual, as a fraction. Invalid arrays raise ``DataError``; impossible
    parameters raise ``InvalidConfiguration``.
    """
    ts_arr = _timestamps(ts)
    eq = _finite_floats("equity", equity, length=len(ts_arr))
    if len(eq) == 0:
        raise DataError("equity is empty: metrics need at least one equity sample")
    ppy = _periods_per_year(ts_arr, periods_per_year)
    _check_risk_free_rate(risk_free_rate)
    start_equity = _start_equity(eq, starting_cash)
    pnl = _finite_floats("trade_pnl", trade_pnl)
    returns = None if trade_returns is None else _finite_floats("trade_returns", trade_returns)
    if returns is not None and len(returns) != len(pnl):
        raise DataError(f"trade_returns has {len(returns)} values for {len(pnl)} trades")
    trades = _trade_stats(pnl, returns)
    end_equity = float(eq[-1])
    duration_ns = int(ts_arr[-1] - ts_arr[0])
    annual_return = _annual_return(end_equity / start_equity, duration_ns)
    depth = drawdown_series(eq)
    max_dd = float(depth.max())
    dd_periods, dd_ns = _longest_drawdown(depth, ts_arr)
    sharpe, sortino, volatility = _return_ratios(_period_returns(eq), ppy, risk_free_rate)
    return PerformanceMetrics(
        start_ts=int(ts_arr[0]),
        end_ts=int(ts_arr[-1]),
        duration_ns=duration_ns,
        num_periods=len(eq) - 1,
        periods_per_year=ppy,
        start_equity=start_equity,
        end_equity=end_equity,
        total_return_pct=(end_equity / start_equity - 1.0) * 100.0,
        annual_return_pct=None if annual_return is None else annual_return * 100.0,
        annual_volatility_pct=None if volatility is None else volatility * 100.0,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        calmar_ratio=None if annual_return is None or max_dd == 0.0 else annual_return / max_dd,
        max_drawdown_pct=max_dd * 100.0,
        max_drawdown_duration_ns=dd_ns,
        max_drawdown_duration_periods=dd_periods,
        num_trades=len(pnl),
        win_rate_pct=trades.win_rate_pct,
        profit_factor=trades.profit_factor,
        avg_trade_pnl=trades.avg_pnl,
        best_trade_pnl=trades.best_pnl,
        worst_trade_pnl=trades.worst_pnl,
        avg_trade_return_pct=trades.avg_return_pct,
        best_trade_return_pct=trades.best_return_pct,
        worst_trade_return_pct=trades.worst_return_pct,
        exposure_pct=_exposure_pct(exposure, len(eq)),
        turnover=_finite_scalar("turnover", turnover),
        fees_paid=_finite_scalar("fees_paid", fees_paid),
    )


def drawdown_series(equity: ArrayLike) -> NDArray[np.float64]:
    """Return the depth below the running peak at each sample, ``1 - equity / peak``.

    Non-negative by construction (0 at every new high), so a chart can plot it as
    an underwater curve with ``-100 * depth`` and the maximum is the max drawdown.
    The first sample must be positive, since depth is a fraction of the peak.
    """
    eq = _finite_floats("equity", equity)
    if len(eq) == 0:
        return np.zeros(0, dtype=np.float64)
    if eq[0] <= 0.0:
        raise DataError(f"equity starts at {eq[0]}: drawdown needs a positive first value")
    peak = np.maximum.accumulate(eq)
    depth: NDArray[np.float64] = 1.0 - eq / peak
    return depth


def infer_periods_per_year(ts: ArrayLike) -> float | None:
    """Infer how many samples make a year from the median spacing of ``ts``.

    Assumes a 24/7 market (a year of 365 days): right for crypto, wrong for daily
    stock bars, which need an explicit 252. The median ignores the odd gap or
    weekend. ``None`` when there are fewer than two samples.
    """
    ts_arr = _timestamps(ts)
    if len(ts_arr) < 2:
        return None
    return float(NS_PER_YEAR / float(np.median(np.diff(ts_arr))))


def _timestamps(ts: ArrayLike) -> NDArray[np.int64]:
    """Validate nanosecond timestamps: integers (floats would round ns), increasing."""
    arr = np.asarray(ts)
    if arr.ndim != 1:
        raise DataError(f"ts must be one-dimensional, got shape {arr.shape}")
    if len(arr) and not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"ts must be int64 nanoseconds, got dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if len(out) > 1 and not bool(np.all(np.diff(out) > 0)):
        raise DataError("ts must be strictly increasing: sort the samples and drop duplicates")
    return out


def _finite_floats(name: str, values: ArrayLike, length: int | None = None) -> NDArray[np.float64]:
    """Coerce to a 1-D float64 array, rejecting NaN/inf and a length mismatch."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if length is not None and len(arr) != length:
        raise DataError(f"{name} has {len(arr)} values but ts has {length}: give one per sample")
    if not bool(np.all(np.isfinite(arr))):
        raise DataError(f"{name} contains NaN or infinite values: clean the input first")
    return arr


def _finite_scalar(name: str, value: float) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise DataError(f"{name} is {value}: it must be a finite number")
    return out


def _periods_per_year(ts: NDArray[np.int64], given: float | None) -> float | None:
    if given is None:
        return infer_periods_per_year(ts)
    if not math.isfinite(given) or given <= 0:
        raise InvalidConfiguration(
            f"periods_per_year {given} is impossible: give a positive number such as 252"
        )
    return float(given)


def _check_risk_free_rate(rate: float) -> None:
    if not math.isfinite(rate) or rate <= -1.0:
        raise InvalidConfiguration(
            f"risk_free_rate {rate} is impossible: give an annual fraction above -1"
        )


def _start_equity(equity: NDArray[np.float64], starting_cash: float | None) -> float:
    """The base of total return: starting cash when known, else the first sample."""
    start = float(equity[0]) if starting_cash is None else float(starting_cash)
    if not math.isfinite(start) or start <= 0.0:
        raise DataError(f"starting equity {start} must be positive: returns are relative to it")
    return start


def _period_returns(equity: NDArray[np.float64]) -> NDArray[np.float64]:
    """Simple returns of consecutive samples, cut at the first non-positive equity."""
    base = equity[:-1]
    ruined = np.flatnonzero(base <= 0.0)
    stop = int(ruined[0]) if len(ruined) else len(base)
    returns: NDArray[np.float64] = np.diff(equity[: stop + 1]) / base[:stop]
    return returns


def _annual_return(growth: float, duration_ns: int) -> float | None:
    """CAGR over the real span; -100% once the equity is gone, None without a span."""
    if duration_ns <= 0:
        return None
    if growth <= 0.0:
        return -1.0
    exponent = math.log(growth) * NS_PER_YEAR / duration_ns
    if exponent > math.log(np.finfo(np.float64).max):
        return None
    return math.expm1(exponent)


def _return_ratios(
    returns: NDArray[np.float64], ppy: float | None, risk_free_rate: float
) -> tuple[float | None, float | None, float | None]:
    """Sharpe, Sortino and annualised volatility (fraction) of the period returns."""
    if ppy is None or len(returns) < 2:
        return None, None, None
    excess = returns - ((1.0 + risk_free_rate) ** (1.0 / ppy) - 1.0)
    scale = math.sqrt(ppy)
    std = float(np.std(returns, ddof=1))
    excess_std = float(np.std(excess, ddof=1))
    mean_excess = float(np.mean(excess))
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    sharpe = None if excess_std <= _ZERO_DEVIATION else mean_excess / excess_std * scale
    sortino = None if downside <= _ZERO_DEVIATION else mean_excess / downside * scale
    return sharpe, sortino, std * scale


def _longest_drawdown(depth: NDArray[np.float64], ts: NDArray[np.int64]) -> tuple[int, int]:
    """Length in samples and in ns of the longest spell below a previous peak.

    A spell of underwater samples ``a..b`` starts at its peak ``a - 1`` (sample 0 is
    never underwater) and ends at the recovery ``b + 1``, or at ``b`` if the curve
    ends underwater.
    """
    underwater = np.concatenate(([0], (depth > 0.0).astype(np.int8), [0]))
    edges = np.diff(underwater)
    starts = np.flatnonzero(edges == 1)  # first underwater sample of each spell
    stops = np.flatnonzero(edges == -1)  # one past its last underwater sample
    if len(starts) == 0:
        return 0, 0
    peaks = starts - 1
    ends = np.minimum(stops, len(depth) - 1)
    periods = ends - peaks
    longest = int(np.argmax(periods))
    return int(periods[longest]), int(ts[ends[longest]] - ts[peaks[longest]])


class _TradeStats(NamedTuple):
    win_rate_pct: float | None = None
    profit_factor: float | None = None
    avg_pnl: float | None = None
    best_pnl: float | None = None
    worst_pnl: float | None = None
    avg_return_pct: float | None = None
    best_return_pct: float | None = None
    worst_return_pct: float | None = None


def _trade_stats(pnl: NDArray[np.float64], returns: NDArray[np.float64] | None) -> _TradeStats:
    """Win rate, profit factor and per-trade PnL/return figures (all None with no trades)."""
    n = len(pnl)
    if n == 0:
        return _TradeStats()
    gross_profit = float(pnl[pnl > 0.0].sum())
    gross_loss = -float(pnl[pnl < 0.0].sum())
    avg_ret = best_ret = worst_ret = None
    if returns is not None:
        avg_ret = float(np.mean(returns)) * 100.0
        best_ret = float(np.max(returns)) * 100.0
        worst_ret = float(np.min(returns)) * 100.0
    return _TradeStats(
        win_rate_pct=float(np.count_nonzero(pnl > 0.0)) / n * 100.0,
        profit_factor=None if gross_loss == 0.0 else gross_profit / gross_loss,
        avg_pnl=float(np.mean(pnl)),
        best_pnl=float(np.max(pnl)),
        worst_pnl=float(np.min(pnl)),
        avg_return_pct=avg_ret,
        best_return_pct=best_ret,
        worst_return_pct=worst_ret,
    )


def _exposure_pct(exposure: ArrayLike | float | None, n_samples: int) -> float | None:
    """Mean |exposure| in percent; a scalar is taken as an already computed fraction."""
    if exposure is None:
        return None
    if np.ndim(exposure) == 0:
        return _finite_scalar("exposure", float(np.asarray(exposure))) * 100.0
    values = _finite_floats("exposure", exposure, length=n_samples)
    return float(np.mean(np.abs(values))) * 100.0
