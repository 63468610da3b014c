"""The provider's signing keys and their JWKS: kids are RFC 7638 thumbprints, only
public members are published, retired keys are published but never sign, and key
files are loaded (or, outside production, generated) as the settings say."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from veronica.errors import ConfigurationError
from veronica.oidc.keys import RSA_BITS, ProviderKeys, generate_rsa_pem, load_or_create_rsa
from veronica.security.tokens import (
    ResultSigner,
    generate_signing_key,
    private_key_pem,
    write_private_key,
    write_private_pem,
)
from veronica.settings import Environment, Settings

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
"""RFC 7518 §6.2.2, §6.3.2 and §6.4: what must never be in a published key."""
RFC7638_EXAMPLE_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
    "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY3"
    "68QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM"
    "4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)


@pytest.fixture(scope="module")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture(scope="module")
def old_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.fixture
def es_key() -> ECKey:
    return ECKey.generate_key("P-256")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3, written out here: SHA-256 of the required members in
    lexicographic order, JSON without whitespace, base64url without padding."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_pem(key: RSAKey | ECKey) -> bytes:
    pem: bytes = key.as_pem(private=False)
    return pem


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("environment", Environment.DEVELOPMENT)
    return Settings(data_dir=tmp_path / "data", **values)


def by_kid(jwks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    keys = {k["kid"]: k for k in jwks["keys"]}
    assert len(keys) == len(jwks["keys"]), "kids are unique"
    return keys


def test_the_thumbprint_helper_is_rfc_7638s() -> None:
    # RFC 7638 §3.1's own example.
    example = {"kty": "RSA", "n": RFC7638_EXAMPLE_N, "e": "AQAB", "alg": "RS256", "kid": "x"}
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwks_has_rs256_and_es256_public_only_with_thumbprint_kids(
    es_key: ECKey, rsa_key: RSAKey
) -> None:
    keys = ProviderKeys(es_key, rsa_key)
    jwks = keys.jwks()
    assert json.loads(json.dumps(jwks)) == jwks, "plain JSON"
    published = jwks["keys"]
    assert sorted(k["alg"] for k in published) == ["ES256", "RS256"]
    for key in published:
        assert not PRIVATE_MEMBERS & set(key), key
        assert key["use"] == "sig"
        assert key["kid"] == thumbprint(key)
        assert key["kty"] == {"ES256": "EC", "RS256": "RSA"}[key["alg"]]
        assert key["kid"] == keys.signing_key(key["alg"]).kid
    es = next(k for k in published if k["alg"] == "ES256")
    assert es["crv"] == "P-256"
    rs = next(k for k in published if k["alg"] == "RS256")
    assert rs["e"] == "AQAB" and len(base64.urlsafe_b64decode(rs["n"] + "==")) == 256
    assert set(keys.algorithms) == {"RS256", "ES256"}


def test_pyjwt_reads_the_jwks(es_key: ECKey, rsa_key: RSAKey) -> None:
    keys = ProviderKeys(es_key, rsa_key)
    jwks = jwt.PyJWKSet.from_dict(keys.jwks())
    for alg in ("RS256", "ES256"):
        signing = keys.signing_key(alg)
        pem = signing.key.as_pem(private=True)
        token = jwt.encode({"sub": "x"}, pem, algorithm=alg, headers={"kid": signing.kid})
        assert jwt.decode(token, jwks[signing.kid].key, algorithms=[alg]) == {"sub": "x"}


def test_no_signing_key_for_another_algorithm(es_key: ECKey, rsa_key: RSAKey) -> None:
    keys = ProviderKeys(es_key, rsa_key)
    for alg in ("HS256", "none", "PS256", "ES384"):
        with pytest.raises(ConfigurationError):
            keys.signing_key(alg)


def test_the_es256_kid_is_the_result_token_signers(tmp_path: Path, isolated_env: None) -> None:
    """One key, one kid: the ES256 key that signs ID tokens is the result-token key."""
    config = settings(tmp_path)
    signer = ResultSigner.load(config)  # generates the key in development
    keys = ProviderKeys.load(config)
    assert keys.signing_key("ES256").kid == signer.kid
    (legacy,) = signer.jwks()["keys"]
    published = by_kid(keys.jwks())[signer.kid]
    assert {m: published[m] for m in ("kty", "crv", "x", "y")} == {
        m: legacy[m] for m in ("kty", "crv", "x", "y")
    }


def test_the_es256_kid_matches_for_an_in_memory_key(rsa_key: RSAKey) -> None:
    private = generate_signing_key()
    keys = ProviderKeys(ECKey.import_key(private_key_pem(private)), rsa_key)
    assert keys.signing_key("ES256").kid == ResultSigner(private).kid


# -- rotation ----------------------------------------------------------------------------


def test_a_retired_key_is_published_but_never_signs(
    tmp_path: Path, isolated_env: None, rsa_key: RSAKey, old_rsa_key: RSAKey
) -> None:
    old_es = ECKey.generate_key("P-256")
    write_private_pem(tmp_path / "rsa.pem", rsa_key.as_pem(private=True))
    retired = [
        write(tmp_path / "retired" / "rsa-1.pub.pem", public_pem(old_rsa_key)),
        write(tmp_path / "retired" / "es-1.pub.pem", public_pem(old_es)),
    ]
    config = settings(
        tmp_path, rsa_signing_key_path=tmp_path / "rsa.pem", retired_signing_keys=retired
    )
    ResultSigner.load(config)
    keys = ProviderKeys.load(config)
    published = by_kid(keys.jwks())
    old_kids = {old_rsa_key.thumbprint(), old_es.thumbprint()}
    assert old_kids <= set(published)
    assert len(published) == 4
    assert published[old_rsa_key.thumbprint()]["alg"] == "RS256"
    assert published[old_es.thumbprint()]["alg"] == "ES256"
    for alg in ("RS256", "ES256"):
        assert keys.signing_key(alg).kid not in old_kids
    assert keys.signing_key("RS256").kid == rsa_key.thumbprint()
    for key in published.values():
        assert not PRIVATE_MEMBERS & set(key) and key["kid"] == thumbprint(key)


def test_a_token_signed_before_the_rotation_still_verifies(
    tmp_path: Path, isolated_env: None, old_rsa_key: RSAKey
) -> None:
    now = int(time.time())
    claims = {"iss": "https://login.example.org", "sub": "s", "iat": now, "exp": now + 300}
    before = jwt.encode(
        claims,
        old_rsa_key.as_pem(private=True),
        algorithm="RS256",
        headers={"kid": old_rsa_key.thumbprint()},
    )
    retired = write(tmp_path / "old.pub.pem", public_pem(old_rsa_key))
    config = settings(tmp_path, retired_signing_keys=[retired])
    # After the swap: a new key signs, the old one is only published.
    ResultSigner.load(config)
    keys = ProviderKeys.load(config)
    jwks = jwt.PyJWKSet.from_dict(keys.jwks())
    kid = jwt.get_unverified_header(before)["kid"]
    assert jwt.decode(before, jwks[kid].key, algorithms=["RS256"]) == claims
    assert keys.signing_key("RS256").kid != kid


def test_a_retired_private_key_is_published_public(
    es_key: ECKey, rsa_key: RSAKey, old_rsa_key: RSAKey
) -> None:
    keys = ProviderKeys(es_key, rsa_key, [old_rsa_key])
    published = by_kid(keys.jwks())[old_rsa_key.thumbprint()]
    assert not PRIVATE_MEMBERS & set(published)


def test_a_retired_key_that_is_current_is_listed_once(es_key: ECKey, rsa_key: RSAKey) -> None:
    keys = ProviderKeys(es_key, rsa_key, [rsa_key, es_key])
    assert len(keys.jwks()["keys"]) == 2


@pytest.mark.filterwarnings("ignore:Key size should be >= 2048 bits")
def test_a_retired_key_must_be_p256_or_rsa_2048(tmp_path: Path, isolated_env: None) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    for name, key in (("p384", p384), ("rsa1024", small)):
        path = write(
            tmp_path / f"{name}.pem",
            key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        config = settings(tmp_path, retired_signing_keys=[path])
        ResultSigner.load(config)
        with pytest.raises(ConfigurationError):
            ProviderKeys.load(config)


def test_a_missing_retired_key_is_a_configuration_error(tmp_path: Path, isolated_env: None) -> None:
    config = settings(tmp_path, retired_signing_keys=[tmp_path / "gone.pem"])
    ResultSigner.load(config)
    with pytest.raises(ConfigurationError, match=r"gone\.pem"):
        ProviderKeys.load(config)


# -- loading -----------------------------------------------------------------------------


def test_load_generates_the_rsa_key_outside_production(tmp_path: Path, isolated_env: None) -> None:
    for environment in (Environment.DEVELOPMENT, Environment.TEST):
        config = settings(tmp_path / environment.value, environment=environment)
        ResultSigner.load(config)
        path = config.resolved_rsa_signing_key_path
        assert not path.exists()
        keys = ProviderKeys.load(config)
        assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
        loaded = RSAKey.import_key(path.read_bytes())
        assert loaded.is_private and loaded.raw_value.key_size == RSA_BITS
        assert keys.signing_key("RS256").kid == loaded.thumbprint()
        # A restart finds the same key: the kid relying sites cached stays.
        assert ProviderKeys.load(config).signing_key("RS256").kid == loaded.thumbprint()


def test_load_refuses_a_missing_rsa_key_in_production(tmp_path: Path, isolated_env: None) -> None:
    signing = tmp_path / "signing.pem"
    write_private_key(signing, generate_signing_key())
    missing = tmp_path / "rsa.pem"
    config = Settings(
        environment=Environment.PRODUCTION,
        data_dir=tmp_path / "data",
        signing_key_path=signing,
        rsa_signing_key_path=missing,
    )
    with pytest.raises(ConfigurationError, match="keygen --rsa") as raised:
        ProviderKeys.load(config)
    assert str(missing) in raised.value.message
    assert not missing.exists(), "never made up in production"
    with pytest.raises(ConfigurationError):
        load_or_create_rsa(config)


def test_load_in_production_uses_the_configured_keys(
    tmp_path: Path, isolated_env: None, rsa_key: RSAKey
) -> None:
    signing = tmp_path / "signing.pem"
    private = generate_signing_key()
    write_private_key(signing, private)
    rsa_path = tmp_path / "rsa.pem"
    write_private_pem(rsa_path, rsa_key.as_pem(private=True))
    config = Settings(
        environment=Environment.PRODUCTION,
        data_dir=tmp_path / "data",
        signing_key_path=signing,
        rsa_signing_key_path=rsa_path,
    )
    keys = ProviderKeys.load(config)
    assert keys.signing_key("RS256").kid == rsa_key.thumbprint()
    assert keys.signing_key("ES256").kid == ResultSigner(private).kid


@pytest.mark.filterwarnings("ignore:Key size should be >= 2048 bits")
def test_an_rsa_key_under_2048_bits_is_refused(tmp_path: Path, isolated_env: None) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = write(
        tmp_path / "rsa-1024.pem",
        small.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    config = settings(tmp_path, rsa_signing_key_path=path)
    ResultSigner.load(config)
    with pytest.raises(ConfigurationError, match="2048"):
        ProviderKeys.load(config)


@pytest.mark.parametrize("content", ["public-rsa", "ec", "garbage", "empty"])
def test_a_wrong_rsa_key_file_is_refused(
    tmp_path: Path, isolated_env: None, rsa_key: RSAKey, content: str
) -> None:
    data = {
        "public-rsa": public_pem(rsa_key),
        "ec": ECKey.generate_key("P-256").as_pem(private=True),
        "garbage": b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
        "empty": b"",
    }[content]
    path = write(tmp_path / "rsa.pem", data)
    config = settings(tmp_path, rsa_signing_key_path=path)
    ResultSigner.load(config)
    with pytest.raises(ConfigurationError):
        ProviderKeys.load(config)


def test_the_es256_key_file_must_hold_an_ec_key(
    tmp_path: Path, isolated_env: None, rsa_key: RSAKey
) -> None:
    path = write(tmp_path / "signing.pem", rsa_key.as_pem(private=True))
    with pytest.raises(ConfigurationError, match="EC P-256"):
        ProviderKeys.load(settings(tmp_path, signing_key_path=path))


def test_generate_rsa_pem_is_a_fresh_2048_bit_private_key() -> None:
    first, second = RSAKey.import_key(generate_rsa_pem()), RSAKey.import_key(generate_rsa_pem())
    assert first.is_private and first.raw_value.key_size == RSA_BITS == 2048
    assert first.thumbprint() != second.thumbprint()
