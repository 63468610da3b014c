"""Admin API: users, their templates, enrollment links, OpenID Connect clients.

Authenticated by ``Authorization: Bearer <admin key>`` on every call, never by a
cookie: a browser does not attach the header by itself, so a cross-site page
cannot forge these requests and CSRF tokens would add nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from veronica.api.body import MULTIPART_OVERHEAD_BYTES, media_type
from veronica.api.deps import (
    AdminDep,
    JsonBodyDep,
    LinksDep,
    ProviderDep,
    ServiceDep,
    SettingsDep,
    UnsupportedMediaTypeError,
)
from veronica.errors import BadInputError, ImageTooLargeError, UserNotFoundError
from veronica.oidc.clients import MAX_REDIRECT_URIS, RelyingParty
from veronica.service import MAX_ENROLL_IMAGES
from veronica.storage import UserRecord, validate_user_name
from veronica.storage.orm import CLIENT_ID_MAX_CHARS, CLIENT_NAME_MAX_CHARS, USER_NAME_MAX_CHARS

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

MAX_ADMIN_IMAGE_BYTES = 10 * 1024 * 1024
"""Per photo, as for the CLI (pipeline ``DecodeLimits.max_bytes``)."""


class NewUserBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(min_length=1, max_length=USER_NAME_MAX_CHARS)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "username": user.name,
        "created_at": _iso(user.created_at),
        "templates": user.template_count,
    }


@router.post("/users", status_code=201)
def create_user(
    _: AdminDep, __: JsonBodyDep, body: NewUserBody, service: ServiceDep
) -> dict[str, Any]:
    return _user_json(service.store.create_user(body.username))


@router.get("/users")
def list_users(_: AdminDep, service: ServiceDep) -> dict[str, Any]:
    return {"users": [_user_json(u) for u in service.store.list_users()]}


@router.delete("/users/{username}", status_code=204)
def delete_user(_: AdminDep, username: str, service: ServiceDep) -> Response:
    """Erase the user with every template and kept image (audit events remain:
    they hold no biometric data)."""
    service.store.delete_user(username)
    return Response(status_code=204)


@router.post("/users/{username}/enrollment-links", status_code=201)
def create_enrollment_link(
    _: AdminDep, username: str, links: LinksDep, settings: SettingsDep
) -> dict[str, Any]:
    """A one-time link the person opens to enroll with a live session."""
    token, expires_at = links.issue(username, settings.enrollment_link_ttl_s)
    base = settings.public_url.rstrip("/")
    return {"token": token, "url": f"{base}/enroll?token={token}", "expires_at": _iso(expires_at)}


@router.post("/users/{username}/images", status_code=201)
async def add_images(
    _: AdminDep, username: str, request: Request, service: ServiceDep, settings: SettingsDep
) -> dict[str, Any]:
    """Enroll photos (multipart field ``images``, 1–10): the strict quality gate,
    all or nothing, and they must match the user's existing templates."""
    name = validate_user_name(username)
    if service.store.get_user(name) is None:
        raise UserNotFoundError(f"no user named {name!r}")
    if media_type(request) != "multipart/form-data":
        raise UnsupportedMediaTypeError("send the photos as multipart/form-data field 'images'")
    limit = MAX_ENROLL_IMAGES * (MAX_ADMIN_IMAGE_BYTES + MULTIPART_OVERHEAD_BYTES)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImageTooLargeError(f"the body is larger than {limit} bytes")
    form = await request.form(
        max_files=MAX_ENROLL_IMAGES, max_fields=0, max_part_size=MAX_ADMIN_IMAGE_BYTES
    )
    try:
        parts = form.getlist("images")
        if not parts or not all(isinstance(p, UploadFile) for p in parts):
            raise BadInputError(f"send 1 to {MAX_ENROLL_IMAGES} files in the field 'images'")
        images = [await p.read() for p in parts if isinstance(p, UploadFile)]
    finally:
        await form.close()
    result = await run_in_threadpool(service.enroll, name, images, settings.keep_enrollment_images)
    return {"username": result.name, "templates_added": result.templates_added}


# -- OpenID Connect clients (docs/OIDC.md) -------------------------------------------------


class NewClientBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=CLIENT_NAME_MAX_CHARS)
    redirect_uris: list[str] = Field(min_length=1, max_length=MAX_REDIRECT_URIS)
    confidential: bool = True
    """False: a public client (single-page or native app) that has PKCE only."""
    id_token_alg: Literal["RS256", "ES256"] = "RS256"
    client_id: str | None = Field(default=None, min_length=1, max_length=CLIENT_ID_MAX_CHARS)


def _client_json(client: RelyingParty) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "type": "confidential" if client.confidential else "public",
        "token_endpoint_auth_method": "client_secret_basic" if client.confidential else "none",
        "id_token_signed_response_alg": client.id_token_alg,
        "created_at": _iso(client.created_at),
    }


@router.post("/clients", status_code=201)
def create_client(
    _: AdminDep, __: JsonBodyDep, body: NewClientBody, provider: ProviderDep
) -> dict[str, Any]:
    """Register a relying site. A confidential client's ``client_secret`` is in this
    answer only (it is stored hashed)."""
    registered = provider.registry.add(
        body.name,
        body.redirect_uris,
        confidential=body.confidential,
        id_token_alg=body.id_token_alg,
        client_id=body.client_id,
    )
    answer = _client_json(registered.client)
    if registered.secret is not None:
        answer["client_secret"] = registered.secret
    return answer


@router.get("/clients")
def list_clients(_: AdminDep, provider: ProviderDep) -> dict[str, Any]:
    return {"clients": [_client_json(c) for c in provider.registry.list()]}


@router.delete("/clients/{client_id}", status_code=204)
def delete_client(_: AdminDep, client_id: str, provider: ProviderDep) -> Response:
    """Its pending codes and access tokens stop working at once."""
    provider.registry.remove(client_id)
    return Response(status_code=204)
