"""One polars schema per kind of market data kept in the catalog, and the checks on it.

Every kind starts with two ``Int64`` timestamps, nanoseconds since the epoch (UTC):
``ts_event`` (when the venue says it happened) and ``ts_recv`` (when heron, or the
recorder of the file, received it; an importer with no receive time copies
``ts_event``). Prices and sizes are ``Int64`` counts of the instrument's tick
(``price_increment``) and lot (``size_increment``), which the catalog stores beside the
data (``instrument.json``): integers are exact, compare and sum without rounding, and
cost eight bytes. :func:`to_grid` converts float or decimal columns to them at the edge,
refusing any value that is not on the grid rather than rounding it.

Kinds and their columns (after the two timestamps):

``trades``
    ``price`` ticks, ``size`` lots (> 0), ``aggressor`` Int8 (1 buyer took the offer,
    -1 seller hit the bid, 0 unknown), ``trade_id`` String (the venue's id, "" if none),
    ``sequence`` Int64.
``quotes``
    best ``bid``/``ask`` ticks, ``bid_size``/``ask_size`` lots (>= 0), ``sequence``.
``book_deltas``
    ``side`` Int8 (1 bid, -1 ask), ``price`` ticks, ``size`` lots (the level's new total;
    0 deletes the level), ``sequence`` (the venue's update id, shared by the deltas of
    one message), ``is_last`` Boolean (last delta of that message: the book is consistent
    only after it). Sorted by ``is_last`` after ``sequence`` so that the flagged delta
    ends its message; the others follow by ``(side, price)``, harmless because a level
    appears once per message.
``book_snapshots``
    one row per level: ``sequence`` (the snapshot's id, the same on all its rows),
    ``side``, ``level`` Int32 (0 = best), ``price`` ticks, ``size`` lots (>= 0).
``bars``
    ``ts_event`` is the bar's *open* and ``ts_recv`` when it was known (its close, for
    imported bars); ``interval_ns`` Int64 (> 0) tells bars of several lengths apart;
    ``open``/``high``/``low``/``close`` ticks with ``low <= open, close <= high``;
    ``volume`` Int64 *lots*. Volume is a sum of trade sizes, each a whole number of lots,
    so lots hold it exactly (Int64 lots of 1e-8 reach 9.2e10 units per bar), and the
    catalog keeps no floats at all.
``funding``
    ``rate`` Decimal(38, 18): a fraction per funding interval, not on any instrument
    grid. Eighteen decimals hold every venue's published rate exactly (OKX prints up to
    16); a Parquet decimal keeps it exact on disk and DuckDB computes with it as a
    DECIMAL, where an integer at a hidden scale would be read wrong by any plain SQL.
``mark``
    ``price`` ticks. Venues publish mark prices finer than the tick (Binance: 8
    decimals); an importer must decide how to put those on the grid (see the catalog's
    open points), :func:`to_grid` refuses them.
``liquidations``
    ``side`` Int8 of the liquidation *order* (1 buy: a short was closed, -1 sell: a
    long), ``price`` ticks, ``size`` lots (> 0), ``sequence``.

``sequence`` orders rows with the same ``ts_event``. Use the venue's id where it has one
(trade id, update id): the catalog deduplicates on the *whole row*, so two imports of
overlapping files only recognise a shared row if its sequence is the same in both; a
sequence that is merely the row's position in a file deduplicates re-imports of that
file but not overlaps with another. No column may be null.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import polars as pl

from heron.errors import DataError, InvalidConfiguration
from heron.model.fixed import EXACT, decimals_of, to_decimal

__all__ = ["FUNDING_RATE_DTYPE", "SCHEMAS", "DataKind", "KindSchema", "to_grid", "validate_frame"]

FUNDING_RATE_DTYPE = pl.Decimal(38, 18)
"""The funding rate column's type: exact to 18 decimal places."""

_FLOAT_EXACT_LIMIT = 2**53  # integers a float64 holds exactly
_FLOAT_NOISE = 2.0**-42  # relative: ~1000 ulps, what a few float operations leave behind


class DataKind(enum.StrEnum):
    """The kinds of market data the catalog holds; the value is the directory name."""

    TRADES = "trades"
    QUOTES = "quotes"
    BOOK_DELTAS = "book_deltas"
    BOOK_SNAPSHOTS = "book_snapshots"
    BARS = "bars"
    FUNDING = "funding"
    MARK = "mark"
    LIQUIDATIONS = "liquidations"

    @classmethod
    def parse(cls, value: str) -> DataKind:
        """The kind named ``value``, or an :class:`InvalidConfiguration` listing the kinds."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(k.value for k in cls)
            raise InvalidConfiguration(
                f"unknown market-data kind {value!r}; use one of {names}"
            ) from None


@dataclass(frozen=True, slots=True)
class RowCheck:
    """A rule every row must meet: ``expr`` is true on a good row."""

    column: str
    expr: pl.Expr
    rule: str  # completes "column X must ..."


@dataclass(frozen=True, slots=True)
class KindSchema:
    """Columns, order and row rules of one kind.

    ``sort_key`` is the time order; ``order`` appends the remaining columns so that the
    sort is total: a set of rows then has one order, hence one file content.
    """

    kind: DataKind
    schema: pl.Schema
    sort_key: tuple[str, ...]
    checks: tuple[RowCheck, ...] = ()
    order: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        rest = tuple(name for name in self.schema if name not in self.sort_key)
        object.__setattr__(self, "order", (*self.sort_key, *rest))


def _schema(columns: Mapping[str, pl.DataType]) -> pl.Schema:
    return pl.Schema({"ts_event": pl.Int64(), "ts_recv": pl.Int64(), **columns})


def _one_of(column: str, values: tuple[int, ...], meaning: str) -> RowCheck:
    return RowCheck(column, pl.col(column).is_in(values), f"be {meaning}")


def _at_least(column: str, low: int) -> RowCheck:
    return RowCheck(column, pl.col(column) >= low, f"be >= {low}")


_I64 = pl.Int64()
_SIDE = _one_of("side", (1, -1), "1 (bid/buy) or -1 (ask/sell)")

SCHEMAS: Mapping[DataKind, KindSchema] = {
    spec.kind: spec
    for spec in (
        KindSchema(
            DataKind.TRADES,
            _schema({"price": _I64, "size": _I64, "aggressor": pl.Int8(),
                     "trade_id": pl.String(), "sequence": _I64}),
            ("ts_event", "sequence"),
            (_at_least("size", 1),
             _one_of("aggressor", (1, -1, 0), "1 (buy), -1 (sell) or 0 (unknown)")),
        ),
        KindSchema(
            DataKind.QUOTES,
            _schema({"bid": _I64, "ask": _I64, "bid_size": _I64, "ask_size": _I64,
                     "sequence": _I64}),
            ("ts_event", "sequence"),
            (_at_least("bid_size", 0), _at_least("ask_size", 0)),
        ),
        KindSchema(
            DataKind.BOOK_DELTAS,
            _schema({"side": pl.Int8(), "price": _I64, "size": _I64, "sequence": _I64,
                     "is_last": pl.Boolean()}),
            ("ts_event", "sequence", "is_last"),
            (_SIDE, _at_least("size", 0)),
        ),
        KindSchema(
            DataKind.BOOK_SNAPSHOTS,
            _schema({"sequence": _I64, "side": pl.Int8(), "level": pl.Int32(),
                     "price": _I64, "size": _I64}),
            ("ts_event", "sequence", "side", "level"),
            (_SIDE, _at_least("level", 0), _at_least("size", 0)),
        ),
        KindSchema(
            DataKind.BARS,
            _schema({"interval_ns": _I64, "open": _I64, "high": _I64, "low": _I64,
                     "close": _I64, "volume": _I64}),
            ("ts_event", "interval_ns"),
            (_at_least("interval_ns", 1), _at_least("volume", 0),
             RowCheck("low", pl.col("low") <= pl.min_horizontal("open", "close"),
                      "be <= open and close"),
             RowCheck("high", pl.col("high") >= pl.max_horizontal("open", "close"),
                      "be >= open and close")),
        ),
        KindSchema(DataKind.FUNDING, _schema({"rate": FUNDING_RATE_DTYPE}), ("ts_event",)),
        KindSchema(DataKind.MARK, _schema({"price": _I64}), ("ts_event",)),
        KindSchema(
            DataKind.LIQUIDATIONS,
            _schema({"side": pl.Int8(), "price": _I64, "size": _I64, "sequence": _I64}),
            ("ts_event", "sequence"),
            (_SIDE, _at_least("size", 1)),
        ),
    )
}
"""The schema of every kind, by kind."""


def _castable(have: pl.DataType, want: pl.DataType) -> bool:
    """Whether ``have`` converts to ``want`` without changing any value.

    Narrower or wider integers are cast strictly (an overflow is an error, not a wrap);
    a decimal with at most 18 places widens to the funding rate's type exactly.
    """
    if have.is_integer() and want.is_integer():
        return True
    if isinstance(have, pl.Decimal) and isinstance(want, pl.Decimal):
        return have.scale <= want.scale
    return False


def _column_problems(spec: KindSchema, frame: pl.DataFrame) -> list[str]:
    """Missing, extra and wrongly typed columns, each named."""
    problems: list[str] = []
    missing = [name for name in spec.schema if name not in frame.schema]
    extra = [name for name in frame.schema if name not in spec.schema]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected column(s) {', '.join(extra)}")
    for name, want in spec.schema.items():
        have = frame.schema.get(name)
        if have is not None and have != want and not _castable(have, want):
            hint = " (convert prices/sizes with to_grid)" if have.is_float() else ""
            problems.append(f"column {name} is {have}, expected {want}{hint}")
    return problems


def validate_frame(kind: DataKind, frame: pl.DataFrame, *, source: str) -> pl.DataFrame:
    """``frame`` in the kind's exact schema and column order, or a :class:`DataError`.

    Checks everything a write needs before anything is written: the columns, their
    types, nulls, and the kind's row rules. ``source`` names the data in the message.
    """
    spec = SCHEMAS[kind]
    problems = _column_problems(spec, frame)
    if problems:
        raise DataError(
            f"{source}: {'; '.join(problems)}; give exactly the {kind} columns "
            f"{', '.join(f'{n} {t}' for n, t in spec.schema.items())}"
        )
    try:
        data = frame.select(pl.col(n).cast(t, strict=True) for n, t in spec.schema.items())
    except pl.exceptions.InvalidOperationError as exc:
        detail = str(exc).splitlines()[0]
        raise DataError(f"{source}: a column does not fit its type ({detail}); "
                        "fix the values or their units") from None
    nulls = [name for name, count in data.null_count().row(0, named=True).items() if count]
    if nulls:
        raise DataError(f"{source}: null values in column(s) {', '.join(nulls)}; "
                        "fill or drop those rows first")
    _check_rows(spec, data, source)
    return data


def _check_rows(spec: KindSchema, data: pl.DataFrame, source: str) -> None:
    """Apply the kind's row rules, naming the first offending row and its value."""
    if not spec.checks or data.height == 0:
        return
    bad = data.select(pl.arg_where(~c.expr).first().alias(str(i))
                      for i, c in enumerate(spec.checks)).row(0)
    for check, row in zip(spec.checks, bad, strict=True):
        if row is not None:
            value = data[check.column][row]
            raise DataError(f"{source}: column {check.column} must {check.rule}; row {row} "
                            f"has {value}; fix the source conversion")


def to_grid(values: pl.Series, increment: Decimal | str, *, what: str = "value") -> pl.Series:
    """``values`` as Int64 multiples of ``increment`` (ticks or lots), exactly or not at all.

    Floats are accepted when each is within float noise of an on-grid decimal (about a
    thousand ulps: files written through float arithmetic hold 0.00031099999999999997
    for 0.000311, and that is still 311 lots of 0.000001); a value a visible fraction of
    a tick or lot away is not. Decimal and integer columns are scaled exactly. Anything
    between two grid points raises :class:`DataError`; rounding it would store a price
    the venue never printed.
    """
    inc = to_decimal(increment, what="increment")
    if inc <= 0:
        raise InvalidConfiguration(f"{what}: increment {inc} must be positive")
    places = decimals_of(inc)
    step = int(inc.scaleb(places, EXACT))
    scaled = _scaled(values, places, what)
    off = scaled % step != 0
    if off.any():
        index = int(off.arg_true()[0])
        raise DataError(f"{what}: {values[index]} at row {index} is not a multiple of {inc}; "
                        "check the instrument's increment")
    units: pl.Series = (scaled // step).alias(values.name)
    return units


def _scaled(values: pl.Series, places: int, what: str) -> pl.Series:
    """``values * 10**places`` as exact Int64, refusing values with more decimals."""
    if values.null_count():
        raise DataError(f"{what}: {values.null_count()} null value(s); drop or fill them first")
    whole: pl.Series
    if values.dtype.is_integer():
        whole = values.cast(pl.Int64) * 10**places
        return whole
    if isinstance(values.dtype, pl.Decimal):
        scaled = values.cast(pl.Decimal(38, max(places, values.dtype.scale or 0))) * 10**places
        whole = scaled.cast(pl.Int64, strict=False)  # drops decimals; compared back below
        exact = whole.is_not_null() & (whole.cast(scaled.dtype) == scaled)
    elif values.dtype.is_float():
        whole, exact = _scaled_floats(values, places)
    else:
        raise DataError(f"{what}: cannot put {values.dtype} values on a price/size grid; "
                        "give integers, decimals or floats")
    if not exact.all():
        index = int((~exact).arg_true()[0])
        raise DataError(f"{what}: {values[index]} at row {index} is not a finite number "
                        f"with at most {places} decimal places; check the instrument's "
                        "increment")
    return whole


def _scaled_floats(values: pl.Series, places: int) -> tuple[pl.Series, pl.Series]:
    """Float ``values * 10**places`` rounded to Int64, and whether each was on the grid.

    "On the grid" allows float noise: within :data:`_FLOAT_NOISE` of the rounded value
    relative to its size (about a thousand ulps), or 2**-42 absolute near zero.
    """
    raw = values.cast(pl.Float64).to_numpy()
    scaled = raw * float(10**places)
    rounded = np.round(scaled)
    with np.errstate(invalid="ignore"):
        noise = np.abs(scaled - rounded)
        exact = (np.abs(rounded) < _FLOAT_EXACT_LIMIT) & (
            noise <= _FLOAT_NOISE * np.maximum(np.abs(rounded), 1.0))
    whole = np.where(exact, rounded, 0.0).astype(np.int64)
    return pl.Series(values.name, whole, dtype=pl.Int64), pl.Series(exact)
