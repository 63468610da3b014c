"""Admin API keys: shown once, stored hashed, revocable; the development key."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import Engine, text

from veronica.errors import AdminKeyExistsError, AdminKeyNotFoundError, BadInputError
from veronica.security.apikeys import AdminKeys, generate_admin_key, hash_admin_key


def test_generated_keys_are_prefixed_and_256_bit() -> None:
    keys = {generate_admin_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"vra_[A-Za-z0-9_-]{43}", key)


def test_hash_is_sha256_hex() -> None:
    assert hash_admin_key("vra_x") == hashlib.sha256(b"vra_x").hexdigest()


def test_created_key_verifies_and_only_its_hash_is_stored(engine: Engine) -> None:
    keys = AdminKeys(engine, dev_key=None)
    key = keys.create("ops")
    assert keys.verify(key)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT label, key_hash FROM admin_keys")).all()
    assert rows == [("ops", hash_admin_key(key))]
    raw = engine.url.database
    assert raw is not None
    with open(raw, "rb") as handle:
        assert key.encode() not in handle.read()


@pytest.mark.parametrize("presented", [None, "", "vra_wrong", "x" * 10_000])
def test_wrong_keys_fail(engine: Engine, presented: str | None) -> None:
    keys = AdminKeys(engine, dev_key=None)
    keys.create("ops")
    assert not keys.verify(presented)


def test_revoked_key_fails(engine: Engine) -> None:
    keys = AdminKeys(engine, dev_key=None)
    key, other = keys.create("ops"), keys.create("ci")
    keys.revoke("ops")
    assert not keys.verify(key)
    assert keys.verify(other)
    records = {r.label: r for r in keys.list()}
    assert not records["ops"].active and records["ops"].revoked_at is not None
    assert records["ci"].active
    with pytest.raises(AdminKeyNotFoundError):
        keys.revoke("ops")
    with pytest.raises(AdminKeyNotFoundError) as info:
        keys.revoke("nobody")
    assert info.value.status == 404


def test_labels_are_unique(engine: Engine) -> None:
    keys = AdminKeys(engine, dev_key=None)
    keys.create("ops")
    with pytest.raises(AdminKeyExistsError):
        keys.create(" ops ")
    assert [r.label for r in keys.list()] == ["ops"]


@pytest.mark.parametrize("label", ["", "   ", "x" * 65, "a\nb"])
def test_bad_labels_are_refused(engine: Engine, label: str) -> None:
    with pytest.raises(BadInputError):
        AdminKeys(engine, dev_key=None).create(label)


def test_development_key_needs_no_database_row(engine: Engine) -> None:
    keys = AdminKeys(engine, dev_key="dev-secret")
    assert keys.verify("dev-secret")
    assert not keys.verify("dev-secre")
    assert not keys.verify("dev-secret ")
    assert keys.list() == []


def test_empty_development_key_is_no_key(engine: Engine) -> None:
    assert not AdminKeys(engine, dev_key="").verify("")


def test_list_is_in_creation_order(engine: Engine) -> None:
    keys = AdminKeys(engine, dev_key=None)
    for label in ("b", "a", "c"):
        keys.create(label)
    records = keys.list()
    assert [r.label for r in records] == ["b", "a", "c"]
    assert all(r.created_at.utcoffset() is not None for r in records)
