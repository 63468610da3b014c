"""Display/print border cue: a face inside a drawn device outline, and without it."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from support import face_path
from veronica.pipeline.border import BorderLimits, border_score
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions
from veronica.pipeline.types import Box

LIMITS = BorderLimits()


def scene(engine: FaceEngine, with_bezel: bool) -> NDArray[np.uint8]:
    """A fixture face filling a tablet-sized picture on a textured wall,
    optionally inside the tablet's white bezel."""
    rng = np.random.default_rng(3)
    canvas = (rng.normal(120, 12, (600, 800, 3))).clip(0, 255).astype(np.uint8)
    photo = cv2.imread(str(face_path("obama", 1)), cv2.IMREAD_COLOR)
    assert photo is not None
    box = central_face(engine, photo)
    cx, cy, half = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, box.width * 0.9
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - 1.2 * half))
    face = cv2.resize(photo[y0 : int(cy + 1.2 * half), x0 : int(cx + half)], (300, 360))
    if with_bezel:
        cv2.rectangle(canvas, (225, 90), (575, 520), (235, 235, 235), thickness=-1)
    canvas[120:480, 250:550] = face
    return canvas


def central_face(engine: FaceEngine, bgr: NDArray[np.uint8]) -> Box:
    analysis = engine.analyze(bgr, AnalysisOptions(pad=False, embed=False))
    assert analysis.face is not None
    return analysis.face.box


def test_a_face_inside_a_device_outline_has_a_border(face_engine: FaceEngine) -> None:
    framed = scene(face_engine, with_bezel=True)
    assert border_score(framed, central_face(face_engine, framed)) >= LIMITS.min_score


def test_the_same_face_on_a_wall_has_none(face_engine: FaceEngine) -> None:
    plain = scene(face_engine, with_bezel=False)
    assert border_score(plain, central_face(face_engine, plain)) < LIMITS.min_score


def test_blank_and_degenerate_inputs_score_zero() -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert border_score(blank, Box(200, 100, 400, 350)) == 0.0
    # A box at the image corner leaves no room for a search region.
    assert border_score(blank, Box(0, 0, 2, 2)) == 0.0
