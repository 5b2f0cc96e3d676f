"""Alpaca crypto live market data through ccxt.pro.

ccxt.pro's ``alpaca`` connects, authenticates (``{"action": "auth", "key", "secret"}``,
answered ``[{"T": "success", "msg": "authenticated"}]``) and subscribes (``{"action":
"subscribe", "trades": ["BTC/USD"]}``, one request per stream); heron's
:class:`~heron.venues.alpaca.parse.AlpacaParser` reads the frames. Streams:

* trades: ``trades`` (``watch_trades``), with the taker side;
* quotes: ``quotes`` (``watch_ticker``): best bid and ask with sizes;
* book: ``orderbooks`` (``watch_order_book``): the whole book (``"r": true``) on every
  subscription, then changed levels. Alpaca numbers nothing, so the parser numbers the
  book records itself (:data:`~heron.venues.alpaca.parse.BOOK_SEQUENCE`); a hole is a
  record it could not use, and the session resubscribes for a new whole book.

ccxt never sees a data frame, so its watch methods keep no float book and fetch
nothing. Alpaca crypto is spot only: no funding, mark price or liquidations.

**URLs.** ccxt 4.5 still points at ``wss://stream.data.alpaca.markets/v1beta2/crypto``;
Alpaca serves ``v1beta3/crypto/us`` now (its own exchange's data), and ccxt reads
``urls['api']['ws']['crypto']`` on every watch call, so :data:`CRYPTO_STREAM` goes in
through the constructor options. ccxt lists the markets with ``GET
/v2/assets?asset_class=crypto&status=active`` on the *trading* API
(``urls['api']['trader']``, authenticated): :func:`~heron.venues.alpaca.trading.keys`
and :func:`~heron.venues.alpaca.trading.trading_url`.

**Alpaca's error frames.** ``[{"T": "error", "code": 402, "msg": "auth failed"}]`` is a
:class:`~heron.venues.wire.BadKind` ``VENUE_ERROR`` to the parser: the session counts it
and hands the frame on to ccxt, whose ``handle_error_message`` raises an
``ExchangeError``; heron's tap then fails the connection (:mod:`heron.data.feeds.tap`), so
a refused login does not leave ``authenticate`` waiting, and the session reconnects after
its backoff with Alpaca's code and text as the reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from heron.data.feeds.adapter import FeedParser, VenueAdapter
from heron.data.feeds.streams import Stream
from heron.model.book import SequenceRule
from heron.model.instrument import Instrument
from heron.venues.alpaca.parse import BOOK_SEQUENCE, AlpacaParser
from heron.venues.alpaca.trading import keys, trading_url

__all__ = ["CRYPTO_STREAM", "AlpacaCryptoAdapter"]

CRYPTO_STREAM = "wss://stream.data.alpaca.markets/v1beta3/crypto/us"
_SPOT = "Alpaca crypto is spot only: it has no {what}"


class _CcxtOptions(Mapping[str, Any]):
    """ccxt's constructor options, read when the session builds its exchange.

    The adapter's ``options`` are shared by the class; the keys are read from the
    environment when they are asked for, so a session started after the keys were set
    gets them.
    """

    def _now(self) -> dict[str, Any]:
        return {"urls": {"api": {"trader": trading_url(), "ws": {"crypto": CRYPTO_STREAM}}},
                **keys()}

    def __getitem__(self, key: str) -> Any:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())


class AlpacaCryptoAdapter(VenueAdapter):
    name: ClassVar[str] = "alpaca"
    ccxt_id: ClassVar[str] = "alpaca"
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.TRADES, Stream.QUOTES, Stream.BOOK})
    unavailable: ClassVar[Mapping[Stream, str]] = {
        Stream.FUNDING: _SPOT.format(what="funding"),
        Stream.MARK: _SPOT.format(what="mark or index price"),
        Stream.LIQUIDATIONS: _SPOT.format(what="liquidations"),
    }
    book_rule: ClassVar[SequenceRule | None] = BOOK_SEQUENCE
    rest_book_snapshot: ClassVar[bool] = False  # every subscription starts with the whole book
    options: ClassVar[Mapping[str, Any]] = _CcxtOptions()
    watch: ClassVar[Mapping[Stream, str]] = {
        Stream.TRADES: "watch_trades", Stream.QUOTES: "watch_ticker",
        Stream.BOOK: "watch_order_book"}

    def __init__(self) -> None:
        keys()  # missing keys fail here, before a session opens anything

    def parser(self, instruments: Mapping[str, Instrument]) -> FeedParser:
        """Keyed by ccxt's market id, which is Alpaca's own symbol (``BTC/USD``)."""
        return AlpacaParser(instruments)
