"""Packaged Alembic migrations on SQLite files and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from veronica.errors import TemplateKeyError
from veronica.storage import (
    TemplateCipher,
    TemplateStore,
    current_revision,
    head_revision,
    make_engine,
    upgrade_database,
)
from veronica.storage.migrate import alembic_config
from veronica.storage.orm import Base

INITIAL_TABLES = {"users", "templates", "enrollment_images", "key_check", "alembic_version"}
SECURITY_TABLES = {"admin_keys", "enrollment_links", "audit_events", "audit_images"}
OIDC_TABLES = {"oidc_clients"}
TABLES = INITIAL_TABLES | SECURITY_TABLES | OIDC_TABLES


def _schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_head_is_the_oidc_revision() -> None:
    assert head_revision() == "0003"


def _user_names(engine: Engine) -> list[str]:
    # Raw SQL: the ORM's User has the columns of the newest revision only.
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT name FROM users ORDER BY name"))]


def _add_user(engine: Engine, name: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (name, created_at) VALUES (:name, :at)"),
            {"name": name, "at": "2025-01-01 00:00:00"},
        )


def test_upgrade_creates_tables_on_a_new_sqlite_file(sqlite_url: str, db_path: Path) -> None:
    assert not db_path.parent.exists()
    assert current_revision(sqlite_url) is None
    assert not db_path.exists(), "looking at the revision must not create the file"

    upgrade_database(sqlite_url)

    assert db_path.exists()
    assert current_revision(sqlite_url) == head_revision()
    engine = make_engine(sqlite_url)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert _schema_diff(engine) == [], "ORM models and migrations disagree"
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    upgrade_database(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()


def test_upgrade_with_an_existing_engine_restores_foreign_keys(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        upgrade_database(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_upgrade_with_an_open_connection(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url, foreign_keys=False)
    try:
        with engine.connect() as connection:
            upgrade_database(connection)
            connection.commit()
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        engine.dispose()


def test_downgrade_then_upgrade(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    command.downgrade(alembic_config(sqlite_url), "base")
    assert current_revision(sqlite_url) is None
    upgrade_database(sqlite_url)
    assert current_revision(sqlite_url) == head_revision()


def test_security_tables_come_and_go_with_revision_0002(sqlite_url: str) -> None:
    """A database at 0001 (users with templates) gains the tables, and loses only them."""
    upgrade_database(sqlite_url, "0001")
    engine = make_engine(sqlite_url)
    try:
        _add_user(engine, "ada")
        assert set(inspect(engine).get_table_names()) == INITIAL_TABLES
        upgrade_database(sqlite_url, "0002")
        assert set(inspect(engine).get_table_names()) == INITIAL_TABLES | SECURITY_TABLES
        assert _user_names(engine) == ["ada"]
        command.downgrade(alembic_config(sqlite_url), "0001")
        assert current_revision(sqlite_url) == "0001"
        assert set(inspect(engine).get_table_names()) == INITIAL_TABLES
        assert _user_names(engine) == ["ada"]
    finally:
        engine.dispose()


def test_revision_0003_gives_existing_users_distinct_subjects(sqlite_url: str) -> None:
    """Users enrolled before OpenID Connect get a random, unique ``sub`` each."""
    upgrade_database(sqlite_url, "0002")
    engine = make_engine(sqlite_url)
    try:
        for name in ("ada", "bob", "cy"):
            _add_user(engine, name)
        upgrade_database(sqlite_url)
        store = TemplateStore(engine, TemplateCipher(bytes(range(32))))
        users = store.list_users()
        subjects = {u.subject for u in users}
        assert len(subjects) == 3 and all(len(s) >= 20 for s in subjects)
        assert store.user_by_subject(users[0].subject) == users[0]
        assert set(inspect(engine).get_table_names()) == TABLES
        assert _schema_diff(engine) == []
        command.downgrade(alembic_config(sqlite_url), "0002")
        assert "subject" not in {c["name"] for c in inspect(engine).get_columns("users")}
        assert _user_names(engine) == ["ada", "bob", "cy"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_on_postgres(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    upgrade_database(postgres_url)  # idempotent
    assert current_revision(postgres_url) == head_revision()
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            assert isinstance(schema, str) and schema.startswith("veronica_test_")
        assert set(inspect(engine).get_table_names()) == TABLES
        assert _schema_diff(engine) == [], "ORM models and migrations disagree"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_store_round_trip_on_postgres(postgres_url: str, cipher: TemplateCipher) -> None:
    upgrade_database(postgres_url)
    engine = make_engine(postgres_url)
    try:
        store = TemplateStore(engine, cipher)
        store.check_key()
        store.create_user("Zoë")
        vector = np.random.default_rng(1).standard_normal(512).astype(np.float32)
        store.add_template("Zoë", vector, "m", 0.8, keep_image=b"image")
        users = store.list_users()
        assert [(u.name, u.template_count) for u in users] == [("Zoë", 1)]
        assert users[0].created_at.utcoffset() is not None
        gallery = store.gallery("m")
        assert gallery.names == ("Zoë",)
        assert np.allclose(gallery.matrix[0], vector / np.linalg.norm(vector), atol=1e-6)
        assert store.delete_user("Zoë") == 1
        with engine.connect() as connection:
            for table in ("users", "templates", "enrollment_images"):
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
        with pytest.raises(TemplateKeyError, match="does not match"):
            TemplateStore(engine, TemplateCipher(b"\xff" * 32)).check_key()
    finally:
        engine.dispose()
