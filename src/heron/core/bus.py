"""A typed, single-threaded message bus with deterministic dispatch.

Topics are strings (``"orders"``, ``"fills"``, ``"bars.BTC-PERP.SIM"``). Handlers run
in the order they subscribed, synchronously, on the kernel's thread: no locks, no
reordering, so the same inputs always produce the same sequence of calls. The hot
paths (one bar to its strategies) read :meth:`handlers` once and call the list
directly instead of publishing per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]


class MessageBus:
    def __init__(self) -> None:
        self._subs: dict[str, list[Handler]] = {}

    def subscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._subs.setdefault(topic, [])
        if handler in handlers:
            raise ValueError(f"handler already subscribed to {topic!r}")
        handlers.append(handler)

    def unsubscribe(self, topic: str, handler: Handler) -> None:
        self._subs.get(topic, []).remove(handler)

    def publish(self, topic: str, message: object) -> None:
        for handler in tuple(self._subs.get(topic, ())):  # a copy: handlers may (un)subscribe
            handler(message)

    def handlers(self, topic: str) -> list[Handler]:
        """The live handler list of ``topic`` (created empty if needed)."""
        return self._subs.setdefault(topic, [])

    def topics(self) -> list[str]:
        return sorted(self._subs)
