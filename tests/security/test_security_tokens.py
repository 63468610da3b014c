"""ES256 result tokens: signing, the JWKS, and every way verification must refuse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from veronica.errors import ConfigurationError, TokenInvalidError
from veronica.security.tokens import (
    DEFAULT_AUDIENCE,
    ResultSigner,
    generate_signing_key,
    verify_result_token,
    write_private_key,
)
from veronica.settings import Settings

ISSUER = "https://login.example.org"
NOW = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
CHECKS = ["challenge", "light", "pad", "consistency", "match"]


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in conftest)."""


@pytest.fixture
def signer() -> ResultSigner:
    return ResultSigner(generate_signing_key())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(signer: ResultSigner, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "subject": "alice",
        "purpose": "login",
        "checks": CHECKS,
        "session_id": "sess-1",
        "issuer": ISSUER,
        "now": NOW,
    }
    args.update(overrides)
    return signer.sign(**args)


def _forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def test_round_trip_carries_the_contract_claims(signer: ResultSigner) -> None:
    token = _token(signer, ttl_s=120)
    claims = verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)
    iat = int(NOW.timestamp())
    assert claims == {
        "iss": ISSUER,
        "sub": "alice",
        "aud": DEFAULT_AUDIENCE,
        "iat": iat,
        "exp": iat + 120,
        "jti": "sess-1",
        "purpose": "login",
        "amr": ["face", "liveness"],
        "checks": CHECKS,
    }
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}


def test_jwks_is_usable_by_a_standard_client(signer: ResultSigner) -> None:
    jwks = signer.jwks()
    (jwk,) = jwks["keys"]  # type: ignore[misc]
    assert {k: jwk[k] for k in ("kty", "crv", "use", "alg", "kid")} == {
        "kty": "EC",
        "crv": "P-256",
        "use": "sig",
        "alg": "ES256",
        "kid": signer.kid,
    }
    assert "d" not in jwk, "the private scalar must never be published"
    # PyJWT's own JWK parser, as a relying site would use it.
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        _token(signer, now=datetime.now(UTC)),
        key,
        algorithms=["ES256"],
        audience=DEFAULT_AUDIENCE,
        issuer=ISSUER,
    )
    assert claims["sub"] == "alice"


def test_kid_is_the_rfc7638_thumbprint(signer: ResultSigner) -> None:
    (jwk,) = signer.jwks()["keys"]  # type: ignore[misc]
    members = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    assert signer.kid == _b64(hashlib.sha256(members.encode()).digest())
    assert ResultSigner(generate_signing_key()).kid != signer.kid


def test_tampered_payload_is_refused(signer: ResultSigner) -> None:
    head, _, sig = _token(signer).split(".")
    claims = _claims_of(_token(signer))
    claims["sub"] = "mallory"
    forged = f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(TokenInvalidError, match="signature") as info:
        verify_result_token(forged, signer.jwks(), issuer=ISSUER, now=NOW)
    assert info.value.code == "token_invalid" and info.value.status == 401


def test_flipped_signature_bit_is_refused(signer: ResultSigner) -> None:
    head, body, sig = _token(signer).split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[5] ^= 0x01
    with pytest.raises(TokenInvalidError):
        verify_result_token(f"{head}.{body}.{_b64(bytes(raw))}", signer.jwks(), issuer=ISSUER)


def test_token_from_another_key_with_our_kid_is_refused(signer: ResultSigner) -> None:
    other = generate_signing_key()
    forged = jwt.encode(
        _claims_of(_token(signer)), other, algorithm="ES256", headers={"kid": signer.kid}
    )
    with pytest.raises(TokenInvalidError, match="signature"):
        verify_result_token(forged, signer.jwks(), issuer=ISSUER, now=NOW)


def test_unknown_kid_is_refused(signer: ResultSigner) -> None:
    other = ResultSigner(generate_signing_key())
    with pytest.raises(TokenInvalidError, match="not in the key set"):
        verify_result_token(_token(other), signer.jwks(), issuer=ISSUER, now=NOW)


def test_missing_kid_is_refused(signer: ResultSigner) -> None:
    token = jwt.encode(_claims_of(_token(signer)), signer._key, algorithm="ES256")
    with pytest.raises(TokenInvalidError, match="no key id"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)


def test_alg_none_is_refused(signer: ResultSigner) -> None:
    forged = _forge({"alg": "none", "kid": signer.kid}, _claims_of(_token(signer)))
    with pytest.raises(TokenInvalidError, match="algorithm"):
        verify_result_token(forged, signer.jwks(), issuer=ISSUER, now=NOW)


def test_hs256_keyed_with_the_public_key_is_refused(signer: ResultSigner) -> None:
    """The classic key-confusion forgery: HMAC with the (public) key bytes."""
    public_pem = signer._key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": signer.kid, "typ": "JWT"}
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(_claims_of(_token(signer))).encode())
    for secret in (public_pem, json.dumps(signer.jwks()["keys"][0]).encode()):  # type: ignore[index]
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        with pytest.raises(TokenInvalidError, match="algorithm"):
            verify_result_token(f"{head}.{body}.{_b64(mac)}", signer.jwks(), issuer=ISSUER)


def test_a_jwk_declaring_another_algorithm_is_refused(signer: ResultSigner) -> None:
    jwks = signer.jwks()
    jwks["keys"][0]["alg"] = "HS256"  # type: ignore[index]
    with pytest.raises(TokenInvalidError, match="ES256"):
        verify_result_token(_token(signer), jwks, issuer=ISSUER, now=NOW)


def test_expired_token_is_refused(signer: ResultSigner) -> None:
    token = _token(signer, ttl_s=120)
    verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW + timedelta(seconds=119))
    with pytest.raises(TokenInvalidError, match="expired"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW + timedelta(minutes=3))


def test_token_from_the_future_is_refused(signer: ResultSigner) -> None:
    token = _token(signer)
    with pytest.raises(TokenInvalidError, match="future"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW - timedelta(minutes=1))


def test_wrong_audience_is_refused(signer: ResultSigner) -> None:
    token = _token(signer, audience="shop.example.org")
    with pytest.raises(TokenInvalidError, match="audience"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)
    claims = verify_result_token(
        token, signer.jwks(), issuer=ISSUER, audience="shop.example.org", now=NOW
    )
    assert claims["aud"] == "shop.example.org"


def test_wrong_issuer_is_refused(signer: ResultSigner) -> None:
    token = _token(signer, issuer="https://evil.example.org")
    with pytest.raises(TokenInvalidError, match="issuer"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)


def test_missing_required_claim_is_refused(signer: ResultSigner) -> None:
    claims = _claims_of(_token(signer))
    del claims["jti"]
    token = jwt.encode(claims, signer._key, algorithm="ES256", headers={"kid": signer.kid})
    with pytest.raises(TokenInvalidError, match="jti"):
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.x.y"])
def test_garbage_is_refused(signer: ResultSigner, garbage: str) -> None:
    with pytest.raises(TokenInvalidError):
        verify_result_token(garbage, signer.jwks(), issuer=ISSUER, now=NOW)


def test_error_messages_never_echo_the_token(signer: ResultSigner) -> None:
    token = _token(signer, issuer="https://evil.example.org")
    with pytest.raises(TokenInvalidError) as info:
        verify_result_token(token, signer.jwks(), issuer=ISSUER, now=NOW)
    assert token not in str(info.value) and "evil" not in str(info.value)


# -- key loading ------------------------------------------------------------------------


def test_development_generates_a_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "signing.pem"
    settings = Settings(environment="development", signing_key_path=path)
    first = ResultSigner.load(settings)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert ResultSigner.load(settings).kid == first.kid, "the second start reuses the key"
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"], "no temp file left"


def test_default_path_is_in_the_data_dir(tmp_path: Path) -> None:
    signer = ResultSigner.load(Settings(environment="test", data_dir=tmp_path / "var"))
    assert (tmp_path / "var" / "signing_key.pem").is_file()
    assert signer.kid


def _production(path: Path) -> Settings:
    return Settings(
        environment="production",
        template_key="A" * 43 + "=",
        signing_key_path=path,
        public_url="https://login.example.org",
    )


def test_production_refuses_a_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    with pytest.raises(ConfigurationError, match="keygen --signing"):
        ResultSigner.load(_production(path))
    assert not path.exists(), "production never invents a key"


def test_production_loads_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    key = generate_signing_key()
    write_private_key(path, key)
    assert ResultSigner.load(_production(path)).kid == ResultSigner(key).kid


def test_write_private_key_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    write_private_key(path, generate_signing_key())
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_private_key(path, generate_signing_key())
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b"not a key",
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ],
    ids=["garbage", "rsa", "p384"],
)
def test_unusable_key_files_are_configuration_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="signing key"):
        ResultSigner.load(_production(path))


def test_unreadable_key_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.mkdir()  # exists but cannot be read as a file
    with pytest.raises(ConfigurationError, match="cannot read"):
        ResultSigner.load(_production(path))
