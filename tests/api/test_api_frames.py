"""POST /api/v1/auth/sessions/{id}/frames: every bad input, and the decisions a
few frames can reach (no face, timeout, liveness failed)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from api_support import (
    COOKIE,
    FakeClock,
    assert_error,
    blank_jpeg,
    fail_by_timeout,
    make_settings,
    manager,
    post_frame,
    running,
    server_session,
    services,
    start,
    timed_frame,
)
from fastapi.testclient import TestClient
from PIL import Image

from support import read
from veronica.pipeline.engine import FaceEngine


def test_a_frame_answers_a_state(api: TestClient) -> None:
    created = start(api)
    response = post_frame(api, created, blank_jpeg(), 0.0)
    assert response.status_code == 200
    assert response.json() == {
        "type": "state", "seq": 1, "phase": "positioning", "action": None, "light": None,
        "hints": ["no_face"], "placed": False, "progress": 0.0, "acknowledged": 0,
        "result": None,
    }  # fmt: skip
    assert response.headers["cache-control"] == "no-store"


def test_placed_face_then_challenge(api: TestClient, positioning_frames: list[bytes]) -> None:
    created = start(api)
    states = [
        timed_frame(api, created, frame, i * 0.1).json()
        for i, frame in enumerate(positioning_frames[:16])
    ]
    assert [s["seq"] for s in states] == list(range(1, 17))
    assert any(s["placed"] for s in states)
    assert states[-1]["phase"] == "challenge"
    assert all(s["result"] is None for s in states)


def test_multipart_frame(api: TestClient) -> None:
    created = start(api)
    response = api.post(
        created["frames_url"],
        files={"frame": ("f.jpg", blank_jpeg(), "image/jpeg")},
        headers={"X-CSRF-Token": created["csrf_token"], "X-Frame-Time": "0"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["seq"] == 1
    missing = api.post(
        created["frames_url"],
        files={"other": ("f.jpg", blank_jpeg(), "image/jpeg")},
        headers={"X-CSRF-Token": created["csrf_token"], "X-Frame-Time": "1"},
    )
    assert_error(missing, 400, "bad_input")


def test_wrong_or_missing_csrf(api: TestClient) -> None:
    created = start(api)
    assert_error(post_frame(api, created, blank_jpeg(), 0, csrf="x" * 43), 403, "csrf_invalid")
    assert_error(post_frame(api, created, blank_jpeg(), 0, csrf=""), 403, "csrf_invalid")
    other = start(api)  # another session's token does not fit this one
    wrong = post_frame(api, created, blank_jpeg(), 0, csrf=other["csrf_token"])
    assert_error(wrong, 403, "csrf_invalid")
    assert server_session(api, created["session_id"]).frames == 0


def test_foreign_or_missing_cookie(api: TestClient) -> None:
    mine, theirs = start(api), start(api)
    foreign = post_frame(api, mine, blank_jpeg(), 0, cookie=theirs["cookie"])
    assert_error(foreign, 403, "session_forbidden")
    api.cookies.clear()
    bare = api.post(
        mine["frames_url"],
        content=blank_jpeg(),
        headers={
            "Content-Type": "image/jpeg",
            "X-CSRF-Token": mine["csrf_token"],
            "X-Frame-Time": "0",
        },
    )
    assert_error(bare, 403, "session_forbidden")


def test_unknown_session(api: TestClient) -> None:
    created = start(api)
    created["frames_url"] = "/api/v1/auth/sessions/no-such-session/frames"
    assert_error(post_frame(api, created, blank_jpeg(), 0), 404, "session_not_found")


def test_oversized_body_is_refused_before_it_is_read(api: TestClient) -> None:
    created = start(api)
    big = b"\xff\xd8\xff" + bytes(300_001)
    assert_error(post_frame(api, created, big, 0), 413, "image_too_large")

    # Streamed without Content-Length: refused once the limit is passed.
    def chunks() -> object:
        for _ in range(10):
            yield bytes(40_000)

    streamed = api.post(
        created["frames_url"],
        content=chunks(),  # type: ignore[arg-type]
        headers={
            "Content-Type": "image/jpeg",
            "X-CSRF-Token": created["csrf_token"],
            "X-Frame-Time": "0",
            "Cookie": f"{COOKIE}={created['cookie']}",
        },
    )
    assert_error(streamed, 413, "image_too_large")


def test_huge_dimensions_are_refused(api: TestClient) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((2000, 4000, 3), np.uint8)).save(buffer, "JPEG", quality=10)
    response = post_frame(api, start(api), buffer.getvalue(), 0)
    assert_error(response, 413, "image_too_large")


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        read("portrait.png"),
        read("truncated.jpg"),
        b"\xff\xd8\xff" + b"x" * 50,
    ],
    ids=["text", "png", "truncated-jpeg", "jpeg-magic-only"],
)
def test_non_jpeg_or_undecodable(api: TestClient, data: bytes) -> None:
    created = start(api)
    assert_error(post_frame(api, created, data, 0), 422, "image_undecodable")
    # One bad frame does not end the session.
    assert post_frame(api, created, blank_jpeg(), 10).status_code == 200


def test_wrong_content_type(api: TestClient) -> None:
    created = start(api)
    response = post_frame(api, created, blank_jpeg(), 0, content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("value", [None, "soon", "nan", "-5", "inf"])
def test_bad_frame_time(api: TestClient, value: str | None) -> None:
    created = start(api)
    headers = {"Content-Type": "image/jpeg", "X-CSRF-Token": created["csrf_token"]}
    if value is not None:
        headers["X-Frame-Time"] = value
    response = api.post(created["frames_url"], content=blank_jpeg(), headers=headers)
    assert_error(response, 400, "frame_time_invalid")


def test_time_must_not_go_back(api: TestClient) -> None:
    created = start(api)
    assert post_frame(api, created, blank_jpeg(), 500).status_code == 200
    assert post_frame(api, created, blank_jpeg(), 500).status_code == 200  # equal is fine
    assert_error(post_frame(api, created, blank_jpeg(), 499), 400, "frame_time_invalid")


def test_expired_session(api: TestClient, clock: FakeClock) -> None:
    created = start(api)
    assert post_frame(api, created, blank_jpeg(), 0).status_code == 200
    clock.advance(180.0)
    assert_error(post_frame(api, created, blank_jpeg(), 100), 410, "session_expired")
    session = server_session(api, created["session_id"])
    assert manager(api).liveness_of(created["session_id"]) is None  # the tracker was released
    assert session.result is not None and session.result.reason.value == "session_expired"
    assert_error(post_frame(api, created, blank_jpeg(), 200), 410, "session_expired")
    events = services(api).audit.recent()  # type: ignore[attr-defined]
    assert [e.event.reason for e in events] == ["session_expired"]
    # Long after, the session is forgotten.
    clock.advance(181.0)
    manager(api).reap()
    assert_error(post_frame(api, created, blank_jpeg(), 300), 404, "session_not_found")


def test_the_reaper_expires_idle_sessions(api: TestClient, clock: FakeClock) -> None:
    created = start(api)
    assert manager(api).active_count() == 1
    clock.advance(181.0)
    assert manager(api).reap() == 1
    assert manager(api).active_count() == 0
    assert_error(post_frame(api, created, blank_jpeg(), 0), 410, "session_expired")


def test_finished_session_is_single_use(api: TestClient) -> None:
    created = start(api)
    state = fail_by_timeout(api, created)
    assert state["phase"] == "decided"
    assert state["result"]["status"] == "refused"
    assert_error(post_frame(api, created, blank_jpeg(), 30_000), 409, "session_finished")


def test_face_placed_then_lost_is_a_timeout(
    api: TestClient, positioning_frames: list[bytes]
) -> None:
    created = start(api)
    for i, frame in enumerate(positioning_frames[:8]):  # placed, but not long enough
        assert timed_frame(api, created, frame, i * 0.1).json()["phase"] == "positioning"
    # Then no face, a frame every 0.5 s (never idle) until the positioning limit.
    limit = manager(api).policy.positioning.timeout_s
    t, state = 1.0, None
    while t <= limit + 0.6:
        state = timed_frame(api, created, blank_jpeg(), t).json()
        if state["result"] is not None:
            break
        t += 0.5
    assert state is not None and state["result"]["reason"] == "timeout"
    assert t > limit  # on the server's clock


def test_a_gap_in_the_frames_ends_the_session_as_inactive(
    api: TestClient, positioning_frames: list[bytes]
) -> None:
    """Frames at t = 0 and t = 20.1 s used to end a session as a positioning
    timeout (a failure on the claimed user): now the gap itself ends it."""
    created = start(api, username="victim")
    assert timed_frame(api, created, positioning_frames[0], 0.0).status_code == 200
    idle = manager(api).config.idle_timeout_s
    late = timed_frame(api, created, positioning_frames[1], idle + 0.1)
    assert_error(late, 409, "session_finished")
    session = server_session(api, created["session_id"])
    assert session.result is not None and session.result.reason.value == "inactive"
    event = services(api).audit.recent()[0].event  # type: ignore[attr-defined]
    assert event.reason == "inactive"
    lockout = manager(api).lockout
    assert lockout.state(["user:victim"]).failures == 0  # not the user's failure
    assert lockout.state([session.address_lock_key]).failures == 1


def test_a_session_that_stops_answering_the_challenge_fails_liveness(
    api: TestClient, positioning_frames: list[bytes]
) -> None:
    created = start(api, username="someone")
    t = 0.0
    for i, frame in enumerate(positioning_frames):
        t = i * 0.1
        if timed_frame(api, created, frame, t).json()["phase"] == "challenge":
            break
    # Then the same face, doing nothing, at 10 frames/s until the script is over.
    state: dict[str, object] = {"result": None}
    while state["result"] is None:
        t += 0.1
        state = timed_frame(api, created, positioning_frames[-1], t).json()
        assert t < 30
    assert state["result"] == {
        "status": "refused", "reason": "liveness_failed", "username": None, "token": None,
    }  # fmt: skip
    event = services(api).audit.recent()[0].event  # type: ignore[attr-defined]
    assert event.reason == "liveness_failed" and event.username == "someone"
    failed = {c.name for c in event.checks if not c.passed}
    assert any(name.startswith("challenge_") for name in failed)


def test_a_claimed_clock_that_runs_slow_is_refused_as_clock_drift(
    api: TestClient, positioning_frames: list[bytes]
) -> None:
    """An offline responder: a real second per frame while claiming 100 ms."""
    created = start(api, username="someone")
    state: dict[str, object] = {"result": None}
    i = 0
    while state["result"] is None:
        manager(api).clock.now += 1.0  # type: ignore[attr-defined]
        state = post_frame(api, created, positioning_frames[i], i * 100.0).json()
        i += 1
        assert i < 10
    assert state["result"]["reason"] == "clock_drift"  # type: ignore[index]
    assert i == 2  # the second frame is already 0.9 s out
    event = services(api).audit.recent()[0].event  # type: ignore[attr-defined]
    (clock,) = [c for c in event.checks if c.name == "clock_drift"]
    assert not clock.passed and "claimed 0.100 s" in clock.detail
    assert "arrived over 1.000 s" in clock.detail


def test_frame_rate_limit(tmp_path: Path, face_engine: FaceEngine, clock: FakeClock) -> None:
    settings = make_settings(tmp_path / "d", max_frame_rate=2.0)
    with running(settings, face_engine, clock) as client:
        created = start(client)
        for i in range(4):  # 2 fps over the 2 s window
            assert post_frame(client, created, blank_jpeg(), i * 10.0).status_code == 200
        refused = post_frame(client, created, blank_jpeg(), 50.0)
        assert_error(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        clock.advance(2.0)
        assert post_frame(client, created, blank_jpeg(), 60.0).status_code == 200


def test_a_frame_arriving_while_one_is_processed_is_skipped(api: TestClient) -> None:
    created = start(api)
    assert post_frame(api, created, blank_jpeg(), 0).json()["seq"] == 1
    store = manager(api).store
    held, release = threading.Event(), threading.Event()

    def busy() -> None:  # stands for a frame still in the pipeline
        with store.lock(created["session_id"], 10.0) as taken:
            assert taken
            held.set()
            release.wait(10)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        assert held.wait(10)
        skipped = post_frame(api, created, blank_jpeg(), 100)
        assert skipped.status_code == 200
        assert skipped.json()["seq"] == 1  # unchanged: this frame was dropped
    finally:
        release.set()
        worker.join()
    assert post_frame(api, created, blank_jpeg(), 200).json()["seq"] == 2
    assert server_session(api, created["session_id"]).frames == 2
