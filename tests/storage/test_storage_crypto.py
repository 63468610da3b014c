"""AES-256-GCM template encryption: round trip, wrong key, tampering, AAD binding, keys."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from veronica.errors import BadInputError, TemplateKeyError
from veronica.storage import TemplateCipher, TemplateCorruptError, generate_key
from veronica.storage.crypto import NONCE_BYTES, TAG_BYTES, image_aad, template_aad

DIM = 128


@pytest.fixture
def vector() -> npt.NDArray[Any]:
    return np.random.default_rng(7).standard_normal(DIM).astype(np.float32)


def test_round_trip_is_exact(cipher: TemplateCipher, vector: npt.NDArray[Any]) -> None:
    aad = template_aad(1, "mobilefacenet-1.0.24", DIM)
    blob = cipher.encrypt(vector, aad)
    out = cipher.decrypt(blob, aad, DIM)
    assert out.dtype == np.float32
    assert np.array_equal(out, vector)
    assert len(blob) == NONCE_BYTES + DIM * 4 + TAG_BYTES


def test_nonce_is_random_so_equal_vectors_give_different_blobs(
    cipher: TemplateCipher, vector: npt.NDArray[Any]
) -> None:
    aad = template_aad(1, "m", DIM)
    assert cipher.encrypt(vector, aad) != cipher.encrypt(vector, aad)


def test_wrong_key_raises_template_key_error(
    cipher: TemplateCipher, other_cipher: TemplateCipher, vector: npt.NDArray[Any]
) -> None:
    aad = template_aad(1, "m", DIM)
    blob = cipher.encrypt(vector, aad)
    with pytest.raises(TemplateKeyError, match="does not match"):
        other_cipher.decrypt(blob, aad, DIM)


@pytest.mark.parametrize("position", [0, NONCE_BYTES, NONCE_BYTES + 100, -1])
def test_tampered_ciphertext_is_rejected(
    cipher: TemplateCipher, vector: npt.NDArray[Any], position: int
) -> None:
    aad = template_aad(1, "m", DIM)
    blob = bytearray(cipher.encrypt(vector, aad))
    blob[position] ^= 0x01
    with pytest.raises(TemplateKeyError):
        cipher.decrypt(bytes(blob), aad, DIM)


def test_truncated_blob_is_corrupt(cipher: TemplateCipher) -> None:
    with pytest.raises(TemplateCorruptError, match="truncated"):
        cipher.decrypt(b"\x00" * (NONCE_BYTES + TAG_BYTES - 1), b"aad", DIM)


def test_ciphertext_moved_to_another_user_fails(
    cipher: TemplateCipher, vector: npt.NDArray[Any]
) -> None:
    blob = cipher.encrypt(vector, template_aad(1, "m", DIM))
    with pytest.raises(TemplateKeyError):
        cipher.decrypt(blob, template_aad(2, "m", DIM), DIM)


def test_ciphertext_moved_to_another_model_or_dim_fails(
    cipher: TemplateCipher, vector: npt.NDArray[Any]
) -> None:
    blob = cipher.encrypt(vector, template_aad(1, "m", DIM))
    with pytest.raises(TemplateKeyError):
        cipher.decrypt(blob, template_aad(1, "other", DIM), DIM)
    with pytest.raises(TemplateKeyError):
        cipher.decrypt(blob, template_aad(1, "m", DIM // 2), DIM // 2)


def test_image_and_template_aads_are_separate(cipher: TemplateCipher) -> None:
    blob = cipher.encrypt_bytes(b"jpeg bytes", image_aad(1))
    assert cipher.decrypt_bytes(blob, image_aad(1)) == b"jpeg bytes"
    with pytest.raises(TemplateKeyError):
        cipher.decrypt_bytes(blob, image_aad(2))
    with pytest.raises(TemplateKeyError):
        cipher.decrypt_bytes(blob, template_aad(1, "m", DIM))


def test_encrypt_rejects_matrices(cipher: TemplateCipher) -> None:
    with pytest.raises(BadInputError):
        cipher.encrypt(np.zeros((2, 2), dtype=np.float32), b"aad")


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(TemplateKeyError, match="exactly 32 bytes"):
        TemplateCipher(b"k" * length)


def test_generated_key_round_trips_through_setting() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_key() != key
    a, b = TemplateCipher.from_setting(key), TemplateCipher.from_setting(f"  {key}\n")
    assert a.fingerprint == b.fingerprint


def test_setting_accepts_hex_unpadded_and_standard_base64() -> None:
    raw = bytes(range(200, 232))
    expected = TemplateCipher(raw).fingerprint
    forms = [
        raw.hex(),
        raw.hex().upper(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode(),
    ]
    assert "+" in forms[-1] or "/" in forms[-1]  # the standard alphabet really differs
    for form in forms:
        assert TemplateCipher.from_setting(form).fingerprint == expected


def test_setting_accepts_the_development_key() -> None:
    TemplateCipher.from_setting("dmVyb25pY2EtZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM=")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_key_explains_how_to_generate_one(value: str | None) -> None:
    with pytest.raises(TemplateKeyError, match=r"secrets\.token_bytes") as info:
        TemplateCipher.from_setting(value)
    assert info.value.code == "template_key_invalid"


@pytest.mark.parametrize(
    "value",
    [
        "not a key!",
        "abc",  # valid alphabet, decodes to 2 bytes
        base64.urlsafe_b64encode(b"x" * 16).decode(),  # AES-128 sized
        base64.urlsafe_b64encode(b"x" * 33).decode(),
        "g" * 64,  # 64 chars but not hex, and base64 of 48 bytes
        "a=b=",
        "ab" * 31 + "zz" + "==",
    ],
)
def test_malformed_key_strings_are_rejected(value: str) -> None:
    with pytest.raises(TemplateKeyError, match="generate one with"):
        TemplateCipher.from_setting(value)


def test_error_message_never_contains_the_key() -> None:
    key = base64.urlsafe_b64encode(b"s" * 31).decode()
    with pytest.raises(TemplateKeyError) as info:
        TemplateCipher.from_setting(key)
    assert key not in str(info.value)


def test_fingerprint_identifies_key_without_revealing_it(
    cipher: TemplateCipher, other_cipher: TemplateCipher
) -> None:
    assert len(cipher.fingerprint) == 16
    int(cipher.fingerprint, 16)
    assert cipher.fingerprint != other_cipher.fingerprint
    assert cipher.fingerprint == TemplateCipher(bytes(range(32))).fingerprint
    assert bytes(range(32)).hex()[:16] not in cipher.fingerprint
    assert cipher.fingerprint in repr(cipher)
