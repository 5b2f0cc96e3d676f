"""Binance USD-M futures live market data through ccxt.pro.

ccxt subscribes (its stream-per-connection limits and URLs included); heron's
:class:`~heron.venues.binance.parse.BinanceParser` reads the frames. Streams: trades
(``@trade``), quotes (``@bookTicker``), book (``@depth@100ms`` diffs on a REST snapshot,
ids linked by ``pu``), mark price and funding (both from ``@markPrice@1s``: the rate
is the predicted one for the next funding time) and liquidations (``@forceOrder``,
Binance sends at most one per symbol per second: the largest).

The book is subscribed with ccxt's own URL and request but not through
``watch_order_book``: that would also make ccxt fetch and keep a float book of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.model.book import LinkedSequence, SequenceRule
from heron.model.instrument import Instrument
from heron.venues.binance.parse import BinanceParser
from heron.venues.wire import BadMessage

_SNAPSHOT_LEVELS = 1000


class BinanceUsdmAdapter(VenueAdapter):
    name: ClassVar[str] = "binanceusdm"
    ccxt_id: ClassVar[str] = "binanceusdm"
    streams: ClassVar[frozenset[Stream]] = frozenset(Stream)
    book_rule: ClassVar[SequenceRule | None] = LinkedSequence()
    rest_book_snapshot: ClassVar[bool] = True
    watch: ClassVar[Mapping[Stream, str]] = {
        Stream.TRADES: "watch_trades", Stream.QUOTES: "watch_bids_asks",
        Stream.MARK: "watch_mark_price", Stream.FUNDING: "watch_mark_price",
        Stream.LIQUIDATIONS: "watch_liquidations"}

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        return BinanceParser(instruments)

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        if stream is Stream.BOOK:
            await self._watch_depth(exchange, market)
        else:
            await super().subscribe(exchange, stream, market)

    async def _watch_depth(self, exchange: Any, market: Mapping[str, Any]) -> None:
        name = f"{market['lowercaseId']}@depth@100ms"
        url = (exchange.get_ws_url("linear", exchange.get_future_ws_category("depth")) + "/"
               + exchange.stream("linear", name))
        request_id = exchange.request_id(url)
        request = {"method": "SUBSCRIBE", "params": [name], "id": request_id}
        # ccxt indexes subscriptions by id to answer the venue's reply: give it one
        subscription = {"id": str(request_id), "name": "depth", "heron": True}
        await exchange.watch(url, f"heron:{name}", request, f"heron:{name}", subscription)

    async def book_snapshot(self, exchange: Any, market: Mapping[str, Any]) -> bytes:
        body = await exchange.fapiPublicGetDepth({"symbol": market["id"],
                                                  "limit": _SNAPSHOT_LEVELS})
        return msgspec.json.encode(body)

    def parse_snapshot(self, parser: FeedParser, raw: bytes, ts_recv: int,
                       market: Mapping[str, Any]) -> list[Any] | BadMessage:
        assert isinstance(parser, BinanceParser)
        out = parser.parse(raw, ts_recv, symbol=str(market["id"]))
        return out if out is not None else []
