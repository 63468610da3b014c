"""One error shape for every failure: ``{"error": {"code": ..., "message": ...}}``.

Domain errors carry their status and a message written for clients; anything
else is logged with its traceback and answered with a generic 500, so no
internal detail ever leaves the server.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from veronica.errors import VeronicaError

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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VeronicaError)
    async def domain_error(_: Request, exc: VeronicaError) -> JSONResponse:
        headers = retry_after_header(exc)
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

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")
