"""Rate limiter: exact bucket math, venue-wide blocks, bounded retries, on injected time."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.errors import InputError, InvalidConfiguration, RetryableError, VenueUnavailable
from heron.execution.rate_limit import (
    NS_PER_S,
    BackoffConfig,
    EndpointCost,
    LimiterConfig,
    RateLimited,
    RateLimiter,
    RateLimitSignal,
    RetryPolicy,
    TokenBucket,
    WindowLimit,
    call_with_limits,
    limiter_config_from_ccxt,
    rate_limit_signal,
    window_limits_from_exchange_info,
)

MS = 1_000_000


class FakeTime:
    """A clock plus a timer heap: sleeping tasks wake when ``run`` moves time to them."""

    def __init__(self) -> None:
        self.ts = 0
        self.sleeps: list[int] = []
        self._timers: list[tuple[int, int, asyncio.Future[None]]] = []

    def now(self) -> int:
        return self.ts

    async def sleep(self, ns: int) -> None:
        self.sleeps.append(ns)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.ts + ns, len(self.sleeps), fut))
        await fut

    async def run(self, *coros: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while True:
            for _ in range(10 * len(tasks) + 10):
                await asyncio.sleep(0)
            if all(t.done() for t in tasks):
                return [t.result() for t in tasks]
            if not self._timers:
                raise RuntimeError("deadlock: tasks pending and no timer")
            deadline, _, fut = heapq.heappop(self._timers)
            self.ts = deadline
            fut.set_result(None)


def binance_limiter(time: FakeTime, seed: int = 7) -> RateLimiter:
    config = limiter_config_from_ccxt(ccxt.binanceusdm())
    return RateLimiter(config, clock=time, sleep=time.sleep, rng=random.Random(seed))


def small_config(**backoff: Any) -> LimiterConfig:
    return LimiterConfig(
        venue="test",
        weight=WindowLimit(name="weight", limit=Fraction(10), window_ns=NS_PER_S,
                           rate_per_s=Fraction(5)),
        orders=(WindowLimit(name="orders", limit=Fraction(4), window_ns=NS_PER_S // 2),),
        costs={"order": EndpointCost(Fraction(1), 1), "read": EndpointCost(Fraction(2))},
        backoff=BackoffConfig(**backoff),
    )


def test_bucket_refill_and_wait_are_exact() -> None:
    bucket = TokenBucket(WindowLimit(name="w", limit=Fraction(10), window_ns=10 * NS_PER_S,
                                     rate_per_s=Fraction(1, 2)), now_ns=0)
    assert bucket.capacity == 5
    bucket.take(Fraction(5), 0)
    assert bucket.wait_ns(Fraction(3), 2 * NS_PER_S) == 4 * NS_PER_S  # has 1, needs 2 more
    assert bucket.tokens == 1
    bucket.refill(100 * NS_PER_S)
    assert bucket.tokens == 5  # never above capacity
    assert bucket.wait_ns(Fraction(1, 3), 100 * NS_PER_S) == 0


def test_bucket_rate_at_or_above_limit_is_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="rate x window"):
        TokenBucket(WindowLimit(name="w", limit=Fraction(10), window_ns=NS_PER_S,
                                rate_per_s=Fraction(10)), now_ns=0)


def test_cost_above_burst_is_refused_not_waited_forever() -> None:
    time = FakeTime()
    limiter = RateLimiter(small_config(), clock=time, sleep=time.sleep)
    with pytest.raises(InvalidConfiguration, match="can never pass"):
        limiter.try_acquire(6)
    with pytest.raises(InvalidConfiguration, match="no rate-limit cost"):
        limiter.try_acquire("nope")


def test_an_endpoint_in_the_table_that_can_never_fit_is_refused_when_used() -> None:
    time = FakeTime()
    config = LimiterConfig(
        venue="test", weight=small_config().weight, orders=small_config().orders,
        costs={"heavy": EndpointCost(Fraction(6)), "batch": EndpointCost(Fraction(1), 3),
               "order": EndpointCost(Fraction(1), 1)})
    limiter = RateLimiter(config, clock=time, sleep=time.sleep)  # building it is fine
    with pytest.raises(InvalidConfiguration, match="costing 6 can never pass rate limit 'weight'"):
        limiter.try_acquire("heavy")
    with pytest.raises(InvalidConfiguration, match="costing 3 can never pass rate limit 'orders'"):
        limiter.try_acquire("batch")
    assert limiter.try_acquire("order")
    assert limiter.tokens("weight") == 4 and limiter.tokens("orders") == 1
    assert limiter.snapshot().requests == 1  # the refused ones spent nothing


def test_ccxt_defaults_are_read_from_the_exchange_object() -> None:
    exchange = ccxt.binanceusdm()
    config = limiter_config_from_ccxt(exchange)
    assert config.weight.rate_per_s == Fraction(1000) / exchange.rateLimit
    for api, method, path in [("fapiPrivate", "post", "order"), ("fapiPublic", "get", "depth"),
                              ("fapiPrivate", "get", "positionRisk")]:
        want = Fraction(str(exchange.api[api][method][path]["cost"]))
        assert config.costs[f"{api} {method.upper()} {path}"].weight == want
    assert config.costs["fapiPrivate POST order"].orders == 1
    assert config.costs["fapiPrivate DELETE order"].orders == 0
    assert config.weight.capacity == config.weight.limit - config.weight.rate_per_s * 60


def test_unknown_venue_weight_window_follows_ccxt_rate() -> None:
    exchange = ccxt.hyperliquid()
    config = limiter_config_from_ccxt(exchange)
    assert config.weight.rate_per_s == Fraction(1000) / exchange.rateLimit
    assert config.orders == ()
    biggest = max(c.weight for c in config.costs.values())
    assert config.weight.capacity == min(biggest, config.weight.rate_per_s * 60)


def test_exchange_info_rate_limits_become_windows() -> None:
    info = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
         "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 400},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
         "limit": 61000},
    ]
    limits = window_limits_from_exchange_info(info)
    assert [(w.name, w.limit, w.window_ns) for w in limits] == [
        ("weight", 6000, 60 * NS_PER_S), ("orders-10s", 100, 10 * NS_PER_S),
        ("orders-1m", 400, 60 * NS_PER_S)]
    config = limiter_config_from_ccxt(ccxt.binanceusdm(), limits=limits)
    assert config.weight.limit == 6000 and config.weight.rate_per_s == 20
    assert [w.limit for w in config.orders] == [100, 400]


def test_acquire_waits_exactly_the_missing_weight() -> None:
    time = FakeTime()
    limiter = binance_limiter(time)
    account = limiter.acquire("fapiPrivate GET account")
    waited = asyncio.run(time.run(limiter.acquire(1200), account))
    assert waited == [0, 250 * MS]  # 5 weight at 20/s
    assert time.sleeps == [250 * MS]
    snap = limiter.snapshot()
    assert (snap.requests, snap.waits, snap.wait_ns) == (2, 1, 250 * MS)
    assert snap.wait_seconds == 0.25


def test_order_endpoints_also_spend_order_counts() -> None:
    time = FakeTime()
    limiter = binance_limiter(time)
    burst = [limiter.acquire("fapiPrivate POST order") for _ in range(151)]
    waited = asyncio.run(time.run(*burst))
    assert waited[:150] == [0] * 150  # 10 s bucket: burst 150, refill 15/s
    assert waited[150] == -(-NS_PER_S // 15)  # ceil(1/15 s)
    refill = Fraction(waited[150], NS_PER_S)  # seconds the last one waited
    assert limiter.tokens("weight") == 1200 - 151 * 4 + 20 * refill
    assert limiter.tokens("orders-1m") == 600 - 151 + 10 * refill


def test_try_acquire_never_waits_and_never_jumps_the_queue() -> None:
    time = FakeTime()
    limiter = RateLimiter(small_config(), clock=time, sleep=time.sleep)
    assert limiter.try_acquire("read") and limiter.try_acquire("read")
    assert not limiter.try_acquire("read")  # 1 left, needs 2
    assert limiter.tokens("weight") == 1

    async def queued_then_try() -> bool:
        waiter = asyncio.ensure_future(limiter.acquire("read"))
        await asyncio.sleep(0)
        time.ts += NS_PER_S  # tokens are back, but a caller is still queued
        refused = not limiter.try_acquire(1)
        await waiter
        return refused

    assert asyncio.run(time.run(queued_then_try())) == [True]
    assert limiter.snapshot().requests == 3


def test_acquire_goes_straight_through_only_when_nobody_is_queued() -> None:
    """The lock-free path of ``acquire`` (it fits now, nobody waits) must not overtake a
    caller that is still queued, even once the tokens are back before that caller ran."""
    time = FakeTime()
    limiter = RateLimiter(small_config(), clock=time, sleep=time.sleep)
    order: list[str] = []

    async def scene() -> None:
        await limiter.acquire("read")
        await limiter.acquire("read")  # 1 token left: the next read (2) must wait
        assert order == []

        async def take(name: str) -> None:
            await limiter.acquire("read")
            order.append(name)
        first = asyncio.ensure_future(take("queued"))
        await asyncio.sleep(0)  # it sleeps for its tokens
        time.ts += NS_PER_S  # the tokens are back, and the queued caller has not run yet
        second = asyncio.ensure_future(take("late"))
        await asyncio.gather(first, second)

    asyncio.run(time.run(scene()))
    assert order == ["queued", "late"]
    assert limiter.snapshot().requests == 4


def test_retry_after_blocks_every_caller_once_in_order() -> None:
    time = FakeTime()
    limiter = binance_limiter(time)
    signal = rate_limit_signal("binanceusdm", status=429, headers={"Retry-After": "30"})
    assert signal == RateLimitSignal(False, 30 * NS_PER_S, "429")
    limiter.back_off(signal)
    done: list[tuple[int, int]] = []

    async def caller(i: int) -> None:
        await limiter.acquire("fapiPrivate GET order")
        done.append((i, time.now()))

    asyncio.run(time.run(*(caller(i) for i in range(8))))
    assert done == [(i, 30 * NS_PER_S) for i in range(8)]
    assert time.sleeps == [30 * NS_PER_S]  # only the head of the queue slept
    assert limiter.snapshot().rate_limited == 1


def test_ban_418_blocks_until_retry_after() -> None:
    time = FakeTime()
    limiter = binance_limiter(time)
    signal = rate_limit_signal("binanceusdm", status=418, headers={"retry-after": "120"})
    assert signal is not None and signal.banned
    assert limiter.back_off(signal) == 120 * NS_PER_S
    time.ts = 120 * NS_PER_S - 1
    assert not limiter.try_acquire(1)
    time.ts = 120 * NS_PER_S
    assert limiter.try_acquire(1)
    assert limiter.snapshot().banned == 1


def test_backoff_jitter_stays_in_bounds_and_escalates_once_per_burst() -> None:
    config = BackoffConfig(base_s=Fraction(1), cap_s=Fraction(16), jitter=Fraction(1, 2))
    rng = random.Random(42)
    for level in range(10):
        full = min(16, 2**level) * NS_PER_S
        for _ in range(50):
            assert full // 2 <= config.delay_ns(level, banned=False, rng=rng) <= full
    time = FakeTime()
    limiter = RateLimiter(small_config(base_s=Fraction(1), jitter=Fraction(1, 2)),
                          clock=time, sleep=time.sleep, rng=random.Random(3))
    no_header = RateLimitSignal(False, None, "50011")
    first = limiter.back_off(no_header)
    assert NS_PER_S // 2 <= first <= NS_PER_S
    assert [limiter.back_off(no_header) for _ in range(5)] == [first] * 5  # same burst
    time.ts = first
    second = limiter.back_off(no_header) - first
    assert NS_PER_S <= second <= 2 * NS_PER_S  # escalated once
    limiter.on_success()
    time.ts += 10 * NS_PER_S
    assert limiter.back_off(no_header) - time.ts <= NS_PER_S  # reset after a success


@pytest.mark.parametrize(("venue", "status", "headers", "body", "want"), [
    ("binanceusdm", 429, {"Retry-After": "7"}, None, RateLimitSignal(False, 7 * NS_PER_S, "429")),
    ("binanceusdm", 400, {}, {"code": -1015}, RateLimitSignal(False, None, "-1015")),
    ("binanceusdm", 400, {}, {"code": -2010}, None),
    ("okx", 200, {}, {"code": "50011", "msg": "Too Many Requests"},
     RateLimitSignal(False, None, "50011")),
    ("bybit", 200, {"X-Bapi-Limit-Reset-Timestamp": "1500"}, {"retCode": 10006},
     RateLimitSignal(False, 500 * MS, "10006")),
    ("bybit", 403, {}, None, RateLimitSignal(True, None, "403")),
    ("hyperliquid", 429, {"Retry-After": "Thu, 01 Jan 1970 00:00:05 GMT"}, None,
     RateLimitSignal(False, 4 * NS_PER_S, "429")),
    ("hyperliquid", 500, {}, None, None),
])
def test_rate_limit_signal_maps_venue_answers(venue: str, status: int,
                                              headers: dict[str, str],
                                              body: dict[str, Any] | None,
                                              want: RateLimitSignal | None) -> None:
    got = rate_limit_signal(venue, status=status, headers=headers, body=body, now_ns=NS_PER_S)
    assert got == want


def test_no_retry_storm_with_concurrent_callers() -> None:
    """20 requests in flight all get a 429: one block, then each is retried exactly once."""
    time = FakeTime()
    limiter = RateLimiter(small_config(base_s=Fraction(2)), clock=time, sleep=time.sleep,
                          rng=random.Random(1))
    calls: list[int] = []

    async def venue() -> str:
        calls.append(time.now())
        await asyncio.sleep(0)  # in flight together
        if len(calls) <= 20:
            raise RateLimited("test", RateLimitSignal(False, None, "429"))
        return "ok"

    async def caller() -> str:
        return await call_with_limits(limiter, venue, 0, RetryPolicy(max_attempts=3))

    results = asyncio.run(time.run(*(caller() for _ in range(20))))
    assert results == ["ok"] * 20
    assert len(calls) == 40  # not 20 x 3
    block_end = calls[20]
    assert NS_PER_S <= block_end <= 2 * NS_PER_S and calls[20:] == [block_end] * 20
    assert time.sleeps == [block_end]
    snap = limiter.snapshot()
    assert (snap.rate_limited, snap.retries, snap.requests) == (20, 20, 40)


def test_one_failing_request_is_tried_a_bounded_number_of_times() -> None:
    time = FakeTime()
    limiter = RateLimiter(small_config(), clock=time, sleep=time.sleep, rng=random.Random(0))
    calls = 0

    def failing(error: BaseException) -> Callable[[], Awaitable[None]]:
        async def fn() -> None:
            nonlocal calls
            calls += 1
            raise error
        return fn

    with pytest.raises(VenueUnavailable, match="after 4 attempts"):
        asyncio.run(time.run(call_with_limits(
            limiter, failing(RetryableError("timeout")), "read", RetryPolicy(max_attempts=4),
            rng=random.Random(0))))
    assert calls == 4 and limiter.snapshot().retries == 3
    assert len(time.sleeps) == 3  # the policy's own backoff between attempts
    calls = 0
    with pytest.raises(InputError):
        asyncio.run(time.run(call_with_limits(limiter, failing(InputError("bad")), "read")))
    assert calls == 1  # not retryable: tried once
    calls = 0
    only_429 = RetryPolicy(max_attempts=5, retry_on=(RateLimited,))
    with pytest.raises(RetryableError, match="timeout"):
        asyncio.run(time.run(call_with_limits(
            limiter, failing(RetryableError("timeout")), "read", only_429)))
    assert calls == 1  # a submit's lost answer is not resent blindly


def test_usage_headers_lower_the_buckets_and_never_raise_them() -> None:
    time = FakeTime()
    limiter = binance_limiter(time)
    assert limiter.try_acquire("fapiPrivate POST order")
    limiter.observe_headers({"x-mbx-used-weight-1m": "1100", "X-MBX-ORDER-COUNT-10S": "149",
                             "X-MBX-ORDER-COUNT-1M": "junk"})
    assert limiter.tokens("weight") == 100  # capacity 1200 - 1100 used
    assert limiter.tokens("orders-10s") == 1
    assert limiter.tokens("orders-1m") == 599  # unreadable header ignored
    limiter.observe_headers({"X-MBX-USED-WEIGHT-1M": "0"})
    assert limiter.tokens("weight") == 100
    assert not limiter.try_acquire(101)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400 * MS), st.sampled_from(["order", "read", 1, 3]),
                          st.booleans(), st.integers(0, 12)), max_size=80))
def test_budget_never_exceeded_in_any_window(ops: list[tuple[int, Any, bool, int]]) -> None:
    time = FakeTime()

    async def advance(ns: int) -> None:
        time.ts += ns

    config = small_config()
    config = LimiterConfig(venue=config.venue, weight=config.weight, orders=config.orders,
                           costs=config.costs, usage_headers={"X-Used": "weight"})
    limiter = RateLimiter(config, clock=time, sleep=advance)
    grants: list[tuple[int, Fraction, int]] = []
    for gap, what, blocking, header in ops:
        time.ts += gap
        cost = limiter.cost_of(what)
        if blocking:
            asyncio.run(limiter.acquire(what))
        elif not limiter.try_acquire(what):
            continue
        grants.append((time.ts, cost.weight, cost.orders))
        limiter.observe_headers({"x-used": str(header)})  # the venue's count, any value
    for start, _, _ in grants:
        weight = sum(w for t, w, _ in grants if start <= t <= start + NS_PER_S)
        orders = sum(o for t, _, o in grants if start <= t <= start + NS_PER_S // 2)
        assert weight <= 10 and orders <= 4
