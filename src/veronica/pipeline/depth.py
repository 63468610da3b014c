"""Stage 4, iris depth: distance from the camera in millimetres.

The human iris is 11.7 ± 0.5 mm across in nearly everyone (so its size in the
image gives scale without a calibration object). With the focal length in
pixels, a pinhole camera gives ``distance = f_px × 11.7 mm / iris_px``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from veronica.pipeline.types import IRIS_LEFT_RING, IRIS_RIGHT_RING, FaceLandmarks

IRIS_DIAMETER_MM = 11.7
IRIS_DIAMETER_SD_MM = 0.5
"""Spread of the iris diameter between people (population standard deviation)."""
LANDMARK_NOISE_PX = 0.7
"""Typical Face Mesh landmark noise per frame (0.3–1.1 px measured); sets the
pixel part of the uncertainty."""


def focal_length_px(image_width: int, horizontal_fov_deg: float) -> float:
    """Pinhole focal length in pixels from the camera's horizontal field of view."""
    return (image_width / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)


def hfov_from_calibration(iris_px: float, image_width: int, distance_mm: float) -> float:
    """Horizontal field of view (degrees) implied by a face photographed at a
    measured distance: the inverse of ``focal_length_px`` with the iris as ruler.

    Averaging a few photos taken at 40–60 cm cancels most of the person-to-person
    iris spread for that user; it still carries their own iris size.
    """
    if iris_px <= 0 or image_width <= 0 or distance_mm <= 0:
        raise ValueError("iris size, image width and distance must be positive")
    focal = distance_mm * iris_px / IRIS_DIAMETER_MM
    return math.degrees(2.0 * math.atan((image_width / 2.0) / focal))


@dataclass(frozen=True)
class IrisDepth:
    distance_mm: float
    uncertainty_mm: float
    """One standard deviation: person-to-person iris size plus landmark noise."""
    iris_px: float
    focal_px: float


def iris_diameter_px(face: FaceLandmarks) -> float:
    """Mean over both eyes of each iris's larger axis.

    A turned head foreshortens the iris into an ellipse; its larger axis stays
    close to the true diameter, so it is the robust measure.
    """
    diameters = []
    for ring in (IRIS_LEFT_RING, IRIS_RIGHT_RING):
        right, top, left, bottom = (face.points[i, :2] for i in ring)
        horizontal = float(np.linalg.norm(right - left))
        vertical = float(np.linalg.norm(top - bottom))
        diameters.append(max(horizontal, vertical))
    return float(np.mean(diameters))


def estimate_depth(face: FaceLandmarks, focal_px: float) -> IrisDepth | None:
    """Distance of the eyes from the camera; ``None`` if the iris is degenerate."""
    iris_px = iris_diameter_px(face)
    if iris_px < 1.0:
        return None
    distance = focal_px * IRIS_DIAMETER_MM / iris_px
    # Relative errors add in quadrature; the mean of 2 eyes halves pixel variance.
    pixel_rel = LANDMARK_NOISE_PX / math.sqrt(2.0) / iris_px
    size_rel = IRIS_DIAMETER_SD_MM / IRIS_DIAMETER_MM
    return IrisDepth(
        distance_mm=distance,
        uncertainty_mm=distance * math.hypot(pixel_rel, size_rel),
        iris_px=iris_px,
        focal_px=focal_px,
    )
