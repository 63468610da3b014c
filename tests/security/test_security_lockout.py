"""Lockout with exponential backoff, on an injected clock."""

from __future__ import annotations

import threading

import pytest

from veronica.errors import LockedOutError
from veronica.security.lockout import (
    InMemoryLockoutStore,
    Lockout,
    LockoutPolicy,
    LockoutStore,
    LockState,
)
from veronica.settings import Settings

USER, IP = "user:alice", "ip:203.0.113.7"


@pytest.fixture
def lockout() -> Lockout:
    return Lockout(InMemoryLockoutStore(), LockoutPolicy())


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


def test_backoff_is_capped() -> None:
    lockout = Lockout(InMemoryLockoutStore(), LockoutPolicy(failures=1, base_s=30, max_s=100))
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


def test_failures_are_forgotten_after_a_quiet_period() -> None:
    lockout = Lockout(InMemoryLockoutStore(), LockoutPolicy(forget_after_s=3600.0))
    for _ in range(4):
        lockout.record_failure([USER], now=0.0)
    assert lockout.record_failure([USER], now=3601.0) == LockState(False, 0.0, 1)


def test_a_lock_outlives_the_forget_period_and_keeps_doubling() -> None:
    policy = LockoutPolicy(failures=1, base_s=100.0, max_s=10_000.0, forget_after_s=10.0)
    lockout = Lockout(InMemoryLockoutStore(), policy)
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


def test_concurrent_failures_are_all_counted() -> None:
    store: LockoutStore = InMemoryLockoutStore()
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
