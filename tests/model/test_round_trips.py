"""Round trips: flat-to-flat trades, fee splitting on flips, funding attribution."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.instrument import Instrument
from heron.model.position import Position
from heron.model.round_trips import RoundTrip, RoundTripBook

IID = "X.SIM"


def test_round_trip_open_then_close_is_one_closed_trip() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 10, 100, fee=5, realised=0, ts=1)
    trip = book.open[IID]
    assert (trip.direction, trip.entry_ts, trip.entry_qty, trip.entry_cost) == (1, 1, 10, 1000)
    assert (trip.fees, trip.fills, trip.closed) == (5, 1, False)
    book.on_fill(IID, 10, -10, 110, fee=6, realised=100, ts=2)
    assert IID not in book.open
    assert book.closed == [trip]
    assert (trip.exit_qty, trip.exit_cost, trip.exit_ts) == (10, 1100, 2)
    assert (trip.realised, trip.fees, trip.fills, trip.closed) == (100, 11, 2, True)
    assert trip.net == 100 - 11


def test_round_trip_short_has_negative_direction() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, -3, 50, fee=0, realised=0, ts=1)
    assert book.open[IID].direction == -1
    book.on_fill(IID, -3, 3, 40, fee=0, realised=30, ts=2)
    assert book.closed[0].direction == -1
    assert book.closed[0].realised == 30


def test_round_trip_add_accumulates_entries_without_closing() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 10, 100, fee=1, realised=0, ts=1)
    book.on_fill(IID, 10, 5, 106, fee=2, realised=0, ts=2)
    trip = book.open[IID]
    assert (trip.entry_qty, trip.entry_cost, trip.fees, trip.fills) == (15, 1530, 3, 2)
    assert trip.entry_ts == 1
    assert book.closed == []


def test_round_trip_partial_closes_stay_open_until_flat() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 10, 100, fee=0, realised=0, ts=1)
    book.on_fill(IID, 10, -4, 105, fee=2, realised=20, ts=2)
    trip = book.open[IID]
    assert (trip.exit_qty, trip.exit_cost, trip.realised, trip.closed) == (4, 420, 20, False)
    assert trip.exit_ts == 0
    book.on_fill(IID, 6, -6, 95, fee=3, realised=-30, ts=3)
    assert IID not in book.open
    assert (trip.exit_qty, trip.exit_cost, trip.realised) == (10, 990, -10)
    assert (trip.fees, trip.fills, trip.exit_ts) == (5, 3, 3)


def test_round_trip_flip_splits_fee_by_size_and_opens_new_trip() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 10, 100, fee=0, realised=0, ts=1)
    book.on_fill(IID, 10, -30, 90, fee=9, realised=-100, ts=2)
    first = book.closed[0]
    second = book.open[IID]
    assert (first.exit_qty, first.realised, first.fees, first.exit_ts) == (10, -100, 3, 2)
    assert (second.direction, second.entry_ts, second.entry_qty) == (-1, 2, 20)
    assert (second.entry_cost, second.fees, second.fills) == (1800, 6, 1)


def test_round_trip_flip_credits_its_order_to_both_trips_by_size() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 4, 100, fee=0, realised=0, ts=1, order="a")
    book.on_fill(IID, 4, 6, 101, fee=0, realised=0, ts=2, order="b")
    book.on_fill(IID, 10, -3, 102, fee=0, realised=0, ts=3, order="c")
    book.on_fill(IID, 7, -12, 103, fee=0, realised=0, ts=4, order="d")
    first, second = book.closed[0], book.open[IID]
    assert (first.entry_orders, first.exit_orders) == ({"a": 4, "b": 6}, {"c": 3, "d": 7})
    assert (second.entry_orders, second.exit_orders) == ({"d": 5}, {})


def test_round_trip_flip_fee_split_rounds_half_even_and_conserves_fee() -> None:
    for fee, close_fee in ((5, 2), (7, 4), (1, 0), (3, 2)):
        book = RoundTripBook()
        book.on_fill(IID, 0, 1, 100, fee=0, realised=0, ts=1)
        book.on_fill(IID, 1, -2, 100, fee=fee, realised=0, ts=2)  # closes 1 of 2 lots
        assert book.closed[0].fees == close_fee
        assert book.open[IID].fees == fee - close_fee


def test_round_trip_exact_close_takes_whole_fee() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 3, 100, fee=0, realised=0, ts=1)
    book.on_fill(IID, 3, -3, 100, fee=7, realised=0, ts=2)
    assert book.closed[0].fees == 7
    assert IID not in book.open


def test_round_trip_funding_goes_to_open_trip_only() -> None:
    book = RoundTripBook()
    book.on_funding(IID, -50)  # no trip open: dropped
    book.on_fill(IID, 0, 10, 100, fee=0, realised=0, ts=1)
    book.on_funding(IID, -7)
    book.on_funding(IID, 2)
    book.on_fill(IID, 10, -10, 100, fee=0, realised=0, ts=2)
    book.on_funding(IID, -9)  # flat again: dropped
    assert book.closed[0].funding == -5
    assert book.closed[0].net == -5


def test_round_trip_funding_after_flip_goes_to_new_trip() -> None:
    book = RoundTripBook()
    book.on_fill(IID, 0, 1, 100, fee=0, realised=0, ts=1)
    book.on_funding(IID, -1)
    book.on_fill(IID, 1, -3, 100, fee=0, realised=0, ts=2)
    book.on_funding(IID, 4)
    assert book.closed[0].funding == -1
    assert book.open[IID].funding == 4


def test_round_trips_are_per_instrument() -> None:
    book = RoundTripBook()
    book.on_fill("A.SIM", 0, 1, 10, fee=0, realised=0, ts=1)
    book.on_fill("B.SIM", 0, -1, 20, fee=0, realised=0, ts=2)
    book.on_funding("B.SIM", 3)
    book.on_fill("A.SIM", 1, -1, 12, fee=0, realised=2, ts=3)
    assert [t.instrument_id for t in book.closed] == ["A.SIM"]
    assert book.open["B.SIM"].funding == 3
    assert book.closed[0].funding == 0


def test_round_trip_net_is_realised_minus_fees_plus_funding() -> None:
    trip = RoundTrip(IID, 1, 0, realised=100, fees=30, funding=-20)
    assert trip.net == 50


# -- driven by a real position ----------------------------------------------------------------
INST = Instrument("X", price_increment=Decimal("0.5"), size_increment=Decimal("0.1"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-30, max_value=30).filter(bool),
                          st.integers(min_value=1, max_value=10_000),
                          st.integers(min_value=0, max_value=1_000),
                          st.integers(min_value=-500, max_value=500)),
                min_size=1, max_size=40))
def test_round_trips_sum_to_position_totals(
    fills: list[tuple[int, int, int, int]]
) -> None:
    pos = Position(INST, 1)
    book = RoundTripBook()
    funding_while_open = 0
    for ts, (signed, ticks, fee, fund) in enumerate(fills, start=1):
        before = pos.qty
        realised = pos.apply_fill(signed, ticks, ts)
        book.on_fill(INST.id, before, signed, ticks, fee, realised, ts, order=f"o{ts % 3}")
        if pos.qty:
            book.on_funding(INST.id, fund)
            funding_while_open += fund
    trips = [*book.closed, *book.open.values()]
    assert sum(t.realised for t in trips) == pos.realised
    assert sum(t.fees for t in trips) == sum(fee for _, _, fee, _ in fills)
    assert sum(t.funding for t in trips) == funding_while_open
    assert (INST.id in book.open) == (pos.qty != 0)
    for trip in trips:  # every lot of a trip is credited to the order that made it
        assert sum(trip.entry_orders.values()) == trip.entry_qty
        assert sum(trip.exit_orders.values()) == trip.exit_qty
    for trip in book.closed:
        assert trip.closed
        assert trip.entry_qty == trip.exit_qty
        assert trip.entry_ts <= trip.exit_ts
    if pos.qty:
        trip = book.open[INST.id]
        assert trip.direction == (1 if pos.qty > 0 else -1)
        assert trip.entry_qty - trip.exit_qty == abs(pos.qty)
        assert trip.entry_ts == pos.ts_opened
