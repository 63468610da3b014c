"""Registered relying sites (OpenID Connect clients), kept in the database.

A client is confidential (a secret, shown once at registration and stored as its
SHA-256; it authenticates with ``client_secret_basic``) or public (no secret; a
single-page or native app that has only PKCE). Redirect URIs are compared
exactly, character for character (RFC 9700 §4.1.1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError

from veronica.errors import BadInputError
from veronica.oidc.errors import ClientExistsError, ClientNotFoundError, RedirectUriInvalidError
from veronica.storage.db import SQLITE_BEGIN_OPTION, session_factory
from veronica.storage.orm import CLIENT_ID_MAX_CHARS, CLIENT_NAME_MAX_CHARS, OidcClient, utcnow

logger = logging.getLogger(__name__)

ID_TOKEN_ALGS = ("RS256", "ES256")
"""RS256 is the default (every OpenID Connect library supports it); ES256 on request."""
MAX_REDIRECT_URIS = 5
"""With 2048 characters each, a registration stays under the JSON body limit."""
MAX_REDIRECT_URI_CHARS = 2048
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@dataclass(frozen=True)
class RelyingParty:
    """A registered client as the rest of the code sees it (never its secret)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    confidential: bool
    id_token_alg: str
    created_at: datetime


@dataclass(frozen=True)
class Registered:
    client: RelyingParty
    secret: str | None
    """The client secret, shown this once (None for a public client)."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def validate_redirect_uri(uri: str) -> str:
    """``uri`` unchanged if a code may be sent there, else RedirectUriInvalidError:
    an absolute https URL (http only to a loopback host, RFC 8252 §7.3), no
    fragment (RFC 6749 §3.1.2), no user info, no spaces or control characters."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_REDIRECT_URI_CHARS:
        raise RedirectUriInvalidError(f"a redirect URI is 1–{MAX_REDIRECT_URI_CHARS} characters")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in uri):
        raise RedirectUriInvalidError(
            "a redirect URI has no spaces, backslashes or control characters"
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise RedirectUriInvalidError(f"redirect URI {uri!r} is not a URL") from exc
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise RedirectUriInvalidError(f"redirect URI {uri!r} must be an absolute https URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise RedirectUriInvalidError(
            f"redirect URI {uri!r}: plain http only to a loopback address (127.0.0.1, localhost)"
        )
    if "#" in uri:
        raise RedirectUriInvalidError(f"redirect URI {uri!r} must not have a fragment")
    if parts.username is not None or parts.password is not None:
        raise RedirectUriInvalidError(f"redirect URI {uri!r} must not contain credentials")
    return uri


def validate_client_name(name: str) -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not clean or len(clean) > CLIENT_NAME_MAX_CHARS or not clean.isprintable():
        raise BadInputError(f"a client name is 1–{CLIENT_NAME_MAX_CHARS} printable characters")
    return clean


def validate_client_id(client_id: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= CLIENT_ID_MAX_CHARS
        or not set(client_id) <= allowed
    ):
        raise BadInputError(
            f"a client id is 1–{CLIENT_ID_MAX_CHARS} letters, digits, '-', '_' or '.'"
        )
    return client_id


def _record(row: OidcClient) -> RelyingParty:
    return RelyingParty(
        client_id=row.client_id,
        name=row.name,
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        confidential=row.secret_hash is not None,
        id_token_alg=row.id_token_alg,
        created_at=row.created_at,
    )


class ClientRegistry:
    """Rows of ``oidc_clients``."""

    def __init__(self, db: Engine) -> None:
        self._sessions = session_factory(db)

    def add(
        self,
        name: str,
        redirect_uris: Sequence[str],
        *,
        confidential: bool = True,
        id_token_alg: str = "RS256",
        client_id: str | None = None,
    ) -> Registered:
        """Register a client; its secret (confidential) is in the answer only."""
        clean_name = validate_client_name(name)
        uris = tuple(dict.fromkeys(validate_redirect_uri(u) for u in redirect_uris))
        if not uris or len(uris) > MAX_REDIRECT_URIS:
            raise RedirectUriInvalidError(f"give 1–{MAX_REDIRECT_URIS} redirect URIs")
        if id_token_alg not in ID_TOKEN_ALGS:
            raise BadInputError(f"id_token_alg must be one of {', '.join(ID_TOKEN_ALGS)}")
        # Hex: a generated id or secret never starts with "-" (which command lines
        # would take for an option) and survives any copy and paste.
        cid = validate_client_id(client_id) if client_id is not None else secrets.token_hex(16)
        secret = secrets.token_hex(32) if confidential else None
        try:
            with self._sessions.begin() as session:
                session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                if session.scalar(select(OidcClient.id).where(OidcClient.client_id == cid)):
                    raise ClientExistsError(f"a client {cid!r} already exists")
                row = OidcClient(
                    client_id=cid,
                    name=clean_name,
                    redirect_uris=json.dumps(list(uris)),
                    secret_hash=hash_secret(secret) if secret is not None else None,
                    id_token_alg=id_token_alg,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                record = _record(row)
        except IntegrityError as exc:  # lost a race with a concurrent add
            raise ClientExistsError(f"a client {cid!r} already exists") from exc
        logger.info("registered OpenID Connect client %r (%s)", cid, clean_name)
        return Registered(record, secret)

    def get(self, client_id: str) -> RelyingParty | None:
        if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_CHARS:
            return None
        with self._sessions.begin() as session:
            row = session.scalar(select(OidcClient).where(OidcClient.client_id == client_id))
            return _record(row) if row is not None else None

    def list(self) -> list[RelyingParty]:
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(OidcClient).order_by(OidcClient.created_at, OidcClient.id)
            )
            return [_record(r) for r in rows]

    def check_secret(self, client_id: str, secret: str) -> bool:
        """True if ``secret`` is this confidential client's secret (constant-time)."""
        with self._sessions.begin() as session:
            stored = session.scalar(
                select(OidcClient.secret_hash).where(OidcClient.client_id == client_id)
            )
        if stored is None or not isinstance(secret, str):
            return False
        return hmac.compare_digest(stored, hash_secret(secret))

    def remove(self, client_id: str) -> None:
        """Remove a client; its codes and tokens stop working at once (every use
        looks the client up again)."""
        with self._sessions.begin() as session:
            result = session.execute(delete(OidcClient).where(OidcClient.client_id == client_id))
        if getattr(result, "rowcount", 0) == 0:
            raise ClientNotFoundError(f"no client {client_id!r}")
        logger.info("removed OpenID Connect client %r", client_id)
