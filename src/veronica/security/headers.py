"""Security headers on every HTTP response (pure ASGI: no body buffering, and
WebSocket traffic passes through untouched).

The Content-Security-Policy allows only the service's own scripts, styles and
connections: an injected ``<script>`` or inline handler does not run, the page
cannot be framed (clickjacking) and cannot send the camera frames anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS_VALUE = "max-age=31536000"
"""One year. No ``includeSubDomains``/``preload``: those bind hosts this service
does not own; an operator who wants them sets them at the proxy."""

_BASE_CSP = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    # connect-src is added per request (WebSocket URLs of the service's own host)
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
)

_STATIC_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

# A Host header only ends up in the CSP when it is a plain host[:port]; anything else
# (spaces, semicolons, quotes) could inject policy directives.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def content_security_policy(host: str | None, *, production: bool) -> str:
    """The CSP for a response to a request addressed to ``host``.

    ``'self'`` covers ws:/wss: of the same host in CSP Level 3, but older Safari does
    not apply it to WebSockets, so the socket URL is listed explicitly.
    """
    connect = ["'self'"]
    if host is not None and _HOST_RE.match(host):
        connect += [f"wss://{host}"] if production else [f"ws://{host}", f"wss://{host}"]
    directives = [*_BASE_CSP[:5], f"connect-src {' '.join(connect)}", *_BASE_CSP[5:]]
    return "; ".join(directives)


def _host_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"host":
            return value.decode("latin-1")
    return None


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response.

    Headers the application already set on a response win (a route may, say, allow
    caching of a static file); ``Cache-Control: no-store`` goes on ``/api/`` answers
    unless the route chose otherwise, so tokens and session ids never sit in a cache.
    """

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_STATIC_HEADERS)
        host = _host_of(scope.get("headers", ()))
        csp = content_security_policy(host, production=self.production)
        extra.append((b"content-security-policy", csp.encode("latin-1")))
        if self.production:
            extra.append((b"strict-transport-security", HSTS_VALUE.encode("latin-1")))
        path: str = scope.get("path", "")
        if path == "/api" or path.startswith("/api/"):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
