"""POST /api/v1/auth/sessions: the response, the cookie, and every refusal."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import pytest
from api_support import (
    ADMIN,
    RELYING,
    SEED,
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
)
from fastapi.testclient import TestClient

from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LivenessPolicy
from veronica.pipeline.engine import FaceEngine

SESSIONS = "/api/v1/auth/sessions"


def test_create_answers_the_contract_shape(api: TestClient, clock: FakeClock) -> None:
    response = api.post(SESSIONS, json={})
    assert response.status_code == 201
    body = response.json()
    sid = body["session_id"]
    assert set(body) == {
        "session_id", "csrf_token", "expires_at", "purpose", "light_challenge", "light",
        "oval", "state", "stream_url", "frames_url", "limits",
    }  # fmt: skip
    assert body["purpose"] == "login"
    assert body["light_challenge"] is True and body["light"] == "flash"
    assert body["stream_url"] == f"/api/v1/auth/sessions/{sid}/stream"
    assert body["frames_url"] == f"/api/v1/auth/sessions/{sid}/frames"
    assert body["oval"] == {"cx": 0.5, "cy": 0.45, "rx": 0.22, "ry": 0.36}
    assert body["limits"] == {
        "max_frame_bytes": 300_000, "max_fps": 120.0, "width": 640, "jpeg_quality": 0.8,
    }  # fmt: skip
    assert body["state"] == {
        "type": "state", "seq": 0, "phase": "positioning", "action": None, "light": None,
        "hints": [], "placed": False, "progress": 0.0, "acknowledged": 0, "result": None,
    }  # fmt: skip
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires.timestamp() - (clock.now + 180.0)) <= 1.0
    assert body["expires_at"].endswith("Z")
    assert len(body["csrf_token"]) >= 40 and len(sid) >= 20


def test_cookie_is_bound_strict_and_http_only(api: TestClient) -> None:
    response = api.post(SESSIONS, json={})
    header = response.headers["set-cookie"]
    assert header.startswith("veronica_session=")
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/api/v1/auth"} <= attributes
    assert "secure" not in attributes  # test environment: plain http
    secret = header.split(";")[0].split("=", 1)[1]
    assert secret == server_session(api, response.json()["session_id"]).cookie_secret
    assert secret not in response.text  # only in the cookie, never readable by script


def test_cookie_is_secure_outside_development(tmp_path: Path) -> None:
    from veronica.api.routes.auth import _secure_cookie
    from veronica.settings import Settings
    from veronica.storage import generate_key

    production = Settings(
        environment="production",
        data_dir=tmp_path,
        template_key=generate_key(),
        signing_key_path=tmp_path / "signing.pem",
        public_url="https://veronica.example",
    )
    assert _secure_cookie(production)
    assert not _secure_cookie(make_settings(tmp_path / "d"))


def test_username_means_one_to_one(api: TestClient) -> None:
    body = start(api, username="  alice ")
    session = server_session(api, body["session_id"])
    assert session.username == "alice" and session.purpose.value == "login"
    assert start(api)["purpose"] == "login"
    assert server_session(api, start(api)["session_id"]).username is None


def test_the_seed_fixes_the_script(api: TestClient) -> None:
    expected = plan_script(LivenessPolicy().challenges, random.Random(SEED))
    with_light = manager(api).liveness_of(start(api)["session_id"])
    assert with_light is not None and with_light.script == expected
    assert with_light.script.light


def test_an_opt_out_is_refused_when_the_light_challenge_is_required(api: TestClient) -> None:
    """The default policy: a client cannot switch the colour challenge off."""
    refused = api.post(SESSIONS, json={"light": False})
    assert_error(refused, 400, "light_challenge_required")
    assert manager(api).active_count() == 0
    assert start(api, light=True)["light_challenge"] is True


def test_an_opt_out_gets_the_gentle_light_where_it_is_optional(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    settings = make_settings(tmp_path / "d", light_challenge="optional")
    with running(settings, face_engine) as client:
        assert client.get("/api/v1/auth/config").json() == {"light_challenge": "optional"}
        created = start(client, light=False)
        assert created["light_challenge"] is False and created["light"] == "gentle"
        liveness = manager(client).liveness_of(created["session_id"])
        assert liveness is not None and liveness.script.gentle
        actions = [s.action.value for s in liveness.script.challenges]
        assert 2 <= len(actions) <= 3 and "look_up" in actions
        # Without an opt-out the colours still run.
        assert start(client)["light_challenge"] is True


def test_settings_can_turn_the_light_off_for_everyone(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    with running(make_settings(tmp_path / "d", light_challenge="off"), face_engine) as client:
        created = start(client, light=True)
        assert created["light_challenge"] is False and created["light"] == "none"
        liveness = manager(client).liveness_of(created["session_id"])
        assert liveness is not None and liveness.script.light == ()
        actions = [s.action.value for s in liveness.script.challenges]
        low, high = LivenessPolicy().opt_out_actions
        assert low <= len(actions) <= high and "blink" in actions
        assert client.get("/api/v1/auth/config").json() == {"light_challenge": "off"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user": "alice"}, "invalid_request"),  # unknown field
        ({"username": 5}, "invalid_request"),  # strict types
        ({"light": "no"}, "invalid_request"),
        ({"username": ""}, "invalid_request"),
        ({"username": "x" * 129}, "invalid_request"),
    ],
)
def test_bad_fields_are_refused(api: TestClient, body: dict[str, object], code: str) -> None:
    assert_error(api.post(SESSIONS, json=body), 422, code)


def test_bad_json_and_wrong_content_type(api: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    assert_error(api.post(SESSIONS, content=b"{nope", headers=headers), 400, "invalid_json")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert_error(
        api.post(SESSIONS, content=b"username=a", headers=form), 415, "unsupported_media_type"
    )
    assert_error(api.post(SESSIONS), 415, "unsupported_media_type")
    assert_error(api.post(SESSIONS, content=b"[1]", headers=headers), 422, "invalid_request")


def test_control_characters_in_a_username_are_refused(api: TestClient) -> None:
    assert_error(api.post(SESSIONS, json={"username": "a\nb"}), 400, "bad_input")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/cb",
        "https://relying.example.evil.example/",
        "https://relying.example@evil.example/",
        "https://relying.example\\@evil.example/",
        "http://relying.example/",  # scheme is part of the origin
        "https://relying.example/cb#x",
        "javascript:alert(1)",
        "/relative",
    ],
)
def test_return_to_must_be_on_an_allowed_origin(api: TestClient, url: str) -> None:
    assert_error(api.post(SESSIONS, json={"return_to": url}), 400, "return_to_not_allowed")


def test_return_to_on_an_allowed_origin_is_kept(api: TestClient) -> None:
    for url in (f"{RELYING}/done?x=1", "http://127.0.0.1:8000/result"):
        body = start(api, return_to=url)
        assert server_session(api, body["session_id"]).return_to == url


def test_enrollment_token_and_username_are_exclusive(api: TestClient) -> None:
    body = {"username": "a", "enrollment_token": "t"}
    assert_error(api.post(SESSIONS, json=body), 400, "bad_input")


def test_unknown_enrollment_token(api: TestClient) -> None:
    response = api.post(SESSIONS, json={"enrollment_token": "not-a-real-token"})
    assert_error(response, 410, "enrollment_link_invalid")


def test_an_enrollment_link_names_the_user(api: TestClient) -> None:
    assert api.post("/api/v1/admin/users", json={"username": "dana"}, headers=ADMIN).is_success
    link = api.post("/api/v1/admin/users/dana/enrollment-links", headers=ADMIN).json()
    body = start(api, enrollment_token=link["token"])
    assert body["purpose"] == "enroll"
    assert server_session(api, body["session_id"]).username == "dana"
    # Peeking does not use the link up: a failed attempt can be retried.
    assert start(api, enrollment_token=link["token"])["purpose"] == "enroll"


def test_sessions_per_minute_per_ip(
    tmp_path: Path, face_engine: FaceEngine, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path / "d", sessions_per_minute_per_ip=3)
    with running(settings, face_engine, clock) as client:
        for _ in range(3):
            start(client)
        refused = client.post(SESSIONS, json={})
        assert_error(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        clock.advance(61)
        start(client)


def test_busy_when_every_slot_holds_a_live_session(
    tmp_path: Path, face_engine: FaceEngine, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path / "d", max_active_sessions=2)
    with running(settings, face_engine, clock) as client:
        first = start(client)
        second = start(client)
        refused = client.post(SESSIONS, json={})
        assert_error(refused, 503, "busy")
        assert int(refused.headers["retry-after"]) >= 1
        settings = client.app.state.settings  # type: ignore[attr-defined]
        assert (
            settings.idle_timeout_s < settings.first_frame_timeout_s < 2 * settings.idle_timeout_s
        )
        clock.advance(settings.first_frame_timeout_s - settings.idle_timeout_s + 0.5)
        post_frame(client, second, blank_jpeg(), 0.0)
        clock.advance(settings.idle_timeout_s - 0.4)
        # ``first`` never sent a frame: its slot lapsed at its first-frame limit
        # (admission drops it, whichever instance holds the session) and the
        # reaper ends it; ``second`` streams, so it keeps its slot.
        start(client)
        assert_error(client.post(SESSIONS, json={}), 503, "busy")
        manager(client).reap()
        assert server_session(client, first["session_id"]).result is not None
        assert server_session(client, second["session_id"]).result is None
        clock.advance(181)  # past the TTL and the idle limit: every slot frees
        start(client)


def test_sixth_attempt_is_locked_out(api: TestClient, clock: FakeClock) -> None:
    for _ in range(5):
        result = fail_by_timeout(api, start(api, username="mallory"))["result"]
        assert result == {"status": "refused", "reason": "no_face", "username": None, "token": None}
    refused = api.post(SESSIONS, json={"username": "mallory"})
    assert_error(refused, 429, "locked_out")
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    # The address is locked too (the 5 failures were counted on "ip:" as well).
    assert_error(api.post(SESSIONS, json={"username": "someone_else"}), 429, "locked_out")
    assert_error(api.post(SESSIONS, json={}), 429, "locked_out")
    clock.advance(31)
    start(api, username="mallory")


def test_every_decision_is_audited(api: TestClient) -> None:
    fail_by_timeout(api, start(api, username="erin"))
    events = services(api).audit.recent()  # type: ignore[attr-defined]
    assert len(events) == 1
    event = events[0].event
    assert (event.purpose, event.decision, event.reason) == ("login", "refused", "no_face")
    assert event.username == "erin" and event.client_ip == "testclient"
    assert any(c.name == "frozen_frames" for c in event.checks)


def test_created_at_is_now(api: TestClient, clock: FakeClock) -> None:
    session = server_session(api, start(api)["session_id"])
    assert session.created_at == clock.now
    assert session.expires_at == clock.now + 180.0
