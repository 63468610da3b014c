"""Small helpers the signals share: face access, mesh regions, robust statistics."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import FrameInput
from veronica.pipeline.types import FaceLandmarks

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
"""Face Mesh's face outline, in order around the face (MediaPipe FACEMESH_FACE_OVAL)."""
CHEEK_IMAGE_LEFT = 234
CHEEK_IMAGE_RIGHT = 454
"""Outline points at the ears' level: their distance is the face's width."""


def face_of(frame: FrameInput) -> FaceLandmarks | None:
    """The chosen face of a frame, or ``None`` when the engine found none."""
    return frame.analysis.face


def oval_polygon(face: FaceLandmarks, scale: float = 1.0) -> NDArray[np.int32]:
    """The face outline as an OpenCV polygon, in pixels multiplied by ``scale``."""
    pts = face.points[list(FACE_OVAL), :2] * scale
    polygon: NDArray[np.int32] = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
    return polygon


def kth_largest(values: list[float], k: int) -> float:
    """The k-th largest value (k ≥ 1): a peak that at least k frames reached."""
    if not values:
        return 0.0
    ordered = sorted(values, reverse=True)
    return ordered[min(k, len(ordered)) - 1]


class SessionClock:
    """Maps session time (``ChallengeStep`` times) to capture time (``FrameInput.t``).

    Signals keep capture times (every frame has one, including positioning
    frames a step's baseline may need) and learn the offset from frames that
    carry ``session_t``. Until one arrives, session time is taken as capture time.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def observe(self, frame: FrameInput) -> None:
        if frame.session_t is not None:
            self.offset = frame.t - frame.session_t

    def to_capture(self, session_t: float) -> float:
        return session_t + self.offset
