"""OKX v5 live market data through ccxt.pro.

ccxt connects to ``<urls['api']['ws']>/public`` (every public channel on one socket),
sends the subscribe requests and OKX's text ``ping`` every 18 s (OKX closes a connection
silent for 30 s; the ``pong`` passes heron's parser on to ccxt); heron's
:class:`~heron.venues.okx.parse.OkxParser` reads the frames. Streams:

* trades: ``trades`` through ccxt's ``watch_trades`` (one push per taker order and price,
  ``count`` fills aggregated; ``trades-all`` needs a login on the business socket);
* quotes: ``bbo-tbt`` (the best level of each side, tick by tick) through
  ``watch_bids_asks``;
* funding: ``funding-rate`` through ``watch_funding_rate``; mark: ``mark-price`` through
  ``watch_mark_price``;
* book: ``books`` (400 levels a side, a push every 100 ms), subscribed with OKX's own
  request through ``exchange.watch`` on ccxt's URL: ``watch_order_book`` sends the same
  request but would keep a float book of its own in ccxt. OKX answers the subscribe with
  a snapshot, then numbers updates with ``seqId``/``prevSeqId`` (:data:`BOOK_SEQUENCE`);
  on a gap the session fails the connection and the resubscribe brings a new snapshot,
  so there is no REST snapshot. The tick-by-tick ``books-l2-tbt`` and
  ``books50-l2-tbt`` need a logged-in VIP account: not used;
* liquidations: ``liquidation-orders``, which OKX publishes per instrument *type*
  (``{"channel": "liquidation-orders", "instType": "SWAP"}``): subscribed once per type
  through ``exchange.watch`` and shared by every symbol of that type. ccxt's
  ``watch_liquidations_for_symbols`` sends one identical request per symbol instead. The
  parser skips (and counts) the other instruments' forced orders rather than calling
  them errors. OKX documents at most one forced order per contract per second: a
  sample, not every liquidation.

Funding, mark and liquidations are read for perpetual swaps only: a spot pair has no
funding, and the margin mark price and margin liquidations OKX keeps for some spot pairs
are nothing heron's spot instruments use. :meth:`OkxAdapter.check_market` says so.

Markets: ccxt loads spot, swap and futures lists (``fetchMarkets.types``), not options:
heron holds spot pairs and linear perpetuals, and the option lists are two more requests
(one per underlying) of thousands of instruments it would refuse. Futures stay so that
asking for one says why it is refused rather than that it does not exist. The messages'
``instId`` (``BTC-USDT-SWAP``, ``BTC-USDT``) is ccxt's market id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.okx.parse import BOOK_SEQUENCE, OkxParser

#: streams heron reads from OKX for perpetual swaps only (see check_market)
SWAP_ONLY: frozenset[Stream] = frozenset({Stream.FUNDING, Stream.MARK, Stream.LIQUIDATIONS})

#: the ``liquidation-orders`` instrument type of every market that passes ``check_market``
_SWAP = "SWAP"


class OkxAdapter(VenueAdapter):
    name: ClassVar[str] = "okx"
    ccxt_id: ClassVar[str] = "okx"
    streams: ClassVar[frozenset[Stream]] = frozenset(Stream)
    book_rule: ClassVar[SequenceRule | None] = BOOK_SEQUENCE
    rest_book_snapshot: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Any]] = {
        "options": {"fetchMarkets": {"types": ["spot", "swap", "future"]}}}
    watch: ClassVar[Mapping[Stream, str]] = {
        Stream.TRADES: "watch_trades", Stream.QUOTES: "watch_bids_asks",
        Stream.FUNDING: "watch_funding_rate", Stream.MARK: "watch_mark_price"}

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        return OkxParser(instruments, skip_unheld_liquidations=True)

    def check_market(self, stream: Stream, market: Mapping[str, Any]) -> None:
        """Refuse a stream OKX does not publish for this kind of market."""
        if stream in SWAP_ONLY and not market.get("swap"):
            raise InputError(
                f"okx has no {stream.value} stream for {market.get('symbol')} "
                f"({market.get('type')}): funding, mark and liquidations are read for "
                "perpetual swaps (e.g. BTC/USDT:USDT) only")

    async def subscribe(self, exchange: Any, stream: Stream, market: Mapping[str, Any]) -> None:
        self.check_market(stream, market)
        if stream is Stream.BOOK:
            await self._watch(exchange, {"channel": "books", "instId": market["id"]},
                              f"heron:books:{market['id']}")
        elif stream is Stream.LIQUIDATIONS:
            arg = {"channel": "liquidation-orders", "instType": _SWAP}
            shared = f"heron:liquidation-orders:{_SWAP}"
            await self._watch(exchange, arg, f"{shared}:{market['id']}", shared)
        else:
            await super().subscribe(exchange, stream, market)

    @staticmethod
    async def _watch(exchange: Any, arg: Mapping[str, str], message_hash: str,
                     subscribe_hash: str | None = None) -> None:
        """Send OKX's ``{"op": "subscribe", "args": [arg]}`` on ccxt's public socket.

        ccxt sends a request once per ``subscribe_hash`` and connection, so symbols that
        share one (liquidations of a type) share one subscription; each still waits on
        its own ``message_hash``. Nothing resolves it: heron's parser takes the data.
        """
        url = exchange.get_url(arg["channel"], "public")
        request = {"op": "subscribe", "args": [dict(arg)]}
        await exchange.watch(url, message_hash, request, subscribe_hash or message_hash)
