"""MEXC futures (contract) live market data through ccxt.pro.

ccxt.pro's ``mexc`` connects to the swap socket (``urls['api']['ws']['swap']``,
``wss://contract.mexc.com/edge``), sends the subscriptions and keeps the connection alive
(a ``{"method": "ping"}`` every 8 s, answered ``{"channel": "pong", ...}``; MEXC closes a
connection that sends none for a minute); heron's
:class:`~heron.venues.mexc.parse.MexcParser` reads the frames. Streams, all on that one
connection:

* trades: ``sub.deal`` (``watch_trades``);
* book: ``sub.depth`` diffs on a REST snapshot (``GET /api/v1/contract/depth/{symbol}``),
  continuous by ``version`` (each push is the previous one's version + 1);
* mark: ``sub.ticker`` (``watch_ticker``): the fair (mark) price with the index price,
  about once a second. ``push.fair.price`` has no index, so the ticker is the richer one;
* funding: ``sub.funding.rate`` (``watch_funding_rate``): the rate of the next settlement.

The book is subscribed with ccxt's URL and MEXC's own request, not through
``watch_order_book``: that would make ccxt keep a float book of its own and, once 25
diffs are cached, fetch a REST snapshot for it. The REST snapshot heron needs is
fetched raw (see :meth:`MexcAdapter.book_snapshot`): ccxt's implicit
``contractPublicGetDepthSymbol`` decodes the body with floats, and the parser wants
each number's own text.

MEXC spot is not offered: its WebSocket sends protobuf frames, which heron does not parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp

from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.mexc.parse import BOOK_SEQUENCE, MexcParser
from heron.venues.wire import BadMessage

# ccxt's implicit-API entry for the contract depth (ccxt/mexc.py, api.contract.public.get)
_DEPTH_PATH = "depth/{symbol}"
_DEPTH_API = ["contract", "public"]
_DEPTH_COST = 2  # that entry's rate-limit weight in ccxt's table
_ERROR_TEXT = 200  # characters of a failed snapshot reply quoted in the error

_SPOT = ("MEXC spot's WebSocket sends protobuf frames, which heron does not parse; "
         "heron streams MEXC futures (contract) markets only, e.g. BTC/USDT:USDT")


class MexcAdapter(VenueAdapter):
    name: ClassVar[str] = "mexc"
    ccxt_id: ClassVar[str] = "mexc"
    streams: ClassVar[frozenset[Stream]] = frozenset(
        {Stream.TRADES, Stream.BOOK, Stream.MARK, Stream.FUNDING})
    unavailable: ClassVar[Mapping[Stream, str]] = {
        Stream.QUOTES: (
            "MEXC futures publishes no best bid/ask stream with sizes (the ticker's "
            "bid1/ask1 come without sizes, about once a second); the top of book is in "
            "the book stream"),
        Stream.LIQUIDATIONS: (
            "MEXC futures has no public liquidation channel (forced orders appear only "
            "in a logged-in account's own pushes)"),
    }
    book_rule: ClassVar[SequenceRule | None] = BOOK_SEQUENCE
    rest_book_snapshot: ClassVar[bool] = True
    watch: ClassVar[Mapping[Stream, str]] = {
        Stream.TRADES: "watch_trades", Stream.MARK: "watch_ticker",
        Stream.FUNDING: "watch_funding_rate"}

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        return MexcParser(instruments)

    def native_symbol(self, market: Mapping[str, Any]) -> str:
        """The contract symbol (``BTC_USDT``, ccxt's swap market id); spot is refused.

        ccxt loads MEXC's spot markets beside the contracts, so ``BTC/USDT`` resolves;
        this is the first place the session asks about the market, and where the user
        learns why it cannot be streamed.
        """
        if market.get("spot"):
            raise InputError(f"mexc {market.get('symbol')}: {_SPOT}")
        return str(market["id"])

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        if stream is Stream.BOOK:
            await self._watch_depth(exchange, market)
        else:
            await super().subscribe(exchange, stream, market)

    async def _watch_depth(self, exchange: Any, market: Mapping[str, Any]) -> None:
        """``sub.depth`` as ccxt's ``watch_order_book`` sends it (``watch_swap_public``),
        under a message hash of heron's own so that ccxt's book handling never starts."""
        url = exchange.urls["api"]["ws"]["swap"]
        request = {"method": "sub.depth", "param": {"symbol": market["id"]}}
        message_hash = f"heron:sub.depth:{market['id']}"
        await exchange.watch(url, message_hash, request, message_hash)

    async def book_snapshot(self, exchange: Any, market: Mapping[str, Any]) -> bytes:
        """The raw body of ``GET /api/v1/contract/depth/{symbol}``, every number as sent.

        The URL, headers and rate limit are ccxt's (``sign`` over its implicit-API entry,
        so an ``--endpoint`` host applies); only the decoding is skipped, because ccxt's
        would turn ``29676.5`` into a binary float. A non-200 answer raises, and the
        session tries again after its backoff; a 200 with ``success: false`` reaches
        the parser, which reports the venue's message.
        """
        request = exchange.sign(_DEPTH_PATH, _DEPTH_API, "GET", {"symbol": market["id"]})
        if exchange.enableRateLimit:
            await exchange.throttle(_DEPTH_COST)
        exchange.open()
        headers = exchange.prepare_request_headers(request["headers"])
        timeout = aiohttp.ClientTimeout(total=exchange.timeout / 1000)
        async with exchange.session.get(request["url"], headers=headers,
                                        timeout=timeout) as response:
            body: bytes = await response.read()
            status = response.status
        if status != 200:
            import ccxt

            text = body[:_ERROR_TEXT].decode(errors="replace")
            raise ccxt.ExchangeNotAvailable(f"mexc depth snapshot: HTTP {status}: {text}")
        return body

    def parse_snapshot(self, parser: FeedParser, raw: bytes, ts_recv: int,
                       market: Mapping[str, Any]) -> list[Any] | BadMessage:
        if not isinstance(parser, MexcParser):
            raise TypeError(f"expected a MexcParser, got {type(parser).__name__}")
        return parser.snapshot(raw, ts_recv, self.native_symbol(market))
