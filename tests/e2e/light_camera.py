"""A camera the E2E harness injects into the page, so a simulated person can answer
the light challenge: a recorded video cannot react to colours it does not know.

Before the page loads, ``light_camera.js`` replaces ``getUserMedia`` with a canvas
``captureStream``. At every camera tick (``fps``) the page asks the exposed binding
for a frame, sending what it shows at that moment: the colour of the light overlay's
pixels (the element the page fills the screen with, ``[data-testid=light-overlay]``),
the overlay's opacity (the gentle light fades it in and out) and the asked action
(``body[data-action]``). The screen then emits the overlay's colour over the normal
page in proportion to that opacity (``shown``). Here the simulated genuine head
(``GenuineActor``) renders that instant lit by that light and returns it as a JPEG;
the page queues it and draws it ``delay_frames`` ticks later, as a webcam delivers
each exposure a few frames late. The ticks do not wait for the renders, so the
camera's latency is that delay and not Python's answer time (renders that come
after their tick are counted as late). Everything the camera shows follows from the
sequence of page states it read, and every render is logged (``CameraTick``).

What lights the head is a ``LightSource``: the page's own light (a live person), or
an attacker's: the same colours late (``LateLight``), another session's colours
(``ReplayedLight``), or one steady colour whenever the page shows any
(``SteadyLight``: a recording made under a plain screen).
"""

from __future__ import annotations

import base64
import json
import logging
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.signals.light import (
    NEUTRAL,
    LightLimits,
    normalized_xcorr,
    rgb_chroma,
)
from veronica.liveness.types import RGB, Action, LightStep, SessionScript, mix_srgb
from veronica.simulation.actors import GenuineActor
from veronica.simulation.scripts import server_script

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

logger = logging.getLogger("veronica.e2e.camera")

SCRIPT = Path(__file__).with_name("light_camera.js")
BINDING = "__veronicaCamera"
CAMERA_FPS = 25
"""Above the page's ≤ 18 frames/s, so two captures never show the same camera frame
(a frozen camera to the consistency check), as with the fake camera's videos."""
DELAY_FRAMES = (1, 3)
"""A webcam delivers each exposure 1–3 frames late (driver and capture buffers)."""
JPEG_QUALITY = 92
"""How the frame crosses into the page; high, so the page's own JPEG is the one
that counts, as with a real camera."""
START_S = 1.0
"""Actor time at page time 0 (the simulator's frame seeds need t ≥ 0)."""
LIGHT_CHALLENGE_SEED = 155
"""A server challenge seed for sessions with a light: 6 flashing colours (the most
the planner draws), or for an opt-out 5 tints between greys, then the actions
(``e2e_support.describe_script`` says which; the tests log it). A short light
phase fails on a starved machine: measured on this 2-core machine at load average
10, seed 26 (then 4 colours over 1.2 s, approach and blink) was refused by
``face_track`` (a gap of ≥ 0.17 s between two frames mid-approach grows the face
more than the per-frame ×1.3) and by ``light_challenge`` (9 lit frames, fewer than
the 10 needed, at 8.6 frames/s). Six colours leave ≥ 10 lit frames down to 5
frames/s; the light test checks this seed still draws them."""
ACTIONS = {a.value: a for a in Action}


class LightSource(Protocol):
    """What lights the head at camera time ``t``, given what the screen emits then
    (the overlay's colour over the normal page in proportion to its opacity; None:
    the normal page)."""

    def __call__(self, t: float, page: RGB | None) -> RGB | None: ...


class PageLight:
    """A live person: lit by what the screen shows."""

    def __call__(self, t: float, page: RGB | None) -> RGB | None:
        return page

    def __repr__(self) -> str:
        return "PageLight()"


class LateLight:
    """The page's colours, ``delay_s`` late: an attacker who re-renders the face
    under the colours it has just seen."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._t: list[float] = []
        self._seen: list[RGB | None] = []

    def __call__(self, t: float, page: RGB | None) -> RGB | None:
        self._t.append(t)
        self._seen.append(page)
        i = bisect_right(self._t, t - self.delay_s) - 1
        return self._seen[i] if i >= 0 else None

    def __repr__(self) -> str:
        return f"LateLight({self.delay_s})"


class ReplayedLight:
    """Another session's colours (``steps``, in that session's script time),
    started when this page first shows a colour: a replay of a recording made
    under other lighting, at the best moment an attacker can pick."""

    def __init__(self, steps: Sequence[LightStep]) -> None:
        if not steps:
            raise ValueError("a replay needs colours")
        self.steps = tuple(steps)
        self._offset: float | None = None

    def __call__(self, t: float, page: RGB | None) -> RGB | None:
        if self._offset is None:
            if page is None:
                return None
            self._offset = t - self.steps[0].start_s
        s = t - self._offset
        return next((x.rgb for x in self.steps if x.start_s <= s < x.end_s), None)

    def __repr__(self) -> str:
        return f"ReplayedLight({[x.rgb for x in self.steps]})"


class SteadyLight:
    """One colour whenever the page shows a light, whatever it shows: a recording
    made before a plain screen (no colour sequence to follow), replayed while
    this page's light lasts."""

    def __init__(self, rgb: RGB) -> None:
        self.rgb = rgb

    def __call__(self, t: float, page: RGB | None) -> RGB | None:
        return None if page is None else self.rgb

    def __repr__(self) -> str:
        return f"SteadyLight({self.rgb})"


def replay_correlation(
    server: SessionScript,
    replayed: SessionScript,
    intervals_s: Sequence[float] = (0.06, 0.08, 0.1),
    offsets_s: Sequence[float] = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
) -> float:
    """The highest chroma correlation ``replayed``'s colours reach with ``server``'s
    at lags within the light lag limit, over frame intervals and start offsets of
    the replay (a model of skin tinted only by the replay, as ``LightSignal``
    scores it)."""
    limits = LightLimits()
    first = server.light[0].start_s
    end = server.light[-1].end_s + limits.search_lag_s

    def chroma(script: SessionScript, t: float) -> tuple[float, float]:
        rgb = script.light_at(t)
        return rgb_chroma(rgb) if rgb is not None else NEUTRAL

    worst = -1.0
    for dt in intervals_s:
        times = np.arange(first, end, dt)
        page = np.array([chroma(server, t) for t in times])
        lit = int(sum(1 for c in page if tuple(c) != NEUTRAL))
        overlap = max(limits.min_frames, lit - round(limits.max_lag_s / dt))
        for offset in offsets_s:
            start = replayed.light[0].start_s - first - offset
            skin = np.array([chroma(replayed, t + start) for t in times])
            for lag in range(round(limits.max_lag_s / dt) + 1):
                if len(times) - lag < overlap:
                    break
                worst = max(worst, normalized_xcorr(skin, page, lag))
    return worst


def unrelated_replay(server: SessionScript, candidates: range, below: float = 0.02) -> int:
    """The first challenge seed among ``candidates`` whose colours (light challenge)
    stay below ``below`` against ``server``'s (``replay_correlation``): a replay
    the light checks must refuse whatever its timing."""
    for seed in candidates:
        if replay_correlation(server, server_script(seed, light=True)) < below:
            return seed
    raise ValueError(f"no seed in {candidates} replays colours unrelated to the server's")


@dataclass(frozen=True)
class CameraTick:
    """One render: what the page showed at that tick and how the head was lit."""

    t: float
    """Page time of the tick (s since navigation start)."""
    page: RGB | None
    """The overlay's colour at that moment (None: not shown, or transparent)."""
    opacity: float
    """The overlay's opacity then (below 1 while the gentle light fades; 0 if not shown)."""
    shown: RGB | None
    """What the screen emitted: ``page`` over the normal page by ``opacity``."""
    declared: str | None
    """``body[data-light]`` at that moment (the colour the page means to show)."""
    action: Action | None
    lit_by: RGB | None
    """The light on the head rendered at this tick."""
    late: int
    """Renders so far that reached the page after their due tick (``light_camera.js``)."""
    dropped: int
    """Ticks so far that rendered nothing (too many renders in flight)."""


def parse_rgb(value: Any) -> RGB | None:
    if not isinstance(value, list) or len(value) != 3:
        return None
    r, g, b = (int(v) for v in value)
    return (r, g, b)


def hex_rgb(value: str | None) -> RGB | None:
    if not value or len(value) != 7 or not value.startswith("#"):
        return None
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


class InjectedCamera:
    """The simulated genuine head from ``photo`` as the page's camera (one per
    browser context: the actor is stateful in time)."""

    def __init__(
        self,
        photo: Path,
        seed: int,
        *,
        delay_frames: int = 2,
        fps: int = CAMERA_FPS,
        light: LightSource | None = None,
    ) -> None:
        if delay_frames < 0:
            raise ValueError("delay_frames must be >= 0")
        self.photo = photo
        self.seed = seed
        self.delay_frames = delay_frames
        self.fps = fps
        self.light: LightSource = light or PageLight()
        self.actor = GenuineActor.from_photo(photo, seed)
        self.ticks: list[CameraTick] = []

    def describe(self) -> str:
        return (
            f"injected camera: {self.photo.parent.name}/{self.photo.name} seed {self.seed}, "
            f"{self.fps} fps, delay {self.delay_frames} frames, light {self.light!r}"
        )

    def install(self, context: BrowserContext) -> None:
        """Before any page of ``context`` loads: the binding, then the camera."""
        config = {
            "binding": BINDING,
            "fps": self.fps,
            "delay": self.delay_frames,
            "width": 640,
            "height": 480,
        }
        source = SCRIPT.read_text(encoding="utf-8")
        marker = "/*CONFIG*/ "
        start = source.index(marker)
        end = source.index("};", start) + 1
        script = source[:start] + json.dumps(config) + source[end:]
        context.expose_binding(BINDING, self._frame)
        context.add_init_script(script=script)

    def _render(self, t: float, action: Action | None, light: RGB | None) -> str:
        bgr: NDArray[np.uint8] = self.actor.frame(START_S + t, action, light)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return base64.b64encode(jpeg.tobytes()).decode("ascii")

    def emitted(self, page: RGB | None, opacity: float) -> RGB | None:
        """What the screen emits: the overlay (``page``, at ``opacity``) over the
        normal page, mixed in linear light as light adds up (None: the normal page
        alone, as the actor takes it)."""
        if page is None or opacity <= 0.0:
            return None
        if opacity >= 1.0:
            return page
        return mix_srgb(self.actor.lighting.normal_page_rgb, page, opacity)

    def _frame(self, source: Any, state: dict[str, Any]) -> str:
        """The binding: the head at this tick, lit as ``light`` says."""
        t = float(state["t"])
        page = parse_rgb(state.get("light"))
        opacity = float(state.get("opacity") or 0.0) if page is not None else 0.0
        shown = self.emitted(page, opacity)
        action = ACTIONS.get(str(state.get("action")))
        lit_by = self.light(START_S + t, shown)
        stats = state.get("stats") or {}
        self.ticks.append(
            CameraTick(
                t,
                page,
                opacity,
                shown,
                state.get("declared"),
                action,
                lit_by,
                int(stats.get("late", 0)),
                int(stats.get("dropped", 0)),
            )
        )
        return self._render(t, action, lit_by)

    def light_changes(self) -> list[tuple[float, RGB | None]]:
        """When the overlay's colour changed, as the camera saw it (page time)."""
        changes: list[tuple[float, RGB | None]] = []
        for tick in self.ticks:
            if not changes or tick.page != changes[-1][1]:
                changes.append((tick.t, tick.page))
        return changes[1:] if changes and changes[0][1] is None else changes

    def summary(self) -> str:
        if len(self.ticks) < 2:
            return f"{self.describe()}; {len(self.ticks)} ticks"
        times = np.array([tick.t for tick in self.ticks])
        intervals = np.diff(times) * 1000
        lit = sum(tick.page is not None for tick in self.ticks)
        # Mid-fade the gentle overlay still shows its last tint after the light.
        mismatched = sum(
            tick.page != hex_rgb(tick.declared)
            for tick in self.ticks
            if not 0.0 < tick.opacity < 1.0
        )
        last = self.ticks[-1]
        return (
            f"{self.describe()}; {len(self.ticks)} renders, interval median "
            f"{float(np.median(intervals)):.0f} ms, max {float(intervals.max()):.0f} ms, "
            f"{last.late} late, {last.dropped} ticks dropped; {lit} renders saw a colour "
            f"({self.fading()} of them mid-fade), {mismatched} where the overlay's pixels "
            "and body[data-light] disagreed"
        )

    def fading(self) -> int:
        """Renders that saw the overlay part-way through a fade (0 < opacity < 1)."""
        return sum(0.0 < tick.opacity < 1.0 for tick in self.ticks)


def draw_delay(rng: random.Random) -> int:
    """A camera delay for one run, uniformly among ``DELAY_FRAMES``."""
    return rng.randint(*DELAY_FRAMES)
