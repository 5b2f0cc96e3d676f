"""The market-data catalog: a Parquet dataset on disk, one series per venue/instrument/kind.

Layout under the root (venue and symbol percent-encoded where not filesystem-safe,
``BTC/USDT`` -> ``BTC%2FUSDT``)::

    <root>/<venue>/<symbol>/instrument.json                 Instrument.to_dict()
    <root>/<venue>/<symbol>/<kind>/date=YYYY-MM-DD/part-<sha256>.parquet

One file per UTC day of ``ts_event``, in the kind's schema (:mod:`heron.data.schemas`):
prices and sizes are integer ticks and lots of the stored instrument, which is why a
definition with another tick or lot is refused rather than stored over the old one.
Writes are idempotent (the catalog is a *set* of rows per series: importing the same
file twice adds nothing) and all-or-nothing (see :mod:`heron.data.catalog_store`).
One writer at a time per catalog (nothing enforces it yet). A reader running beside a
write sees each day either before or after it, but a lazy scan may find that a file it
listed was replaced before it opened it; it then fails and should be retried.

``sql()`` opens DuckDB over the files with one view per series, named
``<venue>__<symbol>__<kind>`` with venue and symbol lower-cased and every run of other
characters than ``a-z0-9`` turned into ``_`` (``BINANCE_USDM``/``BTC/USDT`` trades ->
``binance_usdm__btc_usdt__trades``); should two series fold to one name, each gets
``__`` and 8 hex digits of its hash. The view ``catalog`` lists :meth:`Catalog.entries`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import polars as pl

from heron.core.files import write_text_atomic
from heron.data import catalog_store as store
from heron.data.schemas import SCHEMAS, DataKind, validate_frame
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument

__all__ = ["TICK_GAP_NS", "Catalog", "CatalogEntry", "Gap", "WriteReport",
           "default_catalog_root"]

TICK_GAP_NS = 60 * 10**9
"""Default gap threshold for irregular series: a minute without a trade, quote or book
update is a hole in the recording of any liquid instrument. Pass your own for thin
instruments, and for funding and liquidations, which are sparse by nature."""

INSTRUMENT_FILE = "instrument.json"
# Definition fields that give stored integers (ticks, lots) or the series its meaning.
_GRID_FIELDS = ("symbol", "venue", "kind", "price_increment", "size_increment", "multiplier",
                "quote_currency")


def default_catalog_root() -> Path:
    """``$HERON_CATALOG``, else ``heron/catalog`` in the user's data directory.

    The data directory follows each platform's convention, as platformdirs would:
    ``$XDG_DATA_HOME`` (only if absolute, as the XDG spec says) or ``~/.local/share``
    on Linux and other Unixes, ``~/Library/Application Support`` on macOS,
    ``%LOCALAPPDATA%`` on Windows.
    """
    configured = os.environ.get("HERON_CATALOG", "").strip()
    if configured:
        return Path(configured).expanduser()
    return _user_data_dir() / "heron" / "catalog"


def _user_data_dir() -> Path:
    home = Path.home()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "")
        return Path(local) if local else home / "AppData" / "Local"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"


class WriteReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one write did: rows new to the catalog, rows it already held, files now
    holding the written days (one per day, in date order)."""

    rows_added: int
    rows_skipped: int
    files: tuple[Path, ...]


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One series in the catalog; ``first_ts``/``last_ts`` are ``ts_event`` in ns."""

    venue: str
    symbol: str
    kind: DataKind
    rows: int
    first_ts: int
    last_ts: int
    partitions: int  # days with data
    view: str  # its view name in Catalog.sql


class Gap(msgspec.Struct, frozen=True):
    """No row has a ``ts_event`` strictly between ``start_ns`` and ``end_ns``.

    ``start_ns`` is the last timestamp before the hole and ``end_ns`` the first after;
    for bars the missing bars open at ``start_ns + k * interval`` in between.
    """

    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class _Series:
    venue: str
    symbol: str
    kind: DataKind
    files: tuple[Path, ...]  # one per day, in date order


class Catalog:
    """Market data on disk: write once-or-many, read by instrument and time, query in SQL.

    ``root`` defaults to :func:`default_catalog_root`; it is created on the first write.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_catalog_root()

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r})"

    # -- paths -----------------------------------------------------------------------------
    def _instrument_dir(self, venue: str, symbol: str) -> Path:
        return (self.root / store.dir_name(venue, what="venue")
                / store.dir_name(symbol, what="symbol"))

    def _kind_dir(self, venue: str, symbol: str, kind: DataKind) -> Path:
        directory = self._instrument_dir(venue, symbol)
        if not (directory / INSTRUMENT_FILE).is_file():
            raise DataError(f"no {symbol} on {venue} in the catalog at {self.root}; "
                            "write its data first or check the names with entries()")
        return directory / kind.value

    # -- instruments -----------------------------------------------------------------------
    def instrument(self, venue: str, symbol: str) -> Instrument:
        """The stored definition that gives the instrument's integers their meaning."""
        stored = self._stored_instrument(venue, symbol)
        if stored is None:
            raise DataError(f"no {symbol} on {venue} in the catalog at {self.root}; "
                            "write its data first or check the names with entries()")
        return stored

    def _stored_instrument(self, venue: str, symbol: str) -> Instrument | None:
        path = self._instrument_dir(venue, symbol) / INSTRUMENT_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Instrument.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: not an instrument definition ({exc}); "
                            "restore it from a backup or re-import the instrument") from None

    def _check_definition(self, given: Instrument) -> Instrument | None:
        """The stored definition, after refusing one whose grid differs from ``given``.

        Fees, limits and margins may change (the newer definition is stored); the tick,
        lot, multiplier, kind and currency may not, because the stored integers would
        then mean other prices and sizes.
        """
        stored = self._stored_instrument(given.venue, given.symbol)
        if stored is None:
            return None
        diffs = [f"{name} {getattr(stored, name)} (stored) vs {getattr(given, name)} (given)"
                 for name in _GRID_FIELDS if getattr(stored, name) != getattr(given, name)]
        if diffs:
            raise DataError(f"{given.id}: the catalog at {self.root} holds data on another "
                            f"grid: {'; '.join(diffs)}; the stored ticks and lots would change "
                            "meaning, so import into a new catalog or under another symbol")
        return stored

    # -- writing ---------------------------------------------------------------------------
    def write(self, instrument: Instrument, kind: DataKind | str,
              frame: pl.DataFrame) -> WriteReport:
        """Add ``frame``'s rows to the instrument's ``kind`` series; rows already there are
        skipped.

        Everything is checked before anything is written; an exception at any point
        leaves every file of the catalog as it was.
        """
        return self.write_many([(instrument, kind, frame)])[0]

    def write_many(self, items: Sequence[tuple[Instrument, DataKind | str, pl.DataFrame]]
                   ) -> list[WriteReport]:
        """:meth:`write` for several series at once, all or nothing: every day of every
        series is staged before the first is committed, so a file that imports trades and
        book deltas never lands half. Items for one series must not repeat (their rows
        would be merged against the old files separately); give them as one frame."""
        seen: set[tuple[str, DataKind]] = set()
        created: list[Path] = []
        staged: list[list[store.StagedPartition]] = []
        try:
            for instrument, kind, frame in items:
                key = (instrument.id, DataKind.parse(kind))
                if key in seen:
                    raise InvalidConfiguration(f"write_many got {key[1]} of {key[0]} twice; "
                                               "concatenate the frames into one item")
                seen.add(key)
                staged.append(self._stage(instrument, key[1], frame, created))
        except BaseException:
            for series in staged:
                for partition_change in series:
                    store.discard(partition_change)
            store.remove_dirs(created)
            raise
        for series in staged:
            for partition_change in series:
                store.commit(partition_change)
        return [WriteReport(rows_added=sum(s.rows_added for s in series),
                            rows_skipped=sum(s.rows_skipped for s in series),
                            files=tuple(s.final for s in series)) for series in staged]

    def _stage(self, instrument: Instrument, kind: DataKind, frame: pl.DataFrame,
               created: list[Path]) -> list[store.StagedPartition]:
        """Validate and stage one series' rows (and its definition); commit comes later."""
        spec = SCHEMAS[kind]
        stored = self._check_definition(instrument)
        data = validate_frame(spec.kind, frame, source=f"{spec.kind} for {instrument.id}")
        directory = self._instrument_dir(instrument.venue, instrument.symbol)
        staged: list[store.StagedPartition] = []
        try:
            for day, rows in store.split_days(data):
                partition = directory / spec.kind.value / store.day_dir_name(day)
                created += store.make_dirs(partition)
                staged.append(store.stage_partition(spec, partition, rows))
            if stored != instrument:
                created += store.make_dirs(directory)
                text = json.dumps(instrument.to_dict(), indent=2, sort_keys=True) + "\n"
                write_text_atomic(directory / INSTRUMENT_FILE, text)
        except BaseException:
            for partition_change in staged:
                store.discard(partition_change)
            raise
        return staged

    # -- reading ---------------------------------------------------------------------------
    def _files(self, venue: str, symbol: str, kind: DataKind, start_ns: int | None,
               end_ns: int | None) -> list[Path]:
        """The part files of the days that can hold ``[start_ns, end_ns)``, by date."""
        kind_dir = self._kind_dir(venue, symbol, kind)
        if start_ns is not None and end_ns is not None and start_ns >= end_ns:
            return []
        first = store.day_of(start_ns) if start_ns is not None else None
        last = store.day_of(end_ns - 1) if end_ns is not None else None
        partitions = store.partition_dirs(kind_dir, first, last)
        return [path for _, directory in partitions
                if (path := store.current_file(directory)) is not None]

    def scan(self, venue: str, symbol: str, kind: DataKind | str, start_ns: int | None = None,
             end_ns: int | None = None) -> pl.LazyFrame:
        """Rows with ``start_ns <= ts_event < end_ns`` (a bound of ``None`` is open), lazily.

        Only the days in range are listed, and the time filter is pushed down to the
        Parquet row groups; the rows come in time order.
        """
        spec = SCHEMAS[DataKind.parse(kind)]
        files = self._files(venue, symbol, spec.kind, start_ns, end_ns)
        if not files:
            return pl.LazyFrame(schema=spec.schema)
        frame = pl.scan_parquet(files, hive_partitioning=False)
        if start_ns is not None:
            frame = frame.filter(pl.col("ts_event") >= start_ns)
        if end_ns is not None:
            frame = frame.filter(pl.col("ts_event") < end_ns)
        return frame

    def read(self, venue: str, symbol: str, kind: DataKind | str, start_ns: int | None = None,
             end_ns: int | None = None) -> pl.DataFrame:
        """:meth:`scan`, collected."""
        return self.scan(venue, symbol, kind, start_ns, end_ns).collect()

    def iter_batches(self, venue: str, symbol: str, kind: DataKind | str,
                     start_ns: int | None = None, end_ns: int | None = None, *,
                     batch_rows: int = 100_000) -> Iterator[pl.DataFrame]:
        """The rows of :meth:`read` in time order, ``batch_rows`` at a time (the last
        batch may be shorter).

        Reads one Parquet row group at a time and skips row groups outside the range
        by their statistics, so memory stays near one row group plus two batches
        however large the series.
        """
        if batch_rows < 1:
            raise InvalidConfiguration(f"batch_rows {batch_rows} must be at least 1")
        spec = SCHEMAS[DataKind.parse(kind)]
        pending = pl.DataFrame(schema=spec.schema)
        for path in self._files(venue, symbol, spec.kind, start_ns, end_ns):
            for chunk in store.file_chunks(path, start_ns, end_ns, batch_rows):
                pending = pl.concat([pending, chunk]) if pending.height else chunk
                while pending.height >= batch_rows:
                    yield pending.head(batch_rows)
                    pending = pending.slice(batch_rows)
        if pending.height:
            yield pending

    # -- listing ---------------------------------------------------------------------------
    def _series(self) -> list[_Series]:
        """Every series with data: by venue and symbol directory, kinds in DataKind order."""
        found = []
        for definition in sorted(self.root.glob(f"*/*/{INSTRUMENT_FILE}")):
            directory = definition.parent
            venue = store.from_dir_name(directory.parent.name)
            symbol = store.from_dir_name(directory.name)
            for kind in DataKind:
                files = [path for _, partition in store.partition_dirs(directory / kind.value)
                         if (path := store.current_file(partition)) is not None]
                if files:
                    found.append(_Series(venue, symbol, kind, tuple(files)))
        return found

    def entries(self) -> list[CatalogEntry]:
        """What the catalog holds: per series its rows, time span and days, from the
        Parquet footers (no data pages are read)."""
        return _entries(self._series())

    def gaps(self, venue: str, symbol: str, kind: DataKind | str,
             expected_interval_ns: int | None = None, *, start_ns: int | None = None,
             end_ns: int | None = None) -> list[Gap]:
        """Holes in a series: consecutive ``ts_event`` more than the interval apart.

        For bars the interval is the bar length: it selects the bars of that length and
        a step longer than it is a missing bar; ``None`` takes the series' only length.
        For other kinds it is a threshold, :data:`TICK_GAP_NS` by default. Reads one
        day's ``ts_event`` column at a time; holes across days are found too.
        """
        spec = SCHEMAS[DataKind.parse(kind)]
        files = self._files(venue, symbol, spec.kind, start_ns, end_ns)
        if expected_interval_ns is not None and expected_interval_ns <= 0:
            raise InvalidConfiguration(
                f"expected_interval_ns {expected_interval_ns} must be positive")
        if spec.kind is DataKind.BARS:
            interval = expected_interval_ns or store.bar_interval(files)
            holes = store.find_gaps(files, interval, interval, start_ns, end_ns)
        else:
            threshold = expected_interval_ns or TICK_GAP_NS
            holes = store.find_gaps(files, None, threshold, start_ns, end_ns)
        return [Gap(start, end) for start, end in holes]

    # -- SQL -------------------------------------------------------------------------------
    def sql(self, query: str) -> pl.DataFrame:
        """Run ``query`` in DuckDB over the catalog's views (see the module docstring)."""
        import duckdb

        series = self._series()
        connection = duckdb.connect()
        try:
            entries = _entries(series)
            for item, entry in zip(series, entries, strict=True):
                files = ", ".join(_sql_string(str(path)) for path in item.files)
                connection.execute(f'CREATE VIEW "{entry.view}" AS SELECT * FROM read_parquet('
                                   f"[{files}], hive_partitioning = false)")
            connection.register("catalog", _entries_frame(entries).to_arrow())
            result = connection.sql(query)
            answer: pl.DataFrame = result.pl() if result is not None else pl.DataFrame()
            return answer
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            raise DataError(f"SQL query failed: {message}; "
                            "SELECT * FROM catalog lists the views you can query") from None
        finally:
            connection.close()


def _entries(series: list[_Series]) -> list[CatalogEntry]:
    """Summaries of the series, read from their files' footers."""
    entries = []
    for item, view in zip(series, _view_names(series), strict=True):
        first_ts, _ = store.ts_bounds(item.files[0])
        _, last_ts = store.ts_bounds(item.files[-1])
        entries.append(CatalogEntry(
            venue=item.venue, symbol=item.symbol, kind=item.kind,
            rows=sum(store.row_count(path) for path in item.files),
            first_ts=first_ts, last_ts=last_ts, partitions=len(item.files), view=view))
    return entries


def _view_names(series: list[_Series]) -> list[str]:
    """The DuckDB view name of each series (see the module docstring)."""
    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "_"

    names = [f"{slug(s.venue)}__{slug(s.symbol)}__{s.kind.value}" for s in series]
    counts = Counter(names)
    return [name if counts[name] == 1 else
            f"{name}__{hashlib.sha256(f'{s.venue}/{s.symbol}'.encode()).hexdigest()[:8]}"
            for name, s in zip(names, series, strict=True)]


def _sql_string(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _entries_frame(entries: list[CatalogEntry]) -> pl.DataFrame:
    schema = {"venue": pl.String, "symbol": pl.String, "kind": pl.String, "rows": pl.Int64,
              "first_ts": pl.Int64, "last_ts": pl.Int64, "partitions": pl.Int64,
              "view": pl.String}
    rows = [msgspec.structs.asdict(entry) for entry in entries]
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(
        schema=schema)

