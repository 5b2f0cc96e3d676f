"""Paper trading: the backtest's node and simulated venue, fed live events one at a time.

:class:`PaperEngine` is a :class:`~heron.node.node.SimNode` (the same order routing,
journal, portfolio and :class:`~heron.venues.sim.venue.SimVenue` as a backtest) with a
push interface: :meth:`PaperEngine.consume` takes one market event from a live feed
(or from the run's input log, on restart). Fills follow the modes it mirrors:

* instruments streamed with trades only fill as in a **bar backtest**: trades are
  built into time bars (:class:`~heron.node.live_bars.LiveBars`) and each closed bar goes
  to the venue before the strategies (market orders fill at the next bar's open,
  limits and stops along the bar's path);
* instruments with a book or quote stream fill as in a **tick replay**: market orders
  walk the L2 book (a one-level book from quotes), resting limits fill when the book
  or a trade goes through them, stops trigger on trades.

Time is venue time: the clock follows the events' ``ts_event`` (never backwards), so a
run replayed from its input log makes the same decisions at the same timestamps, which
is what makes a restart exact. Events older than what the run has consumed (a venue
resending after a reconnect, the same market replayed) are dropped by per-stream
high-water marks before they reach the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, MutableSequence
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.model.book import L2Book, SequenceRule
from heron.model.data import (
    Bar,
    BookDelta,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument
from heron.node.live_bars import LiveBars
from heron.node.node import SimNode
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig


class _Marks:
    """Per (instrument, stream) high-water marks: what the run has already consumed."""

    __slots__ = ("book", "book_open", "quote", "trade_ids", "trade_ts")

    def __init__(self) -> None:
        self.trade_ts = -1
        self.trade_ids: set[str] = set()
        self.quote = (-1, -1)
        self.book = -1         # sequence of the last whole book message consumed
        self.book_open = -1    # sequence of the message whose deltas are coming in

    def new_trade(self, t: Trade) -> bool:
        if t.ts_event < self.trade_ts or (t.ts_event == self.trade_ts
                                          and t.trade_id in self.trade_ids):
            return False
        if t.ts_event > self.trade_ts:
            self.trade_ts = t.ts_event
            self.trade_ids.clear()
        self.trade_ids.add(t.trade_id)
        return True

    def new_quote(self, q: Quote) -> bool:
        key = (q.ts_event, q.sequence)
        if key <= self.quote:
            return False
        self.quote = key
        return True

    def new_delta(self, d: BookDelta) -> bool:
        if d.sequence > self.book:
            self.book_open = d.sequence
        elif d.sequence != self.book_open:
            return False
        if d.is_last:
            self.book, self.book_open = d.sequence, -1
        return True

    def new_snapshot(self, s: BookSnapshot) -> bool:
        if s.sequence <= self.book:
            return False
        self.book, self.book_open = s.sequence, -1
        return True


#: journal records a running paper or live engine keeps in memory (the rest: on disk)
RECORDS_KEPT = 50_000
#: closed orders it keeps (open ones are always kept), and as many closed round trips
CLOSED_ORDERS_KEPT = 10_000
#: equity samples it keeps: 10 weeks at the default one a minute
SAMPLES_KEPT = 100_000


class PaperEngine(SimNode):
    """Strategies on live market events against the simulated venue."""

    def __init__(self, *, instruments: list[Instrument], strategies: list[Strategy],
                 cash: Decimal, venue: SimVenueConfig, journal_path: Any, bar_ns: int,
                 book_streams: set[str], quote_streams: set[str],
                 book_rules: dict[str, SequenceRule | None],
                 header: dict[str, Any], sample_ns: int = 60_000_000_000,
                 id_tag: str = "H", journal_run_id: str | None = None) -> None:
        super().__init__(instruments=instruments, strategies=strategies, cash=cash,
                         venue=venue, start_ts=0, journal_path=journal_path,
                         header={"kind": "paper", **header}, journal_in_place=True,
                         id_tag=id_tag, journal_run_id=journal_run_id)
        self.full_books = book_streams              # L2 streams: quotes then only inform
        self.depth = book_streams | quote_streams    # instruments filled as in a tick replay
        self.books = {inst.id: L2Book(inst, book_rules.get(inst.id)) for inst in instruments}
        for iid in self.depth:
            self.venue.books[iid] = self.books[iid]
        self.bars = LiveBars(instruments, self.ctx, bar_ns, self._on_bar)
        self._bar_hooks = [[s.on_bar for s in strategies
                            if s.instrument_filter is None or inst.id in s.instrument_filter
                            or inst.symbol in s.instrument_filter] for inst in instruments]
        self._trade_hooks = [s.on_trade for s in strategies
                             if type(s).on_trade is not Strategy.on_trade]
        self._quote_hooks = [s.on_quote for s in strategies
                             if type(s).on_quote is not Strategy.on_quote]
        self._marks = {inst.id: _Marks() for inst in instruments}
        self._tops: dict[str, Any] = {}  # best bid/ask as of each book's last whole message
        self._funding: dict[tuple[str, int], str] = {}
        self.sample_ns = sample_ns
        self.sample_ts: MutableSequence[int] = []
        self.sample_equity: MutableSequence[float] = []
        self._next_sample = 0
        self.consumed = 0
        self.health_inputs = 0  # feed-health changes handed in (a paper run logs them)
        self.started = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            Trade: self._trade, Quote: self._quote, BookDelta: self._delta,
            BookSnapshot: self._snapshot, FundingRate: self._funding_rate,
            MarkPrice: self._mark, Bar: self._warm_up}

    def start(self) -> None:
        """Bind and start the strategies (once, before the first event)."""
        self.start_trading()
        for strategy in self.strategies:
            strategy.bind(self.ctx)
            strategy.on_start()
        self.started = True

    def bound_memory(self, *, records: int = RECORDS_KEPT,
                     closed_orders: int = CLOSED_ORDERS_KEPT) -> None:
        """Keep only the newest journal records, closed orders (with their round trips,
        rejections and trade ids: :meth:`OrderManager.retain_closed`) and equity samples
        in memory from now on.

        Called once the run is rebuilt (a restart's checks read every record back): a
        paper or live run is meant to be left running, and its memory must not grow with
        every order, fill or minute. The journal on disk keeps everything."""
        self.journal.retain(records)
        self.om.retain_closed(closed_orders)
        self.sample_ts = deque(self.sample_ts, maxlen=SAMPLES_KEPT)
        self.sample_equity = deque(self.sample_equity, maxlen=SAMPLES_KEPT)

    def is_new(self, event: Any) -> bool:
        """Whether ``event`` is newer than what this run consumed of its stream."""
        marks = self._marks.get(event.instrument.id)
        if marks is None:
            return False
        if isinstance(event, Trade):
            return marks.new_trade(event)
        if isinstance(event, Quote):
            return marks.new_quote(event)
        if isinstance(event, BookDelta):
            return marks.new_delta(event)
        if isinstance(event, BookSnapshot):
            return marks.new_snapshot(event)
        if isinstance(event, Bar):  # warm-up: in order, and only before live trades
            slot = self.ctx.slots[event.instrument.id]
            return event.ts >= self.bars.warmed[slot] and not self.bars.live(slot)
        return True

    @property
    def inputs(self) -> int:
        """Inputs handed in so far, market events and feed-health changes: where in a
        paper run's input log an operator command came (heron.node.run_desk)."""
        return self.consumed + self.health_inputs

    def feed_health(self, health: FeedHealth) -> None:
        """A feed's health change (counted as an input; the state machine judges it)."""
        self.health_inputs += 1
        super().feed_health(health)

    def consume(self, event: Any) -> None:
        """Handle one market event (already judged new and logged by the caller)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return
        self.consumed += 1
        handler(event)

    # -- time --------------------------------------------------------------------------------
    def _advance(self, ts: int, slot: int) -> None:
        ts = max(ts, self.clock.ts)
        if self.deferred:  # the risk timers start with market time
            for start in self.deferred:
                self.kernel.schedule(ts, start)
            self.deferred.clear()
        if self.kernel.heap and self.kernel.heap[0][0] <= ts:
            self.kernel.run_due(ts)
        self.clock.ts = ts
        self.ctx.slot = slot
        self.ctx.index = self.ctx.last_index[slot]
        if ts >= self._next_sample:
            self._sample(ts)

    def _sample(self, ts: int) -> None:
        pf = self.portfolio
        if all(p.qty == 0 or iid in pf.marks for iid, p in pf.positions.items()):
            self.sample_ts.append(ts)
            self.sample_equity.append(pf.equity() / 10 ** pf.money_precision)
        self._next_sample = (ts // self.sample_ns + 1) * self.sample_ns

    # -- market data -------------------------------------------------------------------------
    def _trade(self, t: Trade) -> None:
        iid = t.instrument.id
        slot = self.ctx.slots[iid]
        self._advance(t.ts_event, slot)
        self.bars.trade(slot, t)
        if iid in self.depth:
            self.venue.on_trade(iid, t.price, t.size)
            self.portfolio.marks[iid] = t.price
        for hook in self._trade_hooks:
            hook(t)

    def _warm_up(self, bar: Bar) -> None:
        slot = self.ctx.slots[bar.instrument.id]
        self.bars.history(slot, bar)
        self.portfolio.marks[bar.instrument.id] = bar.close

    def _on_bar(self, slot: int, bar: Bar) -> None:
        iid = bar.instrument.id
        if iid not in self.depth:
            self.venue.on_bar(iid, bar)
            self.venue.bars[iid] = bar
        self.portfolio.marks[iid] = bar.close
        ctx = self.ctx
        ctx.slot, ctx.index = slot, bar.index
        ctx.last_index[slot] = bar.index
        for hook in self._bar_hooks[slot]:
            hook(bar)

    def _quote(self, q: Quote) -> None:
        iid = q.instrument.id
        self._advance(q.ts_event, self.ctx.slots[iid])
        if iid in self.depth and iid not in self.full_books:
            self.books[iid].apply_snapshot(BookSnapshot(
                q.instrument, q.ts_event, q.ts_recv, ((q.bid, q.bid_size),),
                ((q.ask, q.ask_size),), q.sequence))
            self.venue.on_book(iid)
            self.portfolio.marks[iid] = (q.bid + q.ask) // 2
        for hook in self._quote_hooks:
            hook(q)

    def _delta(self, d: BookDelta) -> None:
        iid = d.instrument.id
        book = self.books[iid]
        book.apply_delta(d)
        if d.is_last:
            self._advance(d.ts_event, self.ctx.slots[iid])
            if self.venue.working[iid]:
                self.venue.on_book(iid)
            self._top_changed(d.instrument, book, self._tops.get(iid), d.ts_event, d.ts_recv)

    def _snapshot(self, s: BookSnapshot) -> None:
        iid = s.instrument.id
        self._advance(s.ts_event, self.ctx.slots[iid])
        self.books[iid].apply_snapshot(s)
        self.venue.on_book(iid)
        self._top_changed(s.instrument, self.books[iid], None, s.ts_event, s.ts_recv)

    def _top_changed(self, inst: Instrument, book: L2Book, before: Any, ts: int,
                     recv: int) -> None:
        """Tell strategies the best bid/ask when a whole book message moved it.

        ``before`` is the top after the previous message (None: report it anyway), as the
        tick replay compares them: a message's first delta may move the top and its last
        leave it, so the top just before the last delta is not the one to compare with.
        """
        best_bid, best_ask = book.best_bid(), book.best_ask()
        top = self._tops[inst.id] = (best_bid, best_ask)
        if top == before or best_bid is None or best_ask is None:
            return
        self.portfolio.marks[inst.id] = (best_bid[0] + best_ask[0]) // 2
        if self._quote_hooks:
            quote = Quote(inst, ts, recv, best_bid[0], best_ask[0], best_bid[1], best_ask[1],
                          book.last_sequence or 0)
            for hook in self._quote_hooks:
                hook(quote)

    def _funding_rate(self, f: FundingRate) -> None:
        """Remember the latest predicted rate; apply it when venue time reaches it."""
        iid = f.instrument.id
        key = (iid, f.ts_event)
        if key not in self._funding:
            self.kernel.schedule(f.ts_event, self._apply_funding(key))
        self._funding[key] = f.rate

    def _apply_funding(self, key: tuple[str, int]) -> Callable[[int], None]:
        def apply(ts: int) -> None:
            rate = self._funding.pop(key, None)
            if rate is not None:
                self.venue.on_funding(key[0], Decimal(rate), ts)
        return apply

    def _mark(self, m: MarkPrice) -> None:
        iid = m.instrument.id
        self._advance(m.ts_event, self.ctx.slots[iid])
        self.portfolio.marks[iid] = m.mark

    # -- results -------------------------------------------------------------------------------
    def equity_curve(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
        ts = np.asarray(self.sample_ts, dtype=np.int64)
        return ts, np.asarray(self.sample_equity, dtype=np.float64), np.zeros(len(ts), bool)
