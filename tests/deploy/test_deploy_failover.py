"""Failover: an instance is killed (SIGKILL) in the middle of a sign-in and the
session is finished on another instance, through nginx, as the page would do it
(its WebSocket breaks, it reconnects once, nginx routes the session's id to a
live instance, which continues the session from the shared store in Redis).

The person is simulated (a 3D head from a fixture photo following the steps and
colours the server reveals, ``simulation.actors.GenuineActor``), enrolled from
another photo of the same person. Needs the Redis session store: with sessions
kept in the process that created them, the reconnect finds no session."""

from __future__ import annotations

import json
import os
import signal
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from deploy_support import (
    Cluster,
    alive,
    client_address,
    create_session,
    open_stream,
    running_cluster,
    stream_instance,
    wait_for,
)
from sqlalchemy import create_engine, text
from websockets.exceptions import ConnectionClosed

from support import face_path
from veronica.liveness.types import RGB, Action
from veronica.simulation.actors import GenuineActor
from veronica.simulation.adversary import encode_jpeg, parse_action, parse_light

pytestmark = pytest.mark.slow

FPS = 10.0
"""The page's pace."""
SESSION_LIMIT_S = 120.0
"""A session not decided after this long (its TTL is 180 s) fails the test."""
USER = "failover-alice"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("failover")) as running:
        with running.admin() as admin:
            made = admin.post("/api/v1/admin/users", json={"username": USER})
            assert made.status_code == 201, made.text
            photo = face_path("obama", 1)
            files = [("images", (photo.name, photo.read_bytes(), "image/jpeg"))]
            enrolled = admin.post(f"/api/v1/admin/users/{USER}/images", files=files)
            assert enrolled.status_code == 201, enrolled.text
        yield running


def audit_rows(cluster: Cluster, session_id: str) -> list[tuple[str, str, list[Any]]]:
    engine = create_engine(cluster.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT decision, reason, checks FROM audit_events WHERE session_id = :id"),
                {"id": session_id},
            )
            return [(row[0], row[1], json.loads(row[2])) for row in rows]
    finally:
        engine.dispose()


def test_session_survives_the_loss_of_its_instance(cluster: Cluster) -> None:
    with cluster.client(client_address()) as http:
        session = create_session(http, username=USER)
    actor = GenuineActor.from_photo(face_path("obama", 2), seed=7)
    try:
        ws = open_stream(cluster, session)
    except TimeoutError:
        pytest.fail(f"the first WebSocket through nginx did not open:\n{cluster.report()}")
    first = stream_instance(ws)
    killed: tuple[str, int] | None = None
    continued_on = ""
    action: Action | None = None
    light: RGB | None = None
    result: dict[str, Any] | None = None
    start = time.monotonic()
    origin_ms = 2345.0  # performance.now() at the first frame: any origin
    try:
        while result is None:
            captured = time.monotonic()
            real_s = captured - start
            assert real_s < SESSION_LIMIT_S, "no decision in time"
            jpeg = encode_jpeg(actor.frame(real_s, action, light))
            try:
                ws.send(struct.pack("<d", origin_ms + 1000.0 * real_s) + jpeg)
                reply = json.loads(ws.recv(timeout=30))
            except ConnectionClosed:
                # The page's own reaction: reconnect once and go on.
                assert killed is not None and not continued_on, "the stream broke unasked"
                try:
                    ws = open_stream(cluster, session)
                    continued_on = stream_instance(ws)
                except ConnectionClosed as exc:
                    pytest.fail(
                        f"after {killed[0]} was killed the session could not be continued "
                        f"({exc}): is the session store shared (VERONICA_REDIS_URL)?"
                    )
                continue
            assert reply.get("type") == "state", f"after {real_s:.1f} s: {reply}"
            result = reply.get("result")
            action = parse_action(reply.get("action"))
            light = parse_light(reply.get("light"))
            if killed is None and reply.get("phase") == "challenge":
                # Mid-session: positioning done, the first step revealed.
                pid = cluster.instance_pids()[first]
                os.kill(pid, signal.SIGKILL)
                assert wait_for(lambda pid=pid: not alive(pid), timeout_s=10)
                killed = (first, pid)
            pause = captured + 1.0 / FPS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    finally:
        ws.close()
    assert killed is not None, f"the session ended before its challenges: {result}"
    assert continued_on and continued_on != killed[0], (killed, continued_on)
    assert result is not None
    events = audit_rows(cluster, session.id)
    failed = [c for _, _, checks in events for c in checks if not c.get("passed", True)]
    assert result["status"] == "signed_in", (result, failed)
    assert result["username"] == USER
    assert [(decision, reason) for decision, reason, _ in events] == [("accepted", "ok")]
    with cluster.client() as http:
        verified = http.post("/api/v1/auth/tokens/verify", json={"token": result["token"]})
    assert verified.json()["valid"] is True and verified.json()["username"] == USER


def test_up_brings_back_only_the_lost_instance(cluster: Cluster) -> None:
    before = cluster.instance_pids()
    lost = [name for name, pid in before.items() if not alive(pid)]
    kept = {name: pid for name, pid in before.items() if alive(pid)}
    assert len(lost) == 1, before  # the previous test's
    status = cluster.script("status")
    assert (
        status.returncode == 1
        and f"instance {lost[0].removeprefix('veronica-')}: stopped" in status.stdout
    )
    again = cluster.script("up")
    assert again.returncode == 0, cluster.report()
    after = cluster.instance_pids()
    assert all(after[name] == pid for name, pid in kept.items())
    assert alive(after[lost[0]]) and after[lost[0]] != before[lost[0]]
