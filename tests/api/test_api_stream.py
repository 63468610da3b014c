"""The WebSocket stream: origin, cookie, hello, frame format, and a whole
1:N sign-in of a simulated person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import (
    ACTOR_PHOTO,
    COOKIE,
    ENROLL_PHOTOS,
    OWN,
    RELYING,
    FakeClock,
    blank_jpeg,
    drive_ws,
    enroll_photos,
    genuine_actor,
    make_settings,
    manager,
    running,
    services,
    start,
    ws_frame,
)
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from support import face_path
from veronica.pipeline.engine import FaceEngine

STREAM = "/api/v1/auth/sessions/{}/stream"


def connect(
    client: TestClient, created: dict[str, Any], origin: str | None = OWN, **kw: Any
) -> Any:
    headers = {"Cookie": f"{COOKIE}={kw.get('cookie', created['cookie'])}"}
    if origin is not None:
        headers["Origin"] = origin
    return client.websocket_connect(STREAM.format(created["session_id"]), headers=headers)


def hello(ws: Any, created: dict[str, Any]) -> None:
    ws.send_json({"type": "hello", "csrf_token": created["csrf_token"]})


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null", "http://127.0.0.1:9999"])
def test_foreign_origin_is_closed_1008(api: TestClient, origin: str | None) -> None:
    created = start(api)
    with pytest.raises(WebSocketDisconnect) as closed, connect(api, created, origin=origin) as ws:
        ws.receive_text()
    assert closed.value.code == 1008


def test_allowed_origins_connect(api: TestClient) -> None:
    for origin in (OWN, RELYING):
        created = start(api)
        with connect(api, created, origin=origin) as ws:
            hello(ws, created)
            ws.send_bytes(ws_frame(0.0, blank_jpeg()))
            assert ws.receive_json()["hints"] == ["no_face"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "hello", "csrf_token": "wrong"},
        {"type": "hello"},
        {"type": "hi", "csrf_token": None},
    ],
)
def test_wrong_hello_is_closed_csrf_invalid(api: TestClient, message: dict[str, Any]) -> None:
    created = start(api)
    if message.get("type") == "hi":
        message["csrf_token"] = created["csrf_token"]  # right token, wrong message type
    with connect(api, created) as ws:
        ws.send_json(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "csrf_invalid")


def test_frame_before_hello_is_refused(api: TestClient) -> None:
    created = start(api)
    with connect(api, created) as ws:
        ws.send_bytes(ws_frame(0.0, blank_jpeg()))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1008, "csrf_invalid")


def expect_error(ws: Any, code: str) -> None:
    message = ws.receive_json()
    assert message["type"] == "error" and message["code"] == code, message
    assert isinstance(message["message"], str) and message["message"]
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 1008


def test_foreign_cookie_gets_an_error_then_close(api: TestClient) -> None:
    mine, theirs = start(api), start(api)
    with connect(api, mine, cookie=theirs["cookie"]) as ws:
        expect_error(ws, "session_forbidden")


def test_unknown_session(api: TestClient) -> None:
    created = start(api)
    created["session_id"] = "nope"
    with connect(api, created) as ws:
        expect_error(ws, "session_not_found")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x00" * 8, "bad_input"),  # a time and no image
        (ws_frame(0.0, b"GIF89a not a jpeg"), "image_undecodable"),
        (ws_frame(0.0, b"\xff\xd8\xff" + bytes(300_001)), "image_too_large"),
        (ws_frame(float("nan"), blank_jpeg()), "frame_time_invalid"),
    ],
    ids=["short", "not-jpeg", "too-large", "nan-time"],
)
def test_bad_frames(api: TestClient, payload: bytes, code: str) -> None:
    created = start(api)
    with connect(api, created) as ws:
        hello(ws, created)
        ws.send_bytes(payload)
        expect_error(ws, code)


def test_text_after_hello_is_refused(api: TestClient) -> None:
    created = start(api)
    with connect(api, created) as ws:
        hello(ws, created)
        ws.send_text("frame please")
        expect_error(ws, "bad_input")


def test_expired_during_the_stream_ends_with_a_result(api: TestClient, clock: FakeClock) -> None:
    created = start(api)
    with connect(api, created) as ws:
        hello(ws, created)
        ws.send_bytes(ws_frame(0.0, blank_jpeg()))
        assert ws.receive_json()["seq"] == 1
        clock.advance(181.0)
        ws.send_bytes(ws_frame(100.0, blank_jpeg()))
        final = ws.receive_json()
        assert final["phase"] == "decided"
        assert final["result"] == {
            "status": "refused", "reason": "session_expired", "username": None, "token": None,
        }  # fmt: skip
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000


def test_a_stream_whose_frames_stop_ends_inactive(tmp_path: Path, face_engine: FaceEngine) -> None:
    """The real clock and a 1 s idle limit: the server ends the session by itself
    and says so in a final state, without waiting for the TTL."""
    settings = make_settings(tmp_path / "d", idle_timeout_s=1.0)
    with running(settings, face_engine) as client:
        created = start(client)
        with connect(client, created) as ws:
            hello(ws, created)
            ws.send_bytes(ws_frame(0.0, blank_jpeg()))
            assert ws.receive_json()["result"] is None
            final = ws.receive_json()  # nothing more is sent: the idle limit ends it
            assert final["result"]["reason"] == "inactive"
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1000
        assert manager(client).active_count() == 0


def test_finished_session_cannot_be_streamed_again(api: TestClient) -> None:
    created = start(api)
    with connect(api, created) as ws:
        hello(ws, created)
        ws.send_bytes(ws_frame(0.0, blank_jpeg()))
        ws.receive_json()
        # Claims a second later while the (fake) server clock stands still: the
        # quickest way to end a session.
        ws.send_bytes(ws_frame(1000.0, blank_jpeg()))
        assert ws.receive_json()["result"]["reason"] == "clock_drift"
    with connect(api, created) as ws:
        expect_error(ws, "session_finished")


@pytest.mark.slow
def test_identification_over_the_websocket(api: TestClient) -> None:
    """1:N: a simulated person among three enrolled users is named, over the socket."""
    enroll_photos(api, "obama", ENROLL_PHOTOS)
    enroll_photos(api, "biden", [face_path("biden", 1)])
    enroll_photos(api, "rose", [face_path("rose_leslie", 1)])
    assert ACTOR_PHOTO.parent.name == "obama"
    created = start(api)
    actor = genuine_actor(api, created)
    with connect(api, created) as ws:
        hello(ws, created)
        final = drive_ws(api, ws, actor)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1000
    result = final["result"]
    assert (result["status"], result["reason"], result["username"]) == ("signed_in", "ok", "obama")
    assert result["token"] and "redirect" not in result
    assert manager(api).liveness_of(created["session_id"]) is None
    event = services(api).audit.recent()[0].event  # type: ignore[attr-defined]
    assert (event.decision, event.reason, event.username) == ("accepted", "ok", "obama")
    match = next(c for c in event.checks if c.name == "match")
    assert match.passed and match.value >= match.limit
