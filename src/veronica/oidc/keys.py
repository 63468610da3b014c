"""The provider's signing keys and the JWKS that publishes them.

Two keys sign: RS256 (OpenID Connect Discovery requires it to be offered; the
default for ID tokens) and ES256 (the key that also signs the legacy result
tokens). Each ``kid`` is the key's RFC 7638 thumbprint, so a key keeps its id
across restarts and instances. Keys in ``retired_signing_keys`` are published but
never sign: the rotation path (docs/OIDC.md, "Rotating keys").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from veronica.errors import ConfigurationError
from veronica.security.tokens import ensure_key_file
from veronica.settings import Settings

RSA_BITS = 2048
"""NIST SP 800-57 rates RSA-2048 for use through 2030; RS256 with it is what every
OpenID Connect library expects."""

Key = RSAKey | ECKey


@dataclass(frozen=True)
class SigningKey:
    alg: str
    kid: str
    key: Key


def _alg_of(key: Key) -> str:
    if isinstance(key, RSAKey):
        return "RS256"
    if key.curve_name != "P-256":
        raise ConfigurationError("EC keys must be P-256 (ES256)")
    return "ES256"


def _import(path: Path, *, private: bool) -> Key:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read key {path}: {exc.strerror}") from exc
    errors = []
    # Try the likely kind first (a P-256 PEM is ~250 bytes, RSA ≥ 1.6 kB): a
    # failed parse of the other kind costs as much as a good one.
    kinds = (RSAKey, ECKey) if len(data) > 1000 else (ECKey, RSAKey)
    for kind in kinds:
        try:
            key: Key = kind.import_key(data)
        except Exception as exc:  # joserfc raises several types for a wrong kind
            errors.append(str(exc))
            continue
        if private and not key.is_private:
            raise ConfigurationError(f"{path} holds a public key; a signing key must be private")
        if isinstance(key, RSAKey) and key.raw_value.key_size < RSA_BITS:
            raise ConfigurationError(f"{path}: RSA keys must have at least {RSA_BITS} bits")
        _alg_of(key)
        return key
    raise ConfigurationError(f"{path} is not a PEM EC P-256 or RSA key")


def generate_rsa_pem() -> bytes:
    pem: bytes = RSAKey.generate_key(RSA_BITS).as_pem(private=True)
    return pem


def load_or_create_rsa(settings: Settings) -> RSAKey:
    """The RS256 key at ``settings.resolved_rsa_signing_key_path``; generated when
    missing outside production (a key made up at each start in production would
    break relying sites' cached JWKS)."""
    path = settings.resolved_rsa_signing_key_path
    ensure_key_file(path, settings, generate_rsa_pem, what="RSA signing key", keygen="--rsa")
    key = _import(path, private=True)
    if not isinstance(key, RSAKey):
        raise ConfigurationError(f"{path} must be an RSA key (RS256)")
    return key


class ProviderKeys:
    """The keys that sign ID tokens, and every key relying sites should accept."""

    def __init__(self, es256: ECKey, rs256: RSAKey, retired: Sequence[Key] = ()) -> None:
        self._signing = {
            "ES256": SigningKey("ES256", es256.thumbprint(), es256),
            "RS256": SigningKey("RS256", rs256.thumbprint(), rs256),
        }
        current = {k.kid for k in self._signing.values()}
        self._retired = [
            SigningKey(_alg_of(k), k.thumbprint(), k)
            for k in retired
            if k.thumbprint() not in current
        ]

    @classmethod
    def load(cls, settings: Settings) -> ProviderKeys:
        """ES256 from the result-token key file (``ResultSigner.load`` made it), RS256
        from its own file, and the retired keys."""
        es = _import(settings.resolved_signing_key_path, private=True)
        if not isinstance(es, ECKey):
            raise ConfigurationError("the result-token signing key must be EC P-256")
        retired = [_import(p, private=False) for p in settings.retired_signing_keys]
        return cls(es, load_or_create_rsa(settings), retired)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self._signing)

    def signing_key(self, alg: str) -> SigningKey:
        try:
            return self._signing[alg]
        except KeyError as exc:
            raise ConfigurationError(f"no signing key for {alg}") from exc

    def jwks(self) -> dict[str, Any]:
        """Public members only, each with ``kid``, ``use`` and ``alg``."""
        keys = []
        for entry in [*self._signing.values(), *self._retired]:
            public = dict(entry.key.as_dict(private=False))
            public.update(kid=entry.kid, use="sig", alg=entry.alg)
            keys.append(public)
        return {"keys": keys}
