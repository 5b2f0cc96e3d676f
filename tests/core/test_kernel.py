"""The kernel: scheduled callbacks fire in (ts, sequence) order on a forward-only clock."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core.clock import SimClock
from heron.core.kernel import Callback, Kernel

Log = list[tuple[str, int, int]]


def make(ts: int = 0) -> tuple[Kernel, SimClock, Log]:
    clock = SimClock(ts)
    return Kernel(clock), clock, []


def note(log: Log, name: str, clock: SimClock) -> Callback:
    """A callback that records its name, its ``due`` time and the clock when it ran."""
    return lambda due: log.append((name, due, clock.now()))


def test_kernel_fires_callbacks_in_time_order() -> None:
    kernel, clock, log = make()
    for name, ts in (("c", 30), ("a", 10), ("b", 20)):
        kernel.schedule(ts, note(log, name, clock))
    kernel.run_due(100)
    assert log == [("a", 10, 10), ("b", 20, 20), ("c", 30, 30)]
    assert kernel.pending() == 0


def test_kernel_equal_times_fire_in_scheduling_order() -> None:
    kernel, clock, log = make()
    for name in "dcab":
        kernel.schedule(5, note(log, name, clock))
    kernel.run_due(5)
    assert [n for n, _, _ in log] == list("dcab")


def test_kernel_run_due_fires_only_up_to_ts_inclusive() -> None:
    kernel, clock, log = make()
    for ts in (10, 20, 21):
        kernel.schedule(ts, lambda due: log.append(("x", due, 0)))
    kernel.run_due(20)
    assert [due for _, due, _ in log] == [10, 20]
    assert kernel.pending() == 1
    assert clock.now() == 20
    kernel.run_due(21)
    assert [due for _, due, _ in log] == [10, 20, 21]


def test_kernel_run_due_with_nothing_due_leaves_clock() -> None:
    kernel, clock, log = make(5)
    kernel.schedule(50, lambda due: log.append(("x", due, 0)))
    kernel.run_due(49)
    assert log == []
    assert clock.now() == 5


def test_kernel_schedule_in_the_past_fires_at_now() -> None:
    kernel, clock, log = make(100)
    kernel.schedule(40, lambda due: log.append(("late", due, clock.now())))
    kernel.run_due(100)
    assert log == [("late", 100, 100)]


def test_kernel_callback_scheduling_at_same_time_fires_in_same_run() -> None:
    kernel, clock, log = make()

    def first(due: int) -> None:
        log.append(("first", due, clock.now()))
        kernel.schedule(due, lambda d: log.append(("chained", d, clock.now())))
        kernel.schedule(due - 5, lambda d: log.append(("past", d, clock.now())))

    kernel.schedule(10, first)
    kernel.schedule(10, lambda due: log.append(("second", due, clock.now())))
    kernel.run_due(10)
    assert log == [("first", 10, 10), ("second", 10, 10), ("chained", 10, 10),
                   ("past", 10, 10)]


def test_kernel_callback_scheduling_later_waits_for_its_time() -> None:
    kernel, clock, log = make()
    kernel.schedule(1, lambda due: kernel.schedule(due + 10, lambda d: log.append(("t", d, 0))))
    kernel.run_due(5)
    assert log == [] and kernel.pending() == 1
    kernel.run_due(11)
    assert log == [("t", 11, 0)]
    assert clock.now() == 11


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=1_000),
       st.lists(st.integers(min_value=0, max_value=2_000), max_size=60),
       st.lists(st.integers(min_value=0, max_value=2_500), min_size=1, max_size=10))
def test_kernel_random_schedule_fires_sorted_and_clock_never_goes_back(
    start: int, times: list[int], run_points: list[int]
) -> None:
    kernel, clock, _ = make(start)
    fired: list[tuple[int, int]] = []
    seen_now: list[int] = []

    def callback_for(index: int) -> Callback:
        def callback(due: int) -> None:
            assert clock.now() == due
            seen_now.append(clock.now())
            fired.append((due, index))
        return callback

    for index, ts in enumerate(times):
        kernel.schedule(ts, callback_for(index))
    horizon = 0
    for point in sorted(run_points):
        kernel.run_due(point)
        horizon = point
    expected = sorted((max(ts, start), index) for index, ts in enumerate(times))
    expected = [item for item in expected if item[0] <= horizon]
    assert fired == expected
    assert seen_now == sorted(seen_now)
    assert kernel.pending() == len(times) - len(expected)
