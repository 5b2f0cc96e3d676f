"""Rate limiting for live venues: weighted token buckets, venue-wide backoff, bounded retries.

Why this exists: a venue that sees too many requests first answers 429, then bans the IP
(Binance 418) for minutes to days, and a ban in the middle of a live run means orders that
cannot be cancelled. So every request to a venue passes :meth:`RateLimiter.acquire` first.

The model (Binance USD-M style, ccxt's numbers by default):

* a request costs a *weight* against a shared budget; order endpoints also cost *order
  counts* against the order budgets (Binance: per 10 s and per minute);
* each budget is a :class:`WindowLimit` -- the venue's ``limit`` per ``window`` -- enforced
  by a token bucket whose burst ``capacity`` is ``limit - rate * window``. Tokens never go
  negative, so over *any* window of that length at most ``capacity + rate * window == limit``
  is spent: no fixed or sliding window of the venue can be overrun by heron alone;
* the sustained rate is ccxt's own (``1000 / exchange.rateLimit`` cost units per second) and
  the per-endpoint weights are ccxt's ``api`` cost tables, read from the exchange object;
* amounts are exact (integer units of a bucket's own fraction of a token; see
  :class:`TokenBucket`) and time is integer nanoseconds from a
  :class:`heron.core.clock.Clock`, so the waits are exact and tests need no wall time.

Backoff: a rate-limit answer blocks *every* request to that venue until its Retry-After (or
the ban) ends; without a Retry-After the block grows exponentially with jitter up to a cap.
Callers queue in FIFO order behind one lock, and only the head of the queue sleeps, so when
a block ends the waiters wake once, in order -- never a retry storm. Answers that arrive
while a block is already running do not escalate it (one burst of 429s is one escalation).

Venue answers mapped by :func:`rate_limit_signal` (anything else is not a rate limit)::

    venue        answer                                   meaning       wait
    binance*     HTTP 429, body code -1003 / -1015        rate limited  Retry-After (s)
    binance*     HTTP 418                                 IP banned     Retry-After (s)
    okx          HTTP 429, body code "50011" / "50061"    rate limited  backoff
    bybit        retCode 10006 / 10018, HTTP 429          rate limited  X-Bapi-Limit-Reset-Timestamp
    bybit        HTTP 403 ("access too frequent")         IP banned     backoff (ban base)
    any other    HTTP 429                                 rate limited  Retry-After if given

Usage headers (Binance ``X-MBX-USED-WEIGHT-1M``, ``X-MBX-ORDER-COUNT-10S``,
``X-MBX-ORDER-COUNT-1M``) lower the local buckets to what the venue says is left, so another
process on the same IP or a restart mid-minute is accounted for; they never raise them.
A bucket is lowered to ``capacity - used`` (not ``limit - used``) because the refill still to
come inside the venue's window, at most ``rate * window``, has to fit as well.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from fractions import Fraction
from typing import Any, TypeVar

from heron.core.clock import Clock
from heron.errors import InvalidConfiguration, RetryableError, VenueUnavailable

NS_PER_S = 1_000_000_000
_HTTP_METHODS = frozenset({"get", "post", "put", "delete", "patch"})
T = TypeVar("T")

_Units = tuple[int, ...]
"""A request's cost in integer bucket units: weight, then one per order bucket (an
endpoint that places no orders stops after the weight)."""

Sleep = Callable[[int], Awaitable[None]]
"""Sleeps for a number of nanoseconds; injected so tests drive time themselves."""


async def asyncio_sleep(ns: int) -> None:
    """The production :data:`Sleep`: the event loop's timer, never a busy loop."""
    await asyncio.sleep(ns / NS_PER_S)


def exact(value: float | int | str | Fraction) -> Fraction:
    """A ccxt cost (often a float such as 0.1) as the exact decimal it was written as."""
    if isinstance(value, float):
        return Fraction(repr(value))
    return Fraction(value)


@dataclass(frozen=True, kw_only=True)
class WindowLimit:
    """A venue budget: at most ``limit`` units in any ``window_ns``.

    ``rate_per_s`` is the sustained refill; left ``None`` it is half the limit spread over
    the window, leaving the other half as burst.
    """

    name: str
    limit: Fraction
    window_ns: int
    rate_per_s: Fraction | None = None

    @property
    def rate_per_ns(self) -> Fraction:
        if self.rate_per_s is None:
            return self.limit / 2 / self.window_ns
        return self.rate_per_s / NS_PER_S

    @property
    def capacity(self) -> Fraction:
        return self.limit - self.rate_per_ns * self.window_ns


class TokenBucket:
    """One budget's tokens; refilled lazily from the clock, never below zero.

    Kept in integer *units* of ``1 / scale`` token, where ``scale`` makes the refill per
    nanosecond, the capacity and the limit whole numbers: the arithmetic of every request
    is then a few integer operations instead of ``Fraction`` ones (tens of microseconds on
    the order path), and still exact. A cost that is not a whole number of units (a bare
    float weight from ccxt) is rounded *up*, so the bucket can only be more careful.
    """

    __slots__ = ("cap_units", "limit", "rate_units", "scale", "ts", "units")

    def __init__(self, limit: WindowLimit, now_ns: int) -> None:
        if limit.window_ns <= 0 or limit.rate_per_ns <= 0 or limit.capacity <= 0:
            raise InvalidConfiguration(
                f"rate limit {limit.name!r}: rate x window must be below the limit and both "
                "positive; lower rate_per_s or raise limit"
            )
        self.limit = limit
        rate, capacity = limit.rate_per_ns, limit.capacity
        self.scale = math.lcm(rate.denominator, capacity.denominator, limit.limit.denominator)
        self.rate_units = int(rate * self.scale)
        self.cap_units = int(capacity * self.scale)
        self.units = self.cap_units
        self.ts = now_ns

    @property
    def capacity(self) -> Fraction:
        return Fraction(self.cap_units, self.scale)

    @property
    def tokens(self) -> Fraction:
        return Fraction(self.units, self.scale)

    def units_of(self, cost: Fraction | int) -> int:
        """``cost`` tokens in this bucket's units, rounded up."""
        cost = Fraction(cost)
        return -(-cost.numerator * self.scale // cost.denominator)

    def refill(self, now_ns: int) -> None:
        if now_ns > self.ts:
            self.units = min(self.cap_units, self.units + (now_ns - self.ts) * self.rate_units)
            self.ts = now_ns

    def wait_units(self, cost_units: int, now_ns: int) -> int:
        """Nanoseconds until ``cost_units`` are there (0 if they are now)."""
        self.refill(now_ns)
        missing = cost_units - self.units
        return 0 if missing <= 0 else -(-missing // self.rate_units)

    def wait_ns(self, cost: Fraction, now_ns: int) -> int:
        """Nanoseconds until ``cost`` tokens are there (0 if they are now)."""
        units = self.units_of(cost)
        if units > self.cap_units:
            raise InvalidConfiguration(
                f"a request costing {cost} can never pass rate limit {self.limit.name!r} "
                f"(burst {self.capacity}); raise its limit or lower its rate_per_s"
            )
        return self.wait_units(units, now_ns)

    def take_units(self, cost_units: int, now_ns: int) -> None:
        self.refill(now_ns)
        self.units -= cost_units

    def take(self, cost: Fraction, now_ns: int) -> None:
        self.take_units(self.units_of(cost), now_ns)

    def cap_at(self, remaining: Fraction, now_ns: int) -> None:
        """Lower the tokens to what the venue says is left (never raise them)."""
        self.cap_units_at(max(0, math.floor(remaining * self.scale)), now_ns)

    def cap_units_at(self, remaining_units: int, now_ns: int) -> None:
        self.refill(now_ns)
        self.units = max(0, min(self.units, remaining_units))


@dataclass(frozen=True)
class EndpointCost:
    """What one request spends: weight, and order counts for order-placing endpoints."""

    weight: Fraction
    orders: int = 0


@dataclass(frozen=True, kw_only=True)
class BackoffConfig:
    """Exponential backoff used when the venue gives no Retry-After: ``base * 2**n`` capped,
    then shortened by up to ``jitter`` (a fraction) so separate processes spread out."""

    base_s: Fraction = Fraction(1)
    cap_s: Fraction = Fraction(60)
    ban_base_s: Fraction = Fraction(120)
    ban_cap_s: Fraction = Fraction(3600)
    jitter: Fraction = Fraction(1, 2)

    def delay_ns(self, level: int, *, banned: bool, rng: random.Random) -> int:
        base, cap = (self.ban_base_s, self.ban_cap_s) if banned else (self.base_s, self.cap_s)
        full = min(cap, base * (1 << min(level, 62)))
        return math.ceil(full * (1 - self.jitter * exact(rng.random())) * NS_PER_S)


@dataclass(frozen=True, kw_only=True)
class LimiterConfig:
    """Everything a :class:`RateLimiter` needs for one venue (and one IP / account)."""

    venue: str
    weight: WindowLimit
    orders: tuple[WindowLimit, ...] = ()
    costs: Mapping[str, EndpointCost] = field(default_factory=dict)
    usage_headers: Mapping[str, str] = field(default_factory=dict)
    backoff: BackoffConfig = BackoffConfig()


@dataclass
class RateLimitCounters:
    """A plain snapshot for metrics: granted requests, how many waited and for how long,
    rate-limit (429-like) and ban (418-like) answers, and retries made."""

    requests: int = 0
    waits: int = 0
    wait_ns: int = 0
    rate_limited: int = 0
    banned: int = 0
    retries: int = 0

    @property
    def wait_seconds(self) -> float:
        return self.wait_ns / NS_PER_S


@dataclass(frozen=True)
class RateLimitSignal:
    """A venue answer that means "slow down": ``banned`` for IP bans, and how long to wait
    when the venue said so."""

    banned: bool
    retry_after_ns: int | None
    code: str


class RateLimited(RetryableError):
    """A request was refused by the venue's rate limit; carries the signal for the limiter."""

    def __init__(self, venue: str, signal: RateLimitSignal) -> None:
        what = "banned this IP" if signal.banned else "rate-limited the request"
        super().__init__(f"{venue} {what} (code {signal.code}); heron backs off, retry later")
        self.venue = venue
        self.signal = signal


class RateLimiter:
    """The gate in front of one venue: weighted buckets, a FIFO queue and a venue-wide block.

    Only the caller at the head of the queue ever sleeps (for exactly the computed time);
    the rest wait on the queue's lock, so a block or an empty bucket wakes them one by one.
    """

    def __init__(
        self,
        config: LimiterConfig,
        *,
        clock: Clock,
        sleep: Sleep = asyncio_sleep,
        rng: random.Random | None = None,
    ) -> None:
        now = clock.now()
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._weight = TokenBucket(config.weight, now)
        self._orders = tuple(TokenBucket(limit, now) for limit in config.orders)
        self._by_name = {b.limit.name: b for b in (self._weight, *self._orders)}
        self._queue = asyncio.Lock()
        self._queued = 0  # callers inside acquire's slow path (holding or awaiting the lock)
        self._blocked_until = now
        self._level = 0
        self._counters = RateLimitCounters()
        self._buckets = (self._weight, *self._orders)  # in the order of a cost's units
        self._known_units: dict[int, tuple[EndpointCost, _Units]] = {}
        for cost in config.costs.values():
            units = self._convert(cost)
            if self._fits_ever(units):  # the rest are refused when used (see _units)
                self._known_units[id(cost)] = (cost, units)

    @property
    def blocked_until_ns(self) -> int:
        return self._blocked_until

    def snapshot(self) -> RateLimitCounters:
        c = self._counters
        return RateLimitCounters(c.requests, c.waits, c.wait_ns, c.rate_limited, c.banned,
                                 c.retries)

    def tokens(self, name: str) -> Fraction:
        """Tokens left in the named bucket now (for reports and tests)."""
        bucket = self._by_name[name]
        bucket.refill(self._clock.now())
        return bucket.tokens

    def cost_of(self, endpoint_or_cost: str | float | Fraction | EndpointCost) -> EndpointCost:
        """An endpoint key (``"fapiPrivate POST order"``) or a bare weight, as a cost."""
        if isinstance(endpoint_or_cost, EndpointCost):
            return endpoint_or_cost
        if isinstance(endpoint_or_cost, str):
            try:
                return self.config.costs[endpoint_or_cost]
            except KeyError:
                raise InvalidConfiguration(
                    f"no rate-limit cost for endpoint {endpoint_or_cost!r} on "
                    f"{self.config.venue}; pass its weight or add it to the costs"
                ) from None
        return EndpointCost(exact(endpoint_or_cost))

    def _units(self, cost: EndpointCost) -> _Units:
        """The cost in each bucket's integer units (from the table built at start for the
        venue's endpoints, checked there), refused when it can never fit in a bucket's
        burst."""
        known = self._known_units.get(id(cost))
        if known is not None and known[0] is cost:
            return known[1]
        units = self._convert(cost)
        for bucket, n in zip(self._buckets, units, strict=False):
            if n > bucket.cap_units:
                self._refuse(cost.orders if bucket is not self._weight else cost.weight,
                             bucket)
        return units

    def _convert(self, cost: EndpointCost) -> _Units:
        weight = self._weight.units_of(cost.weight) if cost.weight else 0
        if not cost.orders:
            return (weight,)
        return (weight, *(b.units_of(cost.orders) for b in self._orders))

    def _fits_ever(self, units: _Units) -> bool:
        return all(n <= b.cap_units for b, n in zip(self._buckets, units, strict=False))

    @staticmethod
    def _refuse(cost: Fraction | int, bucket: TokenBucket) -> None:
        raise InvalidConfiguration(
            f"a request costing {cost} can never pass rate limit {bucket.limit.name!r} "
            f"(burst {bucket.capacity}); raise its limit or lower its rate_per_s")

    def _wait_ns(self, units: _Units, now: int) -> int:
        wait = max(0, self._blocked_until - now)
        for bucket, cost in zip(self._buckets, units, strict=False):
            if cost:
                wait = max(wait, bucket.wait_units(cost, now))
        return wait

    def _take_now(self, units: _Units, now: int) -> bool:
        """Spend ``units`` if the venue is not blocked and every bucket has them now (the
        one place a request's cost is spent); each bucket is refilled once. When it says
        no, :meth:`_wait_ns` says for how long (always > 0 then)."""
        if self._blocked_until > now:
            return False
        buckets = self._buckets
        for bucket, cost in zip(buckets, units, strict=False):
            bucket.refill(now)
            if cost > bucket.units:
                return False
        for bucket, cost in zip(buckets, units, strict=False):
            bucket.units -= cost
        self._counters.requests += 1
        return True

    async def acquire(self, endpoint_or_cost: str | float | Fraction | EndpointCost) -> int:
        """Wait until the request may go, spend its cost, return the nanoseconds waited."""
        units = self._units(self.cost_of(endpoint_or_cost))
        start = self._clock.now()
        if not self._queued and self._take_now(units, start):
            return 0  # nobody queued, and it fit now: no lock to take
        self._queued += 1
        try:
            async with self._queue:
                now = self._clock.now()
                while not self._take_now(units, now):  # spent at the time it was judged
                    await self._sleep(self._wait_ns(units, now))
                    now = self._clock.now()
        finally:
            self._queued -= 1
        if now > start:
            self._counters.waits += 1
            self._counters.wait_ns += now - start
        return now - start

    def try_acquire(self, endpoint_or_cost: str | float | Fraction | EndpointCost) -> bool:
        """Spend the cost if it can go *now* without jumping the queue; never waits."""
        units = self._units(self.cost_of(endpoint_or_cost))
        now = self._clock.now()
        return not self._queued and self._take_now(units, now)

    def back_off(self, signal: RateLimitSignal) -> int:
        """Block the whole venue after a rate-limit answer; returns when the block ends.

        A Retry-After is honoured as given. Without one, the block escalates exponentially,
        but only when no block is running: the other 429s of the same burst change nothing.
        """
        now = self._clock.now()
        if signal.banned:
            self._counters.banned += 1
        else:
            self._counters.rate_limited += 1
        if signal.retry_after_ns is not None:
            self._blocked_until = max(self._blocked_until, now + signal.retry_after_ns)
        elif now >= self._blocked_until:
            delay = self.config.backoff.delay_ns(self._level, banned=signal.banned,
                                                 rng=self._rng)
            self._level += 1
            self._blocked_until = now + delay
        return self._blocked_until

    def on_success(self) -> None:
        """A request went through: the next rate-limit answer starts from the base delay."""
        self._level = 0

    def count_retry(self) -> None:
        self._counters.retries += 1

    async def pause(self, ns: int) -> None:
        """Sleep on the limiter's own timer (the retry delay of a failed request)."""
        await self._sleep(ns)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Lower the buckets to the venue's own count of what was used in its window."""
        now = self._clock.now()
        lowered = {k.lower(): v for k, v in headers.items()}
        for header, name in self.config.usage_headers.items():
            raw = lowered.get(header.lower())
            bucket = self._by_name.get(name)
            if raw is None or bucket is None:
                continue
            text = raw.strip()
            try:  # the usual integer count parses far faster as an int
                used = int(text) * bucket.scale if text.isdigit() else bucket.units_of(
                    Fraction(text))
            except ValueError:
                continue
            # capacity - used, not limit - used: the refill still to come in the venue's
            # window (at most rate x window) must fit too.
            bucket.cap_units_at(bucket.cap_units - used, now)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often one request may be tried, and for which errors.

    Rate-limit answers (:class:`RateLimited`) wait on the venue-wide block; other retryable
    errors wait on this policy's own backoff. Use ``retry_on=(RateLimited,)`` for requests
    that are not idempotent (an order submit): a 429 means the venue refused it, while a
    timeout may hide an accepted order that must be looked up by client id, not resent.
    """

    max_attempts: int = 3
    retry_on: tuple[type[BaseException], ...] = (RetryableError,)
    backoff: BackoffConfig = BackoffConfig(base_s=Fraction(1, 2), cap_s=Fraction(10))

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidConfiguration("RetryPolicy.max_attempts must be at least 1")


async def call_with_limits(
    limiter: RateLimiter,
    fn: Callable[[], Awaitable[T]],
    cost: str | float | Fraction | EndpointCost,
    policy: RetryPolicy | None = None,
    *,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` through the limiter, retrying at most ``policy.max_attempts`` times in all.

    Every attempt acquires from the limiter first, so a retry can never bypass a block;
    errors the policy does not name propagate at once. After the last attempt the error is
    raised as :class:`VenueUnavailable`.
    """
    policy = policy or RetryPolicy()
    rng = rng or random.Random()
    for attempt in range(1, policy.max_attempts + 1):
        await limiter.acquire(cost)
        try:
            result = await fn()
        except policy.retry_on as exc:
            error: BaseException = exc
            if isinstance(exc, RateLimited):
                limiter.back_off(exc.signal)
            elif attempt < policy.max_attempts:
                await limiter.pause(policy.backoff.delay_ns(attempt - 1, banned=False, rng=rng))
        else:
            limiter.on_success()
            return result
        if attempt < policy.max_attempts:
            limiter.count_retry()
    raise VenueUnavailable(
        f"{limiter.config.venue} still failing after {policy.max_attempts} attempts ({error}); "
        "wait and run again"
    ) from error


def _retry_after_ns(headers: Mapping[str, str], now_ns: int) -> int | None:
    """Retry-After as seconds or as an HTTP date; ``None`` when absent or unreadable."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return int(raw) * NS_PER_S
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0, int(when.timestamp()) * NS_PER_S - now_ns)


def _binance_signal(status: int | None, code: str | None, after: int | None,
                    h: Mapping[str, str], now_ns: int) -> RateLimitSignal | None:
    if status == 418:
        return RateLimitSignal(True, after, "418")
    if status == 429 or code in {"-1003", "-1015"}:
        return RateLimitSignal(False, after, code or "429")
    return None


def _okx_signal(status: int | None, code: str | None, after: int | None,
                h: Mapping[str, str], now_ns: int) -> RateLimitSignal | None:
    if status == 429 or code in {"50011", "50061"}:
        return RateLimitSignal(False, None, code or "429")
    return None


def _bybit_signal(status: int | None, code: str | None, after: int | None,
                  h: Mapping[str, str], now_ns: int) -> RateLimitSignal | None:
    if status == 403:
        return RateLimitSignal(True, None, "403")
    if status == 429 or code in {"10006", "10018"}:
        reset = h.get("x-bapi-limit-reset-timestamp", "").strip()
        if reset.isdigit():
            after = max(0, int(reset) * 1_000_000 - now_ns)
        return RateLimitSignal(False, after, code or "429")
    return None


def _http_signal(status: int | None, code: str | None, after: int | None,
                 h: Mapping[str, str], now_ns: int) -> RateLimitSignal | None:
    return RateLimitSignal(False, after, "429") if status == 429 else None


_SIGNALS = {"binance": _binance_signal, "okx": _okx_signal, "bybit": _bybit_signal}


def rate_limit_signal(
    venue: str,
    *,
    status: int | None,
    headers: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    now_ns: int = 0,
) -> RateLimitSignal | None:
    """Tell a venue's rate-limit answer from any other one (the table in the module doc).

    ``now_ns`` turns absolute reset times (an HTTP-date Retry-After, Bybit's reset
    timestamp) into a wait.
    """
    h = {k.lower(): v for k, v in (headers or {}).items()}
    code = None
    if body is not None:
        raw = body.get("code", body.get("retCode", body.get("ret_code")))
        code = None if raw is None else str(raw)
    family = "binance" if venue.startswith("binance") else venue
    signal = _SIGNALS.get(family, _http_signal)
    return signal(status, code, _retry_after_ns(h, now_ns), h, now_ns)


_MINUTE_NS = 60 * NS_PER_S
_INTERVAL_NS = {"SECOND": NS_PER_S, "MINUTE": _MINUTE_NS, "HOUR": 60 * _MINUTE_NS,
                "DAY": 24 * 60 * _MINUTE_NS}
_INTERVAL_SUFFIX = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}

# Venue limits ccxt does not carry (it has only a rate and weights). Binance USD-M publishes
# them in exchangeInfo ``rateLimits``; these are the values documented there, used until
# exchangeInfo is read (see window_limits_from_exchange_info).
_KNOWN_LIMITS: dict[str, tuple[WindowLimit, ...]] = {
    "binanceusdm": (
        WindowLimit(name="weight", limit=Fraction(2400), window_ns=_MINUTE_NS),
        WindowLimit(name="orders-10s", limit=Fraction(300), window_ns=10 * NS_PER_S),
        WindowLimit(name="orders-1m", limit=Fraction(1200), window_ns=_MINUTE_NS),
    ),
}
_ORDER_ENDPOINTS: dict[str, dict[str, int]] = {
    # batchOrders carries up to 5 orders: counted as 5 so a full batch cannot overrun.
    "binanceusdm": {"fapiPrivate POST order": 1, "fapiPrivate PUT order": 1,
                    "fapiPrivate POST batchOrders": 5, "fapiPrivate PUT batchOrders": 5},
}
_USAGE_HEADERS: dict[str, dict[str, str]] = {
    "binanceusdm": {"X-MBX-USED-WEIGHT-1M": "weight", "X-MBX-ORDER-COUNT-10S": "orders-10s",
                    "X-MBX-ORDER-COUNT-1M": "orders-1m"},
}


def _api_leaves(node: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], Any]]:
    for key, value in node.items():
        if isinstance(value, Mapping) and value and "cost" not in value:
            yield from _api_leaves(value, (*path, key))
        else:
            yield (*path, key), value


def ccxt_costs(api: Mapping[str, Any]) -> dict[str, EndpointCost]:
    """Endpoint weights from a ccxt ``exchange.api`` table, keyed ``"fapiPrivate POST order"``.

    ccxt's default cost is 1. Variants (``noSymbol``, ``byLimit``) are not folded in: a call
    that hits one passes ``exchange.calculate_rate_limiter_cost(...)`` as a bare weight.
    """
    costs: dict[str, EndpointCost] = {}
    for path, leaf in _api_leaves(api):
        key = " ".join(p.upper() if p.lower() in _HTTP_METHODS else p for p in path)
        raw = leaf.get("cost", 1) if isinstance(leaf, Mapping) else leaf
        costs[key] = EndpointCost(exact(raw if isinstance(raw, int | float) else 1))
    return costs


def window_limits_from_exchange_info(rate_limits: Sequence[Mapping[str, Any]]) -> list[
        WindowLimit]:
    """Binance exchangeInfo ``rateLimits`` as window limits named like the usage headers."""
    limits: list[WindowLimit] = []
    for entry in rate_limits:
        kind, interval = entry.get("rateLimitType"), entry.get("interval")
        if interval not in _INTERVAL_NS or kind not in {"REQUEST_WEIGHT", "ORDERS"}:
            continue
        num = int(entry.get("intervalNum", 1))
        name = ("weight" if kind == "REQUEST_WEIGHT"
                else f"orders-{num}{_INTERVAL_SUFFIX[interval]}")
        limits.append(WindowLimit(name=name, limit=Fraction(int(entry["limit"])),
                                  window_ns=num * _INTERVAL_NS[interval]))
    return limits


def limiter_config_from_ccxt(
    exchange: Any,
    *,
    limits: Sequence[WindowLimit] | None = None,
    order_endpoints: Mapping[str, int] | None = None,
    usage_headers: Mapping[str, str] | None = None,
    backoff: BackoffConfig | None = None,
) -> LimiterConfig:
    """A limiter config from a ccxt exchange: its rate and weights, plus the venue's windows.

    The sustained weight rate is ccxt's ``1000 / rateLimit`` per second. The weight window
    is the venue's (``limits``, else the known ones for the venue); with none known it is a
    minute holding ccxt's rate plus one request of the largest weight (at most a minute's
    worth) -- about what ccxt itself would let through. Each argument overrides its default.
    """
    venue = str(exchange.id)
    rate = Fraction(1000) / exact(exchange.rateLimit)
    costs = ccxt_costs(exchange.api)
    windows = list(limits) if limits is not None else list(_KNOWN_LIMITS.get(venue, ()))
    weight = next((w for w in windows if w.name == "weight"), None)
    if weight is None:
        biggest = max((c.weight for c in costs.values()), default=Fraction(1))
        burst = min(biggest, rate * 60)  # a few endpoints cost hours of rate (OKX)
        weight = WindowLimit(name="weight", limit=rate * 60 + burst, window_ns=_MINUTE_NS)
    if rate * weight.window_ns / NS_PER_S < weight.limit:
        weight = WindowLimit(name="weight", limit=weight.limit, window_ns=weight.window_ns,
                             rate_per_s=rate)
    counts = order_endpoints if order_endpoints is not None else _ORDER_ENDPOINTS.get(venue, {})
    for key, n in counts.items():
        costs[key] = EndpointCost(costs.get(key, EndpointCost(Fraction(1))).weight, n)
    return LimiterConfig(
        venue=venue,
        weight=weight,
        orders=tuple(w for w in windows if w.name != "weight"),
        costs=costs,
        usage_headers=dict(usage_headers if usage_headers is not None
                           else _USAGE_HEADERS.get(venue, {})),
        backoff=backoff or BackoffConfig(),
    )
