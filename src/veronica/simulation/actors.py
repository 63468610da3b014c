"""Actors: what the camera sees at time t, given what the page asks.

Every result of this package is *simulated*: a rendered head built from one
photo, not a recording of a person.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.errors import VeronicaError
from veronica.liveness.types import RGB, Action, srgb_to_linear
from veronica.pipeline.detect import MeshDetector
from veronica.simulation.background import room_background
from veronica.simulation.camera import (
    Camera,
    NoiseBank,
    SensorEffects,
    exposure_gain,
    finish_frame,
    frame_rng,
)
from veronica.simulation.glasses import EYE_CORNERS, Glasses
from veronica.simulation.head import HeadModel, build_head, close_eyes, rotation_matrix
from veronica.simulation.motion import Behaviour, Performer, Pose
from veronica.simulation.render import Shading, render_mesh

HAIR_COLOURS = ((25, 25, 30), (30, 45, 70), (50, 80, 120), (110, 150, 190), (140, 140, 145))
"""BGR: black, dark brown, brown, blond, grey."""
SHIRT_COLOURS = ((60, 40, 30), (40, 40, 40), (200, 200, 200), (50, 50, 140), (90, 110, 60))


class Actor(Protocol):
    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        """The 640×480 BGR camera frame at ``t`` seconds since the session started,
        while the page asks ``action`` and fills the screen with ``light``
        (None: the normal page)."""
        ...


@dataclass(frozen=True)
class Lighting:
    """Room light plus the screen as a second source at the camera.

    Reflected = albedo × (room + screen_gain × screen_rgb × max(0, n·l)), per
    channel. The screen at 50 cm is weak next to a room lamp in reality; these
    defaults make its colour clearly measurable, as in a dim room.
    """

    room_bgr: tuple[float, float, float] = (0.52, 0.55, 0.58)
    """Warm-white room light (BGR multiplier)."""
    screen_gain: float = 0.55
    normal_page_rgb: RGB = (229, 229, 229)
    """What a normal (light-themed) page emits when no colour is shown (78 % of
    white's light)."""

    def shading(self, light: RGB | None, scale: float = 1.0) -> Shading:
        """A screen emits linear light: its sRGB values are decoded first (a
        half-way grey gives a fifth of white's light, not half)."""
        r, g, b = (srgb_to_linear(c) for c in (light or self.normal_page_rgb))
        k = self.screen_gain * scale
        return Shading(ambient=self.room_bgr, diffuse=(k * b, k * g, k * r))


def default_photos() -> tuple[Path, ...]:
    """The project's own fixture faces (MIT), for simulations without shared data."""
    root = Path(__file__).resolve().parents[3] / "tests" / "data" / "faces"
    photos = tuple(sorted(root.glob("*/*.jpg")))
    if not photos:
        raise VeronicaError(f"no fixture photos under {root}; pass photos explicitly")
    return photos


@functools.lru_cache(maxsize=32)
def load_head(path: Path) -> HeadModel:
    """Read ``path`` and mesh its face (a fresh static Face Mesh, closed after).
    Cached per process: a suite builds the same few heads hundreds of times,
    and a ``HeadModel`` is never modified (blinks build a new mesh)."""
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if photo is None:
        raise VeronicaError(f"cannot read photo {path}")
    detector = MeshDetector(max_faces=2, tracking=False)
    try:
        return build_head(np.asarray(photo, dtype=np.uint8), detector)
    finally:
        detector.close()


class HeadCache:
    """Head models of photos, built with one static Face Mesh kept open (a suite
    over many identities builds a head per session; a fresh graph per head would
    cost more than the mesh). Least recently used heads are dropped past
    ``size``. Close it when done."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._heads: dict[Path, HeadModel] = {}
        self._detector: MeshDetector | None = None

    def __call__(self, path: Path) -> HeadModel:
        head = self._heads.pop(path, None)
        if head is None:
            photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if photo is None:
                raise VeronicaError(f"cannot read photo {path}")
            if self._detector is None:
                self._detector = MeshDetector(max_faces=2, tracking=False)
            head = build_head(np.asarray(photo, dtype=np.uint8), self._detector)
        self._heads[path] = head  # most recent last
        while len(self._heads) > self.size:
            del self._heads[next(iter(self._heads))]
        return head

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None
        self._heads.clear()


def pick_photo(photos: Sequence[Path], rng: np.random.Generator) -> Path:
    return photos[int(rng.integers(0, len(photos)))]


HUMAN = Behaviour()
ROOM = Lighting()
WEBCAM = SensorEffects()
RECAPTURE = SensorEffects(blur_sigma_px=0.0)
"""Noise only: the footage already carries its own lens and compression blur."""
CAMERA = Camera()


class GenuineActor:
    """A bona fide user: a 3D head from a photo that follows the page's actions
    with human latency and reflects the screen's light. Stateful in time (call
    ``frame`` with non-decreasing ``t``); deterministic from ``seed``."""

    def __init__(
        self,
        head: HeadModel,
        seed: int,
        behaviour: Behaviour = HUMAN,
        lighting: Lighting = ROOM,
        effects: SensorEffects = WEBCAM,
        camera: Camera = CAMERA,
        glasses: Glasses | None = None,
    ) -> None:
        rng = np.random.default_rng([seed, 1])
        self.head = head
        self.glasses = glasses
        self.seed = seed
        self.camera = camera
        self.effects = effects
        self.lighting = lighting
        self.performer = Performer(seed, behaviour)
        self.background = room_background(rng, camera.width, camera.height)
        self.noise = NoiseBank(rng, effects.noise_sigma, (camera.height, camera.width))
        self.exposure_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self.offset_mm = (float(rng.uniform(-25, 25)), float(rng.uniform(-35, 0)))
        self.hair = tuple(float(v) for v in HAIR_COLOURS[int(rng.integers(0, len(HAIR_COLOURS)))])
        self.shirt = tuple(
            float(v) for v in SHIRT_COLOURS[int(rng.integers(0, len(SHIRT_COLOURS)))]
        )

    @classmethod
    def from_photo(cls, path: Path, seed: int, **kwargs: object) -> GenuineActor:
        return cls(load_head(path), seed, **kwargs)  # type: ignore[arg-type]

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        pose = self.performer.pose(t, action)
        rng = frame_rng(self.seed, t)
        shift = self.shake(rng)
        canvas = self.backdrop(shift)
        self.draw(canvas, pose, light, shift)
        gain = exposure_gain(self.effects, t, self.exposure_phase)
        return finish_frame(canvas, self.effects, self.noise, rng, gain)

    def draw(
        self, canvas: NDArray[np.float32], pose: Pose, light: RGB | None, shift: tuple[int, int]
    ) -> None:
        """Body, hair silhouette and the textured face, in that order (far to near)."""
        rotation = rotation_matrix(pose.yaw, pose.pitch, pose.roll)
        position = np.array(
            [pose.x_mm + self.offset_mm[0], pose.y_mm + self.offset_mm[1], pose.distance_mm]
        )
        pivot = self.head.pivot

        def place(points: NDArray[np.float64]) -> NDArray[np.float64]:
            out: NDArray[np.float64] = (points - pivot) @ rotation.T + pivot + position
            return out

        self._draw_body(canvas, position, place, shift, light)
        mesh = close_eyes(self.head.mesh, pose.eyes_closed)
        shading = self.lighting.shading(light)
        placed = place(mesh.vertices)
        render_mesh(canvas, self.camera, mesh, placed, shading, shift)
        if self.glasses is not None:
            corners = self.camera.project(placed[np.array(EYE_CORNERS).ravel()], shift)
            self.glasses.draw(canvas, corners.reshape(2, 2, 2))

    def _draw_body(
        self,
        canvas: NDArray[np.float32],
        position: NDArray[np.float64],
        place: object,
        shift: tuple[int, int],
        light: RGB | None,
    ) -> None:
        """Shoulders (fixed to the body) and the back of the head (turns with it)."""
        assert callable(place)
        shade = np.asarray(self.lighting.shading(light, 0.6).ambient) + np.asarray(
            self.lighting.shading(light, 0.6).diffuse
        )
        body = self.camera.project(
            np.array([[0.0, 260.0, 120.0], [0.0, 110.0, 80.0]]) + position, shift
        )
        scale = self.camera.focal_px / (position[2] + 120.0)
        shirt = tuple(float(v) for v in np.asarray(self.shirt) * shade)
        skin = tuple(float(v) for v in np.asarray(self.head.skin_bgr) * shade * 0.85)
        centre = (int(body[0, 0]), int(body[0, 1]))
        cv2.ellipse(canvas, centre, (int(230 * scale), int(130 * scale)), 0, 0, 360, shirt, -1)
        skull = place(np.array([[0.0, -35.0, 55.0]]))
        head = self.camera.project(skull, shift)[0]
        head_scale = self.camera.focal_px / skull[0, 2]
        hair = tuple(float(v) for v in np.asarray(self.hair) * shade)
        axes = (int(84 * head_scale), int(100 * head_scale))
        cv2.ellipse(canvas, (int(head[0]), int(head[1])), axes, 0, 0, 360, hair, -1, cv2.LINE_AA)
        neck_top = (int(body[1, 0]), int(body[1, 1]))
        cv2.ellipse(canvas, neck_top, (int(52 * scale), int(75 * scale)), 0, 0, 360, skin, -1)

    def shake(self, rng: np.random.Generator) -> tuple[int, int]:
        """This frame's camera shake (pixels)."""
        j = round(self.effects.jitter_px)
        dx, dy = (int(v) for v in rng.integers(-j, j + 1, size=2))
        return dx, dy

    def backdrop(self, shift: tuple[int, int]) -> NDArray[np.float32]:
        """The room behind the person, shifted by the camera shake (a fresh copy)."""
        m = (self.background.shape[0] - self.camera.height) // 2
        y0, x0 = m + shift[1], m + shift[0]
        crop = self.background[y0 : y0 + self.camera.height, x0 : x0 + self.camera.width]
        return crop.copy()


class VideoActor:
    """The real talking-head video (``video/talking_head_blinks.mp4`` in the shared
    data), letterboxed to 640×480 and looped, with fresh sensor noise per frame
    (so repeated source frames at 30 fps from 25 fps footage are not frozen
    frames). It cannot follow challenges: for the passive path only."""

    def __init__(self, path: Path, seed: int, effects: SensorEffects = RECAPTURE) -> None:
        if not path.is_file():
            raise VeronicaError(f"video not found: {path} (set VERONICA_SHARED_DATA)")
        self.path = path
        self.seed = seed
        self.effects = effects
        self.camera = Camera()
        rng = np.random.default_rng([seed, 29])
        self.noise = NoiseBank(rng, effects.noise_sigma, (self.camera.height, self.camera.width))
        self._capture = cv2.VideoCapture(str(path))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 25.0
        self.count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._index = -1
        self._current: NDArray[np.uint8] | None = None

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        index = int(t * self.fps) % max(1, self.count)
        source = self._read(index)
        rng = frame_rng(self.seed, t)
        canvas = letterbox(source, self.camera.width, self.camera.height).astype(np.float32)
        return finish_frame(canvas, self.effects, self.noise, rng, 1.0)

    def close(self) -> None:
        self._capture.release()

    def _read(self, index: int) -> NDArray[np.uint8]:
        if index < self._index or (self._current is None and self._index >= 0):
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            self._index = -1
        while self._index < index:
            ok, image = self._capture.read()
            if not ok:
                break
            self._index += 1
            self._current = np.asarray(image, dtype=np.uint8)
        if self._current is None:
            raise VeronicaError(f"cannot decode {self.path}")
        return self._current


def letterbox(image: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """Fit ``image`` inside width×height, keeping its aspect, on black bars."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    out[y : y + nh, x : x + nw] = resized
    return out
