"""Keeps one instrument's live book stream trustworthy: snapshot first, no holes after.

A book built from deltas is only right if it started from a snapshot and missed
nothing since. :class:`BookSync` sits between a venue parser and whoever consumes the
book events and enforces that, per venue message (the deltas up to ``is_last``):

* before a snapshot, deltas are held (venues whose socket sends only diffs: the REST
  snapshot is fetched and the held deltas replayed on top of it) or dropped (venues
  that send a snapshot on subscribe: it is on its way);
* after it, each message is judged by the venue's :class:`~heron.model.book.SequenceRule`:
  replays are dropped, a gap stops the stream until a new snapshot (``on_gap`` is told,
  and asks the venue for one) -- consumers never see a book with a hole in it.

Venues whose every book message is a whole snapshot (no rule) pass straight through.
"""

from __future__ import annotations

from collections.abc import Callable

from heron.model.book import SequenceRule, Verdict
from heron.model.data import BookDelta, BookSnapshot

_HOLD_LIMIT = 10_000  # messages held while a REST snapshot is on its way


class BookSync:
    """Sequence guard for one instrument's book messages."""

    __slots__ = ("_held", "_message", "dropped", "emit", "gaps", "hold_before_snapshot",
                 "last", "on_gap", "rule", "synced")

    def __init__(self, rule: SequenceRule | None, *, hold_before_snapshot: bool,
                 emit: Callable[[object], None], on_gap: Callable[[str], None]) -> None:
        self.rule = rule
        self.hold_before_snapshot = hold_before_snapshot
        self.emit = emit
        self.on_gap = on_gap
        self.synced = rule is None
        self.last = -1
        self.gaps = 0
        self.dropped = 0
        self._held: list[list[BookDelta]] = []
        self._message: list[BookDelta] = []

    def reset(self) -> None:
        """The connection dropped: nothing after it can be trusted until a new snapshot."""
        self.synced = self.rule is None
        self._held.clear()
        self._message.clear()

    def snapshot(self, snap: BookSnapshot) -> None:
        """A snapshot (from the socket or REST): emit it, then any held deltas after it."""
        self.emit(snap)
        self.last = snap.sequence
        self.synced = True
        self._message.clear()
        held, self._held = self._held, []
        for message in held:
            self._judge(message, after_snapshot=True)

    def delta(self, delta: BookDelta) -> None:
        """One level of a venue message; the message is judged at its ``is_last``."""
        self._message.append(delta)
        if delta.is_last:
            message, self._message = self._message, []
            self._judge(message)

    def _judge(self, message: list[BookDelta], *, after_snapshot: bool = False) -> None:
        rule = self.rule
        if rule is None or not self.synced:
            if rule is None:
                self._emit_all(message)
            elif self.hold_before_snapshot and len(self._held) < _HOLD_LIMIT:
                self._held.append(message)
            else:
                self.dropped += 1
            return
        head = message[0]
        first = head.sequence if head.first_sequence is None else head.first_sequence
        verdict = rule.check(self.last, first, head.sequence, head.prev_sequence)
        if verdict == Verdict.STALE:
            self.dropped += 1
            return
        if verdict == Verdict.GAP and not (after_snapshot and first <= self.last + 1):
            self.gaps += 1
            self.synced = False
            self._held.clear()
            if self.hold_before_snapshot:
                self._held.append(message)
            self.on_gap(f"book gap: last applied {self.last}, next message "
                        f"{first}..{head.sequence} (prev {head.prev_sequence})")
            return
        self.last = head.sequence
        self._emit_all(message)

    def _emit_all(self, message: list[BookDelta]) -> None:
        emit = self.emit
        for delta in message:
            emit(delta)
