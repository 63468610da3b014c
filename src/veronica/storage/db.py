"""Engine and session construction for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for a lock before "database is locked".

Enrollment writes are rare and short, so 5 s absorbs any realistic contention while
still failing visibly if something holds the lock indefinitely.
"""


SQLITE_BEGIN_OPTION = "veronica_sqlite_begin"
"""Execution option naming the SQLite BEGIN mode ("DEFERRED" or "IMMEDIATE").

Write transactions ask for IMMEDIATE: a deferred transaction that reads and then
writes cannot wait for the lock (SQLite fails it at once with "database is locked"),
while BEGIN IMMEDIATE takes the write lock up front and honours the busy timeout.
Ignored on other databases.
"""
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE"})


def sqlite_file_path(url: str) -> Path | None:
    """Path of the SQLite database file, or None for in-memory / non-SQLite URLs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _install_sqlite_hooks(engine: Engine, *, foreign_keys: bool, wal: bool) -> None:
    """Per-connection PRAGMAs and real BEGINs for the sqlite3 driver.

    sqlite3's legacy transaction mode does not BEGIN before SELECT or DDL, which breaks
    "a failure leaves the DB unchanged" for migrations; SQLAlchemy's documented recipe is
    to disable the driver's BEGIN and emit our own.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit until we emit BEGIN
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMAs must run outside a transaction or they are silently ignored.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            if wal:
                # WAL lets the login path read while an enrollment writes.
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (vs. a bug or a
    constraint, which stay errors): refused or lost connections, a terminated
    backend, a full pool, SQLite's "database is locked" after the busy timeout."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,
    )


def make_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """Create an Engine for ``url``.

    For SQLite files the parent folder is created, and every connection gets WAL,
    ``foreign_keys`` (so ON DELETE CASCADE works) and a busy timeout. ``foreign_keys``
    is only switched off by migrations: SQLite batch migrations recreate tables, and
    with foreign keys on, dropping the old parent table would cascade-delete children.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pre_ping: a restarted PostgreSQL should cost one retry, not a failed login.
        return create_engine(url, pool_pre_ping=True)
    path = sqlite_file_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    _install_sqlite_hooks(engine, foreign_keys=foreign_keys, wal=path is not None)
    logger.debug("SQLite engine for %s", path if path is not None else "in-memory database")
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values after commit (records outlive the session)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
