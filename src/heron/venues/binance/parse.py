"""Binance WebSocket market data -> heron events: one parser for live feeds and captures.

Handles spot, USD-M and COIN-M, combined-stream envelopes (``{"stream", "data"}``) and
raw streams, and REST depth snapshots::

    trade, aggTrade     -> Trade            (ts_event: T, the trade time)
    bookTicker          -> Quote            (ts_event: T; spot sends no time: ts_recv;
                                             sequence: the book update id u)
    depthUpdate         -> BookDelta ...    (one per level; is_last on the message's last;
                                             sequence=u, first_sequence=U, prev_sequence=pu)
    {lastUpdateId,...}  -> BookSnapshot     (REST /depth body; ts_event: T, E or ts_recv)
    markPriceUpdate     -> MarkPrice, FundingRate (rate r applying at T, the next funding)
    forceOrder          -> Liquidation      (the order's side, price p and quantity q)

Times: the matching engine's ``T`` where a message has one, else the event time ``E``,
both milliseconds, as nanoseconds. Decoding is msgspec into typed structs: a probe
that reads a few keys and skips the rest picks the type, then the payload is decoded
once into its struct (about 1 us per message of either pass). Prices and
sizes become ticks and lots without ``Decimal``: the text is split at the point and the
digits read as one ``int`` at the instrument's decimals (:func:`text_units`), and each
distinct text is converted once per instrument and then looked up (prices and sizes
repeat: a book level's price recurs in every message that touches it).

Mark and index prices are the exception to exactness: Binance computes them to eight
decimals, finer than the tick, and a mark is a reference for margin, not a price anyone
can trade at, so they are rounded half-even to the tick (at most half a tick off).

The parser never raises on what the venue sends. A message it cannot use becomes a
:class:`BadMessage` holding the raw text and why (malformed JSON, a truncated text, an
unsupported stream, an unknown symbol, an off-grid value); counts are in
:attr:`BinanceParser.bad`. Subscription answers (``{"result": null, "id": 1}``) are
counted in :attr:`BinanceParser.ignored` and otherwise dropped. Book levels between the
instrument's ticks (orders resting from before a tick-size change) are left out of
snapshots and diffs alike and counted, rather than failing the whole message.

Partial book streams (``<symbol>@depth5``/``10``/``20``) are top-N snapshots, not diffs;
on combined streams they are recognised by name and reported unsupported. On a raw
(single) stream nothing tells the two apart: subscribe raw connections to diff depth.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import msgspec

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
    decimal_places,
    digits,
    text_units,
    text_units_rounded,
    undecodable,
)

__all__ = [
    "AggTradeMsg", "BadKind", "BadMessage", "BinanceMessage", "BinanceParser",
    "BookTickerMsg", "DepthSnapshotMsg", "DepthUpdateMsg", "ForceOrderMsg",
    "MarkPriceMsg", "TradeMsg", "decimal_places", "decode", "text_units",
    "text_units_rounded",
]

_NS_PER_MS = 1_000_000
_BID, _ASK = BookSide.BID, BookSide.ASK


# -- wire types ---------------------------------------------------------------------------
class TradeMsg(msgspec.Struct, frozen=True, gc=False,
               rename={"symbol": "s", "trade_id": "t", "price": "p", "quantity": "q",
                       "buyer_is_maker": "m", "event_time": "E", "trade_time": "T"}):
    """``<symbol>@trade``: one fill between two orders."""

    symbol: str
    trade_id: int
    price: str
    quantity: str
    buyer_is_maker: bool
    event_time: int
    trade_time: int


class AggTradeMsg(msgspec.Struct, frozen=True, gc=False,
                  rename={"symbol": "s", "agg_id": "a", "price": "p", "quantity": "q",
                          "buyer_is_maker": "m", "event_time": "E", "trade_time": "T",
                          "first_trade_id": "f", "last_trade_id": "l"}):
    """``<symbol>@aggTrade``: the fills of one taker order at one price, summed."""

    symbol: str
    agg_id: int
    price: str
    quantity: str
    buyer_is_maker: bool
    event_time: int
    trade_time: int
    first_trade_id: int = 0
    last_trade_id: int = 0


class BookTickerMsg(msgspec.Struct, frozen=True, gc=False,
                    rename={"update_id": "u", "symbol": "s", "bid": "b", "bid_qty": "B",
                            "ask": "a", "ask_qty": "A", "event_time": "E",
                            "transaction_time": "T"}):
    """``<symbol>@bookTicker``: best bid and ask as of book update ``u`` (spot: no times)."""

    update_id: int
    symbol: str
    bid: str
    bid_qty: str
    ask: str
    ask_qty: str
    event_time: int | None = None
    transaction_time: int | None = None


Levels: TypeAlias = list[tuple[str, str]]


class DepthUpdateMsg(msgspec.Struct, frozen=True, gc=False,
                     rename={"event_time": "E", "symbol": "s", "first_update_id": "U",
                             "final_update_id": "u", "bids": "b", "asks": "a",
                             "transaction_time": "T", "prev_final_update_id": "pu"}):
    """``<symbol>@depth[@100ms|@0ms]``: every level changed by updates ``U``..``u``."""

    event_time: int
    symbol: str
    first_update_id: int
    final_update_id: int
    bids: Levels
    asks: Levels
    transaction_time: int | None = None
    prev_final_update_id: int | None = None  # futures only


class DepthSnapshotMsg(msgspec.Struct, frozen=True, gc=False,
                       rename={"last_update_id": "lastUpdateId", "event_time": "E",
                               "transaction_time": "T"}):
    """REST ``/depth`` body: the book as of update ``lastUpdateId`` (COIN-M names its symbol)."""

    last_update_id: int
    bids: Levels
    asks: Levels
    event_time: int | None = None
    transaction_time: int | None = None
    symbol: str | None = None


class MarkPriceMsg(msgspec.Struct, frozen=True, gc=False,
                   rename={"event_time": "E", "symbol": "s", "mark": "p", "index": "i",
                           "funding_rate": "r", "next_funding_time": "T"}):
    """``<symbol>@markPrice``: mark and index price, the funding rate and when it applies."""

    event_time: int
    symbol: str
    mark: str
    index: str | None = None
    funding_rate: str | None = None  # "" on delivery contracts
    next_funding_time: int | None = None  # 0 on delivery contracts


class ForceOrderBody(msgspec.Struct, frozen=True, gc=False,
                     rename={"symbol": "s", "side": "S", "price": "p", "quantity": "q",
                             "trade_time": "T", "average_price": "ap", "status": "X"}):
    symbol: str
    side: str
    price: str
    quantity: str
    trade_time: int
    average_price: str | None = None
    status: str | None = None


class ForceOrderMsg(msgspec.Struct, frozen=True, gc=False,
                    rename={"event_time": "E", "order": "o"}):
    """``<symbol>@forceOrder``: a liquidation order the venue sent."""

    event_time: int
    order: ForceOrderBody


BinanceMessage: TypeAlias = (TradeMsg | AggTradeMsg | BookTickerMsg | DepthUpdateMsg
                             | DepthSnapshotMsg | MarkPriceMsg | ForceOrderMsg)


class _Probe(msgspec.Struct, frozen=True, gc=False, rename={"last_update_id": "lastUpdateId"}):
    """The few keys that say what a message is; everything else is skipped unread."""

    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()  # empty when the message is not an envelope
    e: str | None = None
    last_update_id: int | None = None
    u: int | None = None
    result: Any = None
    id: Any = None
    error: Any = None


# -- heron events -------------------------------------------------------------------------


# -- decoding ------------------------------------------------------------------------------
def _decoder(kind: type[BinanceMessage]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind)


_PROBE = msgspec.json.Decoder(_Probe)
_SNAPSHOT = _decoder(DepthSnapshotMsg)
_BOOK_TICKER = _decoder(BookTickerMsg)
# Combined streams, by channel: the part of the stream name after "<symbol>@".
_BY_CHANNEL = {
    "trade": _decoder(TradeMsg), "aggTrade": _decoder(AggTradeMsg),
    "bookTicker": _BOOK_TICKER, "depth": _decoder(DepthUpdateMsg),
    "markPrice": _decoder(MarkPriceMsg), "forceOrder": _decoder(ForceOrderMsg),
}
# Raw streams, by event type ("e").
_BY_EVENT = {
    "trade": _BY_CHANNEL["trade"], "aggTrade": _BY_CHANNEL["aggTrade"],
    "bookTicker": _BOOK_TICKER, "depthUpdate": _BY_CHANNEL["depth"],
    "markPriceUpdate": _BY_CHANNEL["markPrice"], "forceOrder": _BY_CHANNEL["forceOrder"],
}


def _channel(stream: str) -> str:
    """``btcusdt@depth@100ms`` -> ``depth``; ``!forceOrder@arr`` -> ``forceOrder``."""
    head, _, rest = stream.partition("@")
    if head.startswith("!"):
        return head[1:]
    return rest.partition("@")[0]





def decode(raw: bytes | str, ts_recv: int = 0) -> BinanceMessage | BadMessage | None:
    """The typed message in ``raw``, a :class:`BadMessage`, or ``None`` for a control reply.

    Combined-stream envelopes are dispatched by stream name (spot's bookTicker carries no
    event type), raw messages by their ``e``, a ``lastUpdateId`` or, for spot's raw
    bookTicker, a bare ``u``.
    """
    try:
        probe = _PROBE.decode(raw)
    except msgspec.DecodeError as exc:
        return undecodable(raw, ts_recv, exc)
    body: bytes | str | msgspec.Raw = raw
    if probe.data:
        name = _channel(probe.stream or "")
        decoder = _BY_CHANNEL.get(name)
        body = probe.data
    elif probe.e is not None:
        name = f"event {probe.e}"
        decoder = _BY_EVENT.get(probe.e)
    elif probe.last_update_id is not None:
        name, decoder = "depth snapshot", _SNAPSHOT
    elif probe.u is not None:
        name, decoder = "bookTicker", _BOOK_TICKER
    elif probe.error is not None:
        return bad_message(raw, ts_recv, BadKind.VENUE_ERROR, f"venue error reply {probe.error}")
    elif probe.id is not None:
        return None
    else:
        name, decoder = "a message of no known shape", None
    if decoder is None:
        where = f"stream {probe.stream}" if probe.stream else name
        return bad_message(raw, ts_recv, BadKind.UNSUPPORTED, f"heron does not parse {where}")
    try:
        message: BinanceMessage = decoder.decode(body)
    except msgspec.DecodeError as exc:
        return undecodable(raw, ts_recv, exc)
    return message



_SIDES = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}
_Convert: TypeAlias = Callable[[Any, int, "str | None"], list[MarketEvent]]


class BinanceParser:
    """Turns Binance market-data text into heron events for a known set of instruments.

    ``instruments`` maps Binance symbols (``BTCUSDT``, ``BTCUSD_PERP``) to instruments.
    :meth:`parse` is the whole path for one message; :meth:`events` converts a message
    already decoded with :func:`decode` (an importer decodes first to learn the grid).
    Counters: :attr:`bad` by kind, :attr:`ignored` control replies, :attr:`messages`,
    :attr:`dropped_levels` (book levels between ticks, left out: see :meth:`_on_grid`).
    """

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._grids = {symbol: Grid(inst) for symbol, inst in instruments.items()}
        self.bad: Counter[BadKind] = Counter()
        self.ignored = 0
        self.messages = 0
        self.dropped_levels: Counter[str] = Counter()  # off-grid book levels, by symbol
        self._convert: dict[type, _Convert] = {
            TradeMsg: self._trade, AggTradeMsg: self._agg_trade,
            BookTickerMsg: self._book_ticker, DepthUpdateMsg: self._depth,
            DepthSnapshotMsg: self._snapshot, MarkPriceMsg: self._mark,
            ForceOrderMsg: self._force_order,
        }

    def parse(self, raw: bytes | str, ts_recv: int, *,
              symbol: str | None = None) -> list[MarketEvent] | BadMessage | None:
        """Events in one message received at ``ts_recv`` (ns), or why there are none.

        ``None`` is a control reply (a subscription answer): not market data, and a live
        feed hands it on to the client library that is waiting for it.

        ``symbol`` names the instrument of a REST depth snapshot, whose body (spot,
        USD-M) does not; with a single instrument it may be left out.
        """
        self.messages += 1
        message = decode(raw, ts_recv)
        if message is None:
            self.ignored += 1
            return None
        if isinstance(message, BadMessage):
            self.bad[message.kind] += 1
            return message
        return self.events(message, ts_recv, raw, symbol=symbol)

    def events(self, message: BinanceMessage, ts_recv: int, raw: bytes | str, *,
               symbol: str | None = None) -> list[MarketEvent] | BadMessage:
        """Events of a decoded ``message``; ``raw`` is kept if they cannot be made."""
        try:
            return self._convert[type(message)](message, ts_recv, symbol)
        except UnknownSymbol as exc:
            kind, detail = BadKind.UNKNOWN_SYMBOL, str(exc)
        except OffGrid as exc:
            kind, detail = BadKind.OFF_GRID, str(exc)
        except ValueError as exc:
            kind, detail = BadKind.MALFORMED, str(exc)
        self.bad[kind] += 1
        return bad_message(raw, ts_recv, kind, detail)

    def _grid(self, symbol: str | None) -> Grid:
        grid = self._grids.get(symbol or "")
        if grid is None:
            if symbol is None and len(self._grids) == 1:
                return next(iter(self._grids.values()))
            raise UnknownSymbol(f"no instrument for symbol {symbol!r}")
        return grid

    # -- one converter per message type --------------------------------------------------
    def _trade(self, msg: TradeMsg, ts_recv: int, _: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol)
        size = g.size(msg.quantity)
        if size <= 0:
            raise ValueError(f"trade {msg.trade_id} has no size")
        return [Trade(g.instrument, msg.trade_time * _NS_PER_MS, ts_recv, g.price(msg.price),
                      size, "sell" if msg.buyer_is_maker else "buy", str(msg.trade_id))]

    def _agg_trade(self, msg: AggTradeMsg, ts_recv: int, _: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol)
        size = g.size(msg.quantity)
        if size <= 0:
            raise ValueError(f"aggTrade {msg.agg_id} has no size")
        return [Trade(g.instrument, msg.trade_time * _NS_PER_MS, ts_recv, g.price(msg.price),
                      size, "sell" if msg.buyer_is_maker else "buy", str(msg.agg_id))]

    def _book_ticker(self, msg: BookTickerMsg, ts_recv: int,
                     _: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol)
        ms = msg.transaction_time or msg.event_time
        price, size = g.price, g.size
        return [Quote(g.instrument, ms * _NS_PER_MS if ms else ts_recv, ts_recv,
                             price(msg.bid), price(msg.ask), size(msg.bid_qty),
                             size(msg.ask_qty), msg.update_id)]

    def _depth(self, msg: DepthUpdateMsg, ts_recv: int, _: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol)
        inst, price, size = g.instrument, g.price, g.size
        ts = (msg.transaction_time or msg.event_time) * _NS_PER_MS
        u, first, prev = msg.final_update_id, msg.first_update_id, msg.prev_final_update_id
        try:
            bids = [(price(p), size(q)) for p, q in msg.bids]
            asks = [(price(p), size(q)) for p, q in msg.asks]
        except OffGrid:
            bids, asks = self._on_grid(g, msg.bids), self._on_grid(g, msg.asks)
        out: list[MarketEvent] = [
            BookDelta(inst, ts, ts_recv, _BID, p, q, u, False, first, prev) for p, q in bids]
        out += [BookDelta(inst, ts, ts_recv, _ASK, p, q, u, False, first, prev) for p, q in asks]
        if out:  # an empty diff gives nothing; the book then sees the next pu as a gap
            out[-1] = msgspec.structs.replace(out[-1], is_last=True)
        return out

    def _on_grid(self, grid: Grid, levels: Levels) -> list[tuple[int, int]]:
        """The levels that are on the grid; the others are counted in ``dropped_levels``.

        Resting orders can sit between today's ticks (placed before a tick-size change:
        a real 2021 CTKUSDT snapshot has 100 such levels, all far from the touch). They
        cannot be held in ticks; dropping them from the snapshot *and* every diff keeps
        the book consistent on the grid, where a rejected message would desync it.
        """
        out: list[tuple[int, int]] = []
        for p, q in levels:
            try:
                out.append((grid.price(p), grid.size(q)))
            except OffGrid:
                self.dropped_levels[grid.instrument.symbol] += 1
        return out

    def _snapshot(self, msg: DepthSnapshotMsg, ts_recv: int,
                  symbol: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol or symbol)
        price, size = g.price, g.size
        ms = msg.transaction_time or msg.event_time
        try:
            bids = tuple((price(p), size(q)) for p, q in msg.bids)
            asks = tuple((price(p), size(q)) for p, q in msg.asks)
        except OffGrid:
            bids, asks = tuple(self._on_grid(g, msg.bids)), tuple(self._on_grid(g, msg.asks))
        return [BookSnapshot(g.instrument, ms * _NS_PER_MS if ms else ts_recv, ts_recv,
                             bids, asks, msg.last_update_id)]

    def _mark(self, msg: MarkPriceMsg, ts_recv: int, _: str | None) -> list[MarketEvent]:
        g = self._grid(msg.symbol)
        index = g.rounded_price(msg.index) if msg.index else None
        out: list[MarketEvent] = [MarkPrice(g.instrument, msg.event_time * _NS_PER_MS, ts_recv,
                                            g.rounded_price(msg.mark), index)]
        rate = msg.funding_rate
        if rate and msg.next_funding_time:
            digits(rate.removeprefix("-"))  # a plain decimal, or ValueError
            out.append(FundingRate(g.instrument, msg.next_funding_time * _NS_PER_MS, ts_recv,
                                   rate))
        return out

    def _force_order(self, msg: ForceOrderMsg, ts_recv: int,
                     _: str | None) -> list[MarketEvent]:
        order = msg.order
        g = self._grid(order.symbol)
        side = _SIDES.get(order.side)
        size = g.size(order.quantity)
        if side is None or size <= 0:
            raise ValueError(f"liquidation with side {order.side!r} and quantity "
                             f"{order.quantity!r}")
        return [Liquidation(g.instrument, order.trade_time * _NS_PER_MS, ts_recv, side,
                            g.price(order.price), size)]
