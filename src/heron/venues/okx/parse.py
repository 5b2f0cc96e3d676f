"""OKX v5 public WebSocket market data -> heron events: one parser for live feeds and captures.

Every data push is ``{"arg": {"channel", "instId"}, ["action",] "data": [...]}``; the
channel picks the row type and the converter::

    trades, trades-all      -> Trade          (ts_event: ts; aggressor: side, the taker's)
    books, books-l2-tbt,    -> BookSnapshot   (action "snapshot"; sequence: seqId)
      books50-l2-tbt        -> BookDelta ...  (action "update": one per level, is_last on
                                               the row's last; sequence=seqId,
                                               prev_sequence=prevSeqId)
    books5                  -> BookSnapshot   (every push is the whole top 5)
    bbo-tbt, tickers        -> Quote          (sequence: seqId; tickers send none: 0)
    funding-rate            -> FundingRate    (fundingRate, applying at fundingTime)
    mark-price              -> MarkPrice      (markPx rounded half-even to the tick; no index)
    liquidation-orders      -> Liquidation    (one per data[].details[]: the forced order's
                                               side, bankruptcy price bkPx rounded to the
                                               tick, sz)

``liquidation-orders`` is subscribed per instrument type, so a live feed gets every swap's
forced orders; ``skip_unheld_liquidations`` drops those of instruments it does not hold
(counted in :attr:`OkxParser.unheld_liquidations`) instead of calling them unknown symbols.

Times are OKX's millisecond ``ts`` as nanoseconds. Sizes are the venue's as sent: spot in
the base currency, swaps and futures in contracts, which is what heron's OKX instruments
count lots in (their multiplier is the contract value ``ctVal``). Prices and sizes become
ticks and lots through :class:`~heron.venues.wire.Grid` (exact text, no float, no
``Decimal``); book levels between the ticks (orders resting from before a tick-size
change) are left out of snapshots and updates alike and counted in
:attr:`OkxParser.dropped_levels`, as the Binance parser does.

Books and sequence numbers: OKX numbers book pushes with ``seqId`` and names the one
before with ``prevSeqId`` (-1 on a snapshot). Two quirks decide :data:`BOOK_SEQUENCE`:
an update that changes nothing (a keep-alive) repeats ``seqId == prevSeqId`` with no
levels, so it gives no deltas at all; and after maintenance ``seqId`` may restart
*below* ``prevSeqId``. :class:`OkxSequence` accepts that restart where
:class:`~heron.model.book.LinkedSequence` would call every following message stale.
Pushes from before OKX added ``seqId`` (2022 captures) carry none: they are numbered by
their ``ts`` (milliseconds, increasing per book) and have no ``prev_sequence``, so a
book can order them but not prove them contiguous. The CRC32 ``checksum`` over the top
25 levels needs the book, which a stateless parser does not hold, so it is not kept.

Decoding is msgspec into typed structs, in one pass for a data push: a text search for
``"channel":"`` picks the push's struct, and only a frame that then fails to decode
(control answers, garbage) is read a second time, envelope first, to say what it is.

The parser never raises on what the venue sends: a frame it cannot use becomes a
:class:`~heron.venues.wire.BadMessage` (counted in :attr:`OkxParser.bad`), including
OKX's ``{"event": "error"}`` replies. Subscription answers, notices and the plain-text
``pong`` give ``None``: the live feed hands those on to ccxt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar

import msgspec

from heron.model.book import SequenceRule, Verdict
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarketEvent,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import OrderSide
from heron.venues.wire import (
    BadKind,
    BadMessage,
    Grid,
    UnknownSymbol,
    bad_message,
    digits,
    text_of,
    undecodable,
)

__all__ = [
    "BOOK_SEQUENCE", "BadKind", "BadMessage", "BboRow", "BookRow", "FundingRow",
    "LiquidationRow", "MarkRow", "OkxParser", "OkxSequence", "Push", "TickerRow",
    "TradeRow",
]

_NS_PER_MS = 1_000_000
RowT = TypeVar("RowT")
_BID, _ASK = BookSide.BID, BookSide.ASK
_APPLY, _STALE, _GAP = Verdict.APPLY, Verdict.STALE, Verdict.GAP



# -- book continuity -------------------------------------------------------------------------
class OkxSequence:
    """OKX books: ``prevSeqId`` must be the last ``seqId`` applied, even when it goes down.

    Like :class:`~heron.model.book.LinkedSequence`, but the link is checked *before* the
    staleness test: after maintenance OKX restarts ``seqId`` below ``prevSeqId``, and
    that message (``prevSeqId`` = the last id, ``seqId`` smaller) follows on. Checked
    the other way round it looks stale, and so does every message after it until the
    new ids pass the old ones: the book would stop changing without reporting a gap.
    A message without ``prevSeqId`` (pushes before OKX sent one) is a gap unless stale.
    """

    __slots__ = ()

    def check(self, last: int, first: int, final: int, prev: int | None) -> Verdict:
        if prev == last:
            return _APPLY
        return _STALE if final <= last else _GAP


BOOK_SEQUENCE: SequenceRule = OkxSequence()


# -- wire types -------------------------------------------------------------------------------
# Decoded with strict=False so that OKX's quoted integers ("ts": "1597026383085") become
# ints in msgspec's C code; prices and sizes stay text (a JSON number there is refused).
class _Arg(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    channel: str = ""
    inst_id: str = ""  # absent on liquidation-orders, which is subscribed per instType


class _Probe(msgspec.Struct, frozen=True, gc=False):
    """The envelope alone, for frames that are not a known push (``data`` is skipped)."""

    arg: _Arg | None = None
    event: str | None = None
    action: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    code: str | int | None = None
    msg: str | None = None


class TradeRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``trades``: one taker order's fills at one price (``count`` of them); ``trades-all``
    sends each fill."""

    trade_id: str
    px: str
    sz: str
    side: str
    ts: int
    inst_id: str = ""


Levels: TypeAlias = list[list[str]]  # [price, size, "0" (deprecated), order count]


class BookRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``books*``: levels set to a new total size (``"0"`` removes one)."""

    asks: Levels
    bids: Levels
    ts: int
    seq_id: int | None = None
    prev_seq_id: int | None = None
    inst_id: str = ""


class BboRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``bbo-tbt``: the best level of each side, on every change."""

    asks: Levels
    bids: Levels
    ts: int
    seq_id: int | None = None


class TickerRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``tickers``: 24 h statistics and the best bid and ask (only those are read)."""

    bid_px: str
    bid_sz: str
    ask_px: str
    ask_sz: str
    ts: int
    inst_id: str = ""


class FundingRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``funding-rate``: the rate that will be charged at ``fundingTime``."""

    funding_rate: str
    funding_time: int
    inst_id: str = ""


class MarkRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    mark_px: str
    ts: int
    inst_id: str = ""


class LiquidationDetail(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    side: str      # the forced order's side: "sell" closes a long
    bk_px: str     # the bankruptcy price the order was sent at
    sz: str
    ts: int


class LiquidationRow(msgspec.Struct, frozen=True, gc=False, rename="camel"):
    """``liquidation-orders`` (subscribed per instType): one instrument's forced orders."""

    details: list[LiquidationDetail]
    inst_id: str = ""


class Push(msgspec.Struct, Generic[RowT], frozen=True, gc=False):
    """A data push of one channel, decoded in one pass once the channel is known."""

    arg: _Arg
    data: list[RowT]
    action: str | None = None


_PROBE = msgspec.json.Decoder(_Probe)
_CHANNEL_KEY = '"channel":"'
_CHANNEL_KEY_BYTES = _CHANNEL_KEY.encode()


def _push(row: type[RowT]) -> msgspec.json.Decoder[Push[RowT]]:
    return msgspec.json.Decoder(Push[row], strict=False)  # type: ignore[valid-type]


def _sniffed_channel(raw: bytes | str) -> str:
    """The first ``"channel":"..."`` value in the text, by search, not by parsing.

    It only chooses which struct to try: OKX writes ``arg`` first and compactly, and
    the decoded ``arg.channel`` is checked against it, so a wrong guess costs a second
    decode, never a wrong event.
    """
    if isinstance(raw, str):
        start = raw.find(_CHANNEL_KEY)
        if start < 0:
            return ""
        start += len(_CHANNEL_KEY)
        return raw[start:raw.find('"', start)]
    start = raw.find(_CHANNEL_KEY_BYTES)
    if start < 0:
        return ""
    start += len(_CHANNEL_KEY_BYTES)
    return raw[start:raw.find(b'"', start)].decode("utf-8", "replace")



_AGGRESSOR = {"buy": "buy", "sell": "sell"}
_SIDES = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
_Convert: TypeAlias = Callable[[_Arg, "str | None", list[Any], int], list[MarketEvent]]
_Channel: TypeAlias = tuple["msgspec.json.Decoder[Push[Any]]", _Convert]


class OkxParser:
    """Turns OKX v5 public WebSocket text into heron events for a known set of instruments.

    ``instruments`` maps OKX instrument ids as the messages carry them (``BTC-USDT-SWAP``,
    ``BTC-USDT``) to instruments. Counters: :attr:`messages` (every frame),
    :attr:`ignored` (control frames, returned as ``None``), :attr:`bad` by kind,
    :attr:`dropped_levels` (off-grid book levels, by symbol) and
    :attr:`unheld_liquidations`.

    ``skip_unheld_liquidations``: a forced order of an instrument not in ``instruments``
    is skipped and counted in :attr:`unheld_liquidations` rather than making the push an
    ``UNKNOWN_SYMBOL``. A live feed wants that: OKX sends ``liquidation-orders`` for a
    whole instrument type, so most of them are other instruments' and none is an error.
    Left off, an unknown instrument is reported as on every other channel (a capture filed
    under one instrument should hold no other).
    """

    def __init__(self, instruments: Mapping[str, Instrument], *,
                 skip_unheld_liquidations: bool = False) -> None:
        self._grids = {symbol: Grid(inst) for symbol, inst in instruments.items()}
        self.skip_unheld_liquidations = skip_unheld_liquidations
        self.messages = 0
        self.ignored = 0
        self.unheld_liquidations = 0  # forced orders skipped (skip_unheld_liquidations)
        self.bad: Counter[BadKind] = Counter()
        self.dropped_levels: Counter[str] = Counter()
        trades: _Channel = (_push(TradeRow), self._trades)
        book: _Channel = (_push(BookRow), self._book)
        self._channels: dict[str, _Channel] = {
            "trades": trades, "trades-all": trades,
            "books": book, "books-l2-tbt": book, "books50-l2-tbt": book,
            "books5": (_push(BookRow), self._top),
            "bbo-tbt": (_push(BboRow), self._bbo),
            "tickers": (_push(TickerRow), self._ticker),
            "funding-rate": (_push(FundingRow), self._funding),
            "mark-price": (_push(MarkRow), self._mark),
            "liquidation-orders": (_push(LiquidationRow), self._liquidations),
        }

    def parse(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events in one frame received at ``ts_recv`` (ns), why there are none, or
        ``None`` for a control frame (subscription answer, notice, ``pong``).

        A data push is decoded in one pass with its channel's struct (the channel found
        by a text search); anything else, or a push that does not decode, goes through
        :meth:`_classify`, which says what it is.
        """
        self.messages += 1
        channel = _sniffed_channel(raw)
        known = self._channels.get(channel)
        if known is not None:
            decoder, convert = known
            try:
                push = decoder.decode(raw)
            except msgspec.DecodeError:
                pass  # an answer naming the channel, or a bad push: classified below
            else:
                if push.arg.channel == channel:
                    return self._events(convert, push.arg, push.action, push.data, raw,
                                        ts_recv)
        return self._classify(raw, ts_recv)

    def _classify(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """The slow path: read the envelope alone, then the rows of its channel."""
        if len(raw) == 4 and text_of(raw) == "pong":
            self.ignored += 1
            return None
        try:
            probe = _PROBE.decode(raw)
        except msgspec.DecodeError as exc:
            return self._count(undecodable(raw, ts_recv, exc))
        if probe.event is not None:
            return self._event(probe, raw, ts_recv)
        arg = probe.arg
        if arg is None:
            return self._refuse(raw, ts_recv, BadKind.UNSUPPORTED, "a message of no known shape")
        known = self._channels.get(arg.channel)
        if known is None:
            return self._refuse(raw, ts_recv, BadKind.UNSUPPORTED,
                                f"heron does not parse channel {arg.channel!r}")
        if not probe.data:
            return self._refuse(raw, ts_recv, BadKind.MALFORMED, "a push without data")
        decoder, convert = known
        try:
            push = decoder.decode(raw)
        except msgspec.DecodeError as exc:
            return self._count(undecodable(raw, ts_recv, exc))
        return self._events(convert, push.arg, push.action, push.data, raw, ts_recv)

    def _events(self, convert: _Convert, arg: _Arg, action: str | None, rows: list[Any],
                raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage:
        try:
            return convert(arg, action, rows, ts_recv)
        except UnknownSymbol as exc:
            kind, detail = BadKind.UNKNOWN_SYMBOL, str(exc)
        except OffGrid as exc:
            kind, detail = BadKind.OFF_GRID, str(exc)
        except (ValueError, IndexError) as exc:  # IndexError: a book level of one value
            kind, detail = BadKind.MALFORMED, str(exc)
        return self._refuse(raw, ts_recv, kind, detail)

    def _event(self, probe: _Probe, raw: bytes | str, ts_recv: int) -> BadMessage | None:
        """``{"event": ...}``: an error reply is bad (its text kept), the rest is ccxt's."""
        if probe.event == "error" or (probe.event or "").endswith("-error"):
            return self._refuse(raw, ts_recv, BadKind.VENUE_ERROR,
                                f"OKX {probe.event} {probe.code}: {probe.msg}")
        self.ignored += 1
        return None

    def _refuse(self, raw: bytes | str, ts_recv: int, kind: BadKind,
                detail: str) -> BadMessage:
        return self._count(bad_message(raw, ts_recv, kind, detail))

    def _count(self, bad: BadMessage) -> BadMessage:
        self.bad[bad.kind] += 1
        return bad

    def _grid(self, inst_id: str) -> Grid:
        grid = self._grids.get(inst_id)
        if grid is None:
            raise UnknownSymbol(f"no instrument for instId {inst_id!r}")
        return grid

    # -- one converter per channel ---------------------------------------------------------
    def _trades(self, arg: _Arg, _: str | None, rows: list[TradeRow],
                ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for row in rows:
            g = self._grid(row.inst_id or arg.inst_id)
            size = g.size(row.sz)
            aggressor = _AGGRESSOR.get(row.side)
            if aggressor is None or size <= 0:
                raise ValueError(f"trade {row.trade_id} with side {row.side!r} and size "
                                 f"{row.sz!r}")
            out.append(Trade(g.instrument, row.ts * _NS_PER_MS, ts_recv, g.price(row.px),
                             size, aggressor, row.trade_id))
        return out

    def _book(self, arg: _Arg, action: str | None, rows: list[BookRow],
              ts_recv: int) -> list[MarketEvent]:
        g = self._grid(arg.inst_id)
        if action == "snapshot":
            return [self._snapshot(g, row, ts_recv) for row in rows]
        if action != "update":
            raise ValueError(f"book push with action {action!r}")
        out: list[MarketEvent] = []
        for row in rows:  # one row per push in practice; each row is one sequenced update
            out += self._deltas(g, row, ts_recv)
        return out

    def _top(self, arg: _Arg, _: str | None, rows: list[BookRow],
             ts_recv: int) -> list[MarketEvent]:
        g = self._grid(arg.inst_id)
        return [self._snapshot(g, row, ts_recv) for row in rows]

    def _snapshot(self, g: Grid, row: BookRow, ts_recv: int) -> BookSnapshot:
        seq = row.ts if row.seq_id is None else row.seq_id
        return BookSnapshot(g.instrument, row.ts * _NS_PER_MS, ts_recv,
                            tuple(self._levels(g, row.bids)),
                            tuple(self._levels(g, row.asks)), seq)

    def _deltas(self, g: Grid, row: BookRow, ts_recv: int) -> list[BookDelta]:
        inst, ts = g.instrument, row.ts * _NS_PER_MS
        seq = row.ts if row.seq_id is None else row.seq_id
        prev = row.prev_seq_id
        price, size = g.price, g.size
        try:
            out = [BookDelta(inst, ts, ts_recv, _BID, price(lv[0]), size(lv[1]), seq, False,
                             None, prev) for lv in row.bids]
            out += [BookDelta(inst, ts, ts_recv, _ASK, price(lv[0]), size(lv[1]), seq, False,
                              None, prev) for lv in row.asks]
        except OffGrid:
            out = [BookDelta(inst, ts, ts_recv, _BID, p, q, seq, False, None, prev)
                   for p, q in self._on_grid(g, row.bids)]
            out += [BookDelta(inst, ts, ts_recv, _ASK, p, q, seq, False, None, prev)
                    for p, q in self._on_grid(g, row.asks)]
        if out:  # a keep-alive (no levels, seqId == prevSeqId) moves no book: no deltas
            out[-1] = msgspec.structs.replace(out[-1], is_last=True)
        return out

    def _levels(self, g: Grid, levels: Levels) -> list[tuple[int, int]]:
        price, size = g.price, g.size
        try:
            return [(price(level[0]), size(level[1])) for level in levels]
        except OffGrid:
            return self._on_grid(g, levels)

    def _on_grid(self, g: Grid, levels: Levels) -> list[tuple[int, int]]:
        """The levels on the grid; the others are counted in ``dropped_levels``.

        Orders can rest between today's ticks after a tick-size change. They cannot be
        held in ticks; leaving them out of the snapshot *and* every update keeps the book
        consistent on the grid, where refusing the message would desync it.
        """
        out: list[tuple[int, int]] = []
        for level in levels:
            try:
                out.append((g.price(level[0]), g.size(level[1])))
            except OffGrid:
                self.dropped_levels[g.instrument.symbol] += 1
        return out

    def _bbo(self, arg: _Arg, _: str | None, rows: list[BboRow],
             ts_recv: int) -> list[MarketEvent]:
        g = self._grid(arg.inst_id)
        price, size = g.price, g.size
        out: list[MarketEvent] = []
        for row in rows:
            if row.bids and row.asks:  # a side with no orders: no quote to give
                bid, ask = row.bids[0], row.asks[0]
                out.append(Quote(g.instrument, row.ts * _NS_PER_MS, ts_recv, price(bid[0]),
                                 price(ask[0]), size(bid[1]), size(ask[1]), row.seq_id or 0))
        return out

    def _ticker(self, arg: _Arg, _: str | None, rows: list[TickerRow],
                ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for row in rows:
            g = self._grid(row.inst_id or arg.inst_id)
            if row.bid_px and row.ask_px:  # "" when a side of the book is empty
                out.append(Quote(g.instrument, row.ts * _NS_PER_MS, ts_recv,
                                 g.price(row.bid_px), g.price(row.ask_px),
                                 g.size(row.bid_sz), g.size(row.ask_sz)))
        return out

    def _funding(self, arg: _Arg, _: str | None, rows: list[FundingRow],
                 ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for row in rows:
            g = self._grid(row.inst_id or arg.inst_id)
            rate = row.funding_rate
            digits(rate.removeprefix("-"))  # a plain decimal, or ValueError
            out.append(FundingRate(g.instrument, row.funding_time * _NS_PER_MS, ts_recv,
                                   rate))
        return out

    def _mark(self, arg: _Arg, _: str | None, rows: list[MarkRow],
              ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for row in rows:
            g = self._grid(row.inst_id or arg.inst_id)
            out.append(MarkPrice(g.instrument, row.ts * _NS_PER_MS, ts_recv,
                                 g.rounded_price(row.mark_px)))
        return out

    def _liquidations(self, arg: _Arg, _: str | None, rows: list[LiquidationRow],
                      ts_recv: int) -> list[MarketEvent]:
        """One :class:`Liquidation` per forced order. ``bkPx`` is the bankruptcy price
        OKX computes for the position, not a fill, so it is rounded to the tick (half
        even) like a mark price; the size is exact. Rows of instruments not held are
        skipped when :attr:`skip_unheld_liquidations` says so (a push of nothing but
        those gives no events, which is not an error)."""
        out: list[MarketEvent] = []
        for row in rows:
            inst_id = row.inst_id or arg.inst_id
            if self.skip_unheld_liquidations and inst_id not in self._grids:
                self.unheld_liquidations += len(row.details)
                continue
            g = self._grid(inst_id)
            for d in row.details:
                side = _SIDES.get(d.side)
                size = g.size(d.sz)
                if side is None or size <= 0:
                    raise ValueError(f"liquidation with side {d.side!r} and size {d.sz!r}")
                out.append(Liquidation(g.instrument, d.ts * _NS_PER_MS, ts_recv, side,
                                       g.rounded_price(d.bk_px), size))
        return out
