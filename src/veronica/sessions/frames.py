"""Checks on one incoming camera frame: JPEG only, bounded size, sane capture time."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from veronica.errors import ImageDecodeError, ImageTooLargeError
from veronica.pipeline.decode import DecodeLimits, decode_image
from veronica.sessions.errors import FrameTimeInvalidError

JPEG_MAGIC = b"\xff\xd8\xff"
MAX_FRAME_SIDE = 1920
MAX_FRAME_PIXELS = 1920 * 1080
"""Webcam frames; the page sends 640 px wide. A small JPEG of a huge flat image
would otherwise decode to hundreds of megabytes."""


def decode_frame(data: bytes, max_bytes: int) -> NDArray[np.uint8]:
    """The BGR pixels of a JPEG frame, or a typed refusal (422 / 413)."""
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"frame is larger than {max_bytes} bytes")
    if not data.startswith(JPEG_MAGIC):
        raise ImageDecodeError("frames must be JPEG images")
    limits = DecodeLimits(max_bytes=max_bytes, max_pixels=MAX_FRAME_PIXELS, max_side=MAX_FRAME_SIDE)
    decoded = decode_image(data, limits)
    if decoded.format != "JPEG":
        raise ImageDecodeError("frames must be JPEG images")
    return decoded.bgr


def frame_seconds(t_ms: float, previous: float | None) -> float:
    """Capture time in seconds from the client's milliseconds. Times must not go
    back: the liveness signals are causal (a blink is a dip *then* a rise)."""
    if not math.isfinite(t_ms) or t_ms < 0:
        raise FrameTimeInvalidError("frame time must be a finite, non-negative number of ms")
    t = t_ms / 1000.0
    if previous is not None and t < previous:
        raise FrameTimeInvalidError("frame times must not decrease within a session")
    return t


def parse_frame_time(header: str | None) -> float:
    """The ``X-Frame-Time`` header (ms on the client clock)."""
    if header is None:
        raise FrameTimeInvalidError("the X-Frame-Time header (capture time in ms) is required")
    try:
        return float(header)
    except ValueError as exc:
        raise FrameTimeInvalidError("X-Frame-Time must be a number of milliseconds") from exc
