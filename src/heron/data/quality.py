"""A data-quality report over the catalog: what is wrong with each series, day by day.

The catalog refuses malformed rows at write time (:func:`heron.data.schemas.validate_frame`)
but not data that is well formed and still wrong: a hole in a recording, the same trade
twice with two sizes, a quote whose bid is above its ask, a zero price from a bad
parse. Those survive into backtests silently, so this module looks for them, one UTC
day of one series at a time (memory stays near one day's rows), vectorised in polars
except the order-book replay, which is the :class:`~heron.model.book.L2Book` itself.

Severities say what the operator must do:

* ``error``: rows are wrong in a way that changes results (a price, a size, a double
  count, a crossed book). Re-import or repair before trusting a backtest on that day.
* ``warn``: suspicious but with innocent explanations (a venue outage, a quiet market,
  ids reset by a venue restart). Look, then decide.
* ``info``: facts worth knowing that are not faults (an empty side of a quote).

Checks (``check`` names are stable; they key :attr:`Summary.checks`):

==========================  ========  ===================================================
check                       severity  finds
==========================  ========  ===================================================
``gap``                     warn      consecutive ``ts_event`` further apart than the
                                      threshold: the bar length for bars (a missing bar),
                                      ``max_gap_ns`` for trades, quotes, book deltas and
                                      mark prices (default :data:`TICK_GAP_NS`, a minute).
                                      Not checked for snapshots, funding and liquidations,
                                      which are sparse by nature. A hole across midnight
                                      is reported on the day the data resumes.
``duplicate_row``           error     identical rows (the catalog stores a set, so only a
                                      file written by another tool has them)
``conflicting_duplicate``   error     rows with the same key (``ts_event`` + ``sequence``;
                                      see ``_KEYS``) but other values: one event recorded
                                      twice, differently; counts the extra versions
``out_of_order``            error     ``ts_event`` decreasing in storage order
``sequence_regression``     warn      ``sequence`` decreasing while time does not: the
                                      venue's ids and its clock disagree on the order
``crossed_quote``           error     a quote with both sides non-empty and bid >= ask
``crossed_book``            error     book-delta messages after which the replayed book
                                      is crossed or locked (L2Book's counter)
``stale_book_message``      warn      book-delta messages whose sequence does not increase
``crossed_snapshot``        error     a book snapshot whose best bid >= best ask
``nonpositive_price``       error     a price <= 0 ticks (a quote side only if non-empty)
``invalid_size``            error     a size < 0, or <= 0 for trades and liquidations
``high_below_low``          error     a bar with high < low
``ohlc_outside_range``      error     a bar (with high >= low) whose open or close is
                                      outside [low, high]
``invalid_interval``        error     a bar with ``interval_ns`` <= 0
``zero_volume_bar``         info      a bar with no volume (a filled gap, usually)
``empty_quote_side``        info      a quote with a zero size on one side
``recv_before_event``       info      ``ts_recv`` < ``ts_event``: the clocks disagree
==========================  ========  ===================================================

Instruments that legitimately trade at or below zero (calendar spreads, some futures)
will show ``nonpositive_price`` errors; filter those series out with ``kind``/``symbol``.

The book replay starts from an empty book each day and applies every delta of the day
with :class:`~heron.model.book.IncreasingSequence`: the catalog keeps one sequence per
message, not a venue's first/previous ids, so contiguity cannot be checked, only that
ids go forward. Starting empty cannot make a book cross: it holds only levels the
stream set, and the stream must also remove them; so a crossed message boundary means
a missed or wrong message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import msgspec
import polars as pl

from heron.data.catalog import TICK_GAP_NS, Catalog, CatalogEntry
from heron.data.catalog_store import NS_PER_DAY
from heron.data.schemas import DataKind
from heron.errors import InvalidConfiguration
from heron.model.book import IncreasingSequence, L2Book
from heron.model.data import BookDelta, BookSide
from heron.model.instrument import Instrument

__all__ = ["SEVERITIES", "DayReport", "Finding", "QualityReport", "SeriesReport", "Severity",
           "Summary", "check_catalog"]

Severity = Literal["info", "warn", "error"]
SEVERITIES: tuple[Severity, ...] = ("error", "warn", "info")
"""Most severe first: the order findings are listed in."""

MAX_EXAMPLES = 5
_EPOCH = date(1970, 1, 1)


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of problem on one day of one series.

    ``count`` is how many rows (messages for the book checks, holes for ``gap``)
    have it; ``examples`` the ``ts_event`` (ns) of the first few, for a gap where
    each hole starts.
    """

    check: str
    severity: Severity
    count: int
    detail: str
    examples: tuple[int, ...] = ()


class DayReport(msgspec.Struct, frozen=True, kw_only=True):
    """One UTC day of a series: its rows, time span (``ts_event``, ns) and findings."""

    date: str
    rows: int
    first_ts: int
    last_ts: int
    findings: tuple[Finding, ...]


class SeriesReport(msgspec.Struct, frozen=True, kw_only=True):
    """One catalog series (venue, symbol, kind), with a report per day that has data."""

    venue: str
    symbol: str
    kind: DataKind
    rows: int
    first_ts: int
    last_ts: int
    days: tuple[DayReport, ...]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """Totals: ``errors``/``warnings``/``infos`` count findings (a check on a day);
    ``checks`` sums each check's ``count`` over everything; ``ok`` means no errors."""

    series: int
    days: int
    rows: int
    errors: int
    warnings: int
    infos: int
    checks: dict[str, int]
    ok: bool


class QualityReport(msgspec.Struct, frozen=True, kw_only=True):
    """The whole report; ``msgspec.json.encode`` (or :meth:`to_json`) gives its JSON."""

    catalog: str
    summary: Summary
    series: tuple[SeriesReport, ...]

    def findings(self) -> Iterator[tuple[SeriesReport, DayReport, Finding]]:
        """Every finding with the series and day it belongs to, in report order."""
        for series in self.series:
            for day in series.days:
                for finding in day.findings:
                    yield series, day, finding

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)


# -- row rules -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Rule:
    """A check decided row by row: ``bad`` is true on an offending row (storage order)."""

    check: str
    severity: Severity
    bad: pl.Expr
    detail: str


def _price_rule(*columns: str) -> _Rule:
    bad = pl.any_horizontal(pl.col(name) <= 0 for name in columns)
    return _Rule("nonpositive_price", "error", bad, f"{' or '.join(columns)} <= 0 ticks")


def _size_rule(column: str, low: int) -> _Rule:
    return _Rule("invalid_size", "error", pl.col(column) < low, f"{column} < {low} lots")


_STEP = pl.col("ts_event").diff()
_COMMON = (
    _Rule("out_of_order", "error", _STEP < 0, "ts_event earlier than the row stored before it"),
    _Rule("recv_before_event", "info", pl.col("ts_recv") < pl.col("ts_event"),
          "ts_recv before ts_event (clock offset between venue and recorder)"),
)
_SEQUENCE = _Rule("sequence_regression", "warn", (_STEP >= 0) & (pl.col("sequence").diff() < 0),
                  "sequence lower than the row before while ts_event is not")
_BID_LIVE, _ASK_LIVE = pl.col("bid_size") > 0, pl.col("ask_size") > 0
_BAR_SANE = pl.col("high") >= pl.col("low")

_RULES: dict[DataKind, tuple[_Rule, ...]] = {
    DataKind.TRADES: (_SEQUENCE, _price_rule("price"), _size_rule("size", 1)),
    DataKind.QUOTES: (
        _SEQUENCE,
        _Rule("crossed_quote", "error", _BID_LIVE & _ASK_LIVE & (pl.col("bid") >= pl.col("ask")),
              "bid >= ask with both sides non-empty"),
        _Rule("nonpositive_price", "error",
              (_BID_LIVE & (pl.col("bid") <= 0)) | (_ASK_LIVE & (pl.col("ask") <= 0)),
              "bid or ask <= 0 ticks on a non-empty side"),
        _Rule("invalid_size", "error", (pl.col("bid_size") < 0) | (pl.col("ask_size") < 0),
              "bid_size or ask_size < 0 lots"),
        _Rule("empty_quote_side", "info", ~_BID_LIVE | ~_ASK_LIVE, "bid_size or ask_size is 0"),
    ),
    DataKind.BOOK_DELTAS: (_SEQUENCE, _price_rule("price"), _size_rule("size", 0)),
    DataKind.BOOK_SNAPSHOTS: (_SEQUENCE, _price_rule("price"), _size_rule("size", 0)),
    DataKind.BARS: (
        _Rule("high_below_low", "error", ~_BAR_SANE, "high < low"),
        _Rule("ohlc_outside_range", "error", _BAR_SANE & (
            (pl.min_horizontal("open", "close") < pl.col("low"))
            | (pl.max_horizontal("open", "close") > pl.col("high"))),
            "open or close outside [low, high]"),
        _price_rule("open", "high", "low", "close"),
        _size_rule("volume", 0),
        _Rule("invalid_interval", "error", pl.col("interval_ns") <= 0, "interval_ns <= 0"),
        _Rule("zero_volume_bar", "info", pl.col("volume") == 0, "volume 0"),
    ),
    DataKind.FUNDING: (),
    DataKind.MARK: (_price_rule("price"),),
    DataKind.LIQUIDATIONS: (_SEQUENCE, _price_rule("price"), _size_rule("size", 1)),
}

# What identifies one event: rows sharing these but differing elsewhere conflict.
_KEYS: dict[DataKind, tuple[str, ...]] = {
    DataKind.TRADES: ("ts_event", "sequence"),
    DataKind.QUOTES: ("ts_event", "sequence"),
    DataKind.BOOK_DELTAS: ("ts_event", "sequence", "side", "price"),
    DataKind.BOOK_SNAPSHOTS: ("ts_event", "sequence", "side", "level"),
    DataKind.BARS: ("ts_event", "interval_ns"),
    DataKind.FUNDING: ("ts_event",),
    DataKind.MARK: ("ts_event",),
    DataKind.LIQUIDATIONS: ("ts_event", "sequence"),
}

_GAP_CHECKED = frozenset({DataKind.TRADES, DataKind.QUOTES, DataKind.BOOK_DELTAS,
                          DataKind.MARK})


def _examples(frame: pl.DataFrame, bad: pl.Expr) -> tuple[int, ...]:
    return tuple(frame.filter(bad)["ts_event"].head(MAX_EXAMPLES).to_list())


def _row_findings(kind: DataKind, frame: pl.DataFrame) -> list[Finding]:
    """Every row rule of the kind, counted in one pass over the day."""
    rules = (*_COMMON, *_RULES[kind])
    counts = frame.select(rule.bad.sum().alias(str(i)) for i, rule in enumerate(rules)).row(0)
    return [Finding(check=rule.check, severity=rule.severity, count=int(count),
                    detail=rule.detail, examples=_examples(frame, rule.bad))
            for rule, count in zip(rules, counts, strict=True) if count]


def _duplicate_findings(kind: DataKind, frame: pl.DataFrame) -> list[Finding]:
    """Identical rows, then distinct rows that share the kind's key."""
    findings = []
    distinct = frame.unique(maintain_order=True)
    if distinct.height < frame.height:
        repeated = frame.is_duplicated()
        findings.append(Finding(
            check="duplicate_row", severity="error", count=frame.height - distinct.height,
            detail="identical rows (counted beyond the first)",
            examples=tuple(frame.filter(repeated)["ts_event"].unique(maintain_order=True)
                           .head(MAX_EXAMPLES).to_list())))
    key = list(_KEYS[kind])
    groups = distinct.group_by(key).agg(pl.len().alias("n")).filter(pl.col("n") > 1)
    if groups.height:
        findings.append(Finding(
            check="conflicting_duplicate", severity="error",
            count=int(groups["n"].sum()) - groups.height,
            detail=f"rows sharing {' + '.join(key)} with other values (extra versions)",
            examples=tuple(groups["ts_event"].sort().head(MAX_EXAMPLES).to_list())))
    return findings


def _snapshot_findings(frame: pl.DataFrame) -> list[Finding]:
    """Snapshots whose best bid is at or above their best ask (levels with size > 0)."""
    live = frame.filter(pl.col("size") > 0)
    tops = live.group_by("ts_event", "sequence").agg(
        pl.col("price").filter(pl.col("side") == 1).max().alias("bid"),
        pl.col("price").filter(pl.col("side") == -1).min().alias("ask"))
    crossed = tops.filter(pl.col("bid") >= pl.col("ask"))
    if not crossed.height:
        return []
    return [Finding(check="crossed_snapshot", severity="error", count=crossed.height,
                    detail="snapshots with best bid >= best ask",
                    examples=tuple(crossed["ts_event"].sort().head(MAX_EXAMPLES).to_list()))]


def _book_findings(frame: pl.DataFrame, instrument: Instrument) -> list[Finding]:
    """Replay the day's deltas through an empty :class:`L2Book`; read its counters."""
    book = L2Book(instrument, IncreasingSequence())
    crossed: list[int] = []
    stale: list[int] = []
    columns = frame.select("ts_event", "ts_recv", "side", "price", "size", "sequence", "is_last")
    for ts, recv, side, price, size, sequence, last in columns.iter_rows():
        counts = book.crossed_messages, book.stale_messages
        book.apply_delta(BookDelta(instrument, ts, recv, BookSide.BID if side == 1
                                   else BookSide.ASK, price, size, sequence, last))
        if book.crossed_messages > counts[0] and len(crossed) < MAX_EXAMPLES:
            crossed.append(ts)
        if book.stale_messages > counts[1] and len(stale) < MAX_EXAMPLES:
            stale.append(ts)
    findings = []
    if book.crossed_messages:
        findings.append(Finding(check="crossed_book", severity="error",
                                count=book.crossed_messages, examples=tuple(crossed),
                                detail="messages after which the book is crossed or locked"))
    if book.stale_messages:
        findings.append(Finding(check="stale_book_message", severity="warn",
                                count=book.stale_messages, examples=tuple(stale),
                                detail="messages whose sequence does not increase (dropped)"))
    return findings


def _span(ns: int) -> str:
    """A duration for people: the largest unit that fits, one decimal."""
    for unit, size in (("d", 86_400 * 10**9), ("h", 3_600 * 10**9), ("m", 60 * 10**9),
                       ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns >= size:
            return f"{ns / size:.1f}".removesuffix(".0") + unit
    return f"{ns}ns"


# -- series --------------------------------------------------------------------------------
class _SeriesChecker:
    """Checks a series day after day, carrying the last timestamps across midnight so
    that a hole spanning days is found (on the day the data resumes)."""

    def __init__(self, kind: DataKind, max_gap_ns: int, instrument: Instrument | None) -> None:
        self.kind = kind
        self.max_gap_ns = max_gap_ns
        self.instrument = instrument
        self._last: pl.DataFrame | None = None  # per group: g, ts_event (the latest)

    def day(self, number: int, frame: pl.DataFrame) -> DayReport:
        findings = [*_row_findings(self.kind, frame), *_duplicate_findings(self.kind, frame),
                    *self._gap_findings(frame)]
        if self.kind is DataKind.BOOK_SNAPSHOTS:
            findings += _snapshot_findings(frame)
        if self.kind is DataKind.BOOK_DELTAS and self.instrument is not None:
            findings += _book_findings(frame, self.instrument)
        findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.check))
        ts = frame["ts_event"]
        return DayReport(date=(_EPOCH + timedelta(days=number)).isoformat(), rows=frame.height,
                         first_ts=int(ts.min()), last_ts=int(ts.max()),  # type: ignore[arg-type]
                         findings=tuple(findings))

    def _gap_findings(self, frame: pl.DataFrame) -> list[Finding]:
        """Steps longer than the threshold: per bar length for bars, else over all rows."""
        bars = self.kind is DataKind.BARS
        if not bars and self.kind not in _GAP_CHECKED:
            return []
        group = pl.col("interval_ns") if bars else pl.lit(0, dtype=pl.Int64)
        ts = frame.select(group.alias("g"), "ts_event")
        if self._last is not None:
            ts = pl.concat([self._last, ts])
        ts = ts.sort("g", "ts_event")
        self._last = ts.group_by("g").agg(pl.col("ts_event").max())
        limit = pl.col("g") if bars else pl.lit(self.max_gap_ns)
        holes = ts.with_columns(pl.col("ts_event").diff().over("g").alias("step")).filter(
            pl.col("step") > limit)
        if not holes.height:
            return []
        longest = _span(int(holes["step"].max()))  # type: ignore[arg-type]
        if bars:
            missing = int((holes["step"] // holes["g"] - 1).sum())
            detail = f"{missing} missing bar(s) in {holes.height} hole(s), longest {longest}"
        else:
            detail = f"holes longer than {_span(self.max_gap_ns)}, longest {longest}"
        starts = (holes["ts_event"] - holes["step"]).sort().head(MAX_EXAMPLES)
        return [Finding(check="gap", severity="warn", count=holes.height, detail=detail,
                        examples=tuple(starts.to_list()))]


def _check_series(catalog: Catalog, entry: CatalogEntry, max_gap_ns: int) -> SeriesReport:
    """Read the series a day at a time (days without data are skipped) and check each."""
    instrument = (catalog.instrument(entry.venue, entry.symbol)
                  if entry.kind is DataKind.BOOK_DELTAS else None)
    checker = _SeriesChecker(entry.kind, max_gap_ns, instrument)
    days = []
    for number in range(entry.first_ts // NS_PER_DAY, entry.last_ts // NS_PER_DAY + 1):
        frame = catalog.read(entry.venue, entry.symbol, entry.kind, number * NS_PER_DAY,
                             (number + 1) * NS_PER_DAY)
        if frame.height:
            days.append(checker.day(number, frame))
    return SeriesReport(venue=entry.venue, symbol=entry.symbol, kind=entry.kind,
                        rows=sum(day.rows for day in days), first_ts=entry.first_ts,
                        last_ts=entry.last_ts, days=tuple(days))


def _summarise(series: tuple[SeriesReport, ...]) -> Summary:
    severities: Counter[str] = Counter()
    checks: Counter[str] = Counter()
    for item in series:
        for day in item.days:
            for finding in day.findings:
                severities[finding.severity] += 1
                checks[finding.check] += finding.count
    return Summary(series=len(series), days=sum(len(s.days) for s in series),
                   rows=sum(s.rows for s in series), errors=severities["error"],
                   warnings=severities["warn"], infos=severities["info"],
                   checks=dict(sorted(checks.items())), ok=severities["error"] == 0)


def check_catalog(catalog: Catalog, *, venue: str | None = None, symbol: str | None = None,
                  kind: DataKind | str | None = None,
                  max_gap_ns: int = TICK_GAP_NS) -> QualityReport:
    """The quality report of every series matching the filters (``None`` matches all).

    ``max_gap_ns`` is the gap threshold for trades, quotes, book deltas and mark prices;
    bars use their own length. Filters that match nothing give an empty report.
    """
    if max_gap_ns <= 0:
        raise InvalidConfiguration(f"max_gap_ns {max_gap_ns} must be positive")
    wanted = DataKind.parse(kind) if kind is not None else None
    entries = [entry for entry in catalog.entries()
               if (venue is None or entry.venue == venue)
               and (symbol is None or entry.symbol == symbol)
               and (wanted is None or entry.kind is wanted)]
    series = tuple(_check_series(catalog, entry, max_gap_ns) for entry in entries)
    return QualityReport(catalog=str(catalog.root), summary=_summarise(series), series=series)
