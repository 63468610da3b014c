"""One error shape for every failure: ``{"error": {"code": ..., "message": ...}}``.

Domain errors carry their status and a message written for clients; anything
else is logged with its traceback and answered with a generic 500, so no
internal detail ever leaves the server. A lost connection to Redis or to the
database is neither: it answers 503 ``state_unavailable`` / ``database_unavailable``
with ``Retry-After`` (``unavailable_error``), and the next request reconnects.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from veronica.errors import DatabaseUnavailableError, UnavailableError, VeronicaError
from veronica.state import redis as shared_state
from veronica.storage import db

logger = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message}},
        headers=headers,
    )


def retry_after_header(exc: Exception) -> dict[str, str] | None:
    """``Retry-After`` (whole seconds, at least 1) for refusals that lift by themselves."""
    seconds = getattr(exc, "retry_after_s", None)
    if not isinstance(seconds, int | float):
        return None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


DATABASE_RETRY_AFTER_S = 5.0
"""``Retry-After`` of a 503 ``database_unavailable``, as for Redis (state/redis.py)."""


def unavailable_error(exc: BaseException) -> UnavailableError | None:
    """The 503 for an exception that means Redis or the database cannot serve now
    (logged here with its cause), or None for any other exception."""
    if isinstance(exc, UnavailableError):
        return exc
    if shared_state.is_unavailable(exc):
        return shared_state.unavailable_error(exc)
    if db.is_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return DatabaseUnavailableError(
            "the service's database is unreachable; try again shortly", DATABASE_RETRY_AFTER_S
        )
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VeronicaError)
    async def domain_error(_: Request, exc: VeronicaError) -> JSONResponse:
        headers = retry_after_header(exc)
        if isinstance(exc, UnavailableError):  # logged with its cause where it was raised
            return error_response(exc.status, exc.code, exc.message, headers)
        if exc.status >= 500:
            logger.error("%s: %s", exc.code, exc.message)
            return error_response(
                exc.status, exc.code, "the service cannot do this right now", headers
            )
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error_response(422, "invalid_request", f"invalid request fields: {fields}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RedisError)
    @app.exception_handler(SQLAlchemyError)
    async def backing_service_error(_: Request, exc: Exception) -> JSONResponse:
        mapped = unavailable_error(exc)
        if mapped is None:
            logger.error("unhandled error", exc_info=exc)
            return error_response(500, "internal_error", "internal error")
        return error_response(
            mapped.status, mapped.code, mapped.message, retry_after_header(mapped)
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")
