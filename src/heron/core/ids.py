"""Deterministic identifiers.

Ids come from counters, never from randomness or the wall clock, so the same run
gives the same ids and therefore byte-identical journals. Client order ids use only
``[A-Za-z0-9-]`` and stay under 36 characters, which every venue heron targets accepts.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

_SAFE = re.compile(r"[^A-Za-z0-9]")


class IdGenerator:
    """Counters for client order ids, venue order ids and trade ids within one run."""

    def __init__(self, run_tag: str = "H") -> None:
        tag = _SAFE.sub("", run_tag)[:8] or "H"
        self._tag = tag
        self._orders = 0
        self._venue_orders = 0
        self._trades = 0
        self._safe_tags: dict[str, str] = {}
        self._limit = sys.maxsize  # the last client order number handed out may reach
        self._reserve: Callable[[int], int] | None = None

    def client_order_id(self, strategy_tag: str) -> str:
        self._orders += 1
        if self._orders > self._limit:
            assert self._reserve is not None  # a limit is only set with a reserver
            self._limit = self._reserve(self._orders)
        safe = self._safe_tags.get(strategy_tag)
        if safe is None:
            safe = self._safe_tags[strategy_tag] = _SAFE.sub("", strategy_tag)[:12]
        return f"{self._tag}-{safe}-{self._orders}"

    def venue_order_id(self) -> str:
        self._venue_orders += 1
        return f"V{self._venue_orders}"

    def trade_id(self) -> str:
        self._trades += 1
        return f"T{self._trades}"

    def state(self) -> tuple[int, int, int]:
        """The counters, so a resumed run continues where the journal ends."""
        return (self._orders, self._venue_orders, self._trades)

    def restore(self, state: tuple[int, int, int]) -> None:
        self._orders, self._venue_orders, self._trades = state
        if self._reserve is not None:
            self._limit = self._orders  # the next id starts a new block

    def reserve_with(self, reserve: Callable[[int], int]) -> None:
        """Hand out client order numbers only inside blocks that ``reserve(first)`` has
        made durable (it returns the block's last number); the next id asks for one.
        A live run's journal does it (:class:`heron.model.events.ClientIdsReserved`)."""
        self._reserve = reserve
        self._limit = self._orders
