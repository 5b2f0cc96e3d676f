"""Where research work runs: in this process, on a local process pool, or on Ray.

Optimisation trials, walk-forward folds and Monte Carlo batches are independent items
of small specs (a config, parameters, a time window, a seed). An :class:`Executor`
maps a module-level function over them and returns the results *in item order*, so
the caller's bookkeeping (Optuna's ask/tell, fold stitching) is the same whatever ran
the work, and a fixed seed gives the same answer on one core or a cluster.

Items never carry bar arrays: each worker reads the data file or catalog path named in
the spec itself (and caches it per process), so the driver does not become a bottleneck
shipping gigabytes to workers. On a Ray cluster that path must therefore be readable at
the same location on every node (a shared filesystem or the same files copied).

* ``serial``: a plain loop in this process (tests, debugging, a profiler).
* ``local``: a ``concurrent.futures`` process pool started with ``spawn`` (safe with
  threads in the parent, the same on Linux, macOS and Windows); the pool lives until
  :meth:`close` so its workers keep their imports and data caches between batches.
* ``ray``: ``ray.init(address=...)`` for a cluster (``ray://host:10001`` or
  ``auto``), or a private local Ray when no address is given. Ray is an optional extra
  (``pip install 'heron[ray]'``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from heron.errors import HeronError, InvalidConfiguration

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "SerialExecutor",
           "executor_for"]

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "ray", "serial")


class Executor(Protocol):
    """Maps ``fn`` over ``items``; the result list is in item order."""

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...


class _Closing:
    """Context-manager plumbing shared by the executors that hold resources."""

    def close(self) -> None:
        """Release workers; the executor must not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class SerialExecutor(_Closing):
    """Runs every item in this process, one after the other."""

    workers = 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [fn(item) for item in items]


class LocalExecutor(_Closing):
    """A spawn-started process pool on this machine, created on first use.

    ``fn`` must be importable by name (a module-level function) and items picklable.
    An exception raised by ``fn`` in a worker is re-raised here unchanged.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=get_context("spawn"))
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    """The one Ray task: apply ``fn`` to ``item`` on a worker."""
    return fn(item)


class RayExecutor(_Closing):
    """Tasks on a Ray cluster (``address``) or on a private local Ray (no address).

    A local Ray keeps its session files in a fresh temporary folder, removed by
    :meth:`close`, and runs with authentication and usage reporting off, so nothing is
    left in the home directory. Connecting to a cluster leaves the cluster running.
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise InvalidConfiguration("--executor ray needs Ray; install it with "
                                       "pip install 'heron[ray]'") from None
        self.workers = workers
        self._temp: str | None = None
        self._started = False
        if not ray.is_initialized():
            self._start(ray, address, workers)
        self._task = ray.remote(_call)

    def _start(self, ray: Any, address: str | None, workers: int | None) -> None:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address is None:
            # Short path: Ray puts Unix sockets in here (limit about 107 characters).
            self._temp = tempfile.mkdtemp(prefix="heron-ray-", dir="/tmp" if os.name ==
                                          "posix" else None)
            kwargs |= {"_temp_dir": self._temp, "num_cpus": workers or os.cpu_count() or 1}
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self._cleanup()
            raise InvalidConfiguration(f"cannot start or reach Ray at {address or 'local'}: "
                                       f"{exc}; check --address (ray://HOST:10001)") from None
        self._started = True

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        import ray

        refs = [self._task.remote(fn, item) for item in items]
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, HeronError):
                raise cause from None
            raise

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        self._cleanup()

    def _cleanup(self) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


def executor_for(name: str, address: str | None = None,
                 workers: int | None = None) -> SerialExecutor | LocalExecutor | RayExecutor:
    """The executor called ``name`` (local, ray or serial); close it when done."""
    if workers is not None and workers < 1:
        raise InvalidConfiguration(f"--workers must be at least 1, got {workers}")
    if address is not None and name != "ray":
        raise InvalidConfiguration(f"--address is for --executor ray, not {name}; "
                                   "drop it or pass --executor ray")
    if name == "serial":
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address, workers)
    raise InvalidConfiguration(f"unknown executor {name!r}; use one of: {', '.join(EXECUTORS)}")
