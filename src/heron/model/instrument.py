"""Instruments: what can be traded, and the grid its prices and sizes live on.

An instrument fixes the *tick* (price increment) and the *lot* (size increment).
Inside the engine a price is an ``int`` number of ticks and a size an ``int`` number
of lots; this module is where those integers meet ``Decimal`` at the edges. A value
that is not on the grid is refused rather than rounded: a rounded price is a
different order from the one the strategy asked for.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from heron.model.fixed import EXACT, MAX_INTEGER_DIGITS, decimals_of, to_decimal


class InstrumentKind(enum.StrEnum):
    """How a position in the instrument is paid for and marked."""

    SPOT = "spot"                          # pay the full notional, hold the asset
    LINEAR_PERPETUAL = "linear_perpetual"  # margined in the quote currency, funding every few hours


class OffGrid(ValueError):
    """A price or size is not a whole number of ticks or lots."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument with its exact price/size grid, limits and fees.

    ``id`` is ``SYMBOL.VENUE``, unique across venues (computed, not passed).

    Fees are fractions of notional (``Decimal("0.0004")`` = 4 bps). ``margin_init``
    is the initial margin fraction (1/leverage) and ``margin_maint`` the maintenance
    fraction below which a linear perpetual position is liquidated.
    """

    symbol: str
    venue: str = "SIM"
    kind: InstrumentKind = InstrumentKind.SPOT
    price_increment: Decimal = Decimal("0.01")
    size_increment: Decimal = Decimal("0.00000001")
    min_quantity: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    multiplier: Decimal = Decimal(1)
    quote_currency: str = "USD"
    margin_init: Decimal = Decimal(1)
    margin_maint: Decimal = Decimal(0)
    id: str = field(init=False)
    price_precision: int = field(init=False)
    size_precision: int = field(init=False)
    tick_raw: int = field(init=False)
    lot_raw: int = field(init=False)
    unit_raw: int = field(init=False)  # tick_raw * lot_raw * multiplier, scaled to an int
    notional_precision: int = field(init=False)  # decimals of ticks * lots * multiplier
    #: the minimums on the integer grids, rounded up (exact: an order is below a minimum
    #: exactly when its raw value is below these): ``lots * lot_raw`` and ``notional_raw``
    min_quantity_raw: int = field(init=False)
    min_notional_raw: int = field(init=False)
    #: ``10 ** price_precision`` and ``10 ** size_precision``: what the grid fast path
    #: multiplies a value's exact ratio by (see :func:`_whole_steps`)
    price_scale: int = field(init=False, repr=False, compare=False)
    size_scale: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("price_increment", "size_increment", "min_quantity", "min_notional",
                     "maker_fee", "taker_fee", "multiplier", "margin_init", "margin_maint"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), what=name))
        if self.price_increment <= 0 or self.size_increment <= 0:
            raise ValueError(f"{self.symbol}: price and size increments must be positive")
        if self.multiplier <= 0:
            raise ValueError(f"{self.symbol}: multiplier must be positive")
        if not Decimal(0) < self.margin_init <= Decimal(1) or self.margin_maint < 0:
            raise ValueError(f"{self.symbol}: margin_init must be in (0, 1], margin_maint >= 0")
        object.__setattr__(self, "id", f"{self.symbol}.{self.venue}")
        pp = decimals_of(self.price_increment)
        sp = decimals_of(self.size_increment)
        object.__setattr__(self, "price_precision", pp)
        object.__setattr__(self, "size_precision", sp)
        object.__setattr__(self, "price_scale", 10**pp)
        object.__setattr__(self, "size_scale", 10**sp)
        object.__setattr__(self, "tick_raw", int(self.price_increment.scaleb(pp, EXACT)))
        object.__setattr__(self, "lot_raw", int(self.size_increment.scaleb(sp, EXACT)))
        mult = int(self.multiplier.scaleb(decimals_of(self.multiplier), EXACT))
        object.__setattr__(self, "unit_raw", self.tick_raw * self.lot_raw * mult)
        object.__setattr__(self, "notional_precision", pp + sp + decimals_of(self.multiplier))
        object.__setattr__(self, "min_quantity_raw",
                           _ceil(self.min_quantity.scaleb(sp, EXACT)))
        object.__setattr__(self, "min_notional_raw",
                           _ceil(self.min_notional.scaleb(self.notional_precision, EXACT)))

    @property
    def is_perpetual(self) -> bool:
        return self.kind is InstrumentKind.LINEAR_PERPETUAL

    # -- edges: Decimal <-> integer grid ---------------------------------------------------
    def ticks(self, price: object) -> int:
        """Whole ticks in ``price``; raises :class:`OffGrid` if it is between ticks."""
        whole = _whole_steps(price, self.price_scale, self.tick_raw)
        if whole is not None:
            return whole
        return self._grid(to_decimal(price, what="price"), self.price_precision, self.tick_raw,
                          "price", self.price_increment)

    def lots(self, quantity: object) -> int:
        """Whole lots in ``quantity``; raises :class:`OffGrid` if it is between lots."""
        whole = _whole_steps(quantity, self.size_scale, self.lot_raw)
        if whole is not None:
            return whole
        return self._grid(to_decimal(quantity, what="quantity"), self.size_precision,
                          self.lot_raw, "quantity", self.size_increment)

    def _grid(self, value: Decimal, precision: int, step: int, what: str, inc: Decimal) -> int:
        scaled = value.scaleb(precision, EXACT)
        if scaled != scaled.to_integral_value() or int(scaled) % step:
            raise OffGrid(f"{what} {value} is not a multiple of {inc} on {self.symbol}")
        return int(scaled) // step

    def price(self, ticks: int) -> Decimal:
        return Decimal(ticks * self.tick_raw).scaleb(-self.price_precision, EXACT)

    def quantity(self, lots: int) -> Decimal:
        return Decimal(lots * self.lot_raw).scaleb(-self.size_precision, EXACT)

    def price_text(self, ticks: int) -> str:
        """``format(self.price(ticks), "f")`` straight from the integers: the text a venue
        request carries, without building a Decimal on the order path."""
        return _fixed_text(ticks * self.tick_raw, self.price_precision)

    def quantity_text(self, lots: int) -> str:
        """``format(self.quantity(lots), "f")``, as :meth:`price_text`."""
        return _fixed_text(lots * self.lot_raw, self.size_precision)

    def notional_raw(self, ticks: int, lots: int) -> int:
        """``price * quantity * multiplier`` as an integer at :attr:`notional_precision`."""
        return ticks * lots * self.unit_raw

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, stored in journals so a replay needs no other file."""
        return {
            "symbol": self.symbol, "venue": self.venue, "kind": self.kind.value,
            "price_increment": str(self.price_increment),
            "size_increment": str(self.size_increment),
            "min_quantity": str(self.min_quantity), "min_notional": str(self.min_notional),
            "maker_fee": str(self.maker_fee), "taker_fee": str(self.taker_fee),
            "multiplier": str(self.multiplier), "quote_currency": self.quote_currency,
            "margin_init": str(self.margin_init), "margin_maint": str(self.margin_maint),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instrument:
        fields = dict(data)
        fields["kind"] = InstrumentKind(fields["kind"])
        for key, value in fields.items():
            if key not in ("symbol", "venue", "kind", "quote_currency"):
                fields[key] = Decimal(value)
        return cls(**fields)


def _whole_steps(value: object, scale: int, step: int) -> int | None:
    """``value * scale / step`` for a plain ``Decimal`` or ``int`` when that is a whole
    number, from the value's exact ratio: one integer division instead of the Decimal
    context arithmetic of :meth:`Instrument._grid`, on every order a strategy places.
    ``None`` sends the caller down the slow path, which converts any other type and
    explains a refusal (off the grid, not finite, too many digits)."""
    if isinstance(value, Decimal):
        if not value.is_finite() or not (-MAX_INTEGER_DIGITS < value.adjusted()
                                         < MAX_INTEGER_DIGITS):
            return None
        num, den = value.as_integer_ratio()
    elif isinstance(value, int) and not isinstance(value, bool):  # a bool is refused
        num, den = value, 1
    else:
        return None
    whole, rest = divmod(num * scale, den * step)
    return None if rest else whole


def _ceil(value: Decimal) -> int:
    """The smallest integer not below ``value`` (a minimum on an integer grid)."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _fixed_text(raw: int, places: int) -> str:
    """``raw / 10**places`` written out with exactly ``places`` decimals."""
    if places == 0:
        return str(raw)
    digits = str(abs(raw)).rjust(places + 1, "0")
    return f"{'-' if raw < 0 else ''}{digits[:-places]}.{digits[-places:]}"
