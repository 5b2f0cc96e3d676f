"""Any CSV whose columns a mapping names, HistData tick quotes, and the conversions every
importer shares.

The shared part turns *text* into catalog columns. Prices and sizes are read as strings
and put on the instrument's grid through :class:`~decimal.Decimal`-exact polars decimals,
never through binary floats, so ``20377.10`` is 203771 ticks of 0.1 and not 203770.99..;
when the caller gives no tick or lot, the grid is ``10**-d`` for the most decimal places
``d`` written in the file (a grid that holds every value exactly, perhaps finer than the
venue's). Times go through :func:`heron.data.bar_columns.to_ns`, which tells s, ms, us and
ns apart by magnitude (the unit windows for 1971..2200 do not overlap) and refuses a
column that mixes them. Every problem is a one-line :class:`DataError` naming the file,
the line and the fix.

Generic CSV: ``mapping`` maps roles to columns, by header name or by 0-based position
(``{"ts": 0, "price": 1, "size": 2}`` for Kraken's header-less trade exports). Roles for
trades: ``ts``, ``price``, ``size`` and optionally ``side`` (taker side: buy/sell/b/s),
``id``, ``ts_recv``, ``symbol``; for quotes: ``ts``, ``bid``, ``ask`` and optionally
``bid_size``, ``ask_size`` (0, meaning unknown, when absent), ``ts_recv``, ``symbol``.

HistData.com ASCII ticks (``YYYYMMDD HHMMSSmmm,bid,ask,volume``, no header) are quotes
stamped in EST *without* daylight saving, as HistData documents: UTC is the stamp plus
five hours all year. Their ``volume`` is always 0 and is not a quote size, so sizes are
stored as 0 (unknown).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, float_decimals, text_decimals, to_ns
from heron.data.bar_formats import read_file_bytes, unpack
from heron.data.bars import BarFrame
from heron.data.importers.batch import ImportBatch
from heron.data.schemas import FUNDING_RATE_DTYPE, SCHEMAS, DataKind, to_grid
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument, InstrumentKind

__all__ = ["FINE_INCREMENT", "Hints", "Source", "float_text", "load_source",
           "read_generic_csv", "read_histdata"]

FINE_INCREMENT = Decimal("0.00000001")
"""Tick or lot for an instrument whose file shows no prices or no sizes (funding, HistData
quotes). Fine on purpose: data imported later on a coarser grid is re-expressed on it
exactly, while the reverse would be refused."""

TRADE_ROLES = ("ts", "price", "size", "side", "id", "ts_recv", "symbol")
QUOTE_ROLES = ("ts", "bid", "ask", "bid_size", "ask_size", "ts_recv", "symbol")
EST_OFFSET_NS = 5 * 3600 * 10**9  # HistData's EST, fixed UTC-5 all year

_PLAIN_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)$"
_MAX_PLACES = 30
_HISTDATA_TIME = re.compile(r"\d{8} \d{9}")
_HISTDATA_NAME = re.compile(r"DAT_ASCII_([A-Z0-9]+)_T_\d{6}\.csv", re.IGNORECASE)
_BOOK_SIDES = {"b": 1, "bid": 1, "buy": 1, "a": -1, "ask": -1, "sell": -1}
_TAKER_SIDES = {"buy": 1, "b": 1, "1": 1, "sell": -1, "s": -1, "-1": -1,
                "": 0, "0": 0, "unknown": 0}
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "GBP", "JPY", "AUD", "CAD",
           "CHF", "TRY", "BRL", "BTC", "ETH", "BNB")
_DERIVATIVE_VENUE_WORDS = ("USDM", "COINM", "FUTURES", "PERP", "SWAP", "DELIVERY", "DERIV",
                           "BITMEX", "DERIBIT")


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
def _first(mask: pl.Series) -> int | None:
    """Index of the first true (or null) value, ``None`` if there is none."""
    hits = mask.fill_null(True).arg_true()
    return int(hits[0]) if hits.len() else None


def present(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """``column`` as stripped text, refusing an empty value (a damaged line)."""
    text = column.cast(pl.String).str.strip_chars()
    bad = _first(text.is_null() | (text == ""))
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
    bad = _first((~text.str.contains(_PLAIN_NUMBER)).fill_null(False))
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
    bad = _first(values.is_null())
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
    bad = _first(sides.is_null())
    if bad is not None:
        raise src.error(f"side {column[bad]!r} at {src.at(bad)} is not buy or sell",
                        "use buy/sell (or b/s); leave it empty when unknown")
    return sides


def booleans(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """``true``/``false`` text (any case) as Boolean."""
    words = present(column, what, src).str.to_lowercase()
    values = words.replace_strict({"true": True, "false": False}, default=None,
                                  return_dtype=pl.Boolean)
    bad = _first(values.is_null())
    if bad is not None:
        raise src.error(f"{what} {column[bad]!r} at {src.at(bad)} is not true or false",
                        "that line is damaged: fix or delete it")
    return values


def integers(column: pl.Series, what: str, src: BarSource) -> pl.Series:
    """Integer text (ids, update ids) as Int64."""
    values = present(column, what, src).cast(pl.Int64, strict=False)
    bad = _first(values.is_null())
    if bad is not None:
        raise src.error(f"{what} {column[bad]!r} at {src.at(bad)} is not an integer",
                        "that line is damaged: fix or delete it")
    return values


def book_sides(column: pl.Series, src: BarSource) -> pl.Series:
    """Book side text as 1 (bid: b/bid/buy) or -1 (ask: a/ask/sell)."""
    words = present(column, "side", src).str.to_lowercase()
    sides = words.replace_strict(_BOOK_SIDES, default=None, return_dtype=pl.Int8)
    bad = _first(sides.is_null())
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


def quote_currency(symbol: str) -> str:
    """The quote currency a symbol spells (``XRP/ETH`` ETH, ``BTCUSDT`` USDT), else USD.

    ccxt-style symbols say it after the slash; concatenated ones end with it, or carry
    it as their second ``-``/``_`` part (``BTC-USDT-SWAP``).
    """
    pair = symbol.split(":", maxsplit=1)[0]
    if "/" in pair:
        return pair.split("/")[1].upper()
    parts = re.split(r"[-_]", pair.upper())
    if len(parts) > 1 and parts[1] in _QUOTES:
        return parts[1]
    head = parts[0]
    return next((q for q in _QUOTES if head.endswith(q) and len(head) > len(q)), "USD")


def is_derivative(venue: str, symbol: str) -> bool:
    """Whether the venue or symbol names a futures/perpetual market."""
    upper = venue.upper()
    return (any(word in upper for word in _DERIVATIVE_VENUE_WORDS) or ":" in symbol
            or "PERP" in symbol.upper() or "SWAP" in symbol.upper())


def increment(given: Decimal | None, decimals: int | None) -> Decimal:
    """The caller's increment, else ``10**-decimals``, else :data:`FINE_INCREMENT`."""
    if given is not None:
        return given
    return FINE_INCREMENT if decimals is None else Decimal(1).scaleb(-decimals)


def make_instrument(hints: Hints, *, symbol: str, venue: str, derivative: bool,
                    price_places: int | None, size_places: int | None) -> Instrument:
    """The instrument of an import: grid from the caller or the file, kind from the market.

    A derivative is stored as a linear perpetual, the only derivative kind heron has.
    """
    perpetual = derivative or is_derivative(venue, symbol)
    return Instrument(
        symbol=symbol, venue=venue,
        kind=InstrumentKind.LINEAR_PERPETUAL if perpetual else InstrumentKind.SPOT,
        price_increment=increment(hints.tick_size, price_places),
        size_increment=increment(hints.lot_size, size_places),
        quote_currency=quote_currency(symbol))


# -- bars -----------------------------------------------------------------------------------
def bar_interval(ts: pl.Series, name: str) -> int:
    """The bars' length: the median spacing of their opens (gaps do not move it)."""
    if ts.len() < 2:
        raise DataError(f"{name}: one bar only, so its length cannot be told from the "
                        "spacing; import a file with at least two bars")
    steps = ts.diff().drop_nulls().sort()
    return int(steps[steps.len() // 2])


def bars_instrument(bars: BarFrame, hints: Hints, *, symbol: str, venue: str,
                    derivative: bool) -> Instrument:
    """Tick from the decimals the source wrote; lot from the fewest that hold the volume."""
    volume = bars.frame["volume"]
    lot_places = float_decimals(volume) if bool((volume != 0).any()) else None
    return make_instrument(hints, symbol=symbol, venue=venue, derivative=derivative,
                           price_places=bars.price_decimals, size_places=lot_places)


def bars_batch(bars: BarFrame, instrument: Instrument) -> ImportBatch:
    """Checked float bars as catalog bars: ``ts_recv`` is each bar's close."""
    ts = bars.frame["ts"]
    interval = bar_interval(ts, bars.source)
    tick, what = instrument.price_increment, bars.source
    columns: dict[str, pl.Series | int] = {
        "ts_event": ts, "ts_recv": ts + interval, "interval_ns": interval}
    for name in ("open", "high", "low", "close"):
        columns[name] = to_grid(bars.frame[name], tick, what=f"{what}: {name}")
    columns["volume"] = to_grid(bars.frame["volume"], instrument.size_increment,
                                what=f"{what}: volume")
    return ImportBatch(instrument, DataKind.BARS, frame_of(DataKind.BARS, columns), what)


def mark_batch(bars: BarFrame, instrument: Instrument) -> ImportBatch:
    """Mark-price candles as mark rows: each close, stamped at the candle's close.

    The close is the mark at the end of the candle; stamping it at the open would show a
    price before it existed.
    """
    ts = bars.frame["ts"] + bar_interval(bars.frame["ts"], bars.source)
    price = to_grid(bars.frame["close"], instrument.price_increment,
                    what=f"{bars.source}: close")
    frame = frame_of(DataKind.MARK, {"ts_event": ts, "ts_recv": ts, "price": price})
    return ImportBatch(instrument, DataKind.MARK, frame, bars.source)


# -- generic CSV ------------------------------------------------------------------------------
def check_mapping(mapping: Mapping[str, str | int]) -> DataKind:
    """The kind a mapping describes (trades or quotes), or why it describes none."""
    roles = set(mapping)
    if {"price", "bid"} <= roles or not roles & {"price", "bid"}:
        raise InvalidConfiguration(
            "a mapping names either price and size (trades) or bid and ask (quotes); trades "
            f"roles: {', '.join(TRADE_ROLES)}; quotes roles: {', '.join(QUOTE_ROLES)}")
    kind, allowed, required = ((DataKind.TRADES, TRADE_ROLES, ("ts", "price", "size"))
                               if "price" in roles else
                               (DataKind.QUOTES, QUOTE_ROLES, ("ts", "bid", "ask")))
    unknown = sorted(roles - set(allowed))
    missing = [role for role in required if role not in roles]
    if unknown or missing:
        raise InvalidConfiguration(
            f"mapping for {kind}: " + "; ".join(part for part in (
                f"unknown role(s) {', '.join(unknown)}" if unknown else "",
                f"missing role(s) {', '.join(missing)}" if missing else "") if part)
            + f"; {kind} roles are {', '.join(allowed)}")
    for role, ref in mapping.items():
        if isinstance(ref, bool) or not isinstance(ref, str | int) or (
                isinstance(ref, int) and ref < 0):
            raise InvalidConfiguration(f"mapping role {role!r}: give a column name or a "
                                       f"0-based position, not {ref!r}")
    return kind


def _mapped(frame: pl.DataFrame, mapping: Mapping[str, str | int],
            src: BarSource) -> dict[str, pl.Series]:
    """The column of each role, by name or by position."""
    columns: dict[str, pl.Series] = {}
    for role, ref in mapping.items():
        if isinstance(ref, int):
            if ref >= frame.width:
                raise src.error(f"mapping {role}={ref} but lines have {frame.width} fields",
                                "count positions from 0")
            columns[role] = frame.to_series(ref)
        elif ref in frame.columns:
            columns[role] = frame[ref]
        else:
            raise src.error(f"no column {ref!r} for {role} (columns: {', '.join(frame.columns)})",
                            "fix the mapping, or use positions for a file without a header")
    return columns


def read_generic_csv(path: str | Path, mapping: Mapping[str, str | int], *,
                     has_header: bool | None = None, venue: str | None = None,
                     symbol: str | None = None, tick_size: Decimal | None = None,
                     lot_size: Decimal | None = None) -> list[ImportBatch]:
    """Trades or quotes from any CSV, columns named by ``mapping`` (see the module doc)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return read_csv_source(load_source(path), hints, mapping, has_header=has_header)


def read_csv_source(source: Source, hints: Hints, mapping: Mapping[str, str | int], *,
                    has_header: bool | None = None) -> list[ImportBatch]:
    """:func:`read_generic_csv` on loaded bytes; the header is detected when not given."""
    kind = check_mapping(mapping)
    header = (not starts_numeric(first_fields(source.data)[0]) if has_header is None
              else has_header)
    named = [role for role, ref in mapping.items() if isinstance(ref, str)]
    if named and not header:
        raise InvalidConfiguration(f"{source.name}: the file has no header, so map "
                                   f"{', '.join(named)} by 0-based position")
    src = text_source(source, header)
    columns = _mapped(read_table(source, header=header), mapping, src)
    found = one_value(columns["symbol"], "symbol", src) if "symbol" in columns else None
    ts = to_ns(columns["ts"], src)
    recv = to_ns(columns["ts_recv"], src) if "ts_recv" in columns else ts
    if kind is DataKind.TRADES:
        return [_generic_trades(source, hints, columns, found, ts, recv, src)]
    return [_generic_quotes(source, hints, columns, found, ts, recv, src)]


def _generic_trades(source: Source, hints: Hints, columns: dict[str, pl.Series],
                    found: str | None, ts: pl.Series, recv: pl.Series,
                    src: BarSource) -> ImportBatch:
    price = number_text(columns["price"], "price", src)
    size = number_text(columns["size"], "size", src)
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, found, "symbol", src),
        venue=choose(hints.venue, None, "venue", src), derivative=False,
        price_places=places(price), size_places=places(size))
    ids = columns.get("id")
    frame = frame_of(DataKind.TRADES, {
        "ts_event": ts, "ts_recv": recv,
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "size", src),
        "aggressor": taker_side(columns["side"], src) if "side" in columns else 0,
        "trade_id": (ids.cast(pl.String).fill_null("").str.strip_chars() if ids is not None
                     else pl.repeat("", ts.len(), eager=True)),
        "sequence": id_sequence(ids, ts) if ids is not None else ordinal_within(ts)})
    return ImportBatch(instrument, DataKind.TRADES, frame, source.name)


def _generic_quotes(source: Source, hints: Hints, columns: dict[str, pl.Series],
                    found: str | None, ts: pl.Series, recv: pl.Series,
                    src: BarSource) -> ImportBatch:
    prices = {role: number_text(columns[role], role, src) for role in ("bid", "ask")}
    sizes = {role: number_text(columns[role], role, src)
             for role in ("bid_size", "ask_size") if role in columns}
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, found, "symbol", src),
        venue=choose(hints.venue, None, "venue", src), derivative=False,
        price_places=max(places(t) for t in prices.values()),
        size_places=max((places(t) for t in sizes.values()), default=None))
    data: dict[str, pl.Series | int] = {"ts_event": ts, "ts_recv": recv,
                                        "sequence": ordinal_within(ts)}
    for role, text in prices.items():
        data[role] = to_units(text, instrument.price_increment, role, src)
    for role in ("bid_size", "ask_size"):
        data[role] = (to_units(sizes[role], instrument.size_increment, role, src)
                      if role in sizes else 0)
    return ImportBatch(instrument, DataKind.QUOTES, frame_of(DataKind.QUOTES, data),
                       source.name)


# -- HistData ---------------------------------------------------------------------------------
def sniff_csv(data: bytes) -> str | None:
    """``"histdata"`` for HistData ASCII ticks; other CSVs need a mapping."""
    fields = first_fields(data)
    if len(fields) == 4 and _HISTDATA_TIME.fullmatch(fields[0]):
        return "histdata"
    return None


def read_histdata(path: str | Path, *, venue: str | None = None, symbol: str | None = None,
                  tick_size: Decimal | None = None,
                  lot_size: Decimal | None = None) -> list[ImportBatch]:
    """HistData.com tick quotes (see the module doc for the time zone)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return histdata_source(load_source(path), hints)


def histdata_source(source: Source, hints: Hints) -> list[ImportBatch]:
    """:func:`read_histdata` on loaded bytes."""
    src = text_source(source, header=False)
    frame = read_table(source, header=False, width=4)
    stamps = present(frame.to_series(0), "time", src)
    parsed = stamps.str.to_datetime("%Y%m%d %H%M%S%3f", time_unit="ns", time_zone="UTC",
                                    strict=False)
    bad = _first(parsed.is_null())
    if bad is not None:
        raise src.error(f"time {stamps[bad]!r} at {src.at(bad)} is not YYYYMMDD HHMMSSmmm",
                        "check that the file is HistData ASCII tick data")
    ts = parsed.dt.epoch("ns") + EST_OFFSET_NS
    bid = number_text(frame.to_series(1), "bid", src)
    ask = number_text(frame.to_series(2), "ask", src)
    named = _HISTDATA_NAME.fullmatch(source.path.name)
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, named[1].upper() if named else None, "symbol", src),
        venue=hints.venue or "HISTDATA", derivative=False,
        price_places=max(places(bid), places(ask)), size_places=None)
    quotes = frame_of(DataKind.QUOTES, {
        "ts_event": ts, "ts_recv": ts,
        "bid": to_units(bid, instrument.price_increment, "bid", src),
        "ask": to_units(ask, instrument.price_increment, "ask", src),
        "bid_size": 0, "ask_size": 0, "sequence": ordinal_within(ts)})
    return [ImportBatch(instrument, DataKind.QUOTES, quotes, source.name)]
