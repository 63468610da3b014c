"""Workers for the multi-process Redis tests. ``spawn`` imports this module in each
child, so it imports only what each worker needs, inside the worker (the sessions
package pulls in the face pipeline, seconds per child)."""

from __future__ import annotations


def hammer_rate(url: str, prefix: str, hits: int, limit: int) -> int:
    """Hits on one key; returns how many were allowed."""
    from veronica.security.ratelimit import RedisRateLimiter
    from veronica.state.redis import RedisOptions, connect

    # A long timeout: the children start together on a busy machine.
    state = connect(url, prefix=prefix, options=RedisOptions(socket_timeout_s=5.0))
    limiter = RedisRateLimiter(state)
    return sum(limiter.hit("shared", limit, 3600.0, now=1.0).allowed for _ in range(hits))


def hammer_lockout(url: str, prefix: str, failures: int) -> int:
    """Failures on one key; returns the highest count this process saw."""
    from veronica.security.lockout import RedisLockoutStore
    from veronica.state.redis import RedisOptions, connect

    state = connect(url, prefix=prefix, options=RedisOptions(socket_timeout_s=5.0))
    store = RedisLockoutStore(state)
    return max(store.add_failure("user:alice", 0.0, 3600.0) for _ in range(failures))


def hammer_admission(url: str, prefix: str, worker: int, tries: int, max_total: int) -> int:
    """Distinct sessions asking for a slot; returns how many got one."""
    from veronica.sessions.admission import RedisAdmission
    from veronica.state.redis import RedisOptions, connect

    state = connect(url, prefix=prefix, options=RedisOptions(socket_timeout_s=5.0))
    admission = RedisAdmission(state, horizon_s=3600.0)
    return sum(
        admission.admit(
            f"w{worker}-{i}", f"addr-{i % 7}", 100.0, max_total=max_total,
            max_per_address=1000, now=0.0,
        ).ok
        for i in range(tries)
    )  # fmt: skip
