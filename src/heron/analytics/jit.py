"""Numba behind a plain Python call: the one place heron's analytics touch numba.

``@kernel`` marks a loop that cannot be vectorised (a recursion such as an EMA, or a
sequential bucket fill) for compilation with ``numba.njit``. Compilation is deferred
to the first call, so importing ``heron.analytics`` stays cheap (numba itself takes
over a second to import); the compiled code is cached on disk next to the module
(``cache=True``), so later processes skip the compile too.

Kernels never call one another: each is compiled on its own from the original
function, and composition happens in Python around them. No ``fastmath``: the
kernels must give the same bits as the straightforward C loop they mirror
(TA-Lib's, where an indicator follows TA-Lib), which reassociation would break.
Set ``NUMBA_DISABLE_JIT=1`` to run the kernels as plain Python when debugging.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    """Compile ``fn`` with ``numba.njit(cache=True, nogil=True)`` on its first call."""
    compiled: Callable[..., Any] | None = None

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            import numba

            compiled = numba.njit(cache=True, nogil=True)(fn)
        return compiled(*args)

    return cast(F, call)
