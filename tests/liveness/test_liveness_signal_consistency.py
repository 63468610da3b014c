from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from liveness_signal_support import run, talking_head, with_analysis

from veronica.liveness.signals.consistency import ConsistencyLimits, ConsistencySignal
from veronica.liveness.types import Check, FrameInput
from veronica.pipeline.engine import FaceEngine

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def by_name(signal: ConsistencySignal) -> dict[str, Check]:
    return {c.name: c for c in signal.checks()}


def test_real_video_passes_every_consistency_check(video: tuple[FrameInput, ...]) -> None:
    checks = by_name(run(ConsistencySignal(), video))
    assert all(c.passed for c in checks.values()), checks
    assert checks["frozen_frames"].value == 0.0
    assert "identity" not in checks  # its own signal (identity.py)


def test_repeated_frame_fails_the_frozen_check(video: tuple[FrameInput, ...]) -> None:
    frozen = [replace(f, bgr=video[0].bgr) for f in video[:30]]
    checks = by_name(run(ConsistencySignal(), frozen))
    assert not checks["frozen_frames"].passed
    assert checks["frozen_frames"].value == 1.0


def test_noise_on_a_repeated_frame_is_not_a_camera(video: tuple[FrameInput, ...]) -> None:
    # A re-encoded still differs by far less than sensor noise: still frozen.
    rng = np.random.default_rng(0)
    base = video[0].bgr.astype(np.int16)
    frames = []
    for f in video[:20]:
        jitter = (rng.random(base.shape) < 0.002).astype(np.int16)
        frames.append(replace(f, bgr=np.clip(base + jitter, 0, 255).astype(np.uint8)))
    assert not by_name(run(ConsistencySignal(), frames))["frozen_frames"].passed


def challenge(frames: list[FrameInput]) -> list[FrameInput]:
    """The frames as challenge frames (session time set)."""
    return [replace(f, session_t=f.t) for f in frames]


def test_a_face_on_every_challenge_frame_passes(video: tuple[FrameInput, ...]) -> None:
    check = by_name(run(ConsistencySignal(), challenge(list(video[:30]))))["face_present"]
    assert check.passed and check.value == 0.0


def test_a_run_of_faceless_challenge_frames_fails(video: tuple[FrameInput, ...]) -> None:
    limits = ConsistencyLimits()
    frames = challenge(list(video[:40]))
    gap = limits.max_faceless_run + 1
    frames[10 : 10 + gap] = [with_analysis(f, face=None) for f in frames[10 : 10 + gap]]
    check = by_name(run(ConsistencySignal(limits), frames))["face_present"]
    assert not check.passed and check.value == gap


def test_scattered_dropouts_add_up(video: tuple[FrameInput, ...]) -> None:
    # Single missing frames never make a run, but a fifth of the frames is too many.
    frames = challenge(list(video[:50]))
    frames = [with_analysis(f, face=None) if i % 5 == 0 else f for i, f in enumerate(frames)]
    check = by_name(run(ConsistencySignal(), frames))["face_present"]
    assert check.value == 1.0 and not check.passed and "10/50" in check.detail


def test_positioning_frames_without_a_face_do_not_count(video: tuple[FrameInput, ...]) -> None:
    # Before the challenge the person is still finding the oval.
    frames = [with_analysis(f, face=None) for f in video[:10]] + challenge(list(video[10:30]))
    assert by_name(run(ConsistencySignal(), frames))["face_present"].passed


def test_face_jump_fails_the_track(video: tuple[FrameInput, ...]) -> None:
    face = video[10].analysis.face
    assert face is not None
    moved = replace(face, points=face.points + np.array([200.0, 0.0, 0.0], np.float32))
    frames = [*video[:10], with_analysis(video[10], face=moved)]
    check = by_name(run(ConsistencySignal(), frames))["face_track"]
    assert not check.passed and check.value > 0.5


def test_face_size_change_fails_the_track(video: tuple[FrameInput, ...]) -> None:
    face = video[10].analysis.face
    assert face is not None
    centre = face.points[:, :2].mean(axis=0)
    grown = face.points.copy()
    grown[:, :2] = centre + (grown[:, :2] - centre) * 1.6
    frames = [*video[:10], with_analysis(video[10], face=replace(face, points=grown))]
    assert not by_name(run(ConsistencySignal(), frames))["face_track"].passed


@pytest.mark.parametrize(("gap_s", "passed"), [(0.04, False), (0.25, True), (0.45, True)])
def test_size_change_is_allowed_per_time_between_frames(
    video: tuple[FrameInput, ...], gap_s: float, passed: bool
) -> None:
    # An approach seen across a dropped frame: ×1.45 in 0.25 s is ×1.2 per 0.1 s,
    # the same change between frames 40 ms apart is a cut.
    face = video[10].analysis.face
    assert face is not None
    centre = face.points[:, :2].mean(axis=0)
    grown = face.points.copy()
    grown[:, :2] = centre + (grown[:, :2] - centre) * 1.45
    later = replace(with_analysis(video[10], face=replace(face, points=grown)))
    frames = [*video[:10], replace(later, t=video[9].t + gap_s)]
    assert by_name(run(ConsistencySignal(), frames))["face_track"].passed is passed


def test_a_long_gap_allows_no_more_than_two_steps(video: tuple[FrameInput, ...]) -> None:
    face = video[10].analysis.face
    assert face is not None
    centre = face.points[:, :2].mean(axis=0)
    grown = face.points.copy()
    grown[:, :2] = centre + (grown[:, :2] - centre) * 1.8  # > 1.3² = 1.69
    later = with_analysis(video[10], face=replace(face, points=grown))
    frames = [*video[:10], replace(later, t=video[9].t + 0.45)]
    assert not by_name(run(ConsistencySignal(), frames))["face_track"].passed


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        ([0.0, 0.04, 0.04, 0.08], "non-increasing"),
        ([0.0, 0.04, 0.02, 0.08], "non-increasing"),
        ([0.0, 0.5, 1.0, 1.5], "fps"),
        ([0.0, 0.04, 0.08, 0.9], "gap"),
    ],
)
def test_implausible_timestamps_fail(
    video: tuple[FrameInput, ...], times: list[float], problem: str
) -> None:
    frames = [replace(f, t=t) for f, t in zip(video, times, strict=False)]
    check = by_name(run(ConsistencySignal(), frames))["timing"]
    assert not check.passed and problem in check.detail


def test_second_face_fails(video: tuple[FrameInput, ...]) -> None:
    frames = [*video[:3], with_analysis(video[3], face_count=2, second_face_ratio=0.7)]
    check = by_name(run(ConsistencySignal(), frames))["second_face"]
    assert not check.passed and check.value == pytest.approx(0.7)
    small = [*video[:3], with_analysis(video[3], face_count=2, second_face_ratio=0.1)]
    assert by_name(run(ConsistencySignal(), small))["second_face"].passed


def test_limits_are_taken_from_the_constructor(video: tuple[FrameInput, ...]) -> None:
    strict = ConsistencyLimits(max_gap_s=0.01)
    assert not by_name(run(ConsistencySignal(strict), video))["timing"].passed


def test_a_slow_server_does_not_fail_a_client_that_keeps_pace(
    video: tuple[FrameInput, ...],
) -> None:
    # Frames 0.7 s apart on arrival because the server took 0.65 s per answer; the
    # client itself waited 50 ms after each answer.
    slow = [replace(f, t=i * 0.7, wait_s=0.05) for i, f in enumerate(video[:20])]
    check = by_name(run(ConsistencySignal(), slow))["timing"]
    assert check.value == pytest.approx(0.05) and "gap" not in check.detail
    # A client that holds a frame back 0.8 s after the answer is a gap, whatever
    # the server did.
    held = [
        replace(f, t=i * 0.1, wait_s=0.8 if i == 10 else 0.05) for i, f in enumerate(video[:20])
    ]
    held[10:] = [replace(f, t=f.t + 0.8) for f in held[10:]]
    check = by_name(run(ConsistencySignal(), held))["timing"]
    assert not check.passed and "gap 0.80" in check.detail
