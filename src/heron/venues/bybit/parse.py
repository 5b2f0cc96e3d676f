"""Bybit v5 public WebSocket (linear and spot) -> heron events, for live feeds and archives.

Every market-data message is ``{"topic", "type", "ts", "data", ...}``; the topic names the
channel and the symbol, and decides the event::

    publicTrade.{symbol}           -> Trade ...       (ts_event: T; aggressor: S, the taker)
    orderbook.{50|200|500}.{sym}   -> BookSnapshot    (type snapshot; sequence: u)
                                   -> BookDelta ...   (type delta; one per level, sequence: u)
    orderbook.1.{symbol}           -> Quote           (best bid and ask; sequence: u)
    tickers.{symbol}               -> MarkPrice       (when markPrice is in the message)
                                      FundingRate     (when fundingRate and nextFundingTime are)
    allLiquidation.{symbol}        -> Liquidation ... (side: the *forced order's*, see below)
    liquidation.{symbol}           -> Liquidation     (the older, sampled topic)

Book and quote times are the matching engine's ``cts`` where the message has one (it lines
up with the trades' ``T``), else the message's ``ts``; all Bybit times are milliseconds.

**Book sequence.** ``u`` counts the messages of one ``orderbook.{depth}.{symbol}`` stream
and goes up by exactly one per message: a real ``orderbook.500.XRPUSDT`` archive (one
snapshot and 49 deltas) runs ``u`` 20254869..20254918 with no hole, while ``seq``, the
venue-wide cross sequence, jumps by hundreds. So :data:`BOOK_SEQUENCE` is a
:class:`ContiguousSequence` over ``u`` and a missed delta is a gap. A snapshot with ``u=1``
is Bybit restarting its service: it is a snapshot like any other and resets the book.

**orderbook.1 is a quote, not a book.** It is the stream heron's ``quotes`` subscribe to,
and Bybit sends it as snapshots only (one level a side, re-sent with the same ``u`` after 3 s
without change). It becomes a :class:`Quote` and never a book event: its ``u`` is a
counter of its own, so a one-level snapshot reaching the ``book`` stream beside
``orderbook.50`` would wipe that book and break its sequence. A level-1 snapshot with an
empty side has no quote (counted in ``one_sided_quotes``); a level-1 *delta*, which Bybit
documents as never sent, is reported unsupported rather than guessed at.

**Tickers are partial.** Linear tickers arrive as a snapshot and then deltas that carry
only the fields that changed. A ``MarkPrice`` comes from every message with ``markPrice``
(with ``indexPrice`` only if that changed too). Funding needs both halves, the rate and the
time it applies at, and a delta usually carries one: the predicted rate moves all period
while ``nextFundingTime`` changes once a funding. So the parser remembers, per symbol, the
last rate and time a ticker stream gave, and a message that carries either gives a
``FundingRate`` of the two as they now stand. A snapshot starts the symbol afresh (it is
complete); a delta before any snapshot fills in nothing. That memory is the parser's
only state, so one parser reads one ticker stream per symbol, in order, as the venue sent
it. Spot tickers have no funding fields and give no events; dated futures (``""`` and
``"0"``) give no funding. The ticker's best bid and ask are not turned into quotes:
``orderbook.1`` is the quote stream. Mark and index prices are rounded half-even to the
tick: Bybit computes them finer.

**Liquidation side.** Bybit's ``S``/``side`` is the side of the *position* liquidated
("Buy" = a long was liquidated, per the v5 all-liquidation docs); heron's
:class:`Liquidation` carries the side of the forced order that closes it, the opposite.
The price is Bybit's bankruptcy price.

Instruments are keyed by Bybit symbol. Spot and linear share names (``BTCUSDT`` is both),
so use one parser per connection category. The retired pre-v5 protocol (``trade.*``,
``orderBookL2_25.*``) is not parsed: its topics are reported unsupported.

Control messages (subscribe/unsubscribe acks, pongs, auth replies) give ``None``: the live
feed hands them to ccxt. A refusal (``"success": false`` or a non-zero ``retCode``) is a
:class:`BadMessage` of kind UNSUPPORTED carrying the venue's message. Nothing raises: what
cannot be used is a counted :class:`BadMessage`. Book levels between the instrument's ticks
or lots are left out of snapshots and deltas alike and counted in ``dropped_levels``, as
the Binance parser does, rather than failing the message.

Decoding is msgspec: one pass reads the envelope and keeps ``data`` as raw text, a second
decodes ``data`` into the channel's struct; prices and sizes go through each instrument's
:class:`Grid` (exact text -> ticks and lots, each distinct text converted once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TypeAlias

import msgspec

from heron.model.book import ContiguousSequence, SequenceRule
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
    undecodable,
)

__all__ = [
    "BOOK_SEQUENCE", "AllLiquidationItem", "BadKind", "BadMessage", "BookData",
    "BybitParser", "LiquidationData", "TickerData", "TradeItem",
]

BOOK_SEQUENCE: SequenceRule = ContiguousSequence()
"""``u`` goes up by one per message of a book stream: a hole is a missed message."""

_NS_PER_MS = 1_000_000
_BID, _ASK = BookSide.BID, BookSide.ASK



# -- wire types ---------------------------------------------------------------------------
class _Envelope(msgspec.Struct, frozen=True, gc=False):
    """Every key that says what a message is; ``data`` is kept undecoded for its channel."""

    topic: str | None = None
    type: str | None = None
    ts: int | None = None
    cts: int | None = None
    data: msgspec.Raw = msgspec.Raw()
    op: str | None = None
    success: bool | None = None
    ret_msg: str | None = None
    retMsg: str | None = None  # noqa: N815 (Bybit's spelling: auth and trade replies)
    retCode: int | None = None  # noqa: N815


class TradeItem(msgspec.Struct, frozen=True, gc=False,
                rename={"time": "T", "symbol": "s", "side": "S", "size": "v", "price": "p",
                        "trade_id": "i", "block": "BT"}):
    """One fill of ``publicTrade.{symbol}``; ``side`` is the taker's."""

    time: int
    symbol: str
    side: str
    size: str
    price: str
    trade_id: str
    block: bool = False


Levels: TypeAlias = list[tuple[str, str]]


class BookData(msgspec.Struct, frozen=True, gc=False):
    """``orderbook.{depth}.{symbol}``: levels (``[price, size]``, best first) as of ``u``."""

    s: str
    b: Levels
    a: Levels
    u: int
    seq: int | None = None


class TickerData(msgspec.Struct, frozen=True, gc=False,
                 rename={"mark": "markPrice", "index": "indexPrice",
                         "funding_rate": "fundingRate", "next_funding_time": "nextFundingTime"}):
    """``tickers.{symbol}``: the fields heron uses; a delta carries only what changed."""

    symbol: str | None = None
    mark: str | None = None
    index: str | None = None
    funding_rate: str | None = None     # "" on dated futures
    next_funding_time: str | None = None  # ms as text; "0" on dated futures


class AllLiquidationItem(msgspec.Struct, frozen=True, gc=False,
                         rename={"time": "T", "symbol": "s", "side": "S", "size": "v",
                                 "price": "p"}):
    """One entry of ``allLiquidation.{symbol}``; ``side`` is the liquidated position's."""

    time: int
    symbol: str
    side: str
    size: str
    price: str


class LiquidationData(msgspec.Struct, frozen=True, gc=False,
                      rename={"updated_time": "updatedTime", "update_time": "updateTime"}):
    """``liquidation.{symbol}`` (sampled, at most one a second); ``side`` as above.

    The docs' table spells the time ``updateTime`` and their example ``updatedTime``.
    """

    symbol: str
    side: str
    size: str
    price: str
    updated_time: int | None = None
    update_time: int | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_TRADES = msgspec.json.Decoder(list[TradeItem])
_BOOK = msgspec.json.Decoder(BookData)
_TICKER = msgspec.json.Decoder(TickerData)
_ALL_LIQUIDATIONS = msgspec.json.Decoder(list[AllLiquidationItem])
_LIQUIDATION = msgspec.json.Decoder(LiquidationData)

_AGGRESSOR = {"Buy": "buy", "Sell": "sell"}
# Bybit names the liquidated position's side; the forced order is on the other side.
_FORCED_ORDER_SIDE = {"Buy": OrderSide.SELL, "Sell": OrderSide.BUY}



class _Unsupported(ValueError):
    pass


_Handler: TypeAlias = Callable[[_Envelope, str, int], list[MarketEvent]]


class BybitParser:
    """Turns Bybit v5 public market-data text into heron events for known instruments.

    ``instruments`` maps Bybit symbols (``BTCUSDT``) to instruments of one category.
    Counters: :attr:`messages` seen, :attr:`ignored` control messages, :attr:`bad` by kind,
    :attr:`dropped_levels` (off-grid book levels left out, by symbol) and
    :attr:`one_sided_quotes` (level-1 snapshots with an empty side: no quote).
    """

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._grids = {symbol: Grid(inst) for symbol, inst in instruments.items()}
        self.messages = 0
        self.ignored = 0
        self.bad: Counter[BadKind] = Counter()
        self.dropped_levels: Counter[str] = Counter()
        self.one_sided_quotes = 0
        # symbol -> (fundingRate, nextFundingTime) as the ticker stream last left them
        self._funding: dict[str, tuple[str | None, str | None]] = {}
        self._handlers: dict[str, _Handler] = {
            "publicTrade": self._trades, "orderbook": self._orderbook,
            "tickers": self._ticker, "allLiquidation": self._all_liquidations,
            "liquidation": self._liquidation,
        }

    def parse(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events in one message received at ``ts_recv`` (ns); ``None`` for a control message."""
        self.messages += 1
        try:
            env = _ENVELOPE.decode(raw)
        except msgspec.DecodeError as exc:
            return self._count(undecodable(raw, ts_recv, exc))
        if env.topic is None:
            return self._control(env, raw, ts_recv)
        channel, _, rest = env.topic.partition(".")
        handler = self._handlers.get(channel)
        if handler is None:
            return self._bad(raw, ts_recv, BadKind.UNSUPPORTED,
                             f"heron does not parse topic {env.topic!r} (Bybit v5 public "
                             "publicTrade, orderbook, tickers and liquidations only)")
        try:
            return handler(env, rest, ts_recv)
        except msgspec.DecodeError as exc:  # data of the wrong shape for its topic
            return self._bad(raw, ts_recv, BadKind.MALFORMED, f"{env.topic}: {exc}")
        except UnknownSymbol as exc:
            return self._bad(raw, ts_recv, BadKind.UNKNOWN_SYMBOL, str(exc))
        except OffGrid as exc:
            return self._bad(raw, ts_recv, BadKind.OFF_GRID, str(exc))
        except _Unsupported as exc:
            return self._bad(raw, ts_recv, BadKind.UNSUPPORTED, str(exc))
        except ValueError as exc:
            return self._bad(raw, ts_recv, BadKind.MALFORMED, str(exc))

    # -- outcomes other than events ---------------------------------------------------------
    def _count(self, bad: BadMessage) -> BadMessage:
        self.bad[bad.kind] += 1
        return bad

    def _bad(self, raw: bytes | str, ts_recv: int, kind: BadKind, detail: str) -> BadMessage:
        return self._count(bad_message(raw, ts_recv, kind, detail))

    def _control(self, env: _Envelope, raw: bytes | str,
                 ts_recv: int) -> BadMessage | None:
        """A reply without a topic: ``None`` for acks and pongs, bad for a refusal.

        Public replies spell it ``success``/``ret_msg``; auth and trade replies
        ``retCode``/``retMsg``. Anything else without a topic is not Bybit's.
        """
        text = env.ret_msg or env.retMsg or ""
        if env.success is False or env.retCode:
            return self._bad(raw, ts_recv, BadKind.VENUE_ERROR,
                             f"venue refused {env.op or 'a request'}: {text or 'no reason'}")
        if env.op is None and env.success is None and text != "pong":
            return self._bad(raw, ts_recv, BadKind.UNSUPPORTED, "a message of no known shape")
        self.ignored += 1
        return None

    def _grid(self, symbol: str) -> Grid:
        grid = self._grids.get(symbol)
        if grid is None:
            raise UnknownSymbol(f"no instrument for symbol {symbol!r}")
        return grid

    # -- one handler per channel ------------------------------------------------------------
    def _trades(self, env: _Envelope, _: str, ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for item in _TRADES.decode(env.data):
            g = self._grid(item.symbol)
            aggressor = _AGGRESSOR.get(item.side)
            size = g.size(item.size)
            if aggressor is None or size <= 0:
                raise ValueError(f"trade {item.trade_id} with side {item.side!r} and "
                                 f"size {item.size!r}")
            out.append(Trade(g.instrument, item.time * _NS_PER_MS, ts_recv, g.price(item.price),
                             size, aggressor, item.trade_id))
        return out

    def _orderbook(self, env: _Envelope, rest: str, ts_recv: int) -> list[MarketEvent]:
        data = _BOOK.decode(env.data)
        g = self._grid(data.s)
        ms = env.cts or env.ts
        ts = ms * _NS_PER_MS if ms else ts_recv
        top = rest.startswith("1.")
        if env.type == "snapshot":
            return self._top(g, data, ts, ts_recv) if top else self._snapshot(g, data, ts,
                                                                               ts_recv)
        if env.type == "delta":
            if top:
                raise _Unsupported(f"{env.topic}: a level-1 delta (Bybit sends level 1 as "
                                   "snapshots only; a quote cannot be built from a change)")
            return self._deltas(g, data, ts, ts_recv)
        raise ValueError(f"{env.topic}: message type {env.type!r} is neither snapshot nor delta")

    def _levels(self, g: Grid, levels: Levels) -> list[tuple[int, int]]:
        price, size = g.price, g.size
        try:
            return [(price(p), size(q)) for p, q in levels]
        except OffGrid:
            return self._on_grid(g, levels)

    def _on_grid(self, g: Grid, levels: Levels) -> list[tuple[int, int]]:
        """The levels on the grid; the others are counted in ``dropped_levels``.

        Orders resting from before a tick-size change sit between today's ticks. Leaving
        them out of the snapshot *and* every delta keeps the book consistent on the grid,
        where refusing the message would desynchronise it.
        """
        out: list[tuple[int, int]] = []
        for p, q in levels:
            try:
                out.append((g.price(p), g.size(q)))
            except OffGrid:
                self.dropped_levels[g.instrument.symbol] += 1
        return out

    def _snapshot(self, g: Grid, data: BookData, ts: int, ts_recv: int) -> list[MarketEvent]:
        return [BookSnapshot(g.instrument, ts, ts_recv, tuple(self._levels(g, data.b)),
                             tuple(self._levels(g, data.a)), data.u)]

    def _deltas(self, g: Grid, data: BookData, ts: int, ts_recv: int) -> list[MarketEvent]:
        inst, price, size, u = g.instrument, g.price, g.size, data.u
        try:  # straight from text to deltas: no (price, size) tuple per level on the way
            out: list[MarketEvent] = [BookDelta(inst, ts, ts_recv, _BID, price(p), size(q), u,
                                                False) for p, q in data.b]
            out += [BookDelta(inst, ts, ts_recv, _ASK, price(p), size(q), u, False)
                    for p, q in data.a]
        except OffGrid:
            out = [BookDelta(inst, ts, ts_recv, _BID, p, q, u, False)
                   for p, q in self._on_grid(g, data.b)]
            out += [BookDelta(inst, ts, ts_recv, _ASK, p, q, u, False)
                    for p, q in self._on_grid(g, data.a)]
        if out:  # an empty delta gives nothing (the next u then looks like a gap)
            out[-1] = msgspec.structs.replace(out[-1], is_last=True)
        return out

    def _top(self, g: Grid, data: BookData, ts: int, ts_recv: int) -> list[MarketEvent]:
        bids, asks = self._levels(g, data.b[:1]), self._levels(g, data.a[:1])
        if not (bids and asks):
            self.one_sided_quotes += 1
            return []
        (bid, bid_size), (ask, ask_size) = bids[0], asks[0]
        return [Quote(g.instrument, ts, ts_recv, bid, ask, bid_size, ask_size, data.u)]

    def _ticker(self, env: _Envelope, rest: str, ts_recv: int) -> list[MarketEvent]:
        data = _TICKER.decode(env.data)
        g = self._grid(data.symbol or rest)
        out: list[MarketEvent] = []
        if data.mark:
            index = g.rounded_price(data.index) if data.index else None
            ts = env.ts * _NS_PER_MS if env.ts else ts_recv
            out.append(MarkPrice(g.instrument, ts, ts_recv, g.rounded_price(data.mark), index))
        funding = self._funding_now(data.symbol or rest, env.type == "delta", data)
        if funding is not None:
            rate, when = funding
            out.append(FundingRate(g.instrument, int(when) * _NS_PER_MS, ts_recv, rate))
        return out

    def _funding_now(self, symbol: str, delta: bool,
                     data: TickerData) -> tuple[str, str] | None:
        """The rate and its time after this message, if it said anything about funding.

        A delta's missing half is the one the stream gave last; a snapshot's is missing.
        Values are checked before they are remembered, so a refused message changes
        nothing.
        """
        rate, when = data.funding_rate, data.next_funding_time
        if rate is None and when is None:
            return None
        if rate:
            digits(rate.removeprefix("-"))  # a plain decimal, or ValueError
        if when and not (when.isascii() and when.isdigit()):
            raise ValueError(f"nextFundingTime {when!r} is not a time in ms")
        if delta:
            last_rate, last_when = self._funding.get(symbol, (None, None))
            rate = last_rate if rate is None else rate
            when = last_when if when is None else when
        self._funding[symbol] = (rate, when)
        if not (rate and when and when != "0"):
            return None
        return rate, when

    def _forced(self, symbol: str, time: int, ts_recv: int, side: str, price: str,
                size: str) -> Liquidation:
        g = self._grid(symbol)
        order_side = _FORCED_ORDER_SIDE.get(side)
        lots = g.size(size)
        if order_side is None or lots <= 0:
            raise ValueError(f"liquidation with side {side!r} and size {size!r}")
        return Liquidation(g.instrument, time, ts_recv, order_side, g.price(price), lots)

    def _all_liquidations(self, env: _Envelope, _: str, ts_recv: int) -> list[MarketEvent]:
        return [self._forced(i.symbol, i.time * _NS_PER_MS, ts_recv, i.side, i.price, i.size)
                for i in _ALL_LIQUIDATIONS.decode(env.data)]

    def _liquidation(self, env: _Envelope, _: str, ts_recv: int) -> list[MarketEvent]:
        data = _LIQUIDATION.decode(env.data)
        ms = data.updated_time or data.update_time or env.ts
        return [self._forced(data.symbol, ms * _NS_PER_MS if ms else ts_recv, ts_recv,
                             data.side, data.price, data.size)]
