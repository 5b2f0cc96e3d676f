"""Positions: signed size, exact average entry, realised PnL, fees and funding.

A position is netted per instrument, as on a venue in one-way mode. Entries are kept
as first-in-first-out lots so realised PnL is an exact integer: closing ``n`` lots
books ``n * (exit - entry)`` against the oldest entries, with no division anywhere.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from heron.model.instrument import Instrument


class Position:
    """The live position in one instrument. Mutated only by the portfolio.

    ``qty`` is signed lots (+long, -short). ``realised``, ``fees`` and ``funding`` are
    money raw at the run's money precision, summed over the position's whole life.
    """

    __slots__ = ("_entries", "fees", "funding", "instrument", "money_scale", "qty",
                 "realised", "ts_opened")

    def __init__(self, instrument: Instrument, money_scale: int) -> None:
        self.instrument = instrument
        self.money_scale = money_scale  # 10**(money_precision - notional_precision)
        self.qty = 0
        self._entries: deque[list[int]] = deque()  # [lots (unsigned), ticks]
        self.realised = 0
        self.fees = 0
        self.funding = 0
        self.ts_opened = 0

    @property
    def is_flat(self) -> bool:
        return self.qty == 0

    @property
    def is_long(self) -> bool:
        return self.qty > 0

    @property
    def is_short(self) -> bool:
        return self.qty < 0

    @property
    def entry_cost(self) -> int:
        """``sum(lots * ticks)`` of the open entries (unsigned)."""
        return sum(lots * ticks for lots, ticks in self._entries)

    @property
    def avg_entry(self) -> Decimal | None:
        """Average entry price as an exact ``Decimal`` quotient (None when flat)."""
        if not self.qty:
            return None
        ticks = Decimal(self.entry_cost) / Decimal(abs(self.qty))
        return ticks * self.instrument.price_increment

    @property
    def quantity(self) -> Decimal:
        """Signed size as a ``Decimal`` (the strategy-facing form of ``qty``)."""
        return self.instrument.quantity(self.qty)

    def money(self, ticks_times_lots: int) -> int:
        """Money raw of ``ticks * lots`` of this instrument."""
        inst = self.instrument
        return inst.notional_raw(ticks_times_lots, 1) * self.money_scale

    def unrealised(self, mark_ticks: int) -> int:
        """Mark-to-market PnL of the open entries at ``mark_ticks`` (money raw)."""
        if not self.qty:
            return 0
        sign = 1 if self.qty > 0 else -1
        return self.money(sign * (mark_ticks * abs(self.qty) - self.entry_cost))

    def apply_fill(self, signed_lots: int, ticks: int, ts: int) -> int:
        """Apply a fill; return the realised PnL it booked (money raw, before fees)."""
        lots = abs(signed_lots)
        reducing = self.qty != 0 and (self.qty > 0) != (signed_lots > 0)
        pnl_units = 0
        if reducing:
            closing = min(lots, abs(self.qty))
            pnl_units = self._close(closing, ticks)
            lots -= closing
        if lots:
            if self.qty == 0 or reducing:
                self.ts_opened = ts  # opened from flat, or flipped through flat
            self._entries.append([lots, ticks])
        self.qty += signed_lots
        pnl = self.money(pnl_units)
        self.realised += pnl
        return pnl

    def _close(self, lots: int, ticks: int) -> int:
        """Consume ``lots`` of the oldest entries at exit ``ticks``; return ticks*lots PnL."""
        sign = 1 if self.qty > 0 else -1
        pnl = 0
        while lots:
            entry = self._entries[0]
            take = min(lots, entry[0])
            pnl += sign * take * (ticks - entry[1])
            entry[0] -= take
            lots -= take
            if not entry[0]:
                self._entries.popleft()
        return pnl

    def entries(self) -> list[tuple[int, int]]:
        """The open FIFO entries as ``(lots, ticks)``: the state a journal replay checks."""
        return [(lots, ticks) for lots, ticks in self._entries]

    def __repr__(self) -> str:
        return f"Position({self.instrument.symbol} {self.quantity} @ {self.avg_entry})"
