"""Errors of the OpenID Provider's own API (the protocol's errors are RFC 6749's,
answered by Authlib in their own format)."""

from __future__ import annotations

from veronica.errors import BadInputError, ConflictError, NotFoundError


class ClientNotFoundError(NotFoundError):
    code = "client_not_found"


class ClientExistsError(ConflictError):
    code = "client_exists"


class RedirectUriInvalidError(BadInputError):
    code = "redirect_uri_invalid"


class AuthorizationRequestInvalidError(BadInputError):
    """The sign-in page named an authorization request that is unknown, expired,
    already finished, or belongs to another browser."""

    code = "authorization_request_invalid"
