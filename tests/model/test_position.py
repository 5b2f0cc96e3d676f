"""Positions: FIFO entries, exact realised PnL through adds, partial closes and flips."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.instrument import Instrument, InstrumentKind
from heron.model.position import Position

# tick 0.01, lot 0.1: notional precision 3, so with money_scale 1 money raw is 1/1000 USD.
SPOT = Instrument("BTCUSD", price_increment=Decimal("0.01"), size_increment=Decimal("0.1"))
PERP = Instrument("BTC-PERP", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.5"), size_increment=Decimal("0.01"),
                  multiplier=Decimal("10"))


def px(price: str, inst: Instrument = SPOT) -> int:
    return inst.ticks(price)


def sz(size: str, inst: Instrument = SPOT) -> int:
    return inst.lots(size)


def usd(amount: str, inst: Instrument = SPOT, scale: int = 1) -> int:
    """Money raw of ``amount`` at the instrument's notional precision times ``scale``."""
    return int(Decimal(amount).scaleb(inst.notional_precision)) * scale


def position(inst: Instrument = SPOT, scale: int = 1) -> Position:
    return Position(inst, scale)


# -- long -------------------------------------------------------------------------------------
def test_position_new_is_flat_with_no_average() -> None:
    pos = position()
    assert pos.is_flat and not pos.is_long and not pos.is_short
    assert pos.avg_entry is None
    assert pos.unrealised(px("100")) == 0
    assert pos.entries() == []


def test_position_long_open_books_no_pnl() -> None:
    pos = position()
    assert pos.apply_fill(sz("1"), px("100"), ts=7) == 0
    assert pos.is_long and pos.qty == 10
    assert pos.quantity == Decimal("1")
    assert pos.avg_entry == Decimal("100")
    assert pos.entries() == [(10, 10000)]
    assert pos.ts_opened == 7


def test_position_long_add_averages_entry_and_keeps_open_time() -> None:
    pos = position()
    pos.apply_fill(sz("1"), px("100"), ts=1)
    pos.apply_fill(sz("1"), px("101"), ts=2)
    assert pos.avg_entry == Decimal("100.5")
    assert pos.entries() == [(10, 10000), (10, 10100)]
    assert pos.ts_opened == 1
    assert pos.realised == 0


def test_position_long_partial_close_books_fifo_pnl() -> None:
    pos = position()
    pos.apply_fill(sz("1"), px("100"), ts=1)
    pos.apply_fill(sz("1"), px("110"), ts=2)
    # sell 1.5 at 120: 1.0 from the 100 entry (+20), 0.5 from the 110 entry (+5)
    pnl = pos.apply_fill(-sz("1.5"), px("120"), ts=3)
    assert pnl == usd("25")
    assert pos.realised == usd("25")
    assert pos.entries() == [(5, 11000)]
    assert pos.avg_entry == Decimal("110")
    assert pos.quantity == Decimal("0.5")


def test_position_long_full_close_is_flat_with_total_realised() -> None:
    pos = position()
    pos.apply_fill(sz("1"), px("100"), ts=1)
    pos.apply_fill(sz("1"), px("110"), ts=2)
    pos.apply_fill(-sz("1.5"), px("120"), ts=3)
    pnl = pos.apply_fill(-sz("0.5"), px("90"), ts=4)
    assert pnl == usd("-10")
    assert pos.is_flat
    assert pos.realised == usd("15")
    assert pos.entries() == []
    assert pos.avg_entry is None


# -- short ------------------------------------------------------------------------------------
def test_position_short_open_and_cover_lower_books_profit() -> None:
    pos = position()
    assert pos.apply_fill(-sz("2"), px("100"), ts=1) == 0
    assert pos.is_short and pos.quantity == Decimal("-2")
    assert pos.avg_entry == Decimal("100")
    assert pos.apply_fill(sz("0.5"), px("90"), ts=2) == usd("5")
    assert pos.apply_fill(sz("1.5"), px("104"), ts=3) == usd("-6")
    assert pos.is_flat and pos.realised == usd("-1")


def test_position_short_fifo_closes_oldest_entry_first() -> None:
    pos = position()
    pos.apply_fill(-sz("1"), px("100"), ts=1)
    pos.apply_fill(-sz("1"), px("80"), ts=2)
    # cover 1 at 90: the oldest entry (100) closes: +10, not the 80 one (-10)
    assert pos.apply_fill(sz("1"), px("90"), ts=3) == usd("10")
    assert pos.entries() == [(10, 8000)]


# -- flips ------------------------------------------------------------------------------------
def test_position_flip_long_to_short_closes_then_opens_rest() -> None:
    pos = position()
    pos.apply_fill(sz("1"), px("100"), ts=1)
    pnl = pos.apply_fill(-sz("3"), px("90"), ts=5)
    assert pnl == usd("-10")
    assert pos.quantity == Decimal("-2")
    assert pos.entries() == [(20, 9000)]
    assert pos.avg_entry == Decimal("90")
    assert pos.ts_opened == 5
    assert pos.apply_fill(sz("2"), px("80"), ts=6) == usd("20")
    assert pos.is_flat and pos.realised == usd("10")


def test_position_flip_short_to_long_closes_then_opens_rest() -> None:
    pos = position()
    pos.apply_fill(-sz("0.5"), px("200"), ts=1)
    pnl = pos.apply_fill(sz("1.2"), px("210.55"), ts=9)
    assert pnl == usd("-5.275")  # 0.5 * (200 - 210.55)
    assert pos.quantity == Decimal("0.7")
    assert pos.entries() == [(7, 21055)]
    assert pos.ts_opened == 9


def test_position_close_to_flat_then_reopen_resets_open_time() -> None:
    pos = position()
    pos.apply_fill(sz("1"), px("100"), ts=1)
    pos.apply_fill(-sz("1"), px("100"), ts=2)
    pos.apply_fill(sz("1"), px("100"), ts=3)
    assert pos.ts_opened == 3


# -- valuation --------------------------------------------------------------------------------
def test_position_unrealised_long_and_short() -> None:
    long = position()
    long.apply_fill(sz("1"), px("100"), ts=1)
    long.apply_fill(sz("1"), px("110"), ts=2)
    assert long.unrealised(px("120")) == usd("30")
    assert long.unrealised(px("100")) == usd("-10")
    short = position()
    short.apply_fill(-sz("2"), px("100"), ts=1)
    assert short.unrealised(px("90")) == usd("20")
    assert short.unrealised(px("100.01")) == usd("-0.02")


def test_position_avg_entry_non_terminating_is_close_to_quotient() -> None:
    pos = position()
    pos.apply_fill(sz("0.1"), px("100"), ts=1)
    pos.apply_fill(sz("0.2"), px("101"), ts=2)
    avg = pos.avg_entry
    assert avg is not None
    assert abs(avg - Decimal(302) / Decimal(3)) < Decimal("1e-20")


def test_position_money_scale_multiplies_raw() -> None:
    pos = position(scale=100)
    pos.apply_fill(sz("1"), px("100"), ts=1)
    assert pos.apply_fill(-sz("1"), px("100.01"), ts=2) == usd("0.01", scale=100)
    assert pos.realised == 1000  # 0.01 USD at 5 decimals


def test_position_multiplier_scales_pnl() -> None:
    pos = position(PERP)
    pos.apply_fill(sz("1", PERP), px("100", PERP), ts=1)
    # 1 contract * 10 multiplier * (100.5 - 100) = 5
    assert pos.unrealised(px("100.5", PERP)) == usd("5", PERP)
    assert pos.apply_fill(-sz("1", PERP), px("100.5", PERP), ts=2) == usd("5", PERP)


# -- FIFO against a per-lot reference ---------------------------------------------------------
fills_st = st.lists(
    st.tuples(st.integers(min_value=-40, max_value=40).filter(bool),
              st.integers(min_value=1, max_value=50_000)),
    min_size=1, max_size=30)


def reference_fifo(fills: list[tuple[int, int]]) -> tuple[list[int], deque[tuple[int, int]]]:
    """Per-fill PnL (ticks*lots) by matching one lot at a time, oldest first."""
    book: deque[tuple[int, int]] = deque()  # (sign, ticks) per single lot
    pnls = []
    for signed, ticks in fills:
        sign = 1 if signed > 0 else -1
        pnl = 0
        for _ in range(abs(signed)):
            if book and book[0][0] != sign:
                held_sign, entry = book.popleft()
                pnl += held_sign * (ticks - entry)
            else:
                book.append((sign, ticks))
        pnls.append(pnl)
    return pnls, book


@settings(max_examples=200, deadline=None)
@given(fills_st, st.integers(min_value=1, max_value=50_000))
def test_position_fifo_matches_per_lot_reference(
    fills: list[tuple[int, int]], mark: int
) -> None:
    pos = position(scale=1)
    expected_pnls, book = reference_fifo(fills)
    for ts, ((signed, ticks), expected) in enumerate(zip(fills, expected_pnls, strict=True)):
        assert pos.apply_fill(signed, ticks, ts) == pos.money(expected)
    assert pos.realised == pos.money(sum(expected_pnls))
    assert pos.qty == sum(sign for sign, _ in book)
    flat_entries = [ticks for lots, ticks in pos.entries() for _ in range(lots)]
    assert flat_entries == [ticks for _, ticks in book]
    assert pos.entry_cost == sum(ticks for _, ticks in book)
    sign = 1 if pos.qty > 0 else -1
    assert pos.unrealised(mark) == pos.money(sum(sign * (mark - t) for _, t in book))
