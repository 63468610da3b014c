"""Head pose (yaw, pitch, roll in degrees) from the mesh's own 3D points.

We build the face's axes from rigid points (outer eye corners for x, chin to
forehead for y) in the mesh's x/y/z, which share one pixel scale. This costs
microseconds, needs no canonical model file, and is exact for roll (a rotated
image rotates the axes). Sign convention: yaw > 0 when the face turns towards
the image's right, pitch > 0 when it looks up, roll > 0 clockwise in the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from veronica.pipeline.types import CHIN, EYE_LEFT_OUTER, EYE_RIGHT_OUTER, FOREHEAD, FaceLandmarks

# A frontal face's chin-forehead line leans back in the mesh's 3D frame;
# measured as the median pitch of 300 LFW faces (docs/MODELS.md): -5.0°.
PITCH_OFFSET_DEG = -5.0


@dataclass(frozen=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float


def head_pose(face: FaceLandmarks) -> HeadPose:
    p = face.points.astype(np.float64)
    # Image y grows downwards; flip it so y is up and the frame is right-handed.
    flip = np.array([1.0, -1.0, -1.0])
    x_axis = (p[EYE_RIGHT_OUTER] - p[EYE_LEFT_OUTER]) * flip
    up = (p[FOREHEAD] - p[CHIN]) * flip
    x_axis /= np.linalg.norm(x_axis) + 1e-12
    z_axis = np.cross(x_axis, up)
    z_axis /= np.linalg.norm(z_axis) + 1e-12
    # z_axis points out of the face towards the camera for a frontal face.
    yaw = math.degrees(math.atan2(z_axis[0], z_axis[2]))
    pitch = math.degrees(math.atan2(z_axis[1], math.hypot(z_axis[0], z_axis[2])))
    roll = math.degrees(math.atan2(-x_axis[1], x_axis[0]))
    return HeadPose(yaw=yaw, pitch=pitch - PITCH_OFFSET_DEG, roll=roll)
