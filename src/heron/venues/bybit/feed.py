"""Bybit v5 live market data through ccxt.pro: linear perpetuals, and spot beside them.

ccxt connects to Bybit's public socket of the market's category (``/v5/public/linear``,
``/v5/public/spot``: the URL its ``urls['api']['ws']`` names, ``{hostname}`` filled in),
sends the subscribe requests and the ``{"op": "ping"}`` keep-alive; heron's
:class:`~heron.venues.bybit.parse.BybitParser` reads the frames. Streams:

* trades: ``publicTrade`` through ccxt's ``watch_trades``;
* quotes: ``orderbook.1`` through ``watch_bids_asks`` (Bybit's own best bid and ask);
* book: ``orderbook.500`` (linear) or ``orderbook.200`` (spot), subscribed with Bybit's
  own request on ccxt's URL: ccxt's ``watch_order_book`` takes depths 1, 50, 200 and
  1000 for every category, so it refuses 500 on linear, the depth of Bybit's own
  order-book archive (the recorded ``orderbook.500`` files): live and archived books are
  the same depth. Bybit sends a snapshot on subscribe and ``u`` goes up by one per
  message (:data:`~heron.venues.bybit.parse.BOOK_SEQUENCE`); on a gap the session fails
  the socket and the new subscription's snapshot starts the book again. No REST;
* mark and funding (linear): ``tickers`` through ``watch_ticker``, one subscription for
  the two;
* liquidations (linear): ``allLiquidation`` through ``watch_liquidations`` (ccxt's
  default topic for it: every liquidation, where the older ``liquidation`` topic sent at
  most one a second per symbol).

**One category per adapter.** Spot and linear share names (``BTCUSDT`` is both) and the
messages do not say which socket they came on, so one parser reads one category, and
each adapter loads only its category's markets (``fetchMarkets.types``): ``bybit`` the
linear ones (so ``BTCUSDT`` means the perpetual), :class:`BybitSpotAdapter` the spot
ones. A feed of both is two venue requests. Loading one category also spares ccxt's
default of inverse contracts and six option chains, requests on every start for
markets heron does not hold. ccxt's currency list is a private endpoint it skips
without API keys; heron passes none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.bybit.parse import BOOK_SEQUENCE, BybitParser


def _markets_of(category: str) -> Mapping[str, Any]:
    """ccxt options that load one Bybit category's markets."""
    return {"options": {"fetchMarkets": {"types": [category]}}}


class BybitAdapter(VenueAdapter):
    """Bybit linear perpetuals (USDT and USDC margined)."""

    name: ClassVar[str] = "bybit"
    ccxt_id: ClassVar[str] = "bybit"
    streams: ClassVar[frozenset[Stream]] = frozenset(Stream)
    book_rule: ClassVar[SequenceRule | None] = BOOK_SEQUENCE
    rest_book_snapshot: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Any]] = _markets_of("linear")
    watch: ClassVar[Mapping[Stream, str]] = {
        Stream.TRADES: "watch_trades", Stream.QUOTES: "watch_bids_asks",
        Stream.MARK: "watch_ticker", Stream.FUNDING: "watch_ticker",
        Stream.LIQUIDATIONS: "watch_liquidations"}
    #: levels a side of the subscribed book (Bybit: 1/50/200/500 linear, 1/50/200/1000 spot)
    book_depth: ClassVar[int] = 500

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        return BybitParser(instruments)

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        if stream is Stream.BOOK:
            await self._watch_book(exchange, market)
        else:
            await super().subscribe(exchange, stream, market)

    async def _watch_book(self, exchange: Any, market: Mapping[str, Any]) -> None:
        """``orderbook.<depth>.<id>`` with the request ccxt's ``watch_topics`` would send,
        on the URL ccxt picks for the market."""
        topic = f"orderbook.{self.book_depth}.{market['id']}"
        url = await exchange.get_url_by_market_type(market["symbol"], False, "watchOrderBook")
        request_id = exchange.request_id()
        request = {"op": "subscribe", "req_id": request_id, "args": [topic]}
        # ccxt matches a refusal to its subscription by ``id``: give it one
        subscription = {"id": request_id, "topics": [topic]}
        key = f"heron:{topic}"
        await exchange.watch(url, key, request, key, subscription)


class BybitSpotAdapter(BybitAdapter):
    """Bybit spot pairs: trades, book and quotes (a spot market has nothing else)."""

    name: ClassVar[str] = "bybitspot"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {Stream.TRADES, Stream.BOOK, Stream.QUOTES})
    unavailable: ClassVar[Mapping[Stream, str]] = {
        Stream.MARK: "a mark price is a derivatives price: ask --venue bybit for the "
                     "perpetual (BTC/USDT:USDT)",
        Stream.FUNDING: "spot pays no funding: ask --venue bybit for the perpetual "
                        "(BTC/USDT:USDT)",
        Stream.LIQUIDATIONS: "Bybit publishes liquidations of derivatives positions only: "
                             "ask --venue bybit for the perpetual (BTC/USDT:USDT)",
    }
    options: ClassVar[Mapping[str, Any]] = _markets_of("spot")
    book_depth: ClassVar[int] = 200
