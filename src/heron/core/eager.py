"""Start a task's first step inside the caller, as Python 3.12's eager tasks do.

Why: ``loop.create_task`` on Python 3.11 only *queues* a coroutine's first step. An order
a strategy places from a callback then waits in the event loop's ready queue behind
whatever else is due (the previous order's stream update being parsed, other replies)
before its request is even built: on a loaded loop that wait was most of the p99 of
heron's decision-to-bytes path (``bench/bench_exec.py``). An eagerly started task runs
up to its first real suspension (here: the request written to the socket, waiting for
the reply) before the caller's call returns, exactly as the simulated venue answers
inside the call.

On Python 3.12 and later this is ``asyncio.Task(..., eager_start=True)``. On 3.11 the
task is made as usual and its first step, which ``create_task`` has just put at the end
of the loop's ready queue, is taken off the queue and run at once: the task itself runs
it, exactly as the loop would have later, so everything after (the current task, its
context, cancellation, futures it waits on) is the plain task's own behaviour. Two
internals of CPython's 3.11 event loop are used: its ready queue (``loop._ready``), and
the table ``asyncio.current_task()`` reads, cleared of the caller for the step (a task's
step refuses to start while another task is current on its loop) and restored after.
A loop without that queue (uvloop) gets a plain task: queued, not eager.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_EAGER_NATIVE = sys.version_info >= (3, 12)
#: the table ``asyncio.current_task()`` reads (C on CPython 3.11), loop -> running task
_CURRENT: dict[Any, Any] = {} if _EAGER_NATIVE else getattr(asyncio.tasks, "_current_tasks")  # noqa: B009


def start_eager(coro: Coroutine[Any, Any, T],
                loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[T]:
    """A task for ``coro`` whose first step has already run, in the task's context and as
    the current task, by the time this returns."""
    loop = loop or asyncio.get_running_loop()
    if _EAGER_NATIVE:  # pragma: no cover -- the CI interpreter is 3.11
        task: asyncio.Task[T] = asyncio.Task(coro, loop=loop,  # type: ignore[call-arg]
                                             eager_start=True)
        return task
    ready = getattr(loop, "_ready", None)
    if not isinstance(ready, deque):  # not the loop this knows: a plain, queued task
        return loop.create_task(coro)
    queued = len(ready)
    task = loop.create_task(coro)
    if len(ready) != queued + 1:  # a task factory queued more, or nothing: leave it be
        return task
    step = ready.pop()  # the task's first step, just queued by create_task
    caller = _CURRENT.pop(loop, None)
    try:
        step._run()  # the loop's own way to run a queued callback
    finally:
        if caller is not None:
            _CURRENT[loop] = caller
    return task
