"""The equity curve, rebuilt in bulk from the points where the account changed.

Recording equity on every bar would cost a Python-level valuation per bar. Instead the
engine records the account only when a fill or funding changes it, and the curve is
computed afterwards with NumPy. Every instrument's contribution is linear in its
price: ``equity = base + sum(qty * close * unit)``, where ``base`` is the balance less
the signed entry cost of the margined (perpetual) positions. One sample per distinct
bar timestamp, taken after every bar at that time has been handled.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from heron.model.instrument import Instrument
from heron.model.portfolio import Portfolio
from heron.node.bar_series import BarSeries


class EquityRecorder:
    def __init__(self, portfolio: Portfolio, instruments: list[Instrument]) -> None:
        self.portfolio = portfolio
        self.slots = {inst.id: k for k, inst in enumerate(instruments)}
        self.ts: list[int] = []
        self.slot: list[int] = []
        self.qty: list[int] = []
        self.base: list[int] = []

    def record(self, ts: int, iid: str) -> None:
        pf = self.portfolio
        base = pf.balance
        for pos in pf.positions.values():
            if pos.qty and pos.instrument.is_perpetual:
                sign = 1 if pos.qty > 0 else -1
                base -= pos.money(sign * pos.entry_cost)
        self.ts.append(ts)
        self.slot.append(self.slots[iid])
        self.qty.append(pf.positions[iid].qty)
        self.base.append(base)

    def curve(self, series: list[BarSeries]) -> tuple[NDArray[np.int64], NDArray[np.float64],
                                                     NDArray[np.bool_]]:
        """``(ts, equity, exposed)``: one sample per distinct bar time."""
        scale = 10 ** self.portfolio.money_precision
        single = len(series) == 1
        times = series[0].ts if single else np.unique(np.concatenate([s.ts for s in series]))
        change_ts = np.asarray(self.ts, dtype=np.int64)
        base_values = np.array([self.portfolio.starting_balance / scale]
                               + [b / scale for b in self.base])
        equity = base_values[_last_change(change_ts, times) + 1]
        exposed = np.zeros(len(times), dtype=bool)
        slots = np.asarray(self.slot, dtype=np.int64)
        qtys = np.asarray(self.qty, dtype=np.float64)
        for k, s in enumerate(series):
            mine = slots == k
            if not mine.any():
                continue
            idx = _last_change(change_ts[mine], times)
            qty = np.where(idx >= 0, qtys[mine][np.maximum(idx, 0)], 0.0)
            closes = s.close if single else s.close[
                np.maximum(np.searchsorted(s.ts, times, side="right") - 1, 0)]
            inst = s.instrument
            unit = float(inst.price_increment * inst.size_increment * inst.multiplier)
            equity = equity + qty * closes.astype(np.float64) * unit
            exposed |= qty != 0
        return times.astype(np.int64), equity, exposed


def _last_change(change_ts: NDArray[np.int64], times: NDArray[np.int64]) -> NDArray[np.int64]:
    """Index of the last change at or before each time (-1 before the first change).

    Locates the few changes among the many times (not the other way round) and counts
    them up with a cumulative sum: linear in the number of samples.
    """
    counts = np.bincount(np.searchsorted(times, change_ts, side="left"),
                         minlength=len(times) + 1)[: len(times)]
    result: NDArray[np.int64] = np.cumsum(counts) - 1
    return result
