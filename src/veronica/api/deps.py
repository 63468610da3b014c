"""Request dependencies as ``Annotated`` aliases: routes declare what they need by type.

The settings and metrics live on ``app.state`` from ``create_app`` on; the rest
is the ``Services`` the lifespan builds (``app.state.services``); a dependency
that is not there yet answers 503 ``not_ready``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from starlette.requests import HTTPConnection

from veronica.api.metrics import Metrics
from veronica.errors import AdminKeyInvalidError, VeronicaError
from veronica.oidc.provider import Provider
from veronica.security.apikeys import AdminKeys
from veronica.security.once import OneTimeUse
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions import SessionManager
from veronica.settings import Settings
from veronica.state.redis import RedisState
from veronica.storage.audit import AuditLog
from veronica.storage.enrollment_links import EnrollmentLinks


class NotReadyError(VeronicaError):
    code = "not_ready"
    status = 503


class UnsupportedMediaTypeError(VeronicaError):
    code = "unsupported_media_type"
    status = 415


def _state(connection: HTTPConnection, name: str, what: str) -> Any:
    """``name`` of the app's ``Services`` (``api/services.py``), once it is built."""
    services = getattr(connection.app.state, "services", None)
    if services is None:
        raise NotReadyError(f"the {what} is still loading")
    return getattr(services, name)


def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def get_service(connection: HTTPConnection) -> FaceService:
    service: FaceService = _state(connection, "service", "face engine")
    return service


def get_sessions(connection: HTTPConnection) -> SessionManager:
    sessions: SessionManager = _state(connection, "sessions", "session manager")
    return sessions


def get_provider(connection: HTTPConnection) -> Provider:
    provider: Provider = _state(connection, "oidc", "OpenID Provider")
    return provider


def get_signer(connection: HTTPConnection) -> ResultSigner:
    signer: ResultSigner = _state(connection, "signer", "token signer")
    return signer


def get_admin_keys(connection: HTTPConnection) -> AdminKeys:
    keys: AdminKeys = _state(connection, "admin_keys", "admin key store")
    return keys


def get_audit(connection: HTTPConnection) -> AuditLog:
    audit: AuditLog = _state(connection, "audit", "audit log")
    return audit


def get_links(connection: HTTPConnection) -> EnrollmentLinks:
    links: EnrollmentLinks = _state(connection, "links", "enrollment link store")
    return links


def get_once(connection: HTTPConnection) -> OneTimeUse:
    once: OneTimeUse = _state(connection, "once", "one-time-use store")
    return once


def get_redis(connection: HTTPConnection) -> RedisState | None:
    """The shared Redis, or None when state is in-process."""
    redis: RedisState | None = _state(connection, "redis", "shared state")
    return redis


def get_metrics(connection: HTTPConnection) -> Metrics:
    metrics: Metrics = connection.app.state.metrics
    return metrics


def client_ip(connection: HTTPConnection) -> str:
    """The peer address as the ASGI server reports it. Behind a reverse proxy, run
    ``veronica serve --proxy-headers --forwarded-allow-ips <proxy>`` (or set
    ``VERONICA_PROXY_HEADERS`` and ``VERONICA_FORWARDED_ALLOW_IPS``) so this is the
    browser's address, taken from ``X-Forwarded-For`` only when the peer is a listed
    proxy. ``serve`` never leaves uvicorn's own default (trust 127.0.0.1) in place:
    trusting the header from anyone would let a client pick its own lockout and
    rate-limit key. Limits should key on ``security.addresses.address_key`` of this
    (an IPv6 client by its /64)."""
    return connection.client.host if connection.client is not None else "unknown"


def require_admin(
    keys: Annotated[AdminKeys, Depends(get_admin_keys)],
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """``Authorization: Bearer <admin key>``. Admin calls carry no cookie, so a
    cross-site page cannot make a browser send them: CSRF does not apply."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not keys.verify(key.strip()):
        raise AdminKeyInvalidError("a valid admin key is required (Authorization: Bearer ...)")


def require_json(request: Request) -> None:
    """JSON bodies only: a cross-site form cannot send ``application/json`` without
    a CORS preflight, which the CORS policy refuses for foreign origins."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaTypeError("send the request body as application/json")


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[FaceService, Depends(get_service)]
SessionsDep = Annotated[SessionManager, Depends(get_sessions)]
SignerDep = Annotated[ResultSigner, Depends(get_signer)]
ProviderDep = Annotated[Provider, Depends(get_provider)]
AdminKeysDep = Annotated[AdminKeys, Depends(get_admin_keys)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
LinksDep = Annotated[EnrollmentLinks, Depends(get_links)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RedisDep = Annotated[RedisState | None, Depends(get_redis)]
ClientIpDep = Annotated[str, Depends(client_ip)]
AdminDep = Annotated[None, Depends(require_admin)]
JsonBodyDep = Annotated[None, Depends(require_json)]
