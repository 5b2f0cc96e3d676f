"""Fixed-point values: exact parsing, refusal of ambiguous input, exact arithmetic."""

from __future__ import annotations

import functools
import operator
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.fixed import (
    MAX_PRECISION,
    Money,
    Price,
    Quantity,
    decimals_of,
    quantize_money,
    round_raw,
    to_decimal,
)

FAST = settings(max_examples=200, deadline=None)

precisions = st.integers(min_value=0, max_value=MAX_PRECISION)
raws = st.integers(min_value=-(10**30), max_value=10**30)


def exact_decimal(raw: int, precision: int) -> Decimal:
    """``raw * 10**-precision`` built from a string, independent of ``scaleb``."""
    sign = "-" if raw < 0 else ""
    digits = str(abs(raw)).rjust(precision + 1, "0")
    if precision == 0:
        return Decimal(sign + digits)
    return Decimal(f"{sign}{digits[:-precision]}.{digits[-precision:]}")


@st.composite
def decimals_at(draw: st.DrawFn, precision: int | None = None) -> tuple[Decimal, int]:
    places = draw(precisions) if precision is None else precision
    return exact_decimal(draw(raws), places), places


# -- parsing ----------------------------------------------------------------------------------
def test_price_from_str_infers_precision_from_decimals() -> None:
    price = Price("1.25")
    assert (price.raw, price.precision) == (125, 2)


def test_price_from_str_with_trailing_zeros_uses_fewest_decimals() -> None:
    price = Price("1.50")
    assert (price.raw, price.precision) == (15, 1)


def test_price_from_int_has_precision_zero() -> None:
    price = Price(42)
    assert (price.raw, price.precision) == (42, 0)


def test_price_from_decimal_with_explicit_precision_scales_raw() -> None:
    price = Price(Decimal("1.5"), 4)
    assert (price.raw, price.precision) == (15000, 4)


def test_price_from_str_with_whitespace_parses() -> None:
    assert Price(" 2.5 ") == Price("2.5")


def test_price_from_exponent_notation_parses_exactly() -> None:
    assert Price("1E+2").raw == 100
    assert Price("25E-3") == Price("0.025")


def test_price_negative_is_allowed() -> None:
    assert Price("-0.5").raw == -5


def test_money_negative_is_allowed() -> None:
    assert Money("-12.34").raw == -1234


def test_fixed_from_other_fixed_copies_value() -> None:
    assert Price(Money("3.25"), 3) == Price("3.25")


def test_to_decimal_of_fixed_returns_its_decimal() -> None:
    assert to_decimal(Price("0.125")) == Decimal("0.125")


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), float("inf")])
def test_price_from_float_raises_type_error(value: float) -> None:
    with pytest.raises(TypeError, match="float"):
        Price(value)


def test_price_from_bool_raises_type_error() -> None:
    with pytest.raises(TypeError):
        Price(True)


@pytest.mark.parametrize("value", [object(), [1], None, b"1"])
def test_price_from_unsupported_type_raises_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        Price(value)


@pytest.mark.parametrize("value", ["nan", "NaN", "sNaN", "inf", "-Infinity",
                                   Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_price_from_non_finite_raises_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        Price(value)


@pytest.mark.parametrize("value", ["", "abc", "1.2.3", "1,5", "0x10"])
def test_price_from_malformed_str_raises_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="not a decimal"):
        Price(value)


def test_price_with_more_decimals_than_precision_raises() -> None:
    with pytest.raises(ValueError, match="3 decimals"):
        Price("1.234", 2)


def test_price_with_trailing_zero_beyond_precision_is_accepted() -> None:
    assert Price("1.230", 2).raw == 123


def test_price_past_28_significant_digits_is_not_silently_rounded() -> None:
    # 31 decimals: the default decimal context (28 digits) would round this to 0.10.
    with pytest.raises(ValueError, match="31 decimals"):
        Price("0.1000000000000000000000000000001", 2)


def test_price_long_exact_value_keeps_every_digit() -> None:
    value = "123456789012345.123456789012345678"  # 33 significant digits
    price = Price(value)
    assert price.precision == 18
    assert price.raw == 123456789012345123456789012345678
    assert str(price) == value


@pytest.mark.parametrize("value", ["1e999999", "1e9999999", "1" + "0" * 100])
def test_price_with_absurd_magnitude_raises_value_error(value: str) -> None:
    # refused up front rather than building a million-digit integer
    with pytest.raises(ValueError, match="integer digits"):
        Price(value)


def test_price_with_absurdly_small_exponent_raises_not_rounds_to_zero() -> None:
    with pytest.raises(ValueError, match="precision"):
        Price("1e-9999999")


def test_price_zero_with_huge_exponent_is_zero() -> None:
    assert Price("0E+999999999") == Price("0")


def test_price_with_hundred_integer_digits_is_exact() -> None:
    assert Price("9" * 100).raw == int("9" * 100)


def test_price_precision_above_maximum_raises() -> None:
    with pytest.raises(ValueError, match="precision"):
        Price("1", MAX_PRECISION + 1)


def test_price_negative_precision_raises() -> None:
    with pytest.raises(ValueError):
        Price("1", -1)


def test_price_inferred_precision_above_maximum_raises() -> None:
    with pytest.raises(ValueError, match="precision"):
        Price("0." + "0" * MAX_PRECISION + "1")


def test_quantity_negative_raises() -> None:
    with pytest.raises(ValueError, match="negative"):
        Quantity("-0.001")


def test_quantity_zero_is_allowed_and_falsy() -> None:
    assert not Quantity("0")
    assert Quantity("0.001")


def test_quantity_subtraction_below_zero_raises() -> None:
    with pytest.raises(ValueError, match="negative"):
        Quantity("1") - Quantity("1.5")


def test_quantity_negation_raises() -> None:
    with pytest.raises(ValueError):
        -Quantity("1")


# -- equality, hashing, ordering --------------------------------------------------------------
def test_price_equality_across_precisions_is_true() -> None:
    assert Price("1.5") == Price("1.50000", 5) == Price(Decimal("1.500"), 3)


def test_price_hash_equal_across_precisions() -> None:
    assert hash(Price("1.5")) == hash(Price("1.5", 8))
    assert len({Price("1.5"), Price("1.50", 2), Price("1.500", 3)}) == 1


def test_price_and_money_with_same_value_are_not_equal() -> None:
    assert Price("1.5") != Money("1.5")
    assert len({Price("1.5"), Money("1.5")}) == 2


def test_price_not_equal_to_plain_numbers() -> None:
    assert Price("2") != 2
    assert Price("2") != Decimal(2)
    assert Price("2") != "2"


def test_price_ordering_across_precisions_compares_values() -> None:
    values = [Price("1.05", 2), Price("-3"), Price("1.5"), Price("1.049", 3), Price("0")]
    assert [str(v) for v in sorted(values)] == ["-3", "0", "1.049", "1.05", "1.5"]
    assert Price("1.5") <= Price("1.50", 2)
    assert Price("1.5") >= Price("1.50", 2)
    assert Price("1.5") > Price("1.49")
    assert not Price("1.5") < Price("1.5", 3)


def test_price_compared_with_money_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cannot compare"):
        _ = Price("1") < Money("2")  # type: ignore[operator]


def test_price_compared_with_int_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Price("1") < 2  # type: ignore[operator]


# -- arithmetic -------------------------------------------------------------------------------
def test_price_addition_is_exact_decimal() -> None:
    total = Price("0.1") + Price("0.2")
    assert total == Price("0.3")
    assert str(total) == "0.3"


def test_money_addition_takes_larger_precision() -> None:
    total = Money("1.5") + Money("0.001")
    assert (total.raw, total.precision) == (1501, 3)


def test_money_subtraction_is_exact() -> None:
    assert Money("1") - Money("0.999999") == Money("0.000001")
    assert Money("1") - Money("2.5") == Money("-1.5")


def test_money_negation_flips_sign() -> None:
    assert -Money("2.25") == Money("-2.25")


def test_price_plus_money_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Price("1") + Money("1")  # type: ignore[operator]


def test_price_plus_int_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = Price("1") + 1  # type: ignore[operator]


def test_price_str_and_repr_are_plain_decimals() -> None:
    assert str(Price("1E+3")) == "1000"
    assert str(Money.from_raw(-5, 3)) == "-0.005"
    assert repr(Quantity("0.25")) == "Quantity('0.25')"


def test_decimals_of_counts_needed_places() -> None:
    assert decimals_of(Decimal("1.2300")) == 2
    assert decimals_of(Decimal("100")) == 0
    assert decimals_of(Decimal("1E+5")) == 0
    assert decimals_of(Decimal("0.0000001")) == 7


# -- properties -------------------------------------------------------------------------------
@FAST
@given(decimals_at(), decimals_at())
def test_money_add_then_sub_returns_original_exactly(
    a: tuple[Decimal, int], b: tuple[Decimal, int]
) -> None:
    x, y = Money(a[0], a[1]), Money(b[0], b[1])
    assert (x + y) - y == x
    assert (x - y) + y == x
    with localcontext() as ctx:
        ctx.prec = 200
        assert (x + y).as_decimal() == a[0] + b[0]
        assert (x - y).as_decimal() == a[0] - b[0]


@FAST
@given(raws, precisions)
def test_money_from_raw_round_trips_through_decimal(raw: int, precision: int) -> None:
    money = Money.from_raw(raw, precision)
    assert money.as_decimal() == exact_decimal(raw, precision)
    again = Money(money.as_decimal(), precision)
    assert (again.raw, again.precision) == (raw, precision)
    assert Money(str(money), precision).raw == raw


@FAST
@given(raws, precisions, st.integers(min_value=0, max_value=6))
def test_money_equal_values_at_other_precision_hash_equal(
    raw: int, precision: int, extra: int
) -> None:
    extra = min(extra, MAX_PRECISION - precision)
    a = Money.from_raw(raw, precision)
    b = Money.from_raw(raw * 10**extra, precision + extra)
    assert a == b
    assert hash(a) == hash(b)
    assert not a < b and not a > b


@FAST
@given(raws, raws, precisions, precisions)
def test_money_ordering_matches_decimal_ordering(
    raw_a: int, raw_b: int, prec_a: int, prec_b: int
) -> None:
    a, b = Money.from_raw(raw_a, prec_a), Money.from_raw(raw_b, prec_b)
    da, db = exact_decimal(raw_a, prec_a), exact_decimal(raw_b, prec_b)
    assert (a < b) == (da < db)
    assert (a == b) == (da == db)
    assert (a >= b) == (da >= db)


@settings(max_examples=100, deadline=None)
@given(st.lists(decimals_at(), min_size=1, max_size=200))
def test_money_sum_of_many_equals_decimal_sum_exactly(items: list[tuple[Decimal, int]]) -> None:
    values = [Money(dec, places) for dec, places in items]
    total = functools.reduce(operator.add, values)
    with localcontext() as ctx:
        ctx.prec = 200  # enough that the reference sum itself is exact
        expected = sum((dec for dec, _ in items), Decimal(0))
    assert total.as_decimal() == expected
    assert total.precision == max(places for _, places in items)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-(10**40), max_value=10**40),
       st.integers(min_value=1, max_value=10**20), st.booleans())
def test_round_raw_matches_decimal_half_even(
    numerator: int, denominator: int, negate_denominator: bool
) -> None:
    if negate_denominator:
        numerator, denominator = -numerator, -denominator
    with localcontext() as ctx:
        ctx.prec = 100
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN)
    assert round_raw(numerator, denominator) == int(expected)


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (5, 2, 2), (7, 2, 4), (-5, 2, -2), (-7, 2, -4), (1, 3, 0), (2, 3, 1), (-2, 3, -1),
    (10, -5, -2), (5, -2, -2), (15, 10, 2), (25, 10, 2), (0, 7, 0),
])
def test_round_raw_known_values_are_half_even(
    numerator: int, denominator: int, expected: int
) -> None:
    assert round_raw(numerator, denominator) == expected


def test_round_raw_by_zero_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        round_raw(1, 0)


@FAST
@given(decimals_at(), precisions)
def test_quantize_money_matches_decimal_half_even(
    value: tuple[Decimal, int], precision: int
) -> None:
    dec, _ = value
    with localcontext() as ctx:
        ctx.prec = 200
        expected = int((dec * Decimal(10) ** precision).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN))
    assert quantize_money(dec, precision) == expected


def test_quantize_money_rounds_half_to_even() -> None:
    assert quantize_money(Decimal("0.125"), 2) == 12
    assert quantize_money(Decimal("0.135"), 2) == 14
    assert quantize_money(Decimal("-0.125"), 2) == -12
