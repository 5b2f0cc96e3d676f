"""Checks shared by the indicator and feature functions: series in, parameters valid.

Every public function in ``heron.analytics`` turns its array inputs into contiguous
1-D float64 arrays through :func:`series` and checks each period through
:func:`check_period`, so a wrong call fails with one message naming the function,
the parameter and the fix, before any work is done.
"""

from __future__ import annotations

import math
import operator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heron.errors import InvalidConfiguration

FloatArray = NDArray[np.float64]


class InvalidParameter(InvalidConfiguration, ValueError):
    """An impossible indicator parameter (a period of 0, a negative width ...).

    An :class:`~heron.errors.InvalidConfiguration` so the CLI reports it as the user's
    input to fix, and a ``ValueError`` so numeric code that expects one catches it.
    """


def series(func: str, name: str, values: ArrayLike) -> FloatArray:
    """``values`` as a contiguous 1-D float64 array (a copy only when needed)."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameter(
            f"{func} {name} must be one-dimensional (one value per bar), got shape {arr.shape}; "
            "pass one column, e.g. bars['close'].to_numpy()"
        )
    return arr


def aligned(func: str, **named: ArrayLike) -> list[FloatArray]:
    """Several series of one length, in the order given (``high=..., low=...``)."""
    arrays = [series(func, name, values) for name, values in named.items()]
    lengths = {name: len(arr) for name, arr in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise InvalidParameter(
            f"{func} needs inputs of one length (one value per bar), got {shown}; "
            "slice them to the same bars"
        )
    return arrays


def check_period(func: str, name: str, value: int, minimum: int, example: int) -> int:
    """An integer ``value >= minimum``, or an :class:`InvalidParameter` saying what to give."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameter(
            f"{func} {name} must be an int >= {minimum} (a number of bars, e.g. {example}), "
            f"got {value!r}"
        )
    if value < minimum:
        raise InvalidParameter(
            f"{func} {name} must be >= {minimum} (a number of bars, e.g. {example}), got {value}"
        )
    return operator.index(value)


def check_number(func: str, name: str, value: float, *, minimum: float, example: float) -> float:
    """A finite real ``value >= minimum`` (a band width, a bucket size ...)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidParameter(
            f"{func} {name} must be a number >= {minimum}, e.g. {example}, got {value!r}"
        )
    number = float(value)
    if not math.isfinite(number) or number < minimum:
        raise InvalidParameter(
            f"{func} {name} must be a finite number >= {minimum}, e.g. {example}, got {value}"
        )
    return number


def nan_array(n: int) -> FloatArray:
    """``n`` NaNs: the output of an indicator before it is defined."""
    return np.full(n, np.nan, dtype=np.float64)
