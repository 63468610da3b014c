from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from liveness_signal_support import analyze_frames, run, talking_head, with_analysis

from veronica.liveness.signals.zoom import ZoomSignal, expected_ratio
from veronica.liveness.types import Action, FrameInput
from veronica.pipeline.depth import IrisDepth
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.types import IRIS_LEFT_CENTER, IRIS_RIGHT_CENTER, FaceLandmarks

pytestmark = pytest.mark.shared_data
IOD_MM = 63.0


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def approached(face: FaceLandmarks, d0: float, d1: float) -> FaceLandmarks:
    """The face's mesh as a pinhole camera sees it moved from ``d0`` to ``d1`` mm:
    each point scales by its own depth ratio (mesh z, in mm via the IOD)."""
    p = face.points.astype(np.float64)
    mm_per_px = IOD_MM / face.interocular_px
    z_iris = (p[IRIS_LEFT_CENTER, 2] + p[IRIS_RIGHT_CENTER, 2]) / 2
    depth = (p[:, 2] - z_iris) * mm_per_px  # relative to the irises, + = farther
    gain = (d0 + depth) / (d1 + depth)
    centre = p[[IRIS_LEFT_CENTER, IRIS_RIGHT_CENTER], :2].mean(axis=0)
    out = p.copy()
    out[:, :2] = centre + (p[:, :2] - centre) * gain[:, None]
    return replace(face, points=out.astype(np.float32))


def approach_frames(template: FrameInput, distances: np.ndarray, real_3d: bool) -> list[FrameInput]:
    face = template.analysis.face
    assert face is not None
    frames = []
    for i, d in enumerate(distances):
        if real_3d:
            moved = approached(face, distances[0], d)
        else:  # a flat picture: every point scales alike
            centre = face.points[:, :2].mean(axis=0)
            pts = face.points.copy()
            pts[:, :2] = centre + (pts[:, :2] - centre) * (distances[0] / d)
            moved = replace(face, points=pts)
        depth = IrisDepth(float(d), float(d) * 0.05, 20.0, 555.0)
        frame = with_analysis(template, face=moved, depth=depth)
        frames.append(replace(frame, t=i / 25.0, action=Action.APPROACH))
    return frames


def test_expected_ratio_of_a_pinhole_head() -> None:
    assert expected_ratio(450, 250, 25, 60) == pytest.approx((425 / 225) / (510 / 310))
    assert expected_ratio(400, 400, 25, 60) == pytest.approx(1.0)


def test_synthetic_real_head_agrees_with_iris_depth(video: tuple[FrameInput, ...]) -> None:
    distances = np.linspace(450.0, 280.0, 20)
    signal = run(ZoomSignal(), approach_frames(video[95], distances, real_3d=True))
    (check,) = signal.checks()
    assert check.passed, check
    result = signal.result()
    assert result is not None and result.measured > 1.05


def test_synthetic_flat_image_fails(video: tuple[FrameInput, ...]) -> None:
    distances = np.linspace(450.0, 280.0, 20)
    (check,) = run(ZoomSignal(), approach_frames(video[95], distances, real_3d=False)).checks()
    assert not check.passed and abs(check.value) < 0.01


def test_no_approach_is_not_enough_motion(video: tuple[FrameInput, ...]) -> None:
    (check,) = run(ZoomSignal(), video[:20]).checks()  # no APPROACH action
    assert not check.passed and "not enough motion" in check.detail
    still = approach_frames(video[95], np.full(20, 400.0), real_3d=True)
    (check,) = run(ZoomSignal(), still).checks()
    assert not check.passed and "not enough motion" in check.detail


def test_mesh_on_scaled_real_video_zooms_uniformly(
    face_engine: FaceEngine, video: tuple[FrameInput, ...]
) -> None:
    # The real video scaled up (a picture brought closer): the mesh must report
    # a uniform zoom while the iris says the face came closer, so the check fails.
    frames = []
    for i, frame in enumerate(video[90:100]):
        scale = 1.0 + 0.4 * i / 9
        m = cv2.getRotationMatrix2D((320.0, 240.0), 0.0, scale)
        frames.append(cv2.warpAffine(frame.bgr, m, (640, 480)))
    analysed = [replace(f, action=Action.APPROACH) for f in analyze_frames(face_engine, frames, 25)]
    signal = run(ZoomSignal(), analysed)
    result = signal.result()
    assert result is not None
    assert result.d1_mm < result.d0_mm * 0.8  # the iris saw an approach
    assert abs(result.measured - 1.0) < 0.03  # the mesh zoomed uniformly
    assert not signal.checks()[0].passed
