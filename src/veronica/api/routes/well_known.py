"""Public keys of the result tokens, for relying sites."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from veronica.api.deps import SignerDep

router = APIRouter(tags=["well-known"])

JWKS_MAX_AGE_S = 300
"""Relying sites may cache the keys briefly; a rotated key shows up within 5 minutes."""


@router.get("/.well-known/jwks.json")
def jwks(signer: SignerDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_S}"
    return signer.jwks()
