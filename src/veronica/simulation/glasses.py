"""Spectacles drawn over a rendered face (simulated).

Rims near the eyes are the hard case for eye landmarks: a low rim crosses the
lower lid, a thick one darkens the eye's surroundings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

EYE_CORNERS = ((33, 133), (263, 362))
"""Mesh points (outer, inner) of the image-left and image-right eye."""


@dataclass(frozen=True)
class Glasses:
    """Spectacle frames drawn over the rendered face (image pixels relative to the
    eye width, so they scale with distance)."""

    lens_width: float
    """Lens half-width in eye widths (the lens is wider than the eye)."""
    lens_height: float
    """Lens half-height in eye widths."""
    drop: float
    """How far below the eye centre the lens centre sits, in eye widths: a low
    rim crosses the lower lid (the hard case for the eye landmarks)."""
    rim: float
    """Rim thickness in eye widths (thin metal … thick acetate)."""
    colour: tuple[float, float, float]
    """Rim colour, BGR."""

    def draw(self, canvas: NDArray[np.float32], eyes: NDArray[np.float64]) -> None:
        """Draw on ``canvas``; ``eyes`` are the projected (outer, inner) corners of
        the image-left and image-right eye, shape (2, 2, 2)."""
        centres, widths = [], []
        for outer, inner in eyes:
            width = float(np.linalg.norm(inner - outer))
            if width < 2.0:
                return
            centre = (outer + inner) / 2.0
            centres.append(centre + np.array([0.0, self.drop * width]))
            widths.append(width)
        angle = math.degrees(math.atan2(*(centres[1] - centres[0])[::-1]))
        for centre, width in zip(centres, widths, strict=True):
            axes = (round(self.lens_width * width), round(self.lens_height * width))
            thickness = max(1, round(self.rim * width))
            c = (round(float(centre[0])), round(float(centre[1])))
            cv2.ellipse(canvas, c, axes, angle, 0, 360, self.colour, thickness, cv2.LINE_AA)
        # The bridge between the lenses, at the top of the inner rims.
        inner_left = centres[0] + np.array([self.lens_width * widths[0], -0.2 * widths[0]])
        inner_right = centres[1] - np.array([self.lens_width * widths[1], 0.2 * widths[1]])
        thickness = max(1, round(self.rim * widths[0]))
        p0 = (round(float(inner_left[0])), round(float(inner_left[1])))
        p1 = (round(float(inner_right[0])), round(float(inner_right[1])))
        cv2.line(canvas, p0, p1, self.colour, thickness, cv2.LINE_AA)
