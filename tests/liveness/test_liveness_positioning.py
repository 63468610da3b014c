"""Positioning hints on real photos placed in a webcam-sized frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from support import face_path, read
from veronica.liveness.positioning import Hint, Oval, PositioningLimits, place
from veronica.pipeline.decode import decode_image
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.quality import QualityPolicy
from veronica.pipeline.runner import AnalysisOptions

GATE = AnalysisOptions(gate=QualityPolicy(), max_second_face_ratio=0.5, embed=False, pad=False)


def frame_with_face(scale: float, dx: int = 0, dy: int = 0) -> np.ndarray:
    """A 640×480 frame with a fixture face scaled by ``scale`` and shifted by (dx, dy)."""
    photo = decode_image(face_path("rose_leslie", 2).read_bytes()).bgr
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 110, np.uint8)
    h, w = small.shape[:2]
    y0, x0 = 240 - h // 2 + dy, 320 - w // 2 + dx
    ys, xs = slice(max(0, y0), min(480, y0 + h)), slice(max(0, x0), min(640, x0 + w))
    canvas[ys, xs] = small[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return canvas


@pytest.fixture(scope="module")
def limits() -> PositioningLimits:
    return PositioningLimits()


def test_a_well_placed_face_passes(face_engine: FaceEngine, limits: PositioningLimits) -> None:
    analysis = face_engine.analyze(frame_with_face(0.75, dy=60), GATE)
    assert analysis.depth is not None
    assert limits.min_distance_mm < analysis.depth.distance_mm < limits.max_distance_mm
    placement = place(analysis, Oval(), limits)
    assert placement.ok, placement.hints


def test_far_face_is_told_to_come_closer(
    face_engine: FaceEngine, limits: PositioningLimits
) -> None:
    placement = place(face_engine.analyze(frame_with_face(0.45, dy=60), GATE), Oval(), limits)
    assert not placement.ok and placement.hints[0] is Hint.MOVE_CLOSER


def test_off_centre_face_gets_a_direction(
    face_engine: FaceEngine, limits: PositioningLimits
) -> None:
    # Face on the image's right = the person's left: they must move to their right.
    placement = place(face_engine.analyze(frame_with_face(0.6, dx=200), GATE), Oval(), limits)
    assert Hint.MOVE_RIGHT in placement.hints
    placement = place(face_engine.analyze(frame_with_face(0.6, dx=-200), GATE), Oval(), limits)
    assert Hint.MOVE_LEFT in placement.hints


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("no_face.jpg", Hint.NO_FACE),
        ("dark.jpg", Hint.MORE_LIGHT),
        ("multi/two_faces.jpg", Hint.ONE_FACE_ONLY),
    ],
)
def test_rejections_become_hints(
    face_engine: FaceEngine, limits: PositioningLimits, name: str, hint: Hint
) -> None:
    placement = place(face_engine.analyze(read(name), GATE), Oval(), limits)
    assert not placement.ok and placement.hints == (hint,)
