"""``start_eager``: a task whose first step ran inside the caller, and that otherwise
behaves as any task (results, errors, cancellation, context, timeouts)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from heron.core.eager import start_eager


def in_loop(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test in a fresh event loop."""
    @functools.wraps(test)
    def run() -> None:
        asyncio.run(test())
    return run


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@in_loop
async def test_first_step_runs_before_the_call_returns_as_the_new_task() -> None:
    seen: list[object] = []
    caller = asyncio.current_task()

    async def work() -> str:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        seen.append(asyncio.current_task())
        return "done"

    task = start_eager(work())
    assert seen == [task]  # ran already, and as the task it belongs to
    assert asyncio.current_task() is caller  # the caller is itself again
    assert await task == "done"
    assert seen == [task, task]


@in_loop
async def test_a_plain_task_would_not_have_started() -> None:
    """The contrast the module exists for: ``create_task`` only queues the first step."""
    started: list[str] = []

    async def work(name: str) -> None:
        started.append(name)

    queued = asyncio.get_running_loop().create_task(work("queued"))
    eager = start_eager(work("eager"))
    assert started == ["eager"]
    await asyncio.gather(queued, eager)
    assert started == ["eager", "queued"]


@in_loop
async def test_a_coroutine_that_never_suspends_gives_its_result_or_error() -> None:
    async def value() -> int:
        return 7

    async def boom() -> None:
        raise ValueError("bad order")

    assert await start_eager(value()) == 7
    task = start_eager(boom())
    with pytest.raises(ValueError, match="bad order"):
        await task


@in_loop
async def test_results_and_errors_after_suspension_reach_the_coroutine() -> None:
    loop = asyncio.get_running_loop()
    ok, bad = loop.create_future(), loop.create_future()
    caught: list[str] = []

    async def wait_ok() -> int:
        return await ok + 1

    async def wait_bad() -> str:
        try:
            await bad
        except KeyError as exc:
            caught.append(str(exc))
            await asyncio.sleep(0)  # and it can go on awaiting after handling it
            return "handled"
        return "not reached"

    first, second = start_eager(wait_ok()), start_eager(wait_bad())
    ok.set_result(41)
    bad.set_exception(KeyError("lost"))
    assert await first == 42
    assert await second == "handled"
    assert caught == ["'lost'"]


@in_loop
async def test_several_eager_tasks_may_wait_on_one_future() -> None:
    """Several eager steps suspending on the same future in a row: none is refused
    ("await wasn't used with future") and all get the result."""
    shared = asyncio.get_running_loop().create_future()

    async def wait(offset: int) -> int:
        return await shared + offset

    tasks = [start_eager(wait(i)) for i in range(3)]
    plain = asyncio.get_running_loop().create_task(wait(10))
    shared.set_result(100)
    assert await asyncio.gather(*tasks, plain) == [100, 101, 102, 110]


@in_loop
async def test_a_future_done_before_the_task_runs_still_wakes_it() -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    async def wait() -> str:
        return await ready

    task = start_eager(wait())
    ready.set_result("early")  # before the task's first step
    assert await task == "early"


@in_loop
async def test_cancel_right_after_the_eager_step_reaches_the_coroutine() -> None:
    """Cancelled before the loop has run anything else: the coroutine gets
    CancelledError at the await its eager step stopped on, and its cleanup runs."""
    cleaned: list[str] = []
    never = asyncio.get_running_loop().create_future()

    async def work() -> None:
        try:
            await never
        finally:
            cleaned.append("cleanup")

    task = start_eager(work())
    assert task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert cleaned == ["cleanup"]


@in_loop
async def test_cancel_while_waiting_cancels_what_it_waits_on() -> None:
    inner = asyncio.get_running_loop().create_future()
    cleaned: list[str] = []

    async def work() -> None:
        try:
            await inner
        finally:
            cleaned.append("cleanup")

    task = start_eager(work())
    await asyncio.sleep(0)  # the task has taken over the wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner.cancelled()
    assert cleaned == ["cleanup"]


@in_loop
async def test_context_is_the_callers_copy() -> None:
    VAR.set("caller")
    seen: list[str] = []

    async def work() -> None:
        seen.append(VAR.get())
        VAR.set("task")
        await asyncio.sleep(0)
        seen.append(VAR.get())

    task = start_eager(work())
    assert VAR.get() == "caller"  # the task's change stays in the task
    await task
    assert seen == ["caller", "task"]
    assert VAR.get() == "caller"


@in_loop
async def test_a_timeout_started_in_the_eager_step_cancels_the_task_not_the_caller() -> None:
    """What aiohttp does with its request timeout: bind to the current task and cancel it.
    Stepping a coroutine outside any task would cancel the caller instead (or fail)."""
    async def work() -> str:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"
        return "not reached"

    task = start_eager(work())
    await asyncio.sleep(0.1)  # a timeout bound to the caller would cancel it right here
    assert task.done()
    assert task.result() == "timed out"


@in_loop
async def test_started_from_a_plain_callback_outside_any_task() -> None:
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Task[int]] = loop.create_future()
    seen: list[object] = []

    async def work() -> int:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        return 3

    def callback() -> None:
        made.set_result(start_eager(work()))
        seen.append(asyncio.current_task())  # back to no task

    loop.call_soon(callback)
    task = await made
    assert seen == [task, None]
    assert await task == 3


class _LoopWithoutReadyQueue:
    """A loop this module does not know (uvloop keeps its queue in C): only what a task
    needs of it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._loop.create_task(coro)


@in_loop
async def test_a_loop_without_the_known_ready_queue_gets_a_plain_queued_task() -> None:
    started: list[str] = []

    async def work() -> str:
        started.append("ran")
        return "done"

    other: Any = _LoopWithoutReadyQueue(asyncio.get_running_loop())
    task = start_eager(work(), other)
    assert started == []  # queued, as create_task does: nothing ran inside the call
    assert await task == "done"
    assert started == ["ran"]
