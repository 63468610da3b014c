"""A migrated SQLite database per test, for the primitives backed by the database;
the machine's Redis under a prefix of the test's own, and a Redis of the test's own
(``redis_support``), for the shared-state stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from veronica.storage import make_engine, upgrade_database


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'veronica.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
