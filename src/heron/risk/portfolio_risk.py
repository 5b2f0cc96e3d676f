"""Portfolio risk across instruments: VaR/ES, concentration, correlation, and their limits.

A :class:`PortfolioRiskMonitor` is evaluated on a timer (not per order: a GARCH fit
costs tens of milliseconds). Each evaluation takes a :class:`RiskSnapshot` (equity,
signed notional per instrument, recent prices) and returns the limits it breaches as
:class:`Breach` tuples ``(trigger, reason, evidence)``, ready for the trading-state
machine's ``fire(trigger, reason, evidence)`` (:mod:`heron.risk.state`). Every breach
uses the machine's one ``portfolio_risk`` trigger; ``evidence["limit"]`` names the
limit (``max_var``, ``max_es``, ``max_concentration``, ``max_herfindahl``,
``max_correlation``).

What is measured, and why so:

* VaR/ES of the CURRENT positions by historical simulation: each past period's
  instrument returns applied to today's signed notionals, as a fraction of equity
  (:mod:`heron.risk.var` conventions: positive loss, one period). The equity curve's
  own history would measure yesterday's positions instead. With ``var_method =
  "garch"`` (or ``"both"``) a GARCH(1,1)-t forecast of that same series is checked too,
  refitted every ``garch_refit_every`` evaluations and re-filtered in between.
* Concentration: the largest position's share of gross exposure, and the Herfindahl
  index ``sum(share_i^2)`` (1 = one position, 1/n = n equal positions). Exact ratios
  (the notionals are Decimal), so a limit at exactly the boundary does not breach.
* Correlation of returns over the last ``window`` periods between instruments that are
  both held, signed by the positions: two longs with correlation 0.95 add risk, a long
  and a short with correlation 0.95 hedge, so the checked value is
  ``corr * sign_a * sign_b``.

Limits come from the ``[portfolio]`` table of the run's risk TOML file
(:meth:`PortfolioLimits.from_table`); a limit left out is not checked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from heron.errors import EngineError, InputError
from heron.model.portfolio import Portfolio
from heron.risk.var import MIN_GARCH, GarchVarEs, garch_t_var_es, historical_var_es

TRIGGER = "portfolio_risk"  # heron.risk.state.Trigger.PORTFOLIO_RISK
VAR_METHODS = ("historical", "garch", "both")


class Breach(NamedTuple):
    """One limit breached: ``machine.fire(*breach)``."""

    trigger: str
    reason: str
    evidence: dict[str, str]


# -- limits ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    """The ``[portfolio]`` table. Fractions of equity / of gross exposure are Decimal (as
    written in the file, so boundaries compare exactly); ``None`` = not checked."""

    confidence: float = 0.99
    window: int = 1000               # returns used for VaR, ES and correlation
    min_observations: int = 100      # fewer returns than this: VaR/ES/correlation skipped
    var_method: str = "historical"
    garch_refit_every: int = 20      # evaluations between GARCH refits
    check_every_s: int = 60          # a node samples marks and evaluates this often
    max_var: Decimal | None = None   # fraction of equity, one period
    max_es: Decimal | None = None
    max_concentration: Decimal | None = None  # largest |notional| / gross, in (0, 1]
    max_herfindahl: Decimal | None = None     # sum of squared shares, in (0, 1]
    max_correlation: Decimal | None = None    # position-signed pairwise correlation

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> PortfolioLimits:
        """Validate a parsed TOML table; InputError naming ``portfolio.<key>`` and the fix."""
        known = {f.name for f in fields(cls)}
        for key in table:
            if key not in known:
                raise InputError(f"risk file: unknown key portfolio.{key}; "
                                 f"use one of {', '.join(sorted(known))}")
        values = {key: _check_key(key, value) for key, value in table.items()}
        limits = cls(**values)
        limits.check_consistent()
        return limits

    def check_consistent(self) -> None:
        """Refuse combinations that cannot be meant."""
        if self.min_observations > self.window:
            raise InputError(f"risk file: portfolio.min_observations {self.min_observations} "
                             f"exceeds portfolio.window {self.window}; lower it")
        if self.max_var is not None and self.max_es is not None and self.max_es < self.max_var:
            raise InputError(f"risk file: portfolio.max_es {self.max_es} is below "
                             f"portfolio.max_var {self.max_var}, but ES >= VaR always; "
                             f"raise max_es or drop it")
        if self.var_method != "historical" and self.window < MIN_GARCH:
            raise InputError(f"risk file: portfolio.window {self.window} is too short for "
                             f"var_method {self.var_method!r}; GARCH needs >= {MIN_GARCH}")


_UNIT_KEYS = ("max_var", "max_es", "max_concentration", "max_herfindahl", "max_correlation")
_INT_KEYS = {"window": 20, "min_observations": 20, "garch_refit_every": 1, "check_every_s": 1}


def _check_key(key: str, value: Any) -> Any:
    where = f"risk file: portfolio.{key}"
    if key == "var_method":
        if value not in VAR_METHODS:
            raise InputError(f"{where} = {value!r}; use one of {', '.join(VAR_METHODS)}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InputError(f"{where} must be a number, got {value!r}")
    if key in _INT_KEYS:
        if not isinstance(value, int) or value < _INT_KEYS[key]:
            raise InputError(f"{where} must be a whole number >= {_INT_KEYS[key]}, "
                             f"got {value!r}")
        return value
    if key == "confidence":
        if not 0.5 < float(value) < 1:
            raise InputError(f"{where} must be in (0.5, 1), got {value!r}; write 99% as 0.99")
        return float(value)
    exact = Decimal(str(value))  # the number as written in the file, not its binary float
    if not Decimal(0) < exact <= Decimal(1):
        raise InputError(f"{where} must be in (0, 1], got {value!r} "
                         f"(a fraction: 5% is 0.05)")
    return exact


# -- measures ----------------------------------------------------------------------------------
def rolling_correlation(returns: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Correlation matrices of the columns of ``returns`` (periods x instruments) over
    each trailing ``window``: shape ``(periods - window + 1, n, n)``; NaN where a column
    is constant in the window."""
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 2 or not 2 <= window <= data.shape[0]:
        raise InputError(f"portfolio risk: need a 2-d returns array with at least window="
                         f"{window} rows, got shape {data.shape}")
    views = sliding_window_view(data, window, axis=0)          # (k, n, window)
    centred = views - views.mean(axis=2, keepdims=True)
    cov = np.einsum("kiw,kjw->kij", centred, centred)
    scale = np.sqrt(np.einsum("kii->ki", cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (scale[:, :, None] * scale[:, None, :])
    return np.asarray(corr, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Concentration:
    """Shares of gross exposure (exact)."""

    gross: Decimal
    largest: str
    largest_share: Fraction
    herfindahl: Fraction


def concentration(exposures: Mapping[str, Decimal]) -> Concentration | None:
    """Largest |notional| share of gross exposure and the Herfindahl index; None if flat."""
    absolute = {iid: abs(Fraction(value)) for iid, value in exposures.items() if value}
    gross = sum(absolute.values(), Fraction(0))
    if not gross:
        return None
    largest = max(sorted(absolute), key=lambda iid: absolute[iid])
    hhi = sum(((v / gross) ** 2 for v in absolute.values()), Fraction(0))
    return Concentration(sum((abs(v) for v in exposures.values()), Decimal(0)), largest,
                         absolute[largest] / gross, hhi)


def exposures_of(portfolio: Portfolio) -> dict[str, Decimal]:
    """Signed notional of every open position at its last mark (exact Decimal)."""
    out: dict[str, Decimal] = {}
    for iid, pos in portfolio.positions.items():
        if pos.qty and iid in portfolio.marks:
            out[iid] = portfolio.money(pos.money(pos.qty * portfolio.marks[iid]))
    return out


# -- the monitor ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """What one evaluation looks at: equity and signed notionals (exact), and recent
    prices per instrument as floats on one common time grid (same length, oldest first)."""

    equity: Decimal
    exposures: Mapping[str, Decimal]
    prices: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)


FireFn = Callable[[str, str, dict[str, str]], object]
ScheduleFn = Callable[[int, Callable[[int], None]], None]


class PortfolioRiskMonitor:
    """Evaluates :class:`PortfolioLimits` on snapshots; keeps the last figures."""

    def __init__(self, limits: PortfolioLimits) -> None:
        self.limits = limits
        self.evaluations = 0
        self.last: dict[str, str] = {}      # the latest figures, for logs and metrics
        self.last_seconds = 0.0             # wall time of the latest evaluate()
        self._garch: GarchVarEs | None = None

    def evaluate(self, snap: RiskSnapshot) -> list[Breach]:
        """Every limit breached now, each with its reason and the numbers behind it."""
        started = time.perf_counter()
        self.evaluations += 1
        self.last = {"equity": str(snap.equity)}
        breaches = self._concentration(snap)
        returns = self._returns(snap)
        if returns is not None:
            breaches += self._var(snap, returns)
            breaches += self._correlation(snap, returns)
        self.last_seconds = time.perf_counter() - started
        return breaches

    def attach(self, schedule: ScheduleFn, *, start: int, every: int,
               snapshot: Callable[[], RiskSnapshot], fire: FireFn) -> None:
        """Evaluate every ``every`` ns from ``start`` on a node's kernel
        (``schedule=node.kernel.schedule``) and fire each breach."""
        if every <= 0:
            raise InputError(f"portfolio risk: the timer interval must be positive, got {every}")

        def tick(ts: int) -> None:
            for breach in self.evaluate(snapshot()):
                fire(*breach)
            schedule(ts + every, tick)

        schedule(start, tick)

    # -- checks ----------------------------------------------------------------------------
    def _concentration(self, snap: RiskSnapshot) -> list[Breach]:
        conc = concentration(snap.exposures)
        if conc is None:
            return []
        lim = self.limits
        share, hhi = conc.largest_share, conc.herfindahl
        self.last |= {"largest_share": _num(share), "herfindahl": _num(hhi)}
        evidence = {"largest": conc.largest, "gross": str(conc.gross),
                    "largest_share": _num(share), "herfindahl": _num(hhi),
                    "positions": str(sum(1 for v in snap.exposures.values() if v))}
        out = []
        if lim.max_concentration is not None and share > Fraction(lim.max_concentration):
            out.append(_breach("max_concentration", lim.max_concentration, share,
                               f"{conc.largest} is {_num(share)} of gross exposure", evidence))
        if lim.max_herfindahl is not None and hhi > Fraction(lim.max_herfindahl):
            out.append(_breach("max_herfindahl", lim.max_herfindahl, hhi,
                               f"Herfindahl index {_num(hhi)}", evidence))
        return out

    def _returns(self, snap: RiskSnapshot) -> NDArray[np.float64] | None:
        """Simple returns (periods x held instruments, in ``held`` order), last window."""
        held = [iid for iid, v in snap.exposures.items() if v]
        missing = [iid for iid in held if iid not in snap.prices]
        if not held or missing:
            self.last["skipped"] = f"no price history for {missing}" if missing else "flat"
            return None
        if len({len(snap.prices[iid]) for iid in held}) != 1:
            raise EngineError(f"portfolio risk: price histories of {held} differ in length; "
                              f"the snapshot must put them on one time grid")
        prices = np.column_stack([np.asarray(snap.prices[iid], dtype=np.float64)[
            -(self.limits.window + 1):] for iid in held])
        returns = np.asarray(prices[1:] / prices[:-1] - 1.0, dtype=np.float64)
        if returns.shape[0] < self.limits.min_observations:
            self.last["skipped"] = (f"{returns.shape[0]} returns, fewer than "
                                    f"min_observations {self.limits.min_observations}")
            return None
        return returns

    def _var(self, snap: RiskSnapshot, returns: NDArray[np.float64]) -> list[Breach]:
        lim = self.limits
        if (lim.max_var is None and lim.max_es is None) or snap.equity <= 0:
            return []
        weights = np.array([float(v / snap.equity) for v in snap.exposures.values() if v])
        pnl = returns @ weights                       # past periods on today's positions
        figures = []
        if lim.var_method in ("historical", "both"):
            hist = historical_var_es(pnl, lim.confidence)
            figures.append(("historical", hist.var, hist.es))
        if lim.var_method in ("garch", "both"):
            garch = self._garch_forecast(pnl)
            if garch is not None:
                figures.append(("garch_t", garch.var, garch.es))
        out = []
        for method, var, es in figures:
            self.last |= {f"{method}_var": repr(var), f"{method}_es": repr(es)}
            evidence = {"method": method, "confidence": repr(lim.confidence),
                        "observations": str(pnl.size), "equity": str(snap.equity),
                        "var": repr(var), "es": repr(es)}
            for key, value, label in (("max_var", var, "VaR"), ("max_es", es, "ES")):
                limit = getattr(lim, key)
                if limit is not None and value > float(limit):
                    out.append(_breach(key, limit, value, f"{method} {label} at "
                                       f"{lim.confidence:g} is {value:.6g} of equity", evidence))
        return out

    def _garch_forecast(self, pnl: NDArray[np.float64]) -> GarchVarEs | None:
        """The GARCH-t figures, or None (and why in ``last``) when there is no usable
        fit: a monitor on the event loop reports a failed fit, it never raises one."""
        if pnl.size < MIN_GARCH or not np.var(pnl) > 0:
            self.last["garch_skipped"] = f"{pnl.size} returns, variance {np.var(pnl):.3g}"
            return None
        refit = self._garch is None or (self.evaluations - 1) % self.limits.garch_refit_every == 0
        previous = None if refit else self._garch
        try:
            result = garch_t_var_es(pnl, self.limits.confidence, previous=previous)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            self.last["garch_skipped"] = f"fit failed: {exc}"
            return None
        if refit:
            self._garch = result
        self.last["garch_converged"] = str(result.converged).lower()
        return result if result.converged and math.isfinite(result.var) else None

    def _correlation(self, snap: RiskSnapshot, returns: NDArray[np.float64]) -> list[Breach]:
        lim = self.limits
        held = [(iid, v) for iid, v in snap.exposures.items() if v]
        if lim.max_correlation is None or len(held) < 2:
            return []
        corr = rolling_correlation(returns, returns.shape[0])[-1]
        out = []
        for i, (a, ea) in enumerate(held):
            for j in range(i + 1, len(held)):
                b, eb = held[j]
                signed = float(corr[i, j]) * (1 if (ea > 0) == (eb > 0) else -1)
                if signed > float(lim.max_correlation):  # NaN (a flat series) never breaches
                    out.append(_breach(
                        "max_correlation", lim.max_correlation, signed,
                        f"{a} and {b} correlate {corr[i, j]:.4f} (position-signed "
                        f"{signed:.4f})",
                        {"pair": f"{a},{b}", "correlation": repr(float(corr[i, j])),
                         "signed": repr(signed), "observations": str(returns.shape[0])}))
        return out


def _breach(limit: str, maximum: Decimal, value: Fraction | float, what: str,
            evidence: dict[str, str]) -> Breach:
    return Breach(TRIGGER, f"{what}, above portfolio.{limit} {maximum}",
                  {**evidence, "limit": limit, "max": str(maximum), "value": _num(value)})


def _num(value: Fraction | float) -> str:
    """A ratio for evidence: 6 significant digits (the exact value is in the check)."""
    return f"{float(value):.6g}"
