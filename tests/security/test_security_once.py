"""One-time use, in process and in Redis (the machine's Redis, a prefix per test)."""

from __future__ import annotations

import threading
import time

import pytest

from redis_support import LossyProxy, RedisServer, redis_url
from veronica.errors import StateUnavailableError
from veronica.security.once import (
    InMemoryOneTimeUse,
    OneTimeUse,
    OneTimeUseFullError,
    RedisOneTimeUse,
)
from veronica.state.redis import RedisState, connect


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def once(request: pytest.FixtureRequest) -> OneTimeUse:
    if request.param == "memory":
        return InMemoryOneTimeUse()
    state: RedisState = request.getfixturevalue("redis_state")
    return RedisOneTimeUse(state)


def test_first_use_only(once: OneTimeUse) -> None:
    assert once.use("token:abc", 60.0) is True
    assert once.use("token:abc", 60.0) is False
    assert once.use("token:abc", 60.0) is False
    assert once.use("token:abd", 60.0) is True  # another key


def test_exactly_one_of_many_concurrent_uses_wins(once: OneTimeUse) -> None:
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        outcome = once.use("token:race", 60.0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize(("key", "ttl"), [("", 1.0), ("k", 0.0), ("k", -1.0), ("k", float("inf"))])
def test_bad_arguments_are_refused(once: OneTimeUse, key: str, ttl: float) -> None:
    with pytest.raises(ValueError):
        once.use(key, ttl)


def test_in_memory_keys_are_forgotten_after_their_ttl() -> None:
    clock = Clock()
    once = InMemoryOneTimeUse(clock=clock)
    assert once.use("a", 10.0) and once.use("b", 100.0)
    clock.now += 10.0
    assert once.use("a", 10.0) is True  # forgotten exactly at its TTL
    assert once.use("b", 100.0) is False
    assert len(once) == 2


def test_a_full_in_memory_store_refuses_rather_than_forget_a_live_key() -> None:
    clock = Clock()
    once = InMemoryOneTimeUse(max_keys=2, clock=clock)
    assert once.use("a", 30.0) and once.use("b", 60.0)
    with pytest.raises(OneTimeUseFullError) as info:
        once.use("c", 60.0)
    assert (info.value.code, info.value.status) == ("busy", 503)
    assert info.value.retry_after_s == pytest.approx(30.0)
    assert once.use("a", 30.0) is False  # still remembered
    clock.now += 30.0
    assert once.use("c", 60.0) is True  # "a" expired and made room


def test_redis_key_lives_ttl_s(redis_state: RedisState) -> None:
    once = RedisOneTimeUse(redis_state)
    assert once.use("token:t1", 125.0)
    assert 124_000 < redis_state.client.pttl(redis_state.key("once", "token:t1")) <= 125_000
    assert once.use("token:short", 0.05)
    # Redis expires the key (the token it named is refused for its age anyway):
    # wait for that state, not for a time.
    key = redis_state.key("once", "token:short")
    deadline = time.monotonic() + 10.0
    while redis_state.client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert once.use("token:short", 0.05) is True


def test_redis_uses_are_shared_between_clients(redis_state: RedisState) -> None:
    other = connect(redis_url(), prefix=redis_state.prefix)
    try:
        assert RedisOneTimeUse(redis_state).use("token:x", 60.0)
        assert RedisOneTimeUse(other).use("token:x", 60.0) is False
    finally:
        other.close()


def test_a_use_whose_reply_was_lost_still_counts_as_the_first(redis_server: RedisServer) -> None:
    proxy = LossyProxy(redis_server.port)
    state = connect(proxy.url, prefix="lossy:")
    try:
        once = RedisOneTimeUse(state)
        state.client.ping()  # the connection is set up before a reply is dropped
        proxy.drop_next_reply()
        assert once.use("token:lost", 60.0) is True  # ran, reply lost, retried: still ours
        assert proxy.dropped == 1
        assert once.use("token:lost", 60.0) is False
    finally:
        state.close()
        proxy.close()


def test_redis_down_marks_nothing_and_recovers(redis_server: RedisServer) -> None:
    state = connect(redis_server.url, prefix="outage:")
    try:
        once = RedisOneTimeUse(state)
        assert once.use("token:before", 600.0)
        redis_server.stop()
        with pytest.raises(StateUnavailableError):
            once.use("token:during", 600.0)
        redis_server.start()
        assert once.use("token:during", 600.0) is True  # the failed call marked nothing
        assert once.use("token:before", 600.0) is False  # kept across the restart
    finally:
        state.close()
