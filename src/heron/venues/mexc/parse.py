"""MEXC futures (contract) WebSocket ``wss://contract.mexc.com/edge`` -> heron events.

Every market-data push is ``{"channel", "data", "symbol", "ts"}``, keyed by the contract
symbol (``BTC_USDT``), and the channel decides the event::

    push.deal          -> Trade ...      (data: one deal, or a list of them on newer MEXC;
                                          ts_event: t; aggressor: T, 1 buy, 2 sell)
    push.depth         -> BookDelta ...  (one per level; sequence: version, see below)
    push.depth.full    -> BookSnapshot   (the top 5/10/20 levels; sequence: version)
    push.ticker        -> MarkPrice      (fairPrice and indexPrice; ts_event: timestamp)
    push.funding.rate  -> FundingRate    (rate, applying at nextSettleTime)
    push.fair.price    -> MarkPrice      (price, with no index; ts_event: ts)
    REST /api/v1/contract/depth/{symbol} body -> BookSnapshot, through :meth:`snapshot`

Sizes are contracts (``vol``), as MEXC counts them: build the instrument with the contract
as its lot and ``contractSize`` as its multiplier. Deals carry no trade id (``trade_id`` is
empty). Times are milliseconds: the deal's ``t``, the ticker's ``timestamp``, else the
push's ``ts`` (``ts_recv`` where a message has none).

**Numbers are JSON numbers** (``39766.5``, not ``"39766.5"``). They are decoded with
``float_hook=str`` into ``Any``-typed fields, so msgspec hands over the number's exact text
(an ``int`` for a whole number) and no binary float is ever made; each instrument converts
each distinct number once (:class:`_Units`, over its :class:`Grid`). Exponent forms, which
JSON allows and a Java server prints for small values (``1.5E-7``), are written out plainly
with ``Decimal`` first, on the cache miss only. A JSON string holding a decimal is taken as
that decimal.

**Book sequence.** The docs' incremental-book recipe: the REST snapshot's ``version`` and
the pushes' share one counter, and "each new event's version should be exactly equal to the
previous version + 1"; anything else is packet loss. So :data:`BOOK_SEQUENCE` is a
:class:`ContiguousSequence` over ``version``. Since April 2025 ``sub.depth`` merges pushes
by default (``compress``), and a merged push carries ``begin``/``end``, the first and last
version it covers: ``begin`` becomes ``first_sequence``. A push with no levels gives no
delta, so its version would reach the book only as a hole before the next one; the parser
holds such an empty push's version range and, when the symbol's next push follows it
directly, starts that push's range there (the empty update changed nothing, so folding it
in is exact; a push that does not follow directly is left alone, so a real gap still
shows).

``push.depth.full`` is a *limited* snapshot (the top 5, 10 or 20 levels, as subscribed): it
replaces the book with those levels, so subscribe it instead of ``push.depth``, not beside.

**What MEXC does not publish.** Liquidations: MEXC futures has no public liquidation
channel (only the logged-in user's own ``push.personal.*`` pushes mention forced orders),
so there are no :class:`Liquidation` events. The ticker's ``bid1``/``ask1`` do not become
quotes: they come without sizes, and a :class:`Quote` with invented zero sizes would read
as an empty touch; the ticker is also sampled about once a second, behind the depth stream,
which is where the top of book comes from. The ticker's ``fundingRate`` comes without the
time it applies at, so it gives no :class:`FundingRate`; ``push.funding.rate`` does.
``push.kline``, ``push.tickers`` and ``push.index.price`` (an index without a mark) are
reported unsupported.

**Spot.** MEXC spot's current WebSocket (``wss://wbs-api.mexc.com/ws``) sends protobuf
frames, which heron does not decode. Messages of the retired spot JSON protocol (which
reused ``push.deal``/``push.depth`` with string numbers, ``deals`` lists and level objects,
``push.limit.depth``, ``symbol_display``, ``["push.kline", {...}]`` arrays, and a REST depth
body of ``{"code": 200, ...}``) are recognised and reported as UNSUPPORTED saying so.

Control messages give ``None`` (the live feed hands them to ccxt): ``pong``, subscription
and login answers (``rs.sub.deal``, ``rs.login``: every ``rs.*`` but ``rs.error``) and the
private ``push.personal.*`` pushes ccxt's order and balance watchers read. ``rs.error`` is a
:class:`BadMessage` of kind UNSUPPORTED with the venue's text. Nothing raises: what cannot
be used is a counted :class:`BadMessage`, and book levels between the instrument's ticks or
lots are left out and counted in ``dropped_levels``, as the Binance parser does.

Decoding: one msgspec pass decodes a push straight into its channel's struct (a union
tagged by ``channel``); only a message that is not a known push (control, error, spot,
garbage) pays for a second, probing pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeAlias

import msgspec

from heron.model.book import ContiguousSequence, SequenceRule
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    MarketEvent,
    MarkPrice,
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
    undecodable,
)

__all__ = [
    "BOOK_SEQUENCE", "BadKind", "BadMessage", "Deal", "DealPush", "DepthData",
    "DepthFullPush", "DepthPush", "FairPricePush", "FundingRatePush",
    "MexcParser", "RestDepth", "TickerPush",
]

BOOK_SEQUENCE: SequenceRule = ContiguousSequence()
"""``version`` goes up by one per depth push, on the REST snapshot's counter."""

_NS_PER_MS = 1_000_000
_BID, _ASK = BookSide.BID, BookSide.ASK
_SIDES = {1: "buy", 2: "sell"}  # deal T: the taker's direction (docs: 1 buy, 2 sell)
_CACHE_LIMIT = 1 << 16  # distinct numbers kept per instrument and kind before starting afresh
_MAX_EXPONENT = 30      # |exponent| beyond this is not a price, size or rate
_SPOT = ("MEXC spot (old JSON protocol): spot's WebSocket now sends protobuf, which heron "
         "does not parse; only MEXC futures (contract) messages are supported")


# A JSON number decoded with float_hook=str: its exact text, or an int when it is whole.
Number: TypeAlias = Any
Levels: TypeAlias = list[list[Number]]  # [price, contracts, order count]


# -- wire types: one struct per push, tagged by channel ----------------------------------------
class Deal(msgspec.Struct, frozen=True, gc=False,
           rename={"price": "p", "size": "v", "side": "T", "time": "t"}):
    """One fill; ``side`` is the taker's (1 buy, 2 sell). ``O`` (opens a position) and ``M``
    (self-trade) are not read: a self-trade still printed on the tape."""

    price: Number
    size: Number
    side: int
    time: int


class DealPush(msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag="push.deal"):
    symbol: str
    data: Deal | list[Deal]
    ts: int | None = None


class DepthData(msgspec.Struct, frozen=True, gc=False):
    """A depth push's levels; ``begin``/``end`` only on merged (compressed) pushes."""

    version: int
    asks: Levels = []
    bids: Levels = []
    begin: int | None = None
    end: int | None = None


class DepthPush(msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag="push.depth"):
    symbol: str
    data: DepthData
    ts: int | None = None


class DepthFullPush(msgspec.Struct, frozen=True, gc=False, tag_field="channel",
                    tag="push.depth.full"):
    symbol: str
    data: DepthData
    ts: int | None = None


class TickerData(msgspec.Struct, frozen=True, gc=False,
                 rename={"fair_price": "fairPrice", "index_price": "indexPrice"}):
    fair_price: Number
    index_price: Number = None
    timestamp: int | None = None


class TickerPush(msgspec.Struct, frozen=True, gc=False, tag_field="channel", tag="push.ticker"):
    symbol: str
    data: TickerData
    ts: int | None = None


class FundingRateData(msgspec.Struct, frozen=True, gc=False,
                      rename={"next_settle_time": "nextSettleTime"}):
    rate: Number
    next_settle_time: int


class FundingRatePush(msgspec.Struct, frozen=True, gc=False, tag_field="channel",
                      tag="push.funding.rate"):
    symbol: str
    data: FundingRateData
    ts: int | None = None


class FairPriceData(msgspec.Struct, frozen=True, gc=False):
    price: Number


class FairPricePush(msgspec.Struct, frozen=True, gc=False, tag_field="channel",
                    tag="push.fair.price"):
    symbol: str
    data: FairPriceData
    ts: int | None = None


class RestDepthData(msgspec.Struct, frozen=True, gc=False):
    version: int
    asks: Levels = []
    bids: Levels = []
    timestamp: int | None = None


class RestDepth(msgspec.Struct, frozen=True, gc=False):
    """``GET /api/v1/contract/depth/{symbol}``: ``data`` on success, ``message`` if not."""

    success: bool
    code: int | None = None
    data: RestDepthData | None = None
    message: str | None = None


Push: TypeAlias = (DealPush | DepthPush | DepthFullPush | TickerPush | FundingRatePush
                   | FairPricePush)


class _Probe(msgspec.Struct, frozen=True, gc=False):
    """What a message that is not a known push is: the slow path's only decode."""

    channel: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    symbol_display: str | None = None  # only the old spot protocol sends it


_PUSH = msgspec.json.Decoder(Push, float_hook=str)
_REST = msgspec.json.Decoder(RestDepth, float_hook=str)
_PROBE = msgspec.json.Decoder(_Probe)
_PUSH_CHANNELS = frozenset(("push.deal", "push.depth", "push.depth.full", "push.ticker",
                            "push.funding.rate", "push.fair.price"))


# -- numbers -----------------------------------------------------------------------------------
def _plain(value: object) -> str:
    """A decoded JSON number (text or int) as plain decimal text; ValueError if it is none."""
    if type(value) is str:
        if "e" not in value and "E" not in value:
            return value
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"not a number: {value!r}") from None
        if not number.is_finite() or abs(number.adjusted()) > _MAX_EXPONENT:
            raise ValueError(f"not a price, size or rate: {value!r}")
        return format(number, "f")
    if type(value) is int:
        return str(value)
    raise ValueError(f"not a number: {value!r}")


class _Units:
    """One instrument's price and size conversions for decoded JSON numbers.

    The key is what msgspec produced (number text or ``int``), so a repeated level costs
    one dict lookup. (``True`` hashes like ``1``: a JSON ``true`` where a size belongs
    would read as an already-seen size of 1; the venue never sends one there.)
    """

    __slots__ = ("grid", "instrument", "price", "size")

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.instrument = grid.instrument
        self.price = self._converter(grid.price)
        self.size = self._converter(grid.size)

    @staticmethod
    def _converter(units: Callable[[str], int]) -> Callable[[Number], int]:
        cache: dict[Number, int] = {}
        get = cache.get

        def convert(value: Number) -> int:
            out = get(value)
            if out is None:
                out = units(_plain(value))
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[value] = out
            return out

        return convert

    def rounded(self, value: Number) -> int:
        return self.grid.rounded_price(_plain(value))


# -- what is not a push ------------------------------------------------------------------------
def _is_old_spot_array(raw: bytes | str) -> bool:
    """``["push.kline", {...}]``: the old spot protocol's array frames."""
    try:
        message = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return False
    return (isinstance(message, list) and bool(message) and isinstance(message[0], str)
            and message[0].startswith("push."))


def _is_old_spot(probe: _Probe) -> bool:
    """The old spot JSON shapes that share channel names with the contract's pushes."""
    if probe.symbol_display is not None or probe.channel == "push.limit.depth":
        return True
    data = msgspec.json.decode(probe.data) if probe.data else None
    return _is_old_spot_body(data)


def _is_old_spot_body(data: Any) -> bool:
    """Spot data: a ``deals`` list, a string ``version`` or ``{"p", "q"}`` level objects."""
    if not isinstance(data, dict):
        return False
    if "deals" in data or isinstance(data.get("version"), str):
        return True
    levels = data.get("asks") or data.get("bids")
    return isinstance(levels, list) and bool(levels) and isinstance(levels[0], dict)


def _not_a_push(raw: bytes | str, ts_recv: int, exc: msgspec.DecodeError) -> BadMessage | None:
    """Why ``raw`` did not decode as a push: ``None`` for control, else a BadMessage."""
    try:
        probe = _PROBE.decode(raw)
    except msgspec.ValidationError as error:  # JSON, but not an object with a text channel
        if _is_old_spot_array(raw):
            return bad_message(raw, ts_recv, BadKind.UNSUPPORTED, _SPOT)
        return bad_message(raw, ts_recv, BadKind.MALFORMED, str(error))
    except msgspec.DecodeError as error:
        return undecodable(raw, ts_recv, error)
    channel = probe.channel
    if channel is None:
        return bad_message(raw, ts_recv, BadKind.UNSUPPORTED,
                           "no channel: not a MEXC futures push (REST depth bodies go to "
                           "snapshot())")
    if channel == "rs.error":
        text = msgspec.json.decode(probe.data) if probe.data else ""
        return bad_message(raw, ts_recv, BadKind.VENUE_ERROR, f"venue error reply: {text}")
    if channel == "pong" or channel.startswith(("rs.", "push.personal.")):
        return None
    if _is_old_spot(probe):
        return bad_message(raw, ts_recv, BadKind.UNSUPPORTED, _SPOT)
    if channel in _PUSH_CHANNELS:
        return bad_message(raw, ts_recv, BadKind.MALFORMED, f"{channel}: {exc}")
    return bad_message(raw, ts_recv, BadKind.UNSUPPORTED, f"heron does not parse {channel}")



_Convert: TypeAlias = Callable[[Any, int], list[MarketEvent]]


class MexcParser:
    """Turns MEXC futures WebSocket text into heron events for a known set of instruments.

    ``instruments`` maps MEXC contract symbols (``BTC_USDT``) to instruments. Counters:
    :attr:`messages` (everything given to :meth:`parse` or :meth:`snapshot`), :attr:`ignored`
    (control messages), :attr:`bad` by kind, :attr:`dropped_levels` by symbol (book levels
    off the instrument's grid, left out).
    """

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._units = {symbol: _Units(Grid(inst)) for symbol, inst in instruments.items()}
        self.messages = 0
        self.ignored = 0
        self.bad: Counter[BadKind] = Counter()
        self.dropped_levels: Counter[str] = Counter()
        self._held: dict[str, tuple[int, int]] = {}  # symbol -> versions of an empty push
        self._convert: dict[type, _Convert] = {
            DealPush: self._deals, DepthPush: self._depth, DepthFullPush: self._depth_full,
            TickerPush: self._ticker, FundingRatePush: self._funding,
            FairPricePush: self._fair_price,
        }

    def parse(self, raw: bytes | str, ts_recv: int) -> list[MarketEvent] | BadMessage | None:
        """Events in one message received at ``ts_recv`` (ns), why there are none, or
        ``None`` for a control message (not market data: the live feed passes it on)."""
        self.messages += 1
        try:
            push: Push = _PUSH.decode(raw)
        except msgspec.DecodeError as exc:  # ValidationError included: not a known push
            out = _not_a_push(raw, ts_recv, exc)
            if out is None:
                self.ignored += 1
            else:
                self.bad[out.kind] += 1
            return out
        return self._events(self._convert[type(push)], push, ts_recv, raw)

    def snapshot(self, raw: bytes | str, ts_recv: int,
                 symbol: str) -> list[MarketEvent] | BadMessage:
        """The book in a REST ``/api/v1/contract/depth/{symbol}`` body, as of its version."""
        self.messages += 1
        try:
            body = _REST.decode(raw)
        except msgspec.DecodeError as exc:
            out = self._not_a_snapshot(raw, ts_recv, exc)
        else:
            if body.success and body.data is not None:
                return self._events(self._rest, (symbol, body.data), ts_recv, raw)
            out = bad_message(raw, ts_recv, BadKind.UNSUPPORTED,
                              f"venue error reply {body.code}: {body.message}")
        self.bad[out.kind] += 1
        return out

    @staticmethod
    def _not_a_snapshot(raw: bytes | str, ts_recv: int,
                        exc: msgspec.DecodeError) -> BadMessage:
        if isinstance(exc, msgspec.ValidationError):
            body = msgspec.json.decode(raw)
            if isinstance(body, dict) and _is_old_spot_body(body.get("data")):
                return bad_message(raw, ts_recv, BadKind.UNSUPPORTED, _SPOT)
            return bad_message(raw, ts_recv, BadKind.MALFORMED, f"REST depth body: {exc}")
        return undecodable(raw, ts_recv, exc)

    def _events(self, convert: _Convert, message: Any, ts_recv: int,
                raw: bytes | str) -> list[MarketEvent] | BadMessage:
        try:
            return convert(message, ts_recv)
        except UnknownSymbol as exc:
            kind, detail = BadKind.UNKNOWN_SYMBOL, str(exc)
        except OffGrid as exc:
            kind, detail = BadKind.OFF_GRID, str(exc)
        except (ValueError, TypeError, IndexError) as exc:  # a number, side or level that is none
            kind, detail = BadKind.MALFORMED, f"{type(exc).__name__}: {exc}"
        self.bad[kind] += 1
        return bad_message(raw, ts_recv, kind, detail)

    def _of(self, symbol: str) -> _Units:
        units = self._units.get(symbol)
        if units is None:
            raise UnknownSymbol(f"no instrument for symbol {symbol!r}")
        return units

    # -- one converter per push ----------------------------------------------------------------
    def _deals(self, push: DealPush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        inst, price, size = u.instrument, u.price, u.size
        out: list[MarketEvent] = []
        for deal in push.data if isinstance(push.data, list) else (push.data,):
            side = _SIDES.get(deal.side)
            lots = size(deal.size)
            if side is None or lots <= 0:
                raise ValueError(f"deal with side T={deal.side!r} and size {deal.size!r}")
            out.append(Trade(inst, deal.time * _NS_PER_MS, ts_recv, price(deal.price), lots,
                             side))
        return out

    def _depth(self, push: DepthPush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        data, inst = push.data, u.instrument
        ts = push.ts * _NS_PER_MS if push.ts else ts_recv
        bids, asks = self._levels(u, data.bids), self._levels(u, data.asks)
        version = data.version
        first = data.begin
        held = self._held.pop(push.symbol, None)
        if held is not None and held[1] == (version if first is None else first) - 1:
            first = held[0]  # the empty push before this one is folded into its range
        if not (bids or asks):
            self._held[push.symbol] = (version if first is None else first, version)
            return []
        out: list[MarketEvent] = [
            BookDelta(inst, ts, ts_recv, _BID, p, q, version, False, first) for p, q in bids]
        out += [BookDelta(inst, ts, ts_recv, _ASK, p, q, version, False, first)
                for p, q in asks]
        out[-1] = msgspec.structs.replace(out[-1], is_last=True)
        return out

    def _depth_full(self, push: DepthFullPush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        data = push.data
        ts = push.ts * _NS_PER_MS if push.ts else ts_recv
        return [BookSnapshot(u.instrument, ts, ts_recv, tuple(self._levels(u, data.bids)),
                             tuple(self._levels(u, data.asks)), data.version)]

    def _rest(self, message: tuple[str, RestDepthData], ts_recv: int) -> list[MarketEvent]:
        symbol, data = message
        u = self._of(symbol)
        ts = data.timestamp * _NS_PER_MS if data.timestamp else ts_recv
        return [BookSnapshot(u.instrument, ts, ts_recv, tuple(self._levels(u, data.bids)),
                             tuple(self._levels(u, data.asks)), data.version)]

    def _levels(self, u: _Units, levels: Levels) -> list[tuple[int, int]]:
        """``(ticks, lots)`` per level, in the venue's order (best first in snapshots).

        Levels between the instrument's ticks or lots (orders resting from before a
        tick-size change) are left out and counted, in snapshots and diffs alike, so the
        book stays consistent on the grid where rejecting the message would desync it.
        """
        price, size = u.price, u.size
        try:
            return [(price(level[0]), size(level[1])) for level in levels]
        except OffGrid:
            pass
        out: list[tuple[int, int]] = []
        for level in levels:
            try:
                out.append((price(level[0]), size(level[1])))
            except OffGrid:
                self.dropped_levels[u.instrument.symbol] += 1
        return out

    def _ticker(self, push: TickerPush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        data = push.data
        ms = data.timestamp or push.ts
        index = u.rounded(data.index_price) if data.index_price is not None else None
        return [MarkPrice(u.instrument, ms * _NS_PER_MS if ms else ts_recv, ts_recv,
                          u.rounded(data.fair_price), index)]

    def _funding(self, push: FundingRatePush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        rate = _plain(push.data.rate)
        digits(rate.removeprefix("-"))  # a plain decimal, or ValueError
        return [FundingRate(u.instrument, push.data.next_settle_time * _NS_PER_MS, ts_recv,
                            rate)]

    def _fair_price(self, push: FairPricePush, ts_recv: int) -> list[MarketEvent]:
        u = self._of(push.symbol)
        ts = push.ts * _NS_PER_MS if push.ts else ts_recv
        return [MarkPrice(u.instrument, ts, ts_recv, u.rounded(push.data.price))]
