"""Market events -> catalog rows: the one conversion shared by capture imports and the
live recorder.

A recorded Binance session imported with :mod:`heron.data.importers.captures` and the
same frames recorded live by :mod:`heron.data.recording` must give the same rows, so
both go through these functions. Each returns a frame in the kind's schema
(:mod:`heron.data.schemas`); callers validate it (or let ``Catalog.write`` do it).

Rows per event, and where a column is not a plain field of the event:

``trades``        one per :class:`~heron.model.data.Trade`; ``sequence`` the numeric trade
                  id, or 63 bits of the id's SHA-256 for venues whose ids are not numbers
                  (Bybit's UUIDs): stable, so the same trade recorded twice is one row.
``quotes``        one per :class:`~heron.model.data.Quote` (``sequence``: its update id).
``book_deltas``   one per :class:`~heron.model.data.BookDelta` (side 1 bid, -1 ask).
``book_snapshots`` one per level of each :class:`~heron.model.data.BookSnapshot`
                  (``level`` 0 = best, per side).
``mark``          one per :class:`~heron.model.data.MarkPrice` (the index is not kept).
``funding``       one per funding time (``ts_event``): the *last* rate announced for it,
                  with its receive time. Venues restate the coming rate every second or so;
                  one row per message would apply it many times.
``liquidations``  one per :class:`~heron.model.data.Liquidation`; venues give them no id,
                  so ``sequence`` is the liquidation's place among the instrument's
                  consecutive ones with the same ``ts_event`` (0 for the first:
                  :class:`TieCounter`). It depends on nothing but the events, so a
                  capture imported into the catalog its live recording wrote adds no
                  second copy of a liquidation.

Every kind but funding gives the same rows for the same events however they are cut
into batches; funding keeps the last announcement *within* a batch, so a capture file
of one hour and a recording of a longer run can keep different announcements of one
funding time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal

import polars as pl

from heron.data.schemas import SCHEMAS, DataKind
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    Liquidation,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.orders import OrderSide

__all__ = ["KIND_OF", "TieCounter", "deltas_frame", "funding_frame", "kind_of",
           "liquidations_frame", "marks_frame", "numbered", "quotes_frame", "snapshots_frame",
           "trade_sequence", "trades_frame"]

KIND_OF: dict[type, DataKind] = {
    Trade: DataKind.TRADES, Quote: DataKind.QUOTES, BookDelta: DataKind.BOOK_DELTAS,
    BookSnapshot: DataKind.BOOK_SNAPSHOTS, MarkPrice: DataKind.MARK,
    FundingRate: DataKind.FUNDING, Liquidation: DataKind.LIQUIDATIONS,
}
"""The catalog kind each market event type is stored as."""

_SIDE = {BookSide.BID: 1, BookSide.ASK: -1}
_AGGRESSOR = {"buy": 1, "sell": -1, "": 0}
_ORDER_SIDE = {OrderSide.BUY: 1, OrderSide.SELL: -1}
_MAX_INT64 = 2**63 - 1


def kind_of(event: object) -> DataKind | None:
    """The kind ``event`` is stored as (venue subclasses of a model type included), or
    ``None`` for what the catalog does not hold (health, open interest)."""
    kind = KIND_OF.get(type(event))
    if kind is None:
        kind = next((k for t, k in KIND_OF.items() if isinstance(event, t)), None)
    return kind


def trade_sequence(trade_id: str) -> int:
    """A trade's ``sequence``: its id if a number that fits Int64, else 63 bits of the
    id's SHA-256 (see the module docstring)."""
    if trade_id.isascii() and trade_id.isdigit() and int(trade_id) <= _MAX_INT64:
        return int(trade_id)
    return int.from_bytes(hashlib.sha256(trade_id.encode()).digest()[:8], "big") >> 1


def _frame(kind: DataKind, columns: dict[str, list[object]]) -> pl.DataFrame:
    return pl.DataFrame(columns, schema=SCHEMAS[kind].schema)


def trades_frame(trades: Sequence[Trade]) -> pl.DataFrame:
    return _frame(DataKind.TRADES, {
        "ts_event": [t.ts_event for t in trades], "ts_recv": [t.ts_recv for t in trades],
        "price": [t.price for t in trades], "size": [t.size for t in trades],
        "aggressor": [_AGGRESSOR[t.aggressor] for t in trades],
        "trade_id": [t.trade_id for t in trades],
        "sequence": [trade_sequence(t.trade_id) for t in trades],
    })


def quotes_frame(quotes: Sequence[Quote]) -> pl.DataFrame:
    return _frame(DataKind.QUOTES, {
        "ts_event": [q.ts_event for q in quotes], "ts_recv": [q.ts_recv for q in quotes],
        "bid": [q.bid for q in quotes], "ask": [q.ask for q in quotes],
        "bid_size": [q.bid_size for q in quotes], "ask_size": [q.ask_size for q in quotes],
        "sequence": [q.sequence for q in quotes],
    })


def deltas_frame(deltas: Sequence[BookDelta]) -> pl.DataFrame:
    return _frame(DataKind.BOOK_DELTAS, {
        "ts_event": [d.ts_event for d in deltas], "ts_recv": [d.ts_recv for d in deltas],
        "side": [_SIDE[d.side] for d in deltas], "price": [d.price for d in deltas],
        "size": [d.size for d in deltas], "sequence": [d.sequence for d in deltas],
        "is_last": [d.is_last for d in deltas],
    })


def snapshots_frame(snapshots: Sequence[BookSnapshot]) -> pl.DataFrame:
    columns: dict[str, list[object]] = {name: [] for name in
                                        SCHEMAS[DataKind.BOOK_SNAPSHOTS].schema}
    for snap in snapshots:
        for side, levels in ((1, snap.bids), (-1, snap.asks)):
            n = len(levels)
            columns["ts_event"] += [snap.ts_event] * n
            columns["ts_recv"] += [snap.ts_recv] * n
            columns["sequence"] += [snap.sequence] * n
            columns["side"] += [side] * n
            columns["level"] += range(n)
            columns["price"] += [price for price, _ in levels]
            columns["size"] += [size for _, size in levels]
    return _frame(DataKind.BOOK_SNAPSHOTS, columns)


def marks_frame(marks: Sequence[MarkPrice]) -> pl.DataFrame:
    return _frame(DataKind.MARK, {"ts_event": [m.ts_event for m in marks],
                                  "ts_recv": [m.ts_recv for m in marks],
                                  "price": [m.mark for m in marks]})


def funding_frame(rates: Sequence[FundingRate]) -> pl.DataFrame:
    """One row per funding time: the last of ``rates`` (in arrival order) announced for it."""
    last: dict[int, FundingRate] = {}
    for rate in rates:
        last[rate.ts_event] = rate
    return _frame(DataKind.FUNDING, {
        "ts_event": list(last), "ts_recv": [r.ts_recv for r in last.values()],
        "rate": [Decimal(r.rate) for r in last.values()]})


class TieCounter:
    """Numbers events of one key that share a ``ts_event``: 0, 1, 2 ... while the same
    time repeats, 0 again at the next time. Feed it events in arrival order."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}

    def next(self, key: str, ts_event: int) -> int:
        last_ts, n = self._last.get(key, (None, -1))
        n = n + 1 if last_ts == ts_event else 0
        self._last[key] = (ts_event, n)
        return n


def numbered(liquidations: Sequence[Liquidation]) -> list[tuple[int, Liquidation]]:
    """``(sequence, liquidation)`` pairs for :func:`liquidations_frame`, in order."""
    ties = TieCounter()
    return [(ties.next(x.instrument.id, x.ts_event), x) for x in liquidations]


def liquidations_frame(rows: Sequence[tuple[int, Liquidation]]) -> pl.DataFrame:
    """``rows``: ``(sequence, liquidation)``, numbered by :class:`TieCounter`."""
    return _frame(DataKind.LIQUIDATIONS, {
        "ts_event": [x.ts_event for _, x in rows], "ts_recv": [x.ts_recv for _, x in rows],
        "side": [_ORDER_SIDE[x.side] for _, x in rows], "price": [x.price for _, x in rows],
        "size": [x.size for _, x in rows], "sequence": [seq for seq, _ in rows],
    })
