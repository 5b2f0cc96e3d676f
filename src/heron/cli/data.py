"""``heron data``: list, show, check, query, import and resample the market-data catalog.

Every command takes ``--catalog DIR``; without it the catalog is ``$HERON_CATALOG``, else
the per-user default (:func:`heron.data.catalog.default_catalog_root`). An instrument
is named ``SYMBOL`` or ``SYMBOL.VENUE`` (``--venue`` also picks the venue); a name,
kind or venue the catalog does not hold is a one-line error listing what it does hold,
exit 2. Tables show prices and sizes as decimals and times in UTC; ``--raw`` shows the
stored integers (ticks, lots, ns). ``--json`` output is plain JSON on stdout.

Exit codes: those of ``heron`` (0 success, 2 bad input, 3 a bug), and for ``heron data
check`` 1 when the report has an error-severity finding, so that a script or CI step
can refuse a catalog that would give wrong backtests; warnings alone exit 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import msgspec
import polars as pl
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from heron.analytics.bar_builders import (
    dollar_bars,
    interval_ns,
    tick_bars,
    time_bars,
    volume_bars,
)
from heron.data.catalog import Catalog, CatalogEntry
from heron.data.quality import QualityReport, check_catalog
from heron.data.schemas import DataKind
from heron.errors import DataError, EngineError, InvalidConfiguration
from heron.model.fixed import EXACT, to_decimal
from heron.model.instrument import Instrument

data_app = typer.Typer(no_args_is_help=True,
                       help="The market-data catalog: list, show, bars, check, sql, import.")
out = Console()

Opt = typer.Option
CatalogOpt = Annotated[Path | None, Opt(
    "--catalog", help="catalog folder (default: $HERON_CATALOG, else the per-user one)")]
JsonOpt = Annotated[bool, Opt("--json", help="print JSON instead of a table")]
VenueOpt = Annotated[str | None, Opt("--venue", help="venue of the instrument")]
InstrumentArg = Annotated[str, typer.Argument(help="SYMBOL or SYMBOL.VENUE")]
HeadOpt = Annotated[int, Opt("--head", min=1, help="rows to print")]
RawOpt = Annotated[bool, Opt("--raw", help="stored integers: ticks, lots, ns")]

_PRICES = frozenset({"price", "bid", "ask", "open", "high", "low", "close"})
_SIZES = frozenset({"size", "bid_size", "ask_size", "volume", "buy_volume", "sell_volume"})
_TIMES = frozenset({"ts_event", "ts_recv", "ts", "ts_close"})
_LISTED = 12  # instruments named in a "the catalog holds ..." message


# -- shared helpers ------------------------------------------------------------------------
def _iso(ns: int) -> str:
    """A ns timestamp as UTC text, with as many fraction digits as it needs (0, 3, 6, 9)."""
    seconds, fraction = divmod(ns, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    digits = f"{fraction:09d}"
    while digits.endswith("000"):
        digits = digits[:-3]
    return f"{text}.{digits}" if digits else text


def _held(entries: Sequence[CatalogEntry]) -> str:
    """What a catalog holds, one line: ``BTCUSDT.BINANCE (trades, quotes), ...``."""
    kinds: dict[str, list[str]] = {}
    for entry in entries:
        kinds.setdefault(f"{entry.symbol}.{entry.venue}", []).append(entry.kind.value)
    if not kinds:
        return "nothing yet (add data with heron data import)"
    named = [f"{name} ({', '.join(found)})" for name, found in list(kinds.items())[:_LISTED]]
    more = len(kinds) - _LISTED
    return ", ".join(named) + (f" and {more} more (heron data list)" if more > 0 else "")


def _parse_kind(text: str, catalog: Catalog, entries: Sequence[CatalogEntry]) -> DataKind:
    try:
        return DataKind(text)
    except ValueError:
        names = ", ".join(kind.value for kind in DataKind)
        raise InvalidConfiguration(f"unknown kind {text!r} (kinds: {names}); the catalog at "
                                   f"{catalog.root} holds {_held(entries)}") from None


def _resolve(catalog: Catalog, instrument: str, venue: str | None, kind: str) -> CatalogEntry:
    """The one series named by ``instrument`` (SYMBOL or SYMBOL.VENUE), venue and kind.

    Matching whole names rather than splitting at a dot keeps symbols that contain
    dots (``BRK.B``) working; a name that fits two venues asks for ``--venue``.
    """
    entries = catalog.entries()
    wanted = _parse_kind(kind, catalog, entries)
    matches = [entry for entry in entries if entry.kind is wanted
               and instrument in (entry.symbol, f"{entry.symbol}.{entry.venue}")
               and (venue is None or entry.venue == venue)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f" on {venue}" if venue is not None else ""
        raise DataError(f"no {wanted} for {instrument}{where} in the catalog at {catalog.root}; "
                        f"it holds {_held(entries)}")
    venues = ", ".join(entry.venue for entry in matches)
    raise InvalidConfiguration(f"{instrument} {wanted} is on several venues ({venues}); "
                               "pass --venue or write SYMBOL.VENUE")


def _jsonable(value: object) -> object:
    """What ``json`` cannot write itself: decimals as exact strings, times as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=_jsonable) + "\n")


def _formatter(name: str, instrument: Instrument) -> Callable[[Any], str]:
    """How one column is shown: prices and sizes as decimals, times as UTC text."""
    if name in _TIMES:
        return _iso
    if name in _PRICES:
        return lambda ticks: str(instrument.price(ticks))
    if name in _SIZES:
        return lambda lots: str(instrument.quantity(lots))
    if name == "notional":  # tick·lot units (Decimal(38, 0)) -> quote currency
        unit = Decimal(instrument.unit_raw).scaleb(-instrument.notional_precision, EXACT)
        return lambda value: str(EXACT.multiply(Decimal(value), unit))
    if name == "vwap":  # float ticks: a display value, not an exact one
        places = instrument.price_precision + 2
        step = float(instrument.price_increment)
        return lambda value: f"{value * step:.{places}f}"
    return str


def _table(frame: pl.DataFrame, title: str, instrument: Instrument | None) -> Table:
    """A rich table of ``frame``; readable units unless ``instrument`` is ``None`` (raw)."""
    table = Table(title=title, title_justify="left")
    shown = [(_formatter(name, instrument) if instrument is not None else str)
             for name in frame.columns]
    for name in frame.columns:
        table.add_column(name, justify="left" if frame[name].dtype == pl.String else "right")
    for row in frame.iter_rows():
        table.add_row(*(Text("" if value is None else show(value))
                        for show, value in zip(shown, row, strict=True)))
    return table


# -- list, show, sql -----------------------------------------------------------------------
@data_app.command("list")
def list_series(json_out: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """List the series in the catalog: venue, instrument, kind, rows, time span.

    ``--json`` prints an array of objects with exactly the keys venue, instrument (the
    symbol), kind, rows, first_ts and last_ts (ts_event, int ns since the epoch).
    """
    store = Catalog(catalog)
    entries = store.entries()
    if json_out:
        _print_json([{"venue": e.venue, "instrument": e.symbol, "kind": e.kind.value,
                      "rows": e.rows, "first_ts": e.first_ts, "last_ts": e.last_ts}
                     for e in entries])
        return
    if not entries:
        out.print(f"the catalog at {store.root} is empty; add data with heron data import",
                  highlight=False, soft_wrap=True)
        return
    table = Table(title=f"catalog {store.root}", title_justify="left")
    for name in ("venue", "instrument", "kind", "rows", "first", "last", "days"):
        table.add_column(name, justify="right" if name in ("rows", "days") else "left")
    for e in entries:
        table.add_row(Text(e.venue), Text(e.symbol), e.kind.value, f"{e.rows:,}",
                      _iso(e.first_ts), _iso(e.last_ts), f"{e.partitions:,}")
    out.print(table)


@data_app.command("show")
def show(instrument: InstrumentArg,
         kind: Annotated[str, Opt("--kind", help="trades, quotes, bars, book_deltas, ...")],
         head: HeadOpt = 10, venue: VenueOpt = None, raw: RawOpt = False,
         catalog: CatalogOpt = None) -> None:
    """Print the first rows of one series, with its row count and time span."""
    store = Catalog(catalog)
    entry = _resolve(store, instrument, venue, kind)
    frame = store.scan(entry.venue, entry.symbol, entry.kind).head(head).collect()
    title = (f"{entry.symbol}.{entry.venue} {entry.kind}: {entry.rows:,} rows, "
             f"{_iso(entry.first_ts)} to {_iso(entry.last_ts)} UTC")
    shown = None if raw else store.instrument(entry.venue, entry.symbol)
    out.print(_table(frame, title, shown))


@data_app.command("sql")
def sql(query: Annotated[str, typer.Argument(help="DuckDB SQL over the catalog's views")],
        json_out: JsonOpt = False, head: HeadOpt = 50, catalog: CatalogOpt = None) -> None:
    """Run a DuckDB query over the catalog (SELECT * FROM catalog lists the views).

    Prices and sizes are the stored integers (ticks, lots). The table shows the first
    ``--head`` rows; ``--json`` prints every row as an array of objects (integers as
    exact JSON numbers, however wide; decimals as strings; times in ISO 8601).
    """
    frame = Catalog(catalog).sql(query)
    if json_out:
        _print_json(frame.to_dicts())
        return
    more = frame.height - head
    title = f"{frame.height:,} row(s)" + (f", the first {head:,} shown" if more > 0 else "")
    out.print(_table(frame.head(head), title, None))


# -- bars ----------------------------------------------------------------------------------
def _notional_units(instrument: Instrument, amount: str) -> int:
    """A quote-currency amount in the tick·lot units :func:`dollar_bars` counts in."""
    try:
        value = to_decimal(amount, what="--dollars")
    except (TypeError, ValueError) as exc:
        raise InvalidConfiguration(f"{exc}; give an amount of {instrument.quote_currency}, "
                                   "e.g. --dollars 1000000") from None
    unit = EXACT.multiply(EXACT.multiply(instrument.price_increment,
                                         instrument.size_increment), instrument.multiplier)
    units = EXACT.divide(value, unit)
    if units <= 0 or units != units.to_integral_value():
        raise InvalidConfiguration(
            f"--dollars {amount}: must be a positive multiple of one tick times one lot "
            f"({unit} {instrument.quote_currency}) for {instrument.id}")
    return int(units)


def _bar_rule(instrument: Instrument, interval: str | None, ticks: int | None,
              volume: int | None, dollars: str | None) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The one bar builder the options ask for, its size checked before data is read."""
    if interval is not None:
        return partial(time_bars, interval=interval)
    if ticks is not None:
        return partial(tick_bars, n=ticks)
    if volume is not None:
        return partial(volume_bars, lots=volume)
    if dollars is None:
        raise EngineError("no bar rule given; _check_bar_options should have refused this")
    return partial(dollar_bars, notional=_notional_units(instrument, dollars))


def _check_bar_options(source: str, write: bool, interval: str | None, ticks: int | None,
                       volume: int | None, dollars: str | None) -> None:
    """Refuse impossible combinations before any data is read."""
    if source != DataKind.TRADES.value:
        raise InvalidConfiguration(f"--from {source}: bars are built from trades only; "
                                   "use --from trades")
    given = [flag for flag, value in (("--interval", interval), ("--ticks", ticks),
                                       ("--volume", volume), ("--dollars", dollars))
             if value is not None]
    if len(given) != 1:
        raise InvalidConfiguration(
            f"give exactly one of --interval, --ticks, --volume, --dollars (got "
            f"{', '.join(given) or 'none'}); e.g. --interval 1m")
    if interval is not None:
        interval_ns(interval)  # a malformed interval fails before any data is read
    if write and interval is None:
        raise InvalidConfiguration(
            f"--write stores time bars only: catalog bars have a fixed interval_ns, and "
            f"{given[0]} bars have none; use --interval, or drop --write")


def _write_bars(store: Catalog, instrument: Instrument, bars: pl.DataFrame, step: int) -> None:
    """Store time bars: ``ts_event`` the open, ``ts_recv`` the close (when it was known)."""
    rows = bars.select(pl.col("ts").alias("ts_event"), (pl.col("ts") + step).alias("ts_recv"),
                       pl.lit(step, dtype=pl.Int64).alias("interval_ns"),
                       "open", "high", "low", "close", "volume")
    report = store.write(instrument, DataKind.BARS, rows)
    out.print(f"wrote {report.rows_added:,} new bar(s) to {store.root} "
              f"({report.rows_skipped:,} already stored)", highlight=False, soft_wrap=True)


@data_app.command("bars")
def bars(instrument: InstrumentArg,
         source: Annotated[str, Opt("--from", help="kind to build from (trades)")] = "trades",
         interval: Annotated[str | None, Opt(help="time bars, e.g. 1m, 15s, 1h")] = None,
         ticks: Annotated[int | None, Opt(help="a bar per N trades")] = None,
         volume: Annotated[int | None, Opt(help="a bar per N lots traded")] = None,
         dollars: Annotated[str | None, Opt(help="a bar per this much traded value, in the "
                                            "quote currency")] = None,
         venue: VenueOpt = None, head: HeadOpt = 10, raw: RawOpt = False,
         write: Annotated[bool, Opt("--write", help="store time bars in the catalog")] = False,
         catalog: CatalogOpt = None) -> None:
    """Build bars from the catalog's trades and print the first ones.

    Volume and dollar bars follow heron.analytics.bar_builders: a bar closes when the
    running total since the first trade reaches a multiple of the size, trades are never
    split. ``--write`` stores time bars as kind bars with their interval_ns; a bar
    rebuilt later from more trades is a second version of it, which heron data check
    reports as a conflicting duplicate.
    """
    _check_bar_options(source, write, interval, ticks, volume, dollars)
    store = Catalog(catalog)
    entry = _resolve(store, instrument, venue, source)
    definition = store.instrument(entry.venue, entry.symbol)
    rule = _bar_rule(definition, interval, ticks, volume, dollars)
    trades = store.scan(entry.venue, entry.symbol, entry.kind).select(
        pl.col("ts_event").alias("ts"), "price", "size", "aggressor").collect()
    built = rule(trades)
    title = (f"{built.height:,} bars of {definition.id} from {trades.height:,} trades"
             + (f", the first {head:,} shown" if built.height > head else ""))
    out.print(_table(built.head(head), title, None if raw else definition))
    if write and interval is not None:
        _write_bars(store, definition, built, interval_ns(interval))


# -- check ---------------------------------------------------------------------------------
def _report_table(report: QualityReport) -> Table:
    table = Table(title=f"data quality: {report.catalog}", title_justify="left")
    for name in ("series", "day", "severity", "check", "count", "detail", "first at"):
        table.add_column(name, justify="right" if name == "count" else "left")
    styles = {"error": "bold red", "warn": "yellow", "info": "dim"}
    for series, day, finding in report.findings():
        first = _iso(finding.examples[0]) if finding.examples else ""
        table.add_row(Text(f"{series.symbol}.{series.venue} {series.kind}"), day.date,
                      Text(finding.severity, style=styles[finding.severity]),
                      finding.check, f"{finding.count:,}", Text(finding.detail), first)
    return table


@data_app.command("check")
def check(json_out: JsonOpt = False, venue: VenueOpt = None,
          symbol: Annotated[str | None, Opt(help="only this symbol")] = None,
          kind: Annotated[str | None, Opt(help="only this kind")] = None,
          max_gap: Annotated[str, Opt(help="gap threshold for trades, quotes, book deltas, "
                                      "mark prices")] = "1m",
          catalog: CatalogOpt = None) -> None:
    """Check every series day by day: gaps, duplicates, order, crossed books, bad prices.

    Exit 0 when no finding has error severity (warnings and infos are printed), 1 when
    one does, 2 for bad options or filters matching nothing. See heron.data.quality
    for the checks and what each severity means.
    """
    try:
        gap = interval_ns(max_gap)
    except InvalidConfiguration:
        raise InvalidConfiguration(f"--max-gap {max_gap!r} is not a duration; write a count "
                                   "and a unit, e.g. 30s, 5m, 1h") from None
    store = Catalog(catalog)
    report = check_catalog(store, venue=venue, symbol=symbol, kind=kind, max_gap_ns=gap)
    if not report.series and (venue or symbol or kind):
        raise DataError(f"no series match --venue {venue} --symbol {symbol} --kind {kind} "
                        f"in the catalog at {store.root}; it holds {_held(store.entries())}")
    if json_out:
        sys.stdout.write(report.to_json().decode() + "\n")
    else:
        if any(True for _ in report.findings()):
            out.print(_report_table(report))
        s = report.summary
        out.print(f"{s.series} series, {s.days} day(s), {s.rows:,} rows: {s.errors} error(s), "
                  f"{s.warnings} warning(s), {s.infos} info(s)", highlight=False)
    if not report.summary.ok:
        raise typer.Exit(1)


# -- import --------------------------------------------------------------------------------
@data_app.command("import")
def import_file(path: Annotated[Path, typer.Argument(help="file to import (gzip/zip too)")],
                fmt: Annotated[str | None, Opt("--format", help="file format (default: "
                                               "detected from the content)")] = None,
                venue: VenueOpt = None,
                symbol: Annotated[str | None, Opt(help="instrument symbol")] = None,
                tick_size: Annotated[str | None, Opt(help="price increment")] = None,
                lot_size: Annotated[str | None, Opt(help="size increment")] = None,
                json_out: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Import a market-data file into the catalog; importing it again adds nothing.

    Formats and how they are detected: heron.data.importers.registry. Nothing is
    written unless the whole file reads and checks. ``--json`` prints the import report
    (path, fmt, and per batch instrument_id, kind, source, rows, rows_added,
    rows_skipped).
    """
    from heron.data.importers.registry import import_path  # the importers load on demand

    store = Catalog(catalog)
    report = import_path(store, path, fmt=fmt, venue=venue, symbol=symbol,
                         tick_size=tick_size, lot_size=lot_size)
    if json_out:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    table = Table(title=f"imported {path} ({report.fmt}) into {store.root}",
                  title_justify="left")
    for name in ("instrument", "kind", "source", "rows", "added", "already held"):
        table.add_column(name, justify="right" if name in ("rows", "added", "already held")
                         else "left")
    for batch in report.batches:
        table.add_row(Text(batch.instrument_id), batch.kind.value, Text(batch.source),
                      f"{batch.rows:,}", f"{batch.rows_added:,}", f"{batch.rows_skipped:,}")
    out.print(table)


# -- download ------------------------------------------------------------------------------
def _utc_ns(text: str, flag: str) -> int:
    """``2024-01-01`` or an ISO 8601 time as ns since the epoch; naive times are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidConfiguration(f"{flag} {text!r} is not a date or ISO 8601 time; e.g. "
                                   "2024-01-01 or 2024-01-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


@data_app.command("download")
def download_history(
        venue: Annotated[str, Opt("--venue", help="ccxt venue: binanceusdm, okx, bybit, "
                                  "hyperliquid, mexc, alpaca")],
        symbol: Annotated[str, Opt("--symbol", help="ccxt symbol (BTC/USDT:USDT) or the "
                                   "venue's id (BTCUSDT)")],
        start: Annotated[str, Opt("--start", help="UTC date or ISO 8601 time, inclusive")],
        end: Annotated[str, Opt("--end", help="UTC date or ISO 8601 time, exclusive")],
        kind: Annotated[str, Opt("--kind", help="bars, trades or funding")] = "bars",
        timeframe: Annotated[str, Opt("--timeframe", help="bar length (bars)")] = "1m",
        endpoint: Annotated[str | None, Opt("--endpoint", help="send REST calls to this "
                                            "host instead (paths kept)")] = None,
        json_out: JsonOpt = False, catalog: CatalogOpt = None) -> None:
    """Download history from a venue into the catalog, resuming where the catalog ends.

    Pages through the venue's REST API with ccxt, writing each page as it comes; see
    heron.data.download for pagination, resuming, retries and how rows are stored.
    ``--json`` prints the download report.
    """
    from rich.progress import Progress

    from heron.data.download import download  # ccxt loads on demand

    start_ns, end_ns = _utc_ns(start, "--start"), _utc_ns(end, "--end")
    store = Catalog(catalog)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        report = download(store, venue=venue, symbol=symbol, kind=kind, start_ns=start_ns,
                          end_ns=end_ns, timeframe=timeframe, endpoint=endpoint,
                          progress=progress)
    if json_out:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
        return
    span = ("no rows" if report.first_ts is None or report.last_ts is None
            else f"{_iso(report.first_ts)} to {_iso(report.last_ts)} UTC")
    out.print(f"{report.symbol}.{report.venue} {report.kind}: {report.rows_fetched:,} row(s) "
              f"in {report.requests:,} request(s), {report.rows_added:,} new, "
              f"{report.rows_skipped:,} already stored; {span}"
              + (" (resumed after the catalog's last row)" if report.resumed else ""),
              highlight=False, soft_wrap=True)
