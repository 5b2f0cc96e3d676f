"""Bybit v5 public market data (linear and spot): WebSocket text to heron events.

:class:`BybitParser` turns live WebSocket messages and Bybit's order-book archive lines
(the same text) into heron events; :data:`BOOK_SEQUENCE` is what continuity of its book
messages means (``u`` goes up by one per message). See :mod:`heron.venues.bybit.parse`.
"""

from heron.venues.bybit.parse import BOOK_SEQUENCE, BadKind, BadMessage, BybitParser

__all__ = ["BOOK_SEQUENCE", "BadKind", "BadMessage", "BybitParser"]
