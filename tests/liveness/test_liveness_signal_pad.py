from __future__ import annotations

from pathlib import Path

import pytest
from liveness_signal_support import run, talking_head, with_analysis

from veronica.liveness.signals.pad import PadLimits, PadSignal, trimmed_mean
from veronica.liveness.types import FrameInput
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.pad import PadScore


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def scored(frames: tuple[FrameInput, ...], scores: list[float]) -> list[FrameInput]:
    return [
        with_analysis(f, pad=PadScore(live=s, crop_scale=2.7))
        for f, s in zip(frames, scores, strict=False)
    ]


def test_trimmed_mean_drops_outliers() -> None:
    assert trimmed_mean([0.9] * 8 + [0.0, 0.0], 0.2) == pytest.approx(0.9)
    assert trimmed_mean([0.2, 0.4], 0.2) == pytest.approx(0.3)


@pytest.mark.shared_data
def test_real_video_aggregate_is_live(video: tuple[FrameInput, ...]) -> None:
    signal = run(PadSignal(), video)
    assert signal.frame_count == len(video)
    assert signal.aggregate is not None and signal.aggregate > 0.9
    assert signal.checks()[0].passed


@pytest.mark.shared_data
def test_low_scores_fail_and_few_frames_fail(video: tuple[FrameInput, ...]) -> None:
    # Below the limit on most frames; the trimmed mean drops the two high ones.
    below = PadLimits().min_live / 2
    low = run(PadSignal(), scored(video, [below] * 18 + [1.0, 1.0]))
    assert low.aggregate == pytest.approx(below)
    assert not low.checks()[0].passed
    few = run(PadSignal(PadLimits(min_frames=10)), scored(video, [1.0] * 5))
    assert few.aggregate is None and not few.checks()[0].passed


@pytest.mark.shared_data
def test_frames_without_a_score_are_ignored(video: tuple[FrameInput, ...]) -> None:
    frames = [with_analysis(f, pad=None) for f in video[:10]]
    assert run(PadSignal(), frames).frame_count == 0
