"""Alpaca's numbers and times, read exactly: JSON number text, msgpack floats, RFC-3339.

Alpaca sends prices and sizes as numbers, not strings, and times as RFC-3339 text with
up to nine fractional digits (or, on its msgpack streams, a msgpack timestamp). Heron
holds prices in ticks and times in integer nanoseconds, so each is turned into decimal
text or an ``int`` here without passing through a binary float or a ``datetime`` (which
keeps microseconds only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

import msgspec

__all__ = ["any_time_ns", "float_text", "number_text", "rfc3339_ns"]


def _plain(text: str) -> str:
    """``1e-07`` -> ``0.0000001``: an exponent form as plain digits, exactly."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return format(value, "f")


def number_text(raw: msgspec.Raw) -> str:
    """A JSON number's text as sent (``47.299``); an exponent is written out in full."""
    text = bytes(raw).decode()
    if "e" in text or "E" in text:
        return _plain(text)
    return text


def float_text(value: object) -> str:
    """The decimal text of a msgpack/dict number: ``repr`` of a float, ``str`` of an int.

    ``repr`` gives the shortest text that reads back as the same float, which is the
    venue's own decimal whenever that had at most 15 significant digits. Strings are
    taken as they are; ``bool`` (an ``int`` to Python) and anything else are refused.
    """
    kind = type(value)
    if kind is float:
        text = repr(value)
        return _plain(text) if "e" in text else text
    if kind is int:
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"not a number: {value!r}")


_EPOCH = datetime(1970, 1, 1)
_NS = 1_000_000_000
_FRACTION_SCALE = tuple(10 ** (9 - n) for n in range(10))
_SECONDS: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> ns since the epoch
_SECONDS_KEPT = 4096


def _seconds_ns(head: str) -> int:
    """``2024-03-12T10:27:48`` (UTC) as ns since the epoch; ValueError if not that shape."""
    if (len(head) != 19 or head[4] != "-" or head[7] != "-" or head[10] not in "Tt"
            or head[13] != ":" or head[16] != ":"):
        raise ValueError(f"not an RFC-3339 time: {head!r}")
    fields = (head[0:4], head[5:7], head[8:10], head[11:13], head[14:16], head[17:19])
    if not all(f.isascii() and f.isdigit() for f in fields):
        raise ValueError(f"not an RFC-3339 time: {head!r}")
    year, month, day, hour, minute, second = map(int, fields)
    delta = datetime(year, month, day, hour, minute, second) - _EPOCH  # checks the calendar
    return (delta.days * 86_400 + delta.seconds) * _NS


def _offset_ns(zone: str) -> int:
    """``+05:30`` -> its ns east of UTC."""
    hours, minutes = zone[1:3], zone[4:6]
    if (zone[0] not in "+-" or zone[3] != ":" or not (hours + minutes).isascii()
            or not (hours + minutes).isdigit()):
        raise ValueError(f"not an RFC-3339 offset: {zone!r}")
    ns = (int(hours) * 3600 + int(minutes) * 60) * _NS
    return -ns if zone[0] == "-" else ns


def rfc3339_ns(text: str) -> int:
    """``2024-03-12T10:27:48.858228144Z`` -> ns since the epoch, exactly.

    One to nine fractional digits or none; ``Z`` or a ``+hh:mm`` offset. More than nine
    digits cannot be held in nanoseconds and are refused rather than cut.
    """
    if len(text) < 20:
        raise ValueError(f"not an RFC-3339 time: {text!r}")
    head = text[:19]
    base = _SECONDS.get(head)
    if base is None:
        base = _seconds_ns(head)
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        _SECONDS[head] = base
    if text[-1] in "Zz":
        body, zone = text[19:-1], 0
    else:
        body, zone = text[19:-6], _offset_ns(text[-6:])
    if body:
        digits = body[1:]
        if body[0] != "." or not 0 < len(digits) <= 9 or not digits.isdigit() \
                or not digits.isascii():
            raise ValueError(f"not an RFC-3339 time: {text!r}")
        base += int(digits) * _FRACTION_SCALE[len(digits)]
    return base - zone


def any_time_ns(value: object) -> int:
    """A dict record's ``t``: RFC-3339 text, or a ``msgpack.Timestamp`` (alpaca-py's raw)."""
    if isinstance(value, str):
        return rfc3339_ns(value)
    to_unix_nano: Callable[[], object] | None = getattr(value, "to_unix_nano", None)
    if to_unix_nano is not None:
        ns = to_unix_nano()
        if type(ns) is int:
            return ns
    raise ValueError(f"not a time: {value!r}")
