"""The market events a paper run consumed, in order: what makes a restart exact.

A paper run is deterministic given its inputs (the kernel, the simulated venue and the
strategies do not read the wall clock), so instead of snapshotting strategy objects
heron logs the inputs: every market event is appended here *before* the engine sees
it. A restart replays the log through a fresh engine, which rebuilds orders,
positions, balances and strategy state exactly (whatever the strategy keeps in its
attributes) and regenerates the journal; then the run goes on live.

The warm-up bars a run fetched from the venue's history at its first start are logged
the same way, first, so a restart rebuilds the same indicators.

Format: length-prefixed MessagePack frames ``[kind, slot, fields...]`` (the instrument
by its slot in the run's instrument list, not the whole object). Appends go to the OS
at every :meth:`InputLog.flush` (the run flushes once per event-loop turn), which
survives ``kill -9``; ``fsync`` every few seconds bounds what a power cut can take. A
frame cut short by a crash is found on open and truncated away.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from heron.model.data import (
    Bar,
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument

_LEN = struct.Struct("<I")
_TRADE, _QUOTE, _DELTA, _SNAPSHOT, _FUNDING, _MARK, _BAR = range(7)
_SIDES = (BookSide.BID, BookSide.ASK)


def _fields(event: Any) -> tuple[int, list[Any]]:
    if isinstance(event, Trade):
        return _TRADE, [event.ts_event, event.ts_recv, event.price, event.size, event.aggressor,
                        event.trade_id]
    if isinstance(event, Quote):
        return _QUOTE, [event.ts_event, event.ts_recv, event.bid, event.ask, event.bid_size,
                        event.ask_size, event.sequence]
    if isinstance(event, BookDelta):
        return _DELTA, [event.ts_event, event.ts_recv, event.side is BookSide.ASK, event.price,
                        event.size, event.sequence, event.is_last, event.first_sequence,
                        event.prev_sequence]
    if isinstance(event, BookSnapshot):
        return _SNAPSHOT, [event.ts_event, event.ts_recv, event.bids, event.asks,
                           event.sequence]
    if isinstance(event, FundingRate):
        return _FUNDING, [event.ts_event, event.ts_recv, event.rate]
    if isinstance(event, MarkPrice):
        return _MARK, [event.ts_event, event.ts_recv, event.mark, event.index]
    if isinstance(event, Bar):  # a warm-up bar from the venue's history
        return _BAR, [event.ts, event.index, event.open, event.high, event.low, event.close,
                      event.volume]
    raise TypeError(f"the input log does not hold {type(event).__name__}")


def _event(kind: int, inst: Instrument, f: list[Any]) -> Any:
    if kind == _TRADE:
        return Trade(inst, *f)
    if kind == _QUOTE:
        return Quote(inst, *f)
    if kind == _DELTA:
        return BookDelta(inst, f[0], f[1], _SIDES[f[2]], *f[3:])
    if kind == _SNAPSHOT:
        return BookSnapshot(inst, f[0], f[1], tuple(map(tuple, f[2])), tuple(map(tuple, f[3])),
                            f[4])
    if kind == _FUNDING:
        return FundingRate(inst, *f)
    if kind == _BAR:
        return Bar(inst, *f)
    return MarkPrice(inst, *f)


class InputLog:
    """Append-only log of one run's market inputs at ``path``."""

    def __init__(self, path: Path, instruments: list[Instrument]) -> None:
        self.path = path
        self.instruments = instruments
        self._slots = {inst.id: k for k, inst in enumerate(instruments)}
        self._encoder = msgspec.msgpack.Encoder()
        self.torn_bytes = _truncate_torn(path)
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 - held for the run
        self.appended = 0

    def append(self, event: Any) -> None:
        kind, fields = _fields(event)
        payload = self._encoder.encode([kind, self._slots[event.instrument.id], *fields])
        self._file.write(_LEN.pack(len(payload)) + payload)
        self.appended += 1

    def flush(self, *, sync: bool = False) -> None:
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.flush(sync=True)
            self._file.close()

    def replay(self) -> Iterator[Any]:
        """Every event logged so far (by this or earlier runs), in order."""
        self._file.flush()
        decoder = msgspec.msgpack.Decoder()
        with open(self.path, "rb") as f:
            data = f.read()
        pos, end = 0, len(data)
        while pos + 4 <= end:
            (size,) = _LEN.unpack_from(data, pos)
            pos += 4
            kind, slot, *fields = decoder.decode(data[pos:pos + size])
            pos += size
            yield _event(kind, self.instruments[slot], fields)


def _truncate_torn(path: Path) -> int:
    """Cut a frame left half-written by a crash; returns the bytes removed."""
    if not path.exists():
        return 0
    with open(path, "r+b") as f:
        data = f.read()
        pos, end = 0, len(data)
        while pos + 4 <= end:
            (size,) = _LEN.unpack_from(data, pos)
            if pos + 4 + size > end:
                break
            pos += 4 + size
        if pos != end:
            f.truncate(pos)
        return end - pos
