"""A realistic population of simulated users and their rooms and cameras.

``draw_conditions(seed)`` draws, per session, everything that varies between
real users: how far and how fast they move, how they blink, whether they wear
glasses, how bright the room is next to the screen, and what their webcam does
to the picture (latency, auto-exposure and white balance, shake, frame rate and
drops, the page's JPEG). Each range says where it comes from. ``CameraChain``
applies the camera part to any actor's frames, so genuine users and attackers
film through the same kind of webcam.

Every result built on this is *simulated*.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.types import RGB, Action
from veronica.simulation.actors import Actor, Lighting
from veronica.simulation.camera import SensorEffects
from veronica.simulation.glasses import Glasses
from veronica.simulation.motion import Behaviour

TOTAL_LIGHT = 1.1
"""Room plus screen light on the face (the shading multiplier) once the camera's
auto-exposure has settled: the baseline actor's room (0.55) plus its screen
(0.55), so faces stay as bright as the fixtures' calibration saw them."""

AMBIENT_LEVELS: dict[str, tuple[float, float]] = {
    "dim": (0.45, 0.7),
    "home": (0.2, 0.45),
    "office": (0.06, 0.2),
}
"""Share of the face's light that a white page contributes, per room. A laptop
screen at full white (250–350 cd/m², ~0.06 m²) lights a face at 50 cm with
roughly 60–90 lx; a dim room gives 20–80 lx, a lit living room 100–250 lx, an
office 300–750 lx (EN 12464-1 asks 500 lx at desks), hence about 50–75 %,
25–45 % and 8–20 %; ranges widened a little to include the extremes."""

LATENCY_S = (0.06, 0.25)
"""Camera latency (exposure, USB transfer, the browser's capture pipeline):
60–250 ms for webcams (measured glass-to-glass figures for USB UVC cameras)."""

FPS_RANGE = (8.0, 15.0)
"""Frames the page gets out per second: its 10 fps target on a fast machine
(up to the server's limit) down to a busy laptop's 8."""

DROP_RATE = (0.0, 0.05)
"""Share of frames lost (a busy tab, a network retry)."""

JPEG_QUALITY = 80
"""The page's ``canvas.toBlob`` quality 0.8 (``api/routes/auth.py::JPEG_QUALITY``)."""

GLASSES_SHARE = 0.35
"""About a third of adults wear glasses at the screen (roughly half of the 60 %
who wear any vision correction)."""


@dataclass(frozen=True)
class CameraConditions:
    """What one user's webcam and page do to the picture."""

    latency_s: float
    fps: float
    drop_rate: float
    jpeg_quality: int
    ae_time_constant_s: float
    """Auto-exposure settles towards a target brightness with this time constant
    (0.3–1.5 s; webcams re-expose within about a second)."""
    awb_time_constant_s: float
    awb_strength: float
    """Auto white balance pulls the picture's mean colour towards grey with this
    time constant (0.5–3 s) and strength (0.2–0.8 of the way): it works against
    the page's colours, which tint the whole face."""
    effects: SensorEffects


@dataclass(frozen=True)
class Conditions:
    """One simulated session's circumstances, drawn by ``draw_conditions``."""

    seed: int
    ambient: str
    """Room: ``dim``, ``home`` or ``office`` (``AMBIENT_LEVELS``)."""
    screen_fraction: float
    """Share of the face's light that a white page contributes."""
    behaviour: Behaviour
    glasses: Glasses | None
    camera: CameraConditions

    @property
    def lighting(self) -> Lighting:
        """Room and screen light on a matte surface (skin, paper) in this room,
        after auto-exposure (``TOTAL_LIGHT``)."""
        room = (1.0 - self.screen_fraction) * TOTAL_LIGHT
        warm = (0.945, 1.0, 1.055)  # the baseline room's warm white, BGR
        return Lighting(
            room_bgr=(room * warm[0], room * warm[1], room * warm[2]),
            screen_gain=self.screen_fraction * TOTAL_LIGHT,
        )

    @property
    def _hard_blink(self) -> bool:
        return self.behaviour.blink_depth[0] < 0.85 or self.behaviour.blink_s[0] > 0.4

    def labels(self) -> dict[str, str]:
        """Condition bins to report error rates by (values are bin names)."""
        latency = self.camera.latency_s
        fps = self.camera.fps
        return {
            "ambient": self.ambient,
            "latency": "60-120 ms"
            if latency < 0.12
            else "120-180 ms"
            if latency < 0.18
            else "180-250 ms",
            "glasses": "glasses" if self.glasses is not None else "no glasses",
            "frame_rate": "8-10 fps"
            if fps < 10.0
            else "10-12.5 fps"
            if fps < 12.5
            else "12.5-15 fps",
            "reaction": "slow (1-1.5 s)" if self.behaviour.latency_s[0] > 1.0 else "0.3-1 s",
            "turn": "barely (17-20 deg)" if self.behaviour.turn_deg[0] < 20.0 else "20-35 deg",
            "blink": "partial or slow" if self._hard_blink else "full",
        }


REALISTIC_BEHAVIOUR_RANGES = {
    "latency_s": (0.3, 1.5),
    "turn_deg": (17.0, 35.0),
    "look_up_deg": (12.0, 25.0),
    "blink_s": (0.2, 0.6),
    "blink_depth": (0.75, 1.0),
    "sway_deg": (1.0, 4.0),
    "sway_mm": (2.0, 12.0),
    "shake_px": (0.5, 4.0),
}
"""Per-user ranges (each user draws one value, and moves within a narrow band
around it):

* reaction 0.3–1.5 s: simple reaction time is ~0.25 s, reading a prompt and
  choosing what to do takes 0.5–1.5 s (the issue's range);
* turns from just above the 15° limit (17°: the pose estimate's error on a
  frontal face is ~1–2°) to 35°; looking up from 12° (limit 10°) to 25°;
* a requested blink is voluntary: 200–600 ms (voluntary blinks last
  ≈ 200–400 ms, longer than spontaneous ones at 100–250 ms; slow ones up to
  600 ms), lid closure 75–100 % (a partial blink);
* idle sway 1–4°, drift 2–12 mm, and a hand-held camera's shake 0.5–4 px.
"""


def draw_conditions(seed: int) -> Conditions:
    """The conditions of session ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, 41])
    r = REALISTIC_BEHAVIOUR_RANGES

    def one(name: str) -> float:
        low, high = r[name]
        return float(rng.uniform(low, high))

    def band(name: str, width: float) -> tuple[float, float]:
        # One user's own narrow range around their drawn value.
        v = one(name)
        return (v, v + width)

    ambient = str(rng.choice(list(AMBIENT_LEVELS)))
    screen_fraction = float(rng.uniform(*AMBIENT_LEVELS[ambient]))
    blink_s = band("blink_s", 0.05)
    blink_depth = band("blink_depth", 0.0)
    behaviour = Behaviour(
        latency_s=band("latency_s", 0.15),
        turn_deg=band("turn_deg", 3.0),
        look_up_deg=band("look_up_deg", 3.0),
        blink_s=blink_s,
        blink_depth=(blink_depth[0], min(1.0, blink_depth[0] + 0.05)),
        sway_deg=one("sway_deg"),
        sway_mm=one("sway_mm"),
    )
    glasses = None
    if rng.random() < GLASSES_SHARE:
        glasses = Glasses(
            lens_width=float(rng.uniform(0.75, 0.95)),
            lens_height=float(rng.uniform(0.45, 0.65)),
            drop=float(rng.uniform(0.0, 0.2)),
            rim=float(rng.uniform(0.03, 0.1)),
            colour=tuple(float(v) for v in rng.uniform(10.0, 90.0, size=3)),  # type: ignore[arg-type]
        )
    effects = SensorEffects(
        noise_sigma=float(rng.uniform(2.0, 4.0)),
        exposure_drift=float(rng.uniform(0.02, 0.08)),
        exposure_period_s=float(rng.uniform(4.0, 10.0)),
        blur_sigma_px=float(rng.uniform(0.5, 1.1)),
        jitter_px=one("shake_px"),
    )
    camera = CameraConditions(
        latency_s=float(rng.uniform(*LATENCY_S)),
        fps=float(rng.uniform(*FPS_RANGE)),
        drop_rate=float(rng.uniform(*DROP_RATE)),
        jpeg_quality=JPEG_QUALITY,
        ae_time_constant_s=float(rng.uniform(0.3, 1.5)),
        awb_time_constant_s=float(rng.uniform(0.5, 3.0)),
        awb_strength=float(rng.uniform(0.2, 0.8)),
        effects=effects,
    )
    return Conditions(seed, ambient, screen_fraction, behaviour, glasses, camera)


@dataclass
class CameraChain:
    """An actor filmed through a real webcam and sent by the page: the picture is
    ``latency_s`` old (it shows the scene, the pose and the light of that moment),
    auto-exposure and auto white balance adapt over time, and each frame is
    JPEG-compressed as the page sends it. Stateful in time (call ``frame`` with
    non-decreasing ``t``)."""

    actor: Actor
    camera: CameraConditions
    injected: bool = False
    """Frames that never pass a webcam (a virtual camera): only the page's JPEG."""
    _shown: deque[tuple[float, Action | None, RGB | None]] = field(default_factory=deque)
    _last_t: float | None = None
    _exposure: float | None = None
    _balance: NDArray[np.float64] | None = None
    _target: float | None = None

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        if self.injected:
            return self._jpeg(self.actor.frame(t, action, light))
        self._shown.append((t, action, light))
        scene_t = max(0.0, t - self.camera.latency_s)
        while len(self._shown) > 1 and self._shown[1][0] <= scene_t:
            self._shown.popleft()
        _, seen_action, seen_light = self._shown[0]
        raw = self.actor.frame(scene_t, seen_action, seen_light)
        return self._jpeg(self._adapt(t, raw))

    def _jpeg(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """What the server receives from the page: the frame as its JPEG."""
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.camera.jpeg_quality]
        ok, jpeg = cv2.imencode(".jpg", image, quality)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            return image
        return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)

    def _adapt(self, t: float, raw: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Auto-exposure and auto white balance: gains that move towards what the
        current picture asks for, with first-order lag."""
        small = cv2.resize(raw, (80, 60), interpolation=cv2.INTER_AREA).reshape(-1, 3)
        means = small.mean(axis=0).astype(np.float64) + 1.0
        luminance = float(means.mean())
        if self._exposure is None or self._balance is None or self._last_t is None:
            # The camera has settled on the first picture (the page opened it earlier).
            self._target = luminance
            self._exposure = 1.0
            self._balance = np.ones(3)
        else:
            dt = max(0.0, t - self._last_t)
            assert self._target is not None
            want = self._target / luminance
            k = 1.0 - math.exp(-dt / self.camera.ae_time_constant_s)
            self._exposure += k * (want - self._exposure)
            grey = luminance / means
            wb = 1.0 + self.camera.awb_strength * (grey - 1.0)
            k = 1.0 - math.exp(-dt / self.camera.awb_time_constant_s)
            self._balance = self._balance + k * (wb - self._balance)
        self._last_t = t
        gains = np.clip(self._exposure * self._balance, 0.5, 2.0).astype(np.float32)
        if np.allclose(gains, 1.0, atol=2e-3):
            return raw
        # The float32 product, clipped to 0..255 and truncated, depends only on a
        # pixel's 8-bit value and channel: one 256-entry table per channel gives
        # the same picture ~8x faster than the per-pixel arithmetic.
        levels = np.arange(256, dtype=np.float32)[:, None] * gains
        table = np.clip(levels, 0.0, 255.0).astype(np.uint8)
        return np.asarray(cv2.LUT(raw, table.reshape(256, 1, 3)), dtype=np.uint8)
