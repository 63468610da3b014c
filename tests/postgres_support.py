"""PostgreSQL for the tests: a throwaway schema on the machine's server
(``VERONICA_TEST_POSTGRES_URL``, default the ``test`` database on 127.0.0.1:5432).
Unreachable: skipped locally, failed with CI=true (``support.unavailable``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from support import unavailable

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_CONNECT_TIMEOUT_S = 3


@contextmanager
def fresh_schema() -> Iterator[str]:
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
        first = str(exc.orig).strip().splitlines()[0]
        unavailable(f"PostgreSQL not reachable ({first}); set VERONICA_TEST_POSTGRES_URL")
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
