"""The OpenID Provider's glue, driven directly: a real ``Provider`` with a real
client registry and user store on a migrated SQLite database, real keys and an
in-memory grant store on a clock of the test's own.

The face login is not run here: ``finish`` gets a ``SessionRecord`` in the state
the session manager leaves a face login in (``tests/api/test_api_oidc.py`` does
the real thing). ID tokens are verified with PyJWT against the published JWKS,
independently of Authlib, which made them.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import Engine
from starlette.datastructures import Headers

from veronica.liveness.policy import LightMode
from veronica.liveness.session import Phase
from veronica.oidc.clients import ClientRegistry, Registered
from veronica.oidc.errors import AuthorizationRequestInvalidError
from veronica.oidc.grants import InMemoryGrantStore
from veronica.oidc.keys import ProviderKeys
from veronica.oidc.provider import (
    ACR_FACE,
    ACR_FACE_GENTLE_LIGHT,
    ACR_FACE_LIGHT,
    Answer,
    ErrorPage,
    HttpRequest,
    Pending,
    Provider,
    ProviderConfig,
)
from veronica.sessions.state import FrameState, Purpose, Reason, SessionResult, Status
from veronica.sessions.store import SessionRecord
from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database
from veronica.storage.store import UserRecord

ISSUER = "https://login.example.org"
CALLBACK = "https://relying.example/auth/callback"
SECOND_CALLBACK = "https://relying.example/auth/second"
CODE_TTL_S = 60
ID_TOKEN_TTL_S = 240
"""Not the default (300), so ``exp - iat`` shows the configured value is used."""
ACCESS_TOKEN_TTL_S = 300


class Clock:
    """The grant store's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Oidc:
    provider: Provider
    registry: ClientRegistry
    users: TemplateStore
    keys: ProviderKeys
    clock: Clock
    alice: UserRecord


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None

    @classmethod
    def of(cls, registered: Registered) -> Client:
        return cls(registered.client.client_id, registered.secret)


@dataclass(frozen=True)
class Authorized:
    """A code the relying site got back, and what it needs to redeem it."""

    code: str
    verifier: str
    query: dict[str, str]
    """The authorization request's parameters."""
    redirect: dict[str, str]
    """The parameters of the redirect back to the site."""


@pytest.fixture(scope="module")
def keys() -> ProviderKeys:
    """Generated once: RSA-2048 generation takes a moment."""
    return ProviderKeys(ECKey.generate_key("P-256"), RSAKey.generate_key(2048))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'data' / 'veronica.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def oidc(engine: Engine, keys: ProviderKeys) -> Oidc:
    users = TemplateStore(engine, TemplateCipher(bytes(range(32))))
    alice = users.create_user("alice")
    registry = ClientRegistry(engine)
    clock = Clock()
    provider = Provider(
        ProviderConfig(
            issuer=ISSUER,
            code_ttl_s=CODE_TTL_S,
            request_ttl_s=600,
            id_token_ttl_s=ID_TOKEN_TTL_S,
            access_token_ttl_s=ACCESS_TOKEN_TTL_S,
        ),
        registry=registry,
        keys=keys,
        store=InMemoryGrantStore(clock),
        users=users,
    )
    return Oidc(provider, registry, users, keys, clock, alice)


@pytest.fixture
def site(oidc: Oidc) -> Client:
    """A confidential client (client_secret_basic), RS256 ID tokens."""
    return Client.of(oidc.registry.add("Relying Example", [CALLBACK, SECOND_CALLBACK]))


# -- helpers -----------------------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_query(client: Client, challenge: str, **extra: str) -> dict[str, str]:
    query = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    query.update(extra)
    return query


def authorize(oidc: Oidc, query: Mapping[str, str], browser: str | None = None) -> Any:
    request = HttpRequest("GET", "/oidc/authorize", query=list(query.items()), headers=Headers())
    return oidc.provider.begin(request, browser)


def begin(oidc: Oidc, query: Mapping[str, str], browser: str | None = None) -> Pending:
    pending = authorize(oidc, query, browser)
    assert isinstance(pending, Pending), pending
    return pending


def session(
    request_id: str | None,
    result: SessionResult | None,
    *,
    light: LightMode = LightMode.FLASH,
    last_answer_at: float | None = None,
) -> SessionRecord:
    """A face-login session as the manager leaves it once decided."""
    now = time.time()
    return SessionRecord(
        id=secrets.token_urlsafe(18),
        purpose=Purpose.LOGIN,
        username=None,
        csrf_token=secrets.token_urlsafe(16),
        cookie_secret=secrets.token_urlsafe(32),
        client_ip="192.0.2.7",
        address="192.0.2.7",
        created_at=now - 20.0,
        expires_at=now + 100.0,
        state=FrameState(seq=42, phase=Phase.DECIDED if result else Phase.CHALLENGE, result=result),
        oidc_request=request_id,
        light=light,
        last_arrival=now - 3.0,
        last_answer_at=now - 3.0 if last_answer_at is None else last_answer_at,
        frames=42,
    )


def signed_in(request_id: str, username: str = "alice", **kwargs: Any) -> SessionRecord:
    return session(
        request_id, SessionResult(Status.SIGNED_IN, Reason.OK, username=username), **kwargs
    )


def redirect_params(answer: Any, redirect_uri: str = CALLBACK) -> dict[str, str]:
    assert isinstance(answer, Answer), answer
    assert answer.status == 302, answer
    location = answer.location
    assert location is not None and location.startswith(redirect_uri + "?"), location
    params = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in params.values()), location
    return {k: v[0] for k, v in params.items()}


def sign_in(
    oidc: Oidc,
    client: Client,
    *,
    light: LightMode = LightMode.FLASH,
    last_answer_at: float | None = None,
    **extra: str,
) -> Authorized:
    """The whole front channel: authorize, a face login that signed in, the code."""
    verifier, challenge = pkce()
    query = authorize_query(client, challenge, **extra)
    pending = begin(oidc, query)
    face = signed_in(pending.request_id, light=light, last_answer_at=last_answer_at)
    answer = oidc.provider.finish(pending.request_id, pending.browser_secret, face)
    redirect = redirect_params(answer, query["redirect_uri"])
    assert "error" not in redirect, redirect
    return Authorized(redirect["code"], verifier, query, redirect)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


def redeem(
    oidc: Oidc,
    client: Client,
    code: str,
    verifier: str | None,
    *,
    redirect_uri: str | None = CALLBACK,
    secret: str | None = None,
    in_form: bool | None = None,
    **extra: str,
) -> Answer:
    """``POST /oidc/token``: Basic for a confidential client, ``client_id`` in the
    form for a public one (``in_form`` overrides)."""
    form = [("grant_type", "authorization_code"), ("code", code)]
    if redirect_uri is not None:
        form.append(("redirect_uri", redirect_uri))
    if verifier is not None:
        form.append(("code_verifier", verifier))
    form.extend(extra.items())
    headers: dict[str, str] = {}
    password = secret if secret is not None else client.secret
    use_form = in_form if in_form is not None else password is None
    if use_form:
        form.append(("client_id", client.client_id))
    elif password is not None:
        headers["Authorization"] = basic(client.client_id, password)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = HttpRequest("POST", "/oidc/token", form=form, headers=Headers(headers))
    return oidc.provider.token(request)


def userinfo(oidc: Oidc, access_token: str) -> Answer:
    headers = Headers({"Authorization": f"Bearer {access_token}"})
    return oidc.provider.userinfo(HttpRequest("GET", "/oidc/userinfo", headers=headers))


def error_of(answer: Answer, status: int = 400) -> str:
    assert answer.status == status, answer
    assert isinstance(answer.body, dict), answer
    assert "access_token" not in answer.body and "id_token" not in answer.body
    return str(answer.body["error"])


def tokens(answer: Answer) -> dict[str, Any]:
    assert answer.status == 200, answer
    assert isinstance(answer.body, dict)
    return answer.body


def verify_id_token(oidc: Oidc, id_token: str, client: Client, alg: str = "RS256") -> Any:
    """The ID token checked as a relying site would: the JWKS, the expected
    algorithm only, ``iss`` and ``aud``."""
    jwks = jwt.PyJWKSet.from_dict(oidc.keys.jwks())
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == alg
    return jwt.decode(
        id_token,
        jwks[header["kid"]].key,
        algorithms=[alg],
        audience=client.client_id,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
    )


# -- the flow ----------------------------------------------------------------------------


def test_the_code_flow_gives_an_id_token_and_userinfo(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    assert got.redirect["iss"] == ISSUER  # RFC 9207
    answer = redeem(oidc, site, got.code, got.verifier)
    body = tokens(answer)
    assert ("Cache-Control", "no-store") in answer.headers
    assert body["token_type"].lower() == "bearer" and "refresh_token" not in body
    assert body["expires_in"] == ACCESS_TOKEN_TTL_S
    claims = verify_id_token(oidc, body["id_token"], site)
    assert claims["sub"] == oidc.alice.subject
    info = userinfo(oidc, body["access_token"])
    assert info.status == 200
    assert info.body == {"sub": oidc.alice.subject, "name": "alice"}


def test_state_and_nonce_round_trip(oidc: Oidc, site: Client) -> None:
    state = "a b&c=d/é?#%20+"
    nonce = "n-" + secrets.token_urlsafe(16)
    got = sign_in(oidc, site, state=state, nonce=nonce)
    assert got.redirect["state"] == state, "the state goes back untouched"
    body = tokens(redeem(oidc, site, got.code, got.verifier))
    assert verify_id_token(oidc, body["id_token"], site)["nonce"] == nonce


def test_without_a_nonce_the_id_token_has_none(oidc: Oidc, site: Client) -> None:
    verifier, challenge = pkce()
    query = authorize_query(site, challenge)
    del query["nonce"]
    pending = begin(oidc, query)
    answer = oidc.provider.finish(
        pending.request_id, pending.browser_secret, signed_in(pending.request_id)
    )
    code = redirect_params(answer)["code"]
    body = tokens(redeem(oidc, site, code, verifier))
    assert "nonce" not in verify_id_token(oidc, body["id_token"], site)


# -- the token endpoint refuses ----------------------------------------------------------


def test_a_missing_code_verifier_is_refused_and_burns_the_code(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    assert error_of(redeem(oidc, site, got.code, None)) == "invalid_request"
    # A code gets one try: the real verifier does not bring it back.
    assert error_of(redeem(oidc, site, got.code, got.verifier)) == "invalid_grant"


def test_a_wrong_code_verifier_is_invalid_grant(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    other_verifier, _ = pkce()
    assert error_of(redeem(oidc, site, got.code, other_verifier)) == "invalid_grant"
    assert error_of(redeem(oidc, site, got.code, got.verifier)) == "invalid_grant"


def test_a_reused_code_is_refused_and_revokes_the_first_access_token(
    oidc: Oidc, site: Client, caplog: pytest.LogCaptureFixture
) -> None:
    got = sign_in(oidc, site)
    first = tokens(redeem(oidc, site, got.code, got.verifier))
    assert userinfo(oidc, first["access_token"]).status == 200
    with caplog.at_level("WARNING", logger="veronica.oidc.provider"):
        assert error_of(redeem(oidc, site, got.code, got.verifier)) == "invalid_grant"
    assert "authorization code reused" in caplog.text
    revoked = userinfo(oidc, first["access_token"])
    assert revoked.status == 401
    assert error_of(revoked, 401) == "invalid_token"


def test_a_wrong_client_secret_is_invalid_client(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    assert site.secret is not None
    for secret in ("wrong", site.secret[:-1], ""):
        answer = redeem(oidc, site, got.code, got.verifier, secret=secret)
        assert error_of(answer, 401) == "invalid_client", secret
    unknown = Client("nobody", "secret")
    assert error_of(redeem(oidc, unknown, got.code, got.verifier), 401) == "invalid_client"
    # The client was never authenticated, so the code was never looked at.
    assert tokens(redeem(oidc, site, got.code, got.verifier))["id_token"]


def test_an_expired_code_is_invalid_grant(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    oidc.clock.now += CODE_TTL_S + 0.5
    assert error_of(redeem(oidc, site, got.code, got.verifier)) == "invalid_grant"


def test_a_code_just_before_it_expires_still_works(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    oidc.clock.now += CODE_TTL_S - 0.5
    assert tokens(redeem(oidc, site, got.code, got.verifier))["id_token"]


def test_a_code_of_one_client_is_refused_to_another_and_then_to_both(
    oidc: Oidc, site: Client
) -> None:
    other = Client.of(oidc.registry.add("Other", [CALLBACK]))
    got = sign_in(oidc, site)
    assert error_of(redeem(oidc, other, got.code, got.verifier)) == "invalid_grant"
    # Presented by the wrong client, the code is spent: it may have leaked.
    assert error_of(redeem(oidc, site, got.code, got.verifier)) == "invalid_grant"


def test_an_id_token_of_one_client_is_refused_by_another(oidc: Oidc, site: Client) -> None:
    """``aud`` is the client id: site B verifying site A's ID token refuses it."""
    other = Client.of(oidc.registry.add("Other", [CALLBACK]))
    got = sign_in(oidc, site)
    id_token = tokens(redeem(oidc, site, got.code, got.verifier))["id_token"]
    assert verify_id_token(oidc, id_token, site)["aud"] == site.client_id
    with pytest.raises(jwt.InvalidAudienceError):
        verify_id_token(oidc, id_token, other)


@pytest.mark.parametrize(
    "redirect_uri",
    [SECOND_CALLBACK, CALLBACK + "/", "https://evil.example/cb", None],
    ids=["other-registered", "trailing-slash", "unregistered", "missing"],
)
def test_the_token_request_must_name_the_authorization_redirect_uri(
    oidc: Oidc, site: Client, redirect_uri: str | None
) -> None:
    got = sign_in(oidc, site)
    answer = redeem(oidc, site, got.code, got.verifier, redirect_uri=redirect_uri)
    assert error_of(answer) == "invalid_grant"


def test_the_second_registered_redirect_uri_works_end_to_end(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site, redirect_uri=SECOND_CALLBACK)
    answer = redeem(oidc, site, got.code, got.verifier, redirect_uri=SECOND_CALLBACK)
    assert tokens(answer)["id_token"]


def test_only_the_authorization_code_grant(oidc: Oidc, site: Client) -> None:
    assert site.secret is not None
    for grant_type in ("client_credentials", "refresh_token", "password"):
        form = [("grant_type", grant_type), ("refresh_token", "x"), ("scope", "openid")]
        headers = Headers({"Authorization": basic(site.client_id, site.secret)})
        answer = oidc.provider.token(HttpRequest("POST", "/oidc/token", form=form, headers=headers))
        assert error_of(answer) in ("unsupported_grant_type", "unauthorized_client"), grant_type


# -- authorization requests --------------------------------------------------------------


def test_a_replayed_authorization_request_is_refused(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    again = authorize(oidc, got.query)
    redirect = redirect_params(again)
    assert redirect["error"] == "invalid_request" and "code" not in redirect
    assert redirect["state"] == got.query["state"]
    # The same nonce with another client is that client's own business.
    other = Client.of(oidc.registry.add("Other", [CALLBACK]))
    _, challenge = pkce()
    assert isinstance(
        authorize(oidc, authorize_query(other, challenge, nonce=got.query["nonce"])), Pending
    )


def test_two_pending_requests_with_one_nonce_get_one_code(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    query = authorize_query(site, challenge)
    first, second = begin(oidc, query), begin(oidc, query)
    answer = oidc.provider.finish(
        first.request_id, first.browser_secret, signed_in(first.request_id)
    )
    assert "code" in redirect_params(answer)
    replay = oidc.provider.finish(
        second.request_id, second.browser_secret, signed_in(second.request_id)
    )
    redirect = redirect_params(replay)
    assert redirect["error"] == "invalid_request" and "code" not in redirect


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=["no-pkce", "plain-pkce", "implicit", "no-openid-scope", "prompt-none"],
)
def test_invalid_requests_go_back_to_the_client(
    oidc: Oidc, site: Client, change: dict[str, str | None], error: str
) -> None:
    _, challenge = pkce()
    query = authorize_query(site, challenge)
    for name, value in change.items():
        if value is None:
            del query[name]
        else:
            query[name] = value
    redirect = redirect_params(authorize(oidc, query))
    assert redirect["error"] == error and redirect["state"] == query["state"]
    assert redirect["iss"] == ISSUER  # RFC 9207 on errors too


@pytest.mark.parametrize(
    "redirect_uri",
    [
        CALLBACK + "/extra",
        CALLBACK + "/",
        CALLBACK.upper(),
        "https://RELYING.example/auth/callback",
        "https://evil.example/cb",
        None,
    ],
    ids=["extra-path", "trailing-slash", "case", "host-case", "other-site", "missing"],
)
def test_an_unregistered_redirect_uri_is_never_redirected_to(
    oidc: Oidc, site: Client, redirect_uri: str | None
) -> None:
    _, challenge = pkce()
    query = authorize_query(site, challenge)
    if redirect_uri is None:
        del query["redirect_uri"]
    else:
        query["redirect_uri"] = redirect_uri
    assert isinstance(authorize(oidc, query), ErrorPage)


def test_an_unknown_client_gets_the_error_page(oidc: Oidc) -> None:
    _, challenge = pkce()
    page = authorize(oidc, authorize_query(Client("nobody", None), challenge))
    assert isinstance(page, ErrorPage) and page.error == "invalid_client"


def test_describe_names_the_site_for_its_own_browser_only(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge, login_hint="alice"))
    about = oidc.provider.describe(pending.request_id, pending.browser_secret)
    assert about["client_id"] == site.client_id and about["client_name"] == "Relying Example"
    assert about["redirect_host"] == "relying.example" and about["login_hint"] == "alice"
    assert oidc.provider.check_request(pending.request_id, pending.browser_secret)
    for browser in (None, "another-browser"):
        with pytest.raises(AuthorizationRequestInvalidError):
            oidc.provider.describe(pending.request_id, browser)
        with pytest.raises(AuthorizationRequestInvalidError):
            oidc.provider.check_request(pending.request_id, browser)
    with pytest.raises(AuthorizationRequestInvalidError):
        oidc.provider.check_request("made-up", pending.browser_secret)


def test_one_browser_keeps_its_secret_across_requests(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    first = begin(oidc, authorize_query(site, challenge))
    second = begin(oidc, authorize_query(site, challenge), browser=first.browser_secret)
    assert second.browser_secret == first.browser_secret
    assert second.request_id != first.request_id


# -- finish ------------------------------------------------------------------------------


def test_a_session_for_another_request_is_access_denied(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    mine = begin(oidc, authorize_query(site, challenge))
    other = begin(oidc, authorize_query(site, challenge), browser=mine.browser_secret)
    answer = oidc.provider.finish(mine.request_id, mine.browser_secret, signed_in(other.request_id))
    redirect = redirect_params(answer)
    assert redirect["error"] == "access_denied" and "code" not in redirect


def test_a_session_for_no_request_is_access_denied(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    face = session(None, SessionResult(Status.SIGNED_IN, Reason.OK, username="alice"))
    redirect = redirect_params(
        oidc.provider.finish(pending.request_id, pending.browser_secret, face)
    )
    assert redirect["error"] == "access_denied"


def test_another_browser_cannot_finish(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    face = signed_in(pending.request_id)
    for browser in ("another-browser", None, ""):
        page = oidc.provider.finish(pending.request_id, browser, face)
        assert isinstance(page, ErrorPage), browser
    # The request is still there for the browser that made it.
    answer = oidc.provider.finish(pending.request_id, pending.browser_secret, face)
    assert "code" in redirect_params(answer)


def test_an_unknown_or_answered_request_gets_the_error_page(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    face = signed_in(pending.request_id)
    assert "code" in redirect_params(
        oidc.provider.finish(pending.request_id, pending.browser_secret, face)
    )
    assert isinstance(
        oidc.provider.finish(pending.request_id, pending.browser_secret, face), ErrorPage
    )
    for request_id in ("made-up", "", "x" * 200):
        assert isinstance(oidc.provider.finish(request_id, pending.browser_secret, face), ErrorPage)


def test_an_expired_request_gets_the_error_page(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    oidc.clock.now += 600.5
    page = oidc.provider.finish(
        pending.request_id, pending.browser_secret, signed_in(pending.request_id)
    )
    assert isinstance(page, ErrorPage)


@pytest.mark.parametrize(
    "result",
    [
        SessionResult(Status.REFUSED, Reason.NOT_RECOGNIZED),
        SessionResult(Status.REFUSED, Reason.LIVENESS_FAILED),
        SessionResult(Status.ENROLLED, Reason.OK, username="alice"),
        SessionResult(Status.SIGNED_IN, Reason.OK, username=None),
        None,
    ],
    ids=["not-recognized", "liveness-failed", "enrollment", "no-username", "undecided"],
)
def test_a_session_that_did_not_sign_in_is_access_denied(
    oidc: Oidc, site: Client, result: SessionResult | None
) -> None:
    _, challenge = pkce()
    query = authorize_query(site, challenge)
    pending = begin(oidc, query)
    answer = oidc.provider.finish(
        pending.request_id, pending.browser_secret, session(pending.request_id, result)
    )
    redirect = redirect_params(answer)
    assert redirect["error"] == "access_denied" and "code" not in redirect
    assert redirect["state"] == query["state"] and redirect["iss"] == ISSUER


def test_cancel_is_access_denied(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    redirect = redirect_params(
        oidc.provider.finish(pending.request_id, pending.browser_secret, None)
    )
    assert redirect["error"] == "access_denied"


def test_a_user_deleted_before_finish_gets_no_code(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    oidc.users.delete_user("alice")
    answer = oidc.provider.finish(
        pending.request_id, pending.browser_secret, signed_in(pending.request_id)
    )
    assert redirect_params(answer)["error"] == "access_denied"


def test_a_removed_clients_pending_request_gets_no_code(oidc: Oidc, site: Client) -> None:
    _, challenge = pkce()
    pending = begin(oidc, authorize_query(site, challenge))
    oidc.registry.remove(site.client_id)
    answer = oidc.provider.finish(
        pending.request_id, pending.browser_secret, signed_in(pending.request_id)
    )
    assert isinstance(answer, ErrorPage), "no redirect to a client that is gone"
    assert answer.error == "invalid_client"


def test_a_removed_clients_code_and_tokens_stop_working(oidc: Oidc, site: Client) -> None:
    spent = sign_in(oidc, site)
    access = tokens(redeem(oidc, site, spent.code, spent.verifier))["access_token"]
    unspent = sign_in(oidc, site)
    oidc.registry.remove(site.client_id)
    assert error_of(redeem(oidc, site, unspent.code, unspent.verifier), 401) == "invalid_client"
    assert userinfo(oidc, access).status == 401


def test_re_registering_a_client_id_does_not_revive_the_old_clients_grants(oidc: Oidc) -> None:
    shop = Client.of(oidc.registry.add("Shop", [CALLBACK], client_id="shop"))
    spent = sign_in(oidc, shop)
    access = tokens(redeem(oidc, shop, spent.code, spent.verifier))["access_token"]
    unspent = sign_in(oidc, shop)
    oidc.registry.remove("shop")
    assert userinfo(oidc, access).status == 401
    again = Client.of(oidc.registry.add("Shop", [CALLBACK], client_id="shop"))
    assert userinfo(oidc, access).status == 401, "the old client's access token came back"
    answer = redeem(oidc, again, unspent.code, unspent.verifier)
    assert error_of(answer) == "invalid_grant", "the old client's code came back"


# -- client authentication ---------------------------------------------------------------


def test_a_public_client_authenticates_with_pkce_alone(oidc: Oidc) -> None:
    spa = Client.of(oidc.registry.add("SPA", [CALLBACK], confidential=False))
    assert spa.secret is None
    got = sign_in(oidc, spa)
    body = tokens(redeem(oidc, spa, got.code, got.verifier))
    assert verify_id_token(oidc, body["id_token"], spa)["sub"] == oidc.alice.subject
    assert userinfo(oidc, body["access_token"]).status == 200


def test_a_public_client_without_the_verifier_gets_nothing(oidc: Oidc) -> None:
    spa = Client.of(oidc.registry.add("SPA", [CALLBACK], confidential=False))
    got = sign_in(oidc, spa)
    assert error_of(redeem(oidc, spa, got.code, None)) == "invalid_request"
    assert error_of(redeem(oidc, spa, got.code, got.verifier)) == "invalid_grant"


def test_a_public_client_cannot_use_a_secret(oidc: Oidc) -> None:
    spa = Client.of(oidc.registry.add("SPA", [CALLBACK], confidential=False))
    got = sign_in(oidc, spa)
    answer = redeem(oidc, spa, got.code, got.verifier, secret="anything", in_form=False)
    assert error_of(answer, 401) == "invalid_client"


def test_a_confidential_client_cannot_authenticate_with_none(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    answer = redeem(oidc, site, got.code, got.verifier, in_form=True)
    assert error_of(answer, 401) == "invalid_client"
    assert site.secret is not None
    post = redeem(oidc, site, got.code, got.verifier, in_form=True, client_secret=site.secret)
    assert error_of(post, 401) == "invalid_client", "client_secret_post is not offered"
    assert tokens(redeem(oidc, site, got.code, got.verifier))["id_token"]


# -- the ID token ------------------------------------------------------------------------


def test_id_token_claims(oidc: Oidc, site: Client) -> None:
    answered = time.time() - 7.25
    got = sign_in(oidc, site, last_answer_at=answered)
    body = tokens(redeem(oidc, site, got.code, got.verifier))
    claims = verify_id_token(oidc, body["id_token"], site)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == oidc.alice.subject and claims["sub"] != "alice"
    assert len(claims["sub"]) >= 20, "a random subject, not a counter"
    assert claims["aud"] == site.client_id
    assert claims["exp"] - claims["iat"] == ID_TOKEN_TTL_S
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["auth_time"] == int(answered), "when the face login answered"
    assert claims["acr"] == ACR_FACE_LIGHT
    assert claims["amr"] == ["face", "user"]
    assert claims["name"] == "alice"
    assert claims["nonce"] == got.query["nonce"]
    assert "at_hash" in claims
    digest = hashlib.sha256(body["access_token"].encode("ascii")).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    header = jwt.get_unverified_header(body["id_token"])
    assert header["kid"] == oidc.keys.signing_key("RS256").kid


@pytest.mark.parametrize(
    ("light", "acr"),
    [
        (LightMode.FLASH, ACR_FACE_LIGHT),
        (LightMode.GENTLE, ACR_FACE_GENTLE_LIGHT),
        (LightMode.NONE, ACR_FACE),
    ],
)
def test_acr_says_which_light_ran(oidc: Oidc, site: Client, light: LightMode, acr: str) -> None:
    got = sign_in(oidc, site, light=light)
    body = tokens(redeem(oidc, site, got.code, got.verifier))
    assert verify_id_token(oidc, body["id_token"], site)["acr"] == acr


def test_the_name_only_with_the_profile_scope(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site, scope="openid")
    body = tokens(redeem(oidc, site, got.code, got.verifier))
    assert body["scope"] == "openid"
    claims = verify_id_token(oidc, body["id_token"], site)
    assert "name" not in claims and claims["sub"] == oidc.alice.subject
    assert userinfo(oidc, body["access_token"]).body == {"sub": oidc.alice.subject}


def test_unknown_scopes_are_ignored(oidc: Oidc, site: Client) -> None:
    """Many relying parties ask for ``openid email profile`` by default."""
    got = sign_in(oidc, site, scope="openid email profile offline_access")
    body = tokens(redeem(oidc, site, got.code, got.verifier))
    assert body["scope"] == "openid profile" and "refresh_token" not in body


def test_an_es256_client_gets_an_es256_id_token(oidc: Oidc) -> None:
    es = Client.of(oidc.registry.add("ES site", [CALLBACK], id_token_alg="ES256"))
    got = sign_in(oidc, es)
    body = tokens(redeem(oidc, es, got.code, got.verifier))
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == oidc.keys.signing_key("ES256").kid
    claims = verify_id_token(oidc, body["id_token"], es, alg="ES256")
    assert claims["sub"] == oidc.alice.subject and claims["aud"] == es.client_id
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(
            body["id_token"],
            jwt.PyJWKSet.from_dict(oidc.keys.jwks())[header["kid"]].key,
            algorithms=["RS256"],
            audience=es.client_id,
        )


# -- userinfo ----------------------------------------------------------------------------


def test_userinfo_of_a_deleted_user_is_401(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    access = tokens(redeem(oidc, site, got.code, got.verifier))["access_token"]
    oidc.users.delete_user("alice")
    assert error_of(userinfo(oidc, access), 401) == "invalid_token"


def test_userinfo_after_the_access_token_expires_is_401(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    access = tokens(redeem(oidc, site, got.code, got.verifier))["access_token"]
    oidc.clock.now += ACCESS_TOKEN_TTL_S + 1
    assert userinfo(oidc, access).status == 401


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer made-up-token", "Basic dXNlcjpwdw==", "bearer "],
    ids=["none", "empty-bearer", "unknown-token", "basic", "blank"],
)
def test_userinfo_needs_a_valid_bearer_token(
    oidc: Oidc, site: Client, authorization: str | None
) -> None:
    headers = Headers({"Authorization": authorization} if authorization is not None else {})
    answer = oidc.provider.userinfo(HttpRequest("GET", "/oidc/userinfo", headers=headers))
    assert answer.status == 401


def test_headers_are_read_case_insensitively(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    access = tokens(redeem(oidc, site, got.code, got.verifier))["access_token"]
    lower = Headers({"authorization": f"bearer {access}"})
    answer = oidc.provider.userinfo(HttpRequest("GET", "/oidc/userinfo", headers=lower))
    assert answer.status == 200


def test_repeated_token_request_parameters_are_refused(oidc: Oidc, site: Client) -> None:
    got = sign_in(oidc, site)
    assert site.secret is not None
    form = [
        ("grant_type", "authorization_code"),
        ("code", "not-the-code"),
        ("code", got.code),
        ("redirect_uri", CALLBACK),
        ("redirect_uri", "https://evil.example/cb"),
        ("code_verifier", "x" * 43),
        ("code_verifier", got.verifier),
    ]
    headers = Headers({"Authorization": basic(site.client_id, site.secret)})
    answer = oidc.provider.token(HttpRequest("POST", "/oidc/token", form=form, headers=headers))
    assert error_of(answer) == "invalid_request"


def test_access_tokens_follow_the_providers_clock(oidc: Oidc, site: Client) -> None:
    provider = Provider(
        oidc.provider.config,
        registry=oidc.registry,
        keys=oidc.keys,
        store=oidc.provider.store,
        users=oidc.users,
        clock=Clock(),
    )
    other = Oidc(provider, oidc.registry, oidc.users, oidc.keys, oidc.clock, oidc.alice)
    got = sign_in(other, site)
    access = tokens(redeem(other, site, got.code, got.verifier))["access_token"]
    assert userinfo(other, access).status == 200


# -- discovery ---------------------------------------------------------------------------


def test_discovery_matches_what_the_provider_does(oidc: Oidc) -> None:
    meta = oidc.provider.discovery()
    assert meta["issuer"] == ISSUER
    assert meta["token_endpoint"] == f"{ISSUER}/oidc/token"
    assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "none"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["grant_types_supported"] == ["authorization_code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
