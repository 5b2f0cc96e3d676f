"""Alpaca market-data streams -> heron events: crypto (JSON text) and US equities (msgpack).

Both streams send a *list* of records per frame, each tagged by ``T``::

    "t" trade        -> Trade        (aggressor from crypto ``tks`` B/S; equities send none:
                                      "". Equity ``x`` exchange, ``c`` conditions, ``z``
                                      tape are not kept: heron's Trade has no place for them)
    "q" quote        -> Quote        (sequence 0: Alpaca numbers nothing)
    "o" order book   -> BookSnapshot (``"r": true``: the whole book, sent on subscribing)
                     -> BookDelta... (otherwise: changed levels, size 0 removes)
    "success", "subscription"        -> None (control: ccxt needs them)
    "error"                          -> BadMessage VENUE_ERROR with Alpaca's code and text (a
                                      live session also hands the frame on: ccxt's login or
                                      subscribe may be waiting for it)
    bars, statuses, corrections, ... -> refused as UNSUPPORTED

**Two ways in.** :meth:`AlpacaParser.parse` takes a JSON frame, the crypto stream as
ccxt.pro receives it. :meth:`AlpacaParser.parse_records` takes records already decoded
to dicts, which is what alpaca-py's ``StockDataStream(raw_data=True)`` hands a handler
after unpacking its msgpack frames: there numbers are Python floats and ``t`` is a
``msgpack.Timestamp``. Both paths share the converters below.

**Numbers.** Alpaca sends prices and sizes as JSON numbers, not strings. The JSON path
takes each as :class:`msgspec.Raw`, i.e. the digits exactly as sent, so no binary float
is ever involved; an exponent form (``1e-07``, which encoders print for tiny sizes) is
rewritten as plain digits through ``Decimal``, exactly. The dict path receives floats,
and turns each into ``repr(value)``: the shortest text that reads back as the same
float. For any decimal of at most 15 significant digits that text *is* the decimal the
venue sent (15 digits always survive decimal -> double -> shortest decimal); Alpaca's
prices and sizes seen so far have at most 11. A longer value arrives already rounded by
the msgpack float, and nobody downstream can recover it.

**Times.** ``t`` is RFC-3339 with up to nine fractional digits
(``2024-03-12T10:27:48.858228144Z``): read to integer nanoseconds without a float, the
date-and-seconds part cached (consecutive records share it). msgpack frames carry a
``msgpack.Timestamp`` (seconds and nanoseconds) instead: taken through ``to_unix_nano``.
Both readings live in :mod:`heron.venues.alpaca.text`.

**Book sequence.** Alpaca's book records carry no update id, only a time, and the
reset flag. Time is no sequence: two updates can share a timestamp, and on an ordered
TCP stream an older time is still the venue's next state, so a time rule would drop real
updates. The parser numbers each book record of a symbol itself, 1, 2, 3, ... in
arrival order, snapshots included, and when a book record of a known symbol cannot be
used it skips a number: :data:`BOOK_SEQUENCE` (``ContiguousSequence``) then shows the
book a gap and asks for a snapshot, which on Alpaca means resubscribing (the venue sends
``"r": true`` on every subscription). An empty update gets no number and no events.

**Frames with several records.** Alpaca batches records into one frame only when the
client falls behind, so what shares a frame is a matter of timing. A record that cannot
be used therefore spoils only itself: it is counted in :attr:`AlpacaParser.bad` and kept
in :attr:`AlpacaParser.dropped`, and the frame's other records still give events. A frame
none of whose records could be used is a :class:`BadMessage` (the first reason; every
bad record is counted).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import msgspec

from heron.model.book import ContiguousSequence
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    MarketEvent,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument, OffGrid
from heron.venues.alpaca.text import any_time_ns, float_text, number_text, rfc3339_ns
from heron.venues.wire import BadKind, BadMessage, Grid, bad_message, undecodable

__all__ = ["BOOK_SEQUENCE", "AlpacaParser", "BookMsg", "QuoteMsg", "TradeMsg"]

BOOK_SEQUENCE: Final = ContiguousSequence()
"""Book records are numbered by the parser per symbol; a hole is a record it could not use."""


_BID, _ASK = BookSide.BID, BookSide.ASK
_AGGRESSOR = {"B": "buy", "S": "sell", None: ""}
# Record types Alpaca sends that heron does not turn into events, named for the refusal.
_UNSUPPORTED = {"b": "bars", "u": "updated bars", "d": "daily bars", "s": "trading statuses",
                "l": "LULD bands", "c": "trade corrections", "x": "trade cancels",
                "i": "imbalances", "n": "news"}
_DROPPED_KEPT = 64  # unusable records of otherwise good frames, kept for the log


# -- wire types (JSON) ----------------------------------------------------------------------
class _Level(msgspec.Struct, frozen=True, gc=False, rename={"price": "p", "size": "s"}):
    price: msgspec.Raw
    size: msgspec.Raw


class TradeMsg(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="t",
               rename={"symbol": "S", "time": "t", "price": "p", "size": "s",
                       "trade_id": "i", "taker_side": "tks"}):
    """``T: "t"``: one trade (crypto adds the taker side; equities exchange and tape)."""

    symbol: str
    time: str
    price: msgspec.Raw
    size: msgspec.Raw
    trade_id: int | None = None
    taker_side: str | None = None


class QuoteMsg(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="q",
               rename={"symbol": "S", "time": "t", "bid": "bp", "bid_size": "bs",
                       "ask": "ap", "ask_size": "as"}):
    """``T: "q"``: best bid and offer (equities: across exchanges, ``bx``/``ax``)."""

    symbol: str
    time: str
    bid: msgspec.Raw
    bid_size: msgspec.Raw
    ask: msgspec.Raw
    ask_size: msgspec.Raw


class BookMsg(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="o",
              rename={"symbol": "S", "time": "t", "bids": "b", "asks": "a", "reset": "r"}):
    """``T: "o"`` (crypto): changed levels, or with ``reset`` the whole book."""

    symbol: str
    time: str
    bids: list[_Level] = []
    asks: list[_Level] = []
    reset: bool = False


class _Success(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="success"):
    msg: str = ""


class _Subscription(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="subscription"):
    pass


class _Error(msgspec.Struct, frozen=True, gc=False, tag_field="T", tag="error"):
    code: int | None = None
    msg: str = ""


class _Probe(msgspec.Struct, frozen=True, gc=False):
    """What a record that failed to decode says it is."""

    T: Any = None
    S: Any = None


class _Refused(msgspec.Struct, frozen=True, gc=False):
    """A record of a frame that could not be decoded, with why (slow path only)."""

    kind: BadKind
    detail: str
    book_symbol: str | None = None  # a book record's symbol: its number is skipped


# A frame as received, or parse_records' dicts (kept as their repr when refused).
_Source: TypeAlias = bytes | str | list[Any]
_Record: TypeAlias = TradeMsg | QuoteMsg | BookMsg | _Success | _Subscription | _Error
_FRAME = msgspec.json.Decoder(list[_Record])
_ONE = msgspec.json.Decoder(_Record)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_PROBE = msgspec.json.Decoder(_Probe)


# -- the parser -------------------------------------------------------------------------------
class _Rejected(Exception):
    def __init__(self, kind: BadKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


# What a converter raises for a record it cannot use (the dict path can meet any of them).
_FAILURES = (ValueError, KeyError, TypeError, AttributeError, _Rejected)


class AlpacaParser:
    """Turns Alpaca crypto and equity stream records into heron events.

    ``instruments`` maps symbols as Alpaca sends them in ``S`` (``BTC/USD``, ``AAPL``).
    Counters: :attr:`messages` (frames and record batches), :attr:`ignored` (control
    frames), :attr:`bad` (unusable records, by kind), :attr:`dropped_levels` (off-grid
    book levels left out, by symbol). :attr:`dropped` keeps the last few unusable records
    of frames that otherwise gave events (the frame's text, and which record and why).
    """

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._grids = {symbol: Grid(inst) for symbol, inst in instruments.items()}
        self._book_numbers: dict[str, int] = {}
        self.messages = 0
        self.ignored = 0
        self.bad: Counter[BadKind] = Counter()
        self.dropped_levels: Counter[str] = Counter()
        self.dropped: deque[BadMessage] = deque(maxlen=_DROPPED_KEPT)
        self._convert: dict[type, Callable[[Any, int], list[MarketEvent]]] = {
            TradeMsg: self._trade_msg, QuoteMsg: self._quote_msg, BookMsg: self._book_msg,
            _Error: _error, _Refused: _refused,
        }
        self._convert_dict: dict[object, Callable[[dict[str, Any], int],
                                                  list[MarketEvent]]] = {
            "t": self._trade_dict, "q": self._quote_dict, "o": self._book_dict,
            "error": _error_dict,
        }

    # -- entry points ---------------------------------------------------------------------------
    def parse(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events of one JSON frame received at ``ts_recv`` (ns), None for control frames."""
        self.messages += 1
        try:
            records: Sequence[_Record | _Refused] = _FRAME.decode(raw)
        except msgspec.DecodeError:
            decoded = self._decode_each(raw, ts_recv)
            if isinstance(decoded, BadMessage):
                self.bad[decoded.kind] += 1
                return decoded
            records = decoded
        if len(records) == 1:  # the usual frame: one record, no batching to sort out
            record = records[0]
            convert = self._convert.get(type(record))
            if convert is not None:
                try:
                    return convert(record, ts_recv)
                except _FAILURES as exc:
                    return self._refuse(record, raw, ts_recv, exc, 1, 1)
        return self._frame(records, raw, ts_recv, self._json_record)

    def parse_records(self, records: list[dict[str, Any]],
                      ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events of records already decoded to dicts (alpaca-py ``raw_data=True``).

        Prices and sizes are floats there: each becomes ``repr(value)``, the shortest
        text that reads back as that float, which is the venue's decimal for any value
        of up to 15 significant digits (see :func:`float_text`), and then ticks or lots
        on the instrument's grid as for JSON text. ``t`` may be RFC-3339 text or a
        ``msgpack.Timestamp`` (anything with ``to_unix_nano()``). alpaca-py hands its
        handlers one record at a time: pass ``[record]``.
        """
        self.messages += 1
        if not isinstance(records, list):
            return self._bad(records, ts_recv, BadKind.MALFORMED,
                             "records must be a list of dicts")
        return self._frame(records, records, ts_recv, self._dict_record)

    # -- one frame, record by record ------------------------------------------------------
    def _frame(self, records: Sequence[Any], raw: _Source, ts_recv: int,
               convert: Callable[[Any, int], list[MarketEvent] | None]
               ) -> list[MarketEvent] | BadMessage | None:
        events: list[MarketEvent] = []
        refused: list[BadMessage] = []
        used = control = False
        for number, record in enumerate(records, 1):
            try:
                out = convert(record, ts_recv)
            except _FAILURES as exc:
                refused.append(self._refuse(record, raw, ts_recv, exc, number, len(records)))
                continue
            if out is None:
                control = True
            else:
                used = True
                events += out
        if used:
            self.dropped.extend(refused)
            return events
        if refused:
            return refused[0]
        if control:
            self.ignored += 1
            return None
        return events  # an empty frame

    def _refuse(self, record: object, raw: _Source, ts_recv: int, exc: Exception,
                number: int, count: int) -> BadMessage:
        """Why ``record`` (number ``number`` of ``count`` in its frame) gave no events."""
        self._skip_book_number(record)
        if isinstance(exc, _Rejected):
            kind, detail = exc.kind, exc.detail
        elif isinstance(exc, OffGrid):
            kind, detail = BadKind.OFF_GRID, str(exc)
        else:
            kind, detail = BadKind.MALFORMED, f"{type(exc).__name__}: {exc}"
        if count > 1:
            detail = f"record {number} of {count}: {detail}"
        return self._bad(raw, ts_recv, kind, detail)

    def _bad(self, raw: _Source, ts_recv: int, kind: BadKind, detail: str) -> BadMessage:
        self.bad[kind] += 1
        return bad_message(_kept(raw), ts_recv, kind, detail)

    def _json_record(self, record: _Record | _Refused, ts_recv: int) -> list[MarketEvent] | None:
        convert = self._convert.get(type(record))
        return None if convert is None else convert(record, ts_recv)  # None: control

    def _dict_record(self, record: object, ts_recv: int) -> list[MarketEvent] | None:
        if not isinstance(record, dict):
            raise ValueError(f"a record is not a dict: {record!r}")
        kind = record.get("T")
        if kind in ("success", "subscription"):
            return None
        convert = self._convert_dict.get(kind)
        if convert is None:
            raise _Rejected(BadKind.UNSUPPORTED, _unsupported(kind))
        return convert(record, ts_recv)

    def _decode_each(self, raw: bytes | str, ts_recv: int) -> list[_Record | _Refused] | BadMessage:
        """The slow path, for a frame that did not decode whole: each record on its own."""
        try:
            parts = _RAW_LIST.decode(raw)
        except msgspec.DecodeError as exc:
            return undecodable(raw, ts_recv, exc)
        return [_decode_one(part) for part in parts]

    def _skip_book_number(self, record: object) -> None:
        """A book record of a known symbol was unusable: leave a hole in its numbering."""
        if isinstance(record, BookMsg):
            symbol: object = record.symbol
        elif isinstance(record, _Refused):
            symbol = record.book_symbol
        elif isinstance(record, dict) and record.get("T") == "o":
            symbol = record.get("S")
        else:
            return
        if isinstance(symbol, str) and symbol in self._grids:
            self._book_numbers[symbol] = self._book_numbers.get(symbol, 0) + 1

    def _grid(self, symbol: str) -> Grid:
        grid = self._grids.get(symbol)
        if grid is None:
            raise _Rejected(BadKind.UNKNOWN_SYMBOL, f"no instrument for symbol {symbol!r}")
        return grid

    # -- converters: JSON structs and dicts meet in _trade, _quote, _book ----------------------
    def _trade_msg(self, m: TradeMsg, ts_recv: int) -> list[MarketEvent]:
        return self._trade(m.symbol, rfc3339_ns(m.time), number_text(m.price),
                           number_text(m.size), m.taker_side, m.trade_id, ts_recv)

    def _trade_dict(self, d: dict[str, Any], ts_recv: int) -> list[MarketEvent]:
        return self._trade(_symbol(d), any_time_ns(d["t"]), float_text(d["p"]),
                           float_text(d["s"]), d.get("tks"), d.get("i"), ts_recv)

    def _trade(self, symbol: str, ts: int, price: str, size: str, taker_side: str | None,
               trade_id: object, ts_recv: int) -> list[MarketEvent]:
        g = self._grid(symbol)
        lots = g.size(size)
        if lots <= 0:
            raise ValueError(f"trade {trade_id} has no size")
        aggressor = _AGGRESSOR.get(taker_side)
        if aggressor is None:
            raise ValueError(f"unknown taker side {taker_side!r}")
        return [Trade(g.instrument, ts, ts_recv, g.price(price), lots, aggressor,
                      "" if trade_id is None else str(trade_id))]

    def _quote_msg(self, m: QuoteMsg, ts_recv: int) -> list[MarketEvent]:
        return self._quote(m.symbol, rfc3339_ns(m.time), number_text(m.bid),
                           number_text(m.bid_size), number_text(m.ask),
                           number_text(m.ask_size), ts_recv)

    def _quote_dict(self, d: dict[str, Any], ts_recv: int) -> list[MarketEvent]:
        return self._quote(_symbol(d), any_time_ns(d["t"]), float_text(d["bp"]),
                           float_text(d["bs"]), float_text(d["ap"]), float_text(d["as"]),
                           ts_recv)

    def _quote(self, symbol: str, ts: int, bid: str, bid_size: str, ask: str, ask_size: str,
               ts_recv: int) -> list[MarketEvent]:
        g = self._grid(symbol)
        price, size = g.price, g.size
        return [Quote(g.instrument, ts, ts_recv, price(bid), price(ask), size(bid_size),
                      size(ask_size))]

    def _book_msg(self, m: BookMsg, ts_recv: int) -> list[MarketEvent]:
        return self._book(m.symbol, rfc3339_ns(m.time),
                          [(number_text(v.price), number_text(v.size)) for v in m.bids],
                          [(number_text(v.price), number_text(v.size)) for v in m.asks],
                          m.reset, ts_recv)

    def _book_dict(self, d: dict[str, Any], ts_recv: int) -> list[MarketEvent]:
        reset = d.get("r", False)
        if type(reset) is not bool:
            raise ValueError(f"book reset flag is not a bool: {reset!r}")
        return self._book(_symbol(d), any_time_ns(d["t"]), _dict_levels(d.get("b", [])),
                          _dict_levels(d.get("a", [])), reset, ts_recv)

    def _book(self, symbol: str, ts: int, bid_texts: list[tuple[str, str]],
              ask_texts: list[tuple[str, str]], reset: bool,
              ts_recv: int) -> list[MarketEvent]:
        g = self._grid(symbol)
        if not (reset or bid_texts or ask_texts):
            return []  # nothing changed: no events, and no number (it would read as a gap)
        price, size = g.price, g.size
        try:
            bids = [(price(p), size(q)) for p, q in bid_texts]
            asks = [(price(p), size(q)) for p, q in ask_texts]
        except OffGrid:
            bids, asks = self._on_grid(g, bid_texts), self._on_grid(g, ask_texts)
        number = self._book_numbers.get(symbol, 0) + 1
        self._book_numbers[symbol] = number  # only now: a record that failed skips one
        inst = g.instrument
        if reset:
            bids = sorted((level for level in bids if level[1] > 0), reverse=True)
            asks = sorted(level for level in asks if level[1] > 0)
            return [BookSnapshot(inst, ts, ts_recv, tuple(bids), tuple(asks), number)]
        out: list[MarketEvent] = [
            BookDelta(inst, ts, ts_recv, _BID, p, q, number, False) for p, q in bids]
        out += [BookDelta(inst, ts, ts_recv, _ASK, p, q, number, False) for p, q in asks]
        if out:  # every level may have been off the grid
            out[-1] = msgspec.structs.replace(out[-1], is_last=True)
        return out

    def _on_grid(self, grid: Grid, levels: Iterable[tuple[str, str]]) -> list[tuple[int, int]]:
        """The levels on the grid; the others are counted in ``dropped_levels``.

        A level between ticks (a grid narrower than the venue's, or a tick-size change)
        cannot be held in ticks. Leaving it out of snapshots and updates alike keeps the
        book consistent on the grid, where refusing the record would desync it.
        """
        out: list[tuple[int, int]] = []
        for p, q in levels:
            try:
                out.append((grid.price(p), grid.size(q)))
            except OffGrid:
                self.dropped_levels[grid.instrument.symbol] += 1
        return out


# -- helpers without state ------------------------------------------------------------------
def _unsupported(kind: object) -> str:
    name = _UNSUPPORTED.get(kind) if isinstance(kind, str) else None
    if name is None:
        return f"Alpaca record of unknown type T={kind!r}"
    return f"heron does not parse Alpaca {name} (T={kind!r})"


def _decode_one(part: msgspec.Raw) -> _Record | _Refused:
    try:
        record: _Record = _ONE.decode(part)
        return record
    except msgspec.DecodeError as exc:
        error = str(exc)
    try:
        probe = _PROBE.decode(part)
    except msgspec.DecodeError:
        return _Refused(BadKind.MALFORMED, f"a record is not an object: {error}")
    book_symbol = probe.S if probe.T == "o" and isinstance(probe.S, str) else None
    if probe.T in ("t", "q", "o", "success", "subscription", "error"):
        return _Refused(BadKind.MALFORMED, error, book_symbol)
    if probe.T is None:
        return _Refused(BadKind.MALFORMED, f"a record without T: {error}")
    return _Refused(BadKind.UNSUPPORTED, _unsupported(probe.T))


def _error(m: _Error, _: int) -> list[MarketEvent]:
    raise _Rejected(BadKind.VENUE_ERROR, f"venue error {m.code}: {m.msg}")


def _error_dict(d: dict[str, Any], _: int) -> list[MarketEvent]:
    raise _Rejected(BadKind.VENUE_ERROR, f"venue error {d.get('code')}: {d.get('msg')}")


def _refused(r: _Refused, _: int) -> list[MarketEvent]:
    raise _Rejected(r.kind, r.detail)


def _kept(raw: _Source) -> bytes | str:
    """What a BadMessage keeps: the frame's text, or the repr of records handed over."""
    return raw if isinstance(raw, bytes | str) else repr(raw)


def _symbol(d: dict[str, Any]) -> str:
    symbol = d["S"]
    if not isinstance(symbol, str):
        raise ValueError(f"symbol is not text: {symbol!r}")
    return symbol


def _dict_levels(levels: object) -> list[tuple[str, str]]:
    if not isinstance(levels, list):
        raise ValueError(f"book levels are not a list: {levels!r}")
    return [(float_text(level["p"]), float_text(level["s"])) for level in levels]
