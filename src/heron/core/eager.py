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
same behaviour is built from public pieces plus one documented internal: the table
``asyncio.current_task()`` reads. During the eager step that table names the new task, so
code that binds to the current task (aiohttp's timeouts cancel it) binds to the right
one; the rest of the coroutine is then driven by an ordinary task, which resumes it where
the eager step left it. Cancelling the task at any point reaches the coroutine at its
``await``, as with any task.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")

_EAGER_NATIVE = sys.version_info >= (3, 12)
#: the table ``asyncio.current_task()`` reads (C on CPython 3.11), loop -> running task
_CURRENT: dict[Any, Any] = {} if _EAGER_NATIVE else getattr(asyncio.tasks, "_current_tasks")  # noqa: B009


class _FirstStep:
    """What the eager step ended with: a value the coroutine yielded (it is suspended),
    or its result, or its exception."""

    __slots__ = ("blocking", "done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.blocking = False
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            self.value = coro.send(None)
        except StopIteration as stop:
            self.done, self.value = True, stop.value
        except BaseException as exc:  # handed to the task, as a task would
            self.done, self.error = True, exc
        else:
            # A future yielded by ``await`` carries a "blocking" flag that its task clears
            # at once; until our task takes it over, a second awaiter of the same future
            # would be refused ("await wasn't used with future"). Clear it now, set it
            # again when handing the future to the task.
            if getattr(self.value, "_asyncio_future_blocking", False):
                self.value._asyncio_future_blocking = False
                self.blocking = True


def _advance(coro: Coroutine[Any, Any, Any], sent: Any, thrown: BaseException | None
             ) -> tuple[bool, Any]:
    """One step of ``coro``: ``(True, result)`` when it returned, else ``(False, yielded)``."""
    try:
        value = coro.throw(thrown) if thrown is not None else coro.send(sent)
    except StopIteration as stop:
        return True, stop.value
    return False, value


@types.coroutine
def _resume(coro: Coroutine[Any, Any, T], first: _FirstStep) -> Generator[Any, Any, T]:
    """Drive ``coro`` on from where the eager step left it. Primed once before the task
    sees it, so whatever the task's first step brings (its first wake-up, or a
    cancellation thrown in before it) reaches ``coro`` at the ``await`` it stopped on."""
    try:
        yield None  # the priming stop; the task's first step resumes here
    except GeneratorExit:
        coro.close()
        raise
    except BaseException as exc:
        if first.done:
            raise
        done, value = _advance(coro, None, exc)
    else:
        if first.error is not None:
            raise first.error
        done, value = first.done, first.value
        if first.blocking:
            value._asyncio_future_blocking = True
    if done:
        result: T = value
        return result
    return (yield from _relay(coro, value))


@types.coroutine
def _relay(coro: Coroutine[Any, Any, T], value: Any) -> Generator[Any, Any, T]:
    """``yield from`` for a coroutine that has already yielded ``value``."""
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            done, value = _advance(coro, None, exc)
        else:
            done, value = _advance(coro, sent, None)
        if done:
            result: T = value
            return result


def start_eager(coro: Coroutine[Any, Any, T],
                loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[T]:
    """A task for ``coro`` whose first step has already run, in the task's context and as
    the current task, by the time this returns."""
    loop = loop or asyncio.get_running_loop()
    if _EAGER_NATIVE:  # pragma: no cover -- the CI interpreter is 3.11
        task: asyncio.Task[T] = asyncio.Task(coro, loop=loop,  # type: ignore[call-arg]
                                             eager_start=True)
        return task
    first = _FirstStep()
    rest = _resume(coro, first)
    rest.send(None)  # prime: stops at its first yield
    context = contextvars.copy_context()
    task = loop.create_task(rest, context=context)
    current = _CURRENT
    before = current.get(loop)
    current[loop] = task
    try:
        context.run(first.run, coro)
    finally:
        if before is None:
            current.pop(loop, None)
        else:
            current[loop] = before
    return task
