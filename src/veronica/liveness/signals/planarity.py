"""Planarity: does the face's texture move like one plane (a photo or screen)?

Texture points (KLT: corners inside the face outline, tracked frame to frame
with a forward-backward check) are followed through a motion segment. Any
flat thing, however it moves, maps its first to its current points by one
homography; a turning head does not (the nose moves against the cheeks). The
residual of the best homography, in inter-ocular distances, per degree of yaw
change, measures the depth. Field notes: KLT gives 0.001–0.004 IOD/° for flat
cards vs 0.003–0.016 for real heads, but a bent print also has depth — this is
one signal, never the judge.

A segment starts when tracks are seeded and ends when too few survive, the
face is lost, the challenge action changes, or it gets too long (drift). The
mesh's own nose-tip parallax against the outline is kept as a secondary,
weaker measure (its 3D face prior bends flat photos too). Work is done on the
frame scaled by ``scale``; keeps the previous small grey frame and the points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.signals._common import FACE_OVAL, oval_polygon
from veronica.liveness.state import Snapshot
from veronica.liveness.types import Action, Check, FrameInput
from veronica.pipeline.types import NOSE_TIP, FaceLandmarks

Points = NDArray[np.float32]
LK_WINDOW = (15, 15)
LK_LEVELS = 2
"""Lucas-Kanade window and pyramid depth for a ~120 px face (scaled frame)."""


@dataclass(frozen=True)
class PlanarityLimits:
    min_residual_per_deg: float = 0.003
    """Homography residual (RMS, inter-ocular distances) per degree of yaw that a
    real head exceeds. Field notes: flat cards 0.001–0.004, real heads
    0.003–0.016; here a synthetic tilted card gives ≈ 0.001 and the talking-head
    video's 24° turn ≈ 0.0095. Uncalibrated on real attacks: one signal only."""
    min_turn_deg: float = 10.0
    """Yaw change a segment needs before its residual means anything: below it
    landmark and tracking noise dominate the ratio."""
    scale: float = 0.5
    """Tracking runs on the frame scaled by this (a 640×480 frame's face is
    ~120 px wide at 0.5: enough texture, a quarter of the pixels)."""
    max_tracks: int = 60
    """Corners seeded per segment: enough for a stable fit, cheap to track."""
    min_tracks: int = 15
    """A segment ends when fewer tracks survive (a homography needs 4; 15 keeps
    the residual meaningful)."""
    max_fb_error_px: float = 1.0
    """Forward-backward tracking error (scaled pixels) above which a track is
    dropped. 0.5 px lost most tracks during the video's 24° turn; 1.0 keeps
    more without letting drifting tracks in (synthetic card unchanged)."""
    max_segment_s: float = 4.0
    """Segments end after this long: KLT drift grows with time."""
    trim: float = 0.05
    """Share of the worst point errors dropped from the RMS: a few bad tracks
    should not make a flat card look 3D."""


@dataclass(frozen=True)
class SegmentResult:
    turn_deg: float
    """Largest |yaw change| from the segment's start."""
    residual_iod: float
    """Homography residual RMS at that moment, in inter-ocular distances."""
    mesh_parallax_iod: float
    """Nose tip's distance from where the outline's homography puts it (IOD)."""
    tracks: int

    @property
    def residual_per_deg(self) -> float:
        return self.residual_iod / self.turn_deg if self.turn_deg > 0 else 0.0

    @property
    def mesh_parallax_per_deg(self) -> float:
        return self.mesh_parallax_iod / self.turn_deg if self.turn_deg > 0 else 0.0


def homography_residual(start: Points, now: Points, trim: float) -> float:
    """RMS error (pixels) of the best homography ``start → now``, worst ``trim`` dropped.

    Least median of squares: robust to a few bad tracks without a pixel threshold
    (a RANSAC threshold would call a real head's parallax "outliers").
    """
    if len(start) < 5:
        return 0.0
    h, _ = cv2.findHomography(start, now, cv2.LMEDS)
    if h is None:
        return 0.0
    mapped = cv2.perspectiveTransform(start.reshape(-1, 1, 2), h).reshape(-1, 2)
    errors = np.sort(np.sum((mapped - now) ** 2, axis=1))
    keep = max(4, math.ceil(len(errors) * (1.0 - trim)))
    return float(math.sqrt(float(errors[:keep].mean())))


def mesh_parallax(start: FaceLandmarks, now: FaceLandmarks) -> float:
    """Nose tip's offset (pixels) from the outline's homography prediction."""
    oval = list(FACE_OVAL)
    a = start.points[oval, :2].astype(np.float32)
    b = now.points[oval, :2].astype(np.float32)
    h, _ = cv2.findHomography(a, b, 0)
    if h is None:
        return 0.0
    nose = start.points[NOSE_TIP, :2].astype(np.float32).reshape(1, 1, 2)
    predicted = cv2.perspectiveTransform(nose, h).reshape(2)
    return float(np.linalg.norm(predicted - now.points[NOSE_TIP, :2]))


def _lk(
    a: NDArray[np.uint8], b: NDArray[np.uint8], pts: Points
) -> tuple[Points, NDArray[np.uint8]]:
    """Pyramidal Lucas-Kanade from ``a`` to ``b``: new points and per-point status."""
    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        a, b, pts, pts.copy(), winSize=LK_WINDOW, maxLevel=LK_LEVELS
    )
    return np.asarray(moved, dtype=np.float32), np.asarray(status, dtype=np.uint8).ravel()


class _Segment:
    def __init__(
        self, t: float, yaw: float, face: FaceLandmarks, pts: Points, action: Action | None
    ):
        self.t0 = t
        self.yaw0 = yaw
        self.face0 = face
        self.start = pts
        self.now = pts.copy()
        self.action = action
        self.best: SegmentResult | None = None

    def keep(self, good: NDArray[np.bool_], moved: Points) -> None:
        self.start = self.start[good]
        self.now = moved[good]


class PlanaritySignal:
    name = "planarity"

    def __init__(self, limits: PlanarityLimits | None = None) -> None:
        self.limits = limits or PlanarityLimits()
        self._prev: NDArray[np.uint8] | None = None
        self._segment: _Segment | None = None
        self._best: SegmentResult | None = None
        self._max_turn = 0.0

    def update(self, frame: FrameInput) -> None:
        analysis = frame.analysis
        face, quality = analysis.face, analysis.quality
        if face is None or quality is None:
            self._end_segment()
            self._prev = None
            return
        lim = self.limits
        small = cv2.resize(
            frame.bgr, None, fx=lim.scale, fy=lim.scale, interpolation=cv2.INTER_AREA
        )
        grey: NDArray[np.uint8] = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        segment = self._segment
        if segment is not None and (
            frame.action != segment.action or frame.t - segment.t0 > lim.max_segment_s
        ):
            self._end_segment()
            segment = None
        if segment is not None and self._prev is not None:
            self._track(segment, self._prev, grey)
            if len(segment.now) < lim.min_tracks:
                self._end_segment()
                segment = None
            else:
                self._measure(segment, face, quality.pose.yaw)
        if segment is None:
            self._seed(frame, grey, face, quality.pose.yaw)
        self._prev = grey

    def _seed(
        self, frame: FrameInput, grey: NDArray[np.uint8], face: FaceLandmarks, yaw: float
    ) -> None:
        lim = self.limits
        # Corners only inside the face outline, searched in its box (cheaper).
        box = face.box
        h, w = grey.shape[:2]
        x0, y0 = max(0, int(box.x0 * lim.scale)), max(0, int(box.y0 * lim.scale))
        x1, y1 = min(w, int(box.x1 * lim.scale) + 1), min(h, int(box.y1 * lim.scale) + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return
        roi = grey[y0:y1, x0:x1]
        mask = np.zeros_like(roi)
        polygon = oval_polygon(face, lim.scale) - np.array([x0, y0], np.int32)
        cv2.fillPoly(mask, [polygon], (255,))
        min_distance = max(2.0, face.interocular_px * lim.scale / 8)
        corners = cv2.goodFeaturesToTrack(
            roi, lim.max_tracks, qualityLevel=0.01, minDistance=min_distance, mask=mask
        )
        if corners is None or len(corners) < lim.min_tracks:
            return
        pts = corners.reshape(-1, 2).astype(np.float32) + np.array([x0, y0], np.float32)
        self._segment = _Segment(frame.t, yaw, face, pts, frame.action)

    def _track(self, segment: _Segment, prev: NDArray[np.uint8], grey: NDArray[np.uint8]) -> None:
        p0 = segment.now.reshape(-1, 1, 2)
        p1, st1 = _lk(prev, grey, p0)
        back, st2 = _lk(grey, prev, p1)
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st1 == 1) & (st2 == 1) & (fb < self.limits.max_fb_error_px)
        segment.keep(good, p1.reshape(-1, 2))

    def _measure(self, segment: _Segment, face: FaceLandmarks, yaw: float) -> None:
        turn = abs(yaw - segment.yaw0)
        self._max_turn = max(self._max_turn, turn)
        if segment.best is not None and turn <= segment.best.turn_deg:
            return
        # Only when the turn grows: the fit runs on a few frames per segment.
        iod = face.interocular_px * self.limits.scale
        residual = homography_residual(segment.start, segment.now, self.limits.trim)
        parallax = mesh_parallax(segment.face0, face) / face.interocular_px
        segment.best = SegmentResult(turn, residual / iod, parallax, len(segment.now))

    def _end_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None or segment.best is None:
            return
        if self._best is None or segment.best.turn_deg > self._best.turn_deg:
            self._best = segment.best

    def snapshot(self) -> Snapshot:
        """The results so far; the open segment's texture tracks and the previous
        frame stay in the process (a session that moves on restarts them: this
        signal is advisory)."""
        result = self.result
        best = None if result is None else [
            result.turn_deg, result.residual_iod, result.mesh_parallax_iod, result.tracks
        ]  # fmt: skip
        return {"best": best, "max_turn": self._max_turn}

    def restore(self, data: Mapping[str, Any]) -> None:
        best = data["best"]
        self._best = (
            None
            if best is None
            else SegmentResult(float(best[0]), float(best[1]), float(best[2]), int(best[3]))
        )
        self._max_turn = float(data["max_turn"])
        self._prev, self._segment = None, None

    @property
    def result(self) -> SegmentResult | None:
        """The segment with the largest turn so far (including the open one)."""
        candidates = [r for r in (self._best, self._segment and self._segment.best) if r]
        return max(candidates, key=lambda r: r.turn_deg) if candidates else None

    def checks(self) -> tuple[Check, ...]:
        lim = self.limits
        result = self.result
        if result is None or result.turn_deg < lim.min_turn_deg:
            detail = f"not enough motion: largest turn {self._max_turn:.1f}° < {lim.min_turn_deg}°"
            return (Check("planarity", 0.0, lim.min_residual_per_deg, False, detail),)
        value = result.residual_per_deg
        detail = (
            f"turn {result.turn_deg:.1f}°, {result.tracks} tracks, residual "
            f"{result.residual_iod:.4f} IOD; mesh nose parallax "
            f"{result.mesh_parallax_per_deg:.4f} IOD/°"
        )
        return (
            Check(
                "planarity",
                value,
                lim.min_residual_per_deg,
                value >= lim.min_residual_per_deg,
                detail,
            ),
        )
