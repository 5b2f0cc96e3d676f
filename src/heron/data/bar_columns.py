"""Map a bar table's columns to roles and convert each role to heron's types.

Bar files disagree on everything but the idea: the time column may be called
``Date``, ``timestamp`` or ``open_time`` (or have no name at all, as in a pandas
``to_csv`` of a ``DatetimeIndex``), hold ISO-8601 strings, epoch integers in any
of four units or Arrow timestamps, and prices may arrive as text or as floats.
This module is the one place that knows those variants: it finds the columns,
turns time into ``Int64`` nanoseconds since the epoch (UTC) and prices and volume
into ``Float64``, and counts the decimal places of the prices so the engine can
pick an exact tick size. Every failure is a one-line :class:`DataError` that
names the source, the row and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.errors import DataError

TIME_NAMES = ("open_time", "timestamp", "timestamp_utc", "datetime", "date", "time", "ts")
"""Accepted names (any case) of the time column; more than one present is an error."""

UNNAMED_TIME_NAMES = ("", "__index_level_0__", "unnamed: 0", "index")
"""Names a pandas index gets when written out unnamed; used only if no TIME_NAMES column."""

PRICE_NAMES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
}
VOLUME_NAMES = ("volume", "vol", "v")
SYMBOL_NAMES = ("symbol", "ticker", "pair")

PRICE_COLUMNS = ("open", "high", "low", "close")
MAX_PRICE_DECIMALS = 12

_ISO_PREFIX = r"^\s*\d{4}-\d{2}-\d{2}"
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_SECONDS_1971 = 31_536_000  # 1971-01-01T00:00:00Z
_SECONDS_2200 = 7_258_118_400  # 2200-01-01T00:00:00Z
_EPOCH_UNITS = (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1))


class BarSource(msgspec.Struct, frozen=True):
    """Names a bar source and its rows, so every error points at the right place.

    Text files count rows as lines (the header is line 1), so a user can jump to
    the line in an editor; binary files and in-memory frames count rows from 1.
    """

    name: str
    row_label: str = "row"
    first_row: int = 1

    def at(self, index: int) -> str:
        """Say where the row at 0-based ``index`` of the parsed table is."""
        return f"{self.row_label} {self.first_row + index}"

    def error(self, problem: str, fix: str) -> DataError:
        """Build the one-line ``<source>: <problem>; <fix>`` error a CLI user sees."""
        text = f"{self.name}: {problem}; {fix}"
        return DataError(" ".join(text.split()))


class ColumnMap(msgspec.Struct, frozen=True):
    """Which source column plays which role; ``volume``/``symbol`` may be absent."""

    ts: str
    open: str
    high: str
    low: str
    close: str
    volume: str | None = None
    symbol: str | None = None

    def price(self, role: str) -> str:
        """Source column name of the price ``role`` (open, high, low or close)."""
        name: str = getattr(self, role)
        return name


def iso(ns: int) -> str:
    """Format ns since the epoch as ISO-8601 UTC with a ``Z``, for messages."""
    seconds, rest = divmod(ns, 10**9)
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=seconds, microseconds=rest // 1000
    )
    text = moment.replace(tzinfo=None).isoformat()
    return f"{text}Z"


def _accepted_names() -> str:
    roles = [f"time={'|'.join(TIME_NAMES)} (or an unnamed first column)"]
    roles += [f"{role}={'|'.join(names)}" for role, names in PRICE_NAMES.items()]
    roles.append(f"volume (optional)={'|'.join(VOLUME_NAMES)}")
    return "; ".join(roles)


def _matching(names: Sequence[str], accepted: Sequence[str]) -> list[str]:
    return [name for name in names if name.strip().lower() in accepted]


def _single(names: Sequence[str], accepted: Sequence[str], role: str, src: BarSource) -> str | None:
    found = _matching(names, accepted)
    if len(found) > 1:
        listed = ", ".join(repr(name) for name in found)
        raise src.error(f"several {role} columns ({listed})", f"keep one {role} column")
    return found[0] if found else None


def _time_column(names: Sequence[str], src: BarSource) -> str | None:
    found = _matching(names, TIME_NAMES)
    if len(found) > 1:
        listed = ", ".join(repr(name) for name in found)
        raise src.error(
            f"several time columns ({listed})",
            "keep one, or merge date and time into one ISO-8601 column",
        )
    if found:
        return found[0]
    unnamed = _matching(names, UNNAMED_TIME_NAMES)
    return unnamed[0] if unnamed else None


def resolve_columns(names: Sequence[str], src: BarSource) -> ColumnMap:
    """Find the time, OHLC, volume and symbol columns by name, ignoring case and extras."""
    roles: dict[str, str | None] = {"time": _time_column(names, src)}
    for role, accepted in PRICE_NAMES.items():
        roles[role] = _single(names, accepted, role, src)
    missing = [role for role, name in roles.items() if name is None]
    if missing:
        found = ", ".join(repr(name) for name in names) or "none"
        raise src.error(
            f"missing column(s) {', '.join(missing)} (found {found})",
            f"rename the columns; accepted names, any case: {_accepted_names()}",
        )
    return ColumnMap(
        ts=str(roles["time"]),
        open=str(roles["open"]),
        high=str(roles["high"]),
        low=str(roles["low"]),
        close=str(roles["close"]),
        volume=_single(names, VOLUME_NAMES, "volume", src),
        symbol=_single(names, SYMBOL_NAMES, "symbol", src),
    )


def _first(mask: pl.Series) -> int | None:
    """Index of the first true value, ``None`` if there is none (nulls count as false)."""
    hits = mask.fill_null(False).arg_true()
    return int(hits[0]) if hits.len() else None


def _epoch_unit(value: int) -> tuple[str, int] | None:
    """The unit in which ``value`` is a date in 1971..2200; the ranges cannot overlap."""
    for unit, ns_per_unit in _EPOCH_UNITS:
        per_second = 10**9 // ns_per_unit
        if _SECONDS_1971 * per_second <= value < _SECONDS_2200 * per_second:
            return unit, ns_per_unit
    return None


def _ns_from_epoch(ints: pl.Series, src: BarSource) -> pl.Series:
    """Scale epoch integers to ns, choosing the unit by magnitude.

    The unit windows for dates between 1971 and 2200 do not overlap, so the
    smallest and the largest value decide: if they land in different units the
    column mixes units (Binance moved from ms to us in 2025) and we refuse.
    """
    low_at, high_at = ints.arg_min(), ints.arg_max()
    if low_at is None or high_at is None:
        raise src.error("the time column is empty", "fill in the bar times")
    units = []
    for index in (low_at, high_at):
        value = int(ints[index])
        unit = _epoch_unit(value)
        if unit is None:
            raise src.error(
                f"integer time {value} at {src.at(index)} is not an epoch time in s, ms, us "
                "or ns between 1971 and 2200",
                "write epoch integers since 1970-01-01 UTC or ISO-8601 times",
            )
        units.append((index, value, unit))
    (i_lo, v_lo, (u_lo, scale)), (i_hi, v_hi, (u_hi, _)) = units
    if u_lo != u_hi:
        raise src.error(
            f"integer times mix units: {v_lo} at {src.at(i_lo)} reads as {u_lo} but "
            f"{v_hi} at {src.at(i_hi)} as {u_hi}",
            "convert the whole time column to one unit",
        )
    return (ints * scale).alias("ts")


def _unparseable(raw: pl.Series, parsed: pl.Series) -> int | None:
    return _first(raw.is_not_null() & parsed.is_null())


def _text_to(
    text: pl.Series, dtype: type[pl.Int64] | type[pl.Float64]
) -> tuple[pl.Series, pl.Series]:
    """Cast text to numbers; return them and the text they were read from.

    Blanks around values (``", 1.5"``) are stripped only if the plain cast
    failed: stripping every value up front costs more than the parse, and padded
    files are rare, so they alone pay for the second pass.
    """
    parsed = text.cast(dtype, strict=False)
    if _unparseable(text, parsed) is None:
        return parsed, text
    stripped = text.str.strip_chars()
    return stripped.cast(dtype, strict=False), stripped


def _ns_from_text(text: pl.Series, src: BarSource) -> pl.Series:
    first_value = text.drop_nulls()[0]
    if _INTEGER.fullmatch(first_value):
        ints, _ = _text_to(text, pl.Int64)
        bad = _unparseable(text, ints)
        if bad is not None:
            raise src.error(
                f"time {text[bad]!r} at {src.at(bad)} is not an integer like the rows before it",
                "use one time format for the whole column",
            )
        return _ns_from_epoch(ints, src)
    # polars would also guess day-first dates such as 01/02/2020: only ISO order is unambiguous
    bad = _first(text.str.contains(_ISO_PREFIX).not_())
    parsed = text.str.to_datetime(time_unit="ns", time_zone="UTC", strict=False)
    if bad is None:
        bad = _unparseable(text, parsed)
    if bad is not None:
        raise src.error(
            f"cannot parse time {text[bad]!r} at {src.at(bad)}",
            "write times as ISO-8601 (2022-01-03 00:05:00, 2022-01-03T00:05:00Z, "
            "2022-01-03T02:05:00+02:00) or epoch integers, one format for the whole column",
        )
    return parsed.dt.epoch("ns").alias("ts")


def _ns_from_float(floats: pl.Series, src: BarSource) -> pl.Series:
    fractional = _first(floats.is_finite().not_() | (floats != floats.floor()))
    if fractional is not None:
        raise src.error(
            f"time {floats[fractional]} at {src.at(fractional)} is not a whole epoch number",
            "write epoch integers or ISO-8601 times",
        )
    return _ns_from_epoch(floats.cast(pl.Int64), src)


def to_ns(column: pl.Series, src: BarSource) -> pl.Series:
    """Convert a time column of any supported type to Int64 ns since the epoch, UTC.

    Naive datetimes (text or Arrow) are taken as UTC; offsets and zones are converted.
    """
    missing = _first(column.is_null())
    if missing is not None:
        raise src.error(f"missing time at {src.at(missing)}", "fill in the time or drop the bar")
    dtype = column.dtype
    if dtype == pl.String:
        return _ns_from_text(column, src)
    if dtype.is_integer():
        return _ns_from_epoch(column.cast(pl.Int64), src)
    if dtype.is_float():
        return _ns_from_float(column.cast(pl.Float64), src)
    if isinstance(dtype, pl.Datetime) or dtype == pl.Date:
        return column.dt.epoch("ns").alias("ts")
    raise src.error(
        f"time column {column.name!r} holds {dtype}, not times",
        "use ISO-8601 strings, epoch integers or a timestamp column",
    )


def text_decimals(text: pl.Series) -> int:
    """Most decimal places written in a column of number strings (``"1.50"`` counts 2).

    Vectorised with polars string kernels; scientific notation (``2.853e-05``)
    takes a slower regex path only when the column contains an exponent.
    """
    if text.str.contains("[eE]").any():
        mantissa = text.str.replace(r"[eE].*$", "")
        exponent = text.str.extract(r"[eE]([+-]?\d+)\s*$", 1).cast(pl.Int64, strict=False)
        point = mantissa.str.find(".", literal=True)
        places = (mantissa.str.len_bytes().cast(pl.Int64) - point - 1).fill_null(0)
        places = (places - exponent.fill_null(0)).clip(lower_bound=0)
    else:
        point = text.str.find(".", literal=True)
        places = text.str.len_bytes().cast(pl.Int64) - point - 1
    best = places.max()
    return int(best) if isinstance(best, int) else 0


def float_decimals(values: pl.Series) -> int:
    """Smallest d <= 12 such that every value * 10**d is (within 1e-6) an integer.

    For binary sources that never had text. The 1e-6 tolerance is widened to a
    few ulps of the scaled value, because at 1e13 and above the float spacing
    alone exceeds 1e-6 and every price would otherwise look like it has 12 places.
    """
    array = values.cast(pl.Float64).to_numpy()
    finite = np.abs(array[np.isfinite(array)])
    # A sample gives a lower bound cheaply (the whole column needs at least as many
    # places as any part of it); the full column is then checked from there up.
    start = _first_fitting(finite[:4096], 0)
    return _first_fitting(finite, start)


def _first_fitting(values: NDArray[np.float64], start: int) -> int:
    """Smallest d >= start (and <= 12) at which every value is a whole number of 10**-d."""
    for decimals in range(start, MAX_PRICE_DECIMALS + 1):
        scaled = values * 10.0**decimals
        tolerance = np.maximum(1e-6, 8.0 * np.finfo(np.float64).eps * scaled)
        if bool(np.all(np.abs(scaled - np.rint(scaled)) <= tolerance)):
            return decimals
    return MAX_PRICE_DECIMALS


def to_float(column: pl.Series, role: str, src: BarSource) -> tuple[pl.Series, pl.Series | None]:
    """Convert a price or volume column to Float64; also return the text it came from, if any.

    NaN, nulls and signs are left for the bar checks, which name the bar's time.
    """
    dtype = column.dtype
    if dtype == pl.String:
        floats, text = _text_to(column, pl.Float64)
        bad = _unparseable(column, floats)
        if bad is not None:
            raise src.error(
                f"cannot read {role} {column[bad]!r} at {src.at(bad)} as a number",
                "write plain decimal numbers such as 1.0725",
            )
        return floats.alias(role), text
    if dtype.is_numeric():
        return column.cast(pl.Float64).alias(role), None
    raise src.error(
        f"{role} column {column.name!r} holds {dtype}, not numbers",
        "store prices and volume as numbers or decimal text",
    )


def symbol_of(column: pl.Series, src: BarSource) -> str | None:
    """The one symbol a ``symbol`` column names; several symbols in one bar file is an error."""
    values = column.drop_nulls().cast(pl.String).unique(maintain_order=True)
    if values.len() > 1:
        shown = ", ".join(values.head(5).to_list())
        raise src.error(
            f"the file holds bars of several symbols ({shown})",
            "split it into one file per symbol",
        )
    return str(values[0]) if values.len() else None
