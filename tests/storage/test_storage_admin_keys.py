"""The admin_keys table on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from veronica.errors import AdminKeyExistsError, AdminKeyNotFoundError, BadInputError
from veronica.storage import make_engine, upgrade_database
from veronica.storage.admin_keys import AdminKeyTable

HASH_A, HASH_B = "a" * 64, "b" * 64


def test_insert_find_revoke(engine: Engine) -> None:
    table = AdminKeyTable(engine)
    record = table.insert("ops", HASH_A)
    assert record.label == "ops" and record.active
    assert table.is_active(HASH_A)
    assert not table.is_active(HASH_B)
    table.revoke("ops")
    assert not table.is_active(HASH_A)
    (listed,) = table.list()
    assert listed.revoked_at is not None and listed.revoked_at >= listed.created_at


def test_duplicate_hash_is_refused(engine: Engine) -> None:
    table = AdminKeyTable(engine)
    table.insert("ops", HASH_A)
    with pytest.raises(AdminKeyExistsError):
        table.insert("ci", HASH_A)


def test_malformed_hash_is_refused(engine: Engine) -> None:
    with pytest.raises(BadInputError):
        AdminKeyTable(engine).insert("ops", "short")


def test_revoking_an_unknown_label(engine: Engine) -> None:
    with pytest.raises(AdminKeyNotFoundError):
        AdminKeyTable(engine).revoke("ops")


@pytest.mark.postgres
def test_admin_keys_on_postgres(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    engine = make_engine(postgres_url)
    try:
        table = AdminKeyTable(engine)
        table.insert("ops", HASH_A)
        with pytest.raises(AdminKeyExistsError):
            table.insert("ops", HASH_B)
        assert table.is_active(HASH_A)
        table.revoke("ops")
        assert not table.is_active(HASH_A)
        assert table.list()[0].revoked_at is not None
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM admin_keys")).scalar() == 1
    finally:
        engine.dispose()
