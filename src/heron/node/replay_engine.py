"""Tick replays: the :class:`~heron.node.node.SimNode` driven by catalog trades, quotes
and L2 books instead of bars.

The catalog's series are merged in time order (:mod:`heron.data.replay`, bounded
memory). Book deltas and snapshots keep one :class:`~heron.model.book.L2Book` per
instrument; the simulated venue fills against it (market orders walk it, resting limits
fill when the book or a trade goes through them). Quotes without depth data become a
one-level book, so orders fill against the quoted top. Strategies get ``on_trade`` for
each trade and ``on_quote`` whenever the best bid or ask changes. Equity is sampled on a
fixed clock (``sample_ns``), marked at the last trade or mid price.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.data.catalog import Catalog
from heron.data.replay import Selection, replay
from heron.data.schemas import DataKind
from heron.model.book import L2Book
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
                 batch_rows: int = 65_536) -> None:
        self.catalog, self.selections = catalog, list(selections)
        self.start_ns, self.end_ns, self.batch_rows = start_ns, end_ns, batch_rows
        instruments: list[Instrument] = []
        for sel in self.selections:
            inst = catalog.instrument(sel.venue, sel.symbol)
            if inst not in instruments:
                instruments.append(inst)
        super().__init__(instruments=instruments, strategies=strategies, cash=cash,
                         venue=venue, start_ts=start_ns or 0, journal_path=journal_path,
                         header={"replay": [f"{s.venue}/{s.symbol}/{s.kind.value}"
                                            for s in self.selections]})
        self.books = {inst.id: L2Book(inst) for inst in instruments}
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
        for strategy in self.strategies:
            strategy.bind(self.ctx)
            strategy.on_start()
        handlers = {DataKind.TRADES: self._trades, DataKind.QUOTES: self._quotes,
                    DataKind.BOOK_DELTAS: self._deltas, DataKind.BOOK_SNAPSHOTS: self._snapshots,
                    DataKind.FUNDING: self._funding, DataKind.MARK: self._marks}
        try:
            gc.freeze()
            for sel, run in replay(self.catalog, self.selections, start_ns=self.start_ns,
                                   end_ns=self.end_ns, batch_rows=self.batch_rows):
                handler = handlers.get(sel.kind)
                if handler is not None:
                    handler(self.catalog.instrument(sel.venue, sel.symbol), run)
                self.events_processed += run.height
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
        if all(p.qty == 0 or iid in pf.marks for iid, p in pf.positions.items()):
            self.sample_ts.append(ts)
            self.sample_equity.append(pf.equity() / 10 ** pf.money_precision)
            self.sample_exposed.append(any(p.qty for p in pf.positions.values()))
        self._next_sample = (ts // self.sample_ns + 1) * self.sample_ns

    # -- market data -------------------------------------------------------------------------
    def _trades(self, inst: Instrument, run: pl.DataFrame) -> None:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        venue, marks, hooks = self.venue, self.portfolio.marks, self._trade_hooks
        for ts, recv, price, size, aggr, tid in zip(
                run["ts_event"], run["ts_recv"], run["price"], run["size"], run["aggressor"],
                run["trade_id"], strict=True):
            self._advance(ts, slot)
            venue.on_trade(iid, price, size)
            marks[iid] = price
            if hooks:
                trade = Trade(inst, ts, recv, price, size, _AGGRESSOR[aggr], tid)
                for hook in hooks:
                    hook(trade)

    def _quotes(self, inst: Instrument, run: pl.DataFrame) -> None:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        top_only = iid not in self._depth
        book = self.books[iid]
        if top_only:
            self.venue.books[iid] = book
        for ts, recv, bid, ask, bsz, asz, seq in zip(
                run["ts_event"], run["ts_recv"], run["bid"], run["ask"], run["bid_size"],
                run["ask_size"], run["sequence"], strict=True):
            self._advance(ts, slot)
            if top_only:
                book.apply_snapshot(BookSnapshot(inst, ts, recv, ((bid, bsz),), ((ask, asz),),
                                                 seq))
                self.venue.on_book(iid)
                self.portfolio.marks[iid] = (bid + ask) // 2
            self._tell_quote(Quote(inst, ts, recv, bid, ask, bsz, asz))

    def _deltas(self, inst: Instrument, run: pl.DataFrame) -> None:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        book = self.books[iid]
        self.venue.books[iid] = book
        top = (book.best_bid(), book.best_ask())
        for ts, recv, side, price, size, seq, last in zip(
                run["ts_event"], run["ts_recv"], run["side"], run["price"], run["size"],
                run["sequence"], run["is_last"], strict=True):
            self._advance(ts, slot)
            book.apply_delta(BookDelta(inst, ts, recv, _SIDE[side], price, size, seq, last))
            if last:
                self.venue.on_book(iid)
                top = self._top_changed(inst, book, top, ts, recv)

    def _snapshots(self, inst: Instrument, run: pl.DataFrame) -> None:
        iid, slot = inst.id, self.ctx.slots[inst.id]
        book = self.books[iid]
        self.venue.books[iid] = book
        for (seq,), rows in run.group_by("sequence", maintain_order=True):
            ts, recv = int(rows["ts_event"][0]), int(rows["ts_recv"][0])
            self._advance(ts, slot)
            bids = rows.filter(pl.col("side") == 1).sort("level")
            asks = rows.filter(pl.col("side") == -1).sort("level")
            book.apply_snapshot(BookSnapshot(
                inst, ts, recv, tuple(zip(bids["price"], bids["size"], strict=True)),
                tuple(zip(asks["price"], asks["size"], strict=True)), int(seq)))
            self.venue.on_book(iid)
            self._top_changed(inst, book, (None, None), ts, recv)

    def _funding(self, inst: Instrument, run: pl.DataFrame) -> None:
        slot = self.ctx.slots[inst.id]
        for ts, rate in zip(run["ts_event"], run["rate"], strict=True):
            self._advance(ts, slot)
            self.venue.on_funding(inst.id, Decimal(rate), ts)

    def _marks(self, inst: Instrument, run: pl.DataFrame) -> None:
        slot = self.ctx.slots[inst.id]
        for ts, price in zip(run["ts_event"], run["price"], strict=True):
            self._advance(ts, slot)
            self.portfolio.marks[inst.id] = price

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
