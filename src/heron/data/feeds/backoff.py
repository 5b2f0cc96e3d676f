"""Reconnect delays: exponential, capped, with jitter.

Jitter matters when many clients lose a venue at once (a venue restart): without it
they all come back on the same beat and knock it over again. The delay is drawn from
``[(1 - jitter) * d, d]`` where ``d = min(cap, initial * factor**n)``; a connection that
stayed up ``reset_after_s`` starts again from ``initial``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 30.0
    jitter: float = 0.5
    reset_after_s: float = 60.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """The wait before the next attempt; each call counts one more failure."""
        base = min(self.cap_s, self.initial_s * self.factor ** self.attempts)
        self.attempts += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def connected_for(self, seconds: float) -> None:
        """A connection lasted ``seconds``: if that was long enough, forget past failures."""
        if seconds >= self.reset_after_s:
            self.attempts = 0
