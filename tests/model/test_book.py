"""L2Book: hand-built books, sequence rules, real Binance replays and property tests.

The property tests hold the book against a reference model that is as plain as it can
be (a dict per side; best = ``max``/``min``; walks over ``sorted``), so a bug in the
book's sorted key lists cannot hide in a test that shares its layout.
"""

from __future__ import annotations

import csv
import functools
import gzip
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.book import (
    ContiguousSequence,
    IncreasingSequence,
    L2Book,
    LinkedSequence,
    SequenceRule,
    Verdict,
    Walk,
)
from heron.model.data import BookDelta, BookSide, BookSnapshot
from heron.model.instrument import Instrument

FAST = settings(max_examples=200, deadline=None)
BID, ASK = BookSide.BID, BookSide.ASK
INST = Instrument("TEST", price_increment=Decimal("0.1"), size_increment=Decimal("0.001"))
BTC = Instrument("BTCUSDT", venue="BINANCE", price_increment=Decimal("0.1"),
                 size_increment=Decimal("0.001"))
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"  # ../shared beside the repo
CSV_SNAPSHOT = DATA / "books/binance_usdm_BTCUSDT_depth_snapshot_2022-11-01.csv"
CSV_UPDATES = DATA / "books/binance_usdm_BTCUSDT_depth_updates_2022-11-01.csv"
WS_CAPTURE = DATA / "venues/binance_usdm/ws_capture_BTCUSDT_2024-08-08.txt.gz"

Levels = list[tuple[int, int]]


def delta(side: BookSide, price: int, size: int, seq: int = 1, *, last: bool = True,
          first: int | None = None, prev: int | None = None) -> BookDelta:
    return BookDelta(INST, 0, 0, side, price, size, seq, last, first, prev)


def snap(bids: Levels, asks: Levels, seq: int = 0) -> BookSnapshot:
    return BookSnapshot(INST, 0, 0, tuple(bids), tuple(asks), seq)


def book(bids: Levels, asks: Levels, seq: int = 0, rule: SequenceRule | None = None) -> L2Book:
    b = L2Book(INST, rule)
    b.apply_snapshot(snap(bids, asks, seq))
    return b


def sample() -> L2Book:
    """Bids 100x5, 99x3, 97x2; asks 102x1, 103x4, 110x10."""
    return book([(100, 5), (99, 3), (97, 2)], [(102, 1), (103, 4), (110, 10)])


# -- an empty book ----------------------------------------------------------------------------
def test_book_new_is_empty_and_needs_snapshot() -> None:
    b = L2Book(INST)
    assert (b.best_bid(), b.best_ask(), b.spread(), b.mid_price()) == (None, None, None, None)
    assert not b.is_crossed()
    assert b.needs_snapshot
    assert b.last_sequence is None
    assert b.levels(BID) == [] and b.levels(ASK, 3) == []
    assert b.walk(ASK, 5) == Walk(0, 0, 0, None)


def test_book_one_sided_has_no_spread_or_mid() -> None:
    b = book([(100, 1)], [])
    assert b.best_bid() == (100, 1)
    assert b.best_ask() is None
    assert b.spread() is None and b.mid_price() is None and not b.is_crossed()


# -- snapshots --------------------------------------------------------------------------------
def test_snapshot_sets_levels_sequence_and_clears_needs_snapshot() -> None:
    b = sample()
    assert b.best_bid() == (100, 5)
    assert b.best_ask() == (102, 1)
    assert b.level_count(BID) == 3 and b.level_count(ASK) == 3
    assert b.last_sequence == 0
    assert not b.needs_snapshot


def test_snapshot_zero_sizes_dropped_negative_counted_invalid() -> None:
    b = book([(100, 0), (99, 3), (98, -1)], [(102, 0), (103, 4)])
    assert b.levels(BID) == [(99, 3)]
    assert b.levels(ASK) == [(103, 4)]
    assert b.invalid_deltas == 1


def test_snapshot_crossed_is_counted_not_fixed() -> None:
    b = book([(103, 1)], [(102, 1)])
    assert b.is_crossed()
    assert b.crossed_messages == 1
    assert b.levels(BID) == [(103, 1)]


# -- deltas -----------------------------------------------------------------------------------
def test_delta_adds_updates_and_removes_levels() -> None:
    b = sample()
    b.apply_delta(delta(BID, 98, 4, seq=1))
    assert b.levels(BID) == [(100, 5), (99, 3), (98, 4), (97, 2)]
    b.apply_delta(delta(BID, 99, 8, seq=2))
    assert b.depth_at(BID, 99) == 8
    b.apply_delta(delta(ASK, 102, 0, seq=3))
    assert b.best_ask() == (103, 4)
    assert b.level_count(ASK) == 2
    b.apply_delta(delta(ASK, 105, 0, seq=4))  # a level that is not there: nothing to do
    assert b.levels(ASK) == [(103, 4), (110, 10)]


def test_delta_better_prices_become_the_top() -> None:
    b = sample()
    b.apply_delta(delta(BID, 101, 2, seq=1))
    assert b.best_bid() == (101, 2) and b.spread() == 1
    b.apply_delta(delta(BID, 101, 0, seq=2))
    b.apply_delta(delta(ASK, 101, 6, seq=3))
    assert b.best_ask() == (101, 6) and b.best_bid() == (100, 5)


def test_delta_removing_best_reveals_next_level() -> None:
    b = sample()
    b.apply_delta(delta(BID, 100, 0, seq=1))
    assert b.best_bid() == (99, 3)
    b.apply_delta(delta(BID, 99, 0, seq=2))
    b.apply_delta(delta(BID, 97, 0, seq=3))
    assert b.best_bid() is None
    assert b.levels(BID) == []


def test_delta_negative_size_is_counted_and_ignored() -> None:
    b = sample()
    b.apply_delta(delta(BID, 100, -3, seq=1))
    assert b.invalid_deltas == 1
    assert b.best_bid() == (100, 5)


def test_delta_before_any_snapshot_is_applied_and_sets_sequence() -> None:
    b = L2Book(INST)
    b.apply_delta(delta(BID, 100, 1, seq=7))
    assert b.best_bid() == (100, 1)
    assert b.last_sequence == 7
    assert b.needs_snapshot  # deltas alone never prove the book complete


# -- queries ----------------------------------------------------------------------------------
def test_depth_at_existing_and_missing_prices() -> None:
    b = sample()
    assert b.depth_at(BID, 99) == 3
    assert b.depth_at(ASK, 110) == 10
    assert b.depth_at(BID, 102) == 0  # an ask price, asked on the bid side
    assert b.depth_at(ASK, 104) == 0


@pytest.mark.parametrize(("side", "n", "expected"), [
    (BID, 2, [(100, 5), (99, 3)]),
    (ASK, 2, [(102, 1), (103, 4)]),
    (BID, 0, []),
    (ASK, 10, [(102, 1), (103, 4), (110, 10)]),
    (BID, None, [(100, 5), (99, 3), (97, 2)]),
    (ASK, 3, [(102, 1), (103, 4), (110, 10)]),
])
def test_levels_best_first_and_capped_at_n(side: BookSide, n: int | None,
                                           expected: Levels) -> None:
    assert sample().levels(side, n) == expected


def test_levels_negative_n_raises() -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        sample().levels(BID, -1)


def test_spread_and_mid_price_exact_between_ticks() -> None:
    b = sample()
    assert b.spread() == 2
    assert b.mid_price() == Decimal("10.1")
    b.apply_delta(delta(ASK, 101, 1, seq=1))
    assert b.mid_price() == Decimal("10.05")  # half a tick: exact, not a float


@pytest.mark.parametrize(("side", "want", "expected"), [
    (ASK, 4, Walk(filled=4, cost=102 * 1 + 103 * 3, levels=2, worst_price=103)),  # a buy
    (BID, 9, Walk(9, 100 * 5 + 99 * 3 + 97 * 1, 3, 97)),                          # a sell
    (BID, 5, Walk(5, 500, 1, 100)),                                  # exactly one level
    (ASK, 1_000, Walk(15, 102 + 103 * 4 + 110 * 10, 3, 110)),        # more than there is
    (ASK, 0, Walk(0, 0, 0, None)),
])
def test_walk_consumes_side_best_first_and_leaves_book(side: BookSide, want: int,
                                                       expected: Walk) -> None:
    b = sample()
    before = b.levels(BID), b.levels(ASK)
    assert b.walk(side, want) == expected
    assert (b.levels(BID), b.levels(ASK)) == before


# -- crossing is checked at message boundaries ------------------------------------------------
def test_crossed_mid_message_not_counted_when_message_ends_sound() -> None:
    b = sample()
    b.apply_delta(delta(BID, 102, 1, seq=1, last=False))  # bid at the ask: locked for now
    assert b.is_crossed()
    b.apply_delta(delta(ASK, 102, 0, seq=1, last=True))  # same message removes the ask
    assert not b.is_crossed()
    assert b.crossed_messages == 0
    assert b.last_sequence == 1


def test_crossed_at_message_end_counted_and_kept() -> None:
    b = sample()
    b.apply_delta(delta(BID, 105, 1, seq=1))
    assert b.is_crossed()
    assert b.crossed_messages == 1
    assert b.best_bid() == (105, 1) and b.best_ask() == (102, 1)
    assert b.spread() == -3


def test_locked_book_counts_as_crossed() -> None:
    assert book([(102, 1)], [(102, 1)]).is_crossed()


# -- sequence rules ---------------------------------------------------------------------------
@pytest.mark.parametrize(("last", "first", "final", "prev", "verdict"), [
    (10, 11, 11, None, Verdict.APPLY),    # next counter value
    (10, 11, 15, None, Verdict.APPLY),    # next range
    (10, 8, 12, None, Verdict.APPLY),     # straddles the snapshot id
    (10, 12, 12, None, Verdict.GAP),      # 11 is missing
    (10, 10, 10, None, Verdict.STALE),    # replay of the last
    (10, 5, 9, None, Verdict.STALE),      # older than the snapshot
])
def test_contiguous_sequence_verdicts(last: int, first: int, final: int, prev: int | None,
                                      verdict: Verdict) -> None:
    assert ContiguousSequence().check(last, first, final, prev) is verdict


@pytest.mark.parametrize(("last", "first", "final", "prev", "verdict"), [
    (100, 150, 180, 100, Verdict.APPLY),  # pu == previous u; ids need not be contiguous
    (100, 90, 120, 80, Verdict.APPLY),    # U <= lastUpdateId <= u right after a snapshot
    (100, 150, 180, 120, Verdict.GAP),    # pu names a message we never saw
    (100, 150, 180, None, Verdict.GAP),   # no pu: continuity unproven
    (100, 90, 100, 80, Verdict.STALE),    # ends at the snapshot: already in it
    (100, 50, 60, 40, Verdict.STALE),
])
def test_linked_sequence_verdicts(last: int, first: int, final: int, prev: int | None,
                                  verdict: Verdict) -> None:
    assert LinkedSequence().check(last, first, final, prev) is verdict


def test_increasing_sequence_allows_holes_drops_replays() -> None:
    rule = IncreasingSequence()
    assert rule.check(10, 500, 500, None) is Verdict.APPLY
    assert rule.check(10, 10, 10, None) is Verdict.STALE


def test_gap_counted_applied_and_needs_snapshot_until_next_snapshot() -> None:
    b = sample()
    b.apply_delta(delta(BID, 101, 1, seq=1))
    b.apply_delta(delta(BID, 98, 1, seq=3))  # 2 was missed
    assert (b.gaps, b.needs_snapshot, b.last_sequence) == (1, True, 3)
    assert b.depth_at(BID, 98) == 1  # applied: the freshest data there is
    b.apply_delta(delta(BID, 96, 1, seq=4))  # follows on from 3: no second gap
    assert b.gaps == 1
    b.apply_snapshot(snap([(100, 1)], [(102, 1)], seq=10))
    assert not b.needs_snapshot
    assert b.gaps == 1  # a count of what happened, not a state


def test_stale_message_dropped_whole_and_sequence_kept() -> None:
    b = book([(100, 5)], [(102, 1)], seq=50)
    b.apply_delta(delta(BID, 101, 1, seq=49, last=False))
    b.apply_delta(delta(ASK, 102, 0, seq=49, last=True))
    assert b.stale_messages == 1
    assert b.levels(BID) == [(100, 5)] and b.levels(ASK) == [(102, 1)]
    assert b.last_sequence == 50
    b.apply_delta(delta(BID, 100, 0, seq=51))
    assert b.best_bid() is None and b.stale_messages == 1


def test_sequence_checked_once_per_message_not_per_delta() -> None:
    b = book([(100, 5)], [(102, 1)], seq=10, rule=LinkedSequence())
    for i, price in enumerate([99, 98, 97]):
        b.apply_delta(delta(BID, price, 1, seq=20, last=i == 2, first=15, prev=10))
    assert (b.gaps, b.stale_messages, b.last_sequence) == (0, 0, 20)
    assert b.level_count(BID) == 4


def test_snapshot_mid_message_starts_fresh_message() -> None:
    b = sample()
    b.apply_delta(delta(BID, 101, 1, seq=1, last=False))
    b.apply_snapshot(snap([(100, 1)], [(102, 1)], seq=5))
    b.apply_delta(delta(BID, 99, 1, seq=4))  # judged as a new message: stale
    assert b.stale_messages == 1
    assert b.depth_at(BID, 99) == 0


def test_custom_rule_is_consulted_with_message_range() -> None:
    seen: list[tuple[int, int, int, int | None]] = []

    class Recording:
        def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict:
            seen.append((last, first, final, prev))
            return Verdict.GAP

    b = book([(100, 1)], [(102, 1)], seq=3, rule=Recording())
    b.apply_delta(delta(BID, 99, 1, seq=9, last=False, first=7, prev=6))
    b.apply_delta(delta(BID, 98, 1, seq=9, last=True, first=7, prev=6))
    b.apply_delta(delta(BID, 97, 1, seq=10))
    assert seen == [(3, 7, 9, 6), (9, 10, 10, None)]
    assert b.gaps == 2


# -- real data: Binance USD-M BTCUSDT ---------------------------------------------------------
ticks: Callable[[str], int] = functools.cache(BTC.ticks)
lots: Callable[[str], int] = functools.cache(BTC.lots)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def csv_deltas(rows: list[dict[str, str]]) -> Iterator[BookDelta]:
    """One delta per row; a venue message is the run of rows with one update-id range."""
    for i, row in enumerate(rows):
        final = int(row["last_update_id"])
        last = i + 1 == len(rows) or int(rows[i + 1]["last_update_id"]) != final
        yield BookDelta(BTC, int(row["timestamp"]) * 1_000_000, 0,
                        BID if row["side"] == "b" else ASK, ticks(row["price"]),
                        lots(row["qty"]), final, last, int(row["first_update_id"]),
                        int(row["pu"]))


def test_binance_csv_replay_matches_plain_dict_and_reports_the_gap() -> None:
    snap_rows = read_rows(CSV_SNAPSHOT)
    update_rows = read_rows(CSV_UPDATES)
    snapshot_id = int(snap_rows[0]["last_update_id"])
    side_rows = {s: [r for r in snap_rows if r["side"] == s] for s in "ba"}
    b = L2Book(BTC, LinkedSequence())
    b.apply_snapshot(BookSnapshot(BTC, 0, 0, *(
        tuple((ticks(r["price"]), lots(r["qty"])) for r in side_rows[s]) for s in "ba"),
        snapshot_id))
    # the reference: Decimal prices and sizes straight from the text, best by max()/min()
    bids, asks = ({Decimal(r["price"]): Decimal(r["qty"]) for r in side_rows[s]} for s in "ba")
    assert b.best_bid() == (ticks("20377.00"), lots("1.770"))

    for row, d in zip(update_rows, csv_deltas(update_rows), strict=True):
        b.apply_delta(d)
        ref = bids if row["side"] == "b" else asks
        price, qty = Decimal(row["price"]), Decimal(row["qty"])
        if qty:
            ref[price] = qty
        else:
            ref.pop(price, None)
        for got, side_ref, pick in ((b.best_bid(), bids, max), (b.best_ask(), asks, min)):
            top = pick(side_ref) if side_ref else None
            assert got == (None if top is None else (BTC.ticks(top), BTC.lots(side_ref[top])))
        if d.is_last:
            assert not b.is_crossed()

    assert b.best_bid() == (ticks("20472.10"), lots("22.276"))
    assert b.best_ask() == (ticks("20472.20"), lots("4.211"))
    assert b.crossed_messages == 0
    # The update file starts ten minutes after the snapshot (U > lastUpdateId): a feed
    # would have had to resync, and the book says so rather than pretending.
    assert int(update_rows[0]["first_update_id"]) > snapshot_id
    assert (b.gaps, b.needs_snapshot, b.last_sequence) == (1, True, 2098041696700)


class Capture(NamedTuple):
    snapshot: BookSnapshot
    messages: list[tuple[list[BookDelta], int]]  # deltas and the venue's u
    tickers: dict[int, tuple[int, int, int, int]]  # bookTicker u -> bid, bid size, ask, ask size


def _depth_deltas(ts_recv: int, d: dict[str, Any]) -> list[BookDelta]:
    rows = [(BID, p, q) for p, q in d["b"]] + [(ASK, p, q) for p, q in d["a"]]
    return [BookDelta(BTC, d["E"] * 1_000_000, ts_recv, side, ticks(p), lots(q), d["u"],
                      i + 1 == len(rows), d["U"], d["pu"])
            for i, (side, p, q) in enumerate(rows)]


def load_capture() -> Capture:
    """The REST snapshot, every depthUpdate in arrival order, and every bookTicker."""
    snapshot: BookSnapshot | None = None
    messages: list[tuple[list[BookDelta], int]] = []
    tickers: dict[int, tuple[int, int, int, int]] = {}
    with gzip.open(WS_CAPTURE, "rt") as f:
        for line in f:
            ts, raw = line.split(" ", 1)
            msg = msgspec.json.decode(raw)
            data = msg.get("data", msg)
            if "lastUpdateId" in data:
                snapshot = BookSnapshot(
                    BTC, data["E"] * 1_000_000, int(ts),
                    tuple((ticks(p), lots(q)) for p, q in data["bids"]),
                    tuple((ticks(p), lots(q)) for p, q in data["asks"]), data["lastUpdateId"])
            elif data.get("e") == "depthUpdate":
                messages.append((_depth_deltas(int(ts), data), data["u"]))
            elif data.get("e") == "bookTicker":
                tickers[data["u"]] = (ticks(data["b"]), lots(data["B"]), ticks(data["a"]),
                                      lots(data["A"]))
    assert snapshot is not None
    return Capture(snapshot, messages, tickers)


@pytest.mark.slow
def test_binance_ws_capture_replay_agrees_with_venue_book_ticker() -> None:
    """Snapshot, then every buffered and live depthUpdate: the Binance resync procedure.

    The venue's own bookTicker, where it carries the same update id as a depth message,
    says what the top of the book must be after that message.
    """
    if not WS_CAPTURE.exists():
        pytest.skip(f"real data not present: {WS_CAPTURE}")
    cap = load_capture()
    b = L2Book(BTC, LinkedSequence())
    b.apply_snapshot(cap.snapshot)
    bids = dict(cap.snapshot.bids)
    asks = dict(cap.snapshot.asks)
    checked = crossed_inside = 0
    for n, (deltas, u) in enumerate(cap.messages):
        for d in deltas:
            b.apply_delta(d)
            if u > cap.snapshot.sequence:
                ref = bids if d.side is BID else asks
                if d.size:
                    ref[d.price] = d.size
                else:
                    ref.pop(d.price, None)
            crossed_inside += not d.is_last and b.is_crossed()
        assert not b.is_crossed()
        if u in cap.tickers:
            top_bid, top_ask = b.best_bid(), b.best_ask()
            assert top_bid is not None and top_ask is not None
            assert (*top_bid, *top_ask) == cap.tickers[u]
            checked += 1
        if n % 500 == 0:
            assert b.best_bid() == (max(bids), bids[max(bids)])
            assert b.best_ask() == (min(asks), asks[min(asks)])
            assert b.levels(ASK, 20) == sorted(asks.items())[:20]
    assert checked > 500
    assert crossed_inside > 0  # half-applied messages do cross: why crossing is per message
    assert (b.gaps, b.crossed_messages, b.needs_snapshot) == (0, 0, False)
    stale = sum(1 for _, u in cap.messages if u <= cap.snapshot.sequence)
    assert b.stale_messages == stale > 0
    assert b.last_sequence == cap.messages[-1][1]


# -- properties against a plain reference model -----------------------------------------------
class Reference:
    """The obvious book: a dict per side, best by max/min, order by sorted()."""

    def __init__(self, bids: Levels, asks: Levels) -> None:
        self.sides = {BID: {p: s for p, s in bids if s > 0}, ASK: {p: s for p, s in asks if s > 0}}

    def apply(self, side: BookSide, price: int, size: int) -> None:
        if size > 0:
            self.sides[side][price] = size
        elif size == 0:
            self.sides[side].pop(price, None)

    def best(self, side: BookSide) -> tuple[int, int] | None:
        levels = self.sides[side]
        if not levels:
            return None
        price = max(levels) if side is BID else min(levels)
        return price, levels[price]

    def ordered(self, side: BookSide) -> Levels:
        return sorted(self.sides[side].items(), reverse=side is BID)

    def crossed(self) -> bool:
        bid, ask = self.best(BID), self.best(ASK)
        return bid is not None and ask is not None and bid[0] >= ask[0]


prices = st.integers(min_value=1, max_value=40)  # narrow, so levels collide and vanish
level_lists = st.lists(st.tuples(prices, st.integers(min_value=0, max_value=6)), max_size=15)
ops = st.lists(st.tuples(st.sampled_from([BID, ASK]), prices,
                         st.integers(min_value=-1, max_value=6), st.booleans()), max_size=80)


def replay(bids: Levels, asks: Levels, steps: list[tuple[BookSide, int, int, bool]],
           check: Callable[[L2Book, Reference], None]) -> tuple[L2Book, Reference, int]:
    """Feed ``steps`` as contiguous messages; return the book, the model and crossed ends."""
    b = book(bids, asks, seq=0)
    ref = Reference(bids, asks)
    crossed_ends = int(ref.crossed())
    seq = 1
    for side, price, size, last in steps:
        b.apply_delta(delta(side, price, size, seq=seq, last=last))
        ref.apply(side, price, size)
        check(b, ref)
        if last:
            crossed_ends += ref.crossed()
            seq += 1
    return b, ref, crossed_ends


def same_as_reference(b: L2Book, ref: Reference) -> None:
    for side in (BID, ASK):
        stored = b.levels(side)
        assert all(size > 0 for _, size in stored)  # (a) no empty level is kept
        assert stored == ref.ordered(side)          # (c) best-first, same levels
        assert b.level_count(side) == len(stored)
    assert b.best_bid() == ref.best(BID)            # (b) best = max bid, min ask
    assert b.best_ask() == ref.best(ASK)
    assert b.is_crossed() == ref.crossed()


@FAST
@given(level_lists, level_lists, ops)
def test_property_book_matches_reference_after_every_delta(bids: Levels, asks: Levels,
                                                          steps: Any) -> None:
    b, ref, crossed_ends = replay(bids, asks, steps, same_as_reference)
    assert b.crossed_messages == crossed_ends
    assert b.invalid_deltas == sum(1 for _, _, size, _ in steps if size < 0)
    assert (b.gaps, b.stale_messages) == (0, 0)
    for side in (BID, ASK):
        for price in range(0, 42):
            assert b.depth_at(side, price) == ref.sides[side].get(price, 0)
        for n in range(4):
            assert b.levels(side, n) == ref.ordered(side)[:n]


@FAST
@given(level_lists, level_lists, ops, st.sampled_from([BID, ASK]),
       st.integers(min_value=0, max_value=60))
def test_property_walk_fills_min_of_lots_and_depth_at_reference_cost(
        bids: Levels, asks: Levels, steps: Any, side: BookSide, want: int) -> None:
    b, ref, _ = replay(bids, asks, steps, lambda _b, _r: None)
    before = b.levels(side)
    result = b.walk(side, want)
    total = sum(ref.sides[side].values())
    assert result.filled == min(want, total)                        # (d)
    remaining, cost, used, worst = want, 0, 0, None
    for price, size in ref.ordered(side):
        if remaining == 0:
            break
        take = min(size, remaining)
        remaining, cost, used, worst = remaining - take, cost + take * price, used + 1, price
    assert (result.cost, result.levels, result.worst_price) == (cost, used, worst)
    assert b.levels(side) == before  # a walk is a question, not a trade


@FAST
@given(level_lists, level_lists, ops, level_lists, level_lists,
       st.integers(min_value=100, max_value=10**6))
def test_property_snapshot_replaces_everything(bids: Levels, asks: Levels, steps: Any,
                                               new_bids: Levels, new_asks: Levels,
                                               seq: int) -> None:
    b, _, _ = replay(bids, asks, steps, lambda _b, _r: None)
    b.apply_snapshot(snap(new_bids, new_asks, seq))                 # (e)
    same_as_reference(b, Reference(new_bids, new_asks))
    assert (b.last_sequence, b.needs_snapshot) == (seq, False)
    b.apply_delta(delta(BID, 1, 1, seq=seq + 1))
    assert (b.gaps, b.stale_messages, b.depth_at(BID, 1)) == (0, 0, 1)


# -- properties of gap detection --------------------------------------------------------------
messages_plan = st.lists(
    st.tuples(st.integers(min_value=1, max_value=5),     # updates in the message
              st.integers(min_value=1, max_value=50),    # id jump before it (linked ids)
              st.sampled_from(["deliver", "drop", "twice"])),
    min_size=1, max_size=40)


def expected_counts(plan: list[tuple[int, int, str]]) -> tuple[int, int]:
    """Gaps: delivered messages whose predecessor was dropped (message 0 follows the
    snapshot, so it never opens a gap). Stale: second deliveries."""
    gaps = sum(1 for i, (_, _, fate) in enumerate(plan)
               if fate != "drop" and i > 0 and plan[i - 1][2] == "drop")
    stale = sum(1 for _, _, fate in plan if fate == "twice")
    return gaps, stale


def deliver(b: L2Book, plan: list[tuple[int, int, str]], *, linked: bool) -> None:
    last = 0  # the snapshot's id
    for i, (count, jump, fate) in enumerate(plan):
        first = last + (jump if linked else 1)
        final = first + count - 1
        msg = [delta(BID, 1 + (i + k) % 30, 1 + k, seq=final, last=k == count - 1,
                     first=first, prev=last) for k in range(count)]
        for _ in range({"drop": 0, "deliver": 1, "twice": 2}[fate]):
            for d in msg:
                b.apply_delta(d)
        last = final


@FAST
@pytest.mark.parametrize("rule", [ContiguousSequence(), LinkedSequence()],
                         ids=["contiguous", "linked"])
@given(plan=messages_plan)
def test_property_rule_counts_every_hole_once_and_every_replay(rule: SequenceRule,
                                                               plan: Any) -> None:
    b = book([], [], seq=0, rule=rule)
    deliver(b, plan, linked=isinstance(rule, LinkedSequence))
    assert (b.gaps, b.stale_messages) == expected_counts(plan)
    assert b.needs_snapshot == (b.gaps > 0)
