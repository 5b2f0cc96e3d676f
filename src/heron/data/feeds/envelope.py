"""One JSON Lines envelope for every venue's market data (``heron feed``'s output).

Each line is one event::

    {"venue": "okx", "symbol": "BTC-USDT-SWAP", "stream": "trades",
     "type": "trade", "ts_event": 1715000000123000000, "ts_recv": 1715000000125000000,
     "data": {"price": "61800.2", "size": "0.014", "aggressor": "buy", "trade_id": "42"}}

``symbol`` is the venue's own id (the catalog's name for it); ``type`` says what
``data`` holds: ``trade``, ``quote`` (bid, ask, bid_size, ask_size, sequence),
``book_snapshot`` (bids, asks: ``[[price, size], ...]`` best first; sequence),
``book_delta`` (side, price, size -- zero, e.g. ``"0.000"``, removes the level --,
sequence, first_sequence, prev_sequence, is_last), ``funding`` (rate, applying at
``ts_event``), ``mark`` (mark, index), ``liquidation`` (side of the forced order, price, size) and
``health`` (the feed's own state: see :class:`~heron.model.feed.FeedHealth`; stream is
the subscription's, ts_event = ts_recv = when it was measured). Prices and sizes are
decimal strings, exact: the instrument's ticks and lots written out, never floats.
Times are integer nanoseconds since the epoch, UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from heron.data.download_venues import VENUES
from heron.model.data import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth
from heron.model.instrument import Instrument

_encoder = msgspec.json.Encoder()
_VENUE_NAMES = {catalog: cli for cli, catalog in VENUES.items()}  # BINANCE_USDM -> binanceusdm


class _Texts:
    """Ticks/lots -> decimal text for one instrument, each value written once."""

    __slots__ = ("price", "size")

    def __init__(self, inst: Instrument) -> None:
        self.price = _writer(inst.price_precision, inst.tick_raw)
        self.size = _writer(inst.size_precision, inst.lot_raw)


def _writer(places: int, step: int) -> Callable[[int], str]:
    cache: dict[int, str] = {}

    def text(units: int) -> str:
        out = cache.get(units)
        if out is None:
            out = str(Decimal(units * step).scaleb(-places)) if places else str(units * step)
            if "E" in out:
                out = format(Decimal(units * step).scaleb(-places), "f")
            if len(cache) < 1 << 16:
                cache[units] = out
        return out
    return text


class EnvelopeWriter:
    """Encodes heron events as envelope lines (bytes, newline included)."""

    def __init__(self) -> None:
        self._texts: dict[str, _Texts] = {}

    def _of(self, inst: Instrument) -> _Texts:
        texts = self._texts.get(inst.id)
        if texts is None:
            texts = self._texts[inst.id] = _Texts(inst)
        return texts

    def encode(self, event: Any) -> bytes:
        """One line for ``event``; a type the envelope does not know is a TypeError."""
        if isinstance(event, FeedHealth):
            return _line(event.venue, event.symbol, event.stream, "health", event.ts, event.ts,
                         {"state": event.state.value, "reason": event.reason,
                          "last_message_age_ns": event.last_message_age_ns,
                          "messages": event.messages, "reconnects": event.reconnects,
                          "gaps": event.gaps, "parse_errors": event.parse_errors})
        convert = _DATA.get(type(event)) or next(  # a venue's subclass of a model type
            (f for model, f in _DATA.items() if isinstance(event, model)), None)
        if convert is None:
            raise TypeError(f"the feed envelope has no line for a {type(event).__name__}")
        inst: Instrument = event.instrument
        kind, stream, data = convert(event, self._of(inst))
        venue = _VENUE_NAMES.get(inst.venue, inst.venue)
        return _line(venue, inst.symbol, stream, kind, event.ts_event, event.ts_recv, data)


def _line(venue: str, symbol: str, stream: str, kind: str, ts_event: int, ts_recv: int,
          data: dict[str, Any]) -> bytes:
    return _encoder.encode({"venue": venue, "symbol": symbol, "stream": stream, "type": kind,
                            "ts_event": ts_event, "ts_recv": ts_recv, "data": data}) + b"\n"


def _trade(e: Trade, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "trade", "trades", {"price": t.price(e.price), "size": t.size(e.size),
                               "aggressor": e.aggressor, "trade_id": e.trade_id}


def _quote(e: Quote, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "quote", "quotes", {"bid": t.price(e.bid), "ask": t.price(e.ask),
                               "bid_size": t.size(e.bid_size), "ask_size": t.size(e.ask_size),
                               "sequence": e.sequence}


def _snapshot(e: BookSnapshot, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    price, size = t.price, t.size
    return "book_snapshot", "book", {
        "bids": [[price(p), size(s)] for p, s in e.bids],
        "asks": [[price(p), size(s)] for p, s in e.asks], "sequence": e.sequence}


def _delta(e: BookDelta, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "book_delta", "book", {
        "side": e.side.value, "price": t.price(e.price), "size": t.size(e.size),
        "sequence": e.sequence, "first_sequence": e.first_sequence,
        "prev_sequence": e.prev_sequence, "is_last": e.is_last}


def _funding(e: FundingRate, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "funding", "funding", {"rate": e.rate}


def _mark(e: MarkPrice, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "mark", "mark", {"mark": t.price(e.mark),
                            "index": None if e.index is None else t.price(e.index)}


def _liquidation(e: Liquidation, t: _Texts) -> tuple[str, str, dict[str, Any]]:
    return "liquidation", "liquidations", {"side": e.side.value.lower(),
                                           "price": t.price(e.price), "size": t.size(e.size)}


_DATA: dict[type, Callable[[Any, _Texts], tuple[str, str, dict[str, Any]]]] = {
    Trade: _trade, Quote: _quote, BookSnapshot: _snapshot, BookDelta: _delta,
    FundingRate: _funding, MarkPrice: _mark, Liquidation: _liquidation,
}
