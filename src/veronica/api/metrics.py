"""Prometheus metrics on a registry owned by one app (no global registry: two
apps in one process, as in the tests, keep separate counts)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veronica.errors import ConfigurationError, VeronicaError
from veronica.pipeline.runner import FrameAnalysis
from veronica.sessions.state import SessionResult

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method label values; any other method (clients may send any token) is ``other``."""

REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "veronica_http_request_duration_seconds",
            "HTTP request latency by route template (WebSocket streams excluded).",
            ("method", "route", "status"),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "veronica_pipeline_stage_duration_seconds",
            "Per-frame pipeline stage latency in sign-in sessions.",
            ("stage",),
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "veronica_session_decisions",
            "Ended sign-in and enrollment sessions by status and reason.",
            ("status", "reason"),
            registry=self.registry,
        )
        self.restore_seconds = Histogram(
            "veronica_session_restore_duration_seconds",
            "Rebuilding a session's live part (a fresh tracker, its signals) from its "
            "stored state, when a frame lands on an instance that was not serving it.",
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.live_trackers = Gauge(
            "veronica_live_trackers",
            "Sessions whose live part (a tracking Face Mesh) this process holds.",
            registry=self.registry,
        )
        self.active_sessions = Gauge(
            "veronica_active_sessions",
            "Sessions holding an admission slot (streaming), on every instance sharing it.",
            registry=self.registry,
        )

    def track_active(self, count: Callable[[], int], trackers: Callable[[], int]) -> None:
        """Gauges read at scrape time. A count that cannot be read (shared state
        down) shows as NaN: metrics degrade, they never fail a scrape."""

        def safe(read: Callable[[], int]) -> Callable[[], float]:
            def value() -> float:
                try:
                    return float(read())
                except VeronicaError:
                    return math.nan

            return value

        self.active_sessions.set_function(safe(count))
        self.live_trackers.set_function(safe(trackers))

    # SessionObserver
    def on_analysis(self, analysis: FrameAnalysis) -> None:
        for timing in analysis.timings:
            self.stage_seconds.labels(timing.stage).observe(timing.ms / 1000.0)

    def on_result(self, result: SessionResult) -> None:
        self.decisions.labels(result.status.value, result.reason.value).inc()

    def on_restore(self, seconds: float) -> None:
        self.restore_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsListener:
    """The registry on a listener of its own (``VERONICA_METRICS_PORT``), for a
    scraper on a network the public cannot reach: prometheus_client's threaded HTTP
    server, started by the app's lifespan and closed at its end."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        try:
            self._server, self._thread = start_http_server(port, host, metrics.registry)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
            ) from exc

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


def method_label(method: str) -> str:
    """The request method if it is a standard one, else ``other``."""
    return method if method in METHODS else "other"


class RequestMetricsMiddleware:
    """Times each HTTP request and labels it with the matched route's template
    (``/api/v1/auth/sessions/{session_id}/frames``), never the raw path: ids in
    paths would make one time series per session. Likewise the method label comes
    from a fixed set: every label a client can choose is a new time series, so the
    registry's size must not depend on what clients send."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
            self.metrics.request_seconds.labels(
                method_label(scope.get("method", "")), template or "unmatched", str(status)
            ).observe(time.perf_counter() - start)
