"""The FastAPI application. Models are loaded once, in the lifespan, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from veronica import __version__
from veronica.api.deps import ServiceDep
from veronica.api.errors import error_response, install_error_handlers
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.service import FaceService
from veronica.settings import Settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = FaceEngine.load(EngineConfig.from_settings(settings))
        app.state.service = FaceService.open(settings, engine)
        logger.info(
            "ready: embedder %s, threshold %.3f", engine.model_id, app.state.service.threshold
        )
        try:
            yield
        finally:
            app.state.service = None
            engine.close()

    app = FastAPI(title="Veronica", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.service = None
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up (liveness probe); says nothing about dependencies."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], response_model=None)
    def readyz(service: ServiceDep) -> dict[str, object] | object:
        """Models loaded and the database reachable (readiness probe)."""
        try:
            with service.store.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            logger.exception("database not reachable")
            return error_response(503, "database_unavailable", "database not reachable")
        return {"status": "ready", "embedder": service.engine.model_id}

    return app
