"""Public keys of the ID tokens and result tokens, for relying sites."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from veronica.api.deps import ProviderDep

router = APIRouter(tags=["well-known"])

JWKS_MAX_AGE_S = 300
"""Relying sites may cache the keys briefly; a rotated key shows up within 5 minutes."""


@router.get("/.well-known/jwks.json")
def jwks(provider: ProviderDep, response: Response) -> dict[str, Any]:
    """Every key relying sites should accept: the RS256 and ES256 signing keys and
    any retired key whose tokens may still be in use."""
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_S}"
    return provider.keys.jwks()


@router.get("/.well-known/openid-configuration")
def openid_configuration(provider: ProviderDep, response: Response) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 metadata (docs/OIDC.md)."""
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_S}"
    return provider.discovery()
