"""Hyperliquid perpetuals WebSocket market data -> heron events.

Every Hyperliquid message is ``{"channel": <name>, "data": <payload>}`` and the channel
alone says what the payload is, so one msgspec decoder over a union of structs tagged by
``channel`` reads a message in a single pass::

    trades          -> Trade ...        (ts_event: the fill's time; trade_id: tid)
    l2Book          -> BookSnapshot     (ts_event and sequence: the book's time, ms)
    bbo             -> Quote            (ts_event and sequence: the book's time, ms)
    activeAssetCtx  -> MarkPrice, FundingRate

Instruments are keyed by the coin name the messages carry (``BTC``).

**Aggressor.** Hyperliquid's API notation reads "B = Bid = Buy, A = Ask = Short. Side
is aggressing side for trades", so ``B`` is a taker buy and ``A`` a taker sell. The
real capture agrees: its one taker order that filled against several makers (one
``hash``, three buyers in ``users``, which is ``[buyer, seller]``) has side ``A`` and the
same seller on every fill.

**Books.** ``l2Book`` never sends a diff: every message is the whole top of the book
(20 levels a side), so each becomes one :class:`BookSnapshot` and :data:`BOOK_SEQUENCE`
is ``None``: there is no continuity to check, and a lost message costs nothing because
the next one replaces it. Nor does it carry an update id, so the snapshot's
``sequence`` is the book's time in milliseconds (the block time): it grows with the
book's state and is the same number a ``bbo`` of that block carries, which lines the
two up. It can repeat: the capture opens with the same book twice, at the same time.

**Grid.** Hyperliquid's tick is dynamic: a perp price has at most five significant
figures and at most ``6 - szDecimals`` decimals (whole numbers are always valid), so a
tick of ``10**-(6 - szDecimals)`` holds every price the venue can print, and a coarser
instrument tick (1 for BTC) holds them only while the price stays in its range (BTC at
or above 10,000). A price or size between the instrument's ticks or lots makes the whole
message a :class:`BadMessage` (``OFF_GRID``): a snapshot stream can afford that, as the
next snapshot replaces the refused one, where a diff stream would fall out of step.

**Mark, oracle and funding.** ``activeAssetCtx`` carries no time, so its events take
``ts_recv`` as ``ts_event``. ``markPx`` and ``oraclePx`` (the index the mark is built
from) are rounded half-even to the tick: they are references for margin, not prices
anyone can trade at, and the oracle is computed finer than the tick. Hyperliquid pays
funding every hour, on the hour (the recorded ``fundingHistory`` settles an hour apart
since mid-2023, eight hours before that); ``funding`` is the rate of the hour under way,
so the :class:`FundingRate` applies at the next whole hour after ``ts_recv``.

**Not published.** Liquidations: Hyperliquid has no public liquidation channel. A
liquidation shows in the liquidated user's own fills (``userFills``/``userEvents``, with
a ``liquidation`` field) and in ``trades`` as an ordinary, unflagged trade, so heron
makes no :class:`~heron.model.data.Liquidation` events for this venue.

**Control and errors.** The server's greeting text (``Websocket connection
established.``), ``subscriptionResponse``, ``pong`` and ``post`` (the answer to a
request) are not market data: :meth:`HyperliquidParser.parse` returns ``None`` for them
(a live feed hands them on to ccxt) and counts them in ``ignored``. An ``error``
channel message is a :class:`BadMessage` (``UNSUPPORTED``) carrying the venue's text;
so is any channel heron does not read (``allMids``, ``candle``, ``activeSpotAssetCtx``,
user channels). The parser never raises on what the venue sends.

**Trade replay.** The first ``trades`` message after subscribing carries the coin's
recent trades from *before* the subscription (30 trades over 45 s in the capture);
after a reconnect these repeat trades already seen. ``tid`` (the ``trade_id``) tells
them apart; the parser passes them on as they come.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import msgspec

from heron.model.book import SequenceRule
from heron.model.data import (
    BookSnapshot,
    FundingRate,
    MarketEvent,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument, OffGrid
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
    "BOOK_SEQUENCE", "ActiveAssetCtx", "AssetCtxMsg", "BadKind", "BadMessage", "BboMsg",
    "BookMsg", "HyperliquidMessage", "HyperliquidParser", "PerpAssetCtx",
    "TradesMsg", "WsBbo", "WsBook", "WsLevel", "WsTrade", "decode", "next_funding_ns",
]

#: Every ``l2Book`` message is a whole snapshot: there is no book continuity to check.
BOOK_SEQUENCE: SequenceRule | None = None

_NS_PER_MS = 1_000_000
_NS_PER_HOUR = 3_600_000_000_000
_WELCOME = "Websocket connection established."  # plain text, sent once on connect
_AGGRESSOR = {"B": "buy", "A": "sell"}  # "Side is aggressing side for trades"


# -- wire types: the payloads ------------------------------------------------------------
class WsTrade(msgspec.Struct, frozen=True, gc=False):
    """One fill of ``trades``: ``side`` is the taker's (``B`` buy, ``A`` sell)."""

    coin: str
    side: str
    px: str
    sz: str
    time: int
    tid: int


class WsLevel(msgspec.Struct, frozen=True, gc=False):
    """A price level: total size ``sz`` at ``px`` (its order count ``n`` is skipped)."""

    px: str
    sz: str


class WsBook(msgspec.Struct, frozen=True, gc=False):
    """``l2Book`` payload: ``levels`` is ``[bids, asks]``, best first on each side."""

    coin: str
    time: int
    levels: tuple[list[WsLevel], list[WsLevel]]


class WsBbo(msgspec.Struct, frozen=True, gc=False):
    """``bbo`` payload: ``[best bid, best ask]``, ``null`` for a side with no orders."""

    coin: str
    time: int
    bbo: tuple[WsLevel | None, WsLevel | None]


class PerpAssetCtx(msgspec.Struct, frozen=True, gc=False,
                   rename={"mark_px": "markPx", "oracle_px": "oraclePx"}):
    """The part of a perp's asset context heron reads (volumes, impact prices skipped)."""

    funding: str
    mark_px: str
    oracle_px: str


class ActiveAssetCtx(msgspec.Struct, frozen=True, gc=False):
    """``activeAssetCtx`` payload (perps; spot coins come on ``activeSpotAssetCtx``)."""

    coin: str
    ctx: PerpAssetCtx


# -- wire types: whole messages, one struct per channel ------------------------------------
class _Channel(msgspec.Struct, frozen=True, gc=False, tag_field="channel"):
    """A message; the ``channel`` key picks the subclass (msgspec's tagged union)."""


class TradesMsg(_Channel, frozen=True, gc=False, tag="trades"):
    data: list[WsTrade]


class BookMsg(_Channel, frozen=True, gc=False, tag="l2Book"):
    data: WsBook


class BboMsg(_Channel, frozen=True, gc=False, tag="bbo"):
    data: WsBbo


class AssetCtxMsg(_Channel, frozen=True, gc=False, tag="activeAssetCtx"):
    data: ActiveAssetCtx


class _SubscriptionResponse(_Channel, frozen=True, gc=False, tag="subscriptionResponse"):
    data: msgspec.Raw = msgspec.Raw()


class _Pong(_Channel, frozen=True, gc=False, tag="pong"):
    pass


class _Post(_Channel, frozen=True, gc=False, tag="post"):
    data: msgspec.Raw = msgspec.Raw()


class _Error(_Channel, frozen=True, gc=False, tag="error"):
    data: Any = None


HyperliquidMessage: TypeAlias = TradesMsg | BookMsg | BboMsg | AssetCtxMsg
_Wire: TypeAlias = HyperliquidMessage | _SubscriptionResponse | _Pong | _Post | _Error
_CONTROL = (_SubscriptionResponse, _Pong, _Post)
_DATA_CHANNELS = frozenset({"trades", "l2Book", "bbo", "activeAssetCtx"})


class _Probe(msgspec.Struct, frozen=True, gc=False):
    """Only the channel: what a message that failed to decode claims to be."""

    channel: str | None = None



_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(_Wire)
_PROBE = msgspec.json.Decoder(_Probe)


# -- decoding ------------------------------------------------------------------------------
def decode(raw: bytes | str, ts_recv: int = 0) -> HyperliquidMessage | BadMessage | None:
    """The typed message in ``raw``, a :class:`BadMessage`, or ``None`` for a control reply."""
    try:
        message: _Wire = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        return _undecoded(raw, ts_recv, exc)
    if isinstance(message, _CONTROL):
        return None
    if isinstance(message, _Error):
        return bad_message(raw, ts_recv, BadKind.VENUE_ERROR, f"venue error: {message.data}")
    return message


def _undecoded(raw: bytes | str, ts_recv: int, exc: msgspec.DecodeError) -> BadMessage | None:
    """Why ``raw`` did not decode: the greeting, a torn text, a bad payload, or a channel
    heron does not read (told apart by probing for ``channel`` alone)."""
    if text_of(raw).strip() == _WELCOME:
        return None
    if "truncated" in str(exc):
        return undecodable(raw, ts_recv, exc)
    try:
        channel = _PROBE.decode(raw).channel
    except msgspec.DecodeError as probe_exc:
        return undecodable(raw, ts_recv, probe_exc)
    if channel is None or channel in _DATA_CHANNELS:
        return undecodable(raw, ts_recv, exc)
    return bad_message(raw, ts_recv, BadKind.UNSUPPORTED,
                       f"heron does not parse channel {channel!r}")


def next_funding_ns(ts_recv: int) -> int:
    """The first whole hour after ``ts_recv`` (ns): when Hyperliquid next pays funding."""
    return (ts_recv // _NS_PER_HOUR + 1) * _NS_PER_HOUR



_Convert: TypeAlias = Callable[[Any, int], list[MarketEvent]]


class HyperliquidParser:
    """Turns Hyperliquid market-data text into heron events for a known set of coins.

    ``instruments`` maps coin names as the messages carry them (``BTC``) to instruments.
    :meth:`parse` is the whole path for one message; :meth:`events` converts a message
    already decoded with :func:`decode`. Counters: :attr:`messages` (every call),
    :attr:`ignored` (control replies), :attr:`bad` (by kind).
    """

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._grids = {coin: Grid(inst) for coin, inst in instruments.items()}
        self.bad: Counter[BadKind] = Counter()
        self.ignored = 0
        self.messages = 0
        self._convert: dict[type, _Convert] = {
            TradesMsg: self._trades, BookMsg: self._book, BboMsg: self._bbo,
            AssetCtxMsg: self._asset_ctx,
        }

    def parse(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events in one message received at ``ts_recv`` (ns), why there are none, or
        ``None`` for a control reply (not market data: a live feed hands it on)."""
        self.messages += 1
        message = decode(raw, ts_recv)
        if message is None:
            self.ignored += 1
            return None
        if isinstance(message, BadMessage):
            self.bad[message.kind] += 1
            return message
        return self.events(message, ts_recv, raw)

    def events(self, message: HyperliquidMessage, ts_recv: int,
               raw: bytes | str) -> list[MarketEvent] | BadMessage:
        """Events of a decoded ``message``; ``raw`` is kept if they cannot be made."""
        try:
            return self._convert[type(message)](message, ts_recv)
        except UnknownSymbol as exc:
            kind, detail = BadKind.UNKNOWN_SYMBOL, str(exc)
        except OffGrid as exc:
            kind, detail = BadKind.OFF_GRID, str(exc)
        except ValueError as exc:
            kind, detail = BadKind.MALFORMED, str(exc)
        self.bad[kind] += 1
        return bad_message(raw, ts_recv, kind, detail)

    def _grid(self, coin: str) -> Grid:
        grid = self._grids.get(coin)
        if grid is None:
            raise UnknownSymbol(f"no instrument for coin {coin!r}")
        return grid

    # -- one converter per channel -------------------------------------------------------
    def _trades(self, msg: TradesMsg, ts_recv: int) -> list[MarketEvent]:
        out: list[MarketEvent] = []
        for t in msg.data:
            g = self._grid(t.coin)
            aggressor = _AGGRESSOR.get(t.side)
            size = g.size(t.sz)
            if aggressor is None or size <= 0:
                raise ValueError(f"trade {t.tid} with side {t.side!r} and size {t.sz!r}")
            out.append(Trade(g.instrument, t.time * _NS_PER_MS, ts_recv, g.price(t.px), size,
                             aggressor, str(t.tid)))
        return out

    def _book(self, msg: BookMsg, ts_recv: int) -> list[MarketEvent]:
        book = msg.data
        g = self._grid(book.coin)
        price, size = g.price, g.size
        bids, asks = book.levels
        return [BookSnapshot(g.instrument, book.time * _NS_PER_MS, ts_recv,
                             tuple([(price(lv.px), size(lv.sz)) for lv in bids]),
                             tuple([(price(lv.px), size(lv.sz)) for lv in asks]),
                             book.time)]

    def _bbo(self, msg: BboMsg, ts_recv: int) -> list[MarketEvent]:
        """No quote while a side is empty: a :class:`Quote` cannot say a side is missing."""
        data = msg.data
        g = self._grid(data.coin)
        bid, ask = data.bbo
        if bid is None or ask is None:
            return []
        price, size = g.price, g.size
        return [Quote(g.instrument, data.time * _NS_PER_MS, ts_recv, price(bid.px),
                      price(ask.px), size(bid.sz), size(ask.sz), data.time)]

    def _asset_ctx(self, msg: AssetCtxMsg, ts_recv: int) -> list[MarketEvent]:
        g = self._grid(msg.data.coin)
        ctx = msg.data.ctx
        digits(ctx.funding.removeprefix("-"))  # a plain decimal, or ValueError
        return [MarkPrice(g.instrument, ts_recv, ts_recv, g.rounded_price(ctx.mark_px),
                          g.rounded_price(ctx.oracle_px)),
                FundingRate(g.instrument, next_funding_ns(ts_recv), ts_recv, ctx.funding)]
