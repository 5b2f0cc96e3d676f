"""What a strategy declares to run on the vectorised fast path: its signals.

A bar strategy whose decisions depend only on indicator values (not on fills, timers
or other instruments) can say so with a ``vector_signals`` classmethod::

    @classmethod
    def vector_signals(cls, bars: BarArrays, params: Mapping[str, Any],
                       indicators: IndicatorCache) -> Signals | ThresholdSignals: ...

``params`` are the resolved parameter values (defaults filled in, types coerced) and
``indicators(func, *args, source="close")`` computes ``func(bars.<source>, *args)``
once per distinct ``(func, source, args)``: a sweep shares one cache across all its
combinations, so 1,000 SMA-cross combinations compute each SMA period once. The
strategy must call the same indicator functions its ``on_start`` gives
``Strategy.indicator``, so both paths decide on the same bits.

The rules the simulator applies on each bar ``t`` (the event strategies' own order
logic, one position at a time):

* long and ``long_exit[t]``: close; short and ``short_exit[t]``: close;
* otherwise, while a position is open, nothing more;
* flat (or just closed on this bar): ``long_entry[t]`` buys, else ``short_entry[t]``
  sells short (a spot account refuses short entries, as the simulated venue does).

Two forms say the same thing. :class:`Signals` holds four boolean arrays: general,
but a sweep pays for building them per combination. :class:`ThresholdSignals` holds
a score (optionally ``score - minus``) and four levels, which the kernel compares bar
by bar without building any array; the library's strategies use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from heron.research.vector_data import BarArrays

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
_SOURCES = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Sizing:
    """Entry size: ``quantity`` units when non-zero, else ``fraction`` of free equity
    (fees included), the two sizing parameters of the library's strategies."""

    fraction: float = 1.0
    quantity: float = 0.0

    @classmethod
    def from_params(cls, params: Any) -> Sizing:
        """From a parameter mapping with ``fraction`` and ``quantity`` (Decimal or number)."""
        return cls(fraction=float(Decimal(str(params.get("fraction", 1)))),
                   quantity=float(Decimal(str(params.get("quantity", 0)))))


@dataclass(frozen=True, slots=True)
class Signals:
    """Entry and exit rules as one boolean per bar (``None``: never)."""

    long_entry: BoolArray
    long_exit: BoolArray
    short_entry: BoolArray | None = None
    short_exit: BoolArray | None = None
    sizing: Sizing = Sizing()


@dataclass(frozen=True, slots=True)
class ThresholdSignals:
    """Rules as levels on ``s = score - minus`` (``minus`` absent: ``s = score``).

    long entry ``s > long_entry_above``; long exit ``s <= long_exit_at_or_below``;
    short entry ``s < short_entry_below`` (``None``: no shorts); short exit
    ``s >= short_exit_at_or_above``. A NaN ``s`` enters nothing and exits nothing,
    unless ``exit_on_nan`` (then a NaN exits, as ``sma_cross`` long-only does).
    """

    score: FloatArray
    long_entry_above: float
    long_exit_at_or_below: float
    short_entry_below: float | None = None
    short_exit_at_or_above: float = np.inf
    minus: FloatArray | None = None
    exit_on_nan: bool = False
    sizing: Sizing = Sizing()

    def to_signals(self) -> Signals:
        """The same rules as boolean arrays (for tests and for strategies that combine)."""
        s = self.score if self.minus is None else self.score - self.minus
        nan = np.isnan(s)
        with np.errstate(invalid="ignore"):
            long_exit = s <= self.long_exit_at_or_below
            short_exit = s >= self.short_exit_at_or_above
            short_entry = None if self.short_entry_below is None else s < self.short_entry_below
            long_entry = s > self.long_entry_above
        if self.exit_on_nan:
            long_exit |= nan
            short_exit |= nan
        return Signals(long_entry, long_exit, short_entry,
                       short_exit if short_entry is not None else None, self.sizing)


AnySignals = Signals | ThresholdSignals


class IndicatorCache:
    """Indicator arrays over one set of bars, each computed once.

    Keyed by the function, the source column and the arguments; the arrays are
    read-only so that one combination cannot change what the next one sees.
    """

    def __init__(self, bars: BarArrays) -> None:
        self.bars = bars
        self._values: dict[tuple[Any, ...], FloatArray] = {}
        self.computed = 0

    def __call__(self, func: Callable[..., Any], *args: Any, source: str = "close"
                 ) -> FloatArray:
        """``func(bars.<source>, *args)`` as float64, from the cache when seen before."""
        key = (func, source, *args)
        out = self._values.get(key)
        if out is None:
            if source not in _SOURCES:
                raise ValueError(f"indicator source {source!r} is not one of {_SOURCES}")
            out = np.ascontiguousarray(func(getattr(self.bars, source), *args),
                                       dtype=np.float64)
            out.flags.writeable = False
            self._values[key] = out
            self.computed += 1
        return out


def band_signals(score: FloatArray, *, entry: float, exit_: float, shorts: bool,
                 sizing: Sizing) -> ThresholdSignals:
    """The rules of :class:`heron.strategy.library.bands.BandStrategy` on ``score``:
    long above ``entry``, out at or below ``exit_``; short below ``-entry``, out at or
    above ``-exit_``."""
    return ThresholdSignals(score=score, long_entry_above=entry, long_exit_at_or_below=exit_,
                            short_entry_below=-entry if shorts else None,
                            short_exit_at_or_above=-exit_, sizing=sizing)
