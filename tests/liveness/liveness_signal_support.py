"""Helpers for the liveness signal tests: the real talking-head video run
through the real engine (once per test session), and synthetic frames."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import FrameInput, Signal
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis

VIDEO = Path("video") / "talking_head_blinks.mp4"
SECONDS = 4.0

S = TypeVar("S", bound=Signal)


def letterbox(bgr: NDArray[np.uint8], width: int = 640, height: int = 480) -> NDArray[np.uint8]:
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    size = (round(w * scale), round(h * scale))
    resized = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - size[1]) // 2, (width - size[0]) // 2
    canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = resized
    return canvas


def read_video(path: Path, seconds: float = SECONDS) -> tuple[list[NDArray[np.uint8]], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames: list[NDArray[np.uint8]] = []
    while len(frames) < round(seconds * fps):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(letterbox(frame))
    cap.release()
    return frames, fps


def analyze_frames(
    engine: FaceEngine, frames: list[NDArray[np.uint8]], fps: float, t0: float = 0.0
) -> list[FrameInput]:
    """Frames through a fresh tracking mesh, as a session would see them."""
    detector = engine.tracking_detector()
    try:
        return [
            FrameInput(t=t0 + i / fps, bgr=f, analysis=engine.analyze(f, detector=detector))
            for i, f in enumerate(frames)
        ]
    finally:
        detector.close()


@functools.cache
def talking_head(shared_data: Path, engine: FaceEngine) -> tuple[FrameInput, ...]:
    """The first ``SECONDS`` of the real video, letterboxed to 640×480 and analysed."""
    frames, fps = read_video(shared_data / VIDEO)
    return tuple(analyze_frames(engine, frames, fps))


def run(signal: S, frames: Iterable[FrameInput]) -> S:
    for frame in frames:
        signal.update(frame)
    return signal


def with_analysis(frame: FrameInput, **changes: object) -> FrameInput:
    """The frame with some of its analysis' fields replaced."""
    analysis: FrameAnalysis = replace(frame.analysis, **changes)  # type: ignore[arg-type]
    return replace(frame, analysis=analysis)
