"""Monte Carlo of a finished backtest: how lucky was the order its returns came in?

A backtest is one path. Resampling its returns (with replacement) gives many paths
that the same edge could just as well have produced, and so a distribution of final
equity, maximum drawdown and time under water, and the probability of ruin: that a
path ever falls to ``(1 - ruin) x start`` or below.

Two sources of returns (``method``):

* ``"trades"``: one return per closed round trip, ``net_pnl / realised equity before
  it`` (start + net PnL of the trades closed earlier). These compound exactly to
  ``start + sum(net_pnl)``: the run's realised result, funding included, open
  positions at the end excluded.
* ``"daily"``: the return between consecutive UTC day closes of the equity curve,
  starting from the starting cash (``equity_daily`` in the ``--json`` document).

Three ways to resample (``scheme``):

* ``"iid"``: each step drawn independently. Right when the returns are independent;
  it destroys any autocorrelation (streaks of wins or losses, volatility clusters),
  which usually understates drawdowns.
* ``"moving"``: blocks of ``block`` consecutive returns starting at uniform positions
  (Künsch's moving-block bootstrap), cut to the path length.
* ``"stationary"``: blocks of geometric length with mean ``block`` starting at uniform
  positions and wrapping around the end (Politis & Romano), which keeps the resampled
  series stationary.

Everything is vectorised numpy over float64 (statistics, not accounting: exact money
stays on the engine's order path), with a seeded ``np.random.Generator``: the same
inputs and seed give the same numbers. Paths are simulated in chunks of about two
million cells so memory stays bounded whatever ``paths x steps``; the fan chart keeps
the equity of every path at no more than ``FAN_POINTS`` steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from heron.errors import DataError, InvalidConfiguration

__all__ = [
    "FAN_PERCENTILES",
    "METHODS",
    "PERCENTILES",
    "SCHEMES",
    "MonteCarloResult",
    "ReturnSeries",
    "load_result",
    "path_statistics",
    "resample_indices",
    "returns_from_result",
    "simulate",
]

Method = Literal["trades", "daily"]
Scheme = Literal["iid", "stationary", "moving"]
METHODS: Final = ("trades", "daily")
SCHEMES: Final = ("iid", "stationary", "moving")
PERCENTILES: Final = (5, 25, 50, 75, 95)
FAN_PERCENTILES: Final = PERCENTILES
FAN_POINTS: Final = 240  # steps kept for the fan chart: enough for a smooth SVG
_CHUNK_CELLS: Final = 2_000_000  # paths x steps simulated at once (about 16 MB a matrix)
_MAX_PATHS: Final = 10_000_000


@dataclass(frozen=True, kw_only=True, eq=False)
class ReturnSeries:
    """The returns to resample and the path they actually took.

    ``history`` is the realised equity path, ``start_equity`` first, one value per
    return after it (``len(returns) + 1`` values).
    """

    method: Method
    returns: NDArray[np.float64]
    start_equity: float
    history: NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, eq=False)
class MonteCarloResult:
    """Per-path statistics of a simulation, and the fan of equity percentiles.

    ``max_drawdown`` is a fraction of the running peak; ``under_water`` the longest
    run of consecutive steps (days or trades) below the running peak; ``fan`` holds
    the ``FAN_PERCENTILES`` of equity (rows) at the steps ``fan_steps`` (columns).
    """

    series: ReturnSeries
    scheme: Scheme
    block: int
    seed: int
    steps: int
    ruin: float
    final_equity: NDArray[np.float64]
    max_drawdown: NDArray[np.float64]
    under_water: NDArray[np.int64]
    ruined: NDArray[np.bool_]
    fan_steps: NDArray[np.int64]
    fan: NDArray[np.float64]

    @property
    def paths(self) -> int:
        return len(self.final_equity)

    @property
    def probability_of_ruin(self) -> float:
        return float(self.ruined.mean())

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (layout in docs/research.md, "Monte Carlo")."""
        s = self.series
        start = s.start_equity
        hist_dd, hist_uw = path_statistics(s.history[None, :])
        return {
            "method": s.method, "scheme": self.scheme, "block": self.block,
            "paths": self.paths, "steps": self.steps, "seed": self.seed,
            "start_equity": start, "ruin_fraction": self.ruin,
            "ruin_equity": (1.0 - self.ruin) * start,
            "probability_of_ruin": self.probability_of_ruin,
            "returns": {"count": len(s.returns), "mean": float(s.returns.mean()),
                        "std": float(s.returns.std(ddof=1)) if len(s.returns) > 1 else 0.0},
            "historical": {"final_equity": float(s.history[-1]),
                           "max_drawdown_pct": float(hist_dd[0]) * 100,
                           "longest_under_water": int(hist_uw[0])},
            "final_equity": _summary(self.final_equity),
            "total_return_pct": _summary((self.final_equity / start - 1.0) * 100),
            "max_drawdown_pct": _summary(self.max_drawdown * 100),
            "longest_under_water": _summary(self.under_water.astype(np.float64)),
            "fan": {"steps": self.fan_steps.tolist(),
                    **{f"p{q}": row.tolist() for q, row in zip(FAN_PERCENTILES, self.fan,
                                                               strict=True)}},
        }


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a ``heron backtest --json`` document, refusing anything else by name."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file; give the JSON written by "
                        "`heron backtest ... --json FILE`")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{p}: not JSON ({exc}); give the file written by "
                        "`heron backtest ... --json FILE`") from None
    if not isinstance(doc, dict) or not {"starting_cash", "journal_sha256"} <= doc.keys():
        raise DataError(f"{p}: not a heron backtest result (no starting_cash/journal_sha256);"
                        " give the file written by `heron backtest ... --json FILE`")
    return doc


def returns_from_result(doc: Mapping[str, Any], method: str) -> ReturnSeries:
    """The trade or daily returns of a backtest result document (see the module doc)."""
    if method not in METHODS:
        raise InvalidConfiguration(f"method {method!r} is unknown; use one of {METHODS}")
    start = _number(doc.get("starting_cash"), "starting_cash")
    if start <= 0:
        raise DataError(f"starting_cash {start} must be positive")
    if method == "trades":
        return _trade_returns(doc, start)
    return _daily_returns(doc, start)


def _trade_returns(doc: Mapping[str, Any], start: float) -> ReturnSeries:
    trades = doc.get("trades_list")
    if not isinstance(trades, list):
        raise DataError("the result has no trades_list (written by heron before Monte Carlo "
                        "existed); rerun the backtest with --json, or use --method daily")
    if not trades:
        raise InvalidConfiguration("the result has no closed trades to resample; use "
                                   "--method daily, or a run that trades")
    pnl = np.array([_number(t.get("net_pnl"), "trades_list net_pnl") for t in trades])
    history = start + np.concatenate(([0.0], np.cumsum(pnl)))
    if np.any(history[:-1] <= 0):
        raise DataError("realised equity fell to zero or below before the last trade; "
                        "trade returns are undefined, use --method daily")
    return ReturnSeries(method="trades", returns=pnl / history[:-1], start_equity=start,
                        history=history)


def _daily_returns(doc: Mapping[str, Any], start: float) -> ReturnSeries:
    daily = doc.get("equity_daily")
    if not isinstance(daily, list):
        raise DataError("the result has no equity_daily (written by heron before Monte Carlo "
                        "existed); rerun the backtest with --json")
    if not daily:
        raise InvalidConfiguration("the result has no equity curve to resample; "
                                   "rerun the backtest over some bars")
    closes = np.array([_number(d.get("equity"), "equity_daily equity") for d in daily])
    history = np.concatenate(([start], closes))
    if np.any(history[:-1] <= 0):
        raise DataError("equity fell to zero or below before the last day; "
                        "daily returns after it are undefined")
    return ReturnSeries(method="daily", returns=history[1:] / history[:-1] - 1.0,
                        start_equity=start, history=history)


def _number(value: object, name: str) -> float:
    """A finite float from a JSON number or an exact decimal string."""
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise TypeError
        out = float(Decimal(value)) if isinstance(value, str) else float(value)
    except (InvalidOperation, TypeError, ValueError):
        raise DataError(f"{name} {value!r} is not a number; is this a heron result?") from None
    if not math.isfinite(out):
        raise DataError(f"{name} {value!r} is not finite")
    return out


def resample_indices(rng: np.random.Generator, n: int, paths: int, steps: int,
                     scheme: str, block: int) -> NDArray[np.int64]:
    """Indices into ``n`` returns, shape ``(paths, steps)``, drawn by ``scheme``."""
    if scheme == "iid" or block == 1:
        return rng.integers(0, n, size=(paths, steps))
    if scheme == "moving":
        blocks = -(-steps // block)
        starts = rng.integers(0, n - block + 1, size=(paths, blocks))
        idx = starts[:, :, None] + np.arange(block)
        return idx.reshape(paths, blocks * block)[:, :steps]
    # stationary: a new block starts at each step with probability 1/block
    t = np.arange(steps)
    fresh = rng.random((paths, steps)) < 1.0 / block
    fresh[:, 0] = True
    origin = rng.integers(0, n, size=(paths, steps))
    began = np.maximum.accumulate(np.where(fresh, t, 0), axis=1)
    rows = np.arange(paths)[:, None]
    return (origin[rows, began] + (t - began)) % n  # type: ignore[no-any-return]


def path_statistics(equity: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                          NDArray[np.int64]]:
    """Max drawdown (fraction of the peak) and longest run under water (steps), per row.

    The run length is the distance from the last step at a new high, so a path still
    under water at its end counts the whole stretch.
    """
    peak = np.maximum.accumulate(equity, axis=1)
    drawdown = 1.0 - equity / peak  # peaks are >= the start equity, which is > 0
    t = np.arange(equity.shape[1])
    high = np.maximum.accumulate(np.where(equity >= peak, t, 0), axis=1)
    return drawdown.max(axis=1), (t - high).max(axis=1).astype(np.int64)


def simulate(series: ReturnSeries, *, paths: int, scheme: str = "iid", block: int = 1,
             seed: int | None = None, ruin: float = 0.5,
             steps: int | None = None) -> MonteCarloResult:
    """Resample ``series.returns`` into ``paths`` equity paths of ``steps`` steps each.

    ``steps`` defaults to the number of returns (the same horizon as the backtest). A
    growth factor ``1 + r`` below zero is taken as zero: the account is wiped out and
    stays at zero. ``seed=None`` draws a fresh seed, reported in the result so the run
    can be repeated.
    """
    n = len(series.returns)
    steps = n if steps is None else steps
    _validate(series, paths, scheme, block, ruin, steps)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy) % 2**63  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    growth = np.maximum(1.0 + series.returns, 0.0)
    start = series.start_equity
    fan_steps = np.unique(np.linspace(0, steps, min(FAN_POINTS, steps + 1)).round()
                          ).astype(np.int64)
    final, dd, uw, low = (np.empty(paths), np.empty(paths), np.empty(paths, np.int64),
                          np.empty(paths))
    fan_cols = np.empty((paths, len(fan_steps)))
    chunk = max(1, _CHUNK_CELLS // (steps + 1))
    for lo in range(0, paths, chunk):
        hi = min(paths, lo + chunk)
        idx = resample_indices(rng, n, hi - lo, steps, scheme, block)
        equity = np.empty((hi - lo, steps + 1))
        equity[:, 0] = start
        np.cumprod(growth[idx], axis=1, out=equity[:, 1:])
        equity[:, 1:] *= start
        final[lo:hi] = equity[:, -1]
        dd[lo:hi], uw[lo:hi] = path_statistics(equity)
        low[lo:hi] = equity.min(axis=1)
        fan_cols[lo:hi] = equity[:, fan_steps]
    return MonteCarloResult(
        series=series, scheme=scheme, block=block, seed=seed, steps=steps,  # type: ignore[arg-type]
        ruin=ruin, final_equity=final, max_drawdown=dd, under_water=uw,
        ruined=low <= (1.0 - ruin) * start, fan_steps=fan_steps,
        fan=np.percentile(fan_cols, FAN_PERCENTILES, axis=0))


def _validate(series: ReturnSeries, paths: int, scheme: str, block: int, ruin: float,
              steps: int) -> None:
    n = len(series.returns)
    if not 1 <= paths <= _MAX_PATHS:
        raise InvalidConfiguration(f"paths {paths} must be between 1 and {_MAX_PATHS:,}")
    if scheme not in SCHEMES:
        raise InvalidConfiguration(f"scheme {scheme!r} is unknown; use one of {SCHEMES}")
    if n == 0:
        raise InvalidConfiguration("no returns to resample; use a run with trades or days")
    if not np.all(np.isfinite(series.returns)):
        raise DataError("the returns contain NaN or infinity; check the result file")
    if block < 1 or (scheme == "moving" and block > n):
        raise InvalidConfiguration(f"block {block} must be between 1 and the number of "
                                   f"returns ({n}) for the moving-block bootstrap; "
                                   "use a shorter --block")
    if not 0.0 < ruin <= 1.0:
        raise InvalidConfiguration(f"ruin {ruin} must be a loss fraction in (0, 1], "
                                   "e.g. 0.5 for losing half the starting equity")
    if steps < 1:
        raise InvalidConfiguration(f"steps {steps} must be at least 1")


def _summary(values: NDArray[np.float64]) -> dict[str, float]:
    qs = np.percentile(values, PERCENTILES)
    return {"mean": float(values.mean()), **{f"p{q}": float(v)
                                              for q, v in zip(PERCENTILES, qs, strict=True)}}
