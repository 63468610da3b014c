"""Fixtures: ciphers, a migrated SQLite store per test, and a throwaway PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_CONNECT_TIMEOUT_S = 3


@pytest.fixture
def cipher() -> TemplateCipher:
    return TemplateCipher(bytes(range(32)))


@pytest.fixture
def other_cipher() -> TemplateCipher:
    return TemplateCipher(bytes(range(1, 33)))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "veronica.db"


@pytest.fixture
def sqlite_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine, cipher: TemplateCipher) -> TemplateStore:
    return TemplateStore(engine, cipher)


def _postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL not reachable ({reason}); set VERONICA_TEST_POSTGRES_URL"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named schema (search_path set), dropped afterwards."""
    base = make_url(os.environ.get("VERONICA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = create_engine(
        base,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )
    schema = f"veronica_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        _postgres_unavailable(str(exc.orig).strip().splitlines()[0])
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
