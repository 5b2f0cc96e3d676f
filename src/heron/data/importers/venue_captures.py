"""Recorded WebSocket sessions of any venue with a live parser -> catalog batches.

What ``heron record --raw`` writes (``DIR/<VENUE>/<hour>.txt.gz``, hftbacktest lines
``<receive ns> <frame>``) and cryptofeed sessions import back through the parser the live
feed ran (:mod:`heron.venues`), so an import and a live recording give the same events
and, through :mod:`heron.data.event_frames`, the same rows. :func:`read_capture` is the
entry point ``heron data import`` uses: it tells the venue
(:func:`~heron.data.importers.capture_venues.capture_venue`) and hands a Binance capture
to :mod:`heron.data.importers.captures`, every other venue's to :func:`parse_venue_capture`.

**Instruments.** A capture defines none. Per symbol the frames name, the first of:

1. ``instruments`` (the API's argument);
2. the one the target catalog stores (``stored``; ``heron data import`` passes its
   catalog): a capture is normally imported into the catalog that recorded it, whose
   instrument carries the venue's real tick, lot, contract value and fees;
3. a grid inferred from the data: the frames are parsed once on a very fine grid
   (10^-18) and the tick (lot) is the power of ten of the finest digit any traded,
   quoted or book price (size) uses; mark, index and bankruptcy prices are left out,
   as the venues compute them finer than their tick. A symbol with no such price or
   size gets 1e-8, as the other importers do. Venues print trimmed decimals
   (``"29850.1"``), so a short capture can show a coarser grid than the venue's; the
   catalog then refuses a later file with finer values, saying so: import into the
   recording's catalog to keep the real grid.

Where sizes count *contracts* (OKX swaps and futures, MEXC contracts) the capture does
not say what a contract is worth, and a guessed multiplier would make every notional
wrong: such a symbol without a stored or given instrument is refused, naming the
symbols and where to get their instruments.

**Books.** Venues whose socket sends its own snapshots (OKX, Bybit, Hyperliquid,
Alpaca) import snapshots and deltas as sent. MEXC's live feed fetches its snapshot over
REST, which a raw capture does not keep: its deltas import as deltas, without a
snapshot to start a book from (noted in :attr:`VenueCapture.notes`).

Unusable frames are reported, not fatal (:attr:`VenueCapture.bad`); damage to the file
is a :class:`~heron.errors.DataError`, and a recorder killed mid-write is reported in
:attr:`VenueCapture.truncated`, as for Binance captures (:mod:`.capture_lines`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from heron.data import event_frames as frames
from heron.data.importers import captures
from heron.data.importers.batch import ImportBatch
from heron.data.importers.capture_lines import (
    CaptureFormat,
    CryptofeedSession,
    InstrumentLookup,
    LineReader,
    Record,
    cryptofeed_records,
    hftbacktest_records,
)
from heron.data.importers.capture_venues import (
    SNIFFED_FRAMES,
    BinanceCapture,
    CaptureVenue,
    capture_venue,
)
from heron.data.importers.instruments import increment
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError, EngineError
from heron.model.data import (
    BookDelta,
    BookSnapshot,
    Liquidation,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument
from heron.venues.wire import BadKind, BadMessage

__all__ = ["VenueCapture", "parse_venue_capture", "read_capture", "read_venue_capture"]

_FINE_PLACES = 18  # the first pass's grid: 10**-18 holds every decimal a venue prints
_FINE = Decimal(1).scaleb(-_FINE_PLACES)

_FRAMES: dict[DataKind, Callable[[list[Any]], pl.DataFrame]] = {
    DataKind.TRADES: frames.trades_frame, DataKind.QUOTES: frames.quotes_frame,
    DataKind.BOOK_DELTAS: frames.deltas_frame, DataKind.BOOK_SNAPSHOTS: frames.snapshots_frame,
    DataKind.MARK: frames.marks_frame, DataKind.FUNDING: frames.funding_frame,
    DataKind.LIQUIDATIONS: lambda rows: frames.liquidations_frame(frames.numbered(rows)),
}
_KIND = frames.KIND_OF


@dataclass(slots=True)
class VenueCapture:
    """A recorded session of one venue, parsed: events per symbol and kind in file order,
    and what could not be used (``bad``: file, line, why)."""

    path: Path
    venue: CaptureVenue
    instruments: dict[str, Instrument] = field(default_factory=dict)
    # (instrument symbol, kind) -> events in file order
    events: dict[tuple[str, DataKind], list[Any]] = field(default_factory=dict)
    inferred: list[str] = field(default_factory=list)  # symbols on an inferred grid
    bad: list[tuple[str, int, BadMessage]] = field(default_factory=list)
    ignored: int = 0  # control frames (subscription answers, pongs)
    messages: int = 0
    truncated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def bad_counts(self) -> dict[BadKind, int]:
        return dict(Counter(bad.kind for _, _, bad in self.bad))

    def batches(self) -> list[ImportBatch]:
        """One batch per symbol and kind with rows, rows as the live recorder makes them."""
        out: list[ImportBatch] = []
        for (_, kind), events in self.events.items():
            source = f"{self.path.name}#{kind.value}"
            frame = validate_frame(kind, _FRAMES[kind](events), source=source)
            out.append(ImportBatch(events[0].instrument, kind, frame, source))
        return out


# -- reading ---------------------------------------------------------------------------------
def _records(path: Path, fmt: CaptureFormat, truncated: list[str],
             session: CryptofeedSession) -> Generator[Record]:
    reader = LineReader(path)
    if fmt == "hftbacktest":
        yield from hftbacktest_records(path, reader, truncated)
    else:
        yield from cryptofeed_records(path, reader, session)
    if reader.cut_after is not None:
        truncated.append(f"gzip stream ends without its end marker after line "
                         f"{reader.cut_after}: the rest of the recording is lost")


def _venue(path: Path, venue: str | None, fmt: CaptureFormat) -> CaptureVenue | BinanceCapture:
    """The capture's venue, told from its first frames (and a cryptofeed session's URLs)."""
    session = CryptofeedSession()
    head: list[bytes | str] = []
    with closing(_records(path, fmt, [], session)) as records:
        for record in records:
            head.append(record.raw)
            if len(head) >= SNIFFED_FRAMES:
                break
    return capture_venue(path, venue, head, session.urls)


# -- instruments -------------------------------------------------------------------------------
@dataclass(slots=True)
class _Seen:
    """Prices and sizes (on the fine grid) of one symbol's events, for its inferred grid."""

    prices: set[int] = field(default_factory=set)
    sizes: set[int] = field(default_factory=set)

    def add(self, event: object) -> None:
        if isinstance(event, BookDelta | Trade):
            self.prices.add(event.price)
            self.sizes.add(event.size)
        elif isinstance(event, Quote):
            self.prices.update((event.bid, event.ask))
            self.sizes.update((event.bid_size, event.ask_size))
        elif isinstance(event, BookSnapshot):
            for levels in (event.bids, event.asks):
                self.prices.update(price for price, _ in levels)
                self.sizes.update(size for _, size in levels)
        elif isinstance(event, Liquidation):  # its price is a computed one: not a grid
            self.sizes.add(event.size)
        # marks (computed finer than the tick) and funding (no grid) say nothing


def _places(values: set[int]) -> int | None:
    """Decimals of the finest digit used by ``values`` (on the fine grid), if any."""
    step = math.gcd(*values)  # zeros (a removed level's size) do not move it
    if step == 0:
        return None
    zeros = 0
    while zeros < _FINE_PLACES and step % 10 == 0:
        step //= 10
        zeros += 1
    return _FINE_PLACES - zeros


def _instrument(venue: CaptureVenue, symbol: str, tick: Decimal, lot: Decimal) -> Instrument:
    kind = venue.kind(symbol)
    if kind is None:
        raise EngineError(f"{symbol}: a contract's instrument inferred; _refuse_contracts "
                          "should have refused it")
    return Instrument(symbol=symbol, venue=venue.venue, kind=kind, price_increment=tick,
                      size_increment=lot, quote_currency=venue.quote(symbol))


def _refuse_contracts(path: Path, venue: CaptureVenue, symbols: Iterable[str]) -> None:
    contracts = sorted(s for s in symbols if venue.kind(s) is None)
    if contracts:
        raise DataError(
            f"{path.name}: {venue.label} {', '.join(contracts)}: sizes are counted in "
            "contracts, and a capture does not say what a contract is worth, so the "
            "instrument cannot be inferred; import into a catalog that holds the instrument "
            "(the one heron record wrote holds it; or first copy "
            f"{venue.venue}/<symbol>/instrument.json from such a catalog into this one)")


class _Parsed:
    """Every record through one parser: outcomes in order, with the record."""

    def __init__(self, venue: CaptureVenue, instruments: Mapping[str, Instrument],
                 records: Sequence[Record], truncated: list[str]) -> None:
        self.parser = venue.parser(instruments)
        self.outcomes: list[tuple[Record, list[Any] | BadMessage | None]] = []
        for record in records:
            out = self.parser.parse(record.raw, record.ts_recv)
            if isinstance(out, BadMessage) and out.kind is BadKind.TRUNCATED:
                if not record.complete:
                    truncated.append(f"{record.file} line {record.line}: message cut short "
                                     "at the end of the file, skipped")
                    continue
                raise DataError(f"{record.file}: line {record.line} holds a message cut "
                                f"short ({out.detail}); the recording is damaged there")
            self.outcomes.append((record, out))


def _inferred(path: Path, venue: CaptureVenue, known: Mapping[str, Instrument],
              unknown: Sequence[str], records: Sequence[Record],
              symbols_of: Sequence[list[str]]) -> tuple[dict[str, Instrument], list[str]]:
    """Instruments for ``unknown`` symbols, on the grid their events use (module doc);
    symbols no frame gives an event for keep the fine grid (they make no rows)."""
    fine = {s: Instrument(symbol=s, venue=venue.venue, price_increment=_FINE,
                          size_increment=_FINE) for s in unknown}
    wanted = set(unknown)
    naming = [r for r, names in zip(records, symbols_of, strict=True) if wanted & set(names)]
    seen: dict[str, _Seen] = {}
    for _, outcome in _Parsed(venue, {**known, **fine}, naming, []).outcomes:
        for event in outcome if isinstance(outcome, list) else ():
            symbol = event.instrument.symbol
            if symbol in wanted:
                seen.setdefault(symbol, _Seen()).add(event)
    _refuse_contracts(path, venue, seen)
    inferred: dict[str, Instrument] = dict(fine)
    for symbol, values in seen.items():
        prices, sizes = _places(values.prices), _places(values.sizes)
        inferred[symbol] = _instrument(venue, symbol, increment(None, prices),
                                       increment(None, sizes))
    return inferred, sorted(seen)


def _instruments(path: Path, venue: CaptureVenue, records: Sequence[Record],
                 given: Mapping[str, Instrument] | None, stored: InstrumentLookup | None,
                 ) -> tuple[dict[str, Instrument], list[str]]:
    """Instruments for every symbol the frames name (module doc), and the inferred ones."""
    symbols_of = [venue.symbols(record.raw) for record in records]
    symbols = list(dict.fromkeys(s for names in symbols_of for s in names))
    known = dict(given or {})
    for symbol in symbols:
        found = stored(venue.venue, symbol) if stored and symbol not in known else None
        if found is not None:
            known[symbol] = found
    unknown = [s for s in symbols if s not in known]
    if not unknown:
        return known, []
    inferred, grids = _inferred(path, venue, known, unknown, records, symbols_of)
    return {**known, **inferred}, grids


# -- building the capture ----------------------------------------------------------------------
def _build(path: Path, venue: CaptureVenue, records: Sequence[Record],
           given: Mapping[str, Instrument] | None, stored: InstrumentLookup | None,
           truncated: list[str]) -> VenueCapture:
    instruments, inferred = _instruments(path, venue, records, given, stored)
    parsed = _Parsed(venue, instruments, records, truncated)
    capture = VenueCapture(path, venue, instruments, inferred=inferred,
                           messages=len(records), truncated=truncated)
    for record, out in parsed.outcomes:
        if out is None:
            capture.ignored += 1
        elif isinstance(out, BadMessage):
            capture.bad.append((record.file, record.line, out))
        else:
            for event in out:
                kind = _KIND.get(type(event)) or frames.kind_of(event)
                if kind is not None:
                    key = (event.instrument.symbol, kind)
                    capture.events.setdefault(key, []).append(event)
    capture.notes += _notes(capture, parsed.parser)
    return capture


def _notes(capture: VenueCapture, parser: object) -> list[str]:
    notes = []
    for symbol in capture.inferred:
        inst = capture.instruments[symbol]
        notes.append(f"{symbol}: tick {inst.price_increment} and lot {inst.size_increment} "
                     "inferred from the decimals in the capture (no stored instrument)")
    dropped: Mapping[str, int] = getattr(parser, "dropped_levels", {})
    notes += [f"{symbol}: {n} book levels off the instrument's grid left out"
              for symbol, n in sorted(dropped.items())]
    if capture.venue.rest_book:
        notes += [f"{symbol}: book deltas without a snapshot ({capture.venue.label} sends "
                  "its book snapshot over REST, which a raw capture does not keep)"
                  for (symbol, kind) in capture.events if kind is DataKind.BOOK_DELTAS
                  and (symbol, DataKind.BOOK_SNAPSHOTS) not in capture.events]
    unheld = getattr(parser, "unheld_liquidations", 0)
    if unheld:
        notes.append(f"{unheld} forced orders of instruments the capture does not follow "
                     "left out (OKX sends liquidations per instrument type)")
    return notes


# -- public API --------------------------------------------------------------------------------
def _parse(path: Path, venue: CaptureVenue, fmt: CaptureFormat,
           instruments: Mapping[str, Instrument] | None,
           stored: InstrumentLookup | None) -> VenueCapture:
    truncated: list[str] = []
    records = list(_records(path, fmt, truncated, CryptofeedSession()))
    return _build(path, venue, records, instruments, stored, truncated)


def parse_venue_capture(path: Path | str, venue: str | None = None, *,
                        fmt: CaptureFormat = "hftbacktest",
                        instruments: Mapping[str, Instrument] | None = None,
                        stored: InstrumentLookup | None = None) -> VenueCapture:
    """Every event of a non-Binance capture, with what could not be used (module doc).

    ``venue`` as :func:`~heron.data.importers.capture_venues.capture_venue` takes it;
    ``instruments`` by the venue's symbol; ``stored`` looks up a catalog's instruments.
    """
    path = Path(path)
    found = _venue(path, venue, fmt)
    if isinstance(found, BinanceCapture):
        raise DataError(f"{path.name}: a Binance capture; read it with "
                        "heron.data.importers.captures (read_capture picks the reader)")
    return _parse(path, found, fmt, instruments, stored)


def read_venue_capture(path: Path | str, venue: str | None = None, *,
                       fmt: CaptureFormat = "hftbacktest",
                       instruments: Mapping[str, Instrument] | None = None,
                       stored: InstrumentLookup | None = None) -> list[ImportBatch]:
    """Catalog batches of :func:`parse_venue_capture`."""
    return parse_venue_capture(path, venue, fmt=fmt, instruments=instruments,
                               stored=stored).batches()


def read_capture(path: Path | str, venue: str | None = None, *,
                 fmt: CaptureFormat = "hftbacktest",
                 stored: InstrumentLookup | None = None) -> list[ImportBatch]:
    """Catalog batches of a capture of any venue with a parser: ``heron data import``."""
    path = Path(path)
    found = _venue(path, venue, fmt)
    if isinstance(found, BinanceCapture):
        read = (captures.read_hftbacktest_capture if fmt == "hftbacktest"
                else captures.read_cryptofeed_capture)
        return read(path, found.venue, stored=stored)
    return _parse(path, found, fmt, None, stored).batches()
