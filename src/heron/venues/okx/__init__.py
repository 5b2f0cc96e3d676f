"""OKX v5: public WebSocket market data into heron events.

:class:`OkxParser` turns live frames and recorded captures into heron events
(:mod:`heron.venues.okx.parse`); :data:`BOOK_SEQUENCE` is what continuity of OKX book
pushes means (``prevSeqId`` links, allowing the reset after maintenance).
"""

from heron.venues.okx.parse import (
    BOOK_SEQUENCE,
    BadKind,
    BadMessage,
    OkxParser,
    OkxSequence,
)

__all__ = ["BOOK_SEQUENCE", "BadKind", "BadMessage", "OkxParser", "OkxSequence"]
