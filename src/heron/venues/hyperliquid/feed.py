"""Hyperliquid perpetuals live market data through ccxt.pro.

ccxt connects to ``urls['api']['ws']['public']`` (one socket for everything) and keeps
it alive (``{"method": "ping"}``, answered ``{"channel": "pong"}``); heron's
:class:`~heron.venues.hyperliquid.parse.HyperliquidParser` reads the frames. Streams,
each one subscription per coin:

* trades: ``trades``;
* book: ``l2Book``, every message the whole top 20 levels a side, so there is no
  sequence to keep (``book_rule`` ``None``) and no REST snapshot;
* quotes: ``bbo``;
* mark and funding: both from ``activeAssetCtx`` (one subscription for the two).

Every request is Hyperliquid's own ``{"method": "subscribe", "subscription": {"type":
..., "coin": ...}}``, sent through ``exchange.watch`` on ccxt's socket, not through
ccxt's ``watch_trades``/``watch_order_book``/``watch_ticker``: ccxt has nothing for
``bbo``, and across the ccxt versions heron accepts (``>=4.4``) those methods send
different things. Older ones name the coin by ccxt's ``base`` (``KPEPE`` where the
venue's coin is ``kPEPE``: a refused subscription) and watch tickers through
``webData2``, every coin's context in one message; recent ones (4.5) send exactly the
requests heron sends. None of them fetches a REST book, and since ccxt never sees a
data frame it keeps no book of its own either way.

Liquidations are not published: Hyperliquid has no public liquidation channel.

Messages carry the coin name (``BTC``) where ccxt's market id is the asset number
(``0``): :meth:`HyperliquidAdapter.native_symbol` gives the coin, as the catalog files
it. Markets are loaded for the main perp dex only (``fetchMarkets.types``): spot pairs
and builder-deployed (HIP-3) perps would add a request per dex to every start, and a
failure of any one of them would stop the feed of the others.

Venue ``error`` messages (a refused subscription) are heron's to log, not ccxt's: the
parser takes every frame that is not an acknowledgement or a pong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from heron.data.download_venues import catalog_symbol
from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.hyperliquid.parse import BOOK_SEQUENCE, HyperliquidParser

_CHANNEL = {Stream.TRADES: "trades", Stream.BOOK: "l2Book", Stream.QUOTES: "bbo",
            Stream.MARK: "activeAssetCtx", Stream.FUNDING: "activeAssetCtx"}
_NO_LIQUIDATIONS = ("Hyperliquid has no public liquidation channel: a liquidation shows "
                    "only in the liquidated user's own fills, and in the trades stream as "
                    "an ordinary, unflagged trade")


class HyperliquidAdapter(VenueAdapter):
    name: ClassVar[str] = "hyperliquid"
    ccxt_id: ClassVar[str] = "hyperliquid"
    streams: ClassVar[frozenset[Stream]] = frozenset(_CHANNEL)
    unavailable: ClassVar[Mapping[Stream, str]] = {Stream.LIQUIDATIONS: _NO_LIQUIDATIONS}
    book_rule: ClassVar[SequenceRule | None] = BOOK_SEQUENCE
    rest_book_snapshot: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Any]] = {"options": {"fetchMarkets": {"types": ["swap"]}}}

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        return HyperliquidParser(instruments)

    def native_symbol(self, market: Mapping[str, Any]) -> str:
        """The coin name (``BTC``): ccxt's perp market id is the asset number."""
        return catalog_symbol(self.name, market)

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        """Subscribe the stream's channel for the market's coin, as Hyperliquid documents
        it, on the socket ccxt uses for everything (its keep-alive and reconnects apply).
        Mark and funding send the same request under the same key: ccxt sends it once."""
        channel = _CHANNEL[stream]
        coin = self.native_symbol(market)
        request = {"method": "subscribe", "subscription": {"type": channel, "coin": coin}}
        key = f"heron:{channel}:{coin}"
        await exchange.watch(exchange.urls["api"]["ws"]["public"], key, request, key)
