"""Replay: many time-sorted series merged into one stream, in bounded memory.

Each source (one instrument's trades, another's book deltas, ...) yields polars frames
in ``ts_event`` order, a batch at a time (:meth:`Catalog.iter_batches`). The merge is a
k-way merge over the sources' heads that emits **runs**: the longest slice of the
leading source that comes before every other source's next row. Runs keep the merge's
Python work per batch, not per row, while the order stays exact.

Order: by ``ts_event``; at equal timestamps by the sources' rank (their position in
the list given), and within a source by its own storage order (``sequence``). Callers
choose the rank so that a book is updated before the trade at the same time is seen
(:data:`KIND_RANK`). Memory holds one batch per source: bounded by
``sources * batch_rows`` rows, whatever the length of the data.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.data.catalog import Catalog
from heron.data.schemas import DataKind

#: at one timestamp: snapshots, then deltas, then quotes, trades, and the slower kinds
KIND_RANK: dict[DataKind, int] = {
    DataKind.BOOK_SNAPSHOTS: 0, DataKind.BOOK_DELTAS: 1, DataKind.QUOTES: 2,
    DataKind.TRADES: 3, DataKind.MARK: 4, DataKind.FUNDING: 5, DataKind.LIQUIDATIONS: 6,
    DataKind.BARS: 7,
}


@dataclass(frozen=True, slots=True)
class Selection:
    """One series of the catalog to replay."""

    venue: str
    symbol: str
    kind: DataKind


@dataclass(slots=True)
class _Head:
    """A source's current batch and how far into it the merge has got."""

    rank: int
    batches: Iterator[pl.DataFrame]
    frame: pl.DataFrame = field(default_factory=pl.DataFrame)
    ts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    pos: int = 0

    def load(self) -> bool:
        """Move to the next non-empty batch; False when the source is exhausted."""
        for frame in self.batches:
            if frame.height:
                self.frame, self.pos = frame, 0
                self.ts = frame["ts_event"].to_numpy()
                return True
        return False

    def key(self) -> tuple[int, int]:
        return int(self.ts[self.pos]), self.rank


def merge(sources: Sequence[Iterator[pl.DataFrame]]) -> Iterator[tuple[int, pl.DataFrame]]:
    """``(source index, run)`` in global ``(ts_event, source index)`` order.

    Each source must yield frames with a sorted ``ts_event`` column; a run is a slice
    of one frame, never empty.
    """
    heads = [_Head(rank, iter(src)) for rank, src in enumerate(sources)]
    heap = [(*head.key(), head.rank) for head in heads if head.load()]
    heapq.heapify(heap)
    while heap:
        _ts, rank, _ = heapq.heappop(heap)
        head = heads[rank]
        end = _run_end(head, heap[0] if heap else None)
        yield rank, head.frame.slice(head.pos, end - head.pos)
        head.pos = end
        if head.pos < head.frame.height or head.load():
            heapq.heappush(heap, (*head.key(), rank))


def _run_end(head: _Head, rival: tuple[int, int, int] | None) -> int:
    """End (exclusive) of the leading run: rows before the rival's next row."""
    if rival is None:
        return head.frame.height
    rival_ts, rival_rank, _ = rival
    # ties go to the lower rank: it takes the rows equal to the rival's time too
    if head.rank < rival_rank:
        end = int(np.searchsorted(head.ts, rival_ts, side="right"))
    else:
        end = int(np.searchsorted(head.ts, rival_ts, side="left"))
    return max(end, head.pos + 1)


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of the merged stream: each source's rows in it, and their merged order.

    ``frames[k]`` holds source ``k``'s rows of the window (possibly none); the ``n``-th
    event of the window is row ``rows[n]`` of ``frames[sources[n]]``.
    """

    frames: list[pl.DataFrame]
    sources: NDArray[np.int64]
    rows: NDArray[np.int64]


def merge_windows(sources: Sequence[Iterator[pl.DataFrame]]) -> Iterator[Window]:
    """The merged stream a window at a time, for sources that interleave finely.

    :func:`merge` emits one run per switch between sources, which costs a slice per event
    when trades and book updates alternate. Here every source gives, in one go, all its
    buffered rows before the *horizon* (the earliest last-timestamp among the buffered
    batches: no unread row can come before it), and one vectorised sort orders them.
    """
    heads = [_Head(rank, iter(src)) for rank, src in enumerate(sources)]
    live = [head for head in heads if head.load()]
    while live:
        horizon = min(int(head.ts[-1]) for head in live)
        cuts = [(head, max(head.pos, int(np.searchsorted(head.ts, horizon, side="left"))))
                for head in live]
        if all(cut == head.pos for head, cut in cuts):
            # everything buffered starts at the horizon: the lowest rank there goes first
            first = min((h for h in live if int(h.ts[h.pos]) == horizon), key=lambda h: h.rank)
            cuts = [(first, int(np.searchsorted(first.ts, horizon, side="right")))]
        yield _window(len(heads), cuts)
        live = [head for head in live if head.pos < head.frame.height or head.load()]


def _window(count: int, cuts: list[tuple[_Head, int]]) -> Window:
    frames = [pl.DataFrame() for _ in range(count)]
    ts_parts, src_parts, row_parts = [], [], []
    for head, cut in cuts:
        if cut <= head.pos:
            continue
        frames[head.rank] = head.frame.slice(head.pos, cut - head.pos)
        ts_parts.append(head.ts[head.pos:cut])
        src_parts.append(np.full(cut - head.pos, head.rank, dtype=np.int64))
        row_parts.append(np.arange(cut - head.pos, dtype=np.int64))
        head.pos = cut
    ts, src, row = (np.concatenate(p) for p in (ts_parts, src_parts, row_parts))
    order = np.lexsort((row, src, ts))
    return Window(frames, src[order], row[order])


def replay(catalog: Catalog, selections: Sequence[Selection], *, start_ns: int | None = None,
           end_ns: int | None = None, batch_rows: int = 65_536
           ) -> Iterator[tuple[Selection, pl.DataFrame]]:
    """Merge catalog series into one time-ordered stream of ``(selection, run)``.

    Sources are ranked by :data:`KIND_RANK`, then by the order given, so a book delta
    and a trade at the same nanosecond arrive delta first.
    """
    ordered = sorted(selections, key=lambda s: KIND_RANK[s.kind])
    sources = [catalog.iter_batches(s.venue, s.symbol, s.kind, start_ns, end_ns,
                                    batch_rows=batch_rows) for s in ordered]
    for index, run in merge(sources):
        yield ordered[index], run


def replay_windows(catalog: Catalog, selections: Sequence[Selection], *,
                   start_ns: int | None = None, end_ns: int | None = None,
                   batch_rows: int = 65_536) -> tuple[list[Selection], Iterator[Window]]:
    """:func:`replay` as windows (see :func:`merge_windows`); the selections come back in
    source order, the order ``Window.sources`` indexes."""
    ordered = sorted(selections, key=lambda s: KIND_RANK[s.kind])
    sources = [catalog.iter_batches(s.venue, s.symbol, s.kind, start_ns, end_ns,
                                    batch_rows=batch_rows) for s in ordered]
    return ordered, merge_windows(sources)
