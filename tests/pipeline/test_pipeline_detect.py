"""Face Mesh on real photos: landmark count, known geometry, face choice."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from support import DATA, face_path, read
from veronica.pipeline.decode import decode_image
from veronica.pipeline.detect import MeshDetector, choose_face
from veronica.pipeline.types import FaceLandmarks, Point


@pytest.fixture(scope="module")
def detector() -> MeshDetector:
    return MeshDetector(max_faces=4)


def test_one_face_with_478_points(detector: MeshDetector) -> None:
    bgr = decode_image(face_path("obama", 1).read_bytes()).bgr
    faces = detector.detect(bgr)
    assert len(faces) == 1
    face = faces[0]
    assert face.points.shape == (478, 3)
    # Geometry any real face has: eyes above the nose tip, nose above the mouth,
    # image-left iris left of the image-right one.
    five = face.five_points()
    assert five[0, 0] < five[1, 0]
    assert max(five[0, 1], five[1, 1]) < five[2, 1] < min(five[3, 1], five[4, 1])


def test_face_width_matches_the_fixture_manifest(detector: MeshDetector) -> None:
    manifest = json.loads((DATA / "manifest.json").read_text())
    for entry in manifest["faces"]:
        bgr = decode_image((DATA / entry["file"]).read_bytes()).bgr
        faces = detector.detect(bgr)
        assert len(faces) == entry["faces_found"], entry["file"]
        width = faces[0].points[:, 0].max() - faces[0].points[:, 0].min()
        assert width == pytest.approx(entry["face_width_px"][0], abs=3.0), entry["file"]


def test_landmarks_follow_a_shift(detector: MeshDetector) -> None:
    """Translating the image by (dx, dy) moves the landmarks by the same amount."""
    bgr = decode_image(face_path("biden", 2).read_bytes()).bgr
    base = detector.detect(bgr)[0]
    dx, dy = 40, 25
    shifted_img = cv2.warpAffine(bgr, np.float32([[1, 0, dx], [0, 1, dy]]), bgr.shape[1::-1])
    shifted = detector.detect(shifted_img)[0]
    delta = shifted.five_points() - base.five_points()
    # The mesh re-crops the face after a shift; points move by up to ~3 px of noise.
    assert np.allclose(delta, [dx, dy], atol=3.0)


@pytest.mark.parametrize("name", ["no_face.jpg", "tiny_face.jpg"])
def test_no_face_found(detector: MeshDetector, name: str) -> None:
    assert detector.detect(decode_image(read(name)).bgr) == ()


def test_blank_frames(detector: MeshDetector) -> None:
    for value in (0, 255):
        assert detector.detect(np.full((480, 640, 3), value, np.uint8)) == ()


def test_two_faces_and_choice_by_target(detector: MeshDetector) -> None:
    bgr = decode_image(read("multi/two_faces.jpg")).bgr
    faces = detector.detect(bgr)
    assert len(faces) == 2
    left = min(faces, key=lambda f: f.box.center[0])
    right = max(faces, key=lambda f: f.box.center[0])
    h, w = bgr.shape[:2]
    assert choose_face(faces, Point(0, h / 2)).face is left  # type: ignore[union-attr]
    chosen = choose_face(faces, Point(w, h / 2))
    assert chosen is not None and chosen.face is right
    assert chosen.face_count == 2
    assert 0.5 < chosen.second_face_ratio < 2.0  # comparable sizes


def test_choose_face_defaults_to_centre_and_handles_none() -> None:
    def face_at(cx: float, size: float) -> FaceLandmarks:
        pts = np.zeros((478, 3), np.float32)
        pts[:468, 0] = np.linspace(cx - size / 2, cx + size / 2, 468)
        pts[:468, 1] = np.linspace(100 - size / 2, 100 + size / 2, 468)
        return FaceLandmarks(points=pts, image_width=400, image_height=200)

    central, corner = face_at(200, 40), face_at(30, 80)
    choice = choose_face((corner, central))
    assert choice is not None and choice.face is central
    assert choice.second_face_ratio == pytest.approx(4.0, rel=0.01)
    assert choose_face(()) is None
