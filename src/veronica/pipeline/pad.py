"""Stage 7, passive presentation-attack (PAD) score from a single frame.

``fr_liveness.onnx`` (npm ``faceplugin-face-recognition-js@0.0.1``): a
MiniFASNet-style 3-class network, class 0 = live. Measured behaviour (docs/MODELS.md,
with the command): it works far better fed **BGR** than the RGB its
package feeds; raw 0–255 input at 128×128; the crop is the face box scaled
by min(2.7, what fits), shifted to stay inside the frame, never padded. It
mostly reacts to card edges and screen bezels, its weights' origin is
unstated, and its scores shift between cameras: it is one signal that the
liveness policy fuses, never the judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.models import CPU_PROVIDER, FR_LIVENESS, onnx_session, verified_path
from veronica.pipeline.types import Box


@dataclass(frozen=True)
class PadScore:
    live: float
    """Probability-like score in [0, 1]; higher = more likely a live face."""
    crop_scale: float
    """How much context the crop had (2.7 = full; less near the frame edges)."""


class PadScorer(Protocol):
    model_id: str

    def score(self, bgr: NDArray[np.uint8], face_box: Box) -> PadScore:
        """Score the face at ``face_box`` in a full frame, with the model's context crop."""
        ...

    def score_crop(self, crop_bgr: NDArray[np.uint8]) -> float:
        """Score an image that is already the crop the model should see."""
        ...


def context_crop_box(box: Box, width: int, height: int, scale: float = 2.7) -> tuple[Box, float]:
    """Square-ish crop ``scale``× the face box, shrunk to fit the frame and shifted
    inside it (never padded: the model reads padding as an attack cue)."""
    fit = min(scale, width / max(box.width, 1.0), height / max(box.height, 1.0))
    fit = max(fit, 1.0)
    crop_w, crop_h = min(width, box.width * fit), min(height, box.height * fit)
    cx, cy = box.center
    x0 = min(max(0.0, cx - crop_w / 2), width - crop_w)
    y0 = min(max(0.0, cy - crop_h / 2), height - crop_h)
    return Box(x0, y0, x0 + crop_w, y0 + crop_h), fit


def softmax(logits: NDArray[np.float32]) -> NDArray[np.float64]:
    z = logits.astype(np.float64) - float(np.max(logits))
    e = np.exp(z)
    return np.asarray(e / e.sum(), dtype=np.float64)


class MiniFasNetPad:
    model_id = "fr_liveness-faceplugin-0.0.1"
    input_size = 128

    def __init__(
        self, models_dir: Path, threads: int = 1, providers: tuple[str, ...] = (CPU_PROVIDER,)
    ) -> None:
        self._session = onnx_session(verified_path(FR_LIVENESS, models_dir), threads, providers)
        self._input = self._session.get_inputs()[0].name

    def score(self, bgr: NDArray[np.uint8], face_box: Box) -> PadScore:
        height, width = bgr.shape[:2]
        crop_box, fit = context_crop_box(face_box, width, height)
        crop = bgr[int(crop_box.y0) : int(crop_box.y1), int(crop_box.x0) : int(crop_box.x1)]
        return PadScore(live=self.score_crop(crop), crop_scale=fit)

    def score_crop(self, crop_bgr: NDArray[np.uint8]) -> float:
        """Score an already-cropped BGR image (e.g. the tight NUAA crops)."""
        size = (self.input_size, self.input_size)
        # Resize + HWC→NCHW float in one native call; raw 0–255 BGR as the model wants.
        x = cv2.dnn.blobFromImage(crop_bgr, 1.0, size, swapRB=False, crop=False)
        logits = self._session.run(None, {self._input: x})[0][0]
        return float(softmax(np.asarray(logits, dtype=np.float32))[0])
