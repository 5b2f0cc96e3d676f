"""The journal: every command and event of a run, in order, with a sequence number.

Records are ``msgspec`` structs (:mod:`heron.model.events`) encoded as MessagePack.
The journal keeps a running SHA-256 over the payloads of all records in sequence order
(MessagePack is self-delimiting, so the concatenation is unambiguous), so
two runs can be compared by one hash, and a file whose rows do not hash to the value
in its header is known to be truncated or edited.

On disk it is a database (:mod:`heron.core.journal_store`, schema in
:mod:`heron.core.db`): a SQLite file by default, or a PostgreSQL database holding many
runs when the location is a ``postgresql://`` URL; read back and verified by its
``JournalReader``.

Rows are inserted in batches (one transaction per ``batch_size`` records) so the journal
never becomes the bottleneck of a backtest. A backtest journal is written to a temporary
file beside the target and renamed into place on :meth:`JournalWriter.close`: it exists
whole or not at all. Market data is never journaled.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections import deque
from collections.abc import MutableSequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from heron.model.events import JournalRecord, Record

if TYPE_CHECKING:
    from heron.core.journal_store import JournalStore

APP = "heron-journal"
#: the database schema this heron writes (heron.core.db; older ones upgrade at open)
SCHEMA_VERSION = 2
SQLITE_MAGIC = b"SQLite format 3\x00"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(JournalRecord)


def decode_record(payload: bytes) -> Record:
    """One journal row's payload back into its command or event."""
    record: Record = _decoder.decode(payload)
    return record


class JournalWriter:
    """Appends records; keeps them in memory, and on disk when given a path."""

    def __init__(self, path: str | Path | None, header: dict[str, Any], *,
                 batch_size: int = 20_000, keep: bool = True, in_place: bool = False,
                 run_id: str | None = None) -> None:
        self.header = header
        self.seq = 0
        self.records: MutableSequence[Record] = []
        #: keep records in memory (a backtest's results and a restart's check read them
        #: back); ``False`` keeps none. :meth:`retain` bounds them to the latest ones.
        self.keep = keep
        self._writer: ThreadPoolExecutor | None = None  # one worker: batches stay in order
        self._hasher = hashlib.sha256()
        #: records appended but not yet encoded: encoding waits for the next flush, hash
        #: or full batch, so an order's path pays a list append, not a MessagePack encode
        #: and a row (records are frozen structs of scalars: later is the same bytes)
        self._fresh: list[Record] = []
        self._pending: list[dict[str, Any]] = []  # encoded rows not yet in the store
        self._batch = batch_size
        self._encode_every = min(batch_size, 8192)
        self._target: Path | None = None
        self._tmp: Path | None = None
        self._store: JournalStore | None = None
        self.run_id = run_id or "main"
        if path is None:
            return
        from heron.core.journal_store import JournalStore

        if isinstance(path, str) and "://" in path and (in_place
                                                        or not path.startswith("sqlite:")):
            # a server database, or a shared SQLite one a paper/live run writes in place
            # (--db): rows committed as they come, the run sealed at close
            self.run_id = run_id or new_run_id(str(header.get("kind", "run")))
            self._store = JournalStore(path, self.run_id, header)
            self._in_place = in_place
            return
        target = Path(path[len("sqlite:///"):] if isinstance(path, str)
                      and path.startswith("sqlite:///") else path)
        self._target = target
        # in place (paper and live runs): the file is the run's record while it runs,
        # committed batch by batch; a backtest's appears whole when sealed
        self._tmp = target if in_place else target.with_name(
            f".{target.name}.{os.getpid()}.tmp")
        self._tmp.unlink(missing_ok=True)
        self._in_place = in_place
        self._store = JournalStore(self._tmp, self.run_id, header)

    def append(self, record: Record) -> int:
        self.seq += 1
        fresh = self._fresh
        fresh.append(record)
        if len(fresh) >= self._encode_every:
            self._encode()
            if len(self._pending) >= self._batch:
                self.flush()
        if self.keep:
            self.records.append(record)
        return self.seq

    def retain(self, latest: int) -> None:
        """From now on keep only the newest ``latest`` records in memory; the rest are
        on disk only.

        A paper or live run is left running for months: every record kept would grow its
        memory with every order. ``records`` becomes a ``deque`` with that length, so an
        append drops the oldest in O(1) and the bound is exact (no sawtooth)."""
        if latest < 1:
            raise ValueError(f"a journal retains at least 1 record in memory, not {latest}")
        self.records = deque(self.records, maxlen=latest)

    def _encode(self) -> None:
        """Encode the fresh records: their payloads feed the hash (one call for all) and,
        with a store, become the rows the next insert writes."""
        fresh = self._fresh
        if not fresh:
            return
        encode = _encoder.encode
        payloads = [encode(record) for record in fresh]
        self._hasher.update(b"".join(payloads))
        if self._store is not None:
            seq = self.seq - len(fresh)
            self._pending.extend(
                {"seq": seq + i, "ts": record.ts_event, "type": type(record).__name__,
                 "payload": payload}
                for i, (record, payload) in enumerate(zip(fresh, payloads, strict=True), 1))
        fresh.clear()

    @property
    def sha256(self) -> str:
        self._encode()
        return self._hasher.hexdigest()

    def flush(self) -> None:
        """Write the pending records now (after any batch still being written)."""
        self._encode()
        if self._store is None or not self._pending:
            return
        rows, self._pending = self._pending, []
        if self._writer is None:
            self._store.insert(rows)
        else:
            self._writer.submit(self._store.insert, rows).result()

    async def flush_off_loop(self) -> None:
        """Write the pending records on a worker thread, for runs on an event loop.

        A commit waits for the disk (10 ms and more), and on the loop that wait would
        hold up every order and market event behind it; on the worker the loop goes on
        while SQLite waits without the GIL. The records are encoded and taken from the
        writer before the await, so appends made meanwhile go into the next batch, and one
        worker writes batches in the order they were taken (a crash never leaves a gap).

        The write is shielded: a run stops by canceling its tasks, and a batch already
        taken from the writer must still reach the disk (before close()'s last batch, on
        the same worker) however the await that waits for it ends."""
        self._encode()
        if self._store is None or not self._pending:
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="heron-journal")
        rows, self._pending = self._pending, []
        written = asyncio.wrap_future(self._writer.submit(self._store.insert, rows))
        await asyncio.shield(written)

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def close(self) -> str:
        """Seal the journal (count + hash of the run) and, for a file, move it into place."""
        if self._store is not None:
            self.flush()
            self._stop_writer()
            self._store.seal(self.header, self.seq, self.sha256)
            self._store.close()
            self._store = None
            if self._tmp is not None and self._target is not None and self._tmp != self._target:
                os.replace(self._tmp, self._target)
        return self.sha256

    def adopt(self, run_id: str) -> None:
        """Write what is pending, then make this journal the whole of run ``run_id`` in
        its database (:meth:`JournalStore.adopt`); later records go under that id."""
        if self._store is None or self._tmp is not None:
            raise ValueError("only a journal in a shared database adopts a run id")
        self.flush()
        self._store.adopt(run_id)
        self.run_id = run_id

    def abort(self) -> None:
        """Drop a journal that will not be finished (the run failed); an in-place journal
        keeps what it committed (a resumable run rebuilds it)."""
        if self._store is None:
            return
        if self._in_place:
            self.flush()
        self._stop_writer()
        if not self._in_place and self._tmp is None:
            self._store.drop()
        self._store.close()
        self._store = None
        if self._tmp is not None and not self._in_place:
            self._tmp.unlink(missing_ok=True)


def new_run_id(kind: str) -> str:
    """A run id for a shared database: kind, UTC start time and 6 random hex digits."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{kind}-{stamp}-{secrets.token_hex(3)}"
