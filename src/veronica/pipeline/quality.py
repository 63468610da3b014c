"""Stage 3, quality: is this face good enough to recognise (and to enroll)?

Each measure has a threshold in ``QualityPolicy`` with the reason for it.
Thresholds are relative to the face (inter-ocular distance, the aligned crop),
so they hold for any camera resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.pose import HeadPose, head_pose
from veronica.pipeline.types import EYE_LEFT_EAR, EYE_RIGHT_EAR, FaceLandmarks, RejectReason


@dataclass(frozen=True)
class QualityPolicy:
    min_interocular_px: float = 28.0
    """The 112-px template has 35 px between the eyes; below 28 px the crop is
    upsampled more than 1.25× and recognition degrades."""
    min_brightness: float = 40.0
    """Mean face luminance (0–255). Below 40 sensor noise dominates skin texture."""
    max_brightness: float = 225.0
    """Above 225 much of the face is clipped white."""
    min_sharpness: float = 15.0
    """Variance of the Laplacian of the face box resampled to 112 px. On LFW's
    JPEGs the 0.5th percentile is 20.7 and the median 104; a strong blur
    (σ = 8 px) gives about 2 (docs/MODELS.md)."""
    max_yaw_deg: float = 30.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 30.0
    """Pose limits: beyond these the embedders we ship lose accuracy fast and
    one eye or the face outline is hidden."""
    min_eye_aspect_ratio: float = 0.10
    """Open eyes give 0.2–0.4 (LFW median 0.27); a closed eye falls below 0.1.
    LFW's 1st percentile is 0.09: those are mid-blink photos."""
    max_outside_fraction: float = 0.05
    """Share of mesh points outside the image: more means the face is cut off."""


STRICT_ENROLLMENT = QualityPolicy(
    min_interocular_px=40.0,
    max_yaw_deg=20.0,
    max_pitch_deg=20.0,
    max_roll_deg=20.0,
    min_sharpness=25.0,
    min_eye_aspect_ratio=0.15,
)
"""Enrollment makes the reference every later login is compared to, so it asks more."""


@dataclass(frozen=True)
class QualityReport:
    interocular_px: float
    brightness: float
    sharpness: float
    pose: HeadPose
    eye_aspect_ratio: float
    """Mean of both eyes (the quality gate's measure)."""
    outside_fraction: float
    eye_aspect_ratios: tuple[float, float]
    """Image-left and image-right eye (the blink signal follows each eye)."""

    def issues(self, policy: QualityPolicy) -> tuple[RejectReason, ...]:
        """Every failed check, in the order a user should fix them."""
        found: list[RejectReason] = []
        if self.outside_fraction > policy.max_outside_fraction:
            found.append(RejectReason.FACE_CUT_OFF)
        if self.interocular_px < policy.min_interocular_px:
            found.append(RejectReason.FACE_TOO_SMALL)
        if self.brightness < policy.min_brightness:
            found.append(RejectReason.TOO_DARK)
        if self.brightness > policy.max_brightness:
            found.append(RejectReason.TOO_BRIGHT)
        if (
            abs(self.pose.yaw) > policy.max_yaw_deg
            or abs(self.pose.pitch) > policy.max_pitch_deg
            or abs(self.pose.roll) > policy.max_roll_deg
        ):
            found.append(RejectReason.POSE_OUT_OF_RANGE)
        if self.sharpness < policy.min_sharpness:
            found.append(RejectReason.BLURRED)
        if self.eye_aspect_ratio < policy.min_eye_aspect_ratio:
            found.append(RejectReason.EYES_CLOSED)
        return tuple(found)

    def score(self, policy: QualityPolicy) -> float:
        """0–1 ranking score for choosing the best frames or templates; not a gate."""
        size = min(1.0, self.interocular_px / (2 * policy.min_interocular_px))
        sharp = min(1.0, self.sharpness / (4 * policy.min_sharpness))
        frontal = max(0.0, 1.0 - abs(self.pose.yaw) / 45.0 - abs(self.pose.pitch) / 45.0)
        light = 1.0 - min(1.0, abs(self.brightness - 130.0) / 130.0)
        return float(np.clip((size + sharp + frontal + light) / 4.0, 0.0, 1.0))


def eye_aspect_ratios(face: FaceLandmarks) -> tuple[float, float]:
    """Eye aspect ratio (Soukupová & Čech 2016) of the image-left and the
    image-right eye (0 for a degenerate eye)."""
    ratios = []
    for idx in (EYE_LEFT_EAR, EYE_RIGHT_EAR):
        p = face.points[list(idx), :2]
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
        ratios.append(float(vertical / horizontal) if horizontal > 0 else 0.0)
    return ratios[0], ratios[1]


def eye_aspect_ratio(face: FaceLandmarks) -> float:
    """Mean eye aspect ratio of both eyes."""
    left, right = eye_aspect_ratios(face)
    return (left + right) / 2.0


def face_brightness(bgr: NDArray[np.uint8], face: FaceLandmarks) -> float:
    """Mean luminance inside the central part of the face box (skin, not hair/background)."""
    box = face.box
    h, w = bgr.shape[:2]
    cx, cy = box.center
    half_w, half_h = box.width * 0.3, box.height * 0.3
    x0, x1 = int(max(0, cx - half_w)), int(min(w, cx + half_w))
    y0, y1 = int(max(0, cy - half_h)), int(min(h, cy + half_h))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    region = bgr[y0:y1, x0:x1]
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    return float(grey.mean())


def face_sharpness(bgr: NDArray[np.uint8], face: FaceLandmarks, size: int = 112) -> float:
    """Variance of the Laplacian of the face box resampled to ``size`` px.

    Resampling to a fixed size makes the measure independent of resolution
    (a large face is not "sharper" for having more pixels).
    """
    box = face.box
    h, w = bgr.shape[:2]
    x0, x1 = int(max(0, box.x0)), int(min(w, box.x1))
    y0, y1 = int(max(0, box.y0)), int(min(h, box.y1))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    grey = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def outside_fraction(face: FaceLandmarks) -> float:
    xy = face.points[:468, :2]
    inside = (
        (xy[:, 0] >= 0)
        & (xy[:, 0] < face.image_width)
        & (xy[:, 1] >= 0)
        & (xy[:, 1] < face.image_height)
    )
    return float(1.0 - inside.mean())


def assess_quality(bgr: NDArray[np.uint8], face: FaceLandmarks) -> QualityReport:
    ears = eye_aspect_ratios(face)
    return QualityReport(
        interocular_px=face.interocular_px,
        brightness=face_brightness(bgr, face),
        sharpness=face_sharpness(bgr, face),
        pose=head_pose(face),
        eye_aspect_ratio=sum(ears) / 2.0,
        outside_fraction=outside_fraction(face),
        eye_aspect_ratios=ears,
    )
