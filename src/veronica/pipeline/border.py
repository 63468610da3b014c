"""Display or print border around a face: a cue the PAD model misses.

MiniFASNet scores a face shown on a tablet as live (0.67) when the face fills
much of the picture (docs/MODELS.md). What gives that attack away is the
device itself: two long straight edges on either side of the face, joined by a
straight edge above or below it — the outline of a screen or a card. This
module finds that outline with OpenCV's line-segment detector around the face.

Limits (measured on single photos, docs/LIVENESS.md): it fires on about 2 %
of LFW / people photos — mostly pictures that are themselves re-photographed
prints with a white border, but also a face framed by a window behind it — so
it rejects single images in ``eval pad --labels`` and is not used in live
sessions until it is measured on real webcam sessions. A screen that fills the
camera's view shows no border and passes this cue by design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.types import Box


@dataclass(frozen=True)
class BorderLimits:
    min_score: float = 0.9
    """Border score (below) at which a border is present. The tablet sample
    scores 1.03; 98 % of LFW / people photos score below 0.9."""
    max_slant: float = 0.17
    """|dx/dy| of a "vertical" edge (and |dy/dx| of a horizontal one): ±10°,
    as a device held by hand is rarely tilted more."""
    side_reach: float = 1.2
    """How far beside the face (in face widths) a side edge may be."""
    min_gap: float = 0.05
    """Side edges must clear the face box by this much (face widths), so the
    face's own outline is not taken for a border."""
    min_cover: float = 0.6
    """Share of the gap between the side edges a top or bottom edge must span."""
    work_width: int = 320
    """The search region is scaled to at most this width: the detector's cost
    grows with pixels (~20 ms at 320 px on one core) and borders are large."""


@dataclass(frozen=True)
class _Segment:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def length(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


def border_score(bgr: NDArray[np.uint8], face: Box, limits: BorderLimits | None = None) -> float:
    """How strongly a rectangular outline frames ``face``: the smallest of the
    left edge's and right edge's lengths (in face heights) and the top/bottom
    edge's cover of the gap between them. 0 when no such outline exists;
    ``>= limits.min_score`` means a border (a screen or a card) is present."""
    lim = limits or BorderLimits()
    segments = _segments(bgr, face, lim)
    fw, fh = max(face.width, 1.0), max(face.height, 1.0)
    left: list[tuple[float, float]] = []
    right: list[tuple[float, float]] = []
    across: list[_Segment] = []
    for s in segments:
        dx, dy = abs(s.x1 - s.x0), abs(s.y1 - s.y0)
        if dx <= lim.max_slant * dy:
            if max(s.y0, s.y1) < face.y0 or min(s.y0, s.y1) > face.y1:
                continue  # a side edge must run beside the face
            x = (s.x0 + s.x1) / 2
            if face.x0 - lim.side_reach * fw < x < face.x0 - lim.min_gap * fw:
                left.append((x, s.length / fh))
            elif face.x1 + lim.min_gap * fw < x < face.x1 + lim.side_reach * fw:
                right.append((x, s.length / fh))
        elif dy <= lim.max_slant * dx:
            y = (s.y0 + s.y1) / 2
            if y < face.y0 - lim.min_gap * fh or y > face.y1 + lim.min_gap * fh:
                across.append(s)
    best = 0.0
    for xl, length_l in left:
        for xr, length_r in right:
            gap = xr - xl
            for s in across:
                cover = (min(max(s.x0, s.x1), xr) - max(min(s.x0, s.x1), xl)) / gap
                best = max(best, min(length_l, length_r, cover if cover >= lim.min_cover else 0))
    return best


def _segments(bgr: NDArray[np.uint8], face: Box, lim: BorderLimits) -> list[_Segment]:
    """Line segments in the region around the face, in full-image pixels."""
    h, w = bgr.shape[:2]
    fw, fh = face.width, face.height
    x0, x1 = max(0, int(face.x0 - 1.3 * fw)), min(w, int(face.x1 + 1.3 * fw))
    y0, y1 = max(0, int(face.y0 - 0.9 * fh)), min(h, int(face.y1 + 0.9 * fh))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    gray = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    scale = min(1.0, lim.work_width / gray.shape[1])
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    if found is None:
        return []
    return [
        _Segment(a / scale + x0, b / scale + y0, c / scale + x0, d / scale + y0)
        for a, b, c, d in np.asarray(found, dtype=np.float64).reshape(-1, 4)
    ]
