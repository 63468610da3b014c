"""OpenID Connect endpoints. Each route reads its request into ``HttpRequest``,
lets the provider (Authlib underneath) decide, and writes the ``Answer`` back.

- ``GET|POST /oidc/authorize``: validate, keep the request, send the browser to
  the sign-in page (``/?oidc=<request id>``) with the binding cookie.
- ``GET /api/v1/oidc/requests/{id}``: which site asks (for the sign-in page).
- ``GET /oidc/authorize/finish?request=…[&session=…]``: back to the site with a
  code, or ``access_denied``.
- ``POST /oidc/token``, ``GET|POST /oidc/userinfo``.
Discovery and the JWKS are under ``/.well-known`` (``api/routes/well_known.py``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Cookie, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veronica.api.deps import ProviderDep, SessionsDep, SettingsDep
from veronica.oidc.provider import (
    AUTHORIZE_PATH,
    BROWSER_COOKIE,
    FINISH_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    Answer,
    ErrorPage,
    HttpRequest,
)
from veronica.sessions.errors import SessionExpiredError, SessionNotFoundError
from veronica.sessions.store import SessionRecord
from veronica.settings import Environment, Settings

router = APIRouter(tags=["openid-connect"])
FORM = "application/x-www-form-urlencoded"
BrowserCookie = Annotated[str | None, Cookie(alias=BROWSER_COOKIE)]


def _headers(request: Request) -> Mapping[str, str]:
    return request.headers  # case-insensitive, as Authlib's lookups expect


async def _form(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body with repeated names kept, so that they can be refused
    (the token endpoint: ``Provider.token``; the authorization endpoint: Authlib)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        return []
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qsl(body, keep_blank_values=True)


def _respond(answer: Answer) -> Response:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    if isinstance(answer.body, dict | list):
        headers.setdefault("Cache-Control", "no-store")
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)
    media = next((v for k, v in answer.headers if k.lower() == "content-type"), None)
    return Response(
        answer.body or b"", status_code=answer.status, headers=headers, media_type=media
    )


def error_page(page: ErrorPage, status: int = 400) -> HTMLResponse:
    """Our own page for an error that must not go to the client's redirect URI."""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in request refused</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body data-page="oidc-error" data-error="{html.escape(page.error)}">
<main class="app"><section class="panel">
<h1>This sign-in request cannot be used</h1>
<p data-testid="oidc-error">{html.escape(page.error)}</p>
<p data-testid="oidc-error-description">{html.escape(page.description)}</p>
<p>Go back to the site you came from and try again. If it keeps happening, tell
the site's owner: its Veronica client settings do not match this request.</p>
</section></main></body></html>"""
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _outcome(result: Answer | ErrorPage) -> Response:
    return error_page(result) if isinstance(result, ErrorPage) else _respond(result)


def _secure(settings: Settings) -> bool:
    return settings.environment not in (Environment.DEVELOPMENT, Environment.TEST)


@router.api_route(AUTHORIZE_PATH, methods=["GET", "POST"], include_in_schema=False)
async def authorize(
    request: Request, provider: ProviderDep, settings: SettingsDep, browser: BrowserCookie = None
) -> Response:
    """The authorization endpoint (code flow only; GET or a POSTed form)."""
    query = list(request.query_params.multi_items())
    if request.method == "POST":
        query = await _form(request)
    http = HttpRequest("GET", AUTHORIZE_PATH, query=query, headers=_headers(request))
    result = await run_in_threadpool(provider.begin, http, browser)
    if isinstance(result, Answer | ErrorPage):
        return _outcome(result)
    page = RedirectResponse(f"/?{urlencode({'oidc': result.request_id})}", status_code=303)
    page.set_cookie(
        BROWSER_COOKIE,
        result.browser_secret,
        max_age=provider.config.request_ttl_s,
        path="/",
        secure=_secure(settings),
        httponly=True,
        # Lax: the cookie is set on the relying site's top-level redirect to us and
        # sent on our own page's requests; no other site's request carries it.
        samesite="lax",
    )
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/api/v1/oidc/requests/{request_id}")
def describe_request(
    request_id: str, provider: ProviderDep, browser: BrowserCookie = None
) -> dict[str, Any]:
    """Which site asks for this sign-in (the page shows its name); 400
    ``authorization_request_invalid`` when unknown, expired, or another browser's."""
    return provider.describe(request_id, browser)


@router.get(FINISH_PATH, include_in_schema=False)
async def finish(
    provider: ProviderDep,
    sessions: SessionsDep,
    browser: BrowserCookie = None,
    request: str = "",
    session: str | None = None,
) -> Response:
    """Back to the site: a code when ``session`` (started for this request) signed
    in; ``access_denied`` when it was refused, never finished, or not given
    (the person cancelled)."""
    record: SessionRecord | None = None
    if session:
        try:
            record = await run_in_threadpool(sessions.get, session)
        except (SessionNotFoundError, SessionExpiredError):
            record = None
    result = await run_in_threadpool(provider.finish, request, browser, record)
    return _outcome(result)


@router.post(TOKEN_PATH, include_in_schema=False)
async def token(request: Request, provider: ProviderDep) -> Response:
    """The token endpoint: ``authorization_code`` with PKCE; ``client_secret_basic``
    for confidential clients, ``none`` (client_id in the form) for public ones."""
    http = HttpRequest("POST", TOKEN_PATH, form=await _form(request), headers=_headers(request))
    return _respond(await run_in_threadpool(provider.token, http))


@router.api_route(USERINFO_PATH, methods=["GET", "POST"], include_in_schema=False)
async def userinfo(request: Request, provider: ProviderDep) -> Response:
    http = HttpRequest(request.method, USERINFO_PATH, headers=_headers(request))
    answer = await run_in_threadpool(provider.userinfo, http)
    response = _respond(answer)
    if answer.status == 401 and "www-authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
