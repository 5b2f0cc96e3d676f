"""``pairs``: trade the spread of two cointegrated instruments back to its mean.

The run has two instruments: the first is ``y``, the second ``x`` (in the order of
the data, e.g. ``[data]`` in a config). Only bars that both instruments have at the
same time are used ("aligned bars"); everything below counts aligned bars.

Every ``refit`` aligned bars, once ``formation`` of them exist, the last ``formation``
closes of both (bar ``t`` included) give

* the hedge ratio ``beta``: the slope of the OLS regression ``y = a + beta * x``
  (statsmodels ``OLS`` with a constant);
* the Engle-Granger cointegration p-value of ``y`` and ``x`` (statsmodels
  ``coint``, constant trend, an ADF regression with ``coint_lags`` lagged differences:
  a fixed lag because choosing it by AIC costs ~0.5 s per fit of 1,440 bars).

On each aligned bar, with the latest ``beta``, the spread ``s = y - beta * x`` over the
last ``lookback`` aligned bars (bar ``t`` included) gives

    z_t = (s_t - mean(s)) / std(s)      (population standard deviation)

NaN until a fit and ``lookback`` bars exist, and on a flat window. Rules:

* flat, and the latest p-value below ``pvalue``: long the spread (buy ``y``, sell
  ``beta * x``) when ``z < -entry``; short it (sell ``y``, buy ``beta * x``) when
  ``z > entry``;
* long spread: close both legs once ``z >= -exit`` (back inside the exit band, or
  beyond it); short spread: once ``z <= exit``;
* ``stop > 0``: also close when ``z`` runs on past ``-stop`` (long) or ``stop``
  (short); after a stop that side is not entered again until ``z`` has come back
  inside the exit band, so one divergence is not bought twice;
* a p-value at or above ``pvalue`` blocks entries only: an open spread is still
  closed by the rules above; nothing is done while an order of the strategy works;
  an exit bar is never also an entry bar.

Sizes: the two legs together are ``fraction`` of equity in notional at the bar's
closes, ``q_y = fraction * equity / (y + |beta| * x)`` and ``q_x = |beta| * q_y``,
each rounded down to its lot. Shorting needs a venue that allows it (``kind = "perp"``).
The statistics are float64 (they pick the bars); orders and accounting stay exact.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.model.instrument import Instrument
from heron.strategy.base import Strategy
from heron.strategy.params import Param

__all__ = ["Pairs", "fit_hedge", "spread_zscore"]


def fit_hedge(y: NDArray[np.float64], x: NDArray[np.float64],
              lags: int) -> tuple[float, float]:
    """``(beta, p-value)``: OLS slope of ``y`` on ``x`` (with a constant) and the
    Engle-Granger cointegration test's p-value (statsmodels)."""
    import statsmodels.api as sm
    from statsmodels.tsa.stattools import coint

    beta = float(sm.OLS(y, sm.add_constant(x)).fit().params[1])
    pvalue = float(coint(y, x, trend="c", maxlag=lags, autolag=None)[1])
    return beta, pvalue


def spread_zscore(y: NDArray[np.float64], x: NDArray[np.float64], beta: float) -> float:
    """z-score of the last value of ``y - beta * x`` within the window; NaN if flat."""
    spread = y - beta * x
    std = float(spread.std())
    if not std > 1e-12 * max(1.0, float(np.abs(spread).max())):
        return math.nan
    return float((spread[-1] - spread.mean()) / std)


class Pairs(Strategy):
    """Long/short the spread y - beta * x of two cointegrated instruments on its z-score."""

    name = "pairs"
    formation = Param(576, ge=20, le=100_000, doc="aligned bars in each hedge-ratio and "
                      "cointegration fit")
    refit = Param(48, ge=1, le=100_000, doc="re-estimate beta and the p-value every this "
                  "many aligned bars")
    lookback = Param(96, ge=2, le=100_000, doc="aligned bars in the spread's z-score")
    entry = Param(2.0, gt=0.0, le=10.0, doc="enter when |z| exceeds this many deviations")
    exit = Param(0.5, ge=0.0, le=10.0, doc="exit once z is back inside this band (below "
                 "entry)")
    stop = Param(0.0, ge=0.0, le=100.0, doc="exit when |z| runs past this (0 = no stop; "
                 "else above entry)")
    pvalue = Param(0.05, gt=0.0, le=1.0, doc="enter only while the cointegration p-value "
                   "is below this")
    coint_lags = Param(1, ge=0, le=100, doc="lagged differences in the Engle-Granger ADF "
                       "regression")
    fraction = Param(Decimal("0.5"), gt=Decimal(0), le=Decimal(1),
                     doc="both legs' notional together, as a share of equity")

    def validate(self) -> None:
        if self.exit >= self.entry:
            raise InvalidConfiguration(f"pairs: exit ({self.exit}) must be below entry "
                                       f"({self.entry}); pass a smaller exit")
        if self.stop and self.stop <= self.entry:
            raise InvalidConfiguration(f"pairs: stop ({self.stop}) must be above entry "
                                       f"({self.entry}), or 0 for no stop")

    def on_start(self) -> None:
        if len(self.instruments) != 2:
            raise InvalidConfiguration(
                f"pairs needs exactly two instruments (got {len(self.instruments)}); give "
                "two bar files, e.g. a [data] table Y = \"y.csv\", X = \"x.csv\" in the config")
        self._last = [(-1, math.nan), (-1, math.nan)]  # (ts, close) per slot
        self._y: list[float] = []
        self._x: list[float] = []
        self._beta = math.nan
        self._p = 1.0
        self._blocked = 0  # +1: longs blocked after a stop, -1: shorts
        self.fits: list[tuple[int, float, float]] = []  # (ts, beta, p): what was decided on

    def on_bar(self, bar: Bar) -> None:
        ctx = self.ctx
        slot = ctx.slot
        close = float(ctx.series[slot]["close"][ctx.index])
        self._last[slot] = (bar.ts, close)
        if self._last[1 - slot][0] != bar.ts:
            return  # the other instrument has no bar at this time (yet)
        self._y.append(self._last[0][1])
        self._x.append(self._last[1][1])
        self._maybe_refit(bar.ts)
        z = self._zscore()
        if math.isnan(z) or self.has_open_orders():
            return
        self._act(z)

    def _maybe_refit(self, ts: int) -> None:
        n = len(self._y)
        if n < self.formation or (n - self.formation) % self.refit:
            return
        y = np.asarray(self._y[-self.formation:])
        x = np.asarray(self._x[-self.formation:])
        self._beta, self._p = fit_hedge(y, x, self.coint_lags)
        self.fits.append((ts, self._beta, self._p))
        keep = max(self.formation, self.lookback)
        if n > 4 * keep:  # a live run must not grow without bound
            del self._y[:-keep], self._x[:-keep]

    def _zscore(self) -> float:
        if math.isnan(self._beta) or len(self._y) < self.lookback:
            return math.nan
        return spread_zscore(np.asarray(self._y[-self.lookback:]),
                             np.asarray(self._x[-self.lookback:]), self._beta)

    def _act(self, z: float) -> None:
        y_inst, x_inst = self.instruments
        side = _sign(self.position_of(y_inst).qty)
        if self._blocked and self._blocked * z >= -self.exit:
            self._blocked = 0  # back inside the exit band: that side may be entered again
        if side > 0 and (z >= -self.exit or (self.stop and z <= -self.stop)):
            self._close(z <= -self.stop if self.stop else False, side)
        elif side < 0 and (z <= self.exit or (self.stop and z >= self.stop)):
            self._close(z >= self.stop if self.stop else False, side)
        elif side == 0:
            if self.position_of(x_inst).qty:
                self.close_position(x_inst, tag="pairs-leftover")  # a leg left behind
            elif self._p < self.pvalue and abs(z) > self.entry:
                self._enter(1 if z < 0 else -1, y_inst, x_inst)

    def _enter(self, direction: int, y_inst: Instrument, x_inst: Instrument) -> None:
        if direction == self._blocked:
            return
        y, x = self._y[-1], self._x[-1]
        gross = float(self.fraction * self.equity)
        qy = _lots(y_inst, gross / (y + abs(self._beta) * x))
        qx = _lots(x_inst, abs(self._beta) * gross / (y + abs(self._beta) * x))
        if not qy or not qx:
            return
        x_dir = -direction if self._beta > 0 else direction
        tag = "pairs-long" if direction > 0 else "pairs-short"
        self.submit(side="buy" if direction > 0 else "sell", size=qy, instrument=y_inst,
                    tag=tag)
        self.submit(side="buy" if x_dir > 0 else "sell", size=qx, instrument=x_inst, tag=tag)

    def _close(self, stopped: bool, side: int) -> None:
        if stopped:
            self._blocked = side
        tag = "pairs-stop" if stopped else "pairs-exit"
        for inst in self.instruments:
            self.close_position(inst, tag=tag)


def _lots(inst: Instrument, quantity: float) -> Decimal:
    """``quantity`` rounded down to the instrument's lot grid (0 below one lot)."""
    if not quantity > 0 or not math.isfinite(quantity):
        return Decimal(0)
    return inst.quantity(int(Decimal(repr(quantity)) / inst.size_increment))


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)
