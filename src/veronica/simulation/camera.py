"""The simulated webcam: pinhole projection and sensor/lens effects.

640×480, horizontal field of view 60° (the engine's default), so distances
measured by the iris-depth stage match the simulated ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

WIDTH = 640
HEIGHT = 480
HFOV_DEG = 60.0


@dataclass(frozen=True)
class Camera:
    """Pinhole camera; the optical centre is the image centre plus a jitter (px)."""

    width: int = WIDTH
    height: int = HEIGHT
    hfov_deg: float = HFOV_DEG

    @property
    def focal_px(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    def project(
        self, points_mm: NDArray[np.float64], shift_px: tuple[float, float] = (0.0, 0.0)
    ) -> NDArray[np.float64]:
        """Camera-frame points (x right, y down, z forward, mm) → pixel x, y."""
        z = np.maximum(points_mm[:, 2], 1.0)
        f = self.focal_px
        x = f * points_mm[:, 0] / z + self.width / 2.0 + shift_px[0]
        y = f * points_mm[:, 1] / z + self.height / 2.0 + shift_px[1]
        return np.stack([x, y], axis=1)


@dataclass(frozen=True)
class SensorEffects:
    """What a cheap webcam adds. Noise is new every frame (a real sensor never
    repeats a frame: the frozen-frame check depends on it)."""

    noise_sigma: float = 3.0
    """Sensor noise, grey levels (2–4 on webcams)."""
    exposure_drift: float = 0.04
    """Auto-exposure gain wanders by ± this fraction."""
    exposure_period_s: float = 7.0
    blur_sigma_px: float = 0.7
    """Lens softness + compression smoothing."""
    jitter_px: float = 1.0
    """Camera shake: the whole picture shifts by up to this many pixels."""


class NoiseBank:
    """Pre-drawn Gaussian noise; each frame takes a random window of it.

    Drawing 0.9 M normals costs ~8 ms; a random window of a larger bank costs a
    slice, and consecutive frames still get different noise at every pixel.
    """

    MARGIN = 64

    def __init__(self, rng: np.random.Generator, sigma: float, shape: tuple[int, int]) -> None:
        h, w = shape
        bank = rng.normal(0.0, sigma, size=(h + self.MARGIN, w + self.MARGIN, 3))
        self._bank = np.round(bank).astype(np.int16)
        # The bank turned by 180° (pixel order reversed, channels kept), stored
        # apart: a reversed view's negative strides make every add over it
        # several times slower.
        self._turned = np.ascontiguousarray(self._bank[::-1, ::-1])
        self._shape = shape

    def sample(self, rng: np.random.Generator) -> NDArray[np.int16]:
        h, w = self._shape
        dy, dx = (int(v) for v in rng.integers(0, self.MARGIN, size=2))
        if rng.integers(0, 2):
            out: NDArray[np.int16] = self._bank[dy : dy + h, dx : dx + w]
            return out
        # window[::-1, ::-1] of the bank's window at (dy, dx), from the turned copy.
        bh, bw = self._turned.shape[:2]
        turned: NDArray[np.int16] = self._turned[bh - h - dy : bh - dy, bw - w - dx : bw - dx]
        return turned


def exposure_gain(effects: SensorEffects, t: float, phase: float) -> float:
    """Slow auto-exposure wander (two incommensurate sines, ± ``exposure_drift``)."""
    w = 2.0 * math.pi / effects.exposure_period_s
    wobble = 0.7 * math.sin(w * t + phase) + 0.3 * math.sin(2.7 * w * t + 2.0 * phase)
    return 1.0 + effects.exposure_drift * wobble


def finish_frame(
    image: NDArray[np.float32],
    effects: SensorEffects,
    noise: NoiseBank,
    rng: np.random.Generator,
    gain: float,
) -> NDArray[np.uint8]:
    """Exposure gain, lens blur and sensor noise; float BGR (0–255) → uint8."""
    scaled = image * np.float32(gain)
    if effects.blur_sigma_px > 0:
        scaled = np.asarray(cv2.GaussianBlur(scaled, (0, 0), effects.blur_sigma_px))
    out = scaled.astype(np.int16)
    out += noise.sample(rng)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def frame_rng(seed: int, t: float, stream: int = 0) -> np.random.Generator:
    """A generator for one frame, fixed by (seed, time in ms, stream): frames do
    not depend on how many random numbers earlier frames used."""
    return np.random.default_rng([seed, stream, round(t * 1000.0)])
