"""Helpers for the API tests: settings, a fake clock, frames, and drivers that run
a simulated person through the HTTP or WebSocket API like the page would."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from support import face_path, models_dir
from veronica.api.app import create_app
from veronica.api.services import Services
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine
from veronica.sessions import SessionManager, SessionRecord
from veronica.settings import Settings
from veronica.simulation import Actor, make_actor
from veronica.storage import generate_key

ADMIN_KEY = "test-admin-key-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SEED = 205
"""Challenge seed: with it the simulated genuine person passes (see the liveness tests)."""
RELYING = "https://relying.example"
OWN = "http://127.0.0.1:8000"
COOKIE = "veronica_session"
FPS = 10.0
"""The page sends 10–15 fps; 10 keeps a real session near 100 frames."""
ACTOR_PHOTO = face_path("obama", 2)
ENROLL_PHOTOS = [face_path("obama", 1), face_path("obama", 3)]
"""Enrolled from other photos than the one the simulated head is built from: the
rendered head scores 0.67–0.72 against these, above the FMR-based threshold
(docs/MODELS.md), where obama 3's head scored only 0.49–0.52 against 1 and 2."""
TRACE_MARKERS = ("Traceback", 'File "', "sqlite3", "OperationalError", "sqlalchemy")


class FakeClock:
    """Wall-clock seconds that only move when told to."""

    def __init__(self) -> None:
        # A minute in the past: a session moves the clock on with every frame, and
        # the tokens it signs are then still valid on the real clock, where a
        # relying site checks them (``verify_result_token`` without ``now``).
        self.now = time.time() - 60.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "models_dir": models_dir(),
        "template_key": generate_key(),
        "admin_key": ADMIN_KEY,
        "challenge_seed": SEED,
        "max_frame_rate": 120.0,  # the tests send frames as fast as the server answers
        "allowed_origins": [RELYING],
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running(
    settings: Settings, engine: FaceEngine, clock: Callable[[], float] = time.time
) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, base_url=OWN) as client:
        yield client


def services(client: TestClient) -> Services:
    """The running app's object graph (``api/services.py``)."""
    app: FastAPI = client.app  # type: ignore[assignment]
    built: Services | None = app.state.services
    assert built is not None, "the app is not running"
    return built


def manager(client: TestClient) -> SessionManager:
    return services(client).sessions


def server_session(client: TestClient, session_id: str) -> SessionRecord:
    session = manager(client).store.get(session_id)
    assert session is not None
    return session


def assert_error(response: Any, status: int, code: str) -> str:
    """The one error shape; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    for marker in TRACE_MARKERS:
        assert marker not in response.text
    return message


def encode_jpeg(bgr: NDArray[np.uint8], quality: int = 80) -> bytes:
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buffer.tobytes()


def blank_jpeg() -> bytes:
    return encode_jpeg(np.full((480, 640, 3), 90, np.uint8))


def start(client: TestClient, **body: Any) -> dict[str, Any]:
    """Create a session; the answer plus ``cookie`` (a browser keeps one cookie, so
    with several sessions open the tests send each one's cookie explicitly)."""
    response = client.post("/api/v1/auth/sessions", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    created["cookie"] = response.cookies[COOKIE]
    return created


def timed_frame(
    client: TestClient, created: dict[str, Any], data: bytes, t_s: float, **kwargs: Any
) -> Any:
    """Post a frame ``t_s`` seconds into the session on both clocks: the fake
    server clock is moved there (from the session's creation) and the claimed
    capture time says the same."""
    clock = manager(client).clock
    assert isinstance(clock, FakeClock), "timed_frame runs on the fake clock"
    clock.now = server_session(client, created["session_id"]).created_at + t_s
    return post_frame(client, created, data, t_s * 1000, **kwargs)


def post_frame(
    client: TestClient,
    created: dict[str, Any],
    data: bytes,
    t_ms: float,
    *,
    csrf: str | None = None,
    cookie: str | None = None,
    content_type: str = "image/jpeg",
) -> Any:
    headers = {
        "Content-Type": content_type,
        "X-CSRF-Token": created["csrf_token"] if csrf is None else csrf,
        "X-Frame-Time": repr(float(t_ms)),
        "Cookie": f"{COOKIE}={created['cookie'] if cookie is None else cookie}",
    }
    return client.post(created["frames_url"], content=data, headers=headers)


def parse_light(value: str | None) -> RGB | None:
    if value is None:
        return None
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


def genuine_actor(client: TestClient, created: dict[str, Any], seed: int = SEED) -> Actor:
    """The simulated person for this session, exactly as ``pad_sim`` makes one."""
    sessions = manager(client)
    liveness = sessions.liveness_of(created["session_id"])
    assert liveness is not None
    return make_actor(
        "genuine",
        liveness.script,
        seed,
        [ACTOR_PHOTO],
        positioning_s=sessions.policy.positioning.min_s,
    )


class ServerTime:
    """The server clock for a session's frames, in seconds since its first frame.
    A fake clock is moved ``FPS`` frames per second; a real one moves by itself
    (frames then go as fast as the server answers)."""

    def __init__(self, client: TestClient) -> None:
        self.clock = manager(client).clock
        self.start = self.clock()

    def at(self, frame: int) -> float:
        if isinstance(self.clock, FakeClock):
            self.clock.now = self.start + frame / FPS
        return float(self.clock() - self.start)


def drive_http(
    client: TestClient, created: dict[str, Any], actor: Actor, max_s: float = 25.0
) -> dict[str, Any]:
    """Frame by frame over HTTP, reacting to what each answer shows; the last state.
    Capture times are claimed honestly: the server's clock for each frame."""
    time = ServerTime(client)
    action: Action | None = None
    light: RGB | None = None
    frame = 0
    while True:
        t = time.at(frame)
        assert t <= max_s, "the session never decided"
        response = post_frame(client, created, encode_jpeg(actor.frame(t, action, light)), t * 1000)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        if state["result"] is not None:
            return state
        action = Action(state["action"]) if state["action"] else None
        light = parse_light(state["light"])
        frame += 1


def ws_frame(t_ms: float, jpeg: bytes) -> bytes:
    return struct.pack("<d", t_ms) + jpeg


def drive_ws(client: TestClient, ws: Any, actor: Actor, max_s: float = 25.0) -> dict[str, Any]:
    """The same over the WebSocket, stop-and-wait."""
    time = ServerTime(client)
    action: Action | None = None
    light: RGB | None = None
    frame = 0
    while True:
        t = time.at(frame)
        assert t <= max_s, "the session never decided"
        ws.send_bytes(ws_frame(t * 1000, encode_jpeg(actor.frame(t, action, light))))
        state: dict[str, Any] = ws.receive_json()
        assert state["type"] == "state", state
        if state["result"] is not None:
            return state
        action = Action(state["action"]) if state["action"] else None
        light = parse_light(state["light"])
        frame += 1


def enroll_photos(client: TestClient, username: str, photos: list[Path]) -> None:
    assert client.post("/api/v1/admin/users", json={"username": username}, headers=ADMIN).is_success
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    response = client.post(f"/api/v1/admin/users/{username}/images", files=files, headers=ADMIN)
    assert response.status_code == 201, response.text


def fail_by_timeout(client: TestClient, created: dict[str, Any]) -> dict[str, Any]:
    """End a session cheaply: no face until past the positioning timeout (server
    time; needs the fake clock), a frame every 0.5 s so it never goes idle."""
    clock = manager(client).clock
    assert isinstance(clock, FakeClock), "fail_by_timeout runs on the fake clock"
    blank = blank_jpeg()
    timeout_s = manager(client).policy.positioning.timeout_s
    start = clock.now
    step = 0.5
    for i in range(int(timeout_s / step) + 2):
        clock.now = start + i * step
        response = post_frame(client, created, blank, i * step * 1000)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        if state["result"] is not None:
            return state
    raise AssertionError("positioning never timed out")
