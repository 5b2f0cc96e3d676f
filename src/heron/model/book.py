"""An L2 order book for one instrument, rebuilt from snapshots and per-level deltas.

A replay pushes tens of millions of deltas through :meth:`L2Book.apply_delta`, so the
book is laid out for that path, in pure Python:

* one ``dict`` per side maps price (ticks) to size (lots): a size change on an existing
  level (about 60% of the deltas in a real Binance USD-M capture) is one dict store;
* one plain ``list`` of *keys* per side, kept sorted with :mod:`bisect`, orders the
  levels. The key is the price for bids and minus the price for asks, so on both sides
  the best level is the **last** element. Adding or removing a level costs a binary
  search plus a C ``memmove`` of the levels *better* than it: near the top, where
  levels come and go most, that is a few elements; 5,000 levels deep it is about
  0.6 us. In exchange the best level is always known, ``levels()`` is a slice and
  ``walk()`` a loop, with no sort or rescan.

The alternative measured (a dict per side and a lazily recomputed best) is O(1) for
every non-best level and about 25% faster on the raw delta stream, but removing the
best level means a ``max()`` over the side when it is next read (about 46 us at 5,000
levels) and ``levels()``/``walk()`` need a sort or a heap on every call.

The book never raises on bad data, because a live feed must keep going and a replay
must be able to tell what happened. It counts problems instead: sequence gaps (and sets
:attr:`L2Book.needs_snapshot`: only a fresh snapshot makes the book trustworthy again),
stale messages (dropped), negative sizes (ignored) and messages after which the book
was crossed or locked (kept as they are: a crossed book says the data is wrong, and
hiding that by deleting levels would make a backtest look better than it is).

Sequence numbers differ between venues; a :class:`SequenceRule` says what continuity
means for one venue. The book asks it once per venue message, at the message's first
delta, and checks crossing once, at its last (``BookDelta.is_last``): in between, the
message is half applied and the book may legitimately look crossed.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from decimal import Decimal
from typing import NamedTuple, Protocol

from heron.model.data import BookDelta, BookSide, BookSnapshot
from heron.model.fixed import EXACT
from heron.model.instrument import Instrument

_BID = BookSide.BID  # a module global: cheaper than the enum attribute on the hot path
# Where the book is in the venue's message stream (one int: one attribute read per delta).
_BETWEEN = 0    # the next delta opens a message
_APPLYING = 1   # inside a message that follows on (or opened a gap): apply its deltas
_SKIPPING = 2   # inside a stale message: drop its deltas


class Verdict(enum.IntEnum):
    """What a :class:`SequenceRule` says about the next venue message."""

    APPLY = 0  # follows on from the book: apply it
    STALE = 1  # already in the book (a replay, or older than the snapshot): drop it
    GAP = 2    # updates were missed: apply it, but the book needs a new snapshot


# Module globals: reading an enum member off its class costs ~50 ns on Python 3.11, and
# the rules run once per venue message.
_APPLY, _STALE, _GAP = Verdict.APPLY, Verdict.STALE, Verdict.GAP


class SequenceRule(Protocol):
    """Decides whether a venue message follows on from what the book has applied.

    ``last`` is the sequence of the last message applied (or of the snapshot);
    ``first``/``final`` the first and last update ids the message covers (equal when the
    venue gives one number per message) and ``prev`` the id the venue says preceded it.
    """

    def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict: ...


class ContiguousSequence:
    """Ids leave no hole: a message's first id is at most one past the last applied.

    Fits venues with a plain per-message counter and Binance spot's ``U``/``u`` (where
    the first event after a snapshot may straddle ``lastUpdateId + 1``; overlapping ids
    are harmless because a delta sets a level's total size, it does not add to it).
    """

    __slots__ = ()

    def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict:
        if final <= last:
            return _STALE
        return _APPLY if first <= last + 1 else _GAP


class LinkedSequence:
    """Each message names its predecessor: ``prev`` must be the last id applied.

    Binance USD-M (``pu`` must equal the previous ``u``; ids are not contiguous) and
    OKX (``prevSeqId``). A message whose id range straddles the last id applied also
    follows on: that is how the first message after a snapshot is recognised (Binance
    USD-M: ``U <= lastUpdateId <= u``). A message without ``prev`` cannot prove
    continuity and counts as a gap unless it straddles. The link is checked first: OKX
    restarts its ids lower after maintenance, and the message that does so names the
    last id as its predecessor (its own id being smaller, it would otherwise look stale).
    """

    __slots__ = ()

    def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict:
        if prev == last and prev is not None:
            return _APPLY  # linked to what was applied, even if ids went down (OKX reset)
        if final <= last:
            return _STALE
        return _APPLY if first <= last else _GAP


class IncreasingSequence:
    """Ids only increase, with holes allowed: replays are dropped, gaps never reported.

    For venues whose ids are not contiguous and carry no predecessor (or for data where
    the id is a timestamp); the book cannot detect a missed message there.
    """

    __slots__ = ()

    def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict:
        return _STALE if final <= last else _APPLY


class Walk(NamedTuple):
    """What a market order would get by consuming one side of the book.

    ``cost`` is the sum of ``price * size`` over the fills in tick-lots, exact (times
    ``instrument.unit_raw`` it is the notional at ``instrument.notional_precision``);
    ``worst_price`` is the last level touched, ``None`` when nothing filled.
    """

    filled: int
    cost: int
    levels: int
    worst_price: int | None


class L2Book:
    """Aggregated price levels of one instrument, with sequence and sanity tracking.

    Counters (read them; the book never raises on data): ``gaps``, ``stale_messages``,
    ``crossed_messages``, ``invalid_deltas``. ``needs_snapshot`` starts ``True`` and is
    cleared by :meth:`apply_snapshot`; a gap sets it again. Deltas that arrive before any
    snapshot are applied with no sequence check (there is nothing to check against).
    """

    __slots__ = (
        "_ask_keys", "_ask_sizes", "_bid_keys", "_bid_sizes", "_state",
        "crossed_messages", "gaps", "instrument", "invalid_deltas", "last_sequence",
        "needs_snapshot", "rule", "stale_messages",
    )

    def __init__(self, instrument: Instrument, rule: SequenceRule | None = None) -> None:
        self.instrument = instrument
        self.rule: SequenceRule = ContiguousSequence() if rule is None else rule
        self._bid_sizes: dict[int, int] = {}
        self._ask_sizes: dict[int, int] = {}
        self._bid_keys: list[int] = []  # bid prices, ascending: best bid last
        self._ask_keys: list[int] = []  # minus ask prices, ascending: best ask last
        self.last_sequence: int | None = None
        self.needs_snapshot = True
        self.gaps = 0
        self.stale_messages = 0
        self.crossed_messages = 0
        self.invalid_deltas = 0
        self._state = _BETWEEN

    # -- updates -------------------------------------------------------------------------
    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        """Replace every level with the snapshot's; zero or negative sizes are left out."""
        self._bid_sizes = {p: s for p, s in snapshot.bids if s > 0}
        self._ask_sizes = {p: s for p, s in snapshot.asks if s > 0}
        self._bid_keys = sorted(self._bid_sizes)
        self._ask_keys = sorted(-p for p in self._ask_sizes)
        self.invalid_deltas += sum(1 for _, s in snapshot.bids if s < 0)
        self.invalid_deltas += sum(1 for _, s in snapshot.asks if s < 0)
        self.last_sequence = snapshot.sequence
        self.needs_snapshot = False
        self._state = _BETWEEN  # a message cut short by a snapshot is superseded by it
        if self.is_crossed():
            self.crossed_messages += 1

    def apply_delta(self, delta: BookDelta) -> None:
        """Set one level; check sequence at a message's first delta, crossing at its last."""
        state = self._state
        if state == _BETWEEN:
            state = self._open_message(delta)
        if state == _APPLYING:
            price = delta.price
            size = delta.size
            if delta.side is _BID:
                sizes = self._bid_sizes
                keys = self._bid_keys
                key = price
            else:
                sizes = self._ask_sizes
                keys = self._ask_keys
                key = -price
            if size > 0:
                if price not in sizes:
                    insort(keys, key)
                sizes[price] = size
            elif size < 0:
                self.invalid_deltas += 1
            elif sizes.pop(price, 0):
                del keys[bisect_left(keys, key)]
        if delta.is_last:
            self._close_message(delta)

    def _open_message(self, delta: BookDelta) -> int:
        last = self.last_sequence
        if last is None:
            self._state = _APPLYING
            return _APPLYING
        first = delta.first_sequence
        verdict = self.rule.check(last, delta.sequence if first is None else first,
                                  delta.sequence, delta.prev_sequence)
        if verdict == _STALE:
            self.stale_messages += 1
            self._state = _SKIPPING
            return _SKIPPING
        if verdict == _GAP:
            self.gaps += 1
            self.needs_snapshot = True
        self._state = _APPLYING
        return _APPLYING

    def _close_message(self, delta: BookDelta) -> None:
        skipped = self._state == _SKIPPING
        self._state = _BETWEEN
        if skipped:
            return
        self.last_sequence = delta.sequence
        bids = self._bid_keys
        asks = self._ask_keys
        if bids and asks and bids[-1] >= -asks[-1]:
            self.crossed_messages += 1

    # -- queries -------------------------------------------------------------------------
    def best_bid(self) -> tuple[int, int] | None:
        """``(price, size)`` of the highest bid, or ``None`` on an empty side."""
        if not self._bid_keys:
            return None
        price = self._bid_keys[-1]
        return price, self._bid_sizes[price]

    def best_ask(self) -> tuple[int, int] | None:
        """``(price, size)`` of the lowest ask, or ``None`` on an empty side."""
        if not self._ask_keys:
            return None
        price = -self._ask_keys[-1]
        return price, self._ask_sizes[price]

    def spread(self) -> int | None:
        """Best ask minus best bid in ticks (zero or negative when crossed)."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return -self._ask_keys[-1] - self._bid_keys[-1]

    def mid_price(self) -> Decimal | None:
        """The exact mid as a ``Decimal`` (it can fall between ticks, so not an ``int``)."""
        if not self._bid_keys or not self._ask_keys:
            return None
        twice = self.instrument.price(self._bid_keys[-1] - self._ask_keys[-1])
        return EXACT.multiply(twice, Decimal(5)).scaleb(-1, EXACT)  # /2 without dividing

    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (crossed or locked)."""
        bids = self._bid_keys
        asks = self._ask_keys
        return bool(bids and asks and bids[-1] >= -asks[-1])

    def depth_at(self, side: BookSide, price: int) -> int:
        """Lots resting at ``price`` on ``side`` (0 when there is no level)."""
        sizes = self._bid_sizes if side is _BID else self._ask_sizes
        return sizes.get(price, 0)

    def level_count(self, side: BookSide) -> int:
        return len(self._bid_keys if side is _BID else self._ask_keys)

    def levels(self, side: BookSide, n: int | None = None) -> list[tuple[int, int]]:
        """The best ``n`` levels of ``side`` (all when ``None``) as ``(price, size)``."""
        if n is not None and n < 0:
            raise ValueError(f"levels: n must be >= 0, got {n}")
        keys = self._bid_keys if side is _BID else self._ask_keys
        top = keys[::-1] if n is None else keys[: -n - 1 if n < len(keys) else None: -1]
        if side is _BID:
            sizes = self._bid_sizes
            return [(p, sizes[p]) for p in top]
        sizes = self._ask_sizes
        return [(-k, sizes[-k]) for k in top]

    def walk(self, take_from: BookSide, lots: int) -> Walk:
        """Consume ``take_from`` best-first for ``lots``: what a market order would get.

        A buy takes from :attr:`BookSide.ASK`, a sell from :attr:`BookSide.BID`. Fills
        stop at ``lots`` or when the side runs out; the book is not changed.
        """
        bid = take_from is _BID
        keys = self._bid_keys if bid else self._ask_keys
        sizes = self._bid_sizes if bid else self._ask_sizes
        filled = cost = used = 0
        price: int | None = None
        for i in range(len(keys) - 1, -1, -1):
            if filled >= lots:
                break
            price = keys[i] if bid else -keys[i]
            take = min(sizes[price], lots - filled)
            filled += take
            cost += take * price
            used += 1
        return Walk(filled, cost, used, price)
