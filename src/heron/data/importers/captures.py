"""Recorded Binance WebSocket sessions -> catalog batches, through the live parser.

Two recorder formats:

* hftbacktest (``*.txt.gz``): each line ``<local receive ns> <raw WebSocket text>``;
  REST depth snapshots the recorder fetched sit among them as bare bodies.
* cryptofeed (``*.jsonl.gz``): each line ``{"ts": receive seconds, "dir", "url",
  "raw"}``; ``dir`` ``recv`` lines are WebSocket messages, ``http_response`` lines REST
  bodies (``/depth`` snapshots, whose symbol is in the URL, and ``/exchangeInfo``).
  cryptofeed writes each connection to its own file: pass the REST files of a session
  as ``related`` to get its snapshots and its instruments' real grid.

Every message goes through :class:`heron.venues.binance.BinanceParser`, the code the live
feed runs, so an import and a live session produce the same events. The venue is the
``venue`` argument, else the URLs in the file (``fstream`` -> ``BINANCE_USDM``,
``dstream`` -> ``BINANCE_COINM``, ``stream.binance.com`` -> ``BINANCE``), else the
file's path (``.../binance_usdm/...``). Instruments: the ``instruments`` argument, else
the one the target catalog stores (``stored``: what ``heron data import`` passes), else
an exchangeInfo body in the session, else the decimals the capture prints (see
:mod:`heron.venues.binance.instruments`). Other venues' captures:
:mod:`heron.data.importers.venue_captures`.

Rows per instrument and kind (columns per :mod:`heron.data.schemas`):

``trades``        one per ``trade`` message (sequence: trade id). ``aggTrade`` messages
                  become trades only when the capture has no ``trade`` stream for the
                  symbol: an aggTrade sums the same fills, so keeping both would count
                  the volume twice (and their ids are different series).
``quotes``        one per ``bookTicker`` (sequence: the book update id ``u``).
``book_deltas``   one per price level of each ``depthUpdate`` (sequence ``u``).
``book_snapshots`` one per level of each REST depth snapshot (sequence ``lastUpdateId``).
``mark``          one per ``markPriceUpdate``.
``funding``       one per funding time ``T``: the last rate announced for it (each
                  ``markPriceUpdate`` restates the coming rate; one row per message
                  would apply it many times). A capture that stops before ``T`` holds the
                  latest estimate, not the settled rate.
``liquidations``  one per ``forceOrder`` (it has no id; sequence: its place among the
                  symbol's consecutive liquidations at the same time, 0 for the first).

What cannot be used is reported, not fatal, as long as the file itself is sound:
venue messages heron cannot parse (malformed, unsupported streams, unknown symbols,
off-grid values) are kept in :attr:`Capture.bad` with their text. Damage to the *file*
is a :class:`DataError` naming the line: a gzip stream that fails its CRC, a line
without the recorder's framing, JSON cut short in mid-file. Two kinds of damage at the
end are what a recorder killed mid-write leaves, and are skipped and reported in
:attr:`Capture.truncated` instead: an unterminated last line that does not parse, and a
gzip stream that stops before its end marker (everything before the cut is kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from heron.data import event_frames as frames
from heron.data.importers.batch import ImportBatch
from heron.data.importers.capture_lines import (
    CryptofeedSession,
    InstrumentLookup,
    LineReader,
    Record,
    cryptofeed_records,
    hftbacktest_records,
)
from heron.data.schemas import DataKind, validate_frame
from heron.errors import DataError
from heron.model.data import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument
from heron.venues.binance.instruments import (
    BinanceMarket,
    DecimalsSeen,
    inferred_instrument,
    instruments_from_exchange_info,
)
from heron.venues.binance.parse import (
    AggTradeMsg,
    BadKind,
    BadMessage,
    BinanceMessage,
    BinanceParser,
    ForceOrderMsg,
    decode,
)

__all__ = ["Capture", "SymbolData", "parse_cryptofeed_capture", "parse_hftbacktest_capture",
           "read_cryptofeed_capture", "read_hftbacktest_capture"]


# -- what a capture holds --------------------------------------------------------------------
@dataclass(slots=True)
class SymbolData:
    """One instrument's events in file order, each with the line it came from."""

    instrument: Instrument
    trades: list[tuple[int, Trade]] = field(default_factory=list)
    agg_trades: list[tuple[int, Trade]] = field(default_factory=list)
    quotes: list[tuple[int, Quote]] = field(default_factory=list)
    deltas: list[tuple[int, BookDelta]] = field(default_factory=list)
    snapshots: list[tuple[int, BookSnapshot]] = field(default_factory=list)
    marks: list[tuple[int, MarkPrice]] = field(default_factory=list)
    funding: list[tuple[int, FundingRate]] = field(default_factory=list)
    liquidations: list[tuple[int, Liquidation]] = field(default_factory=list)
    files: dict[str, set[str]] = field(default_factory=dict)  # bucket -> files of its rows

    def add(self, file: str, line: int, ts_recv: int, events: list[MarketEvent], *,
            aggregated: bool) -> None:
        """File one message's events under their kinds; ``aggregated``: from ``aggTrade``."""
        if isinstance(events[0], BookDelta):  # the bulk of a capture: one list extension
            self.deltas += [(line, delta) for delta in events if isinstance(delta, BookDelta)]
            self.files.setdefault("deltas", set()).add(file)
            return
        for event in events:
            if isinstance(event, Trade):
                bucket = "agg_trades" if aggregated else "trades"
            else:
                bucket = _BUCKETS[type(event)]
            rows: list[object] = getattr(self, bucket)
            rows.append((line, event))
            self.files.setdefault(bucket, set()).add(file)

    def source(self, bucket: str, stream: str) -> str:
        """``file[+file]#stream``: where a batch's rows came from."""
        return f"{'+'.join(sorted(self.files.get(bucket, ())))}#{stream}"


_BUCKETS: dict[type, str] = {
    BookDelta: "deltas", Quote: "quotes", BookSnapshot: "snapshots",
    MarkPrice: "marks", FundingRate: "funding", Liquidation: "liquidations",
}


@dataclass(slots=True)
class Capture:
    """A recorded session, parsed: events per Binance symbol and what could not be used.

    Line numbers are within the file each message came from (``related`` REST files
    number their own lines). ``messages`` counts the lines that held a message.
    """

    path: Path
    market: BinanceMarket
    symbols: dict[str, SymbolData] = field(default_factory=dict)
    bad: list[tuple[str, int, BadMessage]] = field(default_factory=list)  # file, line, why
    ignored: int = 0  # control replies (subscription acknowledgements)
    messages: int = 0
    truncated: list[str] = field(default_factory=list)  # what a cut-off recorder lost
    notes: list[str] = field(default_factory=list)

    def bad_counts(self) -> dict[BadKind, int]:
        counts: dict[BadKind, int] = {}
        for _, _, bad in self.bad:
            counts[bad.kind] = counts.get(bad.kind, 0) + 1
        return counts

    def batches(self) -> list[ImportBatch]:
        """The catalog rows of every instrument and kind that has any."""
        out: list[ImportBatch] = []
        for data in self.symbols.values():
            out += _batches(data)
        return out


# -- from records to a capture -----------------------------------------------------------------
Decoded = tuple[Record, BinanceMessage | BadMessage | None]


def _symbol_of(message: BinanceMessage) -> str | None:
    if isinstance(message, ForceOrderMsg):
        return message.order.symbol
    return message.symbol


def _decode_all(records: Sequence[Record], truncated: list[str]) -> list[Decoded]:
    """Every record decoded; JSON cut short is file damage unless it ends the file."""
    out: list[Decoded] = []
    for record in records:
        message = decode(record.raw, record.ts_recv)
        if isinstance(message, BadMessage) and message.kind is BadKind.TRUNCATED:
            if not record.complete:
                truncated.append(f"{record.file} line {record.line}: message cut short at "
                                 "the end of the file, skipped")
                continue
            raise DataError(f"{record.file}: line {record.line} holds a message cut short "
                            f"({message.detail}); the recording is damaged there")
        out.append((record, message))
    return out


@dataclass(frozen=True, slots=True)
class _Known:
    """Where instruments come from before the grid is inferred (see :func:`_instruments`)."""

    given: Mapping[str, Instrument] | None = None
    stored: InstrumentLookup | None = None
    exchange_infos: Sequence[str] = ()


def _instruments(market: BinanceMarket, decoded: Sequence[Decoded],
                 sources: _Known) -> tuple[dict[str, Instrument], str | None]:
    """Instruments for the capture's symbols, and the one symbol a bare snapshot means.

    Given ones first, then the catalog's (``stored``: the grid the rows will be kept on,
    so a mark price is rounded to the stored tick, not to a finer inferred one), then
    exchangeInfo, then the grid inferred from printed decimals.
    """
    symbols = {s for _, m in decoded if m is not None and not isinstance(m, BadMessage)
               and (s := _symbol_of(m)) is not None}
    only = next(iter(symbols)) if len(symbols) == 1 else None
    known: dict[str, Instrument] = {}
    for body in sources.exchange_infos:
        known.update(instruments_from_exchange_info(body, market))
    if sources.stored is not None:
        for symbol in symbols:
            stored = sources.stored(market.venue, symbol)
            if stored is not None:
                known[symbol] = stored
    known.update(sources.given or {})
    if symbols - known.keys():
        seen = DecimalsSeen()
        for record, message in decoded:
            if message is not None and not isinstance(message, BadMessage):
                seen.add(message, record.symbol or only)
        for symbol in symbols - known.keys():
            known[symbol] = inferred_instrument(symbol, market, seen.prices.get(symbol, 0),
                                                seen.sizes.get(symbol, 0))
    return known, only


def _build(path: Path, market: BinanceMarket, records: Sequence[Record], sources: _Known,
           truncated: list[str]) -> Capture:
    decoded = _decode_all(records, truncated)
    instruments, only = _instruments(market, decoded, sources)
    parser = BinanceParser(instruments)
    capture = Capture(path, market, messages=len(records), truncated=truncated)
    for record, message in decoded:
        if message is None:
            capture.ignored += 1
            continue
        out = message if isinstance(message, BadMessage) else parser.events(
            message, record.ts_recv, record.raw, symbol=record.symbol or only)
        if isinstance(out, BadMessage):
            capture.bad.append((record.file, record.line, out))
            continue
        if not out:
            continue
        instrument = out[0].instrument  # one message, one instrument
        data = capture.symbols.get(instrument.symbol)
        if data is None:
            data = capture.symbols[instrument.symbol] = SymbolData(instrument)
        data.add(record.file, record.line, record.ts_recv, out,
                 aggregated=isinstance(message, AggTradeMsg))
    capture.notes += [f"{symbol}: {n} book levels off the instrument's grid left out"
                      for symbol, n in sorted(parser.dropped_levels.items())]
    capture.notes += [f"{symbol}: {len(data.agg_trades)} aggTrade messages left out: the "
                      "trade stream holds the same fills"
                      for symbol, data in capture.symbols.items()
                      if data.trades and data.agg_trades]
    return capture


def _market(venue: str | None, urls: Sequence[str], path: Path) -> BinanceMarket:
    if venue is not None:
        return BinanceMarket.from_venue(venue)
    for url in urls:
        market = BinanceMarket.from_url(url)
        if market is not None:
            return market
    if urls:
        raise DataError(f"{path}: not a Binance session (it talks to {urls[0]}); other "
                        "venues' captures are read by heron.data.importers.venue_captures "
                        "(heron data import picks the reader)")
    market = BinanceMarket.from_path(path)
    if market is None:
        raise DataError(f"{path}: cannot tell which Binance market this capture is from (its "
                        "path names none); if it is a Binance capture, pass venue= BINANCE, "
                        "BINANCE_USDM or BINANCE_COINM")
    return market


# -- public API --------------------------------------------------------------------------------
def parse_hftbacktest_capture(path: Path | str, venue: str | None = None, *,
                              instruments: Mapping[str, Instrument] | None = None,
                              stored: InstrumentLookup | None = None) -> Capture:
    """Every event of an hftbacktest capture, with what could not be used (see module).

    ``stored`` looks up an instrument the target catalog already holds; it is preferred
    to exchangeInfo and to the inferred grid (``instruments`` is preferred to it).
    """
    path = Path(path)
    market = _market(venue, (), path)
    reader = LineReader(path)
    truncated: list[str] = []
    records = list(hftbacktest_records(path, reader, truncated))
    if reader.cut_after is not None:
        truncated.append(f"gzip stream ends without its end marker after line "
                         f"{reader.cut_after}: the rest of the recording is lost")
    return _build(path, market, records, _Known(instruments, stored), truncated)


def read_hftbacktest_capture(path: Path | str, venue: str | None = None, *,
                             instruments: Mapping[str, Instrument] | None = None,
                             stored: InstrumentLookup | None = None) -> list[ImportBatch]:
    """Catalog batches of an hftbacktest capture; :func:`parse_hftbacktest_capture`
    gives the counts of unusable messages as well."""
    return parse_hftbacktest_capture(path, venue, instruments=instruments,
                                     stored=stored).batches()


def parse_cryptofeed_capture(path: Path | str, venue: str | None = None, *,
                             related: Sequence[Path | str] = (),
                             instruments: Mapping[str, Instrument] | None = None,
                             stored: InstrumentLookup | None = None) -> Capture:
    """Every event of a cryptofeed recording and its ``related`` REST recordings
    (``instruments``, ``stored``: as :func:`parse_hftbacktest_capture`)."""
    path = Path(path)
    session = CryptofeedSession()
    records: list[Record] = []
    for file in (path, *map(Path, related)):
        reader = LineReader(file)
        records += cryptofeed_records(file, reader, session)
        if reader.cut_after is not None:
            session.truncated.append(f"{file.name}: gzip stream ends without its end marker "
                                     f"after line {reader.cut_after}: the rest is lost")
    market = _market(venue, session.urls, path)
    return _build(path, market, records,
                  _Known(instruments, stored, session.exchange_infos), session.truncated)


def read_cryptofeed_capture(path: Path | str, venue: str | None = None, *,
                            related: Sequence[Path | str] = (),
                            instruments: Mapping[str, Instrument] | None = None,
                            stored: InstrumentLookup | None = None) -> list[ImportBatch]:
    """Catalog batches of a cryptofeed recording; :func:`parse_cryptofeed_capture` gives
    the counts of unusable messages as well."""
    return parse_cryptofeed_capture(path, venue, related=related, instruments=instruments,
                                    stored=stored).batches()


# -- frames --------------------------------------------------------------------------------------
_E = TypeVar("_E")


def _events(rows: list[tuple[int, _E]]) -> list[_E]:
    return [event for _, event in rows]


def _batches(data: SymbolData) -> list[ImportBatch]:
    """One batch per kind with rows (aggTrades only where there is no trade stream).

    Rows as :mod:`heron.data.event_frames` makes them, the live recorder's conversion,
    so a capture and its live recording hold the same rows.
    """
    trades, bucket = (data.trades, "trades") if data.trades else (data.agg_trades, "agg_trades")
    out: list[ImportBatch] = []
    for kind, rows, make, source in (
        (DataKind.TRADES, trades, partial(frames.trades_frame, _events(trades)),
         data.source(bucket, "trade" if bucket == "trades" else "aggTrade")),
        (DataKind.QUOTES, data.quotes, partial(frames.quotes_frame, _events(data.quotes)),
         data.source("quotes", "bookTicker")),
        (DataKind.BOOK_DELTAS, data.deltas,
         partial(frames.deltas_frame, _events(data.deltas)),
         data.source("deltas", "depthUpdate")),
        (DataKind.BOOK_SNAPSHOTS, data.snapshots,
         partial(frames.snapshots_frame, _events(data.snapshots)),
         data.source("snapshots", "depth")),
        (DataKind.MARK, data.marks, partial(frames.marks_frame, _events(data.marks)),
         data.source("marks", "markPriceUpdate")),
        (DataKind.FUNDING, data.funding, partial(frames.funding_frame, _events(data.funding)),
         data.source("funding", "markPriceUpdate")),
        (DataKind.LIQUIDATIONS, data.liquidations,
         partial(frames.liquidations_frame, frames.numbered(_events(data.liquidations))),
         data.source("liquidations", "forceOrder")),
    ):
        if rows:
            frame = validate_frame(kind, make(), source=source)
            out.append(ImportBatch(data.instrument, kind, frame, source))
    return out
