"""Pose, iris depth and alignment against images of known geometry."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from support import face_path
from veronica.pipeline.align import ARCFACE_TEMPLATE_112, align_face, similarity_transform
from veronica.pipeline.decode import decode_image
from veronica.pipeline.depth import (
    IRIS_DIAMETER_MM,
    estimate_depth,
    focal_length_px,
    hfov_from_calibration,
)
from veronica.pipeline.detect import MeshDetector
from veronica.pipeline.pose import head_pose
from veronica.pipeline.types import FaceLandmarks


@pytest.fixture(scope="module")
def detector() -> MeshDetector:
    return MeshDetector(max_faces=1)


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return decode_image(face_path("rose_leslie", 2).read_bytes()).bgr


def one_face(detector: MeshDetector, bgr: np.ndarray) -> FaceLandmarks:
    faces = detector.detect(np.ascontiguousarray(bgr))
    assert len(faces) == 1
    return faces[0]


def test_focal_length_formula() -> None:
    # 60° horizontal FOV on 640 px: f = 320 / tan(30°) = 554.26 px.
    assert focal_length_px(640, 60.0) == pytest.approx(554.256, abs=1e-3)
    assert focal_length_px(1280, 90.0) == pytest.approx(640.0, abs=1e-6)


@pytest.mark.parametrize("scale", [0.5, 0.7])
def test_iris_depth_scales_with_distance(
    detector: MeshDetector, portrait: np.ndarray, scale: float
) -> None:
    """Shrinking the scene by s in a same-size frame is the face moving to 1/s
    the distance behind a pinhole: the estimated depth must grow by 1/s."""
    h, w = portrait.shape[:2]
    canvas = np.full_like(portrait, 128)
    small = cv2.resize(portrait, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    y0, x0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    focal = focal_length_px(w, 60.0)
    near = estimate_depth(one_face(detector, portrait), focal)
    far = estimate_depth(one_face(detector, canvas), focal)
    assert near is not None and far is not None
    assert far.distance_mm / near.distance_mm == pytest.approx(1 / scale, rel=0.08)
    # The stated uncertainty covers the person-to-person iris spread (≈ 4 %).
    assert far.uncertainty_mm / far.distance_mm > 0.04


def test_iris_depth_known_value(detector: MeshDetector, portrait: np.ndarray) -> None:
    face = one_face(detector, portrait)
    depth = estimate_depth(face, focal_px=500.0)
    assert depth is not None
    assert depth.distance_mm == pytest.approx(500.0 * IRIS_DIAMETER_MM / depth.iris_px)
    # The iris is about a fifth of the eye-to-eye distance on any adult face.
    assert depth.iris_px / face.interocular_px == pytest.approx(0.19, abs=0.04)


def test_roll_follows_image_rotation(detector: MeshDetector, portrait: np.ndarray) -> None:
    base = head_pose(one_face(detector, portrait))
    h, w = portrait.shape[:2]
    for degrees in (-20.0, 15.0):
        # OpenCV's positive angle is anticlockwise; our roll is clockwise-positive.
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -degrees, 1.0)
        rotated = cv2.warpAffine(portrait, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
        pose = head_pose(one_face(detector, rotated))
        assert pose.roll - base.roll == pytest.approx(degrees, abs=2.5)
        assert pose.yaw == pytest.approx(base.yaw, abs=4.0)


def test_yaw_flips_sign_in_a_mirror(detector: MeshDetector) -> None:
    bgr = decode_image(face_path("obama", 1).read_bytes()).bgr
    pose = head_pose(one_face(detector, bgr))
    mirrored = head_pose(one_face(detector, bgr[:, ::-1]))
    assert mirrored.yaw == pytest.approx(-pose.yaw, abs=3.0)
    assert mirrored.roll == pytest.approx(-pose.roll, abs=2.0)
    assert abs(pose.pitch) < 20.0


def test_similarity_transform_recovers_a_known_one() -> None:
    angle, scale, tx, ty = math.radians(12.0), 1.7, 30.0, -12.0
    rot = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    src = ARCFACE_TEMPLATE_112
    dst = (src @ rot.T + [tx, ty]).astype(np.float32)
    matrix = similarity_transform(src, dst)
    assert np.allclose(matrix[:, :2], rot, atol=1e-3)
    assert np.allclose(matrix[:, 2], [tx, ty], atol=1e-2)


def test_alignment_puts_landmarks_on_the_template(
    detector: MeshDetector, portrait: np.ndarray
) -> None:
    face = one_face(detector, portrait)
    aligned = align_face(portrait, face)
    assert aligned.crop.shape == (112, 112, 3)
    five = face.five_points()
    mapped = five @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
    # A similarity can't fit 5 points exactly; a few pixels is a good fit at 112 px.
    assert np.abs(mapped - ARCFACE_TEMPLATE_112).max() < 6.0
    realigned = one_face(detector, cv2.resize(aligned.crop, (224, 224)))
    assert np.abs(realigned.five_points() / 2 - ARCFACE_TEMPLATE_112).max() < 6.0


def test_calibration_inverts_the_focal_length() -> None:
    focal = focal_length_px(640, 72.0)
    iris_px = 20.0
    distance = focal * IRIS_DIAMETER_MM / iris_px
    assert hfov_from_calibration(iris_px, 640, distance) == pytest.approx(72.0, abs=1e-9)
    with pytest.raises(ValueError):
        hfov_from_calibration(0.0, 640, 500.0)
