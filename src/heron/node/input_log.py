"""The market events a paper run consumed, in order: what makes a restart exact.

A paper run is deterministic given its inputs (the kernel, the simulated venue and the
strategies do not read the wall clock), so instead of snapshotting strategy objects
heron logs the inputs: every market event is appended here *before* the engine sees
it. A restart replays the log through a fresh engine, which rebuilds orders,
positions, balances and strategy state exactly (whatever the strategy keeps in its
attributes) and regenerates the journal; then the run goes on live.

The warm-up bars a run fetched from the venue's history at its first start are logged
the same way, first, so a restart rebuilds the same indicators. So are the changes of the
feed's health (a stream going stale, reconnecting, resyncing, live again): they move the
trading state (the feed trigger), so a restart must meet them between the same market
events. Only changes are logged, not the feed's periodic reports.

Format: length-prefixed MessagePack frames ``[kind, slot, fields...]`` (the instrument
by its slot in the run's instrument list, not the whole object; a feed-health frame has
slot ``-1`` and the :class:`~heron.model.feed.FeedHealth` fields). Kinds only ever get
added: kind 7 (feed health) came with heron's feed trigger, so every older log reads as
it did, and a log holding a kind this heron does not know is refused by name. Appends go to the OS
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

from heron.errors import DataError
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
from heron.model.feed import FeedHealth, FeedState
from heron.model.instrument import Instrument

_LEN = struct.Struct("<I")
_TRADE, _QUOTE, _DELTA, _SNAPSHOT, _FUNDING, _MARK, _BAR, _HEALTH = range(8)
_SIDES = (BookSide.BID, BookSide.ASK)


def _fields(event: Any) -> tuple[int, list[Any]]:
    if isinstance(event, FeedHealth):
        return _HEALTH, [event.ts, event.venue, event.symbol, event.stream, event.state.value,
                         event.last_message_age_ns, event.messages, event.reconnects,
                         event.gaps, event.parse_errors, event.reason]
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


def _health(f: list[Any]) -> FeedHealth:
    return FeedHealth(ts=f[0], venue=f[1], symbol=f[2], stream=f[3], state=FeedState(f[4]),
                      last_message_age_ns=f[5], messages=f[6], reconnects=f[7], gaps=f[8],
                      parse_errors=f[9], reason=f[10])


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
        #: the last feed state logged per (symbol, stream): what a change is judged against
        self.feed_states: dict[tuple[str, str], FeedState] = {}

    def append(self, event: Any) -> None:
        kind, fields = _fields(event)
        if kind == _HEALTH:
            slot = -1
            self.feed_states[(event.symbol, event.stream)] = event.state
        else:
            slot = self._slots[event.instrument.id]
        payload = self._encoder.encode([kind, slot, *fields])
        self._file.write(_LEN.pack(len(payload)) + payload)
        self.appended += 1

    def health_changed(self, health: FeedHealth) -> bool:
        """Whether ``health`` is a new state for its stream (an input to log), not the
        feed's periodic report of the state logged last."""
        return self.feed_states.get((health.symbol, health.stream)) is not health.state

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
            if kind == _HEALTH:
                health = _health(fields)
                self.feed_states[(health.symbol, health.stream)] = health.state
                yield health
            elif 0 <= kind < _HEALTH:
                yield _event(kind, self.instruments[slot], fields)
            else:
                raise DataError(f"{self.path}: an entry of kind {kind}, written by a newer "
                                "heron; run this state with that heron or a later one")


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
