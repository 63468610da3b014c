"""Rate limits: at most ``limit`` hits per key in any ``window_s`` seconds.

``InMemoryRateLimiter`` keeps an exact sliding log per key (at most ``limit``
timestamps), in one process. ``RedisRateLimiter`` keeps the same log in a Redis
sorted set, shared by every instance, with the same answers (the tests run both).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from veronica.state.redis import RedisState


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_s: float
    """0 when allowed; otherwise seconds until the next hit would be allowed."""


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: float, now: float | None = None) -> RateDecision:
        """Count one hit for ``key`` if allowed. Refused hits are not counted, so a
        client that keeps hammering is let in again once its window has passed."""
        ...


@dataclass
class _Log:
    window_s: float
    times: deque[float]


class InMemoryRateLimiter:
    """Thread-safe sliding-log limiter with bounded memory.

    Keys whose newest hit is older than their window are dropped as new hits arrive;
    beyond ``max_keys`` live keys the least recently used is evicted (it then starts
    afresh). The cap bounds memory when an attacker sprays distinct keys (e.g. IPv6
    addresses); the price is that such a flood can reset the oldest counters.
    """

    def __init__(self, *, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._logs: OrderedDict[str, _Log] = OrderedDict()  # least recently hit first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._logs)

    def hit(self, key: str, limit: int, window_s: float, now: float | None = None) -> RateDecision:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        at = time.monotonic() if now is None else now
        with self._lock:
            self._expire(at)
            log = self._logs.get(key)
            if log is None:
                log = _Log(window_s, deque())
                self._logs[key] = log
            else:
                self._logs.move_to_end(key)
                log.window_s = window_s
            times = log.times
            while times and times[0] <= at - window_s:
                times.popleft()
            if len(times) >= limit:
                # The hit becomes possible when the oldest hit still counted leaves the
                # window (limit may have shrunk since those hits: count from the right one).
                oldest = times[len(times) - limit]
                return RateDecision(False, max(oldest + window_s - at, 0.0))
            times.append(at)
            while len(self._logs) > self._max_keys:
                self._logs.popitem(last=False)
            return RateDecision(True, 0.0)

    def _expire(self, at: float) -> None:
        """Drop idle keys from the least recently used end; stops at the first live one
        so each call does work proportional to what it removes."""
        while self._logs:
            key, log = next(iter(self._logs.items()))
            if log.times and log.times[-1] > at - log.window_s:
                return
            del self._logs[key]


# KEYS[1]: the key's log (a sorted set of hits scored by time); ARGV: now, window_s,
# limit, this hit's member (unique). Same steps as InMemoryRateLimiter.hit, atomically.
_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - window))
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return {1, '0'}  -- this very hit, retried after a lost reply: counted once
end
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  return {0, string.format('%.17g', tonumber(oldest[2]) + window - now)}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {1, '0'}
"""


class RedisRateLimiter:
    """The sliding log of ``InMemoryRateLimiter`` in Redis, shared by every instance.

    One sorted set per key (``<prefix>rate:<key>``), one member per counted hit
    scored by its time, expiring ``window_s`` after the last counted hit; one Lua
    script per hit, so concurrent hits from any number of processes are counted
    exactly. Times are wall-clock seconds (``time.time()`` when ``now`` is None):
    every instance must read the same clock (NTP). Redis down: StateUnavailableError
    (the caller refuses; nothing is counted).
    """

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._hit = state.script(_HIT)

    def hit(self, key: str, limit: int, window_s: float, now: float | None = None) -> RateDecision:
        if limit < 1 or not window_s > 0 or not math.isfinite(window_s):
            raise ValueError("limit must be >= 1 and window_s > 0")
        at = time.time() if now is None else float(now)
        member = f"{at!r}:{secrets.token_hex(8)}"
        keys = [self._state.key("rate", key)]
        args = [repr(at), repr(float(window_s)), str(limit), member]
        allowed, retry_after = self._state.call(lambda: self._hit(keys=keys, args=args))
        if int(allowed):
            return RateDecision(True, 0.0)
        return RateDecision(False, max(float(retry_after), 0.0))
