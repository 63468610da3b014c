"""Positioning: one face, inside the oval the client draws, at a usable distance.

Before any challenge the person is guided into place with typed hints. The
distance comes from iris depth, so "too far" means millimetres, not pixels:
the same rule holds for any camera resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from veronica.pipeline.runner import FrameAnalysis
from veronica.pipeline.types import RejectReason


class Hint(StrEnum):
    """What the person should do next; stable strings the page translates."""

    NO_FACE = "no_face"
    ONE_FACE_ONLY = "one_face_only"
    MOVE_CLOSER = "move_closer"
    MOVE_BACK = "move_back"
    MOVE_LEFT = "move_left"
    MOVE_RIGHT = "move_right"
    MOVE_UP = "move_up"
    MOVE_DOWN = "move_down"
    MORE_LIGHT = "more_light"
    LESS_LIGHT = "less_light"
    LOOK_STRAIGHT = "look_straight"
    HOLD_STILL = "hold_still"
    OPEN_EYES = "open_eyes"


@dataclass(frozen=True)
class Oval:
    """The guide oval in normalised image coordinates (0–1 on each axis)."""

    cx: float = 0.5
    cy: float = 0.45
    rx: float = 0.22
    ry: float = 0.36
    """A face at ~45 cm from a 60° webcam fills about this much of a 4:3 frame."""


@dataclass(frozen=True)
class PositioningLimits:
    min_distance_mm: float = 280.0
    max_distance_mm: float = 700.0
    """Closer than ~28 cm the face overflows the frame; beyond ~70 cm the iris
    is under 8 px wide at 640 px and depth gets noisy. Leaves room to approach."""
    max_centre_offset: float = 0.35
    """Face centre within 35 % of the oval's radii from the oval centre."""
    hold_frames: int = 5
    """Consecutive good frames before the challenges start (~0.2–0.3 s)."""
    min_s: float = 1.0
    """Positioning lasts at least this long: the person settles, and the passive
    signals (PAD, frozen frames, identity) get frames before any challenge."""
    timeout_s: float = 20.0


@dataclass(frozen=True)
class Placement:
    ok: bool
    hints: tuple[Hint, ...]


_QUALITY_HINTS = {
    RejectReason.NO_FACE: Hint.NO_FACE,
    RejectReason.MULTIPLE_FACES: Hint.ONE_FACE_ONLY,
    RejectReason.FACE_CUT_OFF: Hint.MOVE_BACK,
    RejectReason.FACE_TOO_SMALL: Hint.MOVE_CLOSER,
    RejectReason.TOO_DARK: Hint.MORE_LIGHT,
    RejectReason.TOO_BRIGHT: Hint.LESS_LIGHT,
    RejectReason.POSE_OUT_OF_RANGE: Hint.LOOK_STRAIGHT,
    RejectReason.BLURRED: Hint.HOLD_STILL,
    RejectReason.EYES_CLOSED: Hint.OPEN_EYES,
}


def place(analysis: FrameAnalysis, oval: Oval, limits: PositioningLimits) -> Placement:
    """Is the face placed well? If not, the hints say how to fix it, most important first."""
    if analysis.rejection is not None:
        return Placement(False, (_QUALITY_HINTS[analysis.rejection],))
    if analysis.face is None:
        return Placement(False, (Hint.NO_FACE,))
    hints = [_QUALITY_HINTS[issue] for issue in analysis.quality_issues]
    if analysis.depth is not None:
        if analysis.depth.distance_mm > limits.max_distance_mm:
            hints.insert(0, Hint.MOVE_CLOSER)
        elif analysis.depth.distance_mm < limits.min_distance_mm:
            hints.insert(0, Hint.MOVE_BACK)
    cx, cy = analysis.face.box.center
    dx = (cx / analysis.image_width - oval.cx) / oval.rx
    dy = (cy / analysis.image_height - oval.cy) / oval.ry
    # Hints are in the person's own terms. The camera image is not mirrored:
    # a face on the image's right is displaced to the person's left, so they
    # must move to their right.
    if dx > limits.max_centre_offset:
        hints.append(Hint.MOVE_RIGHT)
    elif dx < -limits.max_centre_offset:
        hints.append(Hint.MOVE_LEFT)
    if dy > limits.max_centre_offset:
        hints.append(Hint.MOVE_UP)
    elif dy < -limits.max_centre_offset:
        hints.append(Hint.MOVE_DOWN)
    unique = tuple(dict.fromkeys(hints))
    return Placement(not unique, unique)
