"""Values shared by the pipeline stages: landmarks, boxes and the mesh indices we use."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

# Face Mesh indices (478-point topology with refine_landmarks=True). "Image-left"
# is the left side of the picture, i.e. the subject's right eye.
IRIS_LEFT_CENTER = 468
IRIS_LEFT_RING = (469, 470, 471, 472)  # right, top, left, bottom of the image-left iris
IRIS_RIGHT_CENTER = 473
IRIS_RIGHT_RING = (474, 475, 476, 477)
NOSE_TIP = 1
MOUTH_LEFT = 61
MOUTH_RIGHT = 291
EYE_LEFT_OUTER = 33
EYE_RIGHT_OUTER = 263
FOREHEAD = 10
CHIN = 152
# Eye contours for the eye aspect ratio: (corner, upper, upper, corner, lower, lower).
EYE_LEFT_EAR = (33, 160, 158, 133, 153, 144)
EYE_RIGHT_EAR = (362, 385, 387, 263, 373, 380)
FIVE_POINTS = (IRIS_LEFT_CENTER, IRIS_RIGHT_CENTER, NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """One face's 478 mesh points in pixels: x, y, and z on the x scale (smaller = nearer)."""

    points: NDArray[np.float32]
    image_width: int
    image_height: int

    @cached_property
    def box(self) -> Box:
        """Bounding box of the 468 face points (computed once: several stages use it)."""
        xy = self.points[:468, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return Box(float(x0), float(y0), float(x1), float(y1))

    @property
    def interocular_px(self) -> float:
        """Distance between the iris centres, the scale every size threshold uses."""
        a = self.points[IRIS_LEFT_CENTER, :2]
        b = self.points[IRIS_RIGHT_CENTER, :2]
        return float(np.linalg.norm(a - b))

    def five_points(self) -> NDArray[np.float32]:
        """Iris centres, nose tip, mouth corners, in the ArcFace template's order."""
        return self.points[list(FIVE_POINTS), :2].astype(np.float32)


@dataclass(frozen=True)
class Point:
    x: float
    y: float


class RejectReason(StrEnum):
    """Why the pipeline stopped early on a frame; stable strings for APIs and logs."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_CUT_OFF = "face_cut_off"
    FACE_TOO_SMALL = "face_too_small"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    POSE_OUT_OF_RANGE = "pose_out_of_range"
    BLURRED = "blurred"
    EYES_CLOSED = "eyes_closed"
