"""Exact fixed-point values: ``Price``, ``Quantity`` and ``Money``.

A value is an integer ``raw`` scaled by ``10**-precision``. Equality, ordering and
hashing are on the scaled integer, so ``Price("1.50") == Price("1.5")``. Arithmetic
between two values of one kind is exact integer arithmetic; nothing passes through a
binary float. Construction rejects NaN, infinities, floats (ambiguous: ``0.1`` is not
one tenth) and, for ``Price``/``Quantity``, more decimals than asked for, because a
silently rounded price is a different order.

Inside the engine prices and sizes travel as plain ``int`` ticks and lots of their
instrument (see :mod:`heron.model.instrument`); these types are the edges.
"""

from __future__ import annotations

from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
)
from typing import Any, ClassVar, Self

MAX_PRECISION = 24
MAX_INTEGER_DIGITS = 100  # far past any price, size or balance; bounds the raw int
#: For scaling and normalising, which are exact in principle but round to the
#: *context* precision (28 digits by default): past 28 significant digits the default
#: context would silently round a price or a balance. Never divide in this context.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def to_decimal(value: object, *, what: str = "value") -> Decimal:
    """Convert ``str``/``int``/``Decimal``/fixed values to ``Decimal``, refusing floats and NaN."""
    if isinstance(value, FixedPoint):
        return value.as_decimal()
    if isinstance(value, bool | float):
        raise TypeError(f"{what}: pass a str, int or Decimal, not {type(value).__name__} "
                        f"({value!r}); binary floats cannot hold most decimal prices exactly")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what}: {value!r} is not a decimal number") from None
    else:
        raise TypeError(f"{what}: cannot make a decimal from {type(value).__name__}")
    if not dec.is_finite():
        raise ValueError(f"{what}: {value!r} is not a finite number")
    if dec and dec.adjusted() >= MAX_INTEGER_DIGITS:  # "1e999999" would build a huge int
        raise ValueError(f"{what}: {value!r} has more than {MAX_INTEGER_DIGITS} integer digits")
    return dec


def decimals_of(value: Decimal) -> int:
    """Number of decimal places needed to write ``value`` exactly (0 for integers)."""
    exponent = value.normalize(EXACT).as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only; checked by to_decimal
    return max(0, -exponent)


class FixedPoint:
    """Shared behaviour of the fixed-point kinds: an integer ``raw`` at ``precision``."""

    __slots__ = ("precision", "raw")
    kind: ClassVar[str] = "value"
    signed: ClassVar[bool] = True

    raw: int
    precision: int

    def __init__(self, value: object, precision: int | None = None) -> None:
        dec = to_decimal(value, what=self.kind)
        places = decimals_of(dec)
        if precision is None:
            precision = places
        elif places > precision:
            raise ValueError(
                f"{self.kind} {dec} has {places} decimals; at most {precision} allowed")
        if not 0 <= precision <= MAX_PRECISION:
            raise ValueError(f"{self.kind} precision {precision} outside 0..{MAX_PRECISION}")
        raw = int(dec.scaleb(precision, EXACT))
        if raw < 0 and not self.signed:
            raise ValueError(f"{self.kind} must not be negative, got {dec}")
        self.raw = raw
        self.precision = precision

    @classmethod
    def from_raw(cls, raw: int, precision: int) -> Self:
        """Build from an already scaled integer (the engine's internal form)."""
        obj = cls.__new__(cls)
        obj.raw = raw
        obj.precision = precision
        return obj

    def as_decimal(self) -> Decimal:
        return Decimal(self.raw).scaleb(-self.precision, EXACT)

    def _scaled(self, precision: int) -> int:
        factor: int = 10 ** (precision - self.precision)  # precision >= self.precision
        return self.raw * factor

    def _common(self, other: object) -> tuple[int, int] | None:
        if not isinstance(other, FixedPoint) or other.kind != self.kind:
            return None
        p = max(self.precision, other.precision)
        return self._scaled(p), other._scaled(p)

    def __eq__(self, other: object) -> bool:
        pair = self._common(other)
        return pair is not None and pair[0] == pair[1]

    def __hash__(self) -> int:
        return hash((self.kind, self.as_decimal().normalize(EXACT)))

    def __lt__(self, other: Self) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: Self) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: Self) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: Self) -> bool:
        return self._cmp(other) >= 0

    def _cmp(self, other: Any) -> int:
        pair = self._common(other)
        if pair is None:
            raise TypeError(f"cannot compare {self.kind} with {type(other).__name__}")
        return (pair[0] > pair[1]) - (pair[0] < pair[1])

    def __add__(self, other: Self) -> Self:
        pair = self._common(other)
        if pair is None:
            return NotImplemented
        return type(self).from_raw(pair[0] + pair[1], max(self.precision, other.precision))

    def __sub__(self, other: Self) -> Self:
        pair = self._common(other)
        if pair is None:
            return NotImplemented
        result = pair[0] - pair[1]
        if result < 0 and not self.signed:
            raise ValueError(f"{self.kind} {self} - {other} would be negative")
        return type(self).from_raw(result, max(self.precision, other.precision))

    def __neg__(self) -> Self:
        if not self.signed:
            raise ValueError(f"{self.kind} cannot be negated")
        return type(self).from_raw(-self.raw, self.precision)

    def __bool__(self) -> bool:
        return self.raw != 0

    def __str__(self) -> str:
        return format(self.as_decimal(), "f")

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"


class Price(FixedPoint):
    """A price; may be negative (spreads, some futures)."""

    __slots__ = ()
    kind = "price"


class Quantity(FixedPoint):
    """An order or position size; never negative (direction lives in the side)."""

    __slots__ = ()
    kind = "quantity"
    signed = False


class Money(FixedPoint):
    """An amount of the account currency: balances, fees, PnL, funding."""

    __slots__ = ()
    kind = "money"


def round_raw(numerator: int, denominator: int) -> int:
    """Divide two integers rounding half to even, the way venues round fees."""
    if denominator < 0:  # divmod's remainder takes the divisor's sign; keep it >= 0
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def quantize_money(value: Decimal, precision: int) -> int:
    """Round a ``Decimal`` amount half-even to a raw integer at ``precision``."""
    return int(value.scaleb(precision, EXACT).quantize(Decimal(1), ROUND_HALF_EVEN, EXACT))
