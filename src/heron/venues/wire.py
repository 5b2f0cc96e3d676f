"""What every venue parser shares: exact decimal text to ticks and lots, and bad messages.

Venues print prices and sizes as decimal text (``"61800.20"``). A float would round
them, a ``Decimal`` per value is slow on a book stream, so :func:`text_units` reads the
digits as one ``int`` at the instrument's decimals and refuses a value between its
ticks or lots (:class:`OffGrid`). :class:`Grid` does that per instrument and remembers
each text it has converted: book levels repeat their prices in every message.

A parser never raises on what a venue sends: a message it cannot use becomes a
:class:`BadMessage` with the raw text and the reason, counted by :class:`BadKind`,
so a live feed logs it and keeps going.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec

from heron.model.instrument import Instrument, OffGrid

__all__ = ["BadKind", "BadMessage", "Grid", "UnknownSymbol", "bad_message", "decimal_places",
           "digits", "text_of", "text_units", "text_units_rounded", "undecodable"]

_POW10: tuple[int, ...] = tuple(10**n for n in range(40))
_CACHE_LIMIT = 1 << 16  # distinct texts kept per grid before the cache starts afresh


class BadKind(enum.StrEnum):
    """Why a message could not be used."""

    MALFORMED = "malformed"        # not JSON, or not the shape of its stream
    TRUNCATED = "truncated"        # JSON cut short (a capture's torn line)
    UNSUPPORTED = "unsupported"    # a stream or event heron does not turn into events
    UNKNOWN_SYMBOL = "unknown_symbol"
    OFF_GRID = "off_grid"          # a price or size between the instrument's ticks or lots
    VENUE_ERROR = "venue_error"    # the venue's own error reply (a refused subscribe or
    #                                login): a live feed also hands it to the client library,
    #                                which may be waiting on it


class UnknownSymbol(LookupError):
    """A message names a symbol the parser holds no instrument for (a parser reports it
    as a :class:`BadMessage` of kind ``UNKNOWN_SYMBOL``)."""


class BadMessage(msgspec.Struct, frozen=True):
    """A venue message that could not be used, kept as received. Not an exception."""

    ts_recv: int
    kind: BadKind
    detail: str
    raw: str


# -- decimal text -> integer units -----------------------------------------------------------
def decimal_places(text: str) -> int:
    """Digits after the point as printed (``"0.0100"`` -> 4)."""
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def _pow10(n: int) -> int:
    return _POW10[n] if n < len(_POW10) else 10**n


def digits(text: str) -> tuple[int, int]:
    """``text`` as ``(integer, places)``: ``"61800.20"`` -> ``(6180020, 2)``.

    Only plain non-negative decimals are accepted (what Binance prints); a sign, an
    exponent, blanks or underscores (which ``int()`` alone would take) raise ValueError.
    """
    whole, _, frac = text.partition(".")
    digits = whole + frac
    if not (whole and digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a plain decimal: {text!r}")
    return int(digits), len(frac)


def text_units(text: str, places: int, step: int) -> int:
    """``text`` in units of ``step * 10**-places``, exactly; :class:`OffGrid` if between.

    ``places``/``step`` are an instrument's ``price_precision``/``tick_raw`` (or the size
    pair): tick 0.10 is ``places=1, step=1``; tick 0.5 is ``places=1, step=5``.
    """
    value, have = digits(text)
    if have > places:
        value, rest = divmod(value, _pow10(have - places))
        if rest:
            raise OffGrid(f"{text} has more than {places} decimals")
    else:
        value *= _pow10(places - have)
    if step != 1:
        value, rest = divmod(value, step)
        if rest:
            raise OffGrid(f"{text} is not a multiple of {step}e-{places}")
    return value


def text_units_rounded(text: str, places: int, step: int) -> int:
    """Like :func:`text_units`, but rounded half-even to the nearest unit."""
    value, have = digits(text)
    num = value * _pow10(max(places - have, 0))
    den = step * _pow10(max(have - places, 0))
    units, rest = divmod(num, den)
    if 2 * rest > den or (2 * rest == den and units % 2):
        units += 1
    return units


class Grid:
    """One instrument's price and size conversions, each text converted once."""

    __slots__ = ("_prices", "_sizes", "instrument", "price", "size")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self._prices: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self.price = self._converter(self._prices, instrument.price_precision,
                                     instrument.tick_raw)
        self.size = self._converter(self._sizes, instrument.size_precision, instrument.lot_raw)

    @staticmethod
    def _converter(cache: dict[str, int], places: int, step: int) -> Callable[[str], int]:
        get = cache.get

        def units(text: str) -> int:
            value = get(text)
            if value is None:
                value = text_units(text, places, step)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[text] = value
            return value

        return units

    def rounded_price(self, text: str) -> int:
        inst = self.instrument
        return text_units_rounded(text, inst.price_precision, inst.tick_raw)



def text_of(raw: bytes | str) -> str:
    """``raw`` as text, undecodable bytes replaced (a bad message is kept, not refused)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def bad_message(raw: bytes | str, ts_recv: int, kind: BadKind, detail: str) -> BadMessage:
    return BadMessage(ts_recv, kind, detail, text_of(raw))


def undecodable(raw: bytes | str, ts_recv: int, exc: msgspec.DecodeError) -> BadMessage:
    """A message msgspec could not decode: truncated (a torn capture line) or malformed."""
    detail = str(exc)
    kind = BadKind.TRUNCATED if "truncated" in detail else BadKind.MALFORMED
    return bad_message(raw, ts_recv, kind, detail)
