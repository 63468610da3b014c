"""Identity across a session's embedded frames (``signals/identity.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from veronica.liveness.signals.identity import IdentityLimits, IdentitySignal
from veronica.liveness.types import FrameInput
from veronica.pipeline.pose import HeadPose
from veronica.pipeline.quality import QualityReport
from veronica.pipeline.runner import FrameAnalysis

DIM = 192
BLANK = np.zeros((4, 4, 3), np.uint8)


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine similarity to ``v`` is exactly ``similarity``."""
    other = unit(rng)
    other -= float(np.dot(other, v)) * v
    other /= np.linalg.norm(other)
    out = similarity * v + np.sqrt(1.0 - similarity**2) * other
    return out.astype(np.float32)


def frame(t: float, embedding: np.ndarray | None, yaw: float = 0.0, ear: float = 0.3) -> FrameInput:
    quality = QualityReport(
        interocular_px=60.0,
        brightness=120.0,
        sharpness=80.0,
        pose=HeadPose(yaw=yaw, pitch=0.0, roll=0.0),
        eye_aspect_ratio=ear,
        outside_fraction=0.0,
        eye_aspect_ratios=(ear, ear),
    )
    analysis = FrameAnalysis(
        image_width=640, image_height=480, quality=quality, quality_score=0.8, embedding=embedding
    )
    return FrameInput(t=t, bgr=BLANK, analysis=analysis)


def run(frames: list[FrameInput], limits: IdentityLimits | None = None) -> IdentitySignal:
    signal = IdentitySignal(limits)
    for f in frames:
        signal.update(f)
    return signal


def test_one_person_passes() -> None:
    rng = np.random.default_rng(0)
    ref = unit(rng)
    signal = run([frame(i * 0.1, near(ref, 0.9, rng)) for i in range(8)])
    (check,) = signal.checks()
    assert check.passed and check.name == "identity"
    assert len(signal.samples) == 8


def test_another_person_on_one_frame_fails() -> None:
    rng = np.random.default_rng(1)
    ref = unit(rng)
    frames = [frame(i * 0.1, near(ref, 0.9, rng)) for i in range(8)]
    frames[5] = frame(0.5, unit(rng))  # a stranger: similarity ~0
    (check,) = run(frames).checks()
    assert not check.passed and "t=0.50" in check.detail


def test_posed_frames_are_held_to_the_posed_limit() -> None:
    rng = np.random.default_rng(2)
    ref = unit(rng)
    limits = IdentityLimits()
    between = (limits.min_similarity + limits.min_similarity_posed) / 2
    frontal = [frame(i * 0.1, near(ref, 0.95, rng)) for i in range(5)]
    turned = frame(0.6, near(frontal[0].analysis.embedding, between, rng), yaw=25.0)
    (check,) = run([*frontal, turned]).checks()
    assert check.passed and check.limit == limits.min_similarity_posed
    blinking = frame(0.6, near(frontal[0].analysis.embedding, between, rng), ear=0.1)
    assert run([*frontal, blinking]).samples[-1].posed
    straight = frame(0.6, near(frontal[0].analysis.embedding, between, rng))
    assert not run([*frontal, straight]).checks()[0].passed


def test_the_reference_is_the_first_frontal_sample() -> None:
    rng = np.random.default_rng(3)
    ref = unit(rng)
    first_posed = frame(0.0, near(ref, 0.6, rng), yaw=30.0)
    frames = [first_posed] + [frame(0.1 * i, near(ref, 0.99, rng)) for i in range(1, 6)]
    signal = run(frames)
    assert signal.samples[0].similarity == pytest.approx(1.0)  # the reference itself
    assert any(s.posed and s.t == 0.0 for s in signal.samples)  # held, then compared


@pytest.mark.parametrize("count", [0, 3])
def test_too_few_samples_fail_never_not_applicable(count: int) -> None:
    rng = np.random.default_rng(4)
    ref = unit(rng)
    signal = run([frame(i * 0.1, near(ref, 0.99, rng)) for i in range(count)])
    (check,) = signal.checks()
    assert not check.passed and "need 4" in check.detail


def test_frames_without_an_embedding_are_not_samples() -> None:
    rng = np.random.default_rng(5)
    ref = unit(rng)
    frames = [frame(i * 0.1, near(ref, 0.9, rng) if i % 2 else None) for i in range(10)]
    assert len(run(frames).samples) == 5


def test_a_posed_frame_matches_the_closest_verified_frontal_sample() -> None:
    # A look-up resembles the slightly pitched frontal frame before it more than
    # the first straight-on one: the closest verified frontal sample counts.
    rng = np.random.default_rng(6)
    limits = IdentityLimits()
    ref = unit(rng)
    first = frame(0.0, ref)
    pitched = near(ref, 0.8, rng)  # verified: 0.8 >= the frontal limit 0.5
    look_up = near(pitched, limits.min_similarity_posed + 0.1, rng)
    weak_to_ref = float(np.dot(ref, look_up))
    assert weak_to_ref < limits.min_similarity_posed  # against the reference alone: refused
    frames = [first, *(frame(0.1 * i, near(ref, 0.9, rng)) for i in range(1, 4))]
    frames += [frame(0.5, pitched), frame(0.6, look_up, yaw=25.0)]
    signal = run(frames)
    (check,) = signal.checks()
    assert check.passed
    assert signal.matches()[-1] == pytest.approx(limits.min_similarity_posed + 0.1, abs=1e-5)
    assert signal.samples[-1].similarity == pytest.approx(weak_to_ref, abs=1e-5)


def test_a_posed_frame_cannot_borrow_a_likeness_from_an_unverified_frame() -> None:
    # A proxy: the victim on the frontal frames, an accomplice on one frontal
    # frame (refused there) and on the turns. The accomplice's frontal frame is
    # no anchor, so the turns are compared with the victim only.
    rng = np.random.default_rng(7)
    victim = unit(rng)
    accomplice = near(victim, 0.2, rng)
    frames = [frame(0.1 * i, near(victim, 0.95, rng)) for i in range(5)]
    frames.append(frame(0.5, accomplice))
    frames += [frame(0.6 + 0.1 * i, near(accomplice, 0.9, rng), yaw=25.0) for i in range(4)]
    signal = run(frames)
    (check,) = signal.checks()
    assert not check.passed
    assert max(signal.matches()[6:]) < IdentityLimits().min_similarity_posed
