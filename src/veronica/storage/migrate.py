"""Run the packaged Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from veronica.errors import ConfigurationError
from veronica.storage.db import make_engine, sqlite_file_path

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

Target = str | Engine | Connection
"""A database URL, an Engine, or an open Connection."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic Config pointing at the packaged migrations, optionally with a URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolates '%'; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigurationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _sqlite_foreign_keys(connection: Connection, enabled: bool | None = None) -> bool:
    """Read (and optionally set) PRAGMA foreign_keys outside any transaction."""
    driver = connection.connection.driver_connection
    if driver is None:
        raise ConfigurationError("SQLite connection has no driver connection")
    if enabled is not None:
        driver.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
    return bool(driver.execute("PRAGMA foreign_keys").fetchone()[0])


@contextmanager
def _migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection with SQLite foreign keys off for the migration, restored afterwards.

    SQLite batch migrations drop and recreate tables; with foreign keys on, dropping a
    parent table would cascade-delete its children.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        previous = _sqlite_foreign_keys(connection)
        _sqlite_foreign_keys(connection, False)
        try:
            yield connection
        finally:
            connection.rollback()  # no-op after a commit; PRAGMA needs no open transaction
            _sqlite_foreign_keys(connection, previous)


def upgrade_database(url: Target, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` (default: the newest).

    ``url`` may be a URL string, an Engine, or an open Connection. With a Connection that
    already has a transaction open, the caller commits; otherwise the migration commits.
    """
    config = alembic_config(url if isinstance(url, str) else None)
    if isinstance(url, Connection):
        config.attributes["connection"] = url
        command.upgrade(config, revision)
        return
    if isinstance(url, Engine):
        with _migration_connection(url) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        return
    command.upgrade(config, revision)
    logger.info("database schema upgraded to %s", revision)


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: Target) -> str | None:
    """The schema revision recorded in the database, or None if it was never migrated."""
    if isinstance(url, Connection):
        return _revision_of(url)
    if isinstance(url, Engine):
        with url.connect() as connection:
            return _revision_of(connection)
    path = sqlite_file_path(url)
    if path is not None and not path.exists():
        return None  # don't create an empty database file just to look at it
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return _revision_of(connection)
    finally:
        engine.dispose()
