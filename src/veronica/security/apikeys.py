"""Admin API keys.

A key is ``vra_`` + 256 random bits. Only its SHA-256 is stored: with that much
entropy no one can brute-force the hash, so a slow password hash (bcrypt, Argon2)
would add latency to every admin request and no security. The ``vra_`` prefix lets
secret scanners spot a leaked key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import Engine

from veronica.storage.admin_keys import AdminKeyRecord, AdminKeyTable

KEY_PREFIX = "vra_"
KEY_BYTES = 32
MAX_KEY_CHARS = 256
"""Longer presented keys are refused before hashing (nothing legitimate is that long)."""

__all__ = ["AdminKeyRecord", "AdminKeys", "generate_admin_key", "hash_admin_key"]


def generate_admin_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_admin_key(key: str) -> str:
    """SHA-256 hex of the key (fast on purpose: see the module docstring)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class AdminKeys:
    """Creates, checks, lists and revokes admin keys.

    ``dev_key`` is ``settings.admin_key``: a plaintext key accepted without the database
    in development and test (settings refuse it in production).
    """

    def __init__(self, db: Engine, *, dev_key: str | None) -> None:
        self._table = AdminKeyTable(db)
        self._dev_key = dev_key or None

    def create(self, label: str) -> str:
        """Store a new key under ``label`` and return it: the only time it is visible."""
        key = generate_admin_key()
        self._table.insert(label, hash_admin_key(key))
        return key

    def verify(self, key: str | None) -> bool:
        """True for the development key or a stored, non-revoked key.

        The database is searched by hash, so how long the lookup takes depends on the
        hash, which an attacker cannot steer towards a real key's hash.
        """
        if not key or len(key) > MAX_KEY_CHARS:
            return False
        if self._dev_key is not None and hmac.compare_digest(
            key.encode("utf-8"), self._dev_key.encode("utf-8")
        ):
            return True
        return self._table.is_active(hash_admin_key(key))

    def list(self) -> list[AdminKeyRecord]:
        return self._table.list()

    def revoke(self, label: str) -> None:
        """Revoke the active key called ``label`` (AdminKeyNotFoundError if none)."""
        self._table.revoke(label)
