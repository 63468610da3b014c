"""The session manager without HTTP: creation, access checks, frames one at a
time per session and in parallel across sessions, expiry and the reaper."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from session_support import Stack, blank_jpeg, build_stack, end_quickly, feed

from support import face_path
from veronica.errors import LockedOutError, RateLimitedError
from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis
from veronica.sessions import NewSession, Reason, SessionResult
from veronica.sessions.errors import (
    BusyError,
    CsrfInvalidError,
    LightChallengeRequiredError,
    SessionExpiredError,
    SessionFinishedError,
    SessionForbiddenError,
    SessionNotFoundError,
    TooManySessionsError,
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
    assert m.authorize(s.id, s.cookie_secret).id == s.id
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
    stack = build_stack(tmp_path, face_engine, sessions_per_minute_per_ip=2)
    stack.manager.create(NewSession(), IP)
    stack.manager.create(NewSession(), IP)
    with pytest.raises(RateLimitedError):
        stack.manager.create(NewSession(), IP)
    stack.manager.create(NewSession(), "192.0.2.1")  # another address
    stack.manager.close()


def test_capacity_counts_live_trackers_only(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine, max_active_sessions=1)
    m = stack.manager
    first = m.create(NewSession(), IP)
    with pytest.raises(BusyError):
        m.create(NewSession(), IP)
    end_quickly(stack, first)
    assert m.liveness_of(first.id) is None and m.active_count() == 0
    m.create(NewSession(), IP)
    m.close()
    assert m.active_count() == 0 and m.store.all() == []


def test_expiry_is_idempotent_and_tombstones_are_forgotten(
    tmp_path: Path, face_engine: FaceEngine
) -> None:
    # A TTL shorter than positioning's 20 s limit, so the TTL is what ends it.
    stack = build_stack(tmp_path, face_engine, session_ttl_s=15.0)
    m = stack.manager
    s = m.create(NewSession(), IP)
    assert m.end_overdue(s.id).result is None  # not due yet: nothing happens
    for t in range(0, int(m.config.ttl_s), 4):  # a frame every 4 s: never idle
        feed(stack, s, float(t), blank_jpeg())
    stack.clock.now = s.expires_at
    final = m.end_overdue(s.id).state
    assert final.result == SessionResult(final.result.status, Reason.SESSION_EXPIRED)  # type: ignore[union-attr]
    assert m.end_overdue(s.id).state == final
    with pytest.raises(SessionExpiredError):
        m.process(s.id, 0.0, blank_jpeg())
    assert [e.event.reason for e in stack.audit.recent()] == ["session_expired"]
    stack.clock.advance(m.config.tombstone_s)
    assert m.reap() == 1
    assert m.store.get(s.id) is None
    m.close()


def test_a_session_without_frames_is_released_as_inactive(stack: Stack) -> None:
    m = stack.manager
    quiet = m.create(NewSession(username="ann"), IP)
    streaming = m.create(NewSession(), IP)
    for t in range(int(m.config.first_frame_timeout_s) + 1):  # one frame a second
        feed(stack, streaming, float(t), blank_jpeg())
    assert m.reap() == 1
    assert quiet.result is not None and quiet.result.reason is Reason.INACTIVE
    assert m.liveness_of(quiet.id) is None and m.liveness_of(streaming.id) is not None
    assert m.active_count() == 1
    # It counts against the address only, never against the user named.
    assert stack.lockout.state([f"ip:{IP}"]).failures == 1
    assert stack.lockout.state(["user:ann"]).failures == 0
    # A streaming session that stops sending is released after the idle limit.
    stack.clock.advance(m.config.idle_timeout_s)
    assert m.reap() == 1 and streaming.result is not None
    assert streaming.result.reason is Reason.INACTIVE and m.active_count() == 0


def test_an_address_may_hold_only_a_few_sessions(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine, max_sessions_per_address=2)
    m = stack.manager
    m.create(NewSession(), IP)
    m.create(NewSession(), IP)
    with pytest.raises(TooManySessionsError) as refused:
        m.create(NewSession(), IP)
    assert refused.value.retry_after_s > 0
    m.create(NewSession(), "192.0.2.1")  # another address is not affected
    m.close()


def test_an_ipv6_subnet_is_one_address(tmp_path: Path, face_engine: FaceEngine) -> None:
    stack = build_stack(tmp_path, face_engine, max_sessions_per_address=2)
    m = stack.manager
    a = m.create(NewSession(), "2001:db8:1:2::1")
    m.create(NewSession(), "2001:db8:1:2:aaaa:bbbb:cccc:dddd")
    assert a.address == "2001:db8:1:2::/64" and a.client_ip == "2001:db8:1:2::1"
    with pytest.raises(TooManySessionsError):
        m.create(NewSession(), "2001:db8:1:2::ffff")
    m.create(NewSession(), "2001:db8:1:3::1")  # the next /64 is someone else
    m.close()


def test_light_policies(tmp_path: Path, face_engine: FaceEngine) -> None:
    for policy, asked, mode in (
        ("required", None, LightMode.FLASH),
        ("required", True, LightMode.FLASH),
        ("optional", None, LightMode.FLASH),
        ("optional", False, LightMode.GENTLE),
        ("off", None, LightMode.NONE),
        ("off", True, LightMode.NONE),
    ):
        stack = build_stack(tmp_path / policy / str(asked), face_engine, light_challenge=policy)
        s = stack.manager.create(NewSession(light=asked), IP)
        liveness = stack.manager.liveness_of(s.id)
        assert s.light is mode and liveness is not None
        assert bool(liveness.script.light) is (mode is not LightMode.NONE)
        assert liveness.script.gentle is (mode is LightMode.GENTLE)
        stack.manager.close()
    stack = build_stack(tmp_path / "refused", face_engine, light_challenge="required")
    with pytest.raises(LightChallengeRequiredError):
        stack.manager.create(NewSession(light=False), IP)
    assert stack.manager.active_count() == 0


def test_decided_session_refuses_frames(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    state = end_quickly(stack, s)
    assert state is not None and state.result is not None
    with pytest.raises(SessionFinishedError):
        m.process(s.id, 20_200.0, blank_jpeg())
    stack.clock.advance(m.config.ttl_s)  # past the TTL a decided session stays "finished"
    with pytest.raises(SessionFinishedError):
        m.check_open(s.id)


def test_a_busy_session_drops_the_frame(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with m.store.lock(s.id, 10.0) as got:
            assert got
            held.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert held.wait(10)
    try:
        assert m.process(s.id, 0.0, blank_jpeg()) is None
    finally:
        release.set()
        worker.join()
    assert s.frames == 0
    assert m.process(s.id, 0.0, blank_jpeg()) is not None


def test_the_reaper_skips_a_session_busy_with_a_frame(stack: Stack) -> None:
    m = stack.manager
    s = m.create(NewSession(), IP)
    stack.clock.advance(m.config.ttl_s)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with m.store.lock(s.id, 10.0) as got:
            assert got
            held.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert held.wait(10)
    try:
        assert m.reap() == 0 and m.liveness_of(s.id) is not None
    finally:
        release.set()
        worker.join()
    assert m.reap() == 1 and m.liveness_of(s.id) is None


def test_parallel_sessions_answer_as_if_alone(stack: Stack, face_frames: list[bytes]) -> None:
    """Two sessions fed the same frames on two threads see exactly what one
    session fed alone sees: the shared models keep no state between calls."""
    m = stack.manager

    def run(n: int) -> list[tuple[str, tuple[str, ...], bool]]:
        s = m.create(NewSession(), f"198.51.100.{10 + n}")  # one address each
        out = []
        for i, frame in enumerate(face_frames):
            state = feed(stack, s, i * 0.1, frame)
            assert state is not None
            out.append((state.phase.value, tuple(h.value for h in state.hints), state.placed))
        return out

    alone = run(0)
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(run, range(1, 4)))
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

        def on_restore(self, seconds: float) -> None:
            raise AssertionError("nothing to restore in one process")

    m = type(stack.manager)(
        engine=face_engine,
        outcomes=stack.outcomes,
        limiter=stack.manager.limiter,
        lockout=stack.lockout,
        links=stack.links,
        store=stack.manager.store,
        admission=stack.manager.admission,
        config=stack.manager.config,
        clock=stack.clock,
        observer=Observer(),
    )
    s = m.create(NewSession(), IP)
    m.process(s.id, 0.0, blank_jpeg())
    m.process(s.id, 1000.0, blank_jpeg())  # a claimed clock a second ahead: decided
    assert "detect" in seen
    assert [r.reason for r in results] == [Reason.CLOCK_DRIFT]
    m.close()
    stack.manager.close()
