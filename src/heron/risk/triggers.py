"""What fires the trading-state machine from inside a run, and the ``[state]`` limits.

The ``[state]`` table of the run's risk file (``--risk FILE.toml``)::

    [state]
    soft_drawdown = "0.05"     # fraction of peak equity lost -> DEGRADED
    hard_drawdown = "0.10"     # -> REDUCING (flatten, then HALTED)
    daily_loss = "500"         # money lost since the UTC day's first check -> REDUCING
    losing_streak = 4          # consecutive losing round trips -> DEGRADED
    venue_errors = 5           # rejections within venue_error_window_s -> DEGRADED
    venue_error_window_s = 60
    feed = true                # a stale, reconnecting or resyncing feed -> DEGRADED
    check_every_s = 60         # how often equity is checked (venue/simulated time)
    kill_at = "2022-01-10T00:00:00Z"   # the configured kill switch (every mode)
    kill_flatten = false       # kill_at flattens first (REDUCING) instead of halting

Every key is optional; a missing one is no check. Equity checks run on the kernel's
timer (``check_every_s`` of run time, so a backtest and a live run check at the same
moments) and after every fill; with no equity limit there is no timer at all, so a
plain backtest pays nothing. Numbers are exact (``Decimal`` at the edge, money raw
inside); drawdown is ``(peak - equity) / peak`` compared in integers.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import msgspec

from heron.errors import InputError
from heron.model.feed import FeedHealth, FeedState
from heron.risk.state import RunState, TradingMachine, Trigger

if TYPE_CHECKING:
    from heron.execution.order_manager import OrderManager
    from heron.model.portfolio import Portfolio

_DAY = 86_400_000_000_000
_BAD_FEED = frozenset({FeedState.STALE, FeedState.RECONNECTING, FeedState.RESYNCING})


class StateLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[state]`` table, validated (see the module docstring)."""

    soft_drawdown: str | None = None
    hard_drawdown: str | None = None
    daily_loss: str | None = None
    losing_streak: int | None = None
    venue_errors: int | None = None
    venue_error_window_s: int = 60
    feed: bool = True
    check_every_s: int = 60
    kill_at: str | None = None
    kill_flatten: bool = False

    @property
    def watches_equity(self) -> bool:
        return any(v is not None for v in (self.soft_drawdown, self.hard_drawdown,
                                           self.daily_loss))

    def fraction(self, key: str) -> Decimal | None:
        text = getattr(self, key)
        return None if text is None else Decimal(text)

    def kill_at_ns(self) -> int | None:
        if self.kill_at is None:
            return None
        when = dt.datetime.fromisoformat(self.kill_at.replace("Z", "+00:00"))
        return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1_000


def state_limits(table: dict[str, Any], *, where: str = "[state]") -> StateLimits:
    """Validate a parsed ``[state]`` table; an InputError names the bad key."""
    decimals = ("soft_drawdown", "hard_drawdown", "daily_loss")
    table = {k: (str(v) if k in decimals and isinstance(v, (int, float, Decimal))
                 and not isinstance(v, bool) else v) for k, v in table.items()}
    try:
        limits = msgspec.convert(table, StateLimits)
    except msgspec.ValidationError as exc:
        raise InputError(f"{where}: {exc}; see docs/risk.md, 'Trading state'") from None
    for key in ("soft_drawdown", "hard_drawdown"):
        _check_decimal(limits, key, where, upper=Decimal(1))
    _check_decimal(limits, "daily_loss", where, upper=None)
    soft, hard = limits.fraction("soft_drawdown"), limits.fraction("hard_drawdown")
    if soft is not None and hard is not None and soft >= hard:
        raise InputError(f"{where}: soft_drawdown {soft} must be below hard_drawdown {hard}")
    for key in ("losing_streak", "venue_errors", "venue_error_window_s", "check_every_s"):
        value = getattr(limits, key)
        if value is not None and value <= 0:
            raise InputError(f"{where}: {key} = {value} must be a positive integer")
    try:
        limits.kill_at_ns()
    except ValueError:
        raise InputError(f"{where}: kill_at = {limits.kill_at!r} is not an ISO time; "
                         "write e.g. \"2022-01-10T00:00:00Z\"") from None
    return limits


def _check_decimal(limits: StateLimits, key: str, where: str, *, upper: Decimal | None) -> None:
    text = getattr(limits, key)
    if text is None:
        return
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{where}: {key} = {text!r} is not a number") from None
    if not value.is_finite() or value <= 0 or (upper is not None and value >= upper):
        bound = f" and below {upper}" if upper is not None else ""
        raise InputError(f"{where}: {key} = {text} must be above 0{bound}")


class TriggerMonitor:
    """Watches one run's equity, round trips, rejections and feeds; fires the machine."""

    def __init__(self, limits: StateLimits, machine: TradingMachine, portfolio: Portfolio,
                 om: OrderManager) -> None:
        self.limits = limits
        self.machine = machine
        self.portfolio = portfolio
        self.om = om
        scale = 10 ** portfolio.money_precision
        loss = limits.fraction("daily_loss")
        self._daily_raw = None if loss is None else int(loss * scale)
        self._soft = limits.fraction("soft_drawdown")
        self._hard = limits.fraction("hard_drawdown")
        self.peak: int | None = None
        self.day = -1
        self.day_start = 0
        self._trips_seen = 0
        self.streak = 0
        self._errors: deque[int] = deque()
        self._bad_feeds: set[tuple[str, str]] = set()
        self._syncing: set[tuple[str, str]] = set()  # books waiting for their first sync
        self._synced: set[tuple[str, str]] = set()   # books that have been synced once

    # -- equity ------------------------------------------------------------------------------
    def check_equity(self, ts: int) -> None:
        """Drawdown from peak and the UTC day's loss, exactly, at ``ts``."""
        pf = self.portfolio
        if any(p.qty and iid not in pf.marks for iid, p in pf.positions.items()):
            return  # a position without a mark has no equity yet
        equity = pf.equity()
        if ts // _DAY != self.day:
            self.day, self.day_start = ts // _DAY, equity
        if self.peak is None or equity > self.peak:
            self.peak = equity
        evidence = {"equity": str(pf.money(equity)), "peak": str(pf.money(self.peak)),
                    "day_start": str(pf.money(self.day_start))}
        drop = self.peak - equity
        if self._hard is not None and self.peak > 0 and drop >= self._hard * self.peak:
            self.machine.fire(Trigger.HARD_DRAWDOWN, f"drawdown {drop / self.peak:.4%} from "
                              f"peak reached hard_drawdown {self._hard}", evidence)
        elif self._soft is not None and self.peak > 0 and drop >= self._soft * self.peak:
            self.machine.fire(Trigger.SOFT_DRAWDOWN, f"drawdown {drop / self.peak:.4%} from "
                              f"peak reached soft_drawdown {self._soft}", evidence)
        lost = self.day_start - equity
        if self._daily_raw is not None and lost >= self._daily_raw:
            self.machine.fire(Trigger.DAILY_LOSS, f"lost {pf.money(lost)} today (UTC), "
                              f"daily_loss is {self.limits.daily_loss}", evidence)

    def rebase(self) -> None:
        """An operator resumed: today's loss and the peak start again from now."""
        self.peak, self.day = None, -1

    # -- fills, rejections, feeds --------------------------------------------------------------
    def on_fill(self, ts: int) -> None:
        """Count losing round trips that closed with this fill; then check equity."""
        book = self.om.trips
        limit = self.limits.losing_streak
        closed = book.closed
        # the trips closed since the last fill (at most one a fill), read from the end:
        # O(1) on the bounded deque a live run keeps as on a backtest's list
        fresh = min(book.closed_count - self._trips_seen, len(closed))
        for back in range(fresh, 0, -1):
            trip = closed[-back]
            self.streak = self.streak + 1 if trip.net < 0 else 0
            if limit is not None and self.streak >= limit:
                self.machine.fire(Trigger.LOSING_STREAK,
                                  f"{self.streak} losing round trips in a row",
                                  {"streak": str(self.streak), "limit": str(limit),
                                   "last_net": str(self.portfolio.money(trip.net))})
        self._trips_seen = book.closed_count
        if self.limits.watches_equity:
            self.check_equity(ts)

    def on_rejection(self, ts: int, reason: str) -> None:
        """A venue rejection: K of them within the window degrade the run."""
        limit = self.limits.venue_errors
        if limit is None:
            return
        window = self.limits.venue_error_window_s * 1_000_000_000
        errors = self._errors
        errors.append(ts)
        while errors and errors[0] <= ts - window:
            errors.popleft()
        if len(errors) >= limit:
            self.machine.fire(Trigger.VENUE_ERRORS,
                              f"{len(errors)} venue rejections within "
                              f"{self.limits.venue_error_window_s} s",
                              {"count": str(len(errors)), "last": reason})
            errors.clear()

    def on_feed(self, health: FeedHealth) -> None:
        """A stale or gapped subscription degrades the run; all live again clears it.

        A book waiting for its first snapshot (no gap seen, never synced) is starting, not
        failing: every run would otherwise begin with a DEGRADED transition and deny its
        first orders. A gap, a resync after the book was once synced, a reconnect and a
        stream that never delivers anything (stale) still degrade the run."""
        if not self.limits.feed or health.state is FeedState.STOPPED:
            return
        key = (health.symbol, health.stream)
        evidence = {"symbol": health.symbol, "stream": health.stream,
                    "state": health.state.value, "gaps": str(health.gaps),
                    "age_ns": str(health.last_message_age_ns), "why": health.reason}
        if health.state is FeedState.RESYNCING and not health.gaps and key not in self._synced:
            self._syncing.add(key)
            return  # a book's first snapshot on its way: starting up, not degrading
        if health.state is FeedState.LIVE and key in self._syncing:
            self._syncing.discard(key)
            self._synced.add(key)
        if health.state in _BAD_FEED:
            self._bad_feeds.add(key)
            if self.machine.state is not RunState.INIT:
                self.machine.fire(Trigger.FEED, f"{health.symbol} {health.stream} is "
                                  f"{health.state.value}", evidence)
        elif health.state is FeedState.LIVE and key in self._bad_feeds:
            self._bad_feeds.discard(key)
            if not self._bad_feeds:
                self.machine.clear(Trigger.FEED, "every feed is live again", evidence)


__all__ = ["StateLimits", "TriggerMonitor", "state_limits"]
