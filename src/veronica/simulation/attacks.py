"""Presentation attacks (ISO/IEC 30107 "PAI species"), each an ``Actor``.

All simulated: prints and screens are textured planes rendered by the same
camera as the genuine head, with the artefacts that make them what they are
(paper: border, lost contrast and saturation, halftone, flat shading; screens:
bezel, moiré, gamma, glare, own light).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from veronica.simulation.hostile import AskLog
from veronica.simulation.motion import Behaviour, Performer, Pose
from veronica.simulation.population import CameraChain, Conditions, draw_conditions
from veronica.simulation.render import (
    TexturedMesh,
    copy_where,
    orient_towards_camera,
    render_mask,
    render_mesh,
)
from veronica.simulation.scripts import Timeline, random_script

BASELINE_SPECIES: tuple[str, ...] = (
    "print_still",
    "print_moving",
    "screen_replay_wrong",
    "screen_replay_late",
    "frozen_frame",
    "face_swap",
)
"""The first species, each drawn with the cue its check was written for (a
print's border, a screen's bezel and weak reflection, a frame frozen to ±1)."""

STRONG_SPECIES: tuple[str, ...] = (
    "print_cutout",
    "print_bent",
    "screen_close",
    "screen_replay_short",
    "frozen_frame_noisy",
    "identity_injection",
)
"""Species built without those cues (docs/LIVENESS.md, "Attack species"): a
cut-out print filling the view with the attacker's eyes blinking behind it, a
strongly bent print turned to fake the asked turns, a clean high-resolution
screen held close, a relay only 0.3–1 s late, a frozen frame with fresh noise
of σ 1–3, and the victim injected on a subset of the frames of another person
who performs the challenge."""

SPECIES: tuple[str, ...] = BASELINE_SPECIES + STRONG_SPECIES
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


def print_texture(
    photo: NDArray[np.float32], look: PrintLook, bordered: bool = True
) -> tuple[NDArray[np.float32], int]:
    """The photo as printed on paper with a white border (or trimmed to the picture:
    ``bordered=False``); returns (texture, border px)."""
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
    border = int(look.border_frac * max(h, w)) if bordered else 0
    paper = (238.0, 242.0, 245.0)
    out = cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT, value=paper)
    return np.clip(out, 0, 255).astype(np.float32), border


def shaken_backdrop(
    background: NDArray[np.float32],
    camera: Camera,
    effects: SensorEffects,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], tuple[int, int]]:
    """A copy of the camera's view of ``background`` moved by this frame's shake,
    and the shake (pixels)."""
    j = round(effects.jitter_px)
    dx, dy = (int(v) for v in rng.integers(-j, j + 1, size=2))
    m = (background.shape[0] - camera.height) // 2
    view = background[m + dy : m + dy + camera.height, m + dx : m + dx + camera.width]
    return view.copy(), (dx, dy)


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
        canvas, shift = shaken_backdrop(self.background, self.camera, self.effects, rng)
        self.draw(canvas, t, pose, light, shift)
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


SCREEN = Lighting(room_bgr=(1.0, 1.0, 1.0), screen_gain=0.04, normal_page_rgb=(188, 188, 188))
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


MOVES = frozenset({Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP, Action.APPROACH})
BENT_MOVES = Behaviour(turn_deg=(28.0, 40.0), look_up_deg=(15.0, 25.0), sway_deg=1.0)
"""A strongly bent print turned further than a head would, to fake the asked turn."""


def print_actor(
    head: HeadModel,
    seed: int,
    moving: bool,
    lighting: Lighting = PAPER,
    effects: SensorEffects = WEBCAM,
    bent: bool = False,
) -> PlaneActor:
    """A life-size print of the photo (the iris printed 11.7 mm wide): held still,
    or moved, tilted and bent to fake the asked turns and approaches. ``bent``:
    trimmed to the picture, bent around a 130–200 mm radius (the sides far back,
    like a cheek turning away) and pre-tilted 5–12° to one side."""
    rng = np.random.default_rng([seed, 5])
    photo, corner = crop_portrait(head)
    texture, border = print_texture(photo, PrintLook.draw(rng), bordered=not bent)
    th, tw = texture.shape[:2]
    size = (tw * head.mm_per_px, th * head.mm_per_px)
    origin = (head.centre_px[0] - corner[0] + border, head.centre_px[1] - corner[1] + border)
    radius = None
    if bent:
        radius = float(rng.uniform(130.0, 200.0))
    elif moving:
        radius = float(rng.uniform(120.0, 300.0)) * (1.0 if rng.integers(0, 2) else -1.0)
    card = grid_mesh(texture, size, origin, bend_radius_mm=radius)
    behaviour = BENT_MOVES if bent else CARD_MOVES if moving else STILL
    actor = PlaneActor(
        seed,
        lambda _t: card,
        lighting,
        behaviour,
        MOVES if moving or bent else frozenset(),
        effects=effects,
    )
    if bent:
        side = 1.0 if rng.integers(0, 2) else -1.0
        actor.tilt = (side * float(rng.uniform(5.0, 12.0)), actor.tilt[1], actor.tilt[2])
    return actor


class CutoutActor:
    """A print cut to the face with the eyes cut out, held against the attacker's
    face: the paper fills the camera's view (the picture continues past the
    frame, no border or edge in sight) and the attacker's own eyes, behind the
    holes, blink on request. The attacker moves head and print together to fake
    turns. The eyes behind are rendered from the victim's head model: the best
    case for the attacker (eyes that fit the holes exactly)."""

    GAP_MM = 25.0
    """Paper in front of the face: it rests on the nose and brows."""

    def __init__(
        self,
        head: HeadModel,
        seed: int,
        lighting: Lighting,
        effects: SensorEffects = WEBCAM,
        camera: Camera = CAMERA,
    ) -> None:
        rng = np.random.default_rng([seed, 23])
        self.seed = seed
        self.camera = camera
        self.effects = effects
        self.lighting = lighting
        self.behind = GenuineActor(head, seed, lighting=lighting, effects=effects, camera=camera)
        self.performer = Performer(seed, CARD_MOVES)
        photo = head.mesh.texture
        texture, _ = print_texture(photo, PrintLook.draw(rng), bordered=False)
        # Continue the picture past the photo's edges: the print overfills the view.
        pad = max(texture.shape[:2]) // 2
        texture = np.asarray(
            cv2.copyMakeBorder(texture, pad, pad, pad, pad, cv2.BORDER_REPLICATE), dtype=np.float32
        )
        holes = np.zeros(texture.shape[:2], dtype=np.float32)
        uv = head.mesh.uv.astype(np.float64) + pad
        for upper, lower in ((159, 145), (386, 374)):
            outer, inner = (33, 133) if upper == 159 else (263, 362)
            centre = (uv[outer] + uv[inner]) / 2.0
            half_w = 0.7 * float(np.linalg.norm(uv[inner] - uv[outer]))
            half_h = max(1.8 * float(np.linalg.norm(uv[upper] - uv[lower])), 0.45 * half_w)
            c = (round(float(centre[0])), round(float(centre[1])))
            axes = (round(half_w), round(half_h))
            cv2.ellipse(holes, c, axes, 0, 0, 360, (1.0,), -1)
        th, tw = texture.shape[:2]
        scale = head.mm_per_px
        origin = (head.centre_px[0] + pad, head.centre_px[1] + pad)
        self.card = grid_mesh(texture, (tw * scale, th * scale), origin, cells=(24, 24))
        self.holes = holes
        """Where the eye holes are, on the card's texture (1 inside)."""
        self.background = room_background(rng, camera.width, camera.height)
        self.noise = NoiseBank(rng, effects.noise_sigma, (camera.height, camera.width))
        self.exposure_phase = float(rng.uniform(0.0, 2.0 * math.pi))

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        pose = self.performer.pose(t, action)
        rng = frame_rng(self.seed, t)
        canvas, (dx, dy) = shaken_backdrop(self.background, self.camera, self.effects, rng)
        self.behind.draw(canvas, pose, light, (dx, dy))
        # The paper: life-size at the face's distance, a little in front of it.
        offset = self.behind.offset_mm
        position = np.array(
            [pose.x_mm + offset[0], pose.y_mm + offset[1], pose.distance_mm - self.GAP_MM]
        )
        scale = (pose.distance_mm - self.GAP_MM) / pose.distance_mm
        rotation = rotation_matrix(pose.yaw, pose.pitch, pose.roll)
        verts = (self.card.vertices * scale) @ rotation.T + position
        paper = canvas.copy()
        shading = self.lighting.shading(light)
        covered = render_mesh(paper, self.camera, self.card, verts, shading, (dx, dy))
        shape = (canvas.shape[0], canvas.shape[1])
        holes = render_mask(shape, self.camera, self.card, self.holes, verts, (dx, dy), covered)
        # The attacker's own face shows through the holes.
        copy_where(canvas, (holes > 0.5).astype(np.uint8), paper)
        gain = exposure_gain(self.effects, t, self.exposure_phase)
        return finish_frame(paper, self.effects, self.noise, rng, gain)


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
    refresh_depth: float = 0.0
    """Rolling brightness band from the screen's refresh beating with the
    camera's exposure (a few % on a backlit LCD under a rolling shutter)."""

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

    @classmethod
    def draw_clean(cls, rng: np.random.Generator) -> ScreenLook:
        """A high-resolution screen (no visible pixel grid, so barely any moiré),
        near-sRGB gamma, matte coating (weak glare), held so close that its
        edges are out of the picture."""
        return cls(
            width_mm=float(rng.uniform(150.0, 250.0)),
            bezel_visible=False,
            gamma=float(rng.uniform(0.95, 1.1)),
            moire_period_px=float(rng.uniform(5.0, 14.0)),
            moire_angle=float(rng.uniform(0.0, math.pi)),
            moire_depth=float(rng.uniform(0.0, 0.01)),
            glare_xy=(float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.1, 0.5))),
            glare_strength=float(rng.uniform(3.0, 12.0)),
            refresh_depth=float(rng.uniform(0.01, 0.03)),
        )


class ScreenSurface:
    """The screen's texture at time t: the replayed frame with gamma, moiré and
    glare, inside a black bezel."""

    BEZEL_PX = 36

    def __init__(
        self, source: Callable[[float], NDArray[np.uint8]], look: ScreenLook, zoom: float = 1.0
    ) -> None:
        self.source = source
        self.look = look
        self.zoom = zoom
        """The video's scale on the screen: 1 fills it; below 1 the picture is
        smaller and the scene continues around it (a recording with a wider
        view than the attacked camera's)."""
        h, w = 480 + 2 * self.BEZEL_PX, 640 + 2 * self.BEZEL_PX
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        k = 2.0 * math.pi / look.moire_period_px
        c, s = math.cos(look.moire_angle), math.sin(look.moire_angle)
        beat = np.cos(k * (c * xx + s * yy)) * np.cos(0.93 * k * (c * xx - s * yy))
        # Moiré and glare are stored per channel (the same value three times):
        # NumPy multiplies same-shaped arrays ~10× faster than it broadcasts
        # over a length-1 channel axis.
        moire = (1.0 + look.moire_depth * beat)[:, :, None].astype(np.float32)
        self.moire = np.repeat(moire, 3, axis=2)
        gx, gy = look.glare_xy[0] * w, look.glare_xy[1] * h
        glare = np.exp(-(((xx - gx) / (0.18 * w)) ** 2 + ((yy - gy) / (0.1 * h)) ** 2))
        self.glare = np.repeat((look.glare_strength * glare)[:, :, None].astype(np.float32), 3, 2)
        scale = look.width_mm / 640.0
        self.size_mm = (w * scale, h * scale)
        self.origin = (w / 2.0, h / 2.0)
        self.rows = yy[:, :1, None] / h
        levels = np.arange(256, dtype=np.float64) / 255.0
        self.lut = np.round(255.0 * levels**look.gamma).astype(np.uint8)
        self._grid: TexturedMesh | None = None
        """The screen's grid (its geometry never changes; only the picture does)."""

    def __call__(self, t: float) -> TexturedMesh:
        lut = self.lut
        picture = self.source(t)
        if self.zoom < 1.0:
            h, w = picture.shape[:2]
            small = cv2.resize(picture, (round(w * self.zoom), round(h * self.zoom)))
            top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
            bottom, right = h - small.shape[0] - top, w - small.shape[1] - left
            picture = np.asarray(
                cv2.copyMakeBorder(small, top, bottom, left, right, cv2.BORDER_REPLICATE)
            )
        shown = cv2.LUT(picture, lut)
        b = self.BEZEL_PX
        framed = cv2.copyMakeBorder(shown, b, b, b, b, cv2.BORDER_CONSTANT, value=(12, 12, 14))
        texture = framed.astype(np.float32)
        texture *= self.moire
        texture += self.glare
        if self.look.refresh_depth > 0.0:
            # The band drifts down the picture at the beat of 60 Hz and the camera.
            band = 1.0 + self.look.refresh_depth * np.sin(2.0 * math.pi * (self.rows - 0.7 * t))
            # One factor per row, applied to the row's pixels as a flat run.
            rows = texture.reshape(texture.shape[0], -1)
            rows *= band.astype(np.float32).reshape(-1, 1)
        if self._grid is None or self._grid.texture.shape != texture.shape:
            self._grid = grid_mesh(texture, self.size_mm, self.origin, cells=(12, 9))
        return replace(self._grid, texture=texture)


def recording(
    actor: Actor, timeline: Timeline, delay_s: float = 0.0
) -> Callable[[float], NDArray[np.uint8]]:
    """Playback of ``actor`` following ``timeline``, ``delay_s`` late: the frame the
    replayed session showed at ``t - delay_s`` (its first frame before that)."""

    last: list[tuple[float, NDArray[np.uint8]]] = []

    def play(t: float) -> NDArray[np.uint8]:
        local = max(0.0, t - delay_s)
        # Until the delay has passed every call shows the first frame: render it
        # once (asked again for the same instant, an actor returns the same
        # picture and its state does not move).
        if last and last[0][0] == local:
            return last[0][1]
        action, light = timeline.at(local)
        frame = actor.frame(local, action, light)
        last[:] = [(local, frame)]
        return frame

    return play


class LiveRelay:
    """A victim answering this very session through an attacker's relay: what our
    page shows reaches the victim ``forward_s`` late (their screen shows it; their
    camera films them), and their picture comes back ``back_s`` later to the
    screen held before our camera. The victim follows the page's real states,
    so a relay is never early, and sees a prompt stay until our server has seen
    the (relayed) response. Call ``observe`` with each frame's page state, then
    use the relay as a ``recording`` source; times never go back."""

    def __init__(self, victim: Actor, forward_s: float, back_s: float) -> None:
        self.victim = victim
        self.forward_s = forward_s
        self.back_s = back_s
        self.log = AskLog()
        self._last: tuple[float, NDArray[np.uint8]] | None = None

    def observe(self, t: float, action: Action | None, light: RGB | None) -> None:
        self.log.record(t, action, light)

    def __call__(self, t: float) -> NDArray[np.uint8]:
        filmed_at = max(0.0, t - self.back_s)
        # Until the delay has passed every call shows the first frame: render it
        # once (as ``recording`` does).
        if self._last is not None and self._last[0] == filmed_at:
            return self._last[1]
        action, light = self.log.at(filmed_at - self.forward_s)
        frame = self.victim.frame(filmed_at, action, light)
        self._last = (filmed_at, frame)
        return frame


class RelayActor:
    """A relay attack as our page sees it: the relay reads what the page shows
    the moment it shows it, and ``filmed`` (our webcam filming the screen that
    shows the relay) is what comes back."""

    def __init__(self, relay: LiveRelay, filmed: Actor) -> None:
        self.relay = relay
        self.filmed = filmed

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        self.relay.observe(t, action, light)
        return self.filmed.frame(t, action, light)


def screen_actor(
    source: Callable[[float], NDArray[np.uint8]],
    seed: int,
    clean: bool = False,
    effects: SensorEffects = WEBCAM,
    face_px: tuple[float, float] | None = None,
) -> PlaneActor:
    """A phone or tablet replaying ``source`` in front of the camera. The screen
    is held so the replayed face looks about life-size; with the bezel visible
    the whole screen is in view, otherwise it overfills the frame. ``clean``: a
    high-resolution screen held close (``ScreenLook.draw_clean``), overfilling
    the frame by 30–60 % so no edge is near the face, with the video shown
    smaller by as much so the face stays life-size (where the oval wants it)."""
    rng = np.random.default_rng([seed, 9])
    look = ScreenLook.draw_clean(rng) if clean else ScreenLook.draw(rng)
    if clean:
        fill = rng.uniform(1.3, 1.6)
    else:
        fill = rng.uniform(0.8, 0.92) if look.bezel_visible else rng.uniform(1.12, 1.3)
    # A clean screen held close shows the video smaller by as much as it
    # overfills the view, so the face stays life-size (where the oval wants it).
    surface = ScreenSurface(source, look, zoom=1.0 / fill if clean else 1.0)
    distance = Camera().focal_px * look.width_mm / (640.0 * fill)
    rest = Behaviour(sway_deg=0.8, sway_mm=1.0, rest_distance_mm=(distance, distance))
    actor = PlaneActor(seed, surface, SCREEN, rest, frozenset(), effects=effects)
    if face_px is not None:
        mm_per_px = surface.size_mm[0] / (640 + 2 * ScreenSurface.BEZEL_PX) * surface.zoom
        actor.offset = (
            actor.offset[0] / 2.0 - face_px[0] * mm_per_px,
            actor.offset[1] / 2.0 - face_px[1] * mm_per_px,
        )
    return actor


class FrozenFrameActor:
    """One real camera frame injected again and again (a virtual-camera attack):
    bit-identical, or with ±1 on ~1 % of pixels (≤ 0.5 grey level), or with
    fresh Gaussian noise of ``noise_sigma`` grey levels on every pixel of every
    frame (what a virtual camera that imitates a sensor adds)."""

    def __init__(self, still: NDArray[np.uint8], seed: int, noise_sigma: float = 0.0) -> None:
        self.still = still
        self.seed = seed
        self.jitter = bool(np.random.default_rng([seed, 13]).integers(0, 2))
        self.noise: NoiseBank | None = None
        if noise_sigma > 0.0:
            rng = np.random.default_rng([seed, 37])
            self.noise = NoiseBank(rng, noise_sigma, still.shape[:2])  # type: ignore[arg-type]

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        if self.noise is not None:
            noisy = self.still.astype(np.int16) + self.noise.sample(frame_rng(self.seed, t, 2))
            return np.clip(noisy, 0, 255).astype(np.uint8)
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


class InjectionActor:
    """Liveness by proxy: another person performs every challenge in front of a
    real camera while the victim's frames replace one frame in ``every``
    (starting at frame ``phase``), so recognition sees the victim."""

    def __init__(self, performer: Actor, victim: Actor, every: int, phase: int, fps: float) -> None:
        self.performer = performer
        self.victim = victim
        self.every = every
        self.phase = phase
        self.fps = fps

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        index = round(t * self.fps)
        if index % self.every == self.phase % self.every:
            return self.victim.frame(t, action, light)
        return self.performer.frame(t, action, light)


HeadSource = Callable[[Path], HeadModel]
"""Builds (or fetches) the head model of a photo: ``load_head`` by default."""


def victim_photo(seed: int, photos: Sequence[Path] | None = None) -> Path:
    """The photo the session of ``seed`` is built from (the victim of an attack)."""
    pool = tuple(photos) if photos is not None else default_photos()
    return pick_photo(pool, np.random.default_rng([seed, 17]))


def make_actor(
    species: str,
    script: SessionScript,
    seed: int,
    photos: Sequence[Path] | None = None,
    positioning_s: float = 1.5,
    conditions: Conditions | None = None,
    heads: HeadSource = load_head,
) -> Actor:
    """The actor for ``species`` (``"genuine"`` or one of ``SPECIES``) in a session
    that follows ``script`` after ``positioning_s`` seconds of positioning.
    ``photos`` are the source faces (default: the project's fixtures).

    With ``conditions`` (``population.draw_conditions``) the user or attacker is
    in that room and films through that webcam (``CameraChain``): latency,
    auto-exposure and white balance, the page's JPEG; injected frames (a frozen
    frame, an injected victim) skip the webcam but not the page's JPEG.
    Without, the baseline actor of the first suite (a fixed room, no chain)."""
    pool = tuple(photos) if photos is not None else default_photos()
    rng = np.random.default_rng([seed, 17])
    victim = pick_photo(pool, rng)
    if species not in ("genuine", *SPECIES):
        raise ValueError(f"unknown species {species!r}; expected 'genuine' or one of {SPECIES}")
    if conditions is None:
        return _baseline_actor(species, script, seed, pool, positioning_s, victim, rng, heads)
    return _realistic_actor(
        species, script, seed, pool, positioning_s, victim, rng, heads, conditions
    )


def _baseline_actor(
    species: str,
    script: SessionScript,
    seed: int,
    pool: tuple[Path, ...],
    positioning_s: float,
    victim: Path,
    rng: np.random.Generator,
    heads: HeadSource,
) -> Actor:
    if species == "genuine":
        return GenuineActor(heads(victim), seed)
    if species in ("print_still", "print_moving"):
        return print_actor(heads(victim), seed, moving=species == "print_moving")
    timeline = Timeline(script, positioning_s)
    if species == "screen_replay_wrong":
        other = Timeline(random_script(np.random.default_rng([seed, 19])), positioning_s)
        source = recording(GenuineActor(heads(victim), seed + 1), other)
        return screen_actor(source, seed)
    if species == "screen_replay_late":
        delay = float(rng.uniform(1.0, 2.5))
        source = recording(GenuineActor(heads(victim), seed + 1), timeline, delay)
        return screen_actor(source, seed)
    if species == "frozen_frame":
        still = GenuineActor(heads(victim), seed).frame(0.0, None, None)
        return FrozenFrameActor(still, seed)
    if species == "face_swap":
        impostor = pick_photo(_others(pool, victim), rng)
        return FaceSwapActor(
            GenuineActor(heads(impostor), seed),
            GenuineActor(heads(victim), seed + 1),
            positioning_s,
        )
    # The strong species exist only with a population's conditions.
    return _realistic_actor(
        species, script, seed, pool, positioning_s, victim, rng, heads, draw_conditions(seed)
    )


def _realistic_actor(
    species: str,
    script: SessionScript,
    seed: int,
    pool: tuple[Path, ...],
    positioning_s: float,
    victim: Path,
    rng: np.random.Generator,
    heads: HeadSource,
    conditions: Conditions,
) -> Actor:
    cam = conditions.camera
    room = conditions.lighting
    effects = cam.effects

    def webcam(actor: Actor) -> Actor:
        return CameraChain(actor, cam)

    def injected(actor: Actor) -> Actor:
        return CameraChain(actor, cam, injected=True)

    def person(photo: Path, person_seed: int) -> GenuineActor:
        return GenuineActor(
            heads(photo),
            person_seed,
            behaviour=conditions.behaviour,
            lighting=room,
            effects=effects,
            glasses=conditions.glasses,
        )

    if species == "genuine":
        return webcam(person(victim, seed))
    if species in ("print_still", "print_moving"):
        return webcam(print_actor(heads(victim), seed, species == "print_moving", effects=effects))
    if species == "print_bent":
        # Matte paper reflects the screen as skin does: the light check gets no help.
        return webcam(
            print_actor(heads(victim), seed, True, lighting=room, effects=effects, bent=True)
        )
    if species == "print_cutout":
        return webcam(CutoutActor(heads(victim), seed, room, effects))
    if species == "screen_replay_wrong":
        other = Timeline(random_script(np.random.default_rng([seed, 19])), positioning_s)
        source = recording(GenuineActor(heads(victim), seed + 1), other)
        return webcam(screen_actor(source, seed, effects=effects))
    if species in ("screen_replay_late", "screen_replay_short", "screen_close"):
        low, high = (1.0, 2.5) if species == "screen_replay_late" else (0.3, 1.0)
        delay = float(rng.uniform(low, high))
        forward = float(rng.uniform(0.3, 0.7)) * delay
        # The victim, in their own room before their own webcam, answers this
        # session's prompts and colours as the relay passes them on.
        theirs = draw_conditions(seed + 1)
        filmed = GenuineActor(
            heads(victim),
            seed + 1,
            behaviour=theirs.behaviour,
            lighting=theirs.lighting,
            effects=theirs.camera.effects,
            glasses=theirs.glasses,
        )
        relay = LiveRelay(CameraChain(filmed, theirs.camera), forward, delay - forward)
        if species == "screen_replay_late":
            return RelayActor(relay, webcam(screen_actor(relay, seed, effects=effects)))
        f = filmed.camera.focal_px / 500.0  # px per mm at the filmed face's distance
        face = (filmed.offset_mm[0] * f, filmed.offset_mm[1] * f)
        clean = species == "screen_close"
        screen = screen_actor(relay, seed, clean=clean, effects=effects, face_px=face)
        return RelayActor(relay, webcam(screen))
    if species in ("frozen_frame", "frozen_frame_noisy"):
        still = CameraChain(person(victim, seed), cam).frame(0.0, None, None)
        sigma = float(rng.uniform(1.0, 3.0)) if species == "frozen_frame_noisy" else 0.0
        return injected(FrozenFrameActor(still, seed, noise_sigma=sigma))
    impostor = pick_photo(_others(pool, victim), rng)
    if species == "face_swap":
        return webcam(
            FaceSwapActor(person(impostor, seed), person(victim, seed + 1), positioning_s)
        )
    if species == "identity_injection":
        every = int(rng.choice([2, 3, 4, 6]))
        phase = int(rng.integers(0, every))
        return InjectionActor(
            webcam(person(impostor, seed)),
            injected(person(victim, seed + 1)),
            every,
            phase,
            cam.fps,
        )
    raise AssertionError(species)  # pragma: no cover - checked above


def _others(pool: tuple[Path, ...], victim: Path) -> list[Path]:
    """Photos of other identities (folders) than the victim's (all if none)."""
    return [p for p in pool if p.parent != victim.parent] or list(pool)
