"""Clocks: the simulated clock only moves forward; the wall clock reads real time."""

from __future__ import annotations

import pytest

from heron.core.clock import Clock, SimClock, WallClock


def test_sim_clock_starts_at_given_time() -> None:
    assert SimClock().now() == 0
    assert SimClock(1_700_000_000_000_000_000).now() == 1_700_000_000_000_000_000


def test_sim_clock_advance_to_moves_now() -> None:
    clock = SimClock(10)
    clock.advance_to(25)
    assert clock.now() == clock.ts == 25


def test_sim_clock_advance_to_same_time_is_allowed() -> None:
    clock = SimClock(10)
    clock.advance_to(10)
    assert clock.now() == 10


def test_sim_clock_advance_backwards_raises_and_keeps_time() -> None:
    clock = SimClock(100)
    with pytest.raises(ValueError, match="cannot go back from 100 to 99"):
        clock.advance_to(99)
    assert clock.now() == 100


def test_wall_clock_now_is_int_nanoseconds_since_epoch() -> None:
    now = WallClock().now()
    assert isinstance(now, int)
    assert now > 1_600_000_000 * 10**9  # after Sept 2020: ns, not seconds


def test_clocks_satisfy_clock_protocol() -> None:
    clocks: list[Clock] = [SimClock(5), WallClock()]
    assert all(isinstance(c.now(), int) for c in clocks)
