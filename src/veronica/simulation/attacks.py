"""Presentation attacks (ISO/IEC 30107 "PAI species"), each an ``Actor``.

All simulated: prints and screens are textured planes rendered by the same
camera as the genuine head, with the artefacts that make them what they are
(paper: border, lost contrast and saturation, halftone, flat shading; screens:
bezel, moiré, gamma, glare, own light).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import RGB, Action, SessionScript
from veronica.simulation.actors import (
    CAMERA,
    WEBCAM,
    Actor,
    GenuineActor,
    Lighting,
    default_photos,
    load_head,
    pick_photo,
)
from veronica.simulation.background import room_background
from veronica.simulation.camera import (
    Camera,
    NoiseBank,
    SensorEffects,
    exposure_gain,
    finish_frame,
    frame_rng,
)
from veronica.simulation.head import HeadModel, rotation_matrix
from veronica.simulation.motion import Behaviour, Performer, Pose
from veronica.simulation.render import TexturedMesh, orient_towards_camera, render_mesh
from veronica.simulation.scripts import Timeline, random_script

SPECIES: tuple[str, ...] = (
    "print_still",
    "print_moving",
    "screen_replay_wrong",
    "screen_replay_late",
    "frozen_frame",
    "face_swap",
)
"""Attack species; ``make_actor`` also accepts ``"genuine"``."""

STILL = Behaviour(sway_deg=0.6, sway_mm=1.5)
"""A hand holding a card or phone still: tremor only."""
CARD_MOVES = Behaviour(turn_deg=(25.0, 30.0), look_up_deg=(15.0, 25.0), sway_deg=1.0)
"""An attacker tilting a card to fake the asked move (after a reaction latency)."""
PAPER = Lighting(room_bgr=(0.6, 0.62, 0.64), screen_gain=0.18)
"""Matte paper lit by the room and, weakly, by the screen."""


def grid_mesh(
    texture: NDArray[np.float32],
    size_mm: tuple[float, float],
    origin_px: tuple[float, float],
    cells: tuple[int, int] = (16, 20),
    bend_radius_mm: float | None = None,
) -> TexturedMesh:
    """A flat (or cylindrically bent) rectangle carrying ``texture``; ``origin_px``
    is the texture point placed at the model origin. Positive radius bends the
    sides away from the camera."""
    th, tw = texture.shape[:2]
    nx, ny = cells
    u, v = np.meshgrid(np.linspace(0, tw - 1, nx + 1), np.linspace(0, th - 1, ny + 1))
    x = (u - origin_px[0]) * size_mm[0] / tw
    y = (v - origin_px[1]) * size_mm[1] / th
    z = np.zeros_like(x)
    if bend_radius_mm is not None:
        angle = x / bend_radius_mm
        x = bend_radius_mm * np.sin(angle)
        z = bend_radius_mm * (1.0 - np.cos(angle))
    vertices = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    index = np.arange((nx + 1) * (ny + 1)).reshape(ny + 1, nx + 1)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, 1:].ravel(), index[1:, :-1].ravel()
    triangles = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]).astype(np.int32)
    uv = np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float32)
    return TexturedMesh(vertices, uv, orient_towards_camera(vertices, triangles), texture)


@dataclass(frozen=True)
class PrintLook:
    """How a consumer printer renders a photo (drawn per seed)."""

    contrast: float
    saturation: float
    gamma: float
    dot_period_px: float
    border_frac: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PrintLook:
        return cls(
            contrast=float(rng.uniform(0.75, 0.9)),
            saturation=float(rng.uniform(0.6, 0.85)),
            gamma=float(rng.uniform(1.05, 1.25)),
            dot_period_px=float(rng.uniform(2.5, 4.0)),
            border_frac=float(rng.uniform(0.04, 0.08)),
        )


def print_texture(photo: NDArray[np.float32], look: PrintLook) -> tuple[NDArray[np.float32], int]:
    """The photo as printed on paper with a white border; returns (texture, border px)."""
    img = 255.0 * (np.clip(photo, 0, 255) / 255.0) ** look.gamma
    grey = img.mean(axis=2, keepdims=True)
    img = grey + look.saturation * (img - grey)
    img = 128.0 + look.contrast * (img - 128.0) + 8.0
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    k = 2.0 * math.pi / look.dot_period_px
    dots = 1.0 - 0.05 * (
        np.cos(k * (xx + yy) / math.sqrt(2)) * np.cos(k * (xx - yy) / math.sqrt(2))
    )
    img = cv2.GaussianBlur((img * dots[:, :, None]).astype(np.float32), (0, 0), 0.8)
    border = int(look.border_frac * max(h, w))
    paper = (238.0, 242.0, 245.0)
    out = cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT, value=paper)
    return np.clip(out, 0, 255).astype(np.float32), border


class PlaneActor:
    """A textured plane (card or screen) held in front of the camera.

    The hand's pose comes from a ``Performer`` (the attacker reacting to the
    page, or just tremor); ``respond`` limits which actions it fakes.
    """

    def __init__(
        self,
        seed: int,
        surface: Callable[[float], TexturedMesh],
        lighting: Lighting,
        behaviour: Behaviour,
        respond: frozenset[Action],
        distance_scale: float = 1.0,
        effects: SensorEffects = WEBCAM,
        camera: Camera = CAMERA,
    ) -> None:
        rng = np.random.default_rng([seed, 3])
        self.seed = seed
        self.surface = surface
        self.lighting = lighting
        self.performer = Performer(seed, behaviour)
        self.respond = respond
        self.distance_scale = distance_scale
        self.effects = effects
        self.camera = camera
        self.background = room_background(rng, camera.width, camera.height)
        self.noise = NoiseBank(rng, effects.noise_sigma, (camera.height, camera.width))
        self.exposure_phase = float(rng.uniform(0.0, 2.0 * math.pi))
        self.offset = (float(rng.uniform(-20, 20)), float(rng.uniform(-30, 0)))
        self.tilt = (
            float(rng.uniform(-6, 6)),
            float(rng.uniform(-6, 6)),
            float(rng.uniform(-3, 3)),
        )

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        faked = action if action in self.respond else None
        pose = self.performer.pose(t, faked)
        rng = frame_rng(self.seed, t)
        j = round(self.effects.jitter_px)
        dx, dy = (int(v) for v in rng.integers(-j, j + 1, size=2))
        m = (self.background.shape[0] - self.camera.height) // 2
        canvas = self.background[
            m + dy : m + dy + self.camera.height, m + dx : m + dx + self.camera.width
        ].copy()
        self.draw(canvas, t, pose, light, (dx, dy))
        gain = exposure_gain(self.effects, t, self.exposure_phase)
        return finish_frame(canvas, self.effects, self.noise, rng, gain)

    def draw(
        self,
        canvas: NDArray[np.float32],
        t: float,
        pose: Pose,
        light: RGB | None,
        shift: tuple[int, int],
    ) -> None:
        mesh = self.surface(t)
        rotation = rotation_matrix(
            pose.yaw + self.tilt[0], pose.pitch + self.tilt[1], pose.roll + self.tilt[2]
        )
        position = np.array(
            [
                pose.x_mm + self.offset[0],
                pose.y_mm + self.offset[1],
                pose.distance_mm * self.distance_scale,
            ]
        )
        verts = mesh.vertices @ rotation.T + position
        render_mesh(canvas, self.camera, mesh, verts, self.lighting.shading(light))


SCREEN = Lighting(room_bgr=(1.0, 1.0, 1.0), screen_gain=0.04, normal_page_rgb=(128, 128, 128))
"""A screen emits its own light: the page's colour only tints the glass faintly."""


def crop_portrait(head: HeadModel) -> tuple[NDArray[np.float32], tuple[int, int]]:
    """The photo cut to a portrait print around the face (about 250 × 330 mm at
    life size): what an attacker prints. Returns (crop, its top-left corner)."""
    h, w = head.mesh.texture.shape[:2]
    half_w = 125.0 / head.mm_per_px
    cx, cy = head.centre_px
    x0, x1 = max(0, int(cx - half_w)), min(w, int(cx + half_w))
    y0, y1 = (
        max(0, int(cy - 0.55 * 330.0 / head.mm_per_px)),
        min(h, int(cy + 0.45 * 330.0 / head.mm_per_px)),
    )
    return head.mesh.texture[y0:y1, x0:x1], (x0, y0)


def print_actor(head: HeadModel, seed: int, moving: bool) -> PlaneActor:
    """A life-size print of the photo (the iris printed 11.7 mm wide): held still,
    or moved, tilted and bent to fake the asked turns and approaches."""
    rng = np.random.default_rng([seed, 5])
    photo, corner = crop_portrait(head)
    texture, border = print_texture(photo, PrintLook.draw(rng))
    th, tw = texture.shape[:2]
    size = (tw * head.mm_per_px, th * head.mm_per_px)
    origin = (head.centre_px[0] - corner[0] + border, head.centre_px[1] - corner[1] + border)
    radius = None
    if moving:
        radius = float(rng.uniform(120.0, 300.0)) * (1.0 if rng.integers(0, 2) else -1.0)
    card = grid_mesh(texture, size, origin, bend_radius_mm=radius)
    respond = (
        frozenset({Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP, Action.APPROACH})
        if moving
        else frozenset()
    )
    return PlaneActor(seed, lambda _t: card, PAPER, CARD_MOVES if moving else STILL, respond)


@dataclass(frozen=True)
class ScreenLook:
    """A phone/tablet showing a video, as another camera films it (drawn per seed)."""

    width_mm: float
    bezel_visible: bool
    gamma: float
    moire_period_px: float
    moire_angle: float
    moire_depth: float
    glare_xy: tuple[float, float]
    glare_strength: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> ScreenLook:
        return cls(
            width_mm=float(rng.uniform(150.0, 250.0)),
            bezel_visible=bool(rng.integers(0, 2)),
            gamma=float(rng.uniform(0.8, 1.25)),
            moire_period_px=float(rng.uniform(5.0, 14.0)),
            moire_angle=float(rng.uniform(0.0, math.pi)),
            moire_depth=float(rng.uniform(0.04, 0.09)),
            glare_xy=(float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.1, 0.5))),
            glare_strength=float(rng.uniform(25.0, 60.0)),
        )


class ScreenSurface:
    """The screen's texture at time t: the replayed frame with gamma, moiré and
    glare, inside a black bezel."""

    BEZEL_PX = 36

    def __init__(self, source: Callable[[float], NDArray[np.uint8]], look: ScreenLook) -> None:
        self.source = source
        self.look = look
        h, w = 480 + 2 * self.BEZEL_PX, 640 + 2 * self.BEZEL_PX
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        k = 2.0 * math.pi / look.moire_period_px
        c, s = math.cos(look.moire_angle), math.sin(look.moire_angle)
        beat = np.cos(k * (c * xx + s * yy)) * np.cos(0.93 * k * (c * xx - s * yy))
        self.moire = (1.0 + look.moire_depth * beat)[:, :, None].astype(np.float32)
        gx, gy = look.glare_xy[0] * w, look.glare_xy[1] * h
        glare = np.exp(-(((xx - gx) / (0.18 * w)) ** 2 + ((yy - gy) / (0.1 * h)) ** 2))
        self.glare = (look.glare_strength * glare)[:, :, None].astype(np.float32)
        scale = look.width_mm / 640.0
        self.size_mm = (w * scale, h * scale)
        self.origin = (w / 2.0, h / 2.0)

    def __call__(self, t: float) -> TexturedMesh:
        levels = np.arange(256, dtype=np.float64) / 255.0
        lut = np.round(255.0 * levels**self.look.gamma).astype(np.uint8)
        shown = cv2.LUT(self.source(t), lut)
        b = self.BEZEL_PX
        framed = cv2.copyMakeBorder(shown, b, b, b, b, cv2.BORDER_CONSTANT, value=(12, 12, 14))
        texture = framed.astype(np.float32) * self.moire + self.glare
        return grid_mesh(texture.astype(np.float32), self.size_mm, self.origin, cells=(12, 9))


def recording(
    actor: Actor, timeline: Timeline, delay_s: float = 0.0
) -> Callable[[float], NDArray[np.uint8]]:
    """Playback of ``actor`` following ``timeline``, ``delay_s`` late: the frame the
    replayed session showed at ``t - delay_s`` (its first frame before that)."""

    def play(t: float) -> NDArray[np.uint8]:
        local = max(0.0, t - delay_s)
        action, light = timeline.at(local)
        return actor.frame(local, action, light)

    return play


def screen_actor(source: Callable[[float], NDArray[np.uint8]], seed: int) -> PlaneActor:
    """A phone or tablet replaying ``source`` in front of the camera. The screen
    is held so the replayed face looks about life-size; with the bezel visible
    the whole screen is in view, otherwise it overfills the frame."""
    rng = np.random.default_rng([seed, 9])
    look = ScreenLook.draw(rng)
    surface = ScreenSurface(source, look)
    fill = rng.uniform(0.8, 0.92) if look.bezel_visible else rng.uniform(1.12, 1.3)
    distance = Camera().focal_px * look.width_mm / (640.0 * fill)
    rest = Behaviour(sway_deg=0.8, sway_mm=1.0, rest_distance_mm=(distance, distance))
    return PlaneActor(seed, surface, SCREEN, rest, frozenset())


class FrozenFrameActor:
    """One real camera frame injected again and again (a virtual-camera attack):
    bit-identical, or with ±1 on ~1 % of pixels (≤ 0.5 grey level)."""

    def __init__(self, still: NDArray[np.uint8], seed: int) -> None:
        self.still = still
        self.seed = seed
        self.jitter = bool(np.random.default_rng([seed, 13]).integers(0, 2))

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        if not self.jitter:
            return self.still.copy()
        rng = frame_rng(self.seed, t, stream=1)
        touched = rng.random(self.still.shape[:2]) < 0.01
        delta = np.where(
            touched, rng.choice(np.array([-1, 1], dtype=np.int16), self.still.shape[:2]), 0
        )
        out = self.still.astype(np.int16) + delta[:, :, None]
        frame: NDArray[np.uint8] = np.clip(out, 0, 255).astype(np.uint8)
        return frame


class FaceSwapActor:
    """Person A while positioning, person B (an injected or swapped face) after."""

    def __init__(self, first: Actor, second: Actor, switch_s: float) -> None:
        self.first = first
        self.second = second
        self.switch_s = switch_s

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        actor = self.first if t < self.switch_s else self.second
        return actor.frame(t, action, light)


def make_actor(
    species: str,
    script: SessionScript,
    seed: int,
    photos: Sequence[Path] | None = None,
    positioning_s: float = 1.5,
) -> Actor:
    """The actor for ``species`` (``"genuine"`` or one of ``SPECIES``) in a session
    that follows ``script`` after ``positioning_s`` seconds of positioning.
    ``photos`` are the source faces (default: the project's fixtures)."""
    pool = tuple(photos) if photos is not None else default_photos()
    rng = np.random.default_rng([seed, 17])
    victim = pick_photo(pool, rng)
    if species == "genuine":
        return GenuineActor(load_head(victim), seed)
    if species in ("print_still", "print_moving"):
        return print_actor(load_head(victim), seed, moving=species == "print_moving")
    timeline = Timeline(script, positioning_s)
    if species == "screen_replay_wrong":
        other = Timeline(random_script(np.random.default_rng([seed, 19])), positioning_s)
        source = recording(GenuineActor(load_head(victim), seed + 1), other)
        return screen_actor(source, seed)
    if species == "screen_replay_late":
        delay = float(rng.uniform(1.0, 2.5))
        source = recording(GenuineActor(load_head(victim), seed + 1), timeline, delay)
        return screen_actor(source, seed)
    if species == "frozen_frame":
        still = GenuineActor(load_head(victim), seed).frame(0.0, None, None)
        return FrozenFrameActor(still, seed)
    if species == "face_swap":
        others = [p for p in pool if p.parent != victim.parent] or list(pool)
        impostor = pick_photo(others, rng)
        return FaceSwapActor(
            GenuineActor(load_head(impostor), seed),
            GenuineActor(load_head(victim), seed + 1),
            positioning_s,
        )
    raise ValueError(f"unknown species {species!r}; expected 'genuine' or one of {SPECIES}")
