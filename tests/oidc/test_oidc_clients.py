"""Registered clients: redirect URI rules, exact matching, secrets (hashed,
compared in constant time), and the registry's errors."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from veronica.errors import BadInputError
from veronica.oidc import clients as clients_module
from veronica.oidc.clients import (
    MAX_REDIRECT_URI_CHARS,
    MAX_REDIRECT_URIS,
    ClientRegistry,
    hash_secret,
    validate_redirect_uri,
)
from veronica.oidc.errors import ClientExistsError, ClientNotFoundError, RedirectUriInvalidError
from veronica.oidc.provider import _Client
from veronica.storage import make_engine, upgrade_database

CALLBACK = "https://relying.example/auth/callback"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'data' / 'veronica.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def registry(engine: Engine) -> ClientRegistry:
    return ClientRegistry(engine)


# -- redirect URIs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        CALLBACK,
        "https://relying.example:8443/cb?tenant=a&x=1",
        "https://relying.example",
        "https://sub.relying.example/a/b/c/",
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "http://[::1]:3000/cb",
        "https://xn--bcher-kva.example/cb",
    ],
)
def test_acceptable_redirect_uris(uri: str) -> None:
    assert validate_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://relying.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://localhost.evil.example/cb",
        f"{CALLBACK}#fragment",
        f"{CALLBACK}#",
        "https://user:password@relying.example/cb",
        "https://user@relying.example/cb",
        "https://:pw@relying.example/cb",
        "https://relying.example/auth callback",
        " https://relying.example/cb",
        "https://relying.example/cb\n",
        "https://relying.example/cb\t",
        "https://relying.example/cb\x00",
        "https://relying.example/cb\x7f",
        "https://relying.example\\@evil.example/cb",
        "https://relying.example/auth\\callback",
        "/auth/callback",
        "auth/callback",
        "relying.example/cb",
        "//relying.example/cb",
        "https:///cb",
        "https://relying.example:99999/cb",
        "https://relying.example:port/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://relying.example/cb",
        "com.example.app:/callback",
        "",
        "https://relying.example/" + "a" * MAX_REDIRECT_URI_CHARS,
    ],
    ids=lambda uri: repr(uri)[:48],
)
def test_refused_redirect_uris(uri: str) -> None:
    with pytest.raises(RedirectUriInvalidError) as raised:
        validate_redirect_uri(uri)
    assert raised.value.code == "redirect_uri_invalid" and raised.value.status == 400


def test_a_refused_uri_refuses_the_whole_registration(registry: ClientRegistry) -> None:
    with pytest.raises(RedirectUriInvalidError):
        registry.add("Shop", [CALLBACK, "http://relying.example/cb"])
    assert registry.list() == []


def test_one_to_five_redirect_uris(registry: ClientRegistry) -> None:
    with pytest.raises(RedirectUriInvalidError):
        registry.add("Shop", [])
    many = [f"{CALLBACK}/{i}" for i in range(MAX_REDIRECT_URIS + 1)]
    with pytest.raises(RedirectUriInvalidError):
        registry.add("Shop", many)
    assert registry.add("Shop", many[:MAX_REDIRECT_URIS]).client.redirect_uris == tuple(
        many[:MAX_REDIRECT_URIS]
    )


def test_repeated_redirect_uris_are_kept_once_in_order(registry: ClientRegistry) -> None:
    other = "http://127.0.0.1:9000/cb"
    added = registry.add("Shop", [CALLBACK, other, CALLBACK])
    assert added.client.redirect_uris == (CALLBACK, other)


# -- exact matching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        CALLBACK + "/extra",
        CALLBACK + "/",
        CALLBACK[:-1],
        CALLBACK + "?x=1",
        CALLBACK + "#x",
        "https://relying.example/auth/Callback",
        "https://RELYING.example/auth/callback",
        "HTTPS://relying.example/auth/callback",
        "https://relying.example:443/auth/callback",
        "https://relying.example/auth/%63allback",
        "https://relying.example/auth/./callback",
        "https://relying.example//auth/callback",
        "http://relying.example/auth/callback",
        " " + CALLBACK,
        "",
    ],
)
def test_redirect_uris_match_exactly(registry: ClientRegistry, candidate: str) -> None:
    party = registry.add("Shop", [CALLBACK]).client
    client = _Client(party, registry)
    assert client.check_redirect_uri(CALLBACK)
    assert not client.check_redirect_uri(candidate)


def test_a_registered_query_must_match_too(registry: ClientRegistry) -> None:
    registered = CALLBACK + "?tenant=a"
    client = _Client(registry.add("Shop", [registered]).client, registry)
    assert client.check_redirect_uri(registered)
    assert not client.check_redirect_uri(CALLBACK)
    assert not client.check_redirect_uri(CALLBACK + "?tenant=b")
    assert not client.check_redirect_uri(CALLBACK + "?tenant=a&x=1")


# -- secrets -----------------------------------------------------------------------------


def test_the_secret_checks_true_and_false(
    registry: ClientRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = registry.add("Shop", [CALLBACK])
    client_id, secret = registered.client.client_id, registered.secret
    assert secret is not None and len(secret) >= 43, "256 random bits"
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(clients_module.hmac, "compare_digest", spy)
    assert registry.check_secret(client_id, secret) is True
    assert compared == [(hash_secret(secret), hash_secret(secret))], "constant-time, on hashes"
    for wrong in (secret[:-1], secret + "x", secret.upper(), "", " " + secret):
        assert registry.check_secret(client_id, wrong) is False, wrong
    assert len(compared) == 6, "every wrong secret went through compare_digest too"
    assert registry.check_secret("nobody", secret) is False
    assert registry.check_secret(client_id, None) is False  # type: ignore[arg-type]


def test_through_authlibs_client_model(registry: ClientRegistry) -> None:
    registered = registry.add("Shop", [CALLBACK])
    assert registered.secret is not None
    client = _Client(registered.client, registry)
    assert client.check_client_secret(registered.secret)
    assert not client.check_client_secret("wrong")
    assert client.check_endpoint_auth_method("client_secret_basic", "token")
    for method in ("none", "client_secret_post", "client_secret_jwt", "private_key_jwt"):
        assert not client.check_endpoint_auth_method(method, "token"), method
    assert not client.check_endpoint_auth_method("client_secret_basic", "introspection")


def test_a_public_client_has_no_secret(registry: ClientRegistry) -> None:
    registered = registry.add("SPA", [CALLBACK], confidential=False)
    assert registered.secret is None and not registered.client.confidential
    assert registry.check_secret(registered.client.client_id, "") is False
    assert registry.check_secret(registered.client.client_id, "anything") is False
    client = _Client(registered.client, registry)
    assert client.check_endpoint_auth_method("none", "token")
    assert not client.check_endpoint_auth_method("client_secret_basic", "token")


def test_only_the_secrets_hash_is_stored(registry: ClientRegistry, engine: Engine) -> None:
    registered = registry.add("Shop", [CALLBACK])
    assert registered.secret is not None
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT secret_hash FROM oidc_clients")).scalar_one()
    assert stored == hashlib.sha256(registered.secret.encode()).hexdigest()
    assert registered.secret not in repr(registry.get(registered.client.client_id))


def test_each_registration_gets_its_own_id_and_secret(registry: ClientRegistry) -> None:
    first, second = registry.add("A", [CALLBACK]), registry.add("B", [CALLBACK])
    assert first.client.client_id != second.client.client_id
    assert first.secret != second.secret
    assert len(first.client.client_id) >= 20


# -- the registry ------------------------------------------------------------------------


def test_a_duplicate_client_id_is_refused(registry: ClientRegistry) -> None:
    registry.add("Shop", [CALLBACK], client_id="shop")
    with pytest.raises(ClientExistsError) as raised:
        registry.add("Other", ["https://other.example/cb"], client_id="shop")
    assert raised.value.code == "client_exists" and raised.value.status == 409
    (only,) = registry.list()
    assert only.name == "Shop"


def test_removing_an_unknown_client_is_client_not_found(registry: ClientRegistry) -> None:
    with pytest.raises(ClientNotFoundError) as raised:
        registry.remove("nobody")
    assert raised.value.code == "client_not_found" and raised.value.status == 404


def test_remove_then_get_and_remove_again(registry: ClientRegistry) -> None:
    shop = registry.add("Shop", [CALLBACK], client_id="shop").client
    assert registry.get("shop") == shop
    registry.remove("shop")
    assert registry.get("shop") is None and registry.list() == []
    with pytest.raises(ClientNotFoundError):
        registry.remove("shop")
    assert registry.add("Shop", [CALLBACK], client_id="shop").client.client_id == "shop"


def test_list_in_registration_order(registry: ClientRegistry) -> None:
    names = ["Zeta", "Alpha", "Mid"]
    for name in names:
        registry.add(name, [CALLBACK])
    assert [c.name for c in registry.list()] == names


def test_the_record(registry: ClientRegistry) -> None:
    added = registry.add(
        "  Shop SPA  ", [CALLBACK], confidential=False, id_token_alg="ES256", client_id="spa"
    )
    client = registry.get("spa")
    assert client == added.client
    assert client is not None
    assert client.name == "Shop SPA", "stripped"
    assert (client.confidential, client.id_token_alg, client.redirect_uris) == (
        False,
        "ES256",
        (CALLBACK,),
    )
    assert client.created_at.tzinfo is not None


@pytest.mark.parametrize("alg", ["HS256", "none", "RS512", "es256", ""])
def test_only_rs256_and_es256_id_tokens(registry: ClientRegistry, alg: str) -> None:
    with pytest.raises(BadInputError):
        registry.add("Shop", [CALLBACK], id_token_alg=alg)


@pytest.mark.parametrize("client_id", ["", "a b", "a/b", "é", "a" * 200, "a\nb"])
def test_bad_client_ids(registry: ClientRegistry, client_id: str) -> None:
    with pytest.raises(BadInputError):
        registry.add("Shop", [CALLBACK], client_id=client_id)


@pytest.mark.parametrize("name", ["", "   ", "a" * 500, "tab\there", "line\nbreak"])
def test_bad_client_names(registry: ClientRegistry, name: str) -> None:
    with pytest.raises(BadInputError):
        registry.add(name, [CALLBACK])


@pytest.mark.parametrize("client_id", ["", "x" * 500])
def test_get_of_an_impossible_id_is_none(registry: ClientRegistry, client_id: str) -> None:
    assert registry.get(client_id) is None
