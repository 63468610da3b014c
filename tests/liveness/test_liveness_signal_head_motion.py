from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from liveness_signal_support import analyze_frames, run, talking_head, with_analysis

from veronica.liveness.signals._common import CHEEK_IMAGE_LEFT, CHEEK_IMAGE_RIGHT
from veronica.liveness.signals.head_motion import HeadMotionLimits, HeadMotionSignal
from veronica.liveness.types import Action, FrameInput
from veronica.pipeline.depth import IrisDepth
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.pose import HeadPose
from veronica.pipeline.types import NOSE_TIP

pytestmark = pytest.mark.shared_data
FPS = 25.0


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def posed(
    template: FrameInput, yaws: list[float], pitches: list[float] | None = None
) -> list[FrameInput]:
    quality = template.analysis.quality
    assert quality is not None
    pitches = pitches or [0.0] * len(yaws)
    return [
        replace(
            with_analysis(template, quality=replace(quality, pose=HeadPose(y, p, 0.0))),
            t=i / FPS,
            session_t=i / FPS - 1.0,
        )
        for i, (y, p) in enumerate(zip(yaws, pitches, strict=True))
    ]


def at_distance(template: FrameInput, distances: list[float]) -> list[FrameInput]:
    return [
        replace(
            with_analysis(template, depth=IrisDepth(d, d * 0.05, 20.0, 500.0)),
            t=i / FPS,
            session_t=i / FPS - 1.0,
        )
        for i, d in enumerate(distances)
    ]


def test_yaw_sign_matches_the_nose_side_on_the_real_video(video: tuple[FrameInput, ...]) -> None:
    # pipeline.pose: yaw > 0 = face turned towards the image's right, i.e. the
    # nose tip lies right of the outline's middle. TURN_LEFT relies on that sign.
    for frame in video:
        face, quality = frame.analysis.face, frame.analysis.quality
        assert face is not None and quality is not None
        if abs(quality.pose.yaw) < 10:
            continue
        mid = (face.points[CHEEK_IMAGE_LEFT, 0] + face.points[CHEEK_IMAGE_RIGHT, 0]) / 2
        assert np.sign(face.points[NOSE_TIP, 0] - mid) == np.sign(quality.pose.yaw)


def test_mirrored_frame_flips_the_yaw(
    face_engine: FaceEngine, video: tuple[FrameInput, ...]
) -> None:
    frame = video[36]  # head turned ≈ 23° to the image's left
    (mirrored,) = analyze_frames(face_engine, [np.ascontiguousarray(cv2.flip(frame.bgr, 1))], FPS)
    yaw, yaw_mirror = frame.analysis.quality.pose.yaw, mirrored.analysis.quality.pose.yaw  # type: ignore[union-attr]
    assert yaw < -15 and yaw_mirror > 15


def test_real_video_turn_is_seen_in_its_direction(video: tuple[FrameInput, ...]) -> None:
    # The person turns to the image's left (yaw −23°) between 1.2 s and 1.5 s.
    signal = run(HeadMotionSignal(), video)
    right = signal.response(Action.TURN_RIGHT, 1.2, 2.0)
    assert right.done and right.value > 15
    left = signal.response(Action.TURN_LEFT, 1.2, 2.0)
    assert not left.done and "wrong way" in left.detail
    up = signal.response(Action.LOOK_UP, 0.6, 1.5)
    assert up.done
    assert not signal.response(Action.APPROACH, 1.0, 2.0).done  # the head stays put
    assert [c.passed for c in signal.checks()] == [True, False, True, False]


def test_turn_left_from_the_baseline_before_the_step(video: tuple[FrameInput, ...]) -> None:
    # Session time 0 = capture time 1 s; baseline = median of frames before it.
    yaws = [3.0] * 25 + [3.0, 8.0, 14.0, 19.0, 25.0, 25.0, 24.0] + [23.0] * 10
    signal = run(HeadMotionSignal(), posed(video[0], yaws))
    response = signal.response(Action.TURN_LEFT, 0.0, 1.0)
    assert response.done and response.value == pytest.approx(22.0)
    assert not signal.response(Action.TURN_RIGHT, 0.0, 1.0).done
    # Too late: the window closed before the turn.
    assert not signal.response(Action.TURN_LEFT, -0.5, 0.0).done


def test_one_noisy_frame_is_not_a_turn(video: tuple[FrameInput, ...]) -> None:
    yaws = [0.0] * 25 + [0.0, 0.0, 18.0, 0.0, 0.0]
    signal = run(HeadMotionSignal(), posed(video[0], yaws))
    assert not signal.response(Action.TURN_LEFT, 0.0, 1.0).done


def test_look_up_and_wrong_way(video: tuple[FrameInput, ...]) -> None:
    up = [0.0] * 25 + [4.0, 9.0, 13.0, 14.0, 14.0]
    signal = run(HeadMotionSignal(), posed(video[0], [0.0] * 30, up))
    assert signal.response(Action.LOOK_UP, 0.0, 1.0).done
    down = [0.0] * 25 + [-4.0, -9.0, -13.0, -14.0, -14.0]
    signal = run(HeadMotionSignal(), posed(video[0], [0.0] * 30, down))
    assert not signal.response(Action.LOOK_UP, 0.0, 1.0).done


def test_approach_from_iris_depth(video: tuple[FrameInput, ...]) -> None:
    closer = [450.0, 460.0, 440.0] * 8 + [450.0] + list(np.linspace(450.0, 300.0, 15))
    signal = run(HeadMotionSignal(), at_distance(video[0], closer))
    response = signal.response(Action.APPROACH, 0.0, 1.0)
    assert response.done and response.value == pytest.approx(1 - 310.7 / 450.0, abs=0.02)
    away = [450.0] * 25 + list(np.linspace(450.0, 600.0, 15))
    signal = run(HeadMotionSignal(), at_distance(video[0], away))
    assert not signal.response(Action.APPROACH, 0.0, 1.0).done
    strict = HeadMotionSignal(HeadMotionLimits(min_approach=0.5))
    assert not run(strict, at_distance(video[0], closer)).response(Action.APPROACH, 0.0, 1.0).done


def test_blink_is_not_a_head_motion() -> None:
    with pytest.raises(ValueError, match="blink"):
        HeadMotionSignal().response(Action.BLINK, 0.0, 1.0)


def test_no_frames_is_not_done() -> None:
    response = HeadMotionSignal().response(Action.TURN_LEFT, 0.0, 1.0)
    assert not response.done and response.value == 0.0
