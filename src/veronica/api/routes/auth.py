"""Sign-in sessions: create, frames over HTTP, the WebSocket stream, token check.

Wire protocol: docs/API.md. Every call that changes a session carries its CSRF
token (``X-CSRF-Token`` header, or the WebSocket hello) and its cookie.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Header, Request, Response, WebSocket
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from veronica.api.body import read_frame
from veronica.api.deps import (
    ClientIpDep,
    JsonBodyDep,
    ProviderDep,
    SessionsDep,
    SettingsDep,
    SignerDep,
    get_once,
)
from veronica.api.errors import unavailable_error
from veronica.errors import ImageTooLargeError, TokenInvalidError, VeronicaError
from veronica.liveness.policy import LightMode
from veronica.oidc.provider import BROWSER_COOKIE
from veronica.security.tokens import LEEWAY_S, verify_result_token
from veronica.sessions import NewSession, Reason, SessionManager, SessionRecord
from veronica.sessions.errors import SessionExpiredError, SessionFinishedError
from veronica.sessions.frames import frame_seconds, parse_frame_time
from veronica.sessions.manager import Clock
from veronica.sessions.return_to import origin_of
from veronica.settings import Environment, Settings
from veronica.storage.orm import USER_NAME_MAX_CHARS

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

COOKIE_NAME = "veronica_session"
COOKIE_PATH = "/api/v1/auth"
FRAME_WIDTH = 640
JPEG_QUALITY = 0.8
HELLO_TIMEOUT_S = 10.0
FRAME_HEADER_BYTES = 8
"""WebSocket frame: little-endian float64 capture time (ms), then the JPEG."""
WS_POLICY_VIOLATION = 1008
WS_INTERNAL_ERROR = 1011
WS_TRY_AGAIN_LATER = 1013
_TIME_LIMITS = frozenset({Reason.SESSION_EXPIRED, Reason.INACTIVE})
IDLE_GRACE_S = 0.25
"""The stream waits this much past a session's deadline before ending it, so
the end is decided by the deadline, not by a race with a frame in flight."""


class NewSessionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str | None = Field(default=None, min_length=1, max_length=USER_NAME_MAX_CHARS)
    enrollment_token: str | None = Field(default=None, min_length=1, max_length=128)
    light: bool | None = None
    """False asks to skip the colour challenge (photosensitivity): only where the
    operator's light policy is ``optional`` (see ``GET /auth/config``)."""
    return_to: str | None = Field(default=None, min_length=1, max_length=2048)
    nonce: str | None = Field(default=None, min_length=1, max_length=128)
    """Carried into the result token (the ``return_to`` flow; OIDC has its own)."""
    oidc_request: str | None = Field(default=None, min_length=1, max_length=64)
    """The OpenID Connect authorization request this sign-in answers (the page's
    ``?oidc=``); only the browser that made the request may name it."""


class VerifyTokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(min_length=1, max_length=8192)
    audience: str | None = Field(default=None, min_length=1, max_length=2048)
    """The site checking the token: its origin (``https://shop.example``), which
    the token's ``aud`` must name. Default: this service's own origin (its result
    page)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def session_body(session: SessionRecord, settings: Settings) -> dict[str, Any]:
    base = f"{COOKIE_PATH}/sessions/{session.id}"
    oval = session.oval
    return {
        "session_id": session.id,
        "csrf_token": session.csrf_token,
        "expires_at": _iso(session.expires_at),
        "purpose": session.purpose.value,
        "light_challenge": session.light is LightMode.FLASH,
        "light": session.light.value,
        "oval": {"cx": oval.cx, "cy": oval.cy, "rx": oval.rx, "ry": oval.ry},
        "state": session.state.to_json(),
        "stream_url": f"{base}/stream",
        "frames_url": f"{base}/frames",
        "limits": {
            "max_frame_bytes": settings.max_frame_bytes,
            "max_fps": settings.max_frame_rate,
            "width": FRAME_WIDTH,
            "jpeg_quality": JPEG_QUALITY,
        },
    }


def _secure_cookie(settings: Settings) -> bool:
    # Plain http://127.0.0.1 in development and tests; everywhere else HTTPS only.
    return settings.environment not in (Environment.DEVELOPMENT, Environment.TEST)


@router.get("/config")
def client_config(settings: SettingsDep) -> dict[str, Any]:
    """What the page needs to know before it starts a session: whether it may
    offer the light challenge's opt-out (only under ``optional``)."""
    return {"light_challenge": settings.light_challenge}


@router.post("/sessions", status_code=201)
def create_session(
    _: JsonBodyDep,
    sessions: SessionsDep,
    settings: SettingsDep,
    ip: ClientIpDep,
    response: Response,
    provider: ProviderDep,
    body: NewSessionBody | None = None,
    oidc_browser: Annotated[str | None, Cookie(alias=BROWSER_COOKIE)] = None,
) -> dict[str, Any]:
    """Start a sign-in (``username`` → 1:1, none → 1:N) or an enrollment
    (``enrollment_token``). No CSRF token exists yet; the call is protected by
    requiring JSON (a cross-site form cannot send it without a CORS preflight)
    and by creating nothing that a forger could use: the cookie and the CSRF
    token go only to the caller."""
    request = body or NewSessionBody()
    oidc_request = (
        provider.check_request(request.oidc_request, oidc_browser)
        if request.oidc_request is not None
        else None
    )
    session = sessions.create(
        NewSession(
            username=request.username,
            enrollment_token=request.enrollment_token,
            light=request.light,
            return_to=request.return_to,
            oidc_request=oidc_request,
            nonce=request.nonce,
        ),
        ip,
    )
    response.set_cookie(
        COOKIE_NAME,
        session.cookie_secret,
        max_age=int(settings.session_ttl_s),
        path=COOKIE_PATH,
        secure=_secure_cookie(settings),
        httponly=True,
        samesite="strict",
    )
    return session_body(session, settings)


@router.post("/sessions/{session_id}/frames")
async def post_frame(
    session_id: str,
    request: Request,
    sessions: SessionsDep,
    settings: SettingsDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
    x_frame_time: Annotated[str | None, Header()] = None,
    cookie: Annotated[str | None, Cookie(alias=COOKIE_NAME)] = None,
) -> dict[str, Any]:
    """One frame over HTTP (fallback when WebSockets are blocked). A frame sent
    while the previous one is still being processed is skipped: the answer is
    the current state with an unchanged ``seq``."""
    arrived_at = sessions.clock()  # before anything the client could slow down
    session = sessions.authorize(session_id, cookie)
    sessions.check_csrf(session, x_csrf_token)
    # In a worker thread: at its TTL the check ends the session (audit write).
    await run_in_threadpool(sessions.check_open, session.id)
    t_ms = parse_frame_time(x_frame_time)
    frame_seconds(t_ms, None)  # refuse a malformed time before reading the body
    data = await read_frame(request, settings.max_frame_bytes)
    state = await run_in_threadpool(sessions.process, session.id, t_ms, data, arrived_at)
    if state is None:  # skipped: the session as it stands now
        state = (await run_in_threadpool(sessions.get, session.id)).state
    return state.to_json()


@router.post("/tokens/verify")
def verify_token(
    _: JsonBodyDep,
    body: VerifyTokenBody,
    signer: SignerDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    """Check a result token against this service's keys, once: its ``jti`` is then
    remembered until the token expires (on every instance, with Redis), and a second
    check answers ``token already used``. (The relying site may instead verify it
    itself against ``/.well-known/jwks.json``; replay is then its own to refuse.)"""
    # Tokens name their site by origin; anything else matches no token.
    audience = origin_of(body.audience or settings.public_url) or ""
    try:
        claims = verify_result_token(
            body.token, signer.jwks(), issuer=settings.public_url, audience=audience
        )
    except TokenInvalidError as exc:
        return {"valid": False, "reason": exc.message}
    # Only after the signature: a forged token must not spend a real token's jti.
    remember_s = max(float(claims["exp"]) + LEEWAY_S - time.time(), 1.0)
    if not get_once(request).use(f"token:{claims['jti']}", remember_s):
        return {"valid": False, "reason": "token already used"}
    return {
        "valid": True,
        "username": claims["sub"],
        "purpose": claims.get("purpose"),
        "checks": claims.get("checks", []),
        "amr": claims.get("amr", []),
        "iat": claims["iat"],
        "exp": claims["exp"],
        "jti": claims["jti"],
        "aud": claims["aud"],
        "nonce": claims.get("nonce"),
    }


# -- WebSocket ---------------------------------------------------------------------------


class _ProtocolError(VeronicaError):
    code = "bad_input"
    status = 400


class _InternalError(VeronicaError):
    code = "internal_error"
    status = 500


@dataclass(frozen=True)
class _Frame:
    t_ms: float
    jpeg: bytes
    arrived_at: float
    """Server clock when the message was read off the socket."""


@dataclass(frozen=True)
class _Closed:
    pass


@dataclass(frozen=True)
class _Bad:
    error: VeronicaError


_Item = _Frame | _Closed | _Bad


def _parse_binary(data: bytes, max_bytes: int, arrived_at: float) -> _Item:
    if len(data) <= FRAME_HEADER_BYTES:
        return _Bad(_ProtocolError("a frame is 8 bytes of capture time, then the JPEG"))
    if len(data) - FRAME_HEADER_BYTES > max_bytes:
        return _Bad(ImageTooLargeError(f"frame is larger than {max_bytes} bytes"))
    (t_ms,) = struct.unpack("<d", data[:FRAME_HEADER_BYTES])
    return _Frame(float(t_ms), data[FRAME_HEADER_BYTES:], arrived_at)


async def _send_json(websocket: WebSocket, body: dict[str, Any]) -> None:
    await websocket.send_text(json.dumps(body))


async def _close_with_error(websocket: WebSocket, exc: VeronicaError) -> None:
    message = exc.message if exc.status < 500 else "the service cannot do this right now"
    code = WS_INTERNAL_ERROR if exc.status >= 500 else WS_POLICY_VIOLATION
    try:
        await _send_json(websocket, {"type": "error", "code": exc.code, "message": message})
        await websocket.close(code=code, reason=exc.code)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client is already gone


@router.websocket("/sessions/{session_id}/stream")
async def stream(websocket: WebSocket, session_id: str) -> None:
    """Stop-and-wait frame stream; see docs/API.md for the protocol."""
    settings: Settings = websocket.app.state.settings
    allowed: frozenset[str] = websocket.app.state.allowed_origins
    origin = websocket.headers.get("origin")
    # Browsers always send Origin on a WebSocket, and WebSockets are not covered by
    # CORS: the origin check is what stops a foreign page from using the socket.
    if origin is None or origin_of(origin) not in allowed:
        await websocket.close(code=WS_POLICY_VIOLATION, reason="origin_not_allowed")
        return
    services = getattr(websocket.app.state, "services", None)
    sessions: SessionManager | None = None if services is None else services.sessions
    if sessions is None:
        await websocket.close(code=WS_TRY_AGAIN_LATER, reason="not_ready")
        return
    await websocket.accept()
    try:
        session = sessions.authorize(session_id, websocket.cookies.get(COOKIE_NAME))
        await run_in_threadpool(sessions.check_open, session.id)
    except Exception as exc:
        known = exc if isinstance(exc, VeronicaError) else unavailable_error(exc)
        if known is None:
            raise
        await _close_with_error(websocket, known)
        return
    if await _hello(websocket, sessions, session):
        await _pump(websocket, sessions, session, settings.max_frame_bytes)


async def _hello(websocket: WebSocket, sessions: SessionManager, session: SessionRecord) -> bool:
    """The first message must be ``{"type": "hello", "csrf_token": ...}``."""
    try:
        message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        await websocket.close(code=WS_POLICY_VIOLATION, reason="hello_timeout")
        return False
    if message["type"] == "websocket.disconnect":
        return False
    token: str | None = None
    try:
        hello = json.loads(message.get("text") or "null")
    except json.JSONDecodeError:
        hello = None
    if isinstance(hello, dict) and hello.get("type") == "hello":
        given = hello.get("csrf_token")
        token = given if isinstance(given, str) else None
    try:
        sessions.check_csrf(session, token)
    except VeronicaError:
        await websocket.close(code=WS_POLICY_VIOLATION, reason="csrf_invalid")
        return False
    return True


async def _receive(
    websocket: WebSocket, mailbox: asyncio.Queue[_Item], max_bytes: int, clock: Clock
) -> None:
    """Reads messages as fast as they come, stamping each with its arrival time on
    the server's clock. The mailbox holds one item: a newer frame replaces one
    still waiting, which is dropped (answered with nothing)."""
    while True:
        item: _Item
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            message = {"type": "websocket.disconnect"}
        if message["type"] == "websocket.disconnect":
            item = _Closed()
        elif message.get("bytes") is not None:
            item = _parse_binary(message["bytes"], max_bytes, clock())
        else:
            item = _Bad(_ProtocolError("after the hello, send binary frames only"))
        if mailbox.full():
            mailbox.get_nowait()
        mailbox.put_nowait(item)
        if not isinstance(item, _Frame):
            return


async def _pump(
    websocket: WebSocket, sessions: SessionManager, session: SessionRecord, max_bytes: int
) -> None:
    mailbox: asyncio.Queue[_Item] = asyncio.Queue(maxsize=1)
    receiver = asyncio.create_task(_receive(websocket, mailbox, max_bytes, sessions.clock))
    try:
        while True:
            remaining = max(0.0, sessions.deadline(session) - sessions.clock())
            try:
                item = await asyncio.wait_for(mailbox.get(), remaining + IDLE_GRACE_S)
            except TimeoutError:
                # No frame until the TTL or the idle limit: the session ends there
                # (unless the clock says it is not due yet: then wait again).
                if await _finish_overdue(websocket, sessions, session):
                    return
                continue
            if isinstance(item, _Closed):
                return
            if isinstance(item, _Bad):
                await _close_with_error(websocket, item.error)
                return
            try:
                state = await run_in_threadpool(
                    sessions.process, session.id, item.t_ms, item.jpeg, item.arrived_at
                )
            except (SessionExpiredError, SessionFinishedError) as exc:
                now = await run_in_threadpool(sessions.get, session.id)
                if now.result is not None and now.result.reason in _TIME_LIMITS:
                    await _send_final(websocket, now)
                else:
                    await _close_with_error(websocket, exc)
                return
            except VeronicaError as exc:
                await _close_with_error(websocket, exc)
                return
            except Exception as exc:
                mapped = unavailable_error(exc)  # Redis or the database: 1011 with its code
                if mapped is None:
                    logger.exception("session %s: frame failed", session.id)
                await _close_with_error(websocket, mapped or _InternalError("internal error"))
                return
            if state is None:
                continue  # dropped: another frame of this session was in progress
            # This socket's view of the session's deadline (the record it holds is a
            # copy when the store is shared).
            session.last_arrival = item.arrived_at
            await _send_json(websocket, state.to_json())
            if state.result is not None:
                await websocket.close(code=1000)
                return
    except (WebSocketDisconnect, RuntimeError):
        return  # the client left while we were answering
    finally:
        receiver.cancel()


async def _finish_overdue(
    websocket: WebSocket, sessions: SessionManager, session: SessionRecord
) -> bool:
    """End the session if it ran out of time (``session_expired``) or frames
    (``inactive``) and send that final state; False if it was not due (then
    ``session`` is brought up to date)."""
    final = await run_in_threadpool(sessions.end_overdue, session.id)
    if final.result is None:
        session.last_arrival = final.last_arrival  # another instance took frames
        return False
    await _send_final(websocket, final)
    return True


async def _send_final(websocket: WebSocket, session: SessionRecord) -> None:
    await _send_json(websocket, session.state.to_json())
    await websocket.close(code=1000)
