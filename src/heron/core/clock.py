"""Clocks. The kernel never reads the wall clock directly: it asks a ``Clock``.

In a backtest the kernel moves a :class:`SimClock` to each event's timestamp, so
strategy code that asks for "now" gets the simulated time and two runs agree to the
nanosecond. Paper and live use :class:`WallClock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """Nanoseconds since the epoch, UTC."""
        ...


class SimClock:
    """A clock that only moves when the kernel sets it (never backwards)."""

    __slots__ = ("ts",)

    def __init__(self, ts: int = 0) -> None:
        self.ts = ts

    def now(self) -> int:
        return self.ts

    def advance_to(self, ts: int) -> None:
        if ts < self.ts:
            raise ValueError(f"simulated time cannot go back from {self.ts} to {ts}")
        self.ts = ts


class WallClock:
    """The machine's real-time clock."""

    __slots__ = ()

    def now(self) -> int:
        return time.time_ns()
