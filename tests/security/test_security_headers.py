"""Security headers on a tiny Starlette app, through the real ASGI stack."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from veronica.security.headers import SecurityHeadersMiddleware, content_security_policy


async def page(request: Request) -> Response:
    return PlainTextResponse("hello")


async def api(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def cached(request: Request) -> Response:
    return JSONResponse({"ok": True}, headers={"Cache-Control": "max-age=60"})


async def socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hi")
    await websocket.close()


def _client(production: bool) -> TestClient:
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/v1/thing", api),
            Route("/api/v1/cached", cached),
            WebSocketRoute("/api/v1/ws", socket),
        ]
    )
    return TestClient(SecurityHeadersMiddleware(app, production=production))


def _directives(csp: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in csp.split("; ")}


def test_headers_on_a_page() -> None:
    response = _client(production=False).get("/")
    assert response.status_code == 200 and response.text == "hello"
    h = response.headers
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["permissions-policy"] == "camera=(self), microphone=(), geolocation=()"
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert "strict-transport-security" not in h
    assert "cache-control" not in h, "pages are not API answers"


def test_content_security_policy() -> None:
    csp = _directives(_client(production=False).get("/").headers["content-security-policy"])
    assert csp == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data: blob:",
        "media-src": "'self' blob:",
        "connect-src": "'self' ws://testserver wss://testserver",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "object-src": "'none'",
    }
    assert "unsafe-inline" not in str(csp) and "unsafe-eval" not in str(csp)


def test_hsts_only_in_production() -> None:
    response = _client(production=True).get("/")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    csp = _directives(response.headers["content-security-policy"])
    assert csp["connect-src"] == "'self' wss://testserver", "no plain ws:// in production"
    assert "strict-transport-security" not in _client(production=False).get("/").headers


def test_api_answers_are_not_cached() -> None:
    client = _client(production=False)
    assert client.get("/api/v1/thing").headers["cache-control"] == "no-store"
    assert client.get("/api/v1/missing").headers["cache-control"] == "no-store"
    assert client.get("/api/v1/cached").headers["cache-control"] == "max-age=60"


def test_headers_on_errors_too() -> None:
    response = _client(production=True).get("/nowhere")
    assert response.status_code == 404
    assert response.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in response.headers


def test_websockets_pass_through() -> None:
    with _client(production=False).websocket_connect("/api/v1/ws") as ws:
        assert ws.receive_text() == "hi"


def test_a_hostile_host_header_stays_out_of_the_policy() -> None:
    csp = content_security_policy("evil.com; script-src *", production=False)
    assert _directives(csp)["connect-src"] == "'self'"
    assert "evil" not in csp
    assert "wss://[::1]:8443" in content_security_policy("[::1]:8443", production=True)
    assert _directives(content_security_policy(None, production=True))["connect-src"] == "'self'"
