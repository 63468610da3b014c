"""The result token: JWKS, a real 1:1 sign-in over HTTP with ``return_to``, and
verification by the relying site (A1's ``verify_result_token``) and by the API."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from api_support import (
    ENROLL_PHOTOS,
    OWN,
    RELYING,
    drive_http,
    enroll_photos,
    genuine_actor,
    services,
    start,
)
from fastapi.testclient import TestClient

from veronica.errors import TokenInvalidError
from veronica.security.tokens import verify_result_token

VERIFY = "/api/v1/auth/tokens/verify"


def test_jwks_shape(api: TestClient) -> None:
    response = api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    body = response.json()
    assert set(body) == {"keys"} and len(body["keys"]) == 2  # ES256 and RS256 (OIDC)
    [key] = [k for k in body["keys"] if k["alg"] == "ES256"]
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
    }  # fmt: skip
    assert {"x", "y", "kid"} <= set(key) and "d" not in key  # never the private part
    assert key["kid"] == services(api).signer.kid  # type: ignore[attr-defined]


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c"])
def test_verify_refuses_garbage(api: TestClient, token: str) -> None:
    body = api.post(VERIFY, json={"token": token}).json()
    assert body["valid"] is False and body["reason"]


def test_verify_bad_requests(api: TestClient) -> None:
    assert api.post(VERIFY, json={}).status_code == 422
    assert api.post(VERIFY, json={"token": "x", "extra": 1}).status_code == 422
    assert api.post(VERIFY, content=b"token=x").status_code == 415


def test_verify_a_token_signed_with_another_key(api: TestClient) -> None:
    from veronica.security.tokens import ResultSigner, generate_signing_key

    forged = ResultSigner(generate_signing_key()).sign(
        subject="obama", purpose="login", checks=["match"], session_id="s",
        issuer="http://127.0.0.1:8000",
    )  # fmt: skip
    assert api.post(VERIFY, json={"token": forged}).json()["valid"] is False


@pytest.mark.slow
def test_sign_in_with_return_to_gives_a_token_the_relying_site_can_verify(
    api: TestClient,
) -> None:
    enroll_photos(api, "obama", ENROLL_PHOTOS)
    created = start(api, username="obama", return_to=f"{RELYING}/welcome?next=%2F")
    final = drive_http(api, created, genuine_actor(api, created))
    result: dict[str, Any] = final["result"]
    assert (result["status"], result["reason"], result["username"]) == ("signed_in", "ok", "obama")
    token = result["token"]
    assert result["redirect"] == f"{RELYING}/welcome?next=%2F#token={token}"

    # The relying site: fetch the keys, verify the token.
    jwks = api.get("/.well-known/jwks.json").json()
    claims = verify_result_token(token, jwks, issuer="http://127.0.0.1:8000", audience=RELYING)
    assert claims["sub"] == "obama" and claims["purpose"] == "login"
    assert claims["aud"] == RELYING and claims["jti"] == created["session_id"]
    assert claims["exp"] - claims["iat"] == 120
    assert claims["amr"] == ["face", "liveness"]
    assert claims["checks"] == [
        "challenge",
        "light",
        "pad",
        "consistency",
        "identity",
        "clock",
        "match",
    ]
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in {k["kid"] for k in jwks["keys"] if k["alg"] == "ES256"}
    # As docs/API.md shows a relying site doing it with PyJWT alone.
    documented = jwt.decode(
        token,
        jwt.PyJWKSet.from_dict(jwks)[kid].key,
        algorithms=["ES256"],
        audience=RELYING,  # the token is for this site only
        issuer="http://127.0.0.1:8000",
        options={"require": ["iss", "aud", "sub", "iat", "exp", "jti"]},
        leeway=5,
    )
    assert documented == claims
    with pytest.raises(TokenInvalidError):
        verify_result_token(token, jwks, issuer="https://someone-else.example", audience=RELYING)
    with pytest.raises(TokenInvalidError, match="audience"):  # site B refuses site A's token
        verify_result_token(token, jwks, issuer=OWN, audience="https://other-shop.example")
    assert api.post(VERIFY, json={"token": token}).json() == {
        "valid": False,
        "reason": "token audience is wrong",
    }, "by default the API checks for its own origin, not the relying site's"

    # Or the API does it.
    verified = api.post(VERIFY, json={"token": token, "audience": RELYING}).json()
    assert verified["valid"] is True and verified["username"] == "obama"
    assert verified["jti"] == created["session_id"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api.post(VERIFY, json={"token": tampered, "audience": RELYING}).json()["valid"] is False
    again = api.post(VERIFY, json={"token": token, "audience": RELYING}).json()
    assert again == {"valid": False, "reason": "token already used"}

    # The same session cannot be used again (single use).
    again = api.post(
        created["frames_url"],
        content=b"\xff\xd8\xff",
        headers={
            "Content-Type": "image/jpeg",
            "X-CSRF-Token": created["csrf_token"],
            "X-Frame-Time": "1e6",
        },
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "session_finished"
