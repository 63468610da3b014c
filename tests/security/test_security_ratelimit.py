"""Sliding-window rate limiter with an injected clock: the behaviour tests run on
the in-process limiter and on the Redis one (the machine's Redis, a prefix per test)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from redis_support import LossyProxy, RedisServer, redis_url
from redis_workers import hammer_rate
from veronica.errors import StateUnavailableError
from veronica.security.ratelimit import (
    InMemoryRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
)
from veronica.state.redis import RedisState, connect


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return InMemoryRateLimiter()
    state: RedisState = request.getfixturevalue("redis_state")
    return RedisRateLimiter(state)


def test_allows_limit_hits_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    for i in range(3):
        assert limiter.hit("ip:1", 3, 60.0, now=100.0 + i) == RateDecision(True, 0.0)
    refused = limiter.hit("ip:1", 3, 60.0, now=130.0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(30.0)  # the hit at 100 leaves at 160


def test_window_slides_one_hit_at_a_time(limiter: RateLimiter) -> None:
    for t in (0.0, 10.0, 20.0):
        assert limiter.hit("k", 3, 60.0, now=t).allowed
    assert not limiter.hit("k", 3, 60.0, now=59.9).allowed
    assert limiter.hit("k", 3, 60.0, now=60.0).allowed  # the hit at 0 left the window
    assert not limiter.hit("k", 3, 60.0, now=61.0).allowed
    decision = limiter.hit("k", 3, 60.0, now=65.0)
    assert not decision.allowed and decision.retry_after_s == pytest.approx(5.0)
    assert limiter.hit("k", 3, 60.0, now=70.0).allowed


def test_refused_hits_are_not_counted(limiter: RateLimiter) -> None:
    assert limiter.hit("k", 1, 10.0, now=0.0).allowed
    for t in range(1, 10):
        assert not limiter.hit("k", 1, 10.0, now=float(t)).allowed
    assert limiter.hit("k", 1, 10.0, now=10.0).allowed


def test_keys_are_independent(limiter: RateLimiter) -> None:
    assert limiter.hit("ip:a", 1, 60.0, now=0.0).allowed
    assert not limiter.hit("ip:a", 1, 60.0, now=1.0).allowed
    assert limiter.hit("ip:b", 1, 60.0, now=1.0).allowed


def test_idle_keys_are_forgotten() -> None:
    limiter = InMemoryRateLimiter()
    for i in range(50):
        limiter.hit(f"ip:{i}", 5, 1.0, now=0.0)
    assert len(limiter) == 50
    limiter.hit("ip:late", 5, 1.0, now=10.0)
    assert len(limiter) == 1


def test_memory_is_bounded_by_max_keys() -> None:
    limiter = InMemoryRateLimiter(max_keys=10)
    for i in range(100):
        assert limiter.hit(f"ip:{i}", 1, 3600.0, now=float(i)).allowed
    assert len(limiter) == 10
    assert not limiter.hit("ip:99", 1, 3600.0, now=100.0).allowed, "recent keys are kept"


def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter) -> None:
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            decision = limiter.hit("shared", 100, 3600.0, now=1.0)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100 and len(allowed) == 400


def test_default_clock_is_used_without_now(limiter: RateLimiter) -> None:
    assert limiter.hit("k", 1, 3600.0).allowed
    assert not limiter.hit("k", 1, 3600.0).allowed


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_bad_parameters_are_refused(limiter: RateLimiter, limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        limiter.hit("k", limit, window, now=0.0)


def test_a_shrunk_limit_counts_from_the_right_hit(limiter: RateLimiter) -> None:
    for t in (0.0, 10.0, 20.0, 30.0):
        assert limiter.hit("k", 5, 60.0, now=t).allowed
    decision = limiter.hit("k", 2, 60.0, now=31.0)  # the 2 newest hits are at 20 and 30
    assert not decision.allowed and decision.retry_after_s == pytest.approx(49.0)


def test_wall_clock_times_keep_sub_millisecond_precision(limiter: RateLimiter) -> None:
    t0 = 1_765_000_000.123456
    assert limiter.hit("k", 1, 2.0, now=t0).allowed
    refused = limiter.hit("k", 1, 2.0, now=t0 + 1.9999)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.0001, abs=1e-6)
    assert limiter.hit("k", 1, 2.0, now=t0 + 2.0).allowed


# -- Redis only ----------------------------------------------------------------------------


def test_redis_log_expires_with_its_window(redis_state: RedisState) -> None:
    limiter = RedisRateLimiter(redis_state)
    assert limiter.hit("sessions:ip:203.0.113.7", 5, 60.0).allowed
    key = redis_state.key("rate", "sessions:ip:203.0.113.7")
    assert redis_state.client.zcard(key) == 1
    assert 59_000 < redis_state.client.pttl(key) <= 60_000
    assert limiter.hit("x", 1, 0.05).allowed
    assert 0 < redis_state.client.pttl(redis_state.key("rate", "x")) <= 50


def test_redis_limiter_is_shared_between_clients(redis_state: RedisState) -> None:
    """Two instances (two clients, one Redis) share one budget."""
    other = connect(redis_url(), prefix=redis_state.prefix)
    try:
        first, second = RedisRateLimiter(redis_state), RedisRateLimiter(other)
        assert first.hit("ip:a", 2, 60.0, now=0.0).allowed
        assert second.hit("ip:a", 2, 60.0, now=1.0).allowed
        assert not first.hit("ip:a", 2, 60.0, now=2.0).allowed
        assert not second.hit("ip:a", 2, 60.0, now=2.0).allowed
    finally:
        other.close()


@pytest.mark.slow  # spawns processes that import the package
def test_concurrent_processes_never_exceed_the_limit(redis_state: RedisState) -> None:
    args = [redis_url()] * 3, [redis_state.prefix] * 3, [80] * 3, [150] * 3
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        allowed = list(pool.map(hammer_rate, *args))
    assert sum(allowed) == 150
    assert redis_state.client.zcard(redis_state.key("rate", "shared")) == 150


def test_a_hit_whose_reply_was_lost_is_counted_once(redis_server: RedisServer) -> None:
    proxy = LossyProxy(redis_server.port)
    state = connect(proxy.url, prefix="lossy:")
    try:
        limiter = RedisRateLimiter(state)
        assert limiter.hit("k", 2, 60.0, now=0.0).allowed
        proxy.drop_next_reply()
        assert limiter.hit("k", 2, 60.0, now=1.0).allowed  # ran, reply lost, retried
        assert proxy.dropped == 1
        assert state.client.zcard("lossy:rate:k") == 2
        assert not limiter.hit("k", 2, 60.0, now=2.0).allowed
    finally:
        state.close()
        proxy.close()


def test_redis_down_refuses_with_state_unavailable_and_recovers(
    redis_server: RedisServer,
) -> None:
    state = connect(redis_server.url, prefix="outage:")
    try:
        limiter = RedisRateLimiter(state)
        assert limiter.hit("k", 2, 3600.0).allowed
        redis_server.stop()
        with pytest.raises(StateUnavailableError) as info:
            limiter.hit("k", 2, 3600.0)
        assert (info.value.code, info.value.status) == ("state_unavailable", 503)
        assert info.value.retry_after_s > 0
        redis_server.start()
        assert limiter.hit("k", 2, 3600.0).allowed  # the same client, no restart
        assert not limiter.hit("k", 2, 3600.0).allowed  # the hit before the outage was kept
    finally:
        state.close()
