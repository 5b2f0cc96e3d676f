"""The feed seam: what a venue supplies so that one feed engine can run it live.

A live feed is ccxt.pro's client code (connection, the venue's URLs and subscribe
handshakes, pings) with heron's own parser on the incoming frames: ccxt turns every
price into a float and keeps its own book, which is neither exact nor fast enough for
an L2 stream, so :mod:`heron.data.feeds.tap` hands each frame to the venue's
:class:`FeedParser` first and passes on to ccxt only what is not market data
(subscription answers, pongs), which ccxt's futures and keep-alive need.

A venue's :class:`VenueAdapter` says which streams it has (and why not the others),
how to make ccxt subscribe to each (the ccxt method, :attr:`VenueAdapter.watch`, or a
request of its own), how its book is sequenced, and how to fetch a REST book snapshot
where the socket does not send one.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.wire import BadKind, BadMessage

if TYPE_CHECKING:
    from heron.data.feeds.session import FeedOptions, LiveSession


#: ccxt.pro watch methods that take a list of symbols rather than one
_SYMBOL_LISTS = frozenset({"watch_bids_asks"})


class FeedParser(Protocol):
    """A venue's frame parser (``heron.venues.<venue>.parse``)."""

    bad: Counter[BadKind]

    def parse(self, raw: bytes | str, ts_recv: int
              ) -> list[Any] | BadMessage | None:  # events, why not, or a control frame
        ...


class VenueAdapter:
    """One venue's answers to the feed engine; subclasses live in ``venues/<venue>/feed.py``.

    ``streams`` are the streams the venue publishes; ``unavailable`` maps the others to
    the reason, which is what a user asking for them is told. ``watch`` names the ccxt.pro
    method that subscribes a stream; a stream subscribed some other way (a book under a
    message hash of heron's own, so that ccxt keeps no book) is the venue's
    :meth:`subscribe` override's, which hands the others on to this one.
    """

    name: ClassVar[str]                      # heron's venue name (the CLI's --venue)
    ccxt_id: ClassVar[str]                   # the ccxt.pro exchange class
    streams: ClassVar[frozenset[Stream]]
    unavailable: ClassVar[Mapping[Stream, str]] = {}
    book_rule: ClassVar[SequenceRule | None] = None   # None: every book message is whole
    rest_book_snapshot: ClassVar[bool] = False        # the socket sends no book snapshot
    options: ClassVar[Mapping[str, Any]] = {}         # ccxt constructor options
    watch: ClassVar[Mapping[Stream, str]] = {}        # stream -> ccxt.pro watch method

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        """A parser for ``instruments``, keyed by the venue's own symbol (market id)."""
        raise NotImplementedError

    def native_symbol(self, market: Mapping[str, Any]) -> str:
        """The symbol the venue's messages carry for a ccxt ``market``."""
        return str(market["id"])

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        """Make ccxt send the subscription; returns or raises when the connection ends.

        Since heron's parser takes the data frames, ccxt's ``watch_*`` futures only ever
        finish with an error (the connection dropped): that is the signal to reconnect.
        This one calls the method :attr:`watch` names, with the market's unified symbol.
        """
        method = self.watch.get(stream)
        if method is None:  # a stream added to heron and not to this adapter: never spin on it
            raise InputError(f"{self.name}: heron has no subscription for {stream.value} yet")
        symbol = market["symbol"]
        await getattr(exchange, method)([symbol] if method in _SYMBOL_LISTS else symbol)

    async def book_snapshot(self, exchange: Any, market: Mapping[str, Any]
                            ) -> bytes:  # pragma: no cover - venues with rest_book_snapshot
        """The raw REST book body, for venues whose socket sends only diffs."""
        raise NotImplementedError

    def parse_snapshot(self, parser: FeedParser, raw: bytes, ts_recv: int,
                       market: Mapping[str, Any]) -> list[Any] | BadMessage:
        raise NotImplementedError

    def session(self, symbols: Sequence[str], streams: Sequence[Stream],
                emit: Callable[[object], None], options: FeedOptions) -> LiveSession:
        """The session that runs this venue live: ccxt.pro's
        :class:`~heron.data.feeds.session.VenueSession`, unless the venue is reached through
        a client library of its own (Alpaca's US equities: alpaca-py)."""
        from heron.data.feeds.session import VenueSession

        return VenueSession(self, symbols, streams, emit, options)

    def check_market(self, stream: Stream, market: Mapping[str, Any]) -> None:
        """Refuse (``InputError``) a stream this market does not have (a spot pair's
        funding); checked at start, before anything is subscribed."""

    def check_stream(self, stream: Stream) -> None:
        if stream in self.streams:
            return
        reason = self.unavailable.get(stream, "heron does not read it from this venue yet")
        raise InputError(f"{self.name} has no {stream.value} stream: {reason}")


# venue name -> "module:Class"; imported on first use so that `heron feed --venue okx`
# does not import every venue's parser.
ADAPTERS: Mapping[str, str] = {
    "binanceusdm": "heron.venues.binance.feed:BinanceUsdmAdapter",
    "okx": "heron.venues.okx.feed:OkxAdapter",
    "bybit": "heron.venues.bybit.feed:BybitAdapter",
    "bybitspot": "heron.venues.bybit.feed:BybitSpotAdapter",
    "hyperliquid": "heron.venues.hyperliquid.feed:HyperliquidAdapter",
    "mexc": "heron.venues.mexc.feed:MexcAdapter",
    "alpaca": "heron.venues.alpaca.feed:AlpacaCryptoAdapter",
    "alpaca-stocks": "heron.venues.alpaca.stocks:AlpacaStocksAdapter",
    "alpaca-stocks-sip": "heron.venues.alpaca.stocks:AlpacaSipAdapter",
}


def adapter_for(venue: str) -> VenueAdapter:
    """The adapter of ``venue``; an unknown name lists the known ones."""
    target = ADAPTERS.get(venue)
    if target is None:
        raise InputError(f"unknown venue {venue!r}; choose from {', '.join(ADAPTERS)}")
    module, _, name = target.partition(":")
    cls: type[VenueAdapter] = getattr(importlib.import_module(module), name)
    return cls()
