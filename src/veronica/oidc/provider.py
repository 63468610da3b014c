"""The OpenID Provider: Authlib's authorization server, wired to our clients, users,
keys, shared store and face-login sessions.

Authlib does the protocol: it validates authorization and token requests (client,
exact redirect URI, response type, scope, PKCE, nonce, prompt), authenticates
clients, issues codes and bearer tokens, builds and signs ID tokens (``at_hash``
included) and formats every RFC 6749 error. This module supplies what Authlib
leaves to the framework and the application: requests and answers as plain data
(``HttpRequest`` → ``Answer``), storage (``grants``), and the face login between
the authorization request and its code.

One authorization, end to end:

1. ``begin``: the relying site's ``/oidc/authorize`` request is validated. An
   unusable ``client_id`` or ``redirect_uri`` gets our error page (never a
   redirect); every other error goes back to the client. A valid request is kept
   (``request`` grant, ≤ ``oidc_request_ttl_s``), bound to this browser by a
   random cookie, and the browser goes to the sign-in page.
2. The page starts a face-login session naming the request (``check_request``
   ties the session to it; only the browser holding the cookie can).
3. ``finish``: the request is taken (once), validated again (the client may have
   been removed), and answered: the session signed in → a code for the user it
   recognised; refused, unfinished or cancelled → ``access_denied``.
4. ``token``: the code (≤ 60 s, single use, bound to client, redirect URI and
   PKCE challenge) → access token + ID token. A second use of a code is refused,
   logged, and revokes the access token of the first.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749 import grants as oauth_grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode, UserInfo

from veronica.liveness.policy import LightMode
from veronica.oidc.clients import ClientRegistry, RelyingParty
from veronica.oidc.errors import AuthorizationRequestInvalidError
from veronica.oidc.grants import GrantStore, Record, digest
from veronica.oidc.keys import ProviderKeys
from veronica.sessions.state import Status
from veronica.sessions.store import SessionRecord
from veronica.storage.store import TemplateStore

logger = logging.getLogger(__name__)

SCOPES = ("openid", "profile")
CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "name")
ACR_FACE = "urn:veronica:acr:face-liveness"
"""Face recognition plus the liveness challenge (actions), no light shown (the
operator turned it off)."""
ACR_FACE_LIGHT = "urn:veronica:acr:face-liveness-light"
"""The same with the light challenge (the screen's colours on the face)."""
ACR_FACE_GENTLE_LIGHT = "urn:veronica:acr:face-liveness-gentle-light"
"""The same with the gentle light instead (the person opted out of flashing
colours: tints of one brightness; measured on its own, docs/LIVENESS.md)."""
ACR_BY_LIGHT = {
    LightMode.FLASH: ACR_FACE_LIGHT,
    LightMode.GENTLE: ACR_FACE_GENTLE_LIGHT,
    LightMode.NONE: ACR_FACE,
}
AMR = ("face", "user")
"""RFC 8176: ``face`` (facial recognition) and ``user`` (a test of user presence:
the random challenge the person followed)."""
AUTHORIZE_PATH = "/oidc/authorize"
FINISH_PATH = "/oidc/authorize/finish"
TOKEN_PATH = "/oidc/token"
USERINFO_PATH = "/oidc/userinfo"
JWKS_PATH = "/.well-known/jwks.json"
BROWSER_COOKIE = "veronica_oidc"
REQUEST_ID_BYTES = 24


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    """``settings.public_url`` without a trailing slash: ``iss`` of every token."""
    code_ttl_s: int = 60
    request_ttl_s: int = 600
    id_token_ttl_s: int = 300
    access_token_ttl_s: int = 300


@dataclass(frozen=True)
class HttpRequest:
    """What the protocol layer needs of an HTTP request, read by the route."""

    method: str
    path: str
    query: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    """Case-insensitive in the routes (Starlette's ``Headers``)."""


@dataclass
class Answer:
    """An HTTP answer from the protocol layer; the route turns it into a response."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "location":
                return value
        return None

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"]
        self.headers.append(("Location", value))


@dataclass(frozen=True)
class ErrorPage:
    """An authorization error that must not be redirected (unknown client, or a
    redirect URI the client did not register): shown on our own page."""

    error: str
    description: str


@dataclass(frozen=True)
class Pending:
    """A valid authorization request, waiting for the face login."""

    request_id: str
    browser_secret: str
    """The cookie value binding the request to this browser (new or reused)."""


@dataclass(frozen=True)
class Person:
    subject: str
    name: str


# -- Authlib's models over our data ------------------------------------------------------


class _Payload(OAuth2Payload):
    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in items:
            self._data.setdefault(name, value)
            self._datalist[name].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


def _first(items: Sequence[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in items:
        values.setdefault(name, value)
    return values


class _Request(OAuth2Request):
    def __init__(self, issuer: str, request: HttpRequest) -> None:
        # The URI is the public one (a proxy in front may speak plain HTTP to us).
        super().__init__(request.method, issuer + request.path, headers=request.headers)
        # The first copy of a repeated name, as the payload reads it (the token
        # endpoint refuses repeats; see ``Provider.token``).
        self._query = _first(request.query)
        self._form = _first(request.form)
        self.payload = _Payload([*request.query, *request.form])

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Client(ClientMixin):
    def __init__(self, party: RelyingParty, registry: ClientRegistry) -> None:
        self.party = party
        self.client_id = party.client_id
        self.client_metadata: dict[str, Any] = {}
        self.id_token_signed_response_alg = party.id_token_alg
        self._registry = registry

    def get_client_id(self) -> str:
        return self.client_id

    @property
    def registration(self) -> str:
        """This registration of the client id: a client removed and registered again
        under the same id is another client, and its predecessor's grants die."""
        return self.party.created_at.isoformat()

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect requires redirect_uri in every request

    def get_allowed_scope(self, scope: str | None) -> str | None:
        asked = (scope or "").split()
        if "openid" not in asked:
            return None  # an OpenID Provider only: no plain OAuth grants
        return " ".join(s for s in SCOPES if s in asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.party.redirect_uris  # exact match

    def check_client_secret(self, client_secret: str) -> bool:
        return self._registry.check_secret(self.client_id, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return False
        return method == ("client_secret_basic" if self.party.confidential else "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"  # no refresh tokens


class _Code(AuthorizationCodeMixin):
    def __init__(self, code_hash: str, data: Record) -> None:
        self.code_hash = code_hash
        self.data = data

    def get_redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def get_nonce(self) -> str | None:
        nonce = self.data.get("nonce")
        return str(nonce) if nonce else None

    def get_auth_time(self) -> int:
        return int(self.data["auth_time"])

    def get_acr(self) -> str:
        return str(self.data["acr"])

    def get_amr(self) -> list[str]:
        return list(self.data["amr"])


class _Token(TokenMixin):
    def __init__(
        self, data: Record, client: _Client | None, clock: Callable[[], float] = time.time
    ) -> None:
        self.data = data
        self.client = client
        self._clock = clock

    def check_client(self, client: _Client) -> bool:
        return bool(client.client_id == self.data["client_id"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def get_expires_in(self) -> int:
        return max(0, int(self.data["expires_at"] - self._clock()))

    def is_expired(self) -> bool:
        return bool(self.data["expires_at"] <= self._clock())

    def is_revoked(self) -> bool:
        return self.client is None  # its client was removed

    def get_user(self) -> Person:
        return Person(str(self.data["subject"]), str(self.data["name"]))

    def get_client(self) -> _Client | None:
        return self.client


# -- the server --------------------------------------------------------------------------


class _Server(AuthorizationServer):
    """Authlib's server, told how to read our requests and write our answers."""

    def __init__(self, provider: Provider) -> None:
        # No scopes_supported: Authlib would refuse a scope it does not know, where
        # OpenID Connect says unknown scopes are ignored (``_Client.get_allowed_scope``
        # keeps openid and profile); many sites ask for ``email`` by default.
        super().__init__()
        self.provider = provider

    def query_client(self, client_id: str) -> _Client | None:
        return self.provider.client(client_id)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        self.provider.save_access_token(token, request)

    def create_oauth2_request(self, request: Any) -> _Request:
        if isinstance(request, _Request):
            return request
        return _Request(self.provider.config.issuer, request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> Answer:
        return Answer(int(status), body, [(str(k), str(v)) for k, v in headers])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        logger.debug("oidc signal %s", name)


class _Issuer(IssuerParameter):
    """RFC 9207: ``iss`` in every authorization response (mix-up defence)."""

    def __init__(self, issuer: str) -> None:
        self._issuer = issuer

    def get_issuer(self) -> str:
        return self._issuer


class _Pkce(CodeChallenge):
    """PKCE S256 for every client, confidential ones too (RFC 9700 §2.1.1): a
    request without ``code_challenge`` or with ``plain`` is refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: _Code) -> str:
        return str(authorization_code.data["code_challenge"])

    def get_authorization_code_challenge_method(self, authorization_code: _Code) -> str:
        return str(authorization_code.data["code_challenge_method"])


def _make_grant(provider: Provider) -> type[oauth_grants.AuthorizationCodeGrant]:
    class _CodeGrant(oauth_grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "none"]
        AUTHORIZATION_CODE_LENGTH = 43

        def save_authorization_code(self, code: str, request: _Request) -> None:
            provider.save_code(code, request)

        def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
            return provider.take_code(code, client)

        def delete_authorization_code(self, authorization_code: _Code) -> None:
            pass  # taken (removed) when it was looked up

        def authenticate_user(self, authorization_code: _Code) -> Person | None:
            return provider.person(str(authorization_code.data["subject"]))

    return _CodeGrant


class _OpenIDCode(OpenIDCode):
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: _Request) -> bool:
        # A nonce already carried by a code of this client is a replayed request.
        key = digest(f"{request.payload.client_id}\n{nonce}")
        return self.provider.store.get("nonce", key) is not None

    def get_client_algorithm(self, client: _Client) -> str:
        return client.party.id_token_alg

    def resolve_client_private_key(self, client: _Client) -> Any:
        return self.provider.keys.signing_key(client.party.id_token_alg).key

    def get_encode_header(self, client: _Client) -> dict[str, str]:
        key = self.provider.keys.signing_key(client.party.id_token_alg)
        return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: _Client) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.provider.config.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.provider.config.id_token_ttl_s,
        }

    def generate_user_info(self, user: Person, scope: str) -> UserInfo:
        return self.provider.user_info(user, scope)


class _AccessTokens(BearerTokenValidator):
    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> _Token | None:
        return self.provider.access_token(token_string)


# -- the glue ----------------------------------------------------------------------------


class Provider:
    """Everything the OpenID Connect routes call."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        registry: ClientRegistry,
        keys: ProviderKeys,
        store: GrantStore,
        users: TemplateStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = registry
        self.keys = keys
        self.store = store
        self.users = users
        self.clock = clock
        self._server = _Server(self)
        self._server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: secrets.token_urlsafe(32),
                expires_generator=lambda client, grant_type: config.access_token_ttl_s,
            ),
        )
        self._server.register_grant(_make_grant(self), [_Pkce(required=True), _OpenIDCode(self)])
        _Issuer(config.issuer)(self._server)  # registers its hook on the server
        self._bearer = _AccessTokens(self)

    # -- lookups Authlib calls back into

    def client(self, client_id: str | None) -> _Client | None:
        party = self.registry.get(client_id) if client_id else None
        return _Client(party, self.registry) if party is not None else None

    def person(self, subject: str) -> Person | None:
        user = self.users.user_by_subject(subject)
        return Person(user.subject, user.name) if user is not None else None

    def user_info(self, user: Person, scope: str) -> UserInfo:
        claims: dict[str, Any] = {"sub": user.subject}
        if "profile" in scope.split():
            claims["name"] = user.name
        return UserInfo(claims)

    # -- 1. the authorization request

    def begin(
        self, request: HttpRequest, browser_secret: str | None
    ) -> Answer | ErrorPage | Pending:
        """Validate ``/oidc/authorize``; keep a valid request for the face login."""
        oauth = _Request(self.config.issuer, request)
        try:
            grant = self._server.get_consent_grant(oauth)
        except OAuth2Error as error:
            return self._error(oauth, error)
        secret = browser_secret or secrets.token_urlsafe(32)
        request_id = secrets.token_urlsafe(REQUEST_ID_BYTES)
        client: _Client = grant.client
        self.store.put(
            "request",
            digest(request_id),
            {
                "query": [list(item) for item in request.query],
                "client_id": client.client_id,
                "registration": client.registration,
                "browser": digest(secret),
                "login_hint": oauth.payload.data.get("login_hint"),
            },
            self.config.request_ttl_s,
        )
        logger.info("authorization request for client %r waits for a face login", client.client_id)
        return Pending(request_id, secret)

    def _error(self, oauth: _Request, error: OAuth2Error) -> Answer | ErrorPage:
        if error.redirect_uri:
            answer: Answer = self._server.handle_error_response(oauth, error)
            issuer = {"iss": self.config.issuer}
            location = answer.location
            if location is not None:  # RFC 9207 on error responses too
                answer.location = add_params_to_uri(location, issuer)
            return answer
        return ErrorPage(str(error.error), str(error.description or error.error))

    def _pending(self, request_id: str, browser_secret: str | None) -> Record:
        if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64:
            raise AuthorizationRequestInvalidError("unknown authorization request")
        record = self.store.get("request", digest(request_id))
        if record is None:
            raise AuthorizationRequestInvalidError(
                "this sign-in request has expired or was already answered; "
                "start again from the site you came from"
            )
        if browser_secret is None or digest(browser_secret) != record["browser"]:
            raise AuthorizationRequestInvalidError(
                "this sign-in request belongs to another browser"
            )
        return record

    def describe(self, request_id: str, browser_secret: str | None) -> dict[str, Any]:
        """What the sign-in page shows: which site asks (name and where it returns)."""
        record = self._pending(request_id, browser_secret)
        client = self.client(str(record["client_id"]))
        if client is None or client.registration != record.get("registration"):
            raise AuthorizationRequestInvalidError("the site that asked is no longer registered")
        redirect = dict(tuple(i) for i in record["query"]).get("redirect_uri", "")
        return {
            "client_id": client.client_id,
            "client_name": client.party.name,
            "redirect_host": urlsplit(str(redirect)).netloc,
            "login_hint": record.get("login_hint"),
            "cancel_url": f"{FINISH_PATH}?request={request_id}",
        }

    # -- 2. the face-login session

    def check_request(self, request_id: str, browser_secret: str | None) -> str:
        """``request_id`` if this browser may start a face login for it."""
        self._pending(request_id, browser_secret)
        return request_id

    # -- 3. the answer to the client

    def finish(
        self,
        request_id: str,
        browser_secret: str | None,
        session: SessionRecord | None,
    ) -> Answer | ErrorPage:
        """A code for the person the session recognised, else ``access_denied``."""
        try:
            self._pending(request_id, browser_secret)
        except AuthorizationRequestInvalidError as exc:
            return ErrorPage("invalid_request", exc.message)
        record = self.store.take("request", digest(request_id))
        if record is None:  # another finish of the same request came first
            return ErrorPage("invalid_request", "this sign-in request was already answered")
        query = [(str(k), str(v)) for k, v in record["query"]]
        oauth = _Request(self.config.issuer, HttpRequest("GET", AUTHORIZE_PATH, query=query))
        try:
            grant = self._server.get_consent_grant(oauth)
        except OAuth2Error as error:  # e.g. the client was removed meanwhile
            return self._error(oauth, error)
        person = self._signed_in(session, request_id)
        if grant.client.registration != record.get("registration"):
            person = None  # the client was removed and its id registered again
        if person is not None and session is not None:
            oauth.face_login = {
                "auth_time": int(session.last_answer_at or self.clock()),
                "acr": ACR_BY_LIGHT[session.light],
                "amr": list(AMR),
            }
        else:
            logger.info("authorization request for %r: access_denied", grant.client.client_id)
        answer: Answer = self._server.create_authorization_response(
            request=oauth, grant_user=person, grant=grant
        )
        return answer

    def _signed_in(self, session: SessionRecord | None, request_id: str) -> Person | None:
        if session is None or session.oidc_request != request_id:
            return None
        result = session.result
        if result is None or result.status is not Status.SIGNED_IN or not result.username:
            return None
        user = self.users.get_user(result.username)
        return Person(user.subject, user.name) if user is not None else None

    # -- codes and tokens (called by Authlib)

    def save_code(self, code: str, request: _Request) -> None:
        login = getattr(request, "face_login", None)
        if login is None:
            raise RuntimeError("a code may only be issued after a face login")
        data = request.payload.data
        user: Person = request.user
        client_id = request.client.client_id
        record = {
            "client_id": client_id,
            "registration": request.client.registration,
            "redirect_uri": data["redirect_uri"],
            "scope": request.scope,
            "nonce": data.get("nonce"),
            "code_challenge": data["code_challenge"],
            "code_challenge_method": data["code_challenge_method"],
            "subject": user.subject,
            **login,
        }
        ttl = self.config.code_ttl_s
        self.store.put("code", digest(code), record, ttl)
        if data.get("nonce"):
            key = digest(f"{client_id}\n{data['nonce']}")
            self.store.put("nonce", key, {}, ttl + self.config.id_token_ttl_s)

    def take_code(self, code: str, client: _Client) -> _Code | None:
        """The code's record, removed: it can be redeemed once. A code seen before
        is a replay (RFC 6749 §4.1.2): refused, logged, and the access token the
        first redemption got is revoked."""
        key = digest(code)
        record = self.store.take("code", key)
        if record is None:
            used = self.store.take("used", key)
            if used is not None:
                logger.warning(
                    "authorization code reused (client %r, code %s…): refused; "
                    "the access token it was exchanged for is revoked",
                    client.client_id,
                    key[:12],
                )
                if used.get("token"):
                    self.store.delete("token", str(used["token"]))
            return None
        # Remembered as used for as long as its tokens live.
        remember = self.config.code_ttl_s + self.config.access_token_ttl_s
        self.store.put("used", key, {"token": None}, remember)
        if (record["client_id"], record.get("registration")) != (
            client.client_id,
            client.registration,
        ):
            logger.warning(
                "client %r presented a code issued to %r: refused",
                client.client_id,
                record["client_id"],
            )
            return None
        return _Code(key, record)

    def save_access_token(self, token: dict[str, Any], request: _Request) -> None:
        user: Person = request.user
        key = digest(str(token["access_token"]))
        ttl = self.config.access_token_ttl_s
        self.store.put(
            "token",
            key,
            {
                "client_id": request.client.client_id,
                "registration": request.client.registration,
                "subject": user.subject,
                "name": user.name,
                "scope": token.get("scope", ""),
                "expires_at": self.clock() + ttl,
            },
            ttl,
        )
        code: _Code | None = request.authorization_code
        if code is not None:
            remember = self.config.code_ttl_s + ttl
            self.store.put("used", code.code_hash, {"token": key}, remember)

    def access_token(self, token_string: str) -> _Token | None:
        record = self.store.get("token", digest(token_string)) if token_string else None
        if record is None:
            return None
        client = self.client(str(record["client_id"]))
        if client is not None and client.registration != record.get("registration"):
            client = None  # issued to a removed client whose id was registered again
        return _Token(record, client, self.clock)

    # -- 4. token and userinfo endpoints

    def token(self, request: HttpRequest) -> Answer:
        oauth = _Request(self.config.issuer, request)
        names = [name for name, _ in request.form]
        if len(names) != len(set(names)):  # RFC 6749 §3.2: parameters MUST NOT repeat
            repeated = sorted({n for n in names if names.count(n) > 1})
            error = InvalidRequestError(f"repeated parameter(s): {', '.join(repeated)}")
            refused: Answer = self._server.handle_error_response(oauth, error)
            return refused
        answer: Answer = self._server.create_token_response(oauth)
        return answer

    def userinfo(self, request: HttpRequest) -> Answer:
        """``/oidc/userinfo``: the claims of a valid bearer token's user (RFC 6750
        errors otherwise). A deleted user's tokens stop working here."""
        oauth = _Request(self.config.issuer, request)
        try:
            token = self._validate_bearer(oauth)
        except OAuth2Error as error:
            refused: Answer = self._server.handle_error_response(oauth, error)
            return refused
        person = self.person(str(token.data["subject"]))
        if person is None:  # deleted since
            gone: Answer = self._server.handle_error_response(oauth, InvalidTokenError())
            return gone
        claims = dict(self.user_info(person, token.get_scope()))
        return Answer(
            200, claims, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        )

    def _validate_bearer(self, oauth: _Request) -> _Token:
        auth = oauth.headers.get("Authorization") or ""
        kind, _, value = auth.partition(" ")
        if kind.lower() != "bearer" or not value:
            raise InvalidTokenError(description="a Bearer access token is required")
        token = self._bearer.authenticate_token(value.strip())
        self._bearer.validate_token(token, ["openid"], oauth)
        assert token is not None
        return token

    # -- discovery

    def discovery(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 / RFC 8414 metadata."""
        issuer = self.config.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": issuer + AUTHORIZE_PATH,
            "token_endpoint": issuer + TOKEN_PATH,
            "userinfo_endpoint": issuer + USERINFO_PATH,
            "jwks_uri": issuer + JWKS_PATH,
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(self.keys.algorithms),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS),
            "acr_values_supported": [ACR_FACE_LIGHT, ACR_FACE_GENTLE_LIGHT, ACR_FACE],
            "prompt_values_supported": ["none", "login"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }
