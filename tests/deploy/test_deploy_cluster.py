"""The local cluster of ``scripts/cluster.sh``: nginx with TLS in front of two
production-mode instances on PostgreSQL and Redis, as a browser reaches it.

One cluster for the module (its own ports, database and Redis key prefix),
purged at the end; the last test stops it with ``down`` and checks that no
process it started is left."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy_support import (
    SESSIONS,
    UPSTREAM,
    Cluster,
    alive,
    client_address,
    create_session,
    open_stream,
    routed_to,
    running_cluster,
    send_frame,
    stream_instance,
    wait_for,
)
from sqlalchemy import create_engine, text

from support import face_path

pytestmark = pytest.mark.slow

SETTINGS = {
    # A session without frames ends `inactive` after this (the XFF test reads the
    # audit event it leaves); the app's minimum is 1 s.
    "VERONICA_FIRST_FRAME_TIMEOUT_S": "2",
}
HSTS = "max-age=31536000"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("deploy"), extra=SETTINGS) as running:
        yield running


def test_http_redirects_to_https(cluster: Cluster) -> None:
    with httpx.Client(trust_env=False, timeout=10) as plain:
        response = plain.get(f"http://127.0.0.1:{cluster.http_port}/readyz?from=http")
    assert response.status_code == 301
    assert response.headers["location"] == f"{cluster.url}/readyz?from=http"


def test_tls_is_verified_with_the_generated_ca(cluster: Cluster) -> None:
    for host in ("127.0.0.1", "localhost"):  # both names are in the certificate
        with cluster.client() as http:
            response = http.get(f"https://{host}:{cluster.https_port}/healthz")
        assert response.status_code == 200
    # Without the cluster's CA the certificate is not trusted.
    with (
        httpx.Client(trust_env=False, timeout=10) as untrusting,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        untrusting.get(f"{cluster.url}/healthz")


def test_readyz_and_hsts_through_nginx(cluster: Cluster) -> None:
    with cluster.client() as http:
        ready = http.get("/readyz")
        # A body over nginx's limit is refused by nginx itself: HSTS is there too.
        too_big = http.post(
            SESSIONS, content=b"x" * 64_000, headers={"Content-Type": "application/json"}
        )
        # Between the app's limit (16 KiB) and nginx's (32 KiB): the app's own answer.
        app_limit = http.post(
            SESSIONS, content=b"x" * 20_000, headers={"Content-Type": "application/json"}
        )
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.headers[UPSTREAM] in ("veronica-1", "veronica-2")
    assert too_big.status_code == 413 and UPSTREAM not in too_big.headers
    assert app_limit.status_code == 413 and app_limit.json()["error"]["code"] == "body_too_large"
    for response in (ready, too_big, app_limit):
        assert response.headers.get_list("strict-transport-security") == [HSTS]


def test_requests_of_one_session_id_go_to_one_instance(cluster: Cluster) -> None:
    ids = [secrets.token_urlsafe(18) for _ in range(24)]
    seen: dict[str, set[str]] = {}
    with cluster.client() as http:
        for session_id in ids:
            for _ in range(3):
                seen.setdefault(session_id, set()).add(routed_to(http, session_id))
        spread = {http.get("/healthz").headers[UPSTREAM] for _ in range(24)}
    assert all(len(instances) == 1 for instances in seen.values()), seen
    # Different sessions are spread over both instances, and so are requests
    # without a session id (at random: all 24 on one instance has odds 2^-23).
    assert set().union(*seen.values()) == {"veronica-1", "veronica-2"}
    assert spread == {"veronica-1", "veronica-2"}


def test_websocket_hello_and_a_frame_through_nginx(cluster: Cluster) -> None:
    """A session whose creating instance is also where its id routes (so this test
    needs no shared session store: the failover test covers that)."""
    jpeg = face_path("obama", 1).read_bytes()
    session = None
    for _ in range(8):  # each try 1/2; a fresh address each, as abandoned ones count
        with cluster.client(client_address()) as http:
            made = create_session(http)
            if routed_to(http, made.id) == made.created_by:
                session = made
                break
    assert session is not None, "8 sessions in a row were created away from their route"
    ws = open_stream(cluster, session)
    try:
        assert stream_instance(ws) == session.created_by
        state = send_frame(ws, 1234.5, jpeg)
    finally:
        ws.close()
    assert state["type"] == "state", state
    assert state["seq"] >= 1 and state["phase"] == "positioning"


def test_client_x_forwarded_for_is_not_trusted(cluster: Cluster) -> None:
    """The app keys limits and audit on the address nginx saw, whatever the client
    claims: the audit event of the session says so."""
    address = client_address()
    with cluster.client(address) as http:
        response = http.post(
            SESSIONS,
            json={},
            headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.8"},
        )
    assert response.status_code == 201, response.text
    session_id = response.json()["session_id"]
    engine = create_engine(cluster.database_url)
    try:

        def recorded() -> list[str | None]:
            with engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT client_ip FROM audit_events WHERE session_id = :id"),
                    {"id": session_id},
                )
                return [row[0] for row in rows]

        # No frame: the session ends `inactive` after the first-frame timeout (2 s)
        # and the sweep (every second) records it.
        assert wait_for(lambda: bool(recorded()), timeout_s=30), cluster.log_tail()
        assert recorded() == [address]
    finally:
        engine.dispose()


def test_up_twice_starts_no_duplicates(cluster: Cluster) -> None:
    before = cluster.processes()
    again = cluster.script("up")
    assert again.returncode == 0, cluster.report()
    assert cluster.instance_pids() == {k: v for k, v in before.items() if k.startswith("veronica-")}
    assert cluster.pid("nginx") == before["nginx"]
    assert "already runs" in again.stdout


def test_down_leaves_no_process(cluster: Cluster) -> None:
    started = cluster.processes()
    assert {"nginx", "veronica-1", "veronica-2"} <= set(started)
    assert any(name.startswith("nginx-worker") for name in started)
    assert all(alive(pid) for pid in started.values())
    down = cluster.script("down", timeout=120)
    assert down.returncode == 0, cluster.report()
    assert [name for name, pid in started.items() if alive(pid)] == []
    assert not any((cluster.dir / "run").glob("*.pid"))
    status = cluster.script("status")
    assert status.returncode == 3 and "nginx: stopped" in status.stdout
    with cluster.client() as http, pytest.raises((httpx.ConnectError, ssl.SSLError)):
        http.get("/healthz")


def test_settings_are_checked_before_anything_starts(tmp_path: Path, cluster: Cluster) -> None:
    """A bad setting is one line and a non-zero exit, and nothing is created."""
    env = {**cluster.env, "VERONICA_CLUSTER_DIR": str(tmp_path / "other")}
    for name, value in (
        ("VERONICA_CLUSTER_INSTANCES", "1"),
        ("VERONICA_CLUSTER_DB", "x; DROP DATABASE postgres"),
        ("VERONICA_CLUSTER_REDIS_PREFIX", "*"),
        ("VERONICA_CLUSTER_HTTPS_PORT", "70000"),
    ):
        bad = Cluster(tmp_path / "other", {**env, name: value}, 0, 0, [0], "", "")
        done = bad.script("up", timeout=60)
        assert done.returncode != 0 and name in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()
