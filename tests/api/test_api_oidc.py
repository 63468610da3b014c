"""OpenID Connect through the real app: a relying site registers, sends the browser
to ``/oidc/authorize``, the person signs in with a face (simulated, over the real
session API), and the site exchanges the code for an ID token it verifies against
the JWKS. Run on the embedded defaults and on PostgreSQL + Redis (codes, requests
and tokens in the shared store)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from api_support import (
    ADMIN,
    ENROLL_PHOTOS,
    OWN,
    RELYING,
    assert_error,
    drive_http,
    enroll_photos,
    fail_by_timeout,
    genuine_actor,
    start,
)
from fastapi.testclient import TestClient

CALLBACK = f"{RELYING}/auth/callback"
CLIENTS = "/api/v1/admin/clients"


def register(api: TestClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Relying Example")
    body.setdefault("redirect_uris", [CALLBACK])
    response = api.post(CLIENTS, json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    client: dict[str, Any] = response.json()
    return client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_params(client: dict[str, Any], challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def begin(api: TestClient, params: dict[str, str]) -> str:
    """``/oidc/authorize`` → the sign-in page's request id."""
    response = api.get("/oidc/authorize", params=params, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert location.path == "/"
    return parse_qs(location.query)["oidc"][0]


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    api: TestClient, client: dict[str, Any], code: str, verifier: str, **extra: Any
) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    auth = (client["client_id"], client["client_secret"]) if "client_secret" in client else None
    if auth is None:
        form["client_id"] = client["client_id"]
    form.update(extra.pop("form", {}))
    return api.post("/oidc/token", data=form, auth=extra.pop("auth", auth), **extra)


def test_discovery_and_jwks(api: TestClient) -> None:
    meta = api.get("/.well-known/openid-configuration").json()
    assert meta["issuer"] == OWN
    assert meta["authorization_endpoint"] == f"{OWN}/oidc/authorize"
    assert meta["token_endpoint"] == f"{OWN}/oidc/token"
    assert meta["jwks_uri"] == f"{OWN}/.well-known/jwks.json"
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    keys = api.get("/.well-known/jwks.json").json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all(k["kid"] and k["use"] == "sig" for k in keys)
    assert not any({"d", "p", "q"} & set(k) for k in keys), "never a private member"


@pytest.mark.slow
def test_face_sign_in_gives_the_site_a_code_and_a_verifiable_id_token(api: TestClient) -> None:
    enroll_photos(api, "obama", ENROLL_PHOTOS)
    client = register(api)
    verifier, challenge = pkce()
    params = authorize_params(client, challenge)
    request_id = begin(api, params)
    about = api.get(f"/api/v1/oidc/requests/{request_id}").json()
    assert about["client_name"] == "Relying Example"
    assert about["redirect_host"] == "relying.example"

    created = start(api, username="obama", oidc_request=request_id)
    final = drive_http(api, created, genuine_actor(api, created))
    result = final["result"]
    assert (result["status"], result["username"]) == ("signed_in", "obama")
    assert result.get("token") is None, "an OIDC sign-in hands the page no result token"

    back = api.get(
        "/oidc/authorize/finish",
        params={"request": request_id, "session": created["session_id"]},
        follow_redirects=False,
    )
    query = redirect_query(back)
    assert query["state"] == params["state"]
    assert query["iss"] == OWN  # RFC 9207
    code = query["code"]

    tokens = exchange(api, client, code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"].lower() == "bearer" and "refresh_token" not in body

    jwks = jwt.PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        body["id_token"],
        jwks[header["kid"]].key,
        algorithms=["RS256"],
        audience=client["client_id"],
        issuer=OWN,
    )
    user = next(u for u in api.get("/api/v1/admin/users", headers=ADMIN).json()["users"])
    assert claims["sub"] != "obama" and len(claims["sub"]) >= 20  # stable, not the name
    assert claims["name"] == "obama" and user["username"] == "obama"
    assert claims["nonce"] == params["nonce"]
    assert claims["acr"] == "urn:veronica:acr:face-liveness-light"
    assert claims["amr"] == ["face", "user"]
    assert claims["auth_time"] <= claims["iat"]
    assert "at_hash" in claims

    info = api.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json() == {"sub": claims["sub"], "name": "obama"}

    # The code is single use; its second use also revokes the first access token.
    again = exchange(api, client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    revoked = api.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert revoked.status_code == 401


def test_a_refused_face_login_is_access_denied(api: TestClient) -> None:
    client = register(api)
    _, challenge = pkce()
    params = authorize_params(client, challenge)
    request_id = begin(api, params)
    created = start(api, oidc_request=request_id)
    final = fail_by_timeout(api, created)
    assert final["result"]["status"] == "refused"
    back = api.get(
        "/oidc/authorize/finish",
        params={"request": request_id, "session": created["session_id"]},
        follow_redirects=False,
    )
    query = redirect_query(back)
    assert query["error"] == "access_denied" and query["state"] == params["state"]
    assert "code" not in query


def test_cancel_is_access_denied_and_the_request_is_answered_once(api: TestClient) -> None:
    client = register(api)
    _, challenge = pkce()
    params = authorize_params(client, challenge)
    request_id = begin(api, params)
    cancel = api.get(
        "/oidc/authorize/finish", params={"request": request_id}, follow_redirects=False
    )
    assert redirect_query(cancel)["error"] == "access_denied"
    twice = api.get(
        "/oidc/authorize/finish", params={"request": request_id}, follow_redirects=False
    )
    assert twice.status_code == 400 and "location" not in twice.headers
    assert 'data-testid="oidc-error"' in twice.text


@pytest.mark.parametrize(
    "redirect_uri",
    [f"{RELYING}/auth/callback/extra", f"{RELYING}/auth/callbacK", "https://evil.example/cb", ""],
    ids=["extra-path", "case", "other-site", "missing"],
)
def test_an_unregistered_redirect_uri_gets_our_error_page(
    api: TestClient, redirect_uri: str
) -> None:
    client = register(api)
    _, challenge = pkce()
    params = authorize_params(client, challenge, redirect_uri=redirect_uri)
    if not redirect_uri:
        del params["redirect_uri"]
    response = api.get("/oidc/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "<script" not in response.text.lower()


def test_an_unknown_client_gets_our_error_page(api: TestClient) -> None:
    _, challenge = pkce()
    params = authorize_params({"client_id": "nobody"}, challenge)
    response = api.get("/oidc/authorize", params=params, follow_redirects=False)
    assert response.status_code == 400 and "location" not in response.headers
    assert "invalid_client" in response.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=["no-pkce", "plain-pkce", "implicit", "no-openid-scope", "prompt-none"],
)
def test_invalid_requests_go_back_to_the_client_with_an_error(
    api: TestClient, change: dict[str, str | None], error: str
) -> None:
    client = register(api)
    _, challenge = pkce()
    params = authorize_params(client, challenge)
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    response = api.get("/oidc/authorize", params=params, follow_redirects=False)
    query = redirect_query(response)
    assert query["error"] == error and query["state"] == params["state"]


def test_a_session_may_name_only_its_own_browsers_request(api: TestClient) -> None:
    client = register(api)
    _, challenge = pkce()
    request_id = begin(api, authorize_params(client, challenge))
    api.cookies.clear()  # another browser: it never had the request's cookie
    response = api.post("/api/v1/auth/sessions", json={"oidc_request": request_id})
    assert_error(response, 400, "authorization_request_invalid")
    response = api.post("/api/v1/auth/sessions", json={"oidc_request": "made-up"})
    assert_error(response, 400, "authorization_request_invalid")


def test_client_admin_api(api: TestClient) -> None:
    public = register(api, name="SPA", confidential=False, id_token_alg="ES256")
    assert "client_secret" not in public and public["type"] == "public"
    confidential = register(api, name="Site")
    assert len(confidential["client_secret"]) >= 40
    listed = api.get(CLIENTS, headers=ADMIN).json()["clients"]
    assert {c["name"] for c in listed} == {"SPA", "Site"}
    assert all("client_secret" not in c for c in listed), "a secret is shown once"
    bad = api.post(
        CLIENTS, json={"name": "x", "redirect_uris": ["http://evil.example/cb"]}, headers=ADMIN
    )
    assert_error(bad, 400, "redirect_uri_invalid")
    fragment = api.post(
        CLIENTS, json={"name": "x", "redirect_uris": [f"{CALLBACK}#x"]}, headers=ADMIN
    )
    assert_error(fragment, 400, "redirect_uri_invalid")
    assert api.post(CLIENTS, json={"name": "x", "redirect_uris": [CALLBACK]}).status_code == 401
    assert api.delete(f"{CLIENTS}/{public['client_id']}", headers=ADMIN).status_code == 204
    assert_error(
        api.delete(f"{CLIENTS}/{public['client_id']}", headers=ADMIN), 404, "client_not_found"
    )
