"""Numba kernels of the vectorised fast path: signals -> fills -> equity, one pass.

The account is one instrument, one position at a time, in float64: ``cash`` moves by
``-signed_qty * price - fee`` on every fill and equity is ``cash + qty * close``
(the same identity the event engine's exact ledger satisfies for spot and, without
funding, for a linear perpetual). Prices are integer ticks, so slippage is rounded
to the tick exactly as the simulated venue rounds it (buys up, sells down).

``_run`` is the common driver; the two public kernels differ only in where the four
rule booleans of a bar come from: boolean arrays, or levels on a score that is read
bar by bar (no per-combination arrays in a sweep).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

# Account: the kernels' mutable state in one float64 array (numba-friendly).
# PEND_CLOSE/PEND_SIDE carry a next-open order decided on the last bar of one call into
# the next, so a pass can pause at a checkpoint and continue (optimisation pruning).
CASH, QTY, ENTRY_PX, ENTRY_FEE, ENTRY_BAR, FEES, TURNOVER, TRADES, PEAK, MAX_DD = range(10)
PEND_CLOSE, PEND_SIDE = 10, 11
ACCOUNT_SIZE = 12
# Trade record columns (record mode): entry bar, exit bar, direction, qty, entry px, exit px,
# net pnl (after both fees), entry notional.
TRADE_COLUMNS = 8

# Market: one float64 array of settings (numba-friendly, cached compile for all of them).
M_TICK, M_LOT, M_FEE, M_SLIP_NUM, M_SLIP_DEN, M_MARGIN, M_SHORTS, M_NEXT_OPEN = range(8)
M_FRACTION, M_QTY_LOTS = 8, 9
MARKET_SIZE = 10


@numba.njit(cache=True, nogil=True)
def _slipped(ticks: int, buy: bool, num: int, den: int) -> int:
    """``ticks * (1 + slip)`` rounded up for a buy, ``ticks * (1 - slip)`` rounded down
    for a sell, where ``1 + slip = num / den`` exactly (the venue's Fraction rule)."""
    if num == den:
        return ticks
    if buy:
        return -((-ticks * num) // den)  # ceil: a buy slips up to the next tick
    return (ticks * (2 * den - num)) // den


@numba.njit(cache=True, nogil=True)
def _close(acc: NDArray[np.float64], ticks: int, market: NDArray[np.float64], bar: int,
           trades: NDArray[np.float64]) -> None:
    qty = acc[QTY]
    buy = qty < 0
    px = _slipped(ticks, buy, int(market[M_SLIP_NUM]), int(market[M_SLIP_DEN])) * market[M_TICK]
    notional = abs(qty) * px
    fee = notional * market[M_FEE]
    acc[CASH] += qty * px - fee
    acc[FEES] += fee
    acc[TURNOVER] += notional
    k = int(acc[TRADES])
    if k < trades.shape[0]:
        direction = 1.0 if qty > 0 else -1.0
        entry_notional = abs(qty) * acc[ENTRY_PX]
        trades[k, 0] = acc[ENTRY_BAR]
        trades[k, 1] = bar
        trades[k, 2] = direction
        trades[k, 3] = abs(qty)
        trades[k, 4] = acc[ENTRY_PX]
        trades[k, 5] = px
        trades[k, 6] = qty * (px - acc[ENTRY_PX]) - acc[ENTRY_FEE] - fee
        trades[k, 7] = entry_notional
    acc[TRADES] = k + 1
    acc[QTY] = 0.0


@numba.njit(cache=True, nogil=True)
def _enter(acc: NDArray[np.float64], side: float, ticks: int, market: NDArray[np.float64],
           bar: int) -> None:
    if side < 0 and market[M_SHORTS] == 0.0:
        return  # a spot account cannot sell what it does not hold: the venue refuses
    px = _slipped(ticks, side > 0, int(market[M_SLIP_NUM]), int(market[M_SLIP_DEN])) \
        * market[M_TICK]
    per_lot = px * market[M_LOT]
    if per_lot <= 0.0:
        return
    lots = market[M_QTY_LOTS]
    free = acc[CASH]  # flat here, so equity is the cash
    if lots <= 0.0:
        if free <= 0.0:
            return
        lots = math.floor(market[M_FRACTION] * free / (per_lot * (market[M_MARGIN]
                                                                  + market[M_FEE])))
        if lots <= 0.0:
            return  # equity buys less than one lot: canceled
    notional = lots * per_lot
    fee = notional * market[M_FEE]
    if free - fee < notional * market[M_MARGIN]:
        return  # insufficient margin: canceled
    qty = side * lots * market[M_LOT]
    acc[CASH] -= qty * px + fee
    acc[QTY] = qty
    acc[ENTRY_PX] = px
    acc[ENTRY_FEE] = fee
    acc[ENTRY_BAR] = bar
    acc[FEES] += fee
    acc[TURNOVER] += notional


@numba.njit(cache=True, nogil=True)
def _act(acc: NDArray[np.float64], close_it: bool, side: float, ticks: int,
         market: NDArray[np.float64], bar: int, trades: NDArray[np.float64]) -> None:
    if close_it:
        _close(acc, ticks, market, bar, trades)
    if side != 0.0:
        _enter(acc, side, ticks, market, bar)


@numba.njit(cache=True, nogil=True)
def _decide(qty: float, le: bool, lx: bool, se: bool, sx: bool) -> tuple[bool, float]:
    """(close the position?, side to enter: +1, -1 or 0) on one bar."""
    close_it = (qty > 0 and lx) or (qty < 0 and sx)
    if qty != 0 and not close_it:
        return False, 0.0
    if le:
        return close_it, 1.0
    if se:
        return close_it, -1.0
    return close_it, 0.0


@numba.njit(cache=True, nogil=True)
def _act_at(acc: NDArray[np.float64], cash: float, qty: float, close_it: bool, side: float,
            ticks: int, market: NDArray[np.float64], bar: int,
            trades: NDArray[np.float64]) -> tuple[float, float]:
    """Hand the loop's register copies of cash and quantity to ``_act`` and back."""
    acc[CASH] = cash
    acc[QTY] = qty
    _act(acc, close_it, side, ticks, market, bar, trades)
    return acc[CASH], acc[QTY]


@numba.njit(cache=True, nogil=True)
def _drawdown(eq: float, peak: float, max_dd: float, floor_eq: float
              ) -> tuple[float, float, float]:
    """One bar's equity into the running peak and deepest drawdown. ``floor_eq`` is the
    equity below which a bar sets a new deepest drawdown, so most bars cost one compare."""
    if eq > peak:
        return eq, max_dd, eq * (1.0 - max_dd)
    if eq < floor_eq and peak > 0.0:
        return peak, 1.0 - eq / peak, eq
    return peak, max_dd, floor_eq


@numba.njit(cache=True, nogil=True)
def run_bool(le: NDArray[np.bool_], lx: NDArray[np.bool_], se: NDArray[np.bool_],
             sx: NDArray[np.bool_], open_t: NDArray[np.int64], close_px: NDArray[np.float64],
             close_t: NDArray[np.int64], market: NDArray[np.float64], acc: NDArray[np.float64],
             equity: NDArray[np.float64], trades: NDArray[np.float64], start: int,
             stop: int) -> None:
    """Simulate boolean rules (``se``/``sx`` may be length 0: never) on bars start..stop."""
    n = len(close_t)
    shorts = len(se) == n
    next_open = market[M_NEXT_OPEN] != 0.0
    record = len(equity) == n
    pend_close = acc[PEND_CLOSE] != 0.0
    pend_side = acc[PEND_SIDE]
    cash, qty = acc[CASH], acc[QTY]
    peak, max_dd = acc[PEAK], acc[MAX_DD]
    floor_eq = peak * (1.0 - max_dd)  # equity below this is a new deepest drawdown
    for j in range(start, stop):
        if next_open and (pend_close or pend_side != 0.0):
            cash, qty = _act_at(acc, cash, qty, pend_close, pend_side, open_t[j], market, j,
                                trades)
        close_it, side = _decide(qty, le[j], lx[j], shorts and se[j], shorts and sx[j])
        if next_open:
            pend_close, pend_side = close_it, side
        elif close_it or side != 0.0:
            cash, qty = _act_at(acc, cash, qty, close_it, side, close_t[j], market, j, trades)
        eq = cash + qty * close_px[j]
        peak, max_dd, floor_eq = _drawdown(eq, peak, max_dd, floor_eq)
        if record:
            equity[j] = eq
    acc[PEAK], acc[MAX_DD] = peak, max_dd
    acc[PEND_CLOSE], acc[PEND_SIDE] = 1.0 if pend_close else 0.0, pend_side


# run_bool and run_levels repeat their bar tail (pending order, equity, drawdown, pause)
# on purpose: moved into a helper that returns the loop's state, the 1,000 x 1M sweep took
# 43.5 s instead of 8.7 s (`bench/bench_sweep.py --skip-vectorbt`, 2026-11-21).
@numba.njit(cache=True, nogil=True)
def run_levels(score: NDArray[np.float64], minus: NDArray[np.float64],
               levels: NDArray[np.float64], open_t: NDArray[np.int64],
               close_px: NDArray[np.float64], close_t: NDArray[np.int64],
               market: NDArray[np.float64], acc: NDArray[np.float64],
               equity: NDArray[np.float64], trades: NDArray[np.float64], start: int,
               stop: int) -> None:
    """Simulate level rules on ``score - minus`` (``minus`` length 0: the score alone),
    on bars start..stop.

    ``levels``: long entry above, long exit at or below, short entry below (NaN: no
    shorts), short exit at or above, exit on NaN (1.0) or not (0.0).
    """
    n = len(close_t)
    has_minus = len(minus) == n
    le_lvl, lx_lvl, se_lvl, sx_lvl = levels[0], levels[1], levels[2], levels[3]
    shorts = not math.isnan(se_lvl)
    nan_exits = levels[4] != 0.0
    next_open = market[M_NEXT_OPEN] != 0.0
    record = len(equity) == n
    pend_close = acc[PEND_CLOSE] != 0.0
    pend_side = acc[PEND_SIDE]
    cash, qty = acc[CASH], acc[QTY]
    peak, max_dd = acc[PEAK], acc[MAX_DD]
    floor_eq = peak * (1.0 - max_dd)  # equity below this is a new deepest drawdown
    for j in range(start, stop):
        if next_open and (pend_close or pend_side != 0.0):
            cash, qty = _act_at(acc, cash, qty, pend_close, pend_side, open_t[j], market, j,
                                trades)
        s = score[j] - minus[j] if has_minus else score[j]
        nan = nan_exits and math.isnan(s)
        close_it, side = _decide(qty, s > le_lvl, s <= lx_lvl or nan,
                                 shorts and s < se_lvl, shorts and (s >= sx_lvl or nan))
        if next_open:
            pend_close, pend_side = close_it, side
        elif close_it or side != 0.0:
            cash, qty = _act_at(acc, cash, qty, close_it, side, close_t[j], market, j, trades)
        eq = cash + qty * close_px[j]
        peak, max_dd, floor_eq = _drawdown(eq, peak, max_dd, floor_eq)
        if record:
            equity[j] = eq
    acc[PEAK], acc[MAX_DD] = peak, max_dd
    acc[PEND_CLOSE], acc[PEND_SIDE] = 1.0 if pend_close else 0.0, pend_side


@numba.njit(cache=True, nogil=True)
def sma_cross_reference(close: NDArray[np.float64], fast: int, slow: int, cash: float,
                        fee: float, quantity: float) -> tuple[int, float]:
    """A plain single-pass loop (running sums, fill at close, fixed quantity): the
    practical speed limit of one backtest, for the sweep benchmark to compare with."""
    n = len(close)
    sum_f = 0.0
    sum_s = 0.0
    qty = 0.0
    trades = 0
    for j in range(n):
        sum_f += close[j]
        sum_s += close[j]
        if j >= fast:
            sum_f -= close[j - fast]
        if j >= slow:
            sum_s -= close[j - slow]
        if j < slow - 1:
            continue
        long = sum_f / fast > sum_s / slow
        if long and qty == 0.0:
            qty = quantity
            cash -= quantity * close[j] * (1.0 + fee)
            trades += 1
        elif not long and qty != 0.0:
            cash += qty * close[j] * (1.0 - fee)
            qty = 0.0
    return trades, cash + qty * close[n - 1]
