"""Market data events. Prices are ``int`` ticks and sizes ``int`` lots of ``instrument``.

``Bar`` is built once per bar in a backtest's hot loop, so it is a compact positional
struct; the ``*_price`` helpers turn ticks into ``Decimal`` when a strategy needs them.
The order-book and derivatives types below follow the same rule (positional, frozen,
``gc=False``) because a replay builds millions of them: ``BookDelta`` especially.
Each of them carries ``ts_event`` (venue time) then ``ts_recv`` (ours) after ``instrument``.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import TypeAlias

import msgspec

from heron.model.instrument import Instrument
from heron.model.orders import OrderSide


class Bar(msgspec.Struct, frozen=True, gc=False):
    """One OHLCV bar; ``ts`` is the bar's *open* time, ``index`` its position in the series."""

    instrument: Instrument
    ts: int
    index: int
    open: int
    high: int
    low: int
    close: int
    volume: float

    @property
    def close_price(self) -> Decimal:
        return self.instrument.price(self.close)

    @property
    def open_price(self) -> Decimal:
        return self.instrument.price(self.open)


class Trade(msgspec.Struct, frozen=True, gc=False):
    instrument: Instrument
    ts_event: int
    ts_recv: int
    price: int
    size: int
    aggressor: str  # "buy", "sell" or ""
    trade_id: str = ""


class Quote(msgspec.Struct, frozen=True, gc=False):
    """Best bid and ask. ``sequence`` is the venue's book update id the quote describes
    (Binance ``u``, OKX ``seqId``), 0 where the venue sends none; it lines a quote up
    with the book's deltas and orders quotes in the catalog."""

    instrument: Instrument
    ts_event: int
    ts_recv: int
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    sequence: int = 0


class FundingRate(msgspec.Struct, frozen=True, gc=False):
    """A funding rate that applies at ``ts_event`` (a decimal string, e.g. ``"0.0001"``).

    Live venues publish the *predicted* rate of the next funding before it applies;
    ``ts_recv`` is when heron heard it (0 for rows read from history files).
    """

    instrument: Instrument
    ts_event: int
    ts_recv: int
    rate: str


class BookSide(enum.StrEnum):
    """Which side of an order book a level rests on."""

    BID = "bid"
    ASK = "ask"


class BookDelta(msgspec.Struct, frozen=True, gc=False):
    """One L2 price level set to a new total ``size`` (lots); ``size == 0`` removes it.

    A venue message usually carries many levels; the feed turns it into one delta per
    level, all with the same sequence numbers, and sets ``is_last`` on the final one so a
    book (or a strategy) checks sequence and crossing once per message, when the book is
    consistent again, rather than after every level. ``is_last`` has no default on
    purpose: guessing it wrong either splits a message (its second level then looks like a
    replay) or merges two (a gap goes unseen).

    ``sequence`` is the venue's id of the message's *last* update (Binance ``u``).
    ``first_sequence`` is the id of its first update (Binance ``U``; ``None`` when the
    venue gives one number per message) and ``prev_sequence`` the id the venue says came
    before it (Binance USD-M ``pu``, OKX ``prevSeqId``; ``None`` when not sent).
    :class:`heron.model.book.SequenceRule` decides what continuity means for a venue.
    """

    instrument: Instrument
    ts_event: int
    ts_recv: int
    side: BookSide
    price: int
    size: int
    sequence: int
    is_last: bool
    first_sequence: int | None = None
    prev_sequence: int | None = None


class BookSnapshot(msgspec.Struct, frozen=True, gc=False):
    """A whole L2 book: ``(price ticks, size lots)`` levels, best first, as of ``sequence``.

    ``sequence`` is the id of the last update the snapshot includes (Binance REST
    ``lastUpdateId``); deltas are judged against it.
    """

    instrument: Instrument
    ts_event: int
    ts_recv: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    sequence: int


class MarkPrice(msgspec.Struct, frozen=True, gc=False):
    """A derivatives venue's mark price (what margin and liquidations use), in ticks.

    ``index`` is the spot index the mark is built from, when the venue publishes it.
    """

    instrument: Instrument
    ts_event: int
    ts_recv: int
    mark: int
    index: int | None = None

    @property
    def mark_price(self) -> Decimal:
        return self.instrument.price(self.mark)


class Liquidation(msgspec.Struct, frozen=True, gc=False):
    """A forced order the venue sent to close someone's position.

    ``side`` is the side of that order: ``SELL`` means a long was liquidated.
    """

    instrument: Instrument
    ts_event: int
    ts_recv: int
    side: OrderSide
    price: int
    size: int


class OpenInterest(msgspec.Struct, frozen=True, gc=False):
    """Total open contracts of a derivative, in lots of ``instrument`` (one side counted)."""

    instrument: Instrument
    ts_event: int
    ts_recv: int
    size: int


MarketEvent: TypeAlias = (Trade | Quote | BookDelta | BookSnapshot | MarkPrice | FundingRate
                          | Liquidation)
"""What a venue parser makes of market data (and what a live feed passes on)."""
