"""The session manager without HTTP: creation, access checks, frames one at a
time per session and in parallel across sessions, expiry and the reaper."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from session_support import Stack, blank_jpeg, build_stack

from support import face_path
from veronica.errors import LockedOutError, RateLimitedError
from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LivenessPolicy
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis
from veronica.sessions import NewSession, Reason, SessionConfig, SessionResult
from veronica.sessions.errors import (
    BusyError,
    CsrfInvalidError,
    SessionExpiredError,
    SessionFinishedError,
    SessionForbiddenError,
    SessionNotFoundError,
)
from veronica.simulation import make_actor

IP = "198.51.100.4"


@pytest.fixture(scope="module")
def face_frames() -> list[bytes]:
    """1.6 s of a simulated face at 10 fps (nothing asked)."""
    import cv2

    script = plan_script(LivenessPolicy().challenges, random.Random(3))
    actor = make_actor("genuine", script, 3, [face_path("biden", 1)], positioning_s=1.0)
    frames = []
    for i in range(16):
        ok, buffer = cv2.imencode(".jpg", actor.frame(i / 10, None, None))
        assert ok
        frames.append(buffer.tobytes())
    return frames


def test_access_checks(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    assert m.authorize(s.id, s.cookie_secret) is s
    with pytest.raises(SessionNotFoundError):
        m.authorize("missing", s.cookie_secret)
    for cookie in (None, "", s.csrf_token, m.create(NewSession(), IP).cookie_secret):
        with pytest.raises(SessionForbiddenError):
            m.authorize(s.id, cookie)
    m.check_csrf(s, s.csrf_token)
    for token in (None, "", s.cookie_secret):
        with pytest.raises(CsrfInvalidError):
            m.check_csrf(s, token)


def test_lockout_is_checked_at_creation(stack: Stack) -> None:
    for _ in range(5):
        stack.lockout.record_failure(["user:eve"], stack.clock.now)
    with pytest.raises(LockedOutError) as locked:
        stack.manager.create(NewSession(username="eve"), IP)
    assert locked.value.retry_after_s == pytest.approx(30.0)
    stack.manager.create(NewSession(username="adam"), IP)  # another user, same address


def test_sessions_per_ip(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine, SessionConfig(sessions_per_minute_per_ip=2))
    stack.manager.create(NewSession(), IP)
    stack.manager.create(NewSession(), IP)
    with pytest.raises(RateLimitedError):
        stack.manager.create(NewSession(), IP)
    stack.manager.create(NewSession(), "192.0.2.1")  # another address
    stack.manager.close()


def test_capacity_counts_live_trackers_only(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine, SessionConfig(max_active=1, max_frame_rate=100))
    m = stack.manager
    first = m.create(NewSession(), IP)
    with pytest.raises(BusyError):
        m.create(NewSession(), IP)
    m.process(first, 0.0, blank_jpeg())
    m.process(first, 20_100.0, blank_jpeg())  # positioning timeout: decided
    assert first.liveness is None and m.active_count() == 0
    m.create(NewSession(), IP)
    m.close()
    assert m.active_count() == 0 and m.store.all() == []


def test_expiry_is_idempotent_and_tombstones_are_forgotten(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    assert m.expire(s).result is None  # not due yet: nothing happens
    stack.clock.advance(m.config.ttl_s)
    final = m.expire(s)
    assert final.result == SessionResult(final.result.status, Reason.SESSION_EXPIRED)  # type: ignore[union-attr]
    assert m.expire(s) is final
    with pytest.raises(SessionExpiredError):
        m.process(s, 0.0, blank_jpeg())
    assert [e.event.reason for e in stack.audit.recent()] == ["session_expired"]
    stack.clock.advance(m.config.tombstone_s)
    assert m.reap() == 1
    assert m.store.get(s.id) is None


def test_decided_session_refuses_frames(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    m.process(s, 0.0, blank_jpeg())
    state = m.process(s, 20_100.0, blank_jpeg())
    assert state is not None and state.result is not None
    with pytest.raises(SessionFinishedError):
        m.process(s, 20_200.0, blank_jpeg())
    stack.clock.advance(m.config.ttl_s)  # past the TTL a decided session stays "finished"
    with pytest.raises(SessionFinishedError):
        m.check_open(s)


def test_a_busy_session_drops_the_frame(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with s.lock:
            held.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert held.wait(10)
    try:
        assert m.process(s, 0.0, blank_jpeg()) is None
    finally:
        release.set()
        worker.join()
    assert s.frames == 0
    assert m.process(s, 0.0, blank_jpeg()) is not None


def test_the_reaper_skips_a_session_busy_with_a_frame(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    stack.clock.advance(m.config.ttl_s)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with s.lock:
            held.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert held.wait(10)
    try:
        assert m.reap() == 0 and s.liveness is not None
    finally:
        release.set()
        worker.join()
    assert m.reap() == 1 and s.liveness is None


def test_parallel_sessions_answer_as_if_alone(stack: Stack, face_frames: list[bytes]) -> None:
    """Two sessions fed the same frames on two threads see exactly what one
    session fed alone sees: the shared models keep no state between calls."""
    m = stack.manager

    def run() -> list[tuple[str, tuple[str, ...], bool]]:
        s = m.create(NewSession(), IP)
        out = []
        for i, frame in enumerate(face_frames):
            state = m.process(s, i * 100.0, frame)
            assert state is not None
            out.append((state.phase.value, tuple(h.value for h in state.hints), state.placed))
        return out

    alone = run()
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda _: run(), range(3)))
    assert together == [alone] * 3
    assert any(placed for _, _, placed in alone)
    assert alone[-1][0] == "challenge"


def test_observer_sees_stage_timings_and_results(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine)
    seen: list[str] = []
    results: list[SessionResult] = []

    class Observer:
        def on_analysis(self, analysis: FrameAnalysis) -> None:
            seen.extend(t.stage for t in analysis.timings)

        def on_result(self, result: SessionResult) -> None:
            results.append(result)

    m = type(stack.manager)(
        engine=face_engine,
        outcomes=stack.outcomes,
        limiter=stack.manager.limiter,
        lockout=stack.lockout,
        links=stack.links,
        store=stack.manager.store,
        config=stack.manager.config,
        clock=stack.clock,
        observer=Observer(),
    )
    s = m.create(NewSession(), IP)
    m.process(s, 0.0, blank_jpeg())
    m.process(s, 20_100.0, blank_jpeg())
    assert "detect" in seen
    assert [r.reason for r in results] == [Reason.NO_FACE]
    m.close()
    stack.manager.close()
