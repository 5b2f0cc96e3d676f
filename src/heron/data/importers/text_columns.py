"""Text columns of market-data files turned into exact catalog columns.

Prices and sizes are read as strings and put on the instrument's grid through
:class:`~decimal.Decimal`-exact polars decimals, never through binary floats, so
``20377.10`` is 203771 ticks of 0.1 and not 203770.99..; when the caller gives no tick or
lot, the grid is ``10**-d`` for the most decimal places ``d`` written in the file (a grid
that holds every value exactly, perhaps finer than the venue's). Times go through
:func:`heron.data.bar_columns.to_ns`, which tells s, ms, us and ns apart by magnitude and
refuses a column that mixes them. Every problem is a one-line :class:`DataError` naming the
file, the line and the fix. Shared by every file importer.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, float_decimals, text_decimals
from heron.data.bar_formats import read_file_bytes, unpack
from heron.data.schemas import FUNDING_RATE_DTYPE, SCHEMAS, DataKind, to_grid
from heron.errors import DataError

"""Tick or lot for an instrument whose file shows no prices or no sizes (funding, HistData
quotes). Fine on purpose: data imported later on a coarser grid is re-expressed on it
exactly, while the reverse would be refused."""

TRADE_ROLES = ("ts", "price", "size", "side", "id", "ts_recv", "symbol")
QUOTE_ROLES = ("ts", "bid", "ask", "bid_size", "ask_size", "ts_recv", "symbol")

_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)$"
_MAX_PLACES = 30
_BOOK_SIDES = {"b": 1, "bid": 1, "buy": 1, "a": -1, "ask": -1, "sell": -1}
_TAKER_SIDES = {"buy": 1, "b": 1, "1": 1, "sell": -1, "s": -1, "-1": -1,
                "": 0, "0": 0, "unknown": 0}
@dataclass(frozen=True, slots=True, kw_only=True)
class Hints:
    """What the caller said about the instrument; ``None`` takes it from the file."""

    venue: str | None = None
    symbol: str | None = None
    tick_size: Decimal | None = None
    lot_size: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A file's path and its bytes, already un-gzipped or unzipped."""

    path: Path
    data: bytes

    @property
    def name(self) -> str:
        return str(self.path)


def load_source(path: str | Path) -> Source:
    """Read and unpack ``path``; an empty file is refused here, before any sniffing."""
    where = Path(path)
    if where.is_dir():
        raise DataError(f"{where}: is a directory; pass the path of one market-data file")
    raw = read_file_bytes(where)
    if not raw.strip():
        raise DataError(f"{where}: the file is empty; pass a file with market data in it")
    return Source(where, unpack(raw, str(where)))


# -- text tables ----------------------------------------------------------------------------
def first_fields(data: bytes) -> list[str]:
    """The first line's fields, stripped (quotes honoured)."""
    end = data.find(b"\n", 0, 65536)
    line = data[: end if end >= 0 else 65536].decode("utf-8", errors="replace").strip()
    try:
        fields = next(csv.reader([line]), [])
    except csv.Error:  # binary data or a stray quote: a plain split is enough to sniff
        fields = line.split(",")
    return [field.strip() for field in fields] or [""]


def starts_numeric(field: str) -> bool:
    """Whether a first field is data: a column name never starts with a digit or a sign."""
    return bool(field) and field[0] in "0123456789+-."


def _field_count(line: bytes) -> int:
    text = line.decode("utf-8", errors="replace").strip()
    return len(next(csv.reader([text]), [])) if text else 0


def _check_last_line(data: bytes, name: str) -> None:
    """Refuse a file whose last line has fewer or more fields than the line before it.

    That is what an interrupted download or copy leaves; polars would quietly fill the
    missing fields with nulls.
    """
    body = data.rstrip(b"\r\n")
    last_start = body.rfind(b"\n") + 1
    if last_start == 0:
        return
    previous_start = body.rfind(b"\n", 0, last_start - 1) + 1
    have = _field_count(body[last_start:])
    want = _field_count(body[previous_start:last_start - 1])
    if have != want:
        line = body.count(b"\n") + 1
        raise DataError(f"{name}: the last line (line {line}) has {have} fields but the line "
                        f"before it has {want}; the file looks truncated: download or copy it "
                        "again, or delete that line")


def read_table(source: Source, *, header: bool, width: int | None = None) -> pl.DataFrame:
    """The CSV's fields, all as text (so that decimals stay exact), checked for shape.

    ``width`` is the field count a header-less layout must have.
    """
    name = source.name
    if b"\x00" in source.data[:4096]:
        raise DataError(f"{name}: binary data, not CSV text; pass the CSV file itself")
    _check_last_line(source.data, name)
    try:
        frame = pl.read_csv(source.data, has_header=header, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: cannot read as CSV ({reason}); check that the file is "
                        "complete, comma-separated text") from None
    if frame.height == 0:
        raise DataError(f"{name}: no data rows; pass a file with data in it")
    if width is not None and frame.width != width:
        raise DataError(f"{name}: {frame.width} fields per line, expected {width} for this "
                        "layout; check that the file is the format you meant")
    return frame


def text_source(source: Source, header: bool) -> BarSource:
    """Where rows are, for messages: line numbers counting the header as line 1."""
    return BarSource(source.name, "line", 2 if header else 1)


def check_columns(found: list[str], expected: tuple[str, ...], src: BarSource,
                  what: str) -> None:
    """Refuse a header that differs from ``expected`` (schema drift), naming the change."""
    if found == list(expected):
        return
    extra = [c for c in found if c not in expected]
    missing = [c for c in expected if c not in found]
    detail = "; ".join(part for part in (
        f"unexpected column(s) {', '.join(extra)}" if extra else "",
        f"missing column(s) {', '.join(missing)}" if missing else "",
        "columns in another order" if not extra and not missing else "") if part)
    raise src.error(f"the header is not the {what} layout ({detail})",
                    f"expected {','.join(expected)}; the format may have changed: convert "
                    "the file or import it with fmt='csv' and a mapping")


# -- values -----------------------------------------------------------------------------------
def first_true(mask: pl.Series) -> int | None:
    """Index of the first true (or null) value, ``None`` if there is none."""
    hits = mask.fill_null(True).arg_true()
    return int(hits[0]) if hits.len() else None


def present(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """``column`` as stripped text, refusing an empty value (a damaged line)."""
    text = column.cast(pl.String).str.strip_chars()
    bad = first_true(text.is_null() | (text == ""))
    if bad is not None:
        raise src.error(f"no {what} at {src.at(bad)}", "that line is incomplete: fix or delete it")
    return text


def _plain(value: str) -> str:
    try:
        return format(Decimal(value), "f")
    except InvalidOperation:
        return value  # refused by the caller's pattern check


def number_text(column: pl.Series, what: str, src: BarSource, *,
                optional: bool = False) -> pl.Series:
    """``column`` as plain decimal text: stripped, exponents written out, checked.

    ``optional`` keeps empty values as nulls (Tardis leaves absent levels and fields
    empty); otherwise an empty value is a damaged line.
    """
    if optional:
        text = column.cast(pl.String).str.strip_chars()
        text = pl.select(pl.when(text != "").then(text)).to_series().alias(column.name)
    else:
        text = present(column, what, src)
    if text.str.contains("[eE]").any():  # rare; exact via Decimal, value by value
        text = pl.Series(text.name, [None if v is None else _plain(v) for v in text.to_list()],
                         dtype=pl.String)
    bad = first_true((~text.str.contains(_PLAIN_NUMBER)).fill_null(False))
    if bad is not None:
        raise src.error(f"{what} {column[bad]!r} at {src.at(bad)} is not a number",
                        "write plain decimal numbers such as 20377.10")
    return text


def float_text(values: pl.Series) -> pl.Series:
    """Binary floats as the decimal text they were most likely written from.

    Each value is rounded to the fewest decimal places (at most 12) that hold the whole
    column within float noise, the rule the bar reader uses for prices: a rate stored as
    -0.0021933400000000002 after float arithmetic reads as -0.00219334.
    """
    floats = values.cast(pl.Float64)
    return floats.round(float_decimals(floats)).cast(pl.String)


def places(text: pl.Series) -> int:
    """Most decimal places written in plain number text (``"1.50"`` counts 2)."""
    return text_decimals(text) if text.len() else 0


def to_units(text: pl.Series, increment: Decimal, what: str, src: BarSource) -> pl.Series:
    """Plain number text as Int64 multiples of ``increment``, exactly or not at all."""
    scale = places(text)
    if scale > _MAX_PLACES:
        raise src.error(f"{what} has {scale} decimal places", "round the source to fewer")
    values = text.cast(pl.Decimal(38, scale), strict=False)  # exact: no value has more places
    bad = first_true(values.is_null())
    if bad is not None:
        raise src.error(f"{what} {text[bad]} at {src.at(bad)} has too many digits",
                        "check the column holds prices or sizes")
    try:
        return to_grid(values, increment, what=f"{src.name}: {what}")
    except DataError:  # name the line; the slow scan runs only on failure
        off = next((i for i, v in enumerate(text.to_list()) if Decimal(v) % increment), None)
        if off is None:
            raise
        raise src.error(f"{what} {text[off]} at {src.at(off)} is not a multiple of "
                        f"{increment}", "give a tick_size/lot_size that divides every value, "
                        "or leave it out to infer one") from None


def one_value(column: pl.Series, what: str, src: BarSource) -> str:
    """The single symbol (or exchange) a column names; several in one file are refused."""
    values = present(column, what, src).unique(maintain_order=True)
    if values.len() > 1:
        shown = ", ".join(values.head(5).to_list()) + (" ..." if values.len() > 5 else "")
        raise src.error(f"the file mixes {values.len()} {what}s ({shown})",
                        f"import one {what} per file: split it by the {what} column first")
    return str(values[0])


def taker_side(column: pl.Series, src: BarSource) -> pl.Series:
    """Taker side text as the trades ``aggressor``: 1 buy, -1 sell, 0 unknown or blank."""
    words = column.cast(pl.String).fill_null("").str.strip_chars().str.to_lowercase()
    sides = words.replace_strict(_TAKER_SIDES, default=None, return_dtype=pl.Int8)
    bad = first_true(sides.is_null())
    if bad is not None:
        raise src.error(f"side {column[bad]!r} at {src.at(bad)} is not buy or sell",
                        "use buy/sell (or b/s); leave it empty when unknown")
    return sides


def booleans(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """``true``/``false`` text (any case) as Boolean."""
    words = present(column, what, src).str.to_lowercase()
    values = words.replace_strict({"true": True, "false": False}, default=None,
                                  return_dtype=pl.Boolean)
    bad = first_true(values.is_null())
    if bad is not None:
        raise src.error(f"{what} {column[bad]!r} at {src.at(bad)} is not true or false",
                        "that line is damaged: fix or delete it")
    return values


def integers(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """Integer text (ids, update ids) as Int64."""
    values = present(column, what, src).cast(pl.Int64, strict=False)
    bad = first_true(values.is_null())
    if bad is not None:
        raise src.error(f"{what} {column[bad]!r} at {src.at(bad)} is not an integer",
                        "that line is damaged: fix or delete it")
    return values


def book_sides(column: pl.Series, src: BarSource) -> pl.Series:
    """Book side text as 1 (bid: b/bid/buy) or -1 (ask: a/ask/sell)."""
    words = present(column, "side", src).str.to_lowercase()
    sides = words.replace_strict(_BOOK_SIDES, default=None, return_dtype=pl.Int8)
    bad = first_true(sides.is_null())
    if bad is not None:
        raise src.error(f"book side {column[bad]!r} at {src.at(bad)} is not bid or ask",
                        "use b/bid/buy or a/ask/sell")
    return sides


def funding_rates(column: pl.Series, src: BarSource) -> pl.Series:
    """Rate text as the funding column's exact Decimal(38, 18)."""
    text = number_text(column, "funding rate", src)
    if places(text) > FUNDING_RATE_DTYPE.scale:
        raise src.error(f"a funding rate has {places(text)} decimal places",
                        f"the catalog keeps {FUNDING_RATE_DTYPE.scale}; round the source")
    return text.cast(FUNDING_RATE_DTYPE)


def ordinal_within(ts: pl.Series) -> pl.Series:
    """0, 1, 2 ... over rows sharing a timestamp, in file order.

    The sequence for rows without a numeric venue id: stable across re-imports and across
    overlapping files cut at whole timestamps, unlike a row number over the whole file.
    """
    frame = pl.DataFrame({"ts": ts})
    return frame.select(pl.int_range(pl.len(), dtype=pl.Int64).over("ts")).to_series()


def id_sequence(ids: pl.Series, ts: pl.Series) -> pl.Series:
    """Integer venue ids as the sequence; :func:`ordinal_within` when any id is not one."""
    ints = ids.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    return ints if ints.null_count() == 0 else ordinal_within(ts)


def frame_of(kind: DataKind, columns: Mapping[str, pl.Series | int]) -> pl.DataFrame:
    """A frame in the kind's exact schema from named series (an int fills a column)."""
    height = max(len(v) for v in columns.values() if isinstance(v, pl.Series))
    data = {name: value if isinstance(value, pl.Series) else pl.repeat(value, height,
                                                                      eager=True)
            for name, value in columns.items()}
    schema = SCHEMAS[kind].schema
    return pl.DataFrame(data).select(pl.col(n).cast(t) for n, t in schema.items())


def snapshot_rows(table: pl.DataFrame) -> pl.DataFrame:
    """Book snapshot rows with ``level`` counted from the best price of each side.

    ``table`` has the snapshot columns but ``level``; a snapshot is the rows sharing a
    ``sequence``. Bids rank by descending price, asks by ascending.
    """
    toward_worse = pl.col("price") * -pl.col("side").cast(pl.Int64)
    level = (toward_worse.rank("ordinal").over("sequence", "side") - 1).cast(pl.Int32)
    spec = SCHEMAS[DataKind.BOOK_SNAPSHOTS]
    return table.with_columns(level=level).select(
        pl.col(n).cast(t) for n, t in spec.schema.items()).sort(spec.order)


def delta_rows(table: pl.DataFrame) -> pl.DataFrame:
    """Book deltas with ``is_last`` on the last row of each run of one ``sequence``.

    Rows of one venue message share a sequence and come together in the file; the book
    is consistent only after the last of them.
    """
    is_last = (pl.col("sequence") != pl.col("sequence").shift(-1)).fill_null(True)
    schema = SCHEMAS[DataKind.BOOK_DELTAS].schema
    return table.with_columns(is_last=is_last).select(
        pl.col(n).cast(t) for n, t in schema.items())


# -- instruments ------------------------------------------------------------------------------
def choose(given: str | None, found: str | None, what: str, src: BarSource) -> str:
    """The caller's value, else the file's; neither is an error that says what to pass."""
    value = given or found
    if not value:
        raise src.error(f"the file does not name its {what}", f"pass {what}=... to the import")
    return value
