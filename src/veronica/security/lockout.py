"""Lockout after repeated failed sign-ins, with exponential backoff.

Counted per key; callers use ``"user:<name>"`` (slows guessing one account from many
addresses) and ``"ip:<addr>"`` (slows one address trying many accounts). With the
defaults the 5th failure locks for 30 s, the 6th for 60 s, the 7th for 120 s …, at
most an hour. A success clears the counters it is given. Counters are forgotten
after ``forget_after_s`` without a failure.

The counts live behind ``LockoutStore``: ``InMemoryLockoutStore`` serves one
process, ``RedisLockoutStore`` shares them between instances. Times are wall-clock
seconds (``time.time()``) because a shared store outlives any one process's
monotonic clock.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from veronica.errors import LockedOutError
from veronica.settings import Settings
from veronica.state.redis import RedisState

_MAX_DOUBLINGS = 62  # 2**62 × base is already far beyond any max_s; avoids float overflow


@dataclass(frozen=True)
class LockoutPolicy:
    failures: int = 5
    """Failures that trigger the first lock."""
    base_s: float = 30.0
    """First lock; each further failure doubles it."""
    max_s: float = 3600.0
    forget_after_s: float = 86_400.0
    """A key with no failure for this long starts again from zero."""

    def __post_init__(self) -> None:
        if self.failures < 1 or self.base_s <= 0 or self.max_s < self.base_s:
            raise ValueError("lockout policy needs failures >= 1 and 0 < base_s <= max_s")
        if self.forget_after_s <= 0:
            raise ValueError("forget_after_s must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> LockoutPolicy:
        return cls(
            failures=settings.lockout_failures,
            base_s=settings.lockout_base_s,
            max_s=max(settings.lockout_max_s, settings.lockout_base_s),
        )

    def lock_seconds(self, failures: int) -> float:
        """How long ``failures`` consecutive failures lock a key (0 below the threshold)."""
        if failures < self.failures:
            return 0.0
        doublings = min(failures - self.failures, _MAX_DOUBLINGS)
        return min(self.base_s * 2.0**doublings, self.max_s)


@dataclass(frozen=True)
class LockState:
    locked: bool
    retry_after_s: float
    failures: int


@dataclass(frozen=True)
class LockRecord:
    """What a store keeps per key."""

    failures: int
    locked_until: float


class LockoutStore(Protocol):
    """Failure counts and lock deadlines per key. Each method is atomic per key."""

    def get(self, key: str, now: float) -> LockRecord | None:
        """The record, or None if the key is unknown or expired."""
        ...

    def add_failure(self, key: str, now: float, ttl_s: float) -> int:
        """Increment the key's failure count (from 0 if unknown/expired) and keep the
        key for ``ttl_s`` seconds from ``now``; returns the new count (Redis: INCR + EXPIRE)."""
        ...

    def lock_until(self, key: str, until: float, now: float, ttl_s: float) -> None:
        """Raise the key's lock deadline to ``until`` (never lower it)."""
        ...

    def clear(self, key: str) -> None: ...


@dataclass
class _Entry:
    failures: int
    locked_until: float
    expires_at: float


class InMemoryLockoutStore:
    """Thread-safe, one process. Expired keys are dropped as new failures arrive and,
    beyond ``max_keys``, the least recently failed key is evicted (bounded memory; a
    flood of distinct keys can thereby unlock the oldest ones)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def get(self, key: str, now: float) -> LockRecord | None:
        with self._lock:
            entry = self._live(key, now)
            return None if entry is None else LockRecord(entry.failures, entry.locked_until)

    def add_failure(self, key: str, now: float, ttl_s: float) -> int:
        with self._lock:
            self._expire(now)
            entry = self._live(key, now)
            if entry is None:
                entry = _Entry(0, 0.0, 0.0)
                self._entries[key] = entry
            else:
                self._entries.move_to_end(key)
            entry.failures += 1
            entry.expires_at = max(entry.expires_at, now + ttl_s)
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
            return entry.failures

    def lock_until(self, key: str, until: float, now: float, ttl_s: float) -> None:
        with self._lock:
            entry = self._live(key, now)
            if entry is None:
                entry = _Entry(0, 0.0, 0.0)
                self._entries[key] = entry
            entry.locked_until = max(entry.locked_until, until)
            entry.expires_at = max(entry.expires_at, now + ttl_s)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                return
            del self._entries[key]


# A record is a hash {f: failures, u: locked_until, e: expires_at}; the Redis TTL
# follows ``e`` (so Redis forgets the key when the store would), while ``e`` itself
# decides expiry against the caller's ``now``, exactly as InMemoryLockoutStore does.
_LIVE = """
local function fmt(x) return string.format('%.17g', x) end
local function live(key, now)
  local r = redis.call('HMGET', key, 'f', 'u', 'e')
  if r[3] and tonumber(r[3]) > now then
    return tonumber(r[1]), tonumber(r[2]), tonumber(r[3])
  end
  return 0, 0, 0
end
local function save(key, now, f, u, e)
  redis.call('HSET', key, 'f', f, 'u', fmt(u), 'e', fmt(e))
  redis.call('PEXPIRE', key, math.max(1, math.ceil((e - now) * 1000)))
end
"""

# KEYS[1]: record, KEYS[2]: this call's marker; ARGV: now, ttl_s. The marker keeps
# the count of a call whose reply was lost, so the client's retry returns it
# instead of counting the failure twice.
_ADD_FAILURE = (
    _LIVE
    + """
local done = redis.call('GET', KEYS[2])
if done then return tonumber(done) end
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local f, u, e = live(KEYS[1], now)
f = f + 1
save(KEYS[1], now, f, u, math.max(e, now + ttl))
redis.call('SET', KEYS[2], f, 'PX', 60000)
return f
"""
)

# KEYS[1]: record; ARGV: until, now, ttl_s. Idempotent (max), so a retry is harmless.
_LOCK_UNTIL = (
    _LIVE
    + """
local deadline, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local f, u, e = live(KEYS[1], now)
save(KEYS[1], now, f, math.max(u, deadline), math.max(e, now + ttl))
return 1
"""
)


class RedisLockoutStore:
    """``LockoutStore`` in Redis, shared by every instance: one hash per key
    (``<prefix>lockout:<key>``) that Redis expires when its ``forget_after_s`` (or
    its lock plus that) has passed; each change is one Lua script, so concurrent
    failures from any number of processes are all counted. Redis down:
    StateUnavailableError (nothing recorded; the caller refuses the sign-in)."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._add_failure = state.script(_ADD_FAILURE)
        self._lock_until = state.script(_LOCK_UNTIL)

    def _key(self, key: str) -> str:
        return self._state.key("lockout", key)

    def get(self, key: str, now: float) -> LockRecord | None:
        name = self._key(key)
        failures, locked_until, expires_at = self._state.call(
            lambda: self._state.client.hmget(name, ["f", "u", "e"])
        )
        if failures is None or locked_until is None or expires_at is None:
            return None
        if float(expires_at) <= now:
            return None
        return LockRecord(int(failures), float(locked_until))

    def add_failure(self, key: str, now: float, ttl_s: float) -> int:
        _check_ttl(ttl_s)
        keys = [self._key(key), self._state.key("lockout-call", secrets.token_hex(12))]
        args = [repr(float(now)), repr(float(ttl_s))]
        return int(self._state.call(lambda: self._add_failure(keys=keys, args=args)))

    def lock_until(self, key: str, until: float, now: float, ttl_s: float) -> None:
        _check_ttl(ttl_s)
        keys = [self._key(key)]
        args = [repr(float(until)), repr(float(now)), repr(float(ttl_s))]
        self._state.call(lambda: self._lock_until(keys=keys, args=args))

    def clear(self, key: str) -> None:
        name = self._key(key)
        self._state.call(lambda: self._state.client.delete(name))


def _check_ttl(ttl_s: float) -> None:
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ValueError("ttl_s must be a positive number of seconds")


class Lockout:
    def __init__(self, store: LockoutStore, policy: LockoutPolicy) -> None:
        self._store = store
        self._policy = policy

    @property
    def policy(self) -> LockoutPolicy:
        return self._policy

    def state(self, keys: Sequence[str], now: float | None = None) -> LockState:
        """The most restrictive state over ``keys`` (without raising)."""
        at = time.time() if now is None else now
        locked_for, failures = 0.0, 0
        for key in keys:
            record = self._store.get(key, at)
            if record is None:
                continue
            failures = max(failures, record.failures)
            locked_for = max(locked_for, record.locked_until - at)
        return LockState(locked_for > 0, max(locked_for, 0.0), failures)

    def check(self, keys: Sequence[str], now: float | None = None) -> None:
        """Raise LockedOutError if any key is locked (before spending work on an attempt)."""
        state = self.state(keys, now)
        if state.locked:
            raise LockedOutError(
                f"too many failed attempts; try again in {_whole_seconds(state.retry_after_s)} s",
                retry_after_s=state.retry_after_s,
            )

    def record_failure(self, keys: Sequence[str], now: float | None = None) -> LockState:
        """Count a failure on every key; lock those that reached the threshold."""
        at = time.time() if now is None else now
        policy = self._policy
        for key in keys:
            count = self._store.add_failure(key, at, policy.forget_after_s)
            lock_s = policy.lock_seconds(count)
            if lock_s > 0:
                # The record outlives its lock, so the next failure doubles it.
                self._store.lock_until(key, at + lock_s, at, lock_s + policy.forget_after_s)
        return self.state(keys, at)

    def record_success(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._store.clear(key)


def _whole_seconds(seconds: float) -> int:
    return max(1, int(-(-seconds // 1)))
