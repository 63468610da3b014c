"""One-time use: a key (a result token's ``jti``, later an authorization code) is
accepted once, then refused until it is forgotten ``ttl_s`` later.

``ttl_s`` must cover the whole time the thing it names could still be presented
(a token until its ``exp`` plus the verifier's leeway): after that the key may be
forgotten, because the thing is refused for its age anyway.

``InMemoryOneTimeUse`` serves one process; ``RedisOneTimeUse`` (``SET NX PX``)
serves every instance, so a token verified on one cannot be verified again on
another.
"""

from __future__ import annotations

import heapq
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

from veronica.errors import RetryLaterError
from veronica.state.redis import RedisState


class OneTimeUse(Protocol):
    def use(self, key: str, ttl_s: float) -> bool:
        """True the first time ``key`` is used (it is then remembered ``ttl_s``
        seconds), False while it is remembered. Atomic: of two concurrent uses of
        one key exactly one gets True."""
        ...


class OneTimeUseFullError(RetryLaterError):
    """The in-process store is full of keys still remembered. Forgetting one early
    would let it be used twice, so new uses are refused until some expire."""

    code = "busy"
    status = 503


def _check(key: str, ttl_s: float) -> None:
    if not key:
        raise ValueError("a one-time key must not be empty")
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ValueError("ttl_s must be a positive number of seconds")


class InMemoryOneTimeUse:
    """Thread-safe, one process, at most ``max_keys`` keys remembered at once.

    Expired keys are dropped as new ones arrive (a heap ordered by expiry). A full
    store refuses (``OneTimeUseFullError``, 503 ``busy``) rather than forgetting a
    live key. ``clock``: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._clock = clock
        self._expires: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._expires)

    def use(self, key: str, ttl_s: float) -> bool:
        _check(key, ttl_s)
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._expires:
                return False
            if len(self._expires) >= self._max_keys:
                raise OneTimeUseFullError(
                    "too many sign-in results are being checked; try again shortly",
                    retry_after_s=max(self._heap[0][0] - now, 0.0),
                )
            expires = now + ttl_s
            self._expires[key] = expires
            heapq.heappush(self._heap, (expires, key))
            return True

    def _expire(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expires, key = heapq.heappop(self._heap)
            if self._expires.get(key) == expires:
                del self._expires[key]


# KEYS[1]: the key; ARGV: this call's token, lifetime (ms). A retry of a call whose
# reply was lost finds its own token and still answers "first use".
_USE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""


class RedisOneTimeUse:
    """``<prefix>once:<key>`` set with ``NX`` and a TTL of ``ttl_s``: the first
    ``use`` anywhere wins. Redis down: StateUnavailableError (nothing marked used;
    the caller answers 503 rather than accept a key it could not mark)."""

    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._use = state.script(_USE)

    def use(self, key: str, ttl_s: float) -> bool:
        _check(key, ttl_s)
        keys = [self._state.key("once", key)]
        args = [secrets.token_hex(12), str(math.ceil(ttl_s * 1000))]
        return bool(int(self._state.call(lambda: self._use(keys=keys, args=args))))
