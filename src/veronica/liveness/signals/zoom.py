"""Perspective zoom during an approach, checked against the iris depth.

A real head coming closer magnifies its near parts (the nose) more than its
far ones (the outline at the ears): with a pinhole camera a feature at depth
``Z`` scales by ``Z0 / Z1``. The iris gives the distance ``d`` of the eyes, so
the expected growth ratio (nose region / outline) from ``d0`` to ``d1`` is

    ((d0 − n) / (d1 − n)) / ((d0 + o) / (d1 + o))

with the nose region ``n`` mm in front of the irises and the outline ``o`` mm
behind them. A flat image scales uniformly: ratio 1.0 whatever the iris says.
Sizes come from the mesh (nose-region spread; cheek-to-cheek width at the
ears, points 234/454). Caution: the mesh is regularised by a 3D face prior, so
it may under-report the effect on a real head; no real approach recording was
available to measure that (see the tests), hence a lenient agreement
tolerance. Keeps three scalars per approach frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from veronica.liveness.signals._common import CHEEK_IMAGE_LEFT, CHEEK_IMAGE_RIGHT
from veronica.liveness.state import Snapshot
from veronica.liveness.types import Action, Check, FrameInput
from veronica.pipeline.types import FaceLandmarks

NOSE_REGION = (1, 2, 4, 5, 6, 98, 129, 195, 197, 327, 358)
"""Nose tip, bridge and wings: ≈ 23 mm in front of the irises in the mesh's own 3D."""


@dataclass(frozen=True)
class ZoomLimits:
    nose_ahead_mm: float = 25.0
    """Depth of the nose region in front of the irises (mesh: 23 mm; anatomy:
    the tip 25–35 mm, the wings and bridge less)."""
    outline_behind_mm: float = 60.0
    """Depth of the ear-level outline behind the irises (mesh: 62 mm)."""
    min_approach: float = 0.2
    """Relative decrease of the iris distance needed for a measurable effect:
    at 45 → 36 cm the expected ratio is only ≈ 1.06, so less says nothing."""
    tolerance: float = 0.5
    """Allowed |measured − expected| as a share of the expected excess over 1.0.
    Lenient: the mesh's face prior damps the effect (unmeasured on real data)."""
    min_excess: float = 0.02
    """Measured ratio must exceed the flat image's 1.0 by this (the sizes' frame
    noise over 3 frames is ≈ 0.5 %)."""
    edge_frames: int = 3
    """Frames averaged (median) at the far and at the near end of the approach."""


@dataclass(frozen=True)
class ZoomResult:
    d0_mm: float
    d1_mm: float
    measured: float
    expected: float


def nose_size(face: FaceLandmarks) -> float:
    """RMS distance of the nose-region points from their centroid (pixels)."""
    pts = face.points[list(NOSE_REGION), :2].astype(np.float64)
    return float(np.sqrt(np.mean(np.sum((pts - pts.mean(axis=0)) ** 2, axis=1))))


def outline_width(face: FaceLandmarks) -> float:
    a, b = face.points[CHEEK_IMAGE_LEFT, :2], face.points[CHEEK_IMAGE_RIGHT, :2]
    return float(np.linalg.norm(a - b))


def expected_ratio(d0: float, d1: float, nose_ahead: float, outline_behind: float) -> float:
    """Pinhole growth of the nose region over the outline's, from ``d0`` to ``d1``."""
    nose = (d0 - nose_ahead) / (d1 - nose_ahead)
    outline = (d0 + outline_behind) / (d1 + outline_behind)
    return nose / outline


class ZoomSignal:
    """Collects frames whose action is ``Action.APPROACH`` and compares their zoom."""

    name = "zoom"

    def __init__(self, limits: ZoomLimits | None = None) -> None:
        self.limits = limits or ZoomLimits()
        self._rows: list[tuple[float, float, float]] = []

    def update(self, frame: FrameInput) -> None:
        analysis = frame.analysis
        if frame.action is not Action.APPROACH or analysis.face is None or analysis.depth is None:
            return
        face = analysis.face
        self._rows.append((analysis.depth.distance_mm, nose_size(face), outline_width(face)))

    def snapshot(self) -> Snapshot:
        return {"rows": [list(r) for r in self._rows]}

    def restore(self, data: Mapping[str, Any]) -> None:
        self._rows = [(float(d), float(n), float(o)) for d, n, o in data["rows"]]

    def result(self) -> ZoomResult | None:
        """Far end (first frames) vs near end (the nearest frames), or ``None``."""
        k = self.limits.edge_frames
        if len(self._rows) < 2 * k:
            return None
        far = np.median(np.asarray(self._rows[:k]), axis=0)
        nearest = sorted(self._rows[k:], key=lambda r: r[0])[:k]
        near = np.median(np.asarray(nearest), axis=0)
        d0, d1 = float(far[0]), float(near[0])
        measured = float((near[1] / far[1]) / (near[2] / far[2]))
        lim = self.limits
        expected = expected_ratio(d0, d1, lim.nose_ahead_mm, lim.outline_behind_mm)
        return ZoomResult(d0, d1, measured, expected)

    def checks(self) -> tuple[Check, ...]:
        lim = self.limits
        result = self.result()
        if result is None or result.d1_mm > result.d0_mm * (1.0 - lim.min_approach):
            moved = "" if result is None else f" ({result.d0_mm:.0f} → {result.d1_mm:.0f} mm)"
            return (Check("zoom", 0.0, lim.min_excess, False, f"not enough motion{moved}"),)
        excess = result.measured - 1.0
        allowed = lim.tolerance * max(result.expected - 1.0, 0.0)
        error = abs(result.measured - result.expected)
        agree = error <= allowed and excess >= lim.min_excess
        detail = (
            f"{result.d0_mm:.0f} → {result.d1_mm:.0f} mm: ratio {result.measured:.3f}, "
            f"expected {result.expected:.3f} ± {allowed:.3f}"
        )
        return (Check("zoom", excess, lim.min_excess, agree and not math.isnan(error), detail),)
