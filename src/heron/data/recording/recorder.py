"""Live market events into the catalog, an hour at a time, without ever a torn file.

:class:`Recorder` is an ``emit`` for :func:`heron.data.feeds.live.run_feeds`. It buffers
events per (instrument, kind) and *flushes* them into the catalog:

* when an event's ``ts_recv`` falls in a later UTC hour than the buffered ones (and on
  :meth:`Recorder.tick`, so a quiet feed still closes its hour);
* when one buffer passes ``row_limit`` rows (that buffer alone; book deltas only at the
  end of a venue message, so a message never spans two flushes);
* on :meth:`Recorder.close`.

**Where an hour goes.** There is no hour file. The catalog holds one content-addressed
file per UTC day of ``ts_event`` per series, and a write *merges*: the day's rows and the
new ones are deduplicated, sorted, written as a new ``part-<hash>.parquet`` (staged under
a hidden name, fsynced, renamed in) and the old file deleted
(:mod:`heron.data.catalog_store`). So every flush of a day adds to that day's file and no flush can
overwrite another's rows; an hour whose events straddle midnight (by ``ts_event``) lands
in two days. The cost is that each flush rewrites the day so far of every series it
touches: for a busy L2 book that is up to a day of deltas read and written once an
hour (memory and time grow through the day; the writes run on a background thread so
the feed keeps reading). Each flush goes through :meth:`Catalog.write_many`, so it lands
whole or not at all across its series.

**Crashes.** A process killed at any point leaves the catalog readable: each day is its
old file or its new one (a kill inside the commit may leave both, and readers take the
larger, which holds every row of the other), plus at most hidden staged files that no
reader lists and the next write to that day deletes. Every flush that completed is kept;
only the events buffered since the last flush (at most an hour, or ``row_limit`` rows
of a series) are lost. Run a raw capture beside it to lose nothing.

**Rows** are those of :mod:`heron.data.event_frames`, the rows ``heron data import``
makes of the same frames (so a raw capture imported into the recording's catalog, to
fill the hour a crash lost, adds only what is missing), with two live-specific rules:

* funding: one row per funding time, the last rate announced for it, written once it
  is *settled*: the venue announced a later funding time, or the clock (:meth:`tick`,
  :meth:`close`) reached it. A rate still pending at :meth:`close` is a prediction and is
  left out (counted in :attr:`Recorder.unsettled`): the run that is recording when that
  funding time comes writes it, and two runs never write two versions of one funding
  time (which ``heron data check`` would report as a conflicting duplicate). A capture
  import keeps the last announcement in its file, prediction or not.
* liquidations are numbered across flushes, so a flush boundary between two at one
  time does not number both 0.

Health events are counted, never written; events of kinds the catalog does not hold
(open interest) are ignored. Book deltas of a venue message cut short by
the stop (``--count`` ends mid-message) are left out and counted in
:attr:`Recorder.incomplete`: the book is only consistent at a message's ``is_last``.

A flush that fails stops the recorder: :attr:`Recorder.error` says why, later events are
counted in :attr:`Recorder.dropped`, and :meth:`wait`/:meth:`close` raise it. A catalog
that holds the instrument on another tick or lot is found at the instrument's first
event, not an hour later. One recorder (one writer) per catalog.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import msgspec
import polars as pl

from heron.data import event_frames as frames
from heron.data.catalog import Catalog
from heron.data.schemas import SCHEMAS, DataKind
from heron.errors import HeronError, InvalidConfiguration
from heron.model.data import BookSnapshot, FundingRate
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument

__all__ = ["DEFAULT_ROW_LIMIT", "NS_PER_HOUR", "FlushReport", "Recorder"]

NS_PER_HOUR = 3_600 * 10**9
DEFAULT_ROW_LIMIT = 500_000
"""Rows one series may buffer before it is flushed early (about 100 MB of book deltas)."""

_FRAMES: dict[DataKind, Callable[[list[Any]], pl.DataFrame]] = {
    DataKind.TRADES: frames.trades_frame, DataKind.QUOTES: frames.quotes_frame,
    DataKind.BOOK_DELTAS: frames.deltas_frame, DataKind.BOOK_SNAPSHOTS: frames.snapshots_frame,
    DataKind.MARK: frames.marks_frame, DataKind.FUNDING: frames.funding_frame,
    DataKind.LIQUIDATIONS: frames.liquidations_frame,
}

_STREAM = {kind: kind.value for kind in DataKind} | {
    DataKind.BOOK_DELTAS: "book", DataKind.BOOK_SNAPSHOTS: "book"}  # as heron feed names them


class FlushReport(msgspec.Struct, frozen=True, kw_only=True):
    """One flush: why, when it finished (wall ns), what it wrote, how long it took."""

    reason: str  # "hour", "row limit", "stop"
    done_ns: int
    series: int
    rows: int
    rows_added: int
    seconds: float


@dataclass(slots=True)
class _Buffer:
    instrument: Instrument
    kind: DataKind
    events: list[Any] = field(default_factory=list)
    rows: int = 0


class Recorder:
    """Buffers heron events and writes them to ``catalog`` (see the module docstring)."""

    def __init__(self, catalog: Catalog, *, row_limit: int = DEFAULT_ROW_LIMIT) -> None:
        if row_limit < 1:
            raise InvalidConfiguration(f"row_limit {row_limit} must be at least 1")
        self.catalog = catalog
        self.row_limit = row_limit
        self.events: Counter[str] = Counter()  # market events by stream name
        self.health = 0
        self.dropped = 0      # events after a failed flush
        self.incomplete = 0   # book deltas of a message cut short by the stop
        self.unsettled = 0    # funding rates still predictions at the stop: not written
        self.flushes: list[FlushReport] = []
        self.rows_written: Counter[DataKind] = Counter()  # rows new to the catalog
        self._buffers: dict[tuple[str, DataKind], _Buffer] = {}
        self._hour: int | None = None
        self._funding: dict[str, FundingRate] = {}     # instrument id -> pending rate
        self._settled: dict[str, int] = {}             # instrument id -> last funding written
        self._ties = frames.TieCounter()  # liquidations' sequence, across flushes
        self._known: set[str] = set()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._pending: list[Future[None]] = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heron-recorder")
        self._closed = False

    # -- status ----------------------------------------------------------------------------
    @property
    def error(self) -> BaseException | None:
        """Why the recorder stopped writing, if it did."""
        return self._error

    @property
    def buffered(self) -> int:
        """Rows waiting for the next flush."""
        return sum(buffer.rows for buffer in self._buffers.values())

    @property
    def last_flush(self) -> FlushReport | None:
        with self._lock:
            return self.flushes[-1] if self.flushes else None

    # -- events ----------------------------------------------------------------------------
    def emit(self, event: object) -> None:
        """Take one event of a live feed (the ``emit`` of ``run_feeds``)."""
        kind = frames.KIND_OF.get(type(event)) or frames.kind_of(event)
        if kind is None:
            if isinstance(event, FeedHealth):
                self.health += 1
            return
        if self._error is not None or self._closed:
            self.dropped += 1
            return
        ev: Any = event
        hour = ev.ts_recv // NS_PER_HOUR
        if self._hour is None or hour > self._hour:
            if self._hour is not None:
                self.flush("hour")
            self._hour = hour
        self.events[_STREAM[kind]] += 1
        instrument: Instrument = ev.instrument
        if instrument.id not in self._known:
            self._known.add(instrument.id)
            self._submit(self._register, instrument)
        if kind is DataKind.FUNDING:
            self._fund(ev)
            return
        buffer = self._buffer(instrument, kind)
        if kind is DataKind.LIQUIDATIONS:
            ev = (self._ties.next(instrument.id, ev.ts_event), ev)
        buffer.events.append(ev)
        buffer.rows += _rows(event)
        if buffer.rows >= self.row_limit and (kind is not DataKind.BOOK_DELTAS or ev.is_last):
            self._flush_buffers([self._buffers.pop((instrument.id, kind))], "row limit")

    def _buffer(self, instrument: Instrument, kind: DataKind) -> _Buffer:
        buffer = self._buffers.get((instrument.id, kind))
        if buffer is None:
            buffer = self._buffers[(instrument.id, kind)] = _Buffer(instrument, kind)
        return buffer

    def _fund(self, rate: FundingRate) -> None:
        """Keep the latest rate per funding time; a later funding time settles the last.

        Announcements of a funding time already written (a venue restating it just after
        the fact) are ignored."""
        key = rate.instrument.id
        if rate.ts_event <= self._settled.get(key, -1):
            return  # a restatement of a funding time already written
        pending = self._funding.get(key)
        if pending is not None and rate.ts_event > pending.ts_event:
            self._settle(pending)
        self._funding[key] = rate

    def _settle(self, rate: FundingRate) -> None:
        buffer = self._buffer(rate.instrument, DataKind.FUNDING)
        buffer.events.append(rate)
        buffer.rows += 1
        self._settled[rate.instrument.id] = rate.ts_event

    def _settle_due(self, now: int) -> None:
        """Settle the pending funding times the clock has reached."""
        for key, rate in list(self._funding.items()):
            if rate.ts_event <= now:
                self._settle(rate)
                del self._funding[key]

    def tick(self, now_ns: int | None = None) -> None:
        """Settle funding times the clock has reached, and close the hour if the clock has
        left it, though no event said so (call it every second or so)."""
        now = time.time_ns() if now_ns is None else now_ns
        self._settle_due(now)
        if self._hour is not None and now // NS_PER_HOUR > self._hour:
            self.flush("hour")
            self._hour = now // NS_PER_HOUR

    # -- flushing ----------------------------------------------------------------------------
    def flush(self, reason: str = "flush") -> None:
        """Hand every buffer to the writer; it is written in the background (see :meth:`wait`)."""
        buffers = list(self._buffers.values())
        self._buffers = {}
        if buffers:
            self._flush_buffers(buffers, reason)

    def _flush_buffers(self, buffers: list[_Buffer], reason: str) -> None:
        self._submit(self._write, buffers, reason)

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._writer.submit(self._guarded, job, *args))

    def _guarded(self, job: Callable[..., None], *args: Any) -> None:
        if self._error is not None:
            return  # stopped: write nothing more after a failure
        try:
            job(*args)
        except OSError as exc:
            self._error = HeronError(
                f"recording stopped: writing to the catalog at {self.catalog.root} failed "
                f"({exc}); the rows of that flush are lost, earlier flushes are kept; free "
                "space or fix permissions, then start again")
        except BaseException as exc:
            self._error = exc

    def _register(self, instrument: Instrument) -> None:
        """Store the definition now, so a catalog on another grid fails at the start."""
        empty = pl.DataFrame(schema=SCHEMAS[DataKind.TRADES].schema)
        self.catalog.write_many([(instrument, DataKind.TRADES, empty)])

    def _write(self, buffers: list[_Buffer], reason: str) -> None:
        started = time.monotonic()
        items = [(b.instrument, b.kind, _FRAMES[b.kind](b.events)) for b in buffers]
        reports = self.catalog.write_many(items)
        report = FlushReport(reason=reason, done_ns=time.time_ns(), series=len(items),
                             rows=sum(frame.height for _, _, frame in items),
                             rows_added=sum(r.rows_added for r in reports),
                             seconds=time.monotonic() - started)
        with self._lock:
            self.flushes.append(report)
            for (_, kind, _), written in zip(items, reports, strict=True):
                self.rows_written[kind] += written.rows_added

    def wait(self) -> None:
        """Block until every flush handed over so far is written; raise a failure."""
        for future in list(self._pending):
            future.result()
        if self._error is not None:
            raise self._error

    def close(self, now_ns: int | None = None) -> None:
        """Write everything still buffered (funding settled by ``now_ns``, the clock by
        default), wait for the writer, stop it; raise a failure. Idempotent."""
        if self._closed:
            if self._error is not None:
                raise self._error
            return
        self._drop_cut_message()
        self._settle_due(time.time_ns() if now_ns is None else now_ns)
        self.unsettled = len(self._funding)
        self._funding.clear()
        self.flush("stop")
        self._closed = True
        try:
            self.wait()
        finally:
            self._writer.shutdown(wait=True)

    def _drop_cut_message(self) -> None:
        """Leave out book deltas after the last ``is_last``: a message cut by the stop."""
        for key, buffer in list(self._buffers.items()):
            if buffer.kind is not DataKind.BOOK_DELTAS:
                continue
            keep = len(buffer.events)
            while keep and not buffer.events[keep - 1].is_last:
                keep -= 1
            cut = len(buffer.events) - keep
            if cut:
                self.incomplete += cut
                del buffer.events[keep:]
                buffer.rows -= cut
                if not buffer.events:
                    del self._buffers[key]

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _rows(event: object) -> int:
    """Catalog rows an event becomes: a snapshot one per level, anything else one."""
    if isinstance(event, BookSnapshot):
        return len(event.bids) + len(event.asks)
    return 1
