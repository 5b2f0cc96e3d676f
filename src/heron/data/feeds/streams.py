"""The market-data streams a live feed can subscribe to, named as users type them."""

from __future__ import annotations

import enum

from heron.errors import InputError
from heron.model.data import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    Quote,
    Trade,
)


class Stream(enum.StrEnum):
    TRADES = "trades"
    BOOK = "book"              # L2: a snapshot, then deltas (sequence-checked)
    QUOTES = "quotes"          # best bid and ask
    FUNDING = "funding"        # the predicted rate of the next funding
    MARK = "mark"              # mark (and index) price
    LIQUIDATIONS = "liquidations"


STREAM_OF: dict[type, Stream] = {
    Trade: Stream.TRADES, BookDelta: Stream.BOOK, BookSnapshot: Stream.BOOK,
    Quote: Stream.QUOTES, FundingRate: Stream.FUNDING, MarkPrice: Stream.MARK,
    Liquidation: Stream.LIQUIDATIONS,
}
"""Which stream an event belongs to (parsers return events; health is kept per stream)."""


def parse_streams(text: str) -> list[Stream]:
    """``"trades,book"`` -> streams, in the order given, each once."""
    out: list[Stream] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        try:
            stream = Stream(name)
        except ValueError:
            known = ", ".join(s.value for s in Stream)
            raise InputError(f"unknown stream {name!r}; choose from {known}") from None
        if stream not in out:
            out.append(stream)
    if not out:
        raise InputError("no stream given; pass --streams trades,book,... ")
    return out
