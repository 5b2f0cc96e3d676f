"""Replay a capture's depth stream through :class:`L2Book` and hold it to the venue's bookTicker.

Binance publishes two views of one book: diff-depth messages (every level changed by
updates ``U``..``u``) and bookTicker (best bid and ask as of update ``u``). Both ids
count the same book updates, so each bookTicker says exactly what the top of a
correctly rebuilt book must be *at its id*. :func:`check_book` rebuilds the book the
way Binance documents (the REST snapshot, then the buffered and live diffs from the
one whose range covers the snapshot's ``lastUpdateId``, each linked to the last: ``pu``
on futures, ``U = u + 1`` on spot) and compares at every ticker.

Tickers are matched by update id, not by arrival time: the two streams arrive
interleaved with different delays (a diff batches updates over its interval and is
sent at its end, a ticker at once), so the book as of a ticker's arrival is usually
*behind* or *ahead of* the ticker by a few messages. By id there is no guesswork:

* the book after the last diff with ``u <= id`` holds every update up to that ``u``;
  if the next diff starts after ``id`` (``id < U``), nothing changed in between and
  the book *is* the state at ``id``: the ticker must match it exactly (``MATCH`` or
  ``MISMATCH``);
* if the next diff's range covers the id (``U <= id < u``), the state at ``id`` was
  never published: the diff merges updates before and after it. The levels the diff
  does not touch cannot have changed, though, so the ticker is checked against them:
  its price's size must agree when untouched, and no untouched level may be better than
  it. ``INSIDE_DIFF`` when it passes, ``MISMATCH`` when not;
* tickers older than the snapshot (``BEFORE_SYNC``), newer than the last diff
  (``AFTER_LAST_DIFF``), after a broken id chain (``AFTER_GAP``: only a new snapshot
  would repair it; a later snapshot in the capture is not used yet) or in a capture with
  no snapshot (``NO_SNAPSHOT``) cannot be checked and say so.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from heron.data.importers.captures import Capture, SymbolData
from heron.model.book import L2Book, SequenceRule
from heron.model.data import BookDelta, BookSide, Quote

__all__ = ["BookCheck", "TickerVerdict", "check_book", "check_capture"]


class TickerVerdict(enum.StrEnum):
    """What the rebuilt book says about one bookTicker message."""

    MATCH = "match"                      # the book at the ticker's id, exactly equal
    INSIDE_DIFF = "inside_diff"          # state at the id unpublished; untouched levels agree
    BEFORE_SYNC = "before_sync"          # older than the snapshot
    AFTER_LAST_DIFF = "after_last_diff"  # newer than every diff in the capture
    AFTER_GAP = "after_gap"              # the diff chain broke before it
    NO_SNAPSHOT = "no_snapshot"          # nothing to start the book from
    MISMATCH = "mismatch"                # the book disagrees with the venue: a bug or bad data


EXPLAINED = frozenset(TickerVerdict) - {TickerVerdict.MATCH, TickerVerdict.MISMATCH}
"""Verdicts that say why a ticker could not be compared exactly, not that it was wrong."""


@dataclass(frozen=True, slots=True)
class BookCheck:
    """The verdict on every bookTicker of one symbol: matches, and the rest with reasons."""

    symbol: str
    matches: int
    problems: list[tuple[int, TickerVerdict, str]] = field(default_factory=list)  # line, why

    def counts(self) -> Counter[TickerVerdict]:
        counts = Counter(verdict for _, verdict, _ in self.problems)
        counts[TickerVerdict.MATCH] = self.matches
        return counts

    @property
    def mismatches(self) -> list[tuple[int, str]]:
        """``(line, reason)`` of every ticker the book contradicts."""
        return [(line, why) for line, verdict, why in self.problems
                if verdict is TickerVerdict.MISMATCH]


class _Diff(NamedTuple):
    line: int
    first: int
    final: int
    deltas: list[BookDelta]


def _diffs(rows: Sequence[tuple[int, BookDelta]]) -> list[_Diff]:
    """Deltas regrouped into the venue messages they came from (closed by ``is_last``)."""
    out: list[_Diff] = []
    current: list[BookDelta] = []
    for line, delta in rows:
        current.append(delta)
        if delta.is_last:
            first = delta.first_sequence
            out.append(_Diff(line, delta.sequence if first is None else first, delta.sequence,
                             current))
            current = []
    return out


def check_capture(capture: Capture) -> dict[str, BookCheck]:
    """:func:`check_book` for every symbol of ``capture`` that has bookTickers."""
    rule = capture.market.sequence_rule
    return {symbol: check_book(data, rule()) for symbol, data in capture.symbols.items()
            if data.quotes}


def check_book(data: SymbolData, rule: SequenceRule) -> BookCheck:
    """Rebuild ``data``'s book from its first snapshot and judge every bookTicker."""
    symbol = data.instrument.symbol
    if not data.snapshots:
        return BookCheck(symbol, 0, [(line, TickerVerdict.NO_SNAPSHOT, "no depth snapshot in "
                                      "the capture") for line, _ in data.quotes])
    snap_line, snapshot = min(data.snapshots, key=lambda row: row[1].ts_recv)
    book = L2Book(data.instrument, rule)
    book.apply_snapshot(snapshot)
    replay = _Replay(book, _diffs(data.deltas), snap_line)
    matches = 0
    problems: list[tuple[int, TickerVerdict, str]] = []
    for line, quote in sorted(data.quotes, key=lambda row: row[1].sequence):
        if quote.sequence < snapshot.sequence:
            verdict, why = TickerVerdict.BEFORE_SYNC, (
                f"update {quote.sequence} is older than the snapshot (line {snap_line}, "
                f"lastUpdateId {snapshot.sequence})")
        else:
            verdict, why = replay.judge(quote)
        if verdict is TickerVerdict.MATCH:
            matches += 1
        else:
            problems.append((line, verdict, why))
    return BookCheck(symbol, matches, problems)


class _Replay:
    """The book walked forward through the diffs, one ticker id at a time."""

    def __init__(self, book: L2Book, diffs: list[_Diff], snap_line: int) -> None:
        self.book = book
        self.diffs = diffs
        self.next = 0  # index of the first diff not yet applied
        self.gap_line: int | None = None
        self.snap_line = snap_line
        self._touched: dict[int, tuple[set[int], set[int]]] = {}

    def judge(self, quote: Quote) -> tuple[TickerVerdict, str]:
        at = quote.sequence
        self._advance(at)
        if self.gap_line is not None:
            return TickerVerdict.AFTER_GAP, f"the diff chain broke at line {self.gap_line}"
        last = self.book.last_sequence
        if self.next < len(self.diffs):
            upcoming = self.diffs[self.next]
            if at != last and upcoming.first <= at:
                return self._inside(quote, upcoming)
        elif at != last:
            return TickerVerdict.AFTER_LAST_DIFF, f"no diff reaches update {at}"
        return self._exact(quote)

    def _advance(self, at: int) -> None:
        book, diffs = self.book, self.diffs
        while self.next < len(diffs) and diffs[self.next].final <= at:
            diff = diffs[self.next]
            gaps = book.gaps
            for delta in diff.deltas:
                book.apply_delta(delta)
            if book.gaps != gaps and self.gap_line is None:
                self.gap_line = diff.line
            self.next += 1

    def _exact(self, quote: Quote) -> tuple[TickerVerdict, str]:
        book = self.book
        have = (book.best_bid(), book.best_ask())
        want = ((quote.bid, quote.bid_size), (quote.ask, quote.ask_size))
        if have == want:
            return TickerVerdict.MATCH, ""
        return TickerVerdict.MISMATCH, (f"book as of update {book.last_sequence} has bid/ask "
                                        f"{have}, the venue {want}")

    def _inside(self, quote: Quote, diff: _Diff) -> tuple[TickerVerdict, str]:
        bids, asks = self._touched_by(diff)
        problem = (self._untouched_problem(BookSide.BID, bids, quote.bid, quote.bid_size)
                   or self._untouched_problem(BookSide.ASK, asks, quote.ask, quote.ask_size))
        if problem:
            return TickerVerdict.MISMATCH, f"{problem} (inside the diff of line {diff.line})"
        return TickerVerdict.INSIDE_DIFF, (f"update {quote.sequence} falls inside the diff "
                                           f"{diff.first}..{diff.final} of line {diff.line}")

    def _touched_by(self, diff: _Diff) -> tuple[set[int], set[int]]:
        touched = self._touched.get(diff.line)
        if touched is None:
            touched = ({d.price for d in diff.deltas if d.side is BookSide.BID},
                       {d.price for d in diff.deltas if d.side is BookSide.ASK})
            self._touched = {diff.line: touched}  # only the upcoming diff is ever asked for
        return touched

    def _untouched_problem(self, side: BookSide, touched: set[int], price: int,
                           size: int) -> str | None:
        """Why a ticker level contradicts the levels the pending diff leaves alone."""
        book = self.book
        if price not in touched and book.depth_at(side, price) != size:
            return (f"untouched {side} level {price} holds {book.depth_at(side, price)}, "
                    f"the venue says {size}")
        # the best untouched level is among the best len(touched) + 1; usually the first few
        for depth in (4, len(touched) + 1):
            for level, _ in book.levels(side, depth):
                if level not in touched:
                    better = level > price if side is BookSide.BID else level < price
                    return (f"untouched {side} level {level} is better than {price}"
                            if better else None)
        return None
