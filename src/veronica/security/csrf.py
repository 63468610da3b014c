"""CSRF tokens for the sign-in session.

The session cookie is SameSite=Strict already; the token is the second, independent
layer: a cross-site page cannot read it, so it cannot send it back.
"""

from __future__ import annotations

import hmac
import secrets

CSRF_TOKEN_BYTES = 32


def new_csrf_token() -> str:
    """256 random bits, urlsafe base64 (43 characters)."""
    return secrets.token_urlsafe(CSRF_TOKEN_BYTES)


def csrf_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison; False for a missing or empty token on either side."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
