"""Probes and metrics for operators."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from veronica.api.deps import AdminDep, MetricsDep, RedisDep, ServiceDep, SessionsDep
from veronica.api.errors import error_response

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])
metrics_router = APIRouter(tags=["ops"])
"""``/metrics`` on the main listener; left out when metrics have their own listener."""


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (liveness probe); says nothing about dependencies."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(
    service: ServiceDep, sessions: SessionsDep, redis: RedisDep
) -> dict[str, object] | Response:
    """Models loaded, the database, Redis (when configured) and the session store
    reachable (readiness probe)."""
    try:
        with service.store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        logger.exception("database not reachable")
        return error_response(503, "database_unavailable", "database not reachable")
    if redis is not None and not redis.ping():
        return error_response(503, "redis_unavailable", "shared state (Redis) not reachable")
    if not sessions.store.ping():
        return error_response(503, "session_store_unavailable", "session store not reachable")
    return {"status": "ready", "embedder": service.engine.model_id}


@metrics_router.get("/metrics")
def metrics(_: AdminDep, metrics: MetricsDep) -> Response:
    """Prometheus text format, for an admin key (``Authorization: Bearer``; Prometheus
    sends one with ``authorization: {credentials_file: ...}``). It shows no secrets,
    but traffic, decisions and timings help an attacker tune a flood or a spoof."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
