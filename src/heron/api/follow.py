"""Following run journals: one reader per run, shared by every client that streams it.

A :class:`JournalFollower` reads a run's new journal rows by sequence number as the run
commits them, keeps the run's :class:`~heron.api.read_models.RunView` current, and
encodes each new record **once** into its SSE frame; the :class:`StreamHub` hands the
encoded :class:`Batch` to every interested client's bounded :class:`Subscriber` queue.

* SQLite journals: the hub checks every follower's file every 10 ms without a lock or a
  query (:meth:`~heron.api.journal_rows.SqliteRows.probe`), and a follower reads new
  rows when its file changed, and at least every 100 ms while the run is unsealed.
* PostgreSQL journals: ``LISTEN heron_journal`` wakes the follower of the run named by
  the notification (one listening connection per database), plus a poll every second.

A client that falls more than its queue's bound behind is dropped (its stream ends; an
EventSource reconnects with ``Last-Event-ID`` and resumes from the journal with no gap),
so one slow reader never holds up the others or the follower. Older records come from
the journal in chunks of :data:`CHUNK` sequence numbers, encoded once and cached, so
fifty clients replaying a run from seq 1 read and encode it about once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from heron.api.journal_rows import PgListener, Row, RowSource, open_rows
from heron.api.read_models import RunView
from heron.api.record_json import RecordEncoder
from heron.core.journal import decode_record

T = TypeVar("T")
log = logging.getLogger("heron.api")

#: sequence numbers per cached history chunk
CHUNK = 1024
#: rows read per query while following
READ_ROWS = 2000
#: complete history chunks kept per run
CACHED_CHUNKS = 32
PROBE_S = 0.010
REREAD_S = 0.100
PG_REREAD_S = 1.0
SEALED_PROBE_TICKS = 100


def record_frame(seq: int, data: bytes) -> bytes:
    """The SSE frame of one record on a per-run stream."""
    return b"event: record\nid: %d\ndata: %b\n\n" % (seq, data)


@dataclass(frozen=True, slots=True)
class Batch:
    """Records of one run with contiguous sequence numbers ``first..last``, as SSE frames
    laid end to end (``offsets[i]`` is where record ``first + i`` starts)."""

    run_id: str
    first: int
    frames: bytes
    offsets: tuple[int, ...]

    @property
    def last(self) -> int:
        return self.first + len(self.offsets) - 2

    def frames_after(self, seq: int) -> bytes:
        """The frames of the records after ``seq`` (all of them when ``seq < first``)."""
        skip = seq - self.first + 1
        if skip <= 0:
            return self.frames
        return self.frames[self.offsets[skip]:] if skip < len(self.offsets) - 1 else b""

    def records_after(self, seq: int) -> list[tuple[int, bytes]]:
        """``(seq, data JSON)`` of the records after ``seq``."""
        out = []
        for i in range(max(seq - self.first + 1, 0), len(self.offsets) - 1):
            frame = self.frames[self.offsets[i]:self.offsets[i + 1]]
            out.append((self.first + i, frame[frame.index(b"data: ") + 6:-2]))
        return out


def build_batches(run_id: str, encoder: RecordEncoder, view: RunView | None,
                  rows: list[Row], encode: bool, fresh_after: int = 0) -> list[Batch]:
    """Decode ``rows`` once: apply them to ``view`` and encode the ones after
    ``fresh_after`` into batches (a gap in the sequence numbers starts a new batch)."""
    batches: list[Batch] = []
    frames: list[bytes] = []
    offsets = [0]
    first = expected = 0
    for seq, _ts, _type, payload in rows:
        record = decode_record(payload)
        if view is not None:
            view.apply(seq, record)
        if not encode or seq <= fresh_after:
            continue
        if seq != expected and frames:
            batches.append(Batch(run_id, first, b"".join(frames), tuple(offsets)))
            frames, offsets = [], [0]
        if not frames:
            first = seq
        frame = record_frame(seq, encoder.event_json(seq, record))
        frames.append(frame)
        offsets.append(offsets[-1] + len(frame))
        expected = seq + 1
    if frames:
        batches.append(Batch(run_id, first, b"".join(frames), tuple(offsets)))
    return batches


@dataclass(frozen=True, slots=True)
class Advanced:
    """The run's journal reached ``seq`` without the records being encoded for this
    client (it subscribed meanwhile): it reads them from the history."""

    run_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Notice:
    """A ready-made SSE frame (``event: status`` or ``event: run``) about ``run_id``."""

    run_id: str
    frame: bytes


Item = Batch | Advanced | Notice


class Subscriber:
    """One client's queue: bounded in records, dropped (never blocking) when full."""

    def __init__(self, limit: int, runs: set[str] | None) -> None:
        self.runs = runs  # None: every run (the all-runs stream)
        self._items: deque[Item] = deque()
        self._queued = 0
        self._limit = limit
        self._wake = asyncio.Event()
        self.dropped = False

    def wants(self, run_id: str) -> bool:
        return self.runs is None or run_id in self.runs

    def push(self, item: Item) -> None:
        if self.dropped:
            return
        weight = len(item.offsets) - 1 if isinstance(item, Batch) else 1
        if self._queued + weight > self._limit:
            self.dropped = True  # the stream ends; the client resumes from the journal
            self._items.clear()
        else:
            self._items.append(item)
            self._queued += weight
        self._wake.set()

    async def take(self) -> list[Item]:
        """What is queued (waiting for something); empty once dropped."""
        while not self._items and not self.dropped:
            self._wake.clear()
            await self._wake.wait()
        items = list(self._items)
        self._items.clear()
        self._queued = 0
        return [] if self.dropped else items


class JournalFollower:
    """Reads one run's journal as it grows; the only reader of it in the server."""

    def __init__(self, run_id: str, source: RowSource, hub: StreamHub) -> None:
        self.run_id = run_id
        self.source = source
        self.hub = hub
        self.last_seq = 0
        self.sealed = False
        self.encoder: RecordEncoder | None = None
        self.view: RunView | None = None
        self.subscribers: set[Subscriber] = set()
        self.wake = asyncio.Event()
        self.last_read = 0.0
        self._started = asyncio.Event()
        self._lock = asyncio.Lock()  # one reader of the journal at a time
        self._chunks: OrderedDict[int, Batch | None] = OrderedDict()
        self._loading: dict[int, asyncio.Future[Batch | None]] = {}
        self._sealed_checked = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.last_seq = await self.hub.run(self.source.last_seq)
        self.sealed = await self.hub.run(self.source.sealed)
        self._task = asyncio.get_running_loop().create_task(self._follow())
        self._started.set()

    async def ready(self) -> None:
        await self._started.wait()

    async def close(self) -> None:
        await _cancel(self._task)
        await self.hub.run(self.source.close)

    async def _follow(self) -> None:
        while True:
            timeout = PG_REREAD_S if self.source.kind == "postgresql" and not self.sealed \
                else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            try:
                await self.poll()
            except Exception:  # a follower must outlive one bad read
                log.exception("following run %s failed; retrying", self.run_id)
                await asyncio.sleep(1.0)

    def get_encoder(self) -> RecordEncoder | None:
        if self.encoder is None:
            header = self.source.header()
            if header is not None:
                self.encoder = RecordEncoder(self.run_id, header)
        return self.encoder

    def _advance(self, encode: bool) -> tuple[int, int, list[Batch]]:
        """Read and digest the next rows (on a worker thread): (rows read, last seq read,
        batches of the records new to the stream). A view that lags the follower (built
        while a paper journal was being rebuilt, so shorter) is caught up first."""
        view = self.view
        after = self.last_seq if view is None else min(self.last_seq, view.last_seq)
        rows = self.source.read(after, READ_ROWS, wait=False)
        encoder = self.get_encoder() if rows else None
        if not rows or encoder is None:
            return 0, self.last_seq, []
        last = max(self.last_seq, rows[-1][0])
        if view is None:
            return len(rows), last, build_batches(self.run_id, encoder, None, rows, encode,
                                                  self.last_seq) if encode else []
        with view.lock:
            return len(rows), last, build_batches(self.run_id, encoder, view, rows, encode,
                                                  self.last_seq)

    async def poll(self) -> None:
        """Read what the run committed since the last poll and hand it out."""
        async with self._lock:
            while True:
                self.last_read = time.monotonic()
                encode = self.hub.listening(self.run_id)
                count, last, batches = await self.hub.run(self._advance, encode)
                if not count:
                    await self._check_sealed()
                    return
                if last > self.last_seq:
                    self.last_seq = last
                    self.hub.publish(self.run_id, batches, last)
                if count < READ_ROWS:
                    return

    async def _check_sealed(self) -> None:
        now = time.monotonic()
        if now - self._sealed_checked >= 1.0:
            self._sealed_checked = now
            self.sealed = await self.hub.run(self.source.sealed)

    async def get_view(self) -> RunView | None:
        """The run's view, replayed from the journal on first use; ``None`` while the run
        has no journal yet."""
        await self.ready()
        if self.view is None:
            async with self._lock:
                if self.view is None:
                    self.view = await self.hub.run(self._build_view)
        return self.view

    def _build_view(self) -> RunView | None:
        header = self.source.header()
        if header is None:
            return None
        view = RunView(self.run_id, header)
        after = 0
        while rows := self.source.read(after, 5000):
            for seq, _ts, _type, payload in rows:
                view.apply(seq, decode_record(payload))
            after = rows[-1][0]
        return view

    # -- history -----------------------------------------------------------------------
    async def history(self, after: int, upto: int) -> AsyncIterator[Batch]:
        """The records ``after < seq <= upto`` from the journal, in batches."""
        k = after // CHUNK
        while k * CHUNK < upto:
            batch = await self._chunk(k, upto)
            if batch is not None and batch.last > after and batch.first <= upto:
                yield _clip(batch, upto)
            k += 1

    async def _chunk(self, k: int, upto: int) -> Batch | None:
        if (k + 1) * CHUNK > self.last_seq:  # the open end: read it, do not cache it
            return await self.hub.run(self._load, k * CHUNK, min(upto, (k + 1) * CHUNK))
        if k in self._chunks:
            self._chunks.move_to_end(k)
            return self._chunks[k]
        pending = self._loading.get(k)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Batch | None] = asyncio.get_running_loop().create_future()
        self._loading[k] = future
        try:
            batch = await self.hub.run(self._load, k * CHUNK, (k + 1) * CHUNK)
            future.set_result(batch)
        except BaseException as exc:
            future.set_exception(exc)
            raise
        finally:
            del self._loading[k]
        if batch is not None and (batch.first, batch.last) == (k * CHUNK + 1, (k + 1) * CHUNK):
            self._chunks[k] = batch  # only a whole chunk (not one read mid-rebuild)
            if len(self._chunks) > CACHED_CHUNKS:
                self._chunks.popitem(last=False)
        return batch

    def _load(self, after: int, upto: int) -> Batch | None:
        encoder = self.get_encoder()
        rows = self.source.read(after, upto - after) if encoder is not None else []
        if encoder is None or not rows:
            return None
        batches = build_batches(self.run_id, encoder, None, rows, True)
        return batches[-1] if len(batches) == 1 else _join(batches)


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait for it; whatever it died of is logged, not raised (closing
    the server must close every follower)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("a journal task had failed")


def _clip(batch: Batch, upto: int) -> Batch:
    if batch.last <= upto:
        return batch
    n = upto - batch.first + 1
    return Batch(batch.run_id, batch.first, batch.frames[:batch.offsets[n]],
                 batch.offsets[:n + 1])


def _join(batches: list[Batch]) -> Batch | None:
    """A chunk with a gap (a damaged journal): keep its last contiguous part."""
    return batches[-1] if batches else None


class StreamHub:
    """The followers of every run being streamed or viewed, and the clients on them."""

    def __init__(self, locate: Callable[[str], tuple[str, str | None]], *,
                 queue_limit: int = 50_000) -> None:
        self._locate = locate
        self.queue_limit = queue_limit
        self.followers: dict[str, JournalFollower] = {}
        self.everyone: set[Subscriber] = set()  # the all-runs streams
        self._listeners: dict[str, PgListener] = {}
        self._ticker: asyncio.Task[None] | None = None
        #: journal reads and replays: their own threads, so a burst of history reads
        #: never waits behind request handlers (or the other way round)
        self._executor = ThreadPoolExecutor(8, thread_name_prefix="heron-journal-read")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a journal-read thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def follower(self, run_id: str) -> JournalFollower:
        """The run's follower, started on first use."""
        found = self.followers.get(run_id)
        if found is not None:
            await found.ready()
            return found
        location, journal_run = await self.run(self._locate, run_id)
        source = await self.run(open_rows, location, journal_run)
        found = self.followers.get(run_id)  # another request made it meanwhile?
        if found is not None:
            await self.run(source.close)
        else:  # no await between the check and the store: one follower per run
            found = JournalFollower(run_id, source, self)
            self.followers[run_id] = found
            self._watch(found, location)
            await found.start()
            for sub in self.everyone:  # a run they have not seen yet starts at seq 1
                sub.push(Advanced(run_id, found.last_seq))
        await found.ready()
        return found

    def _watch(self, follower: JournalFollower, location: str) -> None:
        if follower.source.kind == "postgresql":
            listener = self._listeners.get(location)
            if listener is None:
                listener = PgListener(location, self._notified)
                self._listeners[location] = listener
                listener.start()
        elif self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._probe())

    def _notified(self, journal_run: str | None) -> None:
        for follower in self.followers.values():
            source: Any = follower.source
            if follower.source.kind == "postgresql" and (
                    journal_run is None or source.run_id == journal_run):
                follower.wake.set()

    async def _probe(self) -> None:
        """Wake each SQLite follower whose file changed (and the unsealed ones every
        100 ms, in case a change went unseen)."""
        tick = 0
        while True:
            await asyncio.sleep(PROBE_S)
            tick += 1
            now = time.monotonic()
            for follower in list(self.followers.values()):
                source: Any = follower.source
                if source.kind != "sqlite" or (follower.sealed and tick % SEALED_PROBE_TICKS):
                    continue
                try:
                    changed = source.probe()
                except OSError as exc:  # the ticker serves every run: never let it die
                    log.warning("cannot check journal %s: %s", source.path, exc)
                    changed = True
                if changed or (not follower.sealed and now - follower.last_read >= REREAD_S):
                    follower.wake.set()

    def listening(self, run_id: str) -> bool:
        follower = self.followers.get(run_id)
        return bool(self.everyone or (follower is not None and follower.subscribers))

    def publish(self, run_id: str, batches: list[Batch], last_seq: int) -> None:
        follower = self.followers[run_id]
        targets = [*follower.subscribers, *self.everyone]
        for sub in targets:
            for batch in batches:
                sub.push(batch)
            if not batches:
                sub.push(Advanced(run_id, last_seq))

    def notify(self, run_id: str, frame: bytes) -> None:
        """An ``event: status`` or ``event: run`` frame to everyone who streams the run."""
        follower = self.followers.get(run_id)
        subs = [*(follower.subscribers if follower is not None else ()), *self.everyone]
        for sub in subs:
            sub.push(Notice(run_id, frame))

    def subscribe(self, runs: set[str] | None) -> Subscriber:
        """A new client queue on ``runs`` (followers started already), or on every run."""
        sub = Subscriber(self.queue_limit, runs)
        if runs is None:
            self.everyone.add(sub)
        for run_id in runs or ():
            self.followers[run_id].subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.everyone.discard(sub)
        for run_id in sub.runs or ():
            follower = self.followers.get(run_id)
            if follower is not None:
                follower.subscribers.discard(sub)

    async def close(self) -> None:
        await _cancel(self._ticker)
        self._ticker = None
        for listener in self._listeners.values():
            await listener.close()
        for follower in self.followers.values():
            await follower.close()
        self.followers.clear()
        self._listeners.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
