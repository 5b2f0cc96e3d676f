"""Tick replays: the :class:`~heron.node.node.SimNode` driven by catalog trades, quotes
and L2 books instead of bars.

The catalog's series are merged in time order (:mod:`heron.data.replay`, bounded
memory). Book deltas and snapshots keep one :class:`~heron.model.book.L2Book` per
instrument; the simulated venue fills against it (market orders walk it, resting limits
fill when the book or a trade goes through them). Quotes without depth data become a
one-level book, so orders fill against the quoted top. Strategies get ``on_trade`` for
each trade and ``on_quote`` whenever the best bid or ask changes. Equity is sampled on a
fixed clock (``sample_ns``), marked at the last trade or mid price.

``fees`` gives instruments their own maker and taker rates for the run (the catalog's
definition often has none, and two venues charge differently); the rest keep the
catalog's.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.data.catalog import Catalog
from heron.data.replay import Selection, replay_windows
from heron.data.schemas import DataKind
from heron.model.book import IncreasingSequence, L2Book
from heron.model.data import BookDelta, BookSide, BookSnapshot, Quote, Trade
from heron.model.instrument import Instrument
from heron.node.node import SimNode
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig

_AGGRESSOR = {1: "buy", -1: "sell", 0: ""}
_SIDE = {1: BookSide.BID, -1: BookSide.ASK}


class ReplayEngine(SimNode):
    """Strategies over replayed market data against the simulated venue."""

    def __init__(self, *, catalog: Catalog, selections: Sequence[Selection],
                 strategies: list[Strategy], cash: Decimal, venue: SimVenueConfig,
                 start_ns: int | None = None, end_ns: int | None = None,
                 journal_path: Any = None, sample_ns: int = 60_000_000_000,
                 batch_rows: int = 65_536,
                 fees: Mapping[str, tuple[Decimal, Decimal]] | None = None) -> None:
        self.catalog, self.selections = catalog, list(selections)
        self.start_ns, self.end_ns, self.batch_rows = start_ns, end_ns, batch_rows
        fees = fees or {}
        instruments: list[Instrument] = []
        for sel in self.selections:
            inst = catalog.instrument(sel.venue, sel.symbol)
            if inst.id in fees:
                maker, taker = fees[inst.id]
                inst = replace(inst, maker_fee=maker, taker_fee=taker)
            if inst not in instruments:
                instruments.append(inst)
        super().__init__(instruments=instruments, strategies=strategies, cash=cash,
                         venue=venue, start_ts=start_ns or 0, journal_path=journal_path,
                         header={"replay": [f"{s.venue}/{s.symbol}/{s.kind.value}"
                                            for s in self.selections]})
        # The catalog keeps one update id per delta message, not the venue's link to the
        # one before (Binance USD-M's ``pu``), so continuity was judged when the data was
        # recorded or imported (``heron data check``); here ids only have to increase.
        # A contiguity rule would call every Binance USD-M message a gap and keep the
        # book flagged as needing a snapshot, and resting orders would never fill.
        self.books = {inst.id: L2Book(inst, IncreasingSequence()) for inst in instruments}
        self._depth = {catalog.instrument(s.venue, s.symbol).id for s in self.selections
                       if s.kind in (DataKind.BOOK_DELTAS, DataKind.BOOK_SNAPSHOTS)}
        self.sample_ns = sample_ns
        self.sample_ts: list[int] = []
        self.sample_equity: list[float] = []
        self.sample_exposed: list[bool] = []
        self._next_sample = 0
        self.events_processed = 0
        self._trade_hooks = [s.on_trade for s in strategies
                             if type(s).on_trade is not Strategy.on_trade]
        self._quote_hooks = [s.on_quote for s in strategies
                             if type(s).on_quote is not Strategy.on_quote]

    # -- the run ---------------------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None) -> None:
        self.start_trading()
        for strategy in self.strategies:
            strategy.bind(self.ctx)
            strategy.on_start()
        ordered, windows = replay_windows(self.catalog, self.selections, start_ns=self.start_ns,
                                          end_ns=self.end_ns, batch_rows=self.batch_rows)
        by_id = {inst.id: inst for inst in self.instruments}
        instruments = [by_id[self.catalog.instrument(s.venue, s.symbol).id] for s in ordered]
        try:
            gc.freeze()
            for window in windows:
                handlers = [self._row_handler(sel.kind, inst, frame) if frame.height else None
                            for sel, inst, frame in zip(ordered, instruments, window.frames,
                                                        strict=True)]
                for src, row in zip(window.sources.tolist(), window.rows.tolist(), strict=True):
                    handler = handlers[src]
                    if handler is not None:
                        handler(row)
                self.events_processed += len(window.sources)
                if progress is not None:
                    progress(self.events_processed, 0)
            self._sample(self.clock.ts, force=True)
            for strategy in self.strategies:
                strategy.on_stop()
            self.journal.close()
        except BaseException:
            self.journal.abort()
            raise
        finally:
            gc.unfreeze()

    def _row_handler(self, kind: DataKind, inst: Instrument, frame: pl.DataFrame
                     ) -> Callable[[int], None] | None:
        """A function handling row ``i`` of ``frame`` (columns read into lists once)."""
        makers = {DataKind.TRADES: self._trades, DataKind.QUOTES: self._quotes,
                  DataKind.BOOK_DELTAS: self._deltas, DataKind.BOOK_SNAPSHOTS: self._snapshots,
                  DataKind.FUNDING: self._funding, DataKind.MARK: self._marks}
        maker = makers.get(kind)
        return None if maker is None else maker(inst, frame)

    def _advance(self, ts: int, slot: int) -> None:
        """Move time to ``ts``: due timers first, an equity sample when one is due."""
        if self.kernel.heap and self.kernel.heap[0][0] <= ts:
            self.kernel.run_due(ts)
        self.clock.ts = ts
        self.ctx.slot = slot
        if ts >= self._next_sample:
            self._sample(ts)

    def _sample(self, ts: int, *, force: bool = False) -> None:
        pf = self.portfolio
        if not force and not self.sample_ts and not pf.marks:
            return
        if self.sample_ts and ts <= self.sample_ts[-1]:
            # the closing sample on the last sample's instant: that one already holds it
            return
        if all(p.qty == 0 or iid in pf.marks for iid, p in pf.positions.items()):
            self.sample_ts.append(ts)
            self.sample_equity.append(pf.equity() / 10 ** pf.money_precision)
            self.sample_exposed.append(any(p.qty for p in pf.positions.values()))
        self._next_sample = (ts // self.sample_ns + 1) * self.sample_ns

    # -- market data -------------------------------------------------------------------------
    def _trades(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        venue, marks, hooks, advance = self.venue, self.portfolio.marks, self._trade_hooks, \
            self._advance
        ts, recv, price, size, aggr, tid = (frame[c].to_list() for c in (
            "ts_event", "ts_recv", "price", "size", "aggressor", "trade_id"))

        def handle(i: int) -> None:
            advance(ts[i], slot)
            venue.on_trade(iid, price[i], size[i])
            marks[iid] = price[i]
            if hooks:
                trade = Trade(inst, ts[i], recv[i], price[i], size[i], _AGGRESSOR[aggr[i]],
                              tid[i])
                for hook in hooks:
                    hook(trade)

        return handle

    def _quotes(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        top_only = iid not in self._depth
        book = self.books[iid]
        if top_only:
            self.venue.books[iid] = book
        ts, recv, bid, ask, bsz, asz, seq = (frame[c].to_list() for c in (
            "ts_event", "ts_recv", "bid", "ask", "bid_size", "ask_size", "sequence"))

        def handle(i: int) -> None:
            self._advance(ts[i], slot)
            if top_only:
                book.apply_snapshot(BookSnapshot(inst, ts[i], recv[i], ((bid[i], bsz[i]),),
                                                 ((ask[i], asz[i]),), seq[i]))
                self.venue.on_book(iid)
                self.portfolio.marks[iid] = (bid[i] + ask[i]) // 2
            self._tell_quote(Quote(inst, ts[i], recv[i], bid[i], ask[i], bsz[i], asz[i]))

        return handle

    def _deltas(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        book = self.books[iid]
        self.venue.books[iid] = book
        venue, advance, apply = self.venue, self._advance, book.apply_delta
        ts, recv, side, price, size, seq, last = (frame[c].to_list() for c in (
            "ts_event", "ts_recv", "side", "price", "size", "sequence", "is_last"))
        state = [(book.best_bid(), book.best_ask())]

        def handle(i: int) -> None:
            advance(ts[i], slot)
            apply(BookDelta(inst, ts[i], recv[i], _SIDE[side[i]], price[i], size[i], seq[i],
                            last[i]))
            if last[i]:
                if venue.working[iid]:
                    venue.on_book(iid)
                state[0] = self._top_changed(inst, book, state[0], ts[i], recv[i])

        return handle

    def _snapshots(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        """Snapshot rows arrive level by level; the book is replaced at each snapshot's
        last row (rows of one snapshot share ``sequence``)."""
        iid, slot = inst.id, self.ctx.slots[inst.id]
        book = self.books[iid]
        self.venue.books[iid] = book
        ts, recv, seq, side, price, size = (frame[c].to_list() for c in (
            "ts_event", "ts_recv", "sequence", "side", "price", "size"))
        levels: dict[int, list[tuple[int, int]]] = {1: [], -1: []}

        def handle(i: int) -> None:
            levels[side[i]].append((price[i], size[i]))
            if i + 1 < len(seq) and seq[i + 1] == seq[i]:
                return
            self._advance(ts[i], slot)
            book.apply_snapshot(BookSnapshot(inst, ts[i], recv[i], tuple(levels[1]),
                                             tuple(levels[-1]), seq[i]))
            levels[1], levels[-1] = [], []
            self.venue.on_book(iid)
            self._top_changed(inst, book, (None, None), ts[i], recv[i])

        return handle

    def _funding(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        slot = self.ctx.slots[inst.id]
        ts, rate = frame["ts_event"].to_list(), frame["rate"].to_list()

        def handle(i: int) -> None:
            self._advance(ts[i], slot)
            self.venue.on_funding(inst.id, Decimal(rate[i]), ts[i])

        return handle

    def _marks(self, inst: Instrument, frame: pl.DataFrame) -> Callable[[int], None]:
        slot = self.ctx.slots[inst.id]
        ts, price = frame["ts_event"].to_list(), frame["price"].to_list()

        def handle(i: int) -> None:
            self._advance(ts[i], slot)
            self.portfolio.marks[inst.id] = price[i]

        return handle

    def _top_changed(self, inst: Instrument, book: L2Book, before: tuple[Any, Any], ts: int,
                     recv: int) -> tuple[Any, Any]:
        """Tell strategies the new best bid/ask when it moved; return it."""
        best_bid, best_ask = book.best_bid(), book.best_ask()
        top = (best_bid, best_ask)
        if top != before and best_bid is not None and best_ask is not None:
            self.portfolio.marks[inst.id] = (best_bid[0] + best_ask[0]) // 2
            self._tell_quote(Quote(inst, ts, recv, best_bid[0], best_ask[0], best_bid[1],
                                   best_ask[1]))
        return top

    def _tell_quote(self, quote: Quote) -> None:
        for hook in self._quote_hooks:
            hook(quote)

    # -- results ---------------------------------------------------------------------------------
    def equity_curve(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        """``(ts, equity, exposed)`` sampled every ``sample_ns`` of replayed time."""
        return (np.asarray(self.sample_ts, dtype=np.int64),
                np.asarray(self.sample_equity, dtype=np.float64),
                np.asarray(self.sample_exposed, dtype=bool))
