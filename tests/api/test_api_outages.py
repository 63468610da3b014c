"""Outages of Redis and PostgreSQL through the real app: clear 503s with stable codes
while a service is gone, nothing half-written, and full recovery without a restart;
and the one-time use of result tokens that Redis shares between instances.

Redis: a ``redis-server`` of the test's own (``redis_support.RedisServer``, AOF),
stopped and started by the test; the machine's Redis is never touched.
PostgreSQL: a database created for the test on the machine's server, whose
connections are terminated (``pg_terminate_backend``) and then refused
(``ALLOW_CONNECTIONS false``); dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import ADMIN, OWN, assert_error, make_settings, running, services, start
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from redis_support import RedisServer
from support import unavailable
from veronica.pipeline.engine import FaceEngine
from veronica.security.tokens import ResultSigner, generate_signing_key

VERIFY = "/api/v1/auth/tokens/verify"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _token(client: TestClient, session_id: str) -> str:
    """A result token signed by the app's own key, as a sign-in would issue it."""
    return services(client).signer.sign(
        subject="alice",
        purpose="login",
        checks=["challenge", "match"],
        session_id=session_id,
        issuer=OWN,
        audience=OWN,  # as for the service's own result page
    )


def _verify(client: TestClient, token: str) -> Any:
    return client.post(VERIFY, json={"token": token})


def _retry_after(response: Any) -> int:
    return int(response.headers["retry-after"])


def test_redis_outage_answers_503_state_unavailable_and_recovers(
    tmp_path: Path, face_engine: FaceEngine, redis_server: RedisServer
) -> None:
    settings = make_settings(tmp_path / "data", redis_url=redis_server.url)
    with running(settings, face_engine) as api:
        assert api.get("/readyz").status_code == 200
        created = start(api, username="alice")
        used, unused = _token(api, "sid-used"), _token(api, "sid-unused")
        assert _verify(api, used).json()["valid"] is True
        lockout = services(api).lockout
        for _ in range(2):
            lockout.record_failure(["user:bob"])

        redis_server.stop()
        assert api.get("/healthz").status_code == 200  # the process is fine: no restart
        ready = api.get("/readyz")
        assert_error(ready, 503, "redis_unavailable")
        refused = api.post("/api/v1/auth/sessions", json={"username": "alice"})
        assert_error(refused, 503, "state_unavailable")
        assert _retry_after(refused) >= 1
        frame = api.post(
            created["frames_url"],
            content=b"\xff\xd8\xff",
            headers={
                "Content-Type": "image/jpeg",
                "X-CSRF-Token": created["csrf_token"],
                "X-Frame-Time": "100.0",
                "Cookie": f"veronica_session={created['cookie']}",
            },
        )
        assert_error(frame, 503, "state_unavailable")
        assert_error(_verify(api, unused), 503, "state_unavailable")
        with api.websocket_connect(created["stream_url"], headers={"origin": OWN}) as ws:
            message = ws.receive_json()
        assert (message["type"], message["code"]) == ("error", "state_unavailable")

        redis_server.start()
        assert api.get("/readyz").status_code == 200
        # Nothing was half-written during the outage: the token that could not be
        # marked used is still good once, and nothing was lost across the restart.
        assert _verify(api, unused).json()["valid"] is True
        assert _verify(api, unused).json() == {"valid": False, "reason": "token already used"}
        assert _verify(api, used).json() == {"valid": False, "reason": "token already used"}
        assert lockout.state(["user:bob"]).failures == 2
        assert services(api).sessions.store.get(created["session_id"]) is not None
        assert start(api, username="alice")["session_id"]


def test_the_app_starts_without_redis_and_serves_once_it_is_up(
    tmp_path: Path, face_engine: FaceEngine, redis_server: RedisServer
) -> None:
    redis_server.stop()
    settings = make_settings(tmp_path / "data", redis_url=redis_server.url)
    with running(settings, face_engine) as api:  # nothing connects at start-up
        assert_error(api.get("/readyz"), 503, "redis_unavailable")
        refused = api.post("/api/v1/auth/sessions", json={"username": "alice"})
        assert_error(refused, 503, "state_unavailable")
        redis_server.start()
        assert api.get("/readyz").status_code == 200
        assert start(api, username="alice")["session_id"]


def test_a_token_verifies_once_across_instances(
    tmp_path: Path, face_engine: FaceEngine, redis_server: RedisServer
) -> None:
    """Two app instances on one Redis: the second refuses what the first accepted."""
    shared = {"redis_url": redis_server.url, "signing_key_path": tmp_path / "signing.pem"}
    first_settings = make_settings(tmp_path / "one", **shared)
    second_settings = make_settings(tmp_path / "two", **shared)
    with running(first_settings, face_engine) as one, running(second_settings, face_engine) as two:
        token = _token(one, "sid-shared")
        assert _verify(two, token).json()["valid"] is True
        assert _verify(one, token).json() == {"valid": False, "reason": "token already used"}


def test_a_token_verifies_once_in_process(tmp_path: Path, face_engine: FaceEngine) -> None:
    """The default (no Redis): one instance remembers; a forged token carrying a real
    token's jti does not spend it (the signature is checked first)."""
    with running(make_settings(tmp_path / "data"), face_engine) as api:
        token = _token(api, "sid-1")
        forged = ResultSigner(generate_signing_key()).sign(
            subject="alice", purpose="login", checks=["match"], session_id="sid-1", issuer=OWN
        )
        assert _verify(api, forged).json()["valid"] is False
        assert _verify(api, token).json()["valid"] is True
        assert _verify(api, token).json() == {"valid": False, "reason": "token already used"}


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def postgres_database() -> Iterator[tuple[str, str, Engine]]:
    """(URL of a fresh database, its name, an AUTOCOMMIT engine on the server's
    ``test`` database to terminate and refuse its connections); dropped after."""
    base = make_url(os.environ.get("VERONICA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"veronica_outage_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable ({str(exc.orig).strip().splitlines()[0]})")
    try:
        yield base.set(database=name).render_as_string(hide_password=False), name, admin
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _terminate(admin: Engine, name: str) -> int:
    with admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        ).scalar_one()
    return int(killed)


def _create_user(api: TestClient, name: str) -> None:
    response = api.post("/api/v1/admin/users", json={"username": name}, headers=ADMIN)
    assert response.status_code == 201, response.text


def _users(api: TestClient) -> list[str]:
    response = api.get("/api/v1/admin/users", headers=ADMIN)
    assert response.status_code == 200, response.text
    return [user["username"] for user in response.json()["users"]]


@pytest.mark.postgres
def test_dropped_database_connections_are_replaced_transparently(
    tmp_path: Path, face_engine: FaceEngine, postgres_database: tuple[str, str, Engine]
) -> None:
    url, name, admin = postgres_database
    with running(make_settings(tmp_path / "data", database_url=url), face_engine) as api:
        _create_user(api, "alice")
        assert _terminate(admin, name) >= 1  # the pool's idle connection is now dead
        assert _users(api) == ["alice"]  # pre-ping noticed and reconnected
        assert api.get("/readyz").status_code == 200


@pytest.mark.postgres
def test_database_outage_answers_503_database_unavailable_and_recovers(
    tmp_path: Path, face_engine: FaceEngine, postgres_database: tuple[str, str, Engine]
) -> None:
    url, name, admin = postgres_database
    with running(make_settings(tmp_path / "data", database_url=url), face_engine) as api:
        _create_user(api, "alice")
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        _terminate(admin, name)

        listed = api.get("/api/v1/admin/users", headers=ADMIN)
        assert_error(listed, 503, "database_unavailable")
        assert _retry_after(listed) >= 1
        created = api.post("/api/v1/admin/users", json={"username": "bob"}, headers=ADMIN)
        assert_error(created, 503, "database_unavailable")
        assert_error(api.get("/readyz"), 503, "database_unavailable")
        assert api.get("/healthz").status_code == 200

        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        assert api.get("/readyz").status_code == 200
        assert _users(api) == ["alice"]  # bob's refused creation left nothing behind
        _create_user(api, "bob")
        assert _users(api) == ["alice", "bob"]
