"""The Redis connection behind every shared-state store (rate limits, lockouts,
admission, one-time use; docs/SECURITY.md, "Shared state").

``connect`` builds a client without connecting: nothing touches the network at
import or at start-up, so a process starts while Redis is down and serves again
as soon as it is back (each command takes a connection from the pool and opens a
new one if needed; no restart). Every command is retried on a connection error or
a timeout with exponential backoff, and waits at most ``socket_timeout_s``, so a
request never hangs on a dead Redis: after the retries it fails with
``StateUnavailableError`` (503 ``state_unavailable``).

Keys carry a per-deployment prefix (``settings.redis_prefix``). Scripts run with
``EVALSHA`` (loaded again by redis-py after a restart flushed the script cache).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from redis import Redis
from redis import exceptions as rx
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from veronica.errors import StateUnavailableError
from veronica.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 0.5
"""Retry ``n`` waits ``min(cap, base·2ⁿ)``: 50 ms, then 100 ms, … at most 0.5 s."""
RETRY_AFTER_S = 5.0
"""``Retry-After`` of a 503 ``state_unavailable``. The client itself serves again
within 20 ms of a restarted Redis answering (benchmarks/SHARED_STATE_RESULTS.md),
so the wait is the outage's own: a restart or a Sentinel failover takes seconds.
Asking sooner would only add load to a struggling service."""

UNAVAILABLE: tuple[type[Exception], ...] = (
    rx.ConnectionError,  # refused, reset, auth failed, still loading, pool exhausted
    rx.TimeoutError,
    rx.ReadOnlyError,  # a replica after a failover: writes refused until redirected
    rx.OutOfMemoryError,  # maxmemory with noeviction: writes refused, nothing dropped
)
"""Errors that mean "Redis cannot serve now" (vs. a bug, which stays a 500)."""


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE)


def unavailable_error(exc: BaseException) -> StateUnavailableError:
    """The client-facing error for a Redis failure (logged here with its cause)."""
    logger.warning("shared state unavailable: %s: %s", type(exc).__name__, exc)
    return StateUnavailableError(
        "the service's shared state is unreachable; try again shortly", RETRY_AFTER_S
    )


@dataclass(frozen=True)
class RedisOptions:
    socket_timeout_s: float = 0.5
    """Longest wait for one answer (settings.redis_socket_timeout_s)."""
    connect_timeout_s: float = 0.5
    retries: int = 2
    """Retries after the first attempt (0: none)."""
    health_check_interval_s: int = 0
    """PING a pooled connection idle this long before using it (0: never). Off by
    default: redis-py runs that PING under its own retry loop inside each attempt,
    which made one operation on a hung Redis wait 5.1 s instead of 1.7 s
    (benchmarks/SHARED_STATE_RESULTS.md), while a connection that died idle already
    costs only a retry (and TCP keepalive, on by default, closes it within a minute)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisOptions:
        return cls(
            socket_timeout_s=settings.redis_socket_timeout_s,
            connect_timeout_s=settings.redis_connect_timeout_s,
            retries=settings.redis_retries,
        )


class RedisState:
    """A Redis client plus this deployment's key prefix. Thread-safe (the client's
    connection pool is); share one per process."""

    def __init__(self, client: Redis, prefix: str) -> None:
        if not prefix:
            raise ValueError("a key prefix is required")
        self.client = client
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        """``prefix + parts`` joined by ``:`` (e.g. ``veronica:rate:sessions:ip:…``)."""
        return self.prefix + ":".join(parts)

    def script(self, lua: str) -> Script:
        return self.client.register_script(lua)

    def ping(self) -> bool:
        """Reachable and answering (readiness probe); never raises."""
        try:
            return bool(self.client.ping())
        except rx.RedisError as exc:
            logger.warning("Redis ping failed: %s: %s", type(exc).__name__, exc)
            return False

    def call(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (already retried by the client); a Redis outage becomes
        ``StateUnavailableError``."""
        with self.guard():
            return operation()

    @contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except UNAVAILABLE as exc:
            raise unavailable_error(exc) from exc

    def close(self) -> None:
        self.client.close()


def connect(url: str, *, prefix: str, options: RedisOptions | None = None) -> RedisState:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``) that has not
    connected yet. Raises ValueError for a malformed URL, never a connection error."""
    opts = options or RedisOptions()
    retry = Retry(ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S), opts.retries)
    client = Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=opts.socket_timeout_s,
        socket_connect_timeout=opts.connect_timeout_s,
        retry=retry,
        health_check_interval=opts.health_check_interval_s,
    )
    return RedisState(client, prefix)


def connect_from_settings(settings: Settings) -> RedisState | None:
    """The shared state of ``settings.redis_url``, or None (in-process state)."""
    if settings.redis_url is None:
        return None
    return connect(
        settings.redis_url,
        prefix=settings.redis_prefix,
        options=RedisOptions.from_settings(settings),
    )
