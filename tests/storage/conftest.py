"""Fixtures: ciphers, a migrated SQLite store per test, and a throwaway PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from postgres_support import fresh_schema
from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database


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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh, uniquely named schema (search_path set), dropped afterwards."""
    with fresh_schema() as url:
        yield url
