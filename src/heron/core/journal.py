"""The journal: every command and event of a run, in order, with a sequence number.

Records are ``msgspec`` structs (:mod:`heron.model.events`) encoded as MessagePack.
The journal keeps a running SHA-256 over the payloads of all records in sequence order
(MessagePack is self-delimiting, so the concatenation is unambiguous), so
two runs can be compared by one hash, and a file whose rows do not hash to the value
in its header is known to be truncated or edited.

On disk it is a SQLite database (:mod:`heron.core.journal_store`, read back and
verified by its ``JournalReader``).

Rows are inserted in batches (one transaction per ``batch_size`` records) so the journal
never becomes the bottleneck of a backtest. A backtest journal is written to a temporary
file beside the target and renamed into place on :meth:`JournalWriter.close`: it exists
whole or not at all. Market data is never journaled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from heron.model.events import JournalRecord, Record

if TYPE_CHECKING:
    from heron.core.journal_store import JournalStore

APP = "heron-journal"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"

#: schema_version -> function upgrading a connection from that version to the next.
MIGRATIONS: dict[int, Any] = {}

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(JournalRecord)


def decode_record(payload: bytes) -> Record:
    """One journal row's payload back into its command or event."""
    record: Record = _decoder.decode(payload)
    return record


class JournalWriter:
    """Appends records; keeps them in memory, and on disk when given a path."""

    def __init__(self, path: str | Path | None, header: dict[str, Any], *,
                 batch_size: int = 20_000, keep: bool = True, in_place: bool = False) -> None:
        self.header = header
        self.seq = 0
        self.records: list[Record] = []
        self._keep = keep
        self._hasher = hashlib.sha256()
        self._unhashed: list[bytes] = []  # payloads not yet fed to the hasher
        self._pending: list[dict[str, Any]] = []
        self._batch = batch_size
        self._target = Path(path) if path is not None else None
        self._store: JournalStore | None = None
        if self._target is not None:
            from heron.core.journal_store import JournalStore

            # in place (paper and live runs): the file is the run's record while it runs,
            # committed batch by batch; a backtest's appears whole when sealed
            self._tmp = self._target if in_place else self._target.with_name(
                f".{self._target.name}.{os.getpid()}.tmp")
            self._tmp.unlink(missing_ok=True)
            self._store = JournalStore(self._tmp, header)

    def append(self, record: Record) -> int:
        self.seq += 1
        payload = _encoder.encode(record)
        unhashed = self._unhashed
        unhashed.append(payload)
        if len(unhashed) >= 8192:
            self._hash_pending()
        if self._keep:
            self.records.append(record)
        if self._store is not None:
            self._pending.append({"seq": self.seq, "ts": record.ts_event,
                                  "type": type(record).__name__, "payload": payload})
            if len(self._pending) >= self._batch:
                self.flush()
        return self.seq

    def _hash_pending(self) -> None:
        """Feed pending payloads to the hasher in one call (cheaper than one per record)."""
        self._hasher.update(b"".join(self._unhashed))
        self._unhashed.clear()

    @property
    def sha256(self) -> str:
        self._hash_pending()
        return self._hasher.hexdigest()

    def flush(self) -> None:
        if self._store is not None and self._pending:
            self._store.insert(self._pending)
            self._pending = []

    def close(self) -> str:
        """Seal the journal (count + hash in ``meta``) and move it into place."""
        if self._store is not None and self._target is not None:
            self.flush()
            self._store.write_meta({"record_count": str(self.seq), "sha256": self.sha256})
            self._store.close()
            self._store = None
            os.replace(self._tmp, self._target)
        return self.sha256

    def abort(self) -> None:
        """Drop a journal that will not be finished (the run failed); an in-place journal
        keeps what it committed (a resumable run rebuilds it)."""
        if self._store is not None:
            if self._tmp == self._target:
                self.flush()
            self._store.close()
            self._store = None
            if self._tmp != self._target:
                self._tmp.unlink(missing_ok=True)
