"""The short-lived things the provider hands out, kept as plain JSON in the shared
store (Redis with several instances, this process otherwise), keyed by the SHA-256
of the secret that names them: a leaked store dump holds no usable code or token.

- ``request``: an authorization request waiting for the face login (≤ 10 min),
  bound to the browser that made it.
- ``code``: an authorization code (≤ 60 s). ``take`` removes it atomically, so of
  two concurrent redemptions exactly one gets it; a ``used`` marker remembers it
  so a second use is recognised, logged, and revokes the tokens of the first.
- ``token``: an access token for ``/oidc/userinfo``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from veronica.state.redis import RedisState

Record = dict[str, Any]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class GrantStore(Protocol):
    def put(self, kind: str, key: str, value: Record, ttl_s: float) -> None: ...

    def get(self, kind: str, key: str) -> Record | None: ...

    def take(self, kind: str, key: str) -> Record | None:
        """The record, removed in the same step (None if absent or expired)."""
        ...

    def delete(self, kind: str, key: str) -> None: ...


def _ttl_ms(ttl_s: float) -> int:
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ValueError("ttl_s must be a positive number of seconds")
    return max(1, math.ceil(ttl_s * 1000))


class InMemoryGrantStore:
    """One process; expired records are dropped as they are met and on every put."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def put(self, kind: str, key: str, value: Record, ttl_s: float) -> None:
        expires = self._clock() + _ttl_ms(ttl_s) / 1000.0
        with self._lock:
            self._sweep()
            self._items[(kind, key)] = (expires, json.dumps(value))

    def get(self, kind: str, key: str) -> Record | None:
        with self._lock:
            return self._live(kind, key, remove=False)

    def take(self, kind: str, key: str) -> Record | None:
        with self._lock:
            return self._live(kind, key, remove=True)

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._items.pop((kind, key), None)

    def _live(self, kind: str, key: str, *, remove: bool) -> Record | None:
        item = self._items.get((kind, key))
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[(kind, key)]
            return None
        if remove:
            del self._items[(kind, key)]
        value: Record = json.loads(item[1])
        return value

    def _sweep(self) -> None:
        now = self._clock()
        for name in [k for k, (expires, _) in self._items.items() if expires <= now]:
            del self._items[name]


class RedisGrantStore:
    """``<prefix>oidc:<kind>:<key>`` with a TTL; ``take`` is ``GETDEL``."""

    def __init__(self, state: RedisState) -> None:
        self._state = state

    def _key(self, kind: str, key: str) -> str:
        return self._state.key("oidc", kind, key)

    def put(self, kind: str, key: str, value: Record, ttl_s: float) -> None:
        name, text, ms = self._key(kind, key), json.dumps(value), _ttl_ms(ttl_s)
        self._state.call(lambda: self._state.client.set(name, text, px=ms))

    def get(self, kind: str, key: str) -> Record | None:
        name = self._key(kind, key)
        return _load(self._state.call(lambda: self._state.client.get(name)))

    def take(self, kind: str, key: str) -> Record | None:
        name = self._key(kind, key)
        return _load(self._state.call(lambda: self._state.client.getdel(name)))

    def delete(self, kind: str, key: str) -> None:
        name = self._key(kind, key)
        self._state.call(lambda: self._state.client.delete(name))


def _load(text: object) -> Record | None:
    if not isinstance(text, str):
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None
