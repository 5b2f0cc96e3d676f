"""Bars built from live trades, and the indicator arrays that grow with them.

In a backtest every indicator is computed once over the whole series (NumPy, in bulk)
and read bar by bar. A paper or live run has no whole series: :class:`LiveBars` builds
time bars from trades as they come (a bar closes when the first trade of a later
interval arrives, so a bar is final when it is handed on and a replay of the same
trades closes the same bars) and, at each close, appends the bar to the strategy
series and recomputes every registered indicator over the last ``history`` bars. The
strategy then reads ``[-1]`` exactly as in a backtest: the same functions on the same
bars give the same values (moving averages with windows shorter than ``history``
exactly; recursive ones such as the EMA up to the effect of the dropped start).

A run can start warm: :meth:`LiveBars.history` takes closed bars from the venue's
history before the first trade, so an indicator over 50 bars is ready at once instead
of after 50 live bars. Those bars reach the series and the indicators only, never a
strategy's ``on_bar``: nothing may trade on the past. Trades that fall in an interval the
history already covers are left out of the bars.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from heron.model.data import Bar, Trade
from heron.model.instrument import Instrument
from heron.strategy.context import StrategyContext

_COLUMNS = ("open", "high", "low", "close", "volume")


class _Building:
    __slots__ = ("close", "high", "low", "open", "start", "volume")

    def __init__(self, start: int, price: int, size: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = size


class LiveBars:
    """Time bars of ``bar_ns`` per instrument slot, fed trade by trade."""

    def __init__(self, instruments: list[Instrument], ctx: StrategyContext, bar_ns: int,
                 on_bar: Callable[[int, Bar], None], *, history: int = 10_000) -> None:
        self.instruments = instruments
        self.ctx = ctx
        self.bar_ns = bar_ns
        self.on_bar = on_bar
        self.history_limit = history
        self.warmed = [0] * len(instruments)      # where each slot's warm-up history ends
        self.count = [0] * len(instruments)       # bars closed so far, per slot
        self._building: list[_Building | None] = [None] * len(instruments)
        self._rows: list[list[list[float]]] = [[] for _ in instruments]
        ctx.series[:] = [{name: np.empty(0) for name in _COLUMNS} for _ in instruments]

    def history(self, slot: int, bar: Bar) -> None:
        """A closed bar from before the run (warm-up): into the series and indicators,
        not to the strategies (nothing may trade on the past)."""
        tick = float(bar.instrument.price_increment)
        rows = self._rows[slot]
        rows.append([bar.open * tick, bar.high * tick, bar.low * tick, bar.close * tick,
                     bar.volume])
        if len(rows) > self.history_limit:
            del rows[0]
        self._refresh(slot)
        self.ctx.last_index[slot] = len(rows) - 1
        self.warmed[slot] = bar.ts + self.bar_ns

    def live(self, slot: int) -> bool:
        """Whether live trades have started building ``slot``'s bars."""
        return self._building[slot] is not None or self.count[slot] > 0

    def trade(self, slot: int, trade: Trade) -> None:
        start = trade.ts_event - trade.ts_event % self.bar_ns
        if start < self.warmed[slot]:
            return  # inside the warm-up history, which already holds that interval
        bar = self._building[slot]
        size = float(trade.size)
        if bar is None:
            self._building[slot] = _Building(start, trade.price, size)
            return
        if start > bar.start:
            self._close(slot, bar)
            self._building[slot] = _Building(start, trade.price, size)
            return
        price = trade.price
        if price > bar.high:
            bar.high = price
        elif price < bar.low:
            bar.low = price
        bar.close = price
        bar.volume += size

    def _close(self, slot: int, b: _Building) -> None:
        inst = self.instruments[slot]
        tick = float(inst.price_increment)
        rows = self._rows[slot]
        rows.append([b.open * tick, b.high * tick, b.low * tick, b.close * tick, b.volume])
        if len(rows) > self.history_limit:
            del rows[0]
        self._refresh(slot)
        index = len(rows) - 1
        self.count[slot] += 1
        self.on_bar(slot, Bar(inst, b.start, index, b.open, b.high, b.low, b.close, b.volume))

    def _refresh(self, slot: int) -> None:
        """New series arrays for ``slot`` and every indicator recomputed over them."""
        table = np.asarray(self._rows[slot], dtype=np.float64)
        series = {name: np.ascontiguousarray(table[:, k]) for k, name in enumerate(_COLUMNS)}
        self.ctx.series[slot] = series
        for func, args, source, values in self.ctx.indicators:
            out = np.ascontiguousarray(func(series[source], *args), dtype=np.float64)
            values[slot] = out.data
