"""Round trips: a position's life from flat back to flat, built from fills.

A fill that flips a position closes the current round trip with the part that brings
it to flat and opens the next with the rest; its fee is split between the two in
proportion to size (half-even on the last raw unit). Funding paid while a trip is open
belongs to that trip. All money is raw ``int``; ``net`` is realised PnL minus fees
plus funding.

Each trip also keeps the lots every order contributed to its entries and to its exits
(``entry_orders``/``exit_orders``, client order id -> lots; a flip's fill counts in both
trips), so that slippage against each order's decision price can be worked out later
from the journal (:mod:`heron.node.round_trip_table`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableSequence
from dataclasses import dataclass, field

from heron.model.fixed import round_raw


@dataclass(slots=True)
class RoundTrip:
    instrument_id: str
    direction: int          # +1 long, -1 short
    entry_ts: int
    entry_qty: int = 0      # lots bought (long) or sold (short) to build the position
    entry_cost: int = 0     # sum(ticks * lots) of entries
    exit_qty: int = 0
    exit_cost: int = 0
    exit_ts: int = 0
    realised: int = 0       # money raw
    fees: int = 0
    funding: int = 0
    fills: int = 0
    closed: bool = False
    entry_orders: dict[str, int] = field(default_factory=dict)  # client order id -> lots
    exit_orders: dict[str, int] = field(default_factory=dict)

    @property
    def net(self) -> int:
        return self.realised - self.fees + self.funding


@dataclass(slots=True)
class RoundTripBook:
    """Open round trips per instrument, and the closed ones in the order they closed."""

    open: dict[str, RoundTrip] = field(default_factory=dict)
    #: every closed trip, or the newest few once :meth:`retain` bounds them
    closed: MutableSequence[RoundTrip] = field(default_factory=list)
    #: trips closed so far, those let go of included (the losing-streak trigger's count)
    closed_count: int = 0

    def retain(self, latest: int) -> None:
        """From now on keep only the newest ``latest`` closed trips in memory.

        A live run that trades all day closes a trip every few orders; the journal holds
        every fill, and ``heron trades`` rebuilds every trip from it."""
        if latest < 1:
            raise ValueError(f"keep at least 1 closed round trip in memory, not {latest}")
        self.closed = deque(self.closed, maxlen=latest)

    def on_fill(self, iid: str, qty_before: int, signed_lots: int, ticks: int, fee: int,
                realised: int, ts: int, order: str = "") -> None:
        """Apply one fill of ``order`` (its client id; ``""`` when not known)."""
        lots = abs(signed_lots)
        trip = self.open.get(iid)
        if trip is None or qty_before == 0:
            self._open(iid, signed_lots, lots, ticks, fee, ts, order)
            return
        if (qty_before > 0) == (signed_lots > 0):
            trip.entry_qty += lots
            trip.entry_cost += lots * ticks
            trip.fees += fee
            trip.fills += 1
            trip.entry_orders[order] = trip.entry_orders.get(order, 0) + lots
            return
        closing = min(lots, abs(qty_before))
        close_fee = fee if closing == lots else round_raw(fee * closing, lots)
        trip.exit_qty += closing
        trip.exit_cost += closing * ticks
        trip.exit_orders[order] = trip.exit_orders.get(order, 0) + closing
        trip.realised += realised
        trip.fees += close_fee
        trip.fills += 1
        if closing == abs(qty_before):
            trip.exit_ts = ts
            trip.closed = True
            self.closed.append(self.open.pop(iid))
            self.closed_count += 1
            if lots > closing:
                self._open(iid, signed_lots, lots - closing, ticks, fee - close_fee, ts, order)

    def _open(self, iid: str, signed: int, lots: int, ticks: int, fee: int, ts: int,
              order: str) -> None:
        self.open[iid] = RoundTrip(iid, 1 if signed > 0 else -1, ts, lots, lots * ticks,
                                   fees=fee, fills=1, entry_orders={order: lots})

    def on_funding(self, iid: str, amount: int) -> None:
        trip = self.open.get(iid)
        if trip is not None:
            trip.funding += amount
