from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from liveness_signal_support import run, talking_head, with_analysis

from veronica.liveness.signals.blink import BlinkLimits, BlinkSignal
from veronica.liveness.types import FrameInput
from veronica.pipeline.engine import FaceEngine

FPS = 25.0


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def ear_frames(
    template: FrameInput, ears: list[float], right: list[float] | None = None
) -> list[FrameInput]:
    """Frames whose only difference is the eye aspect ratio (both eyes alike, or
    the image-right eye given apart)."""
    quality = template.analysis.quality
    assert quality is not None
    out = []
    for i, left in enumerate(ears):
        other = left if right is None else right[i]
        q = replace(quality, eye_aspect_ratio=(left + other) / 2, eye_aspect_ratios=(left, other))
        out.append(replace(with_analysis(template, quality=q), t=i / FPS))
    return out


OPEN = [0.30, 0.31, 0.29, 0.30, 0.32, 0.30, 0.31, 0.30, 0.29, 0.30]


@pytest.mark.shared_data
def test_real_video_blinks_are_counted(video: tuple[FrameInput, ...]) -> None:
    signal = run(BlinkSignal(), video)
    # The first 4 s hold two natural blinks (at ~0.9 s and ~1.3 s). Between them
    # the image-left eye only half opens (dip 0.42 at 1.16 s), which the signal
    # may count as a third, shallow one.
    assert 2 <= signal.blink_count <= 3
    deep = [e for e in signal.events if e.depth > 0.6]
    assert [round(e.start_t, 2) for e in deep] == [0.92, 1.24]
    assert all(0.04 <= e.end_t - e.start_t <= 0.4 for e in signal.events)
    (check,) = signal.checks()
    assert check.name == "blinks" and check.passed and check.value == signal.blink_count
    assert signal.blinked_between(0.8, 1.0)
    assert not signal.blinked_between(2.0, 4.0)


@pytest.mark.shared_data
def test_a_still_photo_has_no_blink(video: tuple[FrameInput, ...]) -> None:
    quality = video[0].analysis.quality
    assert quality is not None
    still = ear_frames(video[0], [quality.eye_aspect_ratio] * 60)
    signal = run(BlinkSignal(), still)
    assert signal.blink_count == 0
    assert not signal.checks()[0].passed


@pytest.mark.shared_data
def test_short_deep_dip_is_a_blink(video: tuple[FrameInput, ...]) -> None:
    signal = run(BlinkSignal(), ear_frames(video[0], [*OPEN, 0.2, 0.08, 0.12, *OPEN]))
    assert signal.blink_count == 1
    assert signal.events[0].depth == pytest.approx(1 - 0.08 / 0.30, abs=0.03)
    assert signal.blinked_between(10 / FPS, 11 / FPS)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "dip",
    [
        [0.25, 0.22, 0.25],  # too shallow: a squint or tracker noise (dip ≈ 0.27)
        [0.08] * 20,  # 800 ms: eyes held shut, not a blink
    ],
)
def test_shallow_or_long_dips_are_not_blinks(
    video: tuple[FrameInput, ...], dip: list[float]
) -> None:
    signal = run(BlinkSignal(), ear_frames(video[0], [*OPEN, *dip, *OPEN]))
    assert signal.blink_count == 0


@pytest.mark.shared_data
def test_one_eye_seen_closing_is_a_blink(video: tuple[FrameInput, ...]) -> None:
    # A rim or a glare hides the other lid: the tracker reads that eye as open.
    left = [*OPEN, 0.2, 0.08, 0.12, *OPEN]
    signal = run(BlinkSignal(), ear_frames(video[0], left, right=[0.30] * len(left)))
    assert signal.blink_count == 1
    assert signal.events[0].depth == pytest.approx(1 - 0.08 / 0.30, abs=0.03)


@pytest.mark.shared_data
def test_slow_requested_blink_counts(video: tuple[FrameInput, ...]) -> None:
    # 480 ms below the threshold: slower than a spontaneous blink, still a blink.
    signal = run(BlinkSignal(), ear_frames(video[0], [*OPEN, *[0.1] * 12, *OPEN]))
    assert signal.blink_count == 1


@pytest.mark.shared_data
def test_dip_still_open_at_the_end_is_not_counted(video: tuple[FrameInput, ...]) -> None:
    assert run(BlinkSignal(), ear_frames(video[0], [*OPEN, 0.05, 0.05])).blink_count == 0


@pytest.mark.shared_data
def test_limits_and_session_clock(video: tuple[FrameInput, ...]) -> None:
    frames = ear_frames(video[0], [*OPEN, 0.1, *OPEN, 0.1, *OPEN])
    # Session time starts 0.2 s after capture time 0.
    frames = [replace(f, session_t=f.t - 0.2) for f in frames]
    signal = run(BlinkSignal(BlinkLimits(min_blinks=3)), frames)
    assert signal.blink_count == 2 and not signal.checks()[0].passed
    assert signal.blinked_between(0.1, 0.3)  # the blink at capture 0.4 s
    assert not signal.blinked_between(0.3, 0.5)


@pytest.mark.shared_data
def test_a_baseline_lifted_by_a_turn_recovers(video: tuple[FrameInput, ...]) -> None:
    # A turned head widens one eye in the tracker (simulated: 0.31 → 0.61): the
    # open frontal eye after it reads as closed. Past a blink's length the
    # baseline starts again, and a later blink is still seen.
    right = [0.60] * 10 + [0.30] * 30 + [0.30, 0.08, 0.08, 0.30] + [0.30] * 10
    left = [0.30] * 40 + [0.30, 0.08, 0.08, 0.30] + [0.30] * 10
    signal = run(BlinkSignal(), ear_frames(video[0], left, right=right))
    assert signal.blink_count == 1
    assert signal.events[0].start_t == pytest.approx(41 / FPS)
