"""A static, out-of-focus room behind the subject (never flat black: the PAD
model and the face crop see the surroundings)."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

WALL_COLOURS = ((200, 205, 210), (170, 190, 205), (205, 200, 185), (150, 160, 150), (120, 130, 150))
"""BGR wall paints: off-white, beige, warm grey, green-grey, dusk blue."""


def room_background(
    rng: np.random.Generator, width: int, height: int, margin: int = 4
) -> NDArray[np.float32]:
    """A (height + 2·margin) × (width + 2·margin) BGR float image of a wall with a
    window, a door or shelf and a picture, lit from one side, blurred as a
    webcam focused at 50 cm sees it. The margin allows camera jitter."""
    h, w = height + 2 * margin, width + 2 * margin
    wall = np.array(WALL_COLOURS[int(rng.integers(0, len(WALL_COLOURS)))], dtype=np.float32)
    wall *= np.float32(rng.uniform(0.75, 1.05))
    ramp = np.linspace(rng.uniform(0.7, 0.9), rng.uniform(1.0, 1.15), w, dtype=np.float32)
    if rng.integers(0, 2):
        ramp = ramp[::-1]
    vertical = np.linspace(1.05, 0.9, h, dtype=np.float32)
    image = wall[None, None, :] * ramp[None, :, None] * vertical[:, None, None]
    image = np.ascontiguousarray(image)
    for _ in range(int(rng.integers(2, 5))):
        _furniture(image, rng)
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(4.0, 7.0)))
    grain = cv2.GaussianBlur(rng.normal(0, 4.0, size=(h, w)).astype(np.float32), (0, 0), 2.0)
    out: NDArray[np.float32] = np.clip(image + grain[:, :, None], 0, 255)
    return out


def _furniture(image: NDArray[np.float32], rng: np.random.Generator) -> None:
    """One rectangle: window (bright), door/shelf (dark wood) or picture frame."""
    h, w = image.shape[:2]
    kind = int(rng.integers(0, 3))
    bw = int(rng.uniform(0.15, 0.35) * w)
    bh = int(rng.uniform(0.25, 0.8) * h)
    x = int(rng.integers(-bw // 2, w - bw // 2))
    y = int(rng.integers(-bh // 3, h - bh // 2))
    if kind == 0:
        colour: tuple[float, ...] = (235.0, 235.0, 230.0)
    elif kind == 1:
        colour = tuple(float(v) for v in rng.uniform([40, 60, 80], [70, 100, 130]))
    else:
        colour = tuple(float(v) for v in rng.uniform(40, 200, size=3))
    cv2.rectangle(image, (x, y), (x + bw, y + bh), colour, -1)
    if kind != 1:
        frame_colour = (60.0, 60.0, 60.0) if kind == 2 else (200.0, 200.0, 200.0)
        cv2.rectangle(image, (x, y), (x + bw, y + bh), frame_colour, int(rng.integers(3, 9)))
