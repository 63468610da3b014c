"""The liveness session end to end: real engine, simulated people and attacks."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from support import face_path
from veronica.evaluation.pad_sim import run_simulated_session
from veronica.liveness.challenges import GENTLE_GREY
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.positioning import Hint
from veronica.liveness.session import LivenessDecision, LivenessSession, Mode, Phase
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine

ACTOR_PHOTO = face_path("obama", 3)

POLICY = LivenessPolicy()


def failed(decision: object) -> set[str]:
    return {c.name for c in decision.failed}  # type: ignore[attr-defined]


def test_genuine_session_is_live(face_engine: FaceEngine) -> None:
    decision, outcome = run_simulated_session(face_engine, POLICY, "genuine", seed=205)
    assert decision.live, decision.failed
    assert decision.reason == "live"
    assert 0.0 <= decision.score <= 1.0 and outcome.score == decision.score
    assert decision.score == min(c.margin for c in decision.checks if c.deciding)
    names = {c.name for c in decision.checks}
    assert {"pad", "frozen_frames", "identity", "light_challenge", "timing"} <= names
    assert sum(n.startswith("challenge_") for n in names) >= 2
    assert 1 <= len(decision.embeddings) <= POLICY.capture_frames
    assert outcome.frames > 60


@pytest.mark.parametrize(
    ("species", "must_fail"),
    [
        ("frozen_frame", {"frozen_frames"}),
        ("face_swap", {"identity"}),
        ("print_still", {"pad"}),
        ("screen_replay_wrong", set()),
    ],
)
def test_attacks_are_refused(face_engine: FaceEngine, species: str, must_fail: set[str]) -> None:
    decision, _ = run_simulated_session(face_engine, POLICY, species, seed=100)
    assert not decision.live
    assert decision.reason == "liveness_failed"
    assert must_fail <= failed(decision)
    assert -1.0 <= decision.score < 0.0
    if species == "screen_replay_wrong":
        # A replay of another script cannot answer this one's steps or light.
        assert any(n.startswith(("challenge_", "light_")) for n in failed(decision))


def test_positioning_hints_then_timeout(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(1))
    blank = np.full((480, 640, 3), 90, np.uint8)
    state = session.update(0.0, blank)
    assert state.phase is Phase.POSITIONING and state.hints == (Hint.NO_FACE,)
    state = session.update(POLICY.positioning.timeout_s + 0.1, blank)
    assert state.phase is Phase.DECIDED
    assert state.decision is not None and state.decision.reason == "timeout"
    assert not state.decision.live and state.decision.score == -1.0
    # A decided session stays decided.
    assert session.update(99.0, blank).phase is Phase.DECIDED


def test_the_client_learns_each_action_only_when_due(face_engine: FaceEngine) -> None:
    from veronica.simulation import make_actor

    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    actor = make_actor("genuine", session.script, 205, positioning_s=POLICY.positioning.min_s)
    shown = []
    action = light = None
    for i in range(150):
        t = i / 15
        state = session.update(t, actor.frame(t, action, light))
        action, light = state.action, state.light
        shown.append(action)
    first = session.script.challenges[0]
    t0 = POLICY.positioning.min_s
    due = [i for i, a in enumerate(shown) if a is not None]
    assert due, "no action shown in the first 10 s"
    assert due[0] / 15 >= t0 + first.start_s - 1 / 15
    session.close()


@pytest.mark.shared_data
def test_passive_check_of_the_real_video_and_its_frozen_copy(
    face_engine: FaceEngine, shared_data: Path
) -> None:
    capture = cv2.VideoCapture(str(shared_data / "video" / "talking_head_blinks.mp4"))
    frames = []
    while len(frames) < 125:  # 5 s at 25 fps
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(bgr)
    capture.release()
    live = LivenessSession(face_engine, POLICY, mode=Mode.PASSIVE)
    for i, bgr in enumerate(frames):
        live.update(i / 25, bgr)
    assert live.finish().live, live.finish().failed
    frozen = LivenessSession(face_engine, POLICY, mode=Mode.PASSIVE)
    for i in range(len(frames)):
        frozen.update(i / 25, frames[0])
    decision = frozen.finish()
    assert not decision.live
    assert {"frozen_frames", "blinks"} <= failed(decision)


def drive(
    session: LivenessSession,
    frame_at: Callable[[int, float, Action | None, RGB | None], np.ndarray],
    fps: float = 10.0,
    claimed: Callable[[float], float] | None = None,
    max_s: float = 35.0,
) -> LivenessDecision:
    """Feed frames ``frame_at(i, t, action, light)`` at ``fps`` of server time,
    reacting to each answer like the page; ``claimed(t)``: the client's claim."""
    action: Action | None = None
    light: RGB | None = None
    i = 0
    while True:
        t = i / fps
        if t > max_s:
            return session.finish()
        state = session.update(
            t, frame_at(i, t, action, light), claimed=None if claimed is None else claimed(t)
        )
        if state.decision is not None:
            return state.decision
        action, light = state.action, state.light
        i += 1


def genuine(seed: int, photo: Path = ACTOR_PHOTO) -> Callable[..., np.ndarray]:
    from veronica.simulation import GenuineActor

    actor = GenuineActor.from_photo(photo, seed)
    return lambda i, t, action, light: actor.frame(t, action, light)


def test_a_claimed_clock_running_slow_ends_the_session_as_clock_drift(
    face_engine: FaceEngine,
) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    decision = drive(session, genuine(205), claimed=lambda t: 0.8 * t)
    assert decision.reason == "clock_drift" and not decision.live
    assert decision.score == -1.0
    (clock,) = [c for c in decision.checks if c.name == "clock_drift"]
    assert not clock.passed and clock.value > POLICY.clock.max_drift_s
    # It ended as soon as the drift was out of the band: ~0.5 / 0.2 s after the start.
    assert decision.frames <= 30


def test_an_honest_claimed_clock_with_jitter_is_live(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    jitter = np.random.default_rng(0).uniform(0.0, 0.15, size=1000)
    decision = drive(session, genuine(205), claimed=lambda t: t - jitter[round(t * 10)] + 5.0)
    assert decision.live, decision.failed
    (clock,) = [c for c in decision.checks if c.name == "clock_drift"]
    assert clock.passed and clock.value <= 0.15


def test_response_frames_are_always_embedded(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(201))
    actions = {s.action for s in session.script.challenges}
    assert actions & {Action.TURN_LEFT, Action.TURN_RIGHT}  # every script has a turn
    decision = drive(session, genuine(201))
    assert decision.live, decision.failed
    turned = [s for s in decision.samples if abs(s.yaw_deg) >= POLICY.head.min_turn_deg]
    assert turned, "the frames that passed a turn were not embedded"
    assert all(s.posed for s in turned)


def test_liveness_by_proxy_is_refused(face_engine: FaceEngine) -> None:
    """The victim's face on every 3rd frame, another person performing on the others."""
    for phase in range(3):
        session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
        victim, performer = genuine(206, face_path("biden", 1)), genuine(205)

        def proxy(
            i: int,
            t: float,
            action: Action | None,
            light: RGB | None,
            victim: Callable[..., np.ndarray] = victim,
            performer: Callable[..., np.ndarray] = performer,
            phase: int = phase,
        ) -> np.ndarray:
            return (victim if i % 3 == phase else performer)(i, t, action, light)

        decision = drive(session, proxy)
        assert not decision.live
        assert "identity" in failed(decision), decision.failed


def test_no_face_while_the_colours_show_fails(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    person = genuine(205)
    blank = np.full((480, 640, 3), 90, np.uint8)

    def hide(i: int, t: float, action: Action | None, light: RGB | None) -> np.ndarray:
        return blank if light is not None else person(i, t, action, light)

    decision = drive(session, hide)
    assert not decision.live
    assert {"light_challenge", "face_present"} <= failed(decision)


def test_the_gentle_light_of_an_opt_out_is_judged_like_the_colours(
    face_engine: FaceEngine,
) -> None:
    policy = POLICY.for_light(LightMode.GENTLE)
    session = LivenessSession(face_engine, policy, rng=random.Random(205))
    assert session.light and session.script.gentle
    decision = drive(session, genuine(205))
    assert decision.live, decision.failed
    names = {c.name for c in decision.checks}
    assert {"light_challenge", "light_lag"} <= names
    assert any(n.endswith("_look_up") for n in names)


def test_a_face_that_does_not_follow_the_gentle_light_fails(face_engine: FaceEngine) -> None:
    # A replay recorded in front of a plain grey screen: the skin keeps its colour.
    policy = POLICY.for_light(LightMode.GENTLE)
    session = LivenessSession(face_engine, policy, rng=random.Random(205))
    person = genuine(205)

    def grey(i: int, t: float, action: Action | None, light: RGB | None) -> np.ndarray:
        return person(i, t, action, GENTLE_GREY if light is not None else None)

    decision = drive(session, grey)
    assert not decision.live
    assert "light_challenge" in failed(decision), decision.failed


def test_with_the_light_off_no_light_check_runs(face_engine: FaceEngine) -> None:
    policy = POLICY.for_light(LightMode.NONE)
    session = LivenessSession(face_engine, policy, rng=random.Random(205))
    assert not session.light
    decision = drive(session, genuine(205))
    names = {c.name for c in decision.checks}
    assert "light_challenge" not in names and "light_lag" not in names
    assert sum(n.startswith("challenge_") for n in names) >= policy.opt_out_actions[0]
    assert any(n.endswith("_blink") for n in names)


def test_each_step_is_withdrawn_once_its_response_is_seen(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    steps = session.script.challenges
    person = genuine(205)
    shown: list[tuple[float, Action | None, int]] = []
    action: Action | None = None
    light: RGB | None = None
    decision = None
    for i in range(400):
        t = i / 10
        state = session.update(t, person(i, t, action, light))
        if state.decision is not None:
            decision = state.decision
            break
        if state.phase is Phase.CHALLENGE:
            shown.append((t, state.action, state.acknowledged))
        action, light = state.action, state.light
    assert decision is not None and decision.live, decision
    assert shown[-1][2] == len(steps)  # every step was seen while it was due
    acknowledged = [n for _, _, n in shown]
    assert acknowledged == sorted(acknowledged)  # never taken back
    for k in range(1, len(steps) + 1):
        first = next(i for i, (_, _, n) in enumerate(shown) if n == k)
        due = steps[k - 1].action
        # Asked right up to the frame that showed it, withdrawn from then on
        # (nothing is due until the next step starts).
        assert shown[first - 1][1] is due and shown[first][1] is None
