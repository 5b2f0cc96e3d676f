"""Where inside a bar a resting order is reached.

A bar only says where the price opened, closed and went at its extremes, not in which
order. The simulated venue assumes the path **O→L→H→C for a bar that closed at or
above its open, O→H→L→C for one that closed below** (the wick against the bar's
direction comes first). A level reached at the open (a gap) trades at the open; a
level reached later trades at the level. Touches are ranked by where on the path they
happen, so a stop-loss below and a take-profit above fill in the order the path says.

All prices are ``int`` ticks.
"""

from __future__ import annotations

Touch = tuple[int, int, int]  # (segment, distance into the segment, price)


def bar_path(o: int, h: int, low: int, c: int) -> tuple[int, int, int, int]:
    return (o, low, h, c) if c >= o else (o, h, low, c)


def first_at_or_below(path: tuple[int, ...], level: int) -> Touch | None:
    """First point where the price is at or below ``level`` (buy limits, sell stops)."""
    if path[0] <= level:
        return (0, 0, path[0])
    for k in range(1, len(path)):
        start, end = path[k - 1], path[k]
        if end <= level < start:
            return (k, start - level, level)
    return None


def first_at_or_above(path: tuple[int, ...], level: int) -> Touch | None:
    """First point where the price is at or above ``level`` (sell limits, buy stops)."""
    if path[0] >= level:
        return (0, 0, path[0])
    for k in range(1, len(path)):
        start, end = path[k - 1], path[k]
        if end >= level > start:
            return (k, level - start, level)
    return None


def rest_of_path(path: tuple[int, ...], touch: Touch) -> tuple[int, ...]:
    """The path still to come after ``touch`` (starting at the touched price)."""
    segment, _distance, price = touch
    return (price, *path[max(segment, 1):]) if segment else path
