"""The liveness session end to end: real engine, simulated people and attacks."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from veronica.evaluation.pad_sim import run_simulated_session
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.positioning import Hint
from veronica.liveness.session import LivenessSession, Mode, Phase
from veronica.pipeline.engine import FaceEngine

POLICY = LivenessPolicy()


def failed(decision: object) -> set[str]:
    return {c.name for c in decision.failed}  # type: ignore[attr-defined]


def test_genuine_session_is_live(face_engine: FaceEngine) -> None:
    decision, outcome = run_simulated_session(face_engine, POLICY, "genuine", seed=205)
    assert decision.live, decision.failed
    assert decision.reason == "live"
    assert 0.0 <= decision.score <= 1.0 and outcome.score == decision.score
    assert decision.score == min(
        c.margin for c in decision.checks if c.name not in POLICY.advisory_checks
    )
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
    for i in range(90):
        t = i / 15
        state = session.update(t, actor.frame(t, action, light))
        action, light = state.action, state.light
        shown.append(action)
    first = session.script.challenges[0]
    t0 = POLICY.positioning.min_s
    due = [i for i, a in enumerate(shown) if a is not None]
    assert due, "no action shown in the first 6 s"
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
