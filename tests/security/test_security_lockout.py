"""Lockout with exponential backoff, on an injected clock: the behaviour tests run
on the in-process store and on the Redis one (the machine's Redis, a prefix per test)."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pytest

from redis_support import LossyProxy, RedisServer, redis_url
from redis_workers import hammer_lockout
from veronica.errors import LockedOutError, StateUnavailableError
from veronica.security.lockout import (
    InMemoryLockoutStore,
    Lockout,
    LockoutPolicy,
    LockoutStore,
    LockRecord,
    LockState,
    RedisLockoutStore,
)
from veronica.settings import Settings
from veronica.state.redis import RedisState, connect

USER, IP = "user:alice", "ip:203.0.113.7"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> LockoutStore:
    if request.param == "memory":
        return InMemoryLockoutStore()
    state: RedisState = request.getfixturevalue("redis_state")
    return RedisLockoutStore(state)


@pytest.fixture
def lockout(store: LockoutStore) -> Lockout:
    return Lockout(store, LockoutPolicy())


def _fail_until_locked(lockout: Lockout, keys: list[str], at: float) -> LockState:
    """Record failures at ``at`` until the keys lock; returns the locking state."""
    while True:
        state = lockout.record_failure(keys, now=at)
        if state.locked:
            return state


def test_four_failures_do_not_lock(lockout: Lockout) -> None:
    for i in range(4):
        state = lockout.record_failure([USER], now=float(i))
        assert state == LockState(False, 0.0, i + 1)
    lockout.check([USER], now=4.0)


def test_backoff_is_30_60_120_seconds(lockout: Lockout) -> None:
    t = 0.0
    for _ in range(4):
        lockout.record_failure([USER], now=t)
    observed = []
    for _ in range(4):
        state = lockout.record_failure([USER], now=t)
        assert state.locked
        observed.append(state.retry_after_s)
        with pytest.raises(LockedOutError) as info:
            lockout.check([USER], now=t + state.retry_after_s - 0.5)
        assert info.value.code == "locked_out" and info.value.status == 429
        assert info.value.retry_after_s == pytest.approx(0.5)
        t += state.retry_after_s
        lockout.check([USER], now=t)  # unlocked exactly when the lock ends
    assert observed == [30.0, 60.0, 120.0, 240.0]


def test_backoff_is_capped(store: LockoutStore) -> None:
    lockout = Lockout(store, LockoutPolicy(failures=1, base_s=30, max_s=100))
    locks = [lockout.record_failure([USER], now=0.0).retry_after_s for _ in range(200)]
    assert locks[:4] == [30.0, 60.0, 100.0, 100.0]
    assert max(locks) == 100.0


def test_success_clears_the_counter(lockout: Lockout) -> None:
    for _ in range(4):
        lockout.record_failure([USER], now=0.0)
    lockout.record_success([USER])
    assert lockout.record_failure([USER], now=1.0).failures == 1


def test_user_and_ip_are_counted_separately(lockout: Lockout) -> None:
    _fail_until_locked(lockout, [USER, IP], at=0.0)
    with pytest.raises(LockedOutError):
        lockout.check(["user:bob", IP], now=1.0)  # the address is locked for every user
    with pytest.raises(LockedOutError):
        lockout.check([USER, "ip:198.51.100.1"], now=1.0)  # the user from every address
    lockout.check(["user:bob", "ip:198.51.100.1"], now=1.0)


def test_check_reports_the_longest_lock(lockout: Lockout) -> None:
    for _ in range(6):
        lockout.record_failure([USER], now=0.0)  # 60 s
    for _ in range(5):
        lockout.record_failure([IP], now=0.0)  # 30 s
    with pytest.raises(LockedOutError) as info:
        lockout.check([IP, USER], now=10.0)
    assert info.value.retry_after_s == pytest.approx(50.0)
    assert lockout.state([IP, USER], now=10.0) == LockState(True, 50.0, 6)


def test_failures_are_forgotten_after_a_quiet_period(store: LockoutStore) -> None:
    lockout = Lockout(store, LockoutPolicy(forget_after_s=3600.0))
    for _ in range(4):
        lockout.record_failure([USER], now=0.0)
    assert lockout.record_failure([USER], now=3601.0) == LockState(False, 0.0, 1)


def test_a_lock_outlives_the_forget_period_and_keeps_doubling(store: LockoutStore) -> None:
    policy = LockoutPolicy(failures=1, base_s=100.0, max_s=10_000.0, forget_after_s=10.0)
    lockout = Lockout(store, policy)
    assert lockout.record_failure([USER], now=0.0).retry_after_s == 100.0
    assert lockout.state([USER], now=50.0).locked
    # Right after the lock: the count survives, so the next failure locks for longer.
    assert lockout.record_failure([USER], now=100.0).retry_after_s == 200.0


def test_policy_from_settings(isolated_env: None) -> None:
    settings = Settings(lockout_failures=3, lockout_base_s=10.0, lockout_max_s=40.0)
    policy = LockoutPolicy.from_settings(settings)
    assert (policy.failures, policy.base_s, policy.max_s) == (3, 10.0, 40.0)
    assert [policy.lock_seconds(n) for n in range(1, 7)] == [0, 0, 10, 20, 40, 40]


@pytest.mark.parametrize(
    "kwargs", [{"failures": 0}, {"base_s": 0.0}, {"base_s": 10.0, "max_s": 5.0}]
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LockoutPolicy(**kwargs)  # type: ignore[arg-type]


def test_store_memory_is_bounded() -> None:
    store = InMemoryLockoutStore(max_keys=5)
    lockout = Lockout(store, LockoutPolicy())
    for i in range(50):
        lockout.record_failure([f"ip:{i}"], now=float(i))
    assert len(store) == 5
    assert lockout.state(["ip:49"], now=50.0).failures == 1


def test_expired_keys_are_dropped() -> None:
    store = InMemoryLockoutStore()
    lockout = Lockout(store, LockoutPolicy(forget_after_s=60.0))
    for i in range(20):
        lockout.record_failure([f"ip:{i}"], now=0.0)
    lockout.record_failure(["ip:new"], now=61.0)
    assert len(store) == 1


def test_concurrent_failures_are_all_counted(store: LockoutStore) -> None:
    lockout = Lockout(store, LockoutPolicy(failures=1000))

    def worker() -> None:
        for _ in range(100):
            lockout.record_failure([USER], now=0.0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lockout.state([USER], now=0.0).failures == 800


def test_message_gives_whole_seconds(lockout: Lockout) -> None:
    _fail_until_locked(lockout, [USER], at=0.0)
    with pytest.raises(LockedOutError, match=r"try again in 30 s"):
        lockout.check([USER], now=0.2)


def test_lock_until_never_lowers_the_deadline(store: LockoutStore) -> None:
    store.lock_until(USER, 500.0, now=0.0, ttl_s=1000.0)
    store.lock_until(USER, 200.0, now=10.0, ttl_s=1000.0)
    assert store.get(USER, now=20.0) == LockRecord(0, 500.0)
    assert store.add_failure(USER, now=30.0, ttl_s=1000.0) == 1
    assert store.get(USER, now=40.0) == LockRecord(1, 500.0)


def test_a_record_is_kept_ttl_s_from_its_latest_failure(store: LockoutStore) -> None:
    assert store.add_failure(USER, now=0.0, ttl_s=100.0) == 1
    assert store.add_failure(USER, now=50.0, ttl_s=100.0) == 2
    assert store.get(USER, now=149.0) == LockRecord(2, 0.0)
    assert store.get(USER, now=150.0) is None
    assert store.add_failure(USER, now=150.0, ttl_s=100.0) == 1  # starts again from zero


def test_clear_forgets_only_its_key(store: LockoutStore) -> None:
    store.add_failure(USER, now=0.0, ttl_s=100.0)
    store.add_failure(IP, now=0.0, ttl_s=100.0)
    store.clear(USER)
    store.clear("user:nobody")  # unknown: nothing to do
    assert store.get(USER, now=1.0) is None
    assert store.get(IP, now=1.0) == LockRecord(1, 0.0)


# -- Redis only ----------------------------------------------------------------------------


def test_redis_ttls_follow_forget_after(redis_state: RedisState) -> None:
    policy = LockoutPolicy(failures=2, base_s=30.0, forget_after_s=600.0)
    lockout = Lockout(RedisLockoutStore(redis_state), policy)
    lockout.record_failure([USER])
    key = redis_state.key("lockout", USER)
    assert 599_000 < redis_state.client.pttl(key) <= 600_000
    lockout.record_failure([USER])  # locks for 30 s: kept for the lock plus forget_after_s
    assert 629_000 < redis_state.client.pttl(key) <= 630_000


@pytest.mark.slow  # spawns processes that import the package
def test_concurrent_processes_count_every_failure(redis_state: RedisState) -> None:
    args = [redis_url()] * 3, [redis_state.prefix] * 3, [100] * 3
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        highest = list(pool.map(hammer_lockout, *args))
    assert max(highest) == 300
    assert RedisLockoutStore(redis_state).get("user:alice", now=1.0) == LockRecord(300, 0.0)


def test_a_failure_whose_reply_was_lost_is_counted_once(redis_server: RedisServer) -> None:
    proxy = LossyProxy(redis_server.port)
    state = connect(proxy.url, prefix="lossy:")
    try:
        store = RedisLockoutStore(state)
        assert store.add_failure(USER, now=0.0, ttl_s=100.0) == 1
        proxy.drop_next_reply()
        assert store.add_failure(USER, now=1.0, ttl_s=100.0) == 2  # ran, reply lost, retried
        assert proxy.dropped == 1
        assert store.get(USER, now=2.0) == LockRecord(2, 0.0)
    finally:
        state.close()
        proxy.close()


def test_redis_down_refuses_with_state_unavailable_and_loses_nothing(
    redis_server: RedisServer,
) -> None:
    state = connect(redis_server.url, prefix="outage:")
    try:
        lockout = Lockout(RedisLockoutStore(state), LockoutPolicy(failures=3))
        for _ in range(2):
            lockout.record_failure([USER])
        redis_server.stop()
        for call in (
            lambda: lockout.check([USER]),
            lambda: lockout.record_failure([USER]),
            lambda: lockout.record_success([USER]),
        ):
            with pytest.raises(StateUnavailableError):
                call()
        redis_server.start()
        assert lockout.state([USER]).failures == 2  # kept across the restart, none added
        assert lockout.record_failure([USER]).locked
    finally:
        state.close()
