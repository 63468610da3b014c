"""A size limit on request bodies, enforced before any route reads them.

FastAPI reads the whole body of a route with a JSON body model before any
dependency runs, and whatever the ``Content-Type`` (``require_json``'s 415 comes
after the read). So the limit cannot key on the declared type alone: every body
is held to ``max_bytes`` except on the upload routes named at construction
(camera frames, enrollment photos), which read their bodies themselves within
their own limits (``api/body.py``, ``routes/admin.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veronica.api.errors import error_response


class BodyLimitMiddleware:
    """Answers ``413 body_too_large`` (the one error shape) when a request body is
    larger than ``max_bytes``: at once from a declared ``Content-Length``, otherwise
    while reading a chunked body, before the application sees any of it. Holds at
    most ``max_bytes`` per request in memory, then replays the body to the app.
    ``uploads``: path templates (``/api/v1/auth/sessions/{session_id}/frames``) left
    to their routes' own limits."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._uploads = [compile_path(template)[0] for template in uploads]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(p.match(scope["path"]) for p in self._uploads):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see the disconnect as it would.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "body_too_large", f"the request body is larger than {self.max_bytes} bytes"
        )
        # The rest of the body is never read: close instead of draining it.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; a malformed one counts as too large (uvicorn refuses
    those itself before the app is called, so this is only a fallback)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 1 << 62
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that hands out ``messages`` first, then the real channel (so a
    streaming response still hears ``http.disconnect``)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
