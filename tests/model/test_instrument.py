"""Instruments: the exact tick/lot grid, notional arithmetic and the journal form."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.instrument import Instrument, InstrumentKind, OffGrid

FAST = settings(max_examples=200, deadline=None)

INCREMENTS = ["0.5", "0.25", "0.01", "0.05", "1", "5", "50", "0.00000001", "0.1", "2.5",
              "0.0001", "10"]
MULTIPLIERS = ["1", "10", "0.5", "0.001", "100", "2.5"]

increments = st.sampled_from(INCREMENTS).map(Decimal)
ticks_st = st.integers(min_value=-(10**12), max_value=10**12)
lots_st = st.integers(min_value=0, max_value=10**12)


def make(tick: str = "0.01", lot: str = "0.001", **kwargs: object) -> Instrument:
    return Instrument("TEST", price_increment=Decimal(tick), size_increment=Decimal(lot),
                      **kwargs)  # type: ignore[arg-type]


# -- construction -----------------------------------------------------------------------------
def test_instrument_id_is_symbol_dot_venue() -> None:
    assert Instrument("BTCUSDT", venue="BINANCE").id == "BTCUSDT.BINANCE"


def test_instrument_precisions_and_raw_steps_follow_increments() -> None:
    inst = make(tick="0.05", lot="0.001")
    assert (inst.price_precision, inst.tick_raw) == (2, 5)
    assert (inst.size_precision, inst.lot_raw) == (3, 1)


def test_instrument_whole_number_increment_has_precision_zero() -> None:
    inst = make(tick="50", lot="10")
    assert (inst.price_precision, inst.tick_raw) == (0, 50)
    assert (inst.size_precision, inst.lot_raw) == (0, 10)


def test_instrument_notional_precision_adds_multiplier_decimals() -> None:
    assert make(tick="0.01", lot="0.001").notional_precision == 5
    assert make(tick="0.01", lot="0.001", multiplier=Decimal("0.5")).notional_precision == 6
    assert make(tick="0.01", lot="0.001", multiplier=Decimal("10")).notional_precision == 5


def test_instrument_string_fields_are_converted_to_decimal() -> None:
    inst = Instrument("X", price_increment="0.5", taker_fee="0.0004")  # type: ignore[arg-type]
    assert inst.price_increment == Decimal("0.5")
    assert isinstance(inst.taker_fee, Decimal)
    assert inst.tick_raw == 5


def test_instrument_kind_sets_is_perpetual() -> None:
    assert not make().is_perpetual
    assert make(kind=InstrumentKind.LINEAR_PERPETUAL).is_perpetual


@pytest.mark.parametrize(("field", "value"), [
    ("price_increment", Decimal(0)), ("price_increment", Decimal("-0.01")),
    ("size_increment", Decimal(0)), ("size_increment", Decimal("-1")),
    ("multiplier", Decimal(0)), ("multiplier", Decimal("-1")),
    ("margin_init", Decimal(0)), ("margin_init", Decimal("1.01")),
    ("margin_maint", Decimal("-0.01")),
])
def test_instrument_impossible_parameter_raises_value_error(field: str, value: Decimal) -> None:
    with pytest.raises(ValueError):
        Instrument("X", **{field: value})  # type: ignore[arg-type]


def test_instrument_float_increment_raises_type_error() -> None:
    with pytest.raises(TypeError, match="float"):
        Instrument("X", price_increment=0.01)  # type: ignore[arg-type]


def test_instrument_nan_increment_raises_value_error() -> None:
    with pytest.raises(ValueError):
        Instrument("X", size_increment=Decimal("NaN"))


def test_instrument_is_frozen() -> None:
    inst = make()
    with pytest.raises(AttributeError):
        inst.symbol = "OTHER"  # type: ignore[misc]


# -- the grid ---------------------------------------------------------------------------------
def test_ticks_on_grid_returns_whole_ticks() -> None:
    inst = make(tick="0.5")
    assert inst.ticks("1.5") == 3
    assert inst.ticks(Decimal("100")) == 200
    assert inst.ticks(7) == 14
    assert inst.ticks("-2.5") == -5
    assert inst.ticks("0") == 0


def test_ticks_with_extra_trailing_zeros_is_on_grid() -> None:
    assert make(tick="0.01").ticks("1.2300000") == 123


@pytest.mark.parametrize("price", ["1.25", "1.3", "0.1", "-0.2", "1.50000001"])
def test_ticks_off_half_tick_grid_raises_off_grid(price: str) -> None:
    with pytest.raises(OffGrid, match=r"not a multiple of 0\.5"):
        make(tick="0.5").ticks(price)


def test_ticks_off_whole_number_grid_raises_off_grid() -> None:
    inst = make(tick="5")
    assert inst.ticks("15") == 3
    with pytest.raises(OffGrid):
        inst.ticks("12")


def test_ticks_past_28_digits_off_grid_is_not_rounded_onto_it() -> None:
    with pytest.raises(OffGrid):
        make(tick="0.01").ticks("100.0000000000000000000000000001")


def test_off_grid_is_a_value_error() -> None:
    assert issubclass(OffGrid, ValueError)


def test_ticks_from_float_raises_type_error() -> None:
    with pytest.raises(TypeError):
        make().ticks(1.5)


def test_lots_on_grid_returns_whole_lots() -> None:
    inst = make(lot="0.001")
    assert inst.lots("0.5") == 500
    assert inst.lots("0.001") == 1
    assert inst.lots(2) == 2000


def test_lots_off_grid_raises_off_grid() -> None:
    inst = make(lot="0.25")
    assert inst.lots("0.75") == 3
    with pytest.raises(OffGrid, match="quantity"):
        inst.lots("0.3")


def test_price_and_quantity_of_ints_are_exact_decimals() -> None:
    inst = make(tick="0.05", lot="0.001")
    assert inst.price(3) == Decimal("0.15")
    assert inst.quantity(1500) == Decimal("1.5")
    assert inst.price(-7) == Decimal("-0.35")


@FAST
@given(increments, ticks_st)
def test_price_of_ticks_round_trips(tick: Decimal, n: int) -> None:
    inst = make(tick=str(tick))
    price = inst.price(n)
    assert inst.ticks(price) == n
    assert inst.ticks(str(price)) == n
    with localcontext() as ctx:
        ctx.prec = 100
        assert price == n * tick


@FAST
@given(increments, ticks_st)
def test_ticks_of_price_round_trips(tick: Decimal, n: int) -> None:
    inst = make(tick=str(tick))
    with localcontext() as ctx:
        ctx.prec = 100
        price = n * tick
    assert inst.price(inst.ticks(price)) == price


@FAST
@given(increments, lots_st)
def test_quantity_of_lots_round_trips(lot: Decimal, n: int) -> None:
    inst = make(lot=str(lot))
    assert inst.lots(inst.quantity(n)) == n


@FAST
@given(increments, ticks_st, st.integers(min_value=1, max_value=10**9))
def test_ticks_between_grid_points_raises_off_grid(tick: Decimal, n: int, frac: int) -> None:
    inst = make(tick=str(tick))
    with localcontext() as ctx:
        ctx.prec = 100
        # a point strictly between n and n+1 ticks
        price = (n + Decimal(frac) / Decimal(10**9 + 1)) * tick
    with pytest.raises(OffGrid):
        inst.ticks(price)


@FAST
@given(increments, increments, st.sampled_from(MULTIPLIERS).map(Decimal), ticks_st, lots_st)
def test_notional_raw_matches_decimal_product(
    tick: Decimal, lot: Decimal, mult: Decimal, n_ticks: int, n_lots: int
) -> None:
    inst = make(tick=str(tick), lot=str(lot), multiplier=mult)
    raw = inst.notional_raw(n_ticks, n_lots)
    with localcontext() as ctx:
        ctx.prec = 200
        expected = inst.price(n_ticks) * inst.quantity(n_lots) * mult
        assert Decimal(raw).scaleb(-inst.notional_precision) == expected


def test_notional_raw_known_value() -> None:
    # 2 contracts of 0.5 at 101.25 with multiplier 10: 101.25 * 1 * 10 = 1012.5
    inst = make(tick="0.25", lot="0.5", multiplier=Decimal("10"))
    raw = inst.notional_raw(inst.ticks("101.25"), inst.lots("1"))
    assert Decimal(raw).scaleb(-inst.notional_precision) == Decimal("1012.5")


# -- journal form -----------------------------------------------------------------------------
def test_instrument_to_dict_from_dict_round_trips() -> None:
    inst = Instrument("ETH-PERP", venue="BYBIT", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal("0.05"), size_increment=Decimal("0.01"),
                      min_quantity=Decimal("0.01"), min_notional=Decimal("5"),
                      maker_fee=Decimal("0.0002"), taker_fee=Decimal("0.00055"),
                      multiplier=Decimal("1"), quote_currency="USDT",
                      margin_init=Decimal("0.1"), margin_maint=Decimal("0.005"))
    again = Instrument.from_dict(inst.to_dict())
    assert again == inst
    assert again.id == inst.id and again.tick_raw == inst.tick_raw
    assert again.kind is InstrumentKind.LINEAR_PERPETUAL


def test_instrument_to_dict_survives_json() -> None:
    inst = make(tick="0.5", lot="0.00000001", taker_fee=Decimal("0.0004"))
    assert Instrument.from_dict(json.loads(json.dumps(inst.to_dict()))) == inst


def test_instrument_to_dict_holds_no_floats() -> None:
    values = make(taker_fee=Decimal("0.001")).to_dict().values()
    assert all(isinstance(v, str) for v in values)


@FAST
@given(increments, increments, st.sampled_from(MULTIPLIERS).map(Decimal),
       st.sampled_from(list(InstrumentKind)))
def test_instrument_dict_round_trip_any_grid(
    tick: Decimal, lot: Decimal, mult: Decimal, kind: InstrumentKind
) -> None:
    inst = make(tick=str(tick), lot=str(lot), multiplier=mult, kind=kind)
    assert Instrument.from_dict(inst.to_dict()) == inst


@settings(max_examples=300, deadline=None)
@given(tick_exp=st.integers(-4, 1), lot_exp=st.integers(-8, 0),
       tick_digit=st.sampled_from([1, 5]), mult=st.sampled_from(["1", "0.001", "10", "0.5"]),
       min_qty_units=st.integers(0, 10_000), min_qty_exp=st.integers(-9, 0),
       min_notional_units=st.integers(0, 10_000), min_notional_exp=st.integers(-3, 2),
       ticks=st.integers(1, 10**7), lots=st.integers(1, 10**6))
def test_integer_minimums_decide_exactly_as_the_decimal_ones(
        tick_exp: int, lot_exp: int, tick_digit: int, mult: str, min_qty_units: int,
        min_qty_exp: int, min_notional_units: int, min_notional_exp: int, ticks: int,
        lots: int) -> None:
    """``min_quantity_raw`` / ``min_notional_raw`` (what the venue check compares on the
    integer grid) refuse exactly the orders the Decimal minimums refuse, also when a
    minimum has more decimals than the grid."""
    inst = Instrument("X", price_increment=Decimal(tick_digit).scaleb(tick_exp),
                      size_increment=Decimal(1).scaleb(lot_exp), multiplier=Decimal(mult),
                      min_quantity=Decimal(min_qty_units).scaleb(min_qty_exp),
                      min_notional=Decimal(min_notional_units).scaleb(min_notional_exp))
    qty = inst.quantity(lots)
    assert (lots * inst.lot_raw < inst.min_quantity_raw) == (qty < inst.min_quantity)
    notional = inst.price(ticks) * qty * inst.multiplier
    assert (inst.notional_raw(ticks, lots) < inst.min_notional_raw) == (
        notional < inst.min_notional)


@settings(max_examples=300, deadline=None)
@given(tick_exp=st.integers(-8, 2), lot_exp=st.integers(-8, 2),
       tick_digit=st.sampled_from([1, 5, 25]), ticks=st.integers(-10**9, 10**12),
       lots=st.integers(0, 10**12))
def test_request_text_is_the_decimal_written_out(tick_exp: int, lot_exp: int,
                                                 tick_digit: int, ticks: int,
                                                 lots: int) -> None:
    """``price_text``/``quantity_text`` (built from the integers for venue requests) are
    exactly ``format(Decimal, "f")`` of the price and quantity: never an exponent."""
    inst = Instrument("X", price_increment=Decimal(tick_digit).scaleb(tick_exp),
                      size_increment=Decimal(1).scaleb(lot_exp))
    assert inst.price_text(ticks) == format(inst.price(ticks), "f")
    assert inst.quantity_text(lots) == format(inst.quantity(lots), "f")
    assert "E" not in inst.price_text(ticks) + inst.quantity_text(lots)


@settings(max_examples=400, deadline=None)
@given(tick_exp=st.integers(-8, 2), tick_digit=st.sampled_from([1, 5, 25]),
       digits=st.integers(-10**15, 10**15), exponent=st.integers(-12, 6),
       as_int=st.booleans())
def test_grid_of_a_decimal_or_int_is_its_exact_ratio_or_off_grid(
        tick_exp: int, tick_digit: int, digits: int, exponent: int, as_int: bool) -> None:
    """``ticks``/``lots`` (an integer-ratio fast path for Decimal and int) give exactly
    ``value / increment`` when that is whole, and refuse every value between the steps;
    the same value written as a string (the Decimal-context path) agrees."""
    step = Decimal(tick_digit).scaleb(tick_exp)
    inst = Instrument("X", price_increment=step, size_increment=step)
    value: Decimal | int = Decimal(digits).scaleb(exponent)
    if as_int:
        value = digits
    ratio = Fraction(value) / Fraction(step)
    for convert in (inst.ticks, inst.lots):
        if ratio.denominator == 1:
            assert convert(value) == ratio.numerator
            assert convert(str(value)) == ratio.numerator
        else:
            with pytest.raises(OffGrid):
                convert(value)
            with pytest.raises(OffGrid):
                convert(str(value))


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("1e200"),
                                   True])
def test_values_the_fast_path_passes_on_are_refused_with_the_reason(value: object) -> None:
    with pytest.raises((ValueError, TypeError), match=r"finite|digits|not bool"):
        make().ticks(value)
