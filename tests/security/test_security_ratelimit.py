"""Sliding-window rate limiter with an injected clock."""

from __future__ import annotations

import threading

import pytest

from veronica.security.ratelimit import InMemoryRateLimiter, RateDecision, RateLimiter


def test_allows_limit_hits_then_refuses_with_retry_after() -> None:
    limiter = InMemoryRateLimiter()
    for i in range(3):
        assert limiter.hit("ip:1", 3, 60.0, now=100.0 + i) == RateDecision(True, 0.0)
    refused = limiter.hit("ip:1", 3, 60.0, now=130.0)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(30.0)  # the hit at 100 leaves at 160


def test_window_slides_one_hit_at_a_time() -> None:
    limiter = InMemoryRateLimiter()
    for t in (0.0, 10.0, 20.0):
        assert limiter.hit("k", 3, 60.0, now=t).allowed
    assert not limiter.hit("k", 3, 60.0, now=59.9).allowed
    assert limiter.hit("k", 3, 60.0, now=60.0).allowed  # the hit at 0 left the window
    assert not limiter.hit("k", 3, 60.0, now=61.0).allowed
    decision = limiter.hit("k", 3, 60.0, now=65.0)
    assert not decision.allowed and decision.retry_after_s == pytest.approx(5.0)
    assert limiter.hit("k", 3, 60.0, now=70.0).allowed


def test_refused_hits_are_not_counted() -> None:
    limiter = InMemoryRateLimiter()
    assert limiter.hit("k", 1, 10.0, now=0.0).allowed
    for t in range(1, 10):
        assert not limiter.hit("k", 1, 10.0, now=float(t)).allowed
    assert limiter.hit("k", 1, 10.0, now=10.0).allowed


def test_keys_are_independent() -> None:
    limiter = InMemoryRateLimiter()
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


def test_concurrent_hits_never_exceed_the_limit() -> None:
    limiter: RateLimiter = InMemoryRateLimiter()
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


def test_default_clock_is_used_without_now() -> None:
    limiter = InMemoryRateLimiter()
    assert limiter.hit("k", 1, 3600.0).allowed
    assert not limiter.hit("k", 1, 3600.0).allowed


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_bad_parameters_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        InMemoryRateLimiter().hit("k", limit, window, now=0.0)
