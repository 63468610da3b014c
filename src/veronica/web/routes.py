"""Routes of the browser pages and their static files.

The pages are fixed files: parameters (``?username=``, ``?return_to=``,
``?token=``, ``?lang=``) stay in the URL and the page's own script reads them,
so nothing user-supplied is ever written into HTML.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The security headers (CSP: script-src/style-src 'self', no framing; no-referrer,
# which keeps the enrollment token of /enroll out of Referer) come from
# veronica.security.headers on every response; the pages need nothing more.

router = APIRouter(tags=["web"], include_in_schema=False)

REVALIDATE = "no-cache"
"""Pages and modules are revalidated on every load (a cheap 304 via ETag), so a
new release's page never runs with last release's cached modules."""


def _page(name: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / name,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": REVALIDATE},
    )


@router.get("/")
def sign_in_page() -> FileResponse:
    """Sign in: 1:N, or 1:1 with ``?username=``; ``?return_to=`` goes to the session request."""
    return _page("index.html")


@router.get("/enroll")
def enroll_page() -> FileResponse:
    """Enroll with the one-time ``?token=`` of an enrollment link."""
    return _page("enroll.html")


@router.get("/result")
def result_page() -> FileResponse:
    """Who signed in: the page verifies the token it kept in sessionStorage."""
    return _page("result.html")


class _RevalidatedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", REVALIDATE)
        return response


def mount_static(app: FastAPI) -> None:
    """Serve ``static/`` under ``/static`` (a router cannot mount an application)."""
    app.mount("/static", _RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
