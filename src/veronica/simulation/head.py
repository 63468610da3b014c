"""A textured 3D head from one real photo (Face Mesh points with depth).

The mesh's x, y are pixels and its z is on the x scale, so one factor makes it
metric: the iris is 11.7 mm across in nearly everyone (the same ruler the
engine's depth stage uses). The photo's own head pose is removed so that pose 0
renders a frontal face, and the texture is the photo itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from veronica.errors import VeronicaError
from veronica.pipeline.depth import IRIS_DIAMETER_MM, iris_diameter_px
from veronica.pipeline.detect import MeshDetector, choose_face
from veronica.pipeline.pose import PITCH_OFFSET_DEG
from veronica.pipeline.types import CHIN, EYE_LEFT_OUTER, EYE_RIGHT_OUTER, FOREHEAD
from veronica.simulation.render import TexturedMesh, orient_towards_camera

# Eyelid contours, corner to corner, upper and lower paired point by point.
# Image-left eye (the subject's right eye) and image-right eye.
UPPER_LIDS = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133),
    (263, 466, 388, 387, 386, 385, 384, 398, 362),
)
LOWER_LIDS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133),
    (263, 249, 390, 373, 374, 380, 381, 382, 362),
)
# The ring of mesh points above each upper lid (skin that folds down in a blink).
UPPER_CREASES = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
# The ring above the creases, below the brows (eyelid skin to show on a closed eye).
ABOVE_CREASES = ((113, 225, 224, 223, 222, 221, 189), (342, 445, 444, 443, 442, 441, 413))
# Inner lip contours, corner to corner (the tessellation leaves the mouth open).
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
FACE_POINTS = 468
LID_OVERSHOOT = 1.15
LID_SLIDE = 0.5
"""How far (of the way to the crease) the upper lid's texture slides on a shut eye:
half keeps the lash line at the lid margin, which is what Face Mesh reads as a
closed eye (a full slide left no lash line and some faces still read as open)."""
CREASE_SLIDE = 0.3
"""Likewise for the crease ring towards the brow; more smears the brow hair over
the lid. With these two, shut eyes dip the eye aspect ratio 0.47–0.81 on every
fixture face (real blinks: 0.55–0.79); with full slides some dipped only 0.24."""
PIVOT_BEHIND_MM = 90.0
"""The head turns about the neck, roughly this far behind the face surface."""


class PhotoError(VeronicaError):
    """A source photo has no usable face."""


@dataclass(frozen=True, eq=False)
class HeadModel:
    mesh: TexturedMesh
    """478 vertices, centred on the face (mm), frontal at rest."""
    pivot: NDArray[np.float64]
    """Rotation centre (mm, model frame): behind the face, at the neck."""
    skin_bgr: tuple[float, float, float]
    """Median cheek colour of the photo (for the neck)."""
    mm_per_px: float
    """Scale of the photo at the face (from the iris), for life-size prints."""
    centre_px: tuple[float, float]
    """Photo pixel at the model's origin (the mean of the face points)."""


def face_triangles() -> NDArray[np.int32]:
    """Face Mesh's tessellation as triangles, with the eye and mouth holes filled."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    found = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    strips = [*zip(UPPER_LIDS, LOWER_LIDS, strict=True), (UPPER_INNER_LIP, LOWER_INNER_LIP)]
    for upper, lower in strips:
        found.update(_strip(upper, lower))
    return np.array(sorted(found), dtype=np.int32)


def _strip(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Triangles between two polylines that share their end points."""
    out = []
    for i in range(len(upper) - 1):
        quad = (upper[i], upper[i + 1], lower[i + 1], lower[i])
        out += [(quad[0], quad[1], quad[2]), (quad[0], quad[2], quad[3])]
    return [t for t in out if len(set(t)) == 3]


def build_head(photo_bgr: NDArray[np.uint8], detector: MeshDetector) -> HeadModel:
    """Mesh the face in ``photo_bgr`` (static Face Mesh with iris) into a head model."""
    choice = choose_face(detector.detect(photo_bgr))
    if choice is None:
        raise PhotoError("no face found in the source photo")
    face = choice.face
    iris_px = iris_diameter_px(face)
    if iris_px < 4.0:
        raise PhotoError(f"iris too small in the source photo ({iris_px:.1f} px)")
    mm_per_px = IRIS_DIAMETER_MM / iris_px
    points = face.points.astype(np.float64)
    centre = points[:FACE_POINTS].mean(axis=0)
    metric = (points - centre) * mm_per_px
    frontal = metric @ _frontal_rotation(metric).T
    triangles = orient_towards_camera(frontal, face_triangles())
    face_depth = float(np.median(frontal[:FACE_POINTS, 2]))
    pivot = np.array([0.0, 15.0, face_depth + PIVOT_BEHIND_MM])
    mesh = TexturedMesh(
        vertices=frontal,
        uv=face.points[:, :2].astype(np.float32),
        triangles=triangles,
        texture=photo_bgr.astype(np.float32),
    )
    return HeadModel(
        mesh=mesh,
        pivot=pivot,
        skin_bgr=_skin_colour(photo_bgr, points),
        mm_per_px=mm_per_px,
        centre_px=(float(centre[0]), float(centre[1])),
    )


def _frontal_rotation(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation taking the photo's face to pose 0 as ``pipeline.pose`` measures it.

    Rows are the face's own axes (x: eye to eye, y: forehead to chin, z: into
    the head); the pose stage reads a frontal face's chin-forehead line as
    leaning back by ``PITCH_OFFSET_DEG``, so we tilt by the same amount.
    """
    x_axis = points[EYE_RIGHT_OUTER] - points[EYE_LEFT_OUTER]
    x_axis /= np.linalg.norm(x_axis)
    down = points[CHIN] - points[FOREHEAD]
    down -= x_axis * float(down @ x_axis)
    down /= np.linalg.norm(down)
    z_axis = np.cross(x_axis, down)
    axes = np.stack([x_axis, down, z_axis])
    out: NDArray[np.float64] = rotation_matrix(0.0, PITCH_OFFSET_DEG, 0.0) @ axes
    return out


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> NDArray[np.float64]:
    """Camera-frame rotation (x right, y down, z forward) in ``pipeline.pose``'s
    convention: yaw > 0 turns the face towards the image's right, pitch > 0
    looks up, roll > 0 is clockwise in the image."""
    a, b, c = (math.radians(v) for v in (-yaw_deg, -pitch_deg, roll_deg))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    out: NDArray[np.float64] = rz @ rx @ ry
    return out


def close_eyes(mesh: TexturedMesh, closure: float) -> TexturedMesh:
    """The mesh with the upper lids moved ``closure`` (0 open … 1 shut) of the
    way onto the lower lids (the skin above follows by half as much), and the
    texture slid so the lid shows eyelid skin, not stretched lashes and iris:
    Face Mesh reads a smeared open eye as still open."""
    if closure <= 0.0:
        return mesh
    vertices, uv = mesh.vertices.copy(), mesh.uv.copy()
    rings = zip(UPPER_LIDS, LOWER_LIDS, UPPER_CREASES, ABOVE_CREASES, strict=True)
    for upper, lower, crease_ring, above_ring in rings:
        up, low = list(upper[1:-1]), list(lower[1:-1])
        crease, above = list(crease_ring), list(above_ring)
        # A shut lid reaches slightly past the lower lid line (it covers the lashes).
        vertices[up] += LID_OVERSHOOT * closure * (mesh.vertices[low] - mesh.vertices[up])
        drop = mesh.vertices[low].mean(axis=0) - mesh.vertices[up].mean(axis=0)
        vertices[crease] += 0.5 * closure * drop
        uv[up] += LID_SLIDE * closure * (mesh.uv[crease] - mesh.uv[up])
        uv[crease] += CREASE_SLIDE * closure * (mesh.uv[above] - mesh.uv[crease])
    return replace(mesh, vertices=vertices, uv=uv)


def _skin_colour(
    photo: NDArray[np.uint8], points: NDArray[np.float64]
) -> tuple[float, float, float]:
    """Median colour around the cheeks (mesh points 50 and 280)."""
    h, w = photo.shape[:2]
    samples = []
    for index in (50, 280, 205, 425):
        x, y = (round(v) for v in points[index, :2])
        patch = photo[max(0, y - 3) : min(h, y + 4), max(0, x - 3) : min(w, x + 4)]
        if patch.size:
            samples.append(patch.reshape(-1, 3))
    median = np.median(np.concatenate(samples), axis=0)
    return (float(median[0]), float(median[1]), float(median[2]))
