"""MEXC futures (contract) market data: WebSocket text to heron events.

:class:`MexcParser` turns ``wss://contract.mexc.com/edge`` pushes (deals, depth, ticker,
funding rate, fair price) and REST depth snapshots into heron events;
:data:`BOOK_SEQUENCE` is what continuity of its book means (``version`` goes up by one per
push). MEXC spot's protobuf stream is not parsed. See :mod:`heron.venues.mexc.parse`.
"""

from heron.venues.mexc.parse import BOOK_SEQUENCE, BadKind, BadMessage, MexcParser

__all__ = ["BOOK_SEQUENCE", "BadKind", "BadMessage", "MexcParser"]
