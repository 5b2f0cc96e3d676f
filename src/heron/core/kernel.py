"""The deterministic kernel: one thread, events in ``(timestamp, sequence)`` order.

Market data arrives as a pre-merged, time-sorted stream (the node walks it); the
kernel holds everything else that happens at a time: timers, funding, delayed
commands. ``run_due(ts)`` fires every scheduled callback with a timestamp at or before
``ts``, earliest first and, at equal times, in the order they were scheduled, before
the market event at ``ts`` is handled. The clock is moved to each callback's time, so
nothing ever observes time going backwards.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from heron.core.clock import SimClock

Callback = Callable[[int], None]


class Kernel:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.heap: list[tuple[int, int, Callback]] = []
        self._seq = 0

    def schedule(self, ts: int, callback: Callback) -> None:
        """Run ``callback(ts)`` when the stream reaches ``ts`` (never before ``now``)."""
        ts = max(ts, self.clock.ts)
        self._seq += 1
        heapq.heappush(self.heap, (ts, self._seq, callback))

    def run_due(self, ts: int) -> None:
        heap = self.heap
        while heap and heap[0][0] <= ts:
            due, _seq, callback = heapq.heappop(heap)
            self.clock.advance_to(due)
            callback(due)

    def pending(self) -> int:
        return len(self.heap)
