"""Signed result tokens: a short-lived ES256 JWT saying "this person passed face login".

The relying site checks it against ``/.well-known/jwks.json``. ES256 (ECDSA P-256)
rather than an HMAC: relying sites hold only the public key, so none of them can
mint tokens. Verification pins the algorithm to ES256, which closes the classic
``alg: none`` and RS/HS key-confusion attacks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from veronica.errors import ConfigurationError, TokenInvalidError
from veronica.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_AUDIENCE = "veronica-relying-party"
ALGORITHM = "ES256"
AMR = ("face", "liveness")
"""RFC 8176 authentication method references: what the user proved."""
LEEWAY_S = 5.0
"""Clock skew tolerated on ``exp``/``iat``; small because tokens live two minutes."""
_COORD_BYTES = 32  # P-256 coordinates
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "jti", "purpose")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write ``key`` as PEM with mode 0600; FileExistsError if ``path`` exists."""
    write_private_pem(path, private_key_pem(key))


def write_private_pem(path: Path, pem: bytes) -> None:
    """Write a private key's ``pem`` with mode 0600; FileExistsError if ``path`` exists.

    The PEM goes to a private temporary file first and is then hard-linked into place:
    the link fails if the path exists (never overwrite a key), and a reader never sees
    a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_key_file(
    path: Path, settings: Settings, make_pem: Callable[[], bytes], *, what: str, keygen: str
) -> None:
    """Make sure a private key file exists at ``path``.

    Outside production a missing key is generated with ``make_pem`` (so ``make run``
    needs no set-up); in production it is a configuration error naming
    ``veronica keygen <keygen>``: a key made up at start would change on every
    restart and break relying sites' cached keys."""
    if path.exists():
        return
    if settings.is_production:
        raise ConfigurationError(
            f"{what} {path} does not exist; create it with `veronica keygen {keygen} --out PATH`"
        )
    try:
        write_private_pem(path, make_pem())
        logger.info("generated a %s at %s", what, path)
    except FileExistsError:
        pass  # another worker generated it first: use theirs
    except OSError as exc:
        raise ConfigurationError(f"cannot create {what} {path}: {exc.strerror}") from exc


def _read_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"signing key {path} is not an unencrypted PEM private key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigurationError(f"signing key {path} must be an EC P-256 key (ES256)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("signing key %s is readable by others (mode %o); chmod 600 it", path, mode)
    return key


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The RFC 7517 JWK of a P-256 public key: only the members the thumbprint uses."""
    numbers = public_key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(_COORD_BYTES, "big")),
        "y": _b64url(numbers.y.to_bytes(_COORD_BYTES, "big")),
    }


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members, sorted, no whitespace."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


class ResultSigner:
    """Holds the private key; signs result tokens and publishes the public key."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ConfigurationError("the result-token key must be an EC P-256 key (ES256)")
        self._key = private_key
        self._jwk = public_jwk(private_key.public_key())
        self.kid = jwk_thumbprint(self._jwk)

    def __repr__(self) -> str:
        return f"ResultSigner(kid={self.kid!r})"

    @classmethod
    def load(cls, settings: Settings) -> ResultSigner:
        """The key at ``settings.resolved_signing_key_path``.

        Outside production a missing key is generated (so ``make run`` needs no set-up);
        in production a missing or unreadable key is a configuration error: a key made
        up at start would change on every restart and break relying sites' caches.
        """
        path = settings.resolved_signing_key_path
        ensure_key_file(
            path,
            settings,
            lambda: private_key_pem(generate_signing_key()),
            what="signing key",
            keygen="--signing",
        )
        return cls(_read_private_key(path))

    def jwks(self) -> dict[str, object]:
        """The JSON Web Key Set relying sites fetch to verify tokens."""
        return {"keys": [{**self._jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def sign(
        self,
        *,
        subject: str,
        purpose: str,
        checks: Sequence[str],
        session_id: str,
        issuer: str,
        audience: str = DEFAULT_AUDIENCE,
        ttl_s: int = 120,
        now: datetime | None = None,
        nonce: str | None = None,
    ) -> str:
        """A compact JWS; ``jti`` is the session id so a relying site can refuse
        replays; ``audience`` is the site the token is for (the sessions use the
        origin of ``return_to``); ``nonce``, when the site gave one, binds the token
        to the site's own login attempt (login CSRF)."""
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        issued = (now or datetime.now(UTC)).astimezone(UTC)
        iat = int(issued.timestamp())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": subject,
            "aud": audience,
            "iat": iat,
            "exp": iat + int(ttl_s),
            "jti": session_id,
            "purpose": purpose,
            "amr": list(AMR),
            "checks": list(checks),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )


def _public_key_for(jwks: Mapping[str, Any], kid: str) -> ec.EllipticCurvePublicKey:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise TokenInvalidError("key set has no keys")
    for jwk in keys:
        if not isinstance(jwk, Mapping) or jwk.get("kid") != kid:
            continue
        if (
            jwk.get("kty") != "EC"
            or jwk.get("crv") != "P-256"
            or jwk.get("alg", ALGORITHM) != ALGORITHM
            or jwk.get("use", "sig") != "sig"
        ):
            raise TokenInvalidError("token key is not an ES256 signing key")
        try:
            x = int.from_bytes(_b64url_decode(str(jwk["x"])), "big")
            y = int.from_bytes(_b64url_decode(str(jwk["y"])), "big")
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except (KeyError, ValueError) as exc:
            raise TokenInvalidError("token key in the key set is malformed") from exc
    raise TokenInvalidError("token key id is not in the key set")


def _as_utc_ts(now: datetime | None) -> float:
    return (now or datetime.now(UTC)).timestamp()


def verify_result_token(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str,
    audience: str = DEFAULT_AUDIENCE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The claims of a valid token, else TokenInvalidError naming the failed check.

    Checks, in order: header algorithm is ES256 (nothing else is ever accepted), the
    ``kid`` is in ``jwks``, the signature, the required claims, ``iss``, ``aud``,
    ``exp`` and ``iat`` (with ``LEEWAY_S`` of clock skew).
    """
    if not isinstance(token, str) or not token:
        raise TokenInvalidError("token missing")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalidError("token is not a well-formed JWT") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenInvalidError(f"token algorithm must be {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenInvalidError("token has no key id")
    key = _public_key_for(jwks, kid)
    try:
        # Time checks are ours (below) so that ``now`` can be injected; everything
        # cryptographic and the iss/aud comparison is PyJWT's.
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(_REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenInvalidError("token signature is invalid") from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenInvalidError("token audience is wrong") from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenInvalidError("token issuer is wrong") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise TokenInvalidError(f"token lacks the {exc.claim!r} claim") from exc
    except jwt.PyJWTError as exc:
        raise TokenInvalidError("token is invalid") from exc
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise TokenInvalidError("token times are not numbers")
    at = _as_utc_ts(now)
    if at >= exp + LEEWAY_S:
        raise TokenInvalidError("token has expired")
    if iat > at + LEEWAY_S:
        raise TokenInvalidError("token was issued in the future")
    if exp - iat <= 0:
        raise TokenInvalidError("token expires before it was issued")
    if not isinstance(claims["sub"], str):
        raise TokenInvalidError("token subject is not a string")
    return claims
