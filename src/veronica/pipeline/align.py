"""Stage 5, alignment: a 5-point similarity transform onto the embedder's template.

A similarity (rotation, uniform scale, translation) keeps the face's shape; a
full affine would stretch it to fit and change identity cues. We fit it by
least squares over all five points (Umeyama 1991). OpenCV's
``estimateAffinePartial2D`` defaults to RANSAC, which on five points often
fits a subset and drops the rest: on LFW View 1 dev-test that cost
MobileFaceNet 0.5 points (98.8 % vs 99.3 %, docs/MODELS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.types import FaceLandmarks

# The ArcFace/InsightFace template for 112×112 crops: eye centres, nose tip,
# mouth corners, image-left first. The embedders we ship were trained on it.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True, eq=False)
class AlignedFace:
    crop: NDArray[np.uint8]
    """size×size BGR."""
    matrix: NDArray[np.float64]
    """2×3 similarity transform from image pixels to crop pixels."""


def similarity_transform(src: NDArray[np.float32], dst: NDArray[np.float32]) -> NDArray[np.float64]:
    """Least-squares similarity (2×3 matrix) mapping ``src`` onto ``dst`` (N×2 each)."""
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    mean_s, mean_d = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - mean_s, d - mean_d
    variance = float((s_c**2).sum()) / len(s)
    if variance < 1e-9:
        raise ValueError("degenerate landmarks: all points coincide")
    u, sigma, vt = np.linalg.svd(d_c.T @ s_c / len(s))
    reflection = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ reflection @ vt
    scale = float(np.trace(np.diag(sigma) @ reflection)) / variance
    translation = mean_d - scale * rotation @ mean_s
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(bgr: NDArray[np.uint8], face: FaceLandmarks, size: int = 112) -> AlignedFace:
    template = ARCFACE_TEMPLATE_112 * (size / 112.0)
    matrix = similarity_transform(face.five_points(), template)
    crop = cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    return AlignedFace(crop=np.asarray(crop, dtype=np.uint8), matrix=matrix)
