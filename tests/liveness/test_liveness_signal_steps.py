"""The challenge steps: each judged in its own window, and acknowledged while due
once the response is seen (so the page can withdraw the prompt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from liveness_signal_support import talking_head, with_analysis

from veronica.liveness.signals.blink import BlinkLimits
from veronica.liveness.signals.head_motion import HeadMotionLimits
from veronica.liveness.signals.steps import ChallengeSteps
from veronica.liveness.types import Action, ChallengeStep, FrameInput, SessionScript
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.pose import HeadPose

pytestmark = pytest.mark.shared_data
FPS = 10.0
SCRIPT = SessionScript(
    challenges=(
        ChallengeStep(Action.TURN_LEFT, start_s=1.0, window_s=2.0),
        ChallengeStep(Action.BLINK, start_s=3.5, window_s=2.0),
    ),
    light=(),
)


@pytest.fixture(scope="module")
def template(shared_data: Path, face_engine: FaceEngine) -> FrameInput:
    return talking_head(shared_data, face_engine)[0]


def frame(template: FrameInput, i: int, yaw: float = 0.0, ear: float = 0.30) -> FrameInput:
    """Frame ``i`` at 10 fps; session time = capture time (both from 0)."""
    quality = template.analysis.quality
    assert quality is not None
    q = replace(
        quality,
        pose=HeadPose(yaw, 0.0, 0.0),
        eye_aspect_ratio=ear,
        eye_aspect_ratios=(ear, ear),
    )
    return replace(with_analysis(template, quality=q), t=i / FPS, session_t=i / FPS)


def steps() -> ChallengeSteps:
    return ChallengeSteps(SCRIPT, HeadMotionLimits(), BlinkLimits())


def test_a_turn_is_acknowledged_once_it_reaches_the_limit(template: FrameInput) -> None:
    signal = steps()
    yaws = [0.0] * 12 + [5.0, 10.0, 16.0, 21.0, 22.0, 22.0, 0.0, 0.0]
    seen = []
    for i, yaw in enumerate(yaws):
        signal.update(frame(template, i, yaw))
        seen.append(signal.acknowledge(i / FPS))
    # Not before the step, not on the first frame past 20° (two are needed).
    assert seen.index(True) == 16
    assert all(seen[16:]) and signal.acknowledged == 1  # it stays seen


def test_a_short_turn_is_not_acknowledged(template: FrameInput) -> None:
    signal = steps()
    for i, yaw in enumerate([0.0] * 12 + [5.0, 10.0, 18.0, 18.0, 18.0]):
        signal.update(frame(template, i, yaw))
        assert not signal.acknowledge(i / FPS)
    assert signal.acknowledged == 0


def test_a_blink_is_acknowledged_after_the_eye_opens(template: FrameInput) -> None:
    signal = steps()
    ears = [0.30] * 38 + [0.08, 0.08, 0.30, 0.30]
    seen = []
    for i, ear in enumerate(ears):
        signal.update(frame(template, i, ear=ear))
        seen.append(signal.acknowledge(i / FPS))
    assert seen.index(True) == 40  # the blink is a blink once the eye is open again


def test_nothing_is_due_between_steps(template: FrameInput) -> None:
    signal = steps()
    signal.update(frame(template, 0))
    assert not signal.acknowledge(0.5)
    assert not signal.acknowledge(3.2)


def test_acknowledged_steps_move_with_the_session(template: FrameInput) -> None:
    signal = steps()
    for i, yaw in enumerate([0.0] * 12 + [21.0, 22.0, 22.0]):
        signal.update(frame(template, i, yaw))
        signal.acknowledge(i / FPS)
    moved = steps()
    moved.restore(signal.snapshot())
    assert moved.acknowledged == 1 and moved.acknowledge(1.5)
