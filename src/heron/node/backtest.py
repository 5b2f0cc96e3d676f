"""Bar backtests: the :class:`~heron.node.node.SimNode` driven by bars.

The loop walks a time-sorted merge of every instrument's bars. For each bar it fires
due timers, lets the simulated venue work that instrument's orders (only when it has
any, or a margined position to watch), updates the mark, and calls the strategies.
It is the hot path of every backtest: reads go through ``memoryview`` (plain Python
scalars, no NumPy boxing), bars are small structs, and everything else happens only
when an order or fill does. Bars go straight to the strategies' ``on_bar``; every
journaled command and event is also published on the message bus (topic ``records``)
for observers such as metrics exporters and, later, the API's live stream.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.model.data import Bar
from heron.node.bar_series import BarSeries
from heron.node.equity import EquityRecorder
from heron.node.node import RECORDS, SimNode
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig

Progress = Callable[[int, int], None]
CHUNK = 1 << 16


class BacktestEngine(SimNode):
    """Runs strategies over bars against the simulated venue; journals everything."""

    def __init__(self, *, series: list[BarSeries], strategies: list[Strategy],
                 cash: Decimal, venue: SimVenueConfig, journal_path: Any = None,
                 funding: dict[str, list[tuple[int, Decimal]]] | None = None,
                 money_precision: int | None = None,
                 journal_run_id: str | None = None) -> None:
        self.series = series
        super().__init__(
            instruments=[s.instrument for s in series], strategies=strategies, cash=cash,
            venue=venue, start_ts=int(series[0].ts[0]) if len(series[0]) else 0,
            journal_path=journal_path, funding=funding, money_precision=money_precision,
            series=[s.prices for s in series],
            header={"bars": {s.instrument.id: len(s) for s in series}},
            journal_run_id=journal_run_id)
        self.equity = EquityRecorder(self.portfolio, self.instruments)
        self.bars_processed = 0
        self._timeline: tuple[memoryview, memoryview, memoryview] | None = None
        self._position = 0  # bars of the merged timeline done (run_until pauses)
        self._ended = False

    def account_changed(self, ts: int, instrument_id: str) -> None:
        self.equity.record(ts, instrument_id)

    def equity_curve(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        """``(ts, equity, exposed)``: one sample per distinct bar time run so far."""
        ts, equity, exposed = self.equity.curve(self.series)
        if self._timeline is not None and self._position < len(self._timeline[0]):
            keep = int(np.searchsorted(ts, self._timeline[0][self._position], side="left"))
            return ts[:keep], equity[:keep], exposed[:keep]  # a paused run: no later bars
        return ts, equity, exposed

    # -- the run ---------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None) -> None:
        """Run every bar: start the strategies, feed all the bars, stop them."""
        self.run_until(None, progress)

    def run_until(self, stop_ts: int | None, progress: Progress | None = None) -> bool:
        """Feed the bars before ``stop_ts`` (``None``: all); True once every bar is done.

        A second call continues where the first paused, so a caller can look at the run
        at checkpoints (``build_result`` then covers the bars so far) and go on, or
        :meth:`abandon` it (optimisation pruning). Pausing changes nothing: the orders,
        fills and equity are those of one uninterrupted run. The run ends (strategies'
        ``on_stop``, journal sealed) with its last bar.
        """
        if self._timeline is None:
            self.start_trading()
            for strategy in self.strategies:
                strategy.bind(self.ctx)
                strategy.on_start()
            self._timeline = _timeline(self.series)
        ts, slots, index = self._timeline
        total = len(ts)
        stop = total if stop_ts is None else _first_at(self.series, ts, stop_ts)
        single = len(self.series) == 1
        try:
            for start in range(self._position, stop, CHUNK):
                # Orders, fills and round trips are long-lived acyclic objects: without
                # this, every full collection rescans all of them (about a quarter of the
                # order path at 1M bars). Frozen objects are still freed by refcount.
                gc.freeze()
                end = min(start + CHUNK, stop)
                if single:
                    self._loop_single(start, end)
                else:
                    self._loop(ts, slots, index, start, end)
                self._position = end
                if progress is not None:
                    progress(end, total)
            if self._position == total and not self._ended:
                self._ended = True
                for strategy in self.strategies:
                    strategy.on_stop()
                self.journal.close()
        except BaseException:
            self.journal.abort()
            raise
        finally:
            gc.unfreeze()
        self.bars_processed = self._position
        return self._position == total

    def abandon(self) -> None:
        """End a paused run where it is: no more bars, no ``on_stop``, the journal dropped."""
        if not self._ended:
            self._ended = True
            self.journal.abort()

    def _loop(self, ts_mv: Any, slot_mv: Any, idx_mv: Any, start: int, stop: int) -> None:
        """Bars ``start..stop`` of the merged timeline (several instruments)."""
        ctx, clock, venue = self.ctx, self.clock, self.venue
        heap, run_due = self.kernel.heap, self.kernel.run_due
        marks, last_index, bars_now = self.portfolio.marks, ctx.last_index, venue.bars
        insts = self.instruments
        iids = [inst.id for inst in insts]
        cols = [_columns(s) for s in self.series]
        working = [venue.working[iid] for iid in iids]
        positions = ctx.positions
        watch = [inst.is_perpetual and inst.margin_maint > 0 for inst in insts]
        handlers = self._handlers()
        for k in range(start, stop):
            ts = ts_mv[k]
            s = slot_mv[k]
            j = idx_mv[k]
            if heap and heap[0][0] <= ts:
                run_due(ts)
            clock.ts = ts
            o, h, lo, c, v = cols[s]
            bar = Bar(insts[s], ts, j, o[j], h[j], lo[j], c[j], v[j])
            iid = iids[s]
            if working[s] or (watch[s] and positions[s].qty):
                venue.on_bar(iid, bar)
            bars_now[iid] = bar
            marks[iid] = bar.close
            ctx.slot = s
            ctx.index = j
            last_index[s] = j
            for handler in handlers[s]:
                handler(bar)

    def _loop_single(self, start: int, stop: int) -> None:
        """The same loop specialised for one instrument, the common case.

        It is :meth:`_loop` with the per-bar slot lookups hoisted out; kept separate
        because it is the measured hot path of every single-instrument backtest
        (bench/bench_backtest.py), where those lookups cost a fifth of the time.
        """
        ctx, clock, venue = self.ctx, self.clock, self.venue
        heap, run_due = self.kernel.heap, self.kernel.run_due
        marks, last_index, bars_now = self.portfolio.marks, ctx.last_index, venue.bars
        series = self.series[0]
        inst, iid = series.instrument, series.instrument.id
        ts_mv, (o, h, lo, c, v) = series.ts.data, _columns(series)
        working = venue.working[iid]
        position = ctx.positions[0]
        watch = inst.is_perpetual and inst.margin_maint > 0
        handlers = self._handlers()[0]
        only = handlers[0] if len(handlers) == 1 else self._fan_out(handlers)
        ctx.slot = 0
        for j in range(start, stop):
            ts = ts_mv[j]
            if heap and heap[0][0] <= ts:
                run_due(ts)
            clock.ts = ts
            close = c[j]
            bar = Bar(inst, ts, j, o[j], h[j], lo[j], close, v[j])
            if working or (watch and position.qty):
                venue.on_bar(iid, bar)
            bars_now[iid] = bar
            marks[iid] = close
            ctx.index = j  # ctx.slot stays 0: emit() restores it after any callback
            only(bar)
        last_index[0] = stop - 1

    @staticmethod
    def _fan_out(handlers: list[Callable[[Bar], None]]) -> Callable[[Bar], None]:
        def call_all(bar: Bar) -> None:
            for handler in handlers:
                handler(bar)

        return call_all

    def _handlers(self) -> list[list[Callable[[Bar], None]]]:
        out: list[list[Callable[[Bar], None]]] = []
        for inst in self.instruments:
            out.append([s.on_bar for s in self.strategies
                        if s.instrument_filter is None or inst.id in s.instrument_filter
                        or inst.symbol in s.instrument_filter])
        return out


def _columns(s: BarSeries) -> tuple[memoryview, ...]:
    """Per-bar columns as memoryviews: indexing yields plain ints/floats, no NumPy boxing."""
    return (s.open.data, s.high.data, s.low.data, s.close.data, s.volume.data)


def _first_at(series: list[BarSeries], ts: memoryview, stop_ts: int) -> int:
    """Position of the first bar at or after ``stop_ts`` on the merged timeline."""
    times = series[0].ts if len(series) == 1 else np.frombuffer(ts, dtype=np.int64)
    return int(np.searchsorted(times, stop_ts, side="left"))


def _timeline(series: list[BarSeries]) -> tuple[memoryview, memoryview, memoryview]:
    """All bars merged by time (ties: instrument order), as (ts, slot, index) views."""
    if len(series) == 1:
        empty = np.zeros(0, dtype=np.int64).data
        return series[0].ts.data, empty, empty
    ts = np.concatenate([s.ts for s in series])
    slots = np.concatenate([np.full(len(s), k, dtype=np.int64) for k, s in enumerate(series)])
    index = np.concatenate([np.arange(len(s), dtype=np.int64) for s in series])
    order = np.lexsort((index, slots, ts))
    return (np.ascontiguousarray(ts[order]).data, np.ascontiguousarray(slots[order]).data,
            np.ascontiguousarray(index[order]).data)


__all__ = ["RECORDS", "BacktestEngine"]
