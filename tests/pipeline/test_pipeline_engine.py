"""The real engine end to end: embeddings, similarity, quality gate, PAD, timings."""

from __future__ import annotations

import itertools
import json

import cv2
import numpy as np
import pytest

from support import DATA, face_path, read
from veronica.errors import BadInputError, ImageDecodeError
from veronica.pipeline.decode import decode_image
from veronica.pipeline.engine import FaceEngine, FaceRejectedError
from veronica.pipeline.quality import STRICT_ENROLLMENT, QualityPolicy
from veronica.pipeline.runner import AnalysisOptions
from veronica.pipeline.types import RejectReason

PEOPLE = json.loads((DATA / "manifest.json").read_text())["people"]


@pytest.fixture(scope="module")
def embeddings(face_engine: FaceEngine) -> dict[tuple[str, int], np.ndarray]:
    return {
        (person, n): face_engine.embed(face_path(person, n).read_bytes())
        for person, files in PEOPLE.items()
        for n in range(1, len(files) + 1)
    }


def test_embeddings_are_unit_vectors(embeddings: dict[tuple[str, int], np.ndarray]) -> None:
    for vector in embeddings.values():
        assert vector.dtype == np.float32 and vector.shape == (192,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_same_person_above_and_different_below_threshold(
    face_engine: FaceEngine, embeddings: dict[tuple[str, int], np.ndarray]
) -> None:
    threshold = face_engine.default_threshold
    margins_same, margins_diff = [], []
    for (ka, a), (kb, b) in itertools.combinations(embeddings.items(), 2):
        similarity = face_engine.compare(a, b)
        if ka[0] == kb[0]:
            margins_same.append(similarity - threshold)
        else:
            margins_diff.append(threshold - similarity)
    # Every same-person pair matches and every different-person pair doesn't,
    # with daylight between them (not just barely across the line).
    assert min(margins_same) > 0.05, margins_same
    assert min(margins_diff) > 0.15, margins_diff


def test_embedding_is_deterministic_and_robust_to_reencoding(face_engine: FaceEngine) -> None:
    raw = face_path("alex_lacamoire", 1).read_bytes()
    first, second = face_engine.embed(raw), face_engine.embed(raw)
    assert np.array_equal(first, second)
    png = face_engine.embed(face_engine.analyze(raw).aligned.crop)  # type: ignore[union-attr]
    assert face_engine.compare(first, png) > 0.9


def test_analysis_reports_every_stage(face_engine: FaceEngine) -> None:
    analysis = face_engine.analyze(face_path("obama", 2).read_bytes())
    assert analysis.ok and analysis.face_count == 1
    assert [t.stage for t in analysis.timings] == [
        "detect",
        "quality",
        "depth",
        "align",
        "embed",
        "pad",
    ]
    assert all(t.ms >= 0 for t in analysis.timings)
    assert analysis.quality is not None and analysis.quality.interocular_px > 40
    assert analysis.depth is not None and 100 < analysis.depth.distance_mm < 3000
    assert analysis.pad is not None and 0.0 <= analysis.pad.live <= 1.0
    assert 0.0 < analysis.quality_score <= 1.0


def test_options_skip_late_stages(face_engine: FaceEngine) -> None:
    analysis = face_engine.analyze(
        face_path("obama", 2).read_bytes(), AnalysisOptions(embed=False, pad=False)
    )
    assert analysis.embedding is None and analysis.pad is None
    assert "embed" not in {t.stage for t in analysis.timings}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no_face.jpg", RejectReason.NO_FACE),
        ("tiny_face.jpg", RejectReason.NO_FACE),
        ("dark.jpg", RejectReason.TOO_DARK),
        ("blurred.jpg", RejectReason.BLURRED),
    ],
)
def test_quality_gate_stops_with_the_reason(
    face_engine: FaceEngine, name: str, reason: RejectReason
) -> None:
    analysis = face_engine.analyze(read(name), AnalysisOptions(gate=QualityPolicy()))
    assert analysis.rejection is reason
    assert analysis.embedding is None
    with pytest.raises(FaceRejectedError) as info:
        face_engine.embed(read(name), AnalysisOptions(gate=QualityPolicy()))
    assert info.value.code == reason.value and info.value.status == 422


def test_second_face_rejected_only_when_asked(face_engine: FaceEngine) -> None:
    raw = read("multi/two_faces.jpg")
    assert face_engine.analyze(raw).ok
    strict = face_engine.analyze(raw, AnalysisOptions(max_second_face_ratio=0.5))
    assert strict.rejection is RejectReason.MULTIPLE_FACES and strict.face_count == 2


def test_small_face_fails_the_enrollment_gate_but_not_login(face_engine: FaceEngine) -> None:
    original = decode_image(face_path("obama", 1).read_bytes()).bgr
    half = cv2.resize(original, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small = face_engine.analyze(half, AnalysisOptions(gate=STRICT_ENROLLMENT))
    assert small.quality is not None
    assert QualityPolicy().min_interocular_px < small.quality.interocular_px
    assert small.quality.interocular_px < STRICT_ENROLLMENT.min_interocular_px
    assert small.rejection is RejectReason.FACE_TOO_SMALL
    assert face_engine.analyze(half, AnalysisOptions(gate=QualityPolicy())).ok


def test_bad_inputs(face_engine: FaceEngine) -> None:
    with pytest.raises(ImageDecodeError):
        face_engine.analyze(read("truncated.jpg"))
    with pytest.raises(BadInputError):
        face_engine.analyze(np.zeros((10, 10), np.uint8))
    with pytest.raises(BadInputError):
        face_engine.compare(np.zeros(192, np.float32), np.zeros(512, np.float32))


def test_eyes_closed_and_pose_issues_are_reported_by_the_report(face_engine: FaceEngine) -> None:
    analysis = face_engine.analyze(face_path("rose_leslie", 1).read_bytes())
    assert analysis.quality is not None
    strict = QualityPolicy(min_eye_aspect_ratio=1.0, max_yaw_deg=0.0)
    issues = analysis.quality.issues(strict)
    assert RejectReason.EYES_CLOSED in issues and RejectReason.POSE_OUT_OF_RANGE in issues
