"""AES-256-GCM encryption of face templates (and, optionally, enrollment images).

A face embedding is biometric data: it cannot be rotated like a password, so it is
never stored in the clear. Each blob is ``nonce (12 bytes) || ciphertext || tag (16
bytes)``. The associated data (AAD) names the row the blob belongs to (user id, model
id, dimension), so copying a ciphertext onto another user's row makes decryption fail
instead of silently letting one face log in as someone else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veronica.errors import BadInputError, TemplateKeyError
from veronica.storage.errors import TemplateCorruptError

KEY_BYTES = 32
"""AES-256: the key is 32 bytes."""

NONCE_BYTES = 12
"""96-bit random nonce, the size GCM is designed for."""

TAG_BYTES = 16
"""GCM authentication tag appended by ``AESGCM.encrypt``."""

FLOAT32_BYTES = 4

GENERATE_KEY_HINT = (
    'python -c "import secrets,base64;'
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)

_FINGERPRINT_LABEL = b"veronica-key-id"
_FINGERPRINT_HEX_CHARS = 16
_TEMPLATE_AAD_PREFIX = "veronica/template/v1:"
IMAGE_AAD_PREFIX = b"veronica/image/v1:"
_BASE64_RE = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")
_WRONG_KEY_MESSAGE = (
    "template key does not match the one these templates were encrypted with "
    "(or the stored template was altered); refusing to match against it"
)


def generate_key() -> str:
    """Return a new random 32-byte key as urlsafe base64 (44 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def template_aad(user_id: int, model_id: str, dim: int) -> bytes:
    """Associated data binding a template ciphertext to its owner, model and size."""
    return f"{_TEMPLATE_AAD_PREFIX}{user_id}:{model_id}:{dim}".encode()


def image_aad(user_id: int) -> bytes:
    """Associated data binding an enrollment image ciphertext to its owner."""
    return IMAGE_AAD_PREFIX + str(user_id).encode()


def _missing_key_error(problem: str) -> TemplateKeyError:
    return TemplateKeyError(
        f"{problem}. The template key must be 32 random bytes written as urlsafe base64 "
        f"(or 64 hex characters); generate one with: {GENERATE_KEY_HINT}"
    )


def _decode_key_text(text: str) -> bytes:
    """Decode 64 hex characters or (urlsafe or standard) base64 into bytes."""
    if len(text) == 2 * KEY_BYTES and all(c in string.hexdigits for c in text):
        return bytes.fromhex(text)
    if not _BASE64_RE.fullmatch(text):
        raise _missing_key_error("the template key is neither base64 nor hex")
    urlsafe = text.replace("+", "-").replace("/", "_").rstrip("=")
    padded = urlsafe + "=" * (-len(urlsafe) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _missing_key_error("the template key is not valid base64") from exc


class TemplateCipher:
    """AES-256-GCM for templates; holds the key only inside the AESGCM object."""

    __slots__ = ("_aead", "_fingerprint")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise _missing_key_error("the template key must be bytes")
        if len(key) != KEY_BYTES:
            raise _missing_key_error(
                f"the template key must be exactly {KEY_BYTES} bytes (AES-256), got {len(key)}"
            )
        key = bytes(key)
        self._aead = AESGCM(key)
        digest = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
        self._fingerprint = digest[:_FINGERPRINT_HEX_CHARS]

    @classmethod
    def from_setting(cls, value: str | None) -> TemplateCipher:
        """Build a cipher from a configuration string (urlsafe base64 or 64 hex chars)."""
        if value is None or not value.strip():
            raise _missing_key_error("no template key is configured")
        return cls(_decode_key_text(value.strip()))

    @property
    def fingerprint(self) -> str:
        """Key id: first 16 hex chars of HMAC-SHA256(key, "veronica-key-id").

        Safe to store: it identifies the key without revealing it, so a start-up check can
        tell "wrong key" apart from "corrupt data" before any match is attempted.
        """
        return self._fingerprint

    def __repr__(self) -> str:
        return f"TemplateCipher(fingerprint={self._fingerprint!r})"

    def encrypt_bytes(self, data: bytes, aad: bytes) -> bytes:
        """Encrypt ``data``; returns nonce || ciphertext || tag."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def decrypt_bytes(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob from :meth:`encrypt_bytes`; wrong key/AAD/tampering -> error."""
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise TemplateCorruptError(
                f"stored ciphertext is truncated ({len(blob)} bytes); it cannot be decrypted"
            )
        nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise TemplateKeyError(_WRONG_KEY_MESSAGE) from exc

    def encrypt(self, vector: npt.NDArray[np.floating[Any]], aad: bytes) -> bytes:
        """Encrypt a 1-D vector, stored as little-endian float32."""
        if not isinstance(vector, np.ndarray) or vector.ndim != 1:
            raise BadInputError("only a 1-D vector can be encrypted as a template")
        return self.encrypt_bytes(vector.astype("<f4").tobytes(), aad)

    def decrypt(self, blob: bytes, aad: bytes, dim: int) -> npt.NDArray[np.float32]:
        """Decrypt a template blob into a float32 vector of length ``dim``."""
        plain = self.decrypt_bytes(blob, aad)
        if len(plain) != dim * FLOAT32_BYTES:
            raise TemplateCorruptError(
                f"decrypted template has {len(plain)} bytes, expected {dim} float32 values"
            )
        return np.frombuffer(plain, dtype="<f4").astype(np.float32)
