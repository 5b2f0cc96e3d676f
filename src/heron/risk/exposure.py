"""Gross and net exposure of the held positions, kept up to date as marks move.

The pre-trade engine's exposure and leverage limits need the account's gross and net
exposure at the last marks on every order. Summing them per check costs one
multiplication per held instrument (4.5 µs of a 7 µs check with 100 positions), and
marks change outside the engine, on every market event. :class:`ExposureMarks` is the
portfolio's mark dictionary itself, replaced by one that adjusts two running sums when
a held instrument's mark is written: one subtraction and one multiplication per mark
update, and an exposure read is two additions. It is installed only for runs whose
limits need exposure, so a backtest without them writes marks into a plain ``dict``.

The sums are exact integers (money units). A change the fast path does not follow (a
mark deleted, a bulk update, a position that changed) marks the sums stale and the
next read recomputes them from scratch, so a path the class did not foresee can cost
time but never a wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class ExposureMarks(dict[str, int]):
    """Marks by instrument id (a ``dict``, as everyone reads and writes it) with the held
    positions' long and short exposure at those marks."""

    __slots__ = ("_long", "_short", "_stale", "held")

    def __init__(self, marks: Mapping[str, int] | None = None) -> None:
        super().__init__(marks or {})
        #: held positions: instrument id -> signed quantity x money per tick-lot
        self.held: dict[str, int] = {}
        self._long = 0
        self._short = 0
        self._stale = False

    def __setitem__(self, iid: str, mark: int) -> None:
        qu = self.held.get(iid)
        if qu is not None:
            old = self.get(iid)
            if old is None:
                self._stale = True
            elif qu > 0:
                self._long += qu * (mark - old)
            else:
                self._short -= qu * (mark - old)
        dict.__setitem__(self, iid, mark)

    def hold(self, iid: str, qu: int) -> None:
        """Instrument ``iid`` now holds ``qu`` (signed lots x money per tick-lot; 0: flat)."""
        if qu:
            self.held[iid] = qu
        else:
            self.held.pop(iid, None)
        self._stale = True

    def exposures(self) -> tuple[int, int]:
        """``(gross, net)`` of the held positions at their last marks, money units."""
        if self._stale:
            self._recompute()
        return self._long + self._short, self._long - self._short

    def _recompute(self) -> None:
        long = short = 0
        for iid, qu in self.held.items():
            mark = self.get(iid)
            if mark is None:
                continue  # not priced yet: counted from its first mark on
            value = qu * mark
            if qu > 0:
                long += value
            else:
                short -= value
        self._long, self._short, self._stale = long, short, False

    # every other way to change the dictionary leaves the sums to be recomputed
    def __delitem__(self, iid: str) -> None:
        self._stale = True
        dict.__delitem__(self, iid)

    def pop(self, iid: str, *default: Any) -> Any:
        self._stale = True
        return dict.pop(self, iid, *default)

    def popitem(self) -> tuple[str, int]:
        self._stale = True
        return dict.popitem(self)

    def clear(self) -> None:
        self._stale = True
        dict.clear(self)

    def update(self, *args: Any, **kwargs: int) -> None:
        self._stale = True
        dict.update(self, *args, **kwargs)

    def setdefault(self, iid: str, default: int) -> int:
        self._stale = True
        return dict.setdefault(self, iid, default)

    def __ior__(self, other: Iterable[Any]) -> ExposureMarks:  # type: ignore[override,misc]
        self.update(other)
        return self


__all__ = ["ExposureMarks"]
