"""The FastAPI application. Models are loaded once, in the lifespan, never at import;
the object graph the routes use is built by ``api/services.build_services`` and
kept as one ``Services`` on ``app.state.services`` (no module-level singletons)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from veronica import __version__
from veronica.api.errors import install_error_handlers
from veronica.api.limits import BodyLimitMiddleware
from veronica.api.metrics import Metrics, MetricsListener, RequestMetricsMiddleware
from veronica.api.routes import admin, auth, ops, well_known
from veronica.api.services import Services, build_services
from veronica.errors import ConfigurationError
from veronica.oidc import routes as oidc
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.security.headers import SecurityHeadersMiddleware
from veronica.sessions import SessionManager
from veronica.sessions.return_to import allowed_origins
from veronica.settings import Settings
from veronica.web import routes as web

logger = logging.getLogger(__name__)

REAP_INTERVAL_S = 1.0
"""How often expired and idle sessions are swept: an idle session frees its
admission slot (and its ~30 MB tracker) within a second of its idle limit."""

UPLOAD_PATHS = (
    "/api/v1/auth/sessions/{session_id}/frames",
    "/api/v1/admin/users/{username}/images",
)
"""Routes that read their (binary) bodies themselves within their own limits; every
other body is held to ``settings.max_json_bytes`` (``api/limits.py``)."""


def create_app(
    settings: Settings,
    *,
    engine: FaceEngine | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app for ``settings``. ``engine``: an already loaded engine to share (the
    caller keeps ownership and closes it); ``clock``: wall-clock seconds for session
    expiry, rate limits and lockouts (tests inject one).

    In production it refuses (ConfigurationError) a configuration with any of
    ``settings.production_problems()``, however the ASGI server was started."""
    if settings.is_production and (problems := settings.production_problems()):
        raise ConfigurationError("not starting in production: " + "; ".join(problems))
    origins = allowed_origins(settings.public_url, settings.allowed_origins)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        face_engine = FaceEngine.load(EngineConfig.from_settings(settings)) if owned else engine
        assert face_engine is not None
        try:
            services = build_services(settings, face_engine, clock, observer=metrics)
            metrics.track_active(services.sessions.active_count, services.sessions.runtime_count)
            app.state.services = services
            logger.info(
                "ready: embedder %s, threshold %.3f, shared state %s",
                face_engine.model_id,
                services.service.threshold,
                "in Redis" if services.redis is not None else "in this process",
            )
            listener = (
                MetricsListener(metrics, settings.metrics_host, settings.metrics_port)
                if settings.metrics_port is not None
                else None
            )
            app.state.metrics_listener = listener
            reaper = asyncio.create_task(_reap_forever(services.sessions))
            try:
                yield
            finally:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
                if listener is not None:
                    listener.close()
                app.state.metrics_listener = None
        finally:
            running: Services | None = app.state.services
            app.state.services = None
            if running is not None:
                running.close()
            if owned:
                face_engine.close()

    docs = settings.resolved_api_docs
    app = FastAPI(
        title="Veronica",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.allowed_origins = origins
    app.state.services = None
    install_error_handlers(app)

    app.include_router(ops.router)
    if settings.metrics_port is None:  # else only on the separate listener
        app.include_router(ops.metrics_router)
    app.include_router(well_known.router)
    app.include_router(auth.router)
    app.include_router(admin.router)
    app.include_router(oidc.router)
    app.include_router(web.router)
    web.mount_static(app)

    # Outermost last: metrics time everything, headers go on every answer (errors
    # included), CORS answers preflights before any route runs, and no body larger
    # than the limit reaches a route.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_json_bytes, uploads=UPLOAD_PATHS)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type", "X-CSRF-Token", "X-Frame-Time", "Authorization"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, production=settings.is_production)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app


async def _reap_forever(sessions: SessionManager) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_S)
        try:
            await run_in_threadpool(sessions.reap)
        except Exception:
            logger.exception("session reaper failed")
