"""Which importer reads a file, and the one way to put an importable file into the catalog.

Formats (:data:`IMPORT_FORMATS`) are recognised from the content, never from the file
name or extension (gzip and zip are undone first, by their magic bytes), in this order:

``capture-hftbacktest``
    lines ``<receive time, ns> <raw WebSocket JSON>`` (hftbacktest's collector, and
    ``heron record --raw``).
``capture-cryptofeed``
    JSON lines starting ``{"ts": <epoch seconds>, "dir": ...`` (cryptofeed's recorder).

Captures of every venue with a live parser (Binance, OKX, Bybit, Hyperliquid, MEXC
futures, Alpaca) are read through that parser: the venue is ``venue`` if given, else
told from the frames (:mod:`.capture_venues`); instruments are the catalog's when it
holds them, else inferred from the data (:mod:`.venue_captures`).
``tardis``
    a header starting ``exchange,symbol,timestamp,local_timestamp``.
``binance-archive``
    a data.binance.vision header (``id,price,qty,...``, ``agg_trade_id,...``,
    ``open_time,...``, ``update_id,...``, ``calc_time,...``, ``symbol,...,first_update_id``)
    or a header-less first line shaped like trades (bool in field 6), aggTrades (bool
    in field 7) or klines (12 fields).
``freqtrade``
    a JSON array (trades or candles), a ``timestamp,id,type,side,price,amount,cost``
    CSV, or Feather/Parquet with freqtrade's trade or ``date,open,...`` candle columns.
``csv``
    HistData ASCII ticks (recognised); any other trade or quote CSV with a ``mapping``.
``bars``
    any other CSV, Parquet or Feather that :func:`heron.data.bars.read_bars` accepts (a
    time column and open/high/low/close).

A ``fmt`` that contradicts the content is refused with what the file looks like; ``fmt``
``"bars"`` also reads Binance klines and freqtrade candles, and ``"csv"`` with a mapping
reads any CSV. :func:`import_path` reads every batch and checks all of them (schema,
rows, instrument grids against each other and against the catalog) before it writes the
first, so a bad file writes nothing.

An instrument the catalog already holds keeps its stored definition (fees, limits): rows
inferred on another grid are re-expressed on the stored tick and lot when that is exact
(``8531.5`` on a tick of 0.1 is 85315 ticks, on a stored 0.01 it is 853150), so files
whose prices happen to show fewer decimals import into the same series. A grid that
cannot hold the new values, or a ``tick_size``/``lot_size`` that differs from the stored
one, is refused: the stored integers would change meaning.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from pathlib import Path

import msgspec
import polars as pl

from heron.data.bar_columns import BarSource, resolve_columns
from heron.data.bar_formats import sniff_format
from heron.data.bars import read_bars
from heron.data.catalog import Catalog
from heron.data.importers import binance_archive, freqtrade, generic_csv, tardis, text_columns
from heron.data.importers.batch import ImportBatch
from heron.data.importers.capture_lines import CaptureFormat, InstrumentLookup
from heron.data.importers.instruments import (
    bars_batch,
    bars_instrument,
)
from heron.data.importers.text_columns import (
    Hints,
    Source,
)
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError, EngineError, InvalidConfiguration
from heron.model.fixed import to_decimal
from heron.model.instrument import Instrument

__all__ = ["IMPORT_FORMATS", "BatchReport", "ImportReport", "detect_format", "import_path",
           "read_batches"]

IMPORT_FORMATS: tuple[str, ...] = ("binance-archive", "tardis", "freqtrade", "bars", "csv",
                                   "capture-hftbacktest", "capture-cryptofeed")
"""The ``fmt`` values :func:`read_batches` accepts."""

_HFT_LINE = re.compile(rb"\s*\d{16,19} [\[{]")
_CRYPTOFEED_LINE = re.compile(rb'\s*\{\s*"ts"\s*:\s*[0-9.]+\s*,\s*"dir"\s*:')
_CAPTURES: dict[str, CaptureFormat] = {"capture-hftbacktest": "hftbacktest",
                                       "capture-cryptofeed": "cryptofeed"}
_PRICE_COLUMNS: dict[DataKind, tuple[str, ...]] = {
    DataKind.TRADES: ("price",), DataKind.QUOTES: ("bid", "ask"),
    DataKind.BOOK_DELTAS: ("price",), DataKind.BOOK_SNAPSHOTS: ("price",),
    DataKind.BARS: ("open", "high", "low", "close"), DataKind.FUNDING: (),
    DataKind.MARK: ("price",), DataKind.LIQUIDATIONS: ("price",)}
_SIZE_COLUMNS: dict[DataKind, tuple[str, ...]] = {
    DataKind.TRADES: ("size",), DataKind.QUOTES: ("bid_size", "ask_size"),
    DataKind.BOOK_DELTAS: ("size",), DataKind.BOOK_SNAPSHOTS: ("size",),
    DataKind.BARS: ("volume",), DataKind.FUNDING: (), DataKind.MARK: (),
    DataKind.LIQUIDATIONS: ("size",)}
_FIXED_FIELDS = ("kind", "multiplier", "quote_currency")


class BatchReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the import did with one batch: rows new to the catalog and rows it held."""

    instrument_id: str
    kind: DataKind
    source: str
    rows: int
    rows_added: int
    rows_skipped: int


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`import_path` did with one file, batch by batch."""

    path: str
    fmt: str
    batches: tuple[BatchReport, ...]

    @property
    def rows_added(self) -> int:
        return sum(batch.rows_added for batch in self.batches)

    @property
    def rows_skipped(self) -> int:
        return sum(batch.rows_skipped for batch in self.batches)


@dataclass(frozen=True, slots=True)
class _Sniff:
    fmt: str
    layout: str
    looks_like: str


# -- detection ---------------------------------------------------------------------------------
def _is_cryptofeed(data: bytes) -> bool:
    """cryptofeed's recorder writes ``{"ts": <epoch s>, "dir": ...`` on every line."""
    return _CRYPTOFEED_LINE.match(data[:200]) is not None


def _is_bar_table(data: bytes) -> bool:
    """Whether the bar reader would find a time and OHLC columns (CSV, Parquet, Feather)."""
    kind = sniff_format(data)
    try:
        if kind == "csv":
            names = text_columns.first_fields(data)
        elif kind in ("parquet", "feather"):
            reader = pl.read_parquet_schema if kind == "parquet" else pl.read_ipc_schema
            names = list(reader(io.BytesIO(data)))
        else:
            return False
        resolve_columns(names, BarSource("sniff"))
    except (DataError, pl.exceptions.PolarsError, OSError, ValueError):
        return False
    return True


def _sniff(data: bytes) -> _Sniff | None:
    """The format and layout of (unpacked) ``data``, in the module doc's order."""
    if _HFT_LINE.match(data[:64]):
        return _Sniff("capture-hftbacktest", "", "an hftbacktest capture (<ns> <JSON> lines)")
    if _is_cryptofeed(data):
        return _Sniff("capture-cryptofeed", "", "a cryptofeed capture (JSON lines with raw)")
    if layout := tardis.sniff(data):
        return _Sniff("tardis", layout, f"{tardis.LOOKS_LIKE['tardis']} ({layout})")
    if layout := binance_archive.sniff(data):
        return _Sniff("binance-archive", layout, binance_archive.LOOKS_LIKE[layout])
    if layout := freqtrade.sniff(data):
        return _Sniff("freqtrade", layout, freqtrade.LOOKS_LIKE[layout])
    if layout := generic_csv.sniff_csv(data):
        return _Sniff("csv", layout, "HistData ASCII tick quotes")
    if _is_bar_table(data):
        return _Sniff("bars", "", "a bar table (time, open, high, low, close columns)")
    return None


def _unknown(source: Source) -> DataError:
    data = source.data
    if data.startswith((b"PAR1", b"ARROW1")):
        reader = pl.read_parquet_schema if data.startswith(b"PAR1") else pl.read_ipc_schema
        try:
            seen = f"a table with columns {', '.join(reader(io.BytesIO(data)))}"
        except (pl.exceptions.PolarsError, OSError, ValueError):
            seen = "an unreadable Parquet/Feather file"
    else:
        line = data[:120].split(b"\n")[0].decode("utf-8", errors="replace").strip()
        seen = f"text starting {line[:80]!r}"
    return DataError(f"{source.name}: cannot tell the format from the content ({seen}); "
                     f"pass fmt= one of {', '.join(IMPORT_FORMATS)}, or fmt='csv' with a "
                     "mapping for another trade or quote CSV")


def detect_format(path: str | Path) -> str:
    """The :data:`IMPORT_FORMATS` name of the file at ``path``, from its content."""
    source = text_columns.load_source(path)
    found = _sniff(source.data)
    if found is None:
        raise _unknown(source)
    return found.fmt


def _compatible(fmt: str, found: _Sniff, mapping: object) -> bool:
    """Whether ``fmt`` can read what was found: the same format; ``bars`` for klines and
    candles (the bar reader knows them); ``csv`` with a mapping for any text table."""
    if fmt == found.fmt:
        return True
    if fmt == "bars":
        return found.layout in ("klines", "candles-json", "candles-frame")
    text = found.layout not in ("candles-json", "candles-frame", "trades-json",
                                "trades-frame") and not found.fmt.startswith("capture")
    return fmt == "csv" and mapping is not None and text


def _choose(fmt: str | None, mapping: object, found: _Sniff | None, source: Source) -> str:
    """The format to read with: the caller's, unless the content contradicts it."""
    if fmt is None:
        if mapping is not None:
            return "csv"
        if found is None:
            raise _unknown(source)
        return found.fmt
    if found is not None and not _compatible(fmt, found, mapping):
        raise DataError(f"{source.name}: fmt={fmt!r} but the file looks like "
                        f"{found.looks_like}; leave fmt out to auto-detect")
    return fmt


# -- reading -----------------------------------------------------------------------------------
def _increment(value: object, what: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = to_decimal(value, what=what)
    except (TypeError, ValueError) as exc:
        raise InvalidConfiguration(f"{exc}") from None
    if number <= 0:
        raise InvalidConfiguration(f"{what} {number} must be positive")
    return number


def _hints(venue: str | None, symbol: str | None, tick_size: object,
           lot_size: object) -> Hints:
    for what, value in (("venue", venue), ("symbol", symbol)):
        if value is not None and not value.strip():
            raise InvalidConfiguration(f"{what} is empty; give a name or leave it out")
    return Hints(venue=venue.strip() if venue else None,
                 symbol=symbol.strip() if symbol else None,
                 tick_size=_increment(tick_size, "tick_size"),
                 lot_size=_increment(lot_size, "lot_size"))


def _read_bars(source: Source, hints: Hints) -> list[ImportBatch]:
    bars = read_bars(source.path)
    src = BarSource(source.name)
    symbol = text_columns.choose(hints.symbol, bars.symbol, "symbol", src)
    venue = text_columns.choose(hints.venue, None, "venue", src)
    instrument = bars_instrument(bars, hints, symbol=symbol, venue=venue, derivative=False)
    return [bars_batch(bars, instrument)]


def _read_csv(source: Source, hints: Hints, mapping: Mapping[str, str | int] | None,
              found: _Sniff | None) -> list[ImportBatch]:
    if mapping is not None:
        return generic_csv.read_csv_source(source, hints, mapping)
    if found is None or found.layout != "histdata":
        raise EngineError(f"{source.name}: the csv reader was chosen without a mapping")
    return generic_csv.histdata_source(source, hints)


def _read_capture(fmt: str, source: Source, hints: Hints,
                  stored: InstrumentLookup | None) -> list[ImportBatch]:
    """Captures name their own instruments; only ``venue`` is passed on, and the catalog's
    instruments (``stored``) when there is a catalog."""
    if hints.symbol or hints.tick_size or hints.lot_size:
        raise InvalidConfiguration(f"{source.name}: a capture names its own symbols and "
                                   "grids; give only venue (or nothing)")
    from heron.data.importers.venue_captures import read_capture  # parsers load on demand

    return read_capture(source.path, hints.venue, fmt=_CAPTURES[fmt], stored=stored)


def _read(path: str | Path, fmt: str | None, hints: Hints,
          mapping: Mapping[str, str | int] | None,
          stored: InstrumentLookup | None = None) -> tuple[str, list[ImportBatch]]:
    if fmt is not None and fmt not in IMPORT_FORMATS:
        raise InvalidConfiguration(f"unknown import format {fmt!r}; use one of "
                                   f"{', '.join(IMPORT_FORMATS)} or leave it out")
    if mapping is not None and fmt not in (None, "csv"):
        raise InvalidConfiguration(f"a mapping is only used with fmt='csv', not {fmt!r}")
    source = text_columns.load_source(path)
    found = _sniff(source.data)
    if fmt == "csv" and mapping is None and (found is None or found.layout != "histdata"):
        raise InvalidConfiguration(f"{source.name}: fmt='csv' needs a mapping of roles to "
                                   "columns, e.g. {'ts': 0, 'price': 1, 'size': 2}")
    chosen = _choose(fmt, mapping, found, source)
    if chosen in _CAPTURES:
        return chosen, _read_capture(chosen, source, hints, stored)
    if chosen == "csv":
        return chosen, _read_csv(source, hints, mapping, found)
    if chosen == "bars":
        return chosen, _read_bars(source, hints)
    readers = {"binance-archive": binance_archive.read_source, "tardis": tardis.read_source,
               "freqtrade": freqtrade.read_source}
    return chosen, readers[chosen](source, hints)


def read_batches(path: str | Path, *, fmt: str | None = None, venue: str | None = None,
                 symbol: str | None = None, tick_size: Decimal | str | int | None = None,
                 lot_size: Decimal | str | int | None = None,
                 mapping: Mapping[str, str | int] | None = None) -> list[ImportBatch]:
    """Read ``path`` into catalog-ready batches without touching any catalog.

    ``fmt=None`` detects the format; ``venue``/``symbol`` override what the file says;
    ``tick_size``/``lot_size`` override the grid inferred from the decimals written;
    ``mapping`` (roles to columns) reads any trade or quote CSV.
    """
    hints = _hints(venue, symbol, tick_size, lot_size)
    return _read(path, fmt, hints, mapping)[1]


# -- grids -------------------------------------------------------------------------------------
def _largest(frame: pl.DataFrame, columns: tuple[str, ...]) -> int:
    values = [frame[column].abs().max() for column in columns]
    return max((int(v) for v in values if isinstance(v, int)), default=0)


def _rescale(frame: pl.DataFrame, columns: tuple[str, ...], old: Decimal, new: Decimal,
             what: str, source: str) -> pl.DataFrame:
    """Integers counted in ``old`` increments, recounted in ``new`` ones, exactly."""
    if old == new or not columns or frame.height == 0:
        return frame
    up, down = old / new, new / old
    if up == up.to_integral_value():
        factor = int(up)
        if _largest(frame, columns) > (2**63 - 1) // factor:
            raise DataError(f"{source}: {what}s would overflow on the {what} increment {new}; "
                            "import into a catalog with a coarser grid")
        return frame.with_columns(pl.col(c) * factor for c in columns)
    if down == down.to_integral_value():
        divisor = int(down)
        for column in columns:
            off = frame.filter(pl.col(column) % divisor != 0)
            if off.height:
                raise DataError(
                    f"{source}: {column} {Decimal(off[column][0]) * old} is not a multiple "
                    f"of the {what} increment {new} the catalog stores for this instrument; "
                    "import into a new catalog, or under another symbol, with a finer grid")
        return frame.with_columns(pl.col(c) // divisor for c in columns)
    raise DataError(f"{source}: the {what} increments {old} (file) and {new} (catalog) do not "
                    f"divide each other; pass a {what} size that fits both")


def _onto(batch: ImportBatch, target: Instrument) -> ImportBatch:
    """``batch`` on ``target``'s grid (only kind, multiplier and quote must match)."""
    given = batch.instrument
    diffs = [f"{name} {getattr(target, name)} vs {getattr(given, name)}"
             for name in _FIXED_FIELDS if getattr(target, name) != getattr(given, name)]
    if diffs:
        raise DataError(f"{batch.source}: {given.id} is already defined with "
                        f"{'; '.join(diffs)} (stored or earlier vs this file); import into "
                        "another catalog or under another symbol")
    frame = _rescale(batch.frame, _PRICE_COLUMNS[batch.kind], given.price_increment,
                     target.price_increment, "price", batch.source)
    frame = _rescale(frame, _SIZE_COLUMNS[batch.kind], given.size_increment,
                     target.size_increment, "size", batch.source)
    return ImportBatch(target, batch.kind, frame, batch.source)


def _stored(catalog: Catalog, instrument: Instrument) -> Instrument | None:
    return _stored_named(catalog, instrument.venue, instrument.symbol)


def _stored_named(catalog: Catalog, venue: str, symbol: str) -> Instrument | None:
    try:
        return catalog.instrument(venue, symbol)
    except DataError:
        return None


def _target(catalog: Catalog, group: list[ImportBatch], hints: Hints) -> Instrument:
    """The definition a file's batches of one instrument are written under.

    The stored one if any (a ``tick_size``/``lot_size`` the caller gave must equal it);
    otherwise the first batch's, on the finest tick and lot among the batches.
    """
    first = group[0].instrument
    stored = _stored(catalog, first)
    if stored is None:
        return replace(first, price_increment=min(b.instrument.price_increment for b in group),
                       size_increment=min(b.instrument.size_increment for b in group))
    for what, given, have in (("tick_size", hints.tick_size, stored.price_increment),
                              ("lot_size", hints.lot_size, stored.size_increment)):
        if given is not None and given != have:
            raise DataError(f"{group[0].source}: {what} {given} but the catalog at "
                            f"{catalog.root} stores {first.id} with {have}; the stored ticks "
                            "and lots would change meaning: import into a new catalog")
    return stored


def import_path(catalog: Catalog, path: str | Path, *, fmt: str | None = None,
                venue: str | None = None, symbol: str | None = None,
                tick_size: Decimal | str | int | None = None,
                lot_size: Decimal | str | int | None = None,
                mapping: Mapping[str, str | int] | None = None) -> ImportReport:
    """Read ``path`` (as :func:`read_batches`) and add its rows to ``catalog``.

    Idempotent: rows the catalog holds are skipped, so a re-import adds nothing.
    """
    hints = _hints(venue, symbol, tick_size, lot_size)
    chosen, batches = _read(path, fmt, hints, mapping, partial(_stored_named, catalog))
    if not batches or not any(batch.frame.height for batch in batches):
        raise DataError(f"{path}: no rows to import; check that the file holds market data")
    groups: dict[tuple[str, str], list[ImportBatch]] = {}
    for batch in batches:
        groups.setdefault((batch.instrument.venue, batch.instrument.symbol), []).append(batch)
    ready = []
    for group in groups.values():
        target = _target(catalog, group, hints)
        ready += [_onto(batch, target) for batch in group]
    for batch in ready:
        validate_frame(batch.kind, batch.frame, source=f"{batch.source} ({batch.kind})")
    merged = _one_item_per_series(ready)
    written = catalog.write_many([(b.instrument, b.kind, b.frame) for b in merged])
    reports = [BatchReport(instrument_id=b.instrument.id, kind=b.kind, source=b.source,
                           rows=b.frame.height, rows_added=w.rows_added,
                           rows_skipped=w.rows_skipped) for b, w in zip(merged, written,
                                                                        strict=True)]
    return ImportReport(path=str(path), fmt=chosen, batches=tuple(reports))


def _one_item_per_series(batches: list[ImportBatch]) -> list[ImportBatch]:
    """Batches of one instrument and kind joined, so the catalog stages each series once
    (all-or-nothing across the whole file)."""
    joined: dict[tuple[str, DataKind], ImportBatch] = {}
    for batch in batches:
        key = (batch.instrument.id, batch.kind)
        if key in joined:
            first = joined[key]
            joined[key] = ImportBatch(first.instrument, first.kind,
                                      pl.concat([first.frame, batch.frame]),
                                      f"{first.source}; {batch.source}")
        else:
            joined[key] = batch
    return list(joined.values())
