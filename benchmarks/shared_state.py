"""Latency of the shared-state scripts in Redis, and how requests fail and recover
when Redis goes away: the evidence for the Redis timeouts and retries in
``settings.py`` (``redis_socket_timeout_s``, ``redis_connect_timeout_s``,
``redis_retries``) and for ``state.redis.RETRY_AFTER_S``.

* latency: each store operation on the machine's Redis (127.0.0.1:6379, a prefix
  of its own, deleted after), one thread, then 8 threads on one key;
* failing: how long one operation takes to raise ``StateUnavailableError`` with the
  default options when Redis refuses connections (stopped), and when it accepts
  connections but never answers (hung: a listening socket that reads nothing);
* recovering: a Redis of its own is restarted; how long after the new server
  answers PING the old client's next operation succeeds.

    .venv/bin/python benchmarks/shared_state.py --out benchmarks/SHARED_STATE_RESULTS.md
"""

from __future__ import annotations

import argparse
import shlex
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from web_common import REPO, load_average, machine_info, table

sys.path.insert(0, str(REPO / "tests"))

from redis_support import RedisServer, delete_prefix, redis_url, unique_prefix
from veronica.errors import StateUnavailableError
from veronica.security.lockout import RedisLockoutStore
from veronica.security.once import RedisOneTimeUse
from veronica.security.ratelimit import RedisRateLimiter
from veronica.sessions.admission import RedisAdmission
from veronica.state.redis import RedisOptions, RedisState, connect


def _percentiles(samples_ms: list[float]) -> list[str]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return [f"{statistics.median(ordered):.3f}", f"{q[98]:.3f}", f"{ordered[-1]:.3f}"]


def operations(state: RedisState) -> dict[str, Callable[[int], object]]:
    limiter = RedisRateLimiter(state)
    lockout = RedisLockoutStore(state)
    admission = RedisAdmission(state, horizon_s=180.0)
    once = RedisOneTimeUse(state)
    now = time.time()
    return {
        "rate limit hit (sorted set script)": lambda i: limiter.hit("bench", 10**9, 60.0),
        "lockout add_failure (hash script)": lambda i: lockout.add_failure("user:b", now, 86400),
        "lockout get (HMGET)": lambda i: lockout.get("user:b", now),
        "admission admit (two sorted sets)": lambda i: admission.admit(
            f"s{i}", "203.0.113.7", now + 8, max_total=10**9, max_per_address=10**9, now=now
        ),
        "one-time use (SET NX PX)": lambda i: once.use(f"token:{i}", 125.0),
    }


def _timed(operation: Callable[[int], object], offset: int, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        operation(offset * n + i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure_latency(state: RedisState, n: int, threads: int) -> list[list[str]]:
    rows = []
    for name, operation in operations(state).items():
        for i in range(50):  # warm-up: connections, script cache
            operation(-i - 1)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            runs = pool.map(_timed, [operation] * threads, range(threads), [n] * threads)
            samples = [ms for run in runs for ms in run]
        rows.append([name, str(threads), str(len(samples)), *_percentiles(samples)])
    return rows


def time_failure(url: str, tries: int, options: RedisOptions | None = None) -> list[float]:
    """Seconds until one operation raises StateUnavailableError."""
    state = connect(url, prefix="bench-failure:", options=options or RedisOptions())
    limiter = RedisRateLimiter(state)
    spent = []
    for _ in range(tries):
        start = time.perf_counter()
        try:
            limiter.hit("k", 10, 60.0)
        except StateUnavailableError:
            spent.append(time.perf_counter() - start)
        else:
            raise RuntimeError("the operation succeeded against a dead Redis")
    state.close()
    return spent


class HungRedis:
    """Accepts TCP connections and never answers (a Redis stuck or a black hole
    behind a proxy that accepted the connection)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def time_recovery(directory: Path, restarts: int) -> list[float]:
    """Seconds from the restarted server answering PING to the old client's first
    successful operation (it retries with backoff until the server is back)."""
    server = RedisServer(directory)
    server.start()
    state = connect(server.url, prefix="bench-recovery:", options=RedisOptions())
    limiter = RedisRateLimiter(state)
    limiter.hit("k", 10**9, 3600.0)
    spent = []
    try:
        for _ in range(restarts):
            server.stop()
            server.start()
            start = time.perf_counter()
            while True:
                try:
                    limiter.hit("k", 10**9, 3600.0)
                    break
                except StateUnavailableError:
                    time.sleep(0.001)
            spent.append(time.perf_counter() - start)
    finally:
        state.close()
        server.stop()
    return spent


def _summary(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms ({len(ms)} tries)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=2000, help="timed operations per thread")
    parser.add_argument("--threads", type=int, default=8, help="threads of the second run")
    parser.add_argument("--tries", type=int, default=5, help="timed failures / restarts")
    parser.add_argument("--out", type=Path, help="write the Markdown results here")
    args = parser.parse_args()

    state = connect(redis_url(), prefix=unique_prefix(), options=RedisOptions())
    if not state.ping():
        print(f"Redis not reachable at {redis_url()}", file=sys.stderr)
        return 2
    try:
        latency = measure_latency(state, args.ops, 1)
        latency += measure_latency(state, max(1, args.ops // args.threads), args.threads)
    finally:
        delete_prefix(state)
        state.close()

    with tempfile.TemporaryDirectory() as tmp:
        stopped = RedisServer(Path(tmp) / "stopped")  # a free port nobody listens on
        refused = time_failure(stopped.url, args.tries)
        hung_server = HungRedis()
        hung_url = f"redis://127.0.0.1:{hung_server.port}/0"
        try:
            hung = time_failure(hung_url, args.tries)
            checked = time_failure(hung_url, args.tries, RedisOptions(health_check_interval_s=10))
            once = time_failure(hung_url, args.tries, RedisOptions(retries=0))
        finally:
            hung_server.close()
        recovery = time_recovery(Path(tmp) / "restarted", args.tries)

    opts = RedisOptions()
    lines = [
        "# Shared state in Redis: latency, failure and recovery",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by",
        f"`{' '.join(shlex.quote(a) for a in ['.venv/bin/python', *sys.argv])}`;",
        f"load average before: {load_average()}.",
        "",
        *(f"- {k}: {v}" for k, v in machine_info().items() if k != "Chromium"),
        "- Redis: the machine's redis-server 7 on 127.0.0.1 (loopback), redis-py "
        f"with the default options (socket timeout {opts.socket_timeout_s} s, connect "
        f"timeout {opts.connect_timeout_s} s, {opts.retries} retries, "
        + (
            f"health check every {opts.health_check_interval_s} s)."
            if opts.health_check_interval_s
            else "no health check)."
        ),
        "- The machine is shared (see the load average): latencies are pessimistic.",
        "",
        "## Latency per operation (ms, client side, one round trip each)",
        "",
        *table(["operation", "threads", "n", "p50", "p99", "max"], latency),
        "## Failing: one operation until 503 `state_unavailable`",
        "",
        f"- Redis stopped (connection refused): {_summary(refused)}",
        f"- Redis hung (accepts, never answers): {_summary(hung)}",
        f"- Redis hung, with `health_check_interval` 10 s (redis-py runs the check's PING "
        f"under its own retries inside each attempt): {_summary(checked)}",
        f"- Redis hung, no retries: {_summary(once)}",
        "",
        "## Recovering: a restarted Redis, the same client",
        "",
        f"- from the new server's first PONG to the first successful operation: "
        f"{_summary(recovery)}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
