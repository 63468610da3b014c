"""A camera the E2E harness injects into the page, so a simulated person can answer
the light challenge: a recorded video cannot react to colours it does not know.

Before the page loads, ``light_camera.js`` replaces ``getUserMedia`` with a canvas
``captureStream``. At every camera tick (``fps``) the page asks the exposed binding
for a frame, sending what it shows at that moment: the colour of the light overlay's
pixels (the element the page fills the screen with, ``[data-testid=light-overlay]``)
and the asked action (``body[data-action]``). Here the simulated genuine head
(``GenuineActor``) renders that instant lit by that colour and returns it as a JPEG;
the page queues it and draws it ``delay_frames`` ticks later, as a webcam delivers
each exposure a few frames late. The ticks do not wait for the renders, so the
camera's latency is that delay and not Python's answer time (renders that come
after their tick are counted as late). Everything the camera shows follows from the
sequence of page states it read, and every render is logged (``CameraTick``).

What lights the head is a ``LightSource``: the page's own colour (a live person), or
an attacker's: the same colours late (``LateLight``), or another session's colours
(``ReplayedLight``).
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

from veronica.liveness.types import RGB, Action, LightStep
from veronica.simulation.actors import GenuineActor

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
"""A server challenge seed for sessions with the colours: 6 colours over 2.2 s (blue,
cyan, magenta, yellow, green, red), then turn right and turn left (9.1 s), as the
video-based genuine test. Not the harness's seed 26 (4 colours over 1.2 s, then
approach and blink): measured on this 2-core machine at load average 10, its
genuine sessions were refused by ``face_track`` (a gap of ≥ 0.17 s between two
frames mid-approach grows the face more than the per-frame ×1.3) and by
``light_challenge`` (9 lit frames, fewer than the 10 needed, at 8.6 frames/s). Six
colours leave ≥ 10 lit frames down to 5 frames/s."""
ACTIONS = {a.value: a for a in Action}


class LightSource(Protocol):
    """What lights the head at camera time ``t``, given what the page shows then."""

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


@dataclass(frozen=True)
class CameraTick:
    """One render: what the page showed at that tick and how the head was lit."""

    t: float
    """Page time of the tick (s since navigation start)."""
    page: RGB | None
    """The overlay's colour at that moment."""
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

    def _frame(self, source: Any, state: dict[str, Any]) -> str:
        """The binding: the head at this tick, lit as ``light`` says."""
        t = float(state["t"])
        page = parse_rgb(state.get("light"))
        action = ACTIONS.get(str(state.get("action")))
        lit_by = self.light(START_S + t, page)
        stats = state.get("stats") or {}
        self.ticks.append(
            CameraTick(
                t,
                page,
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
        mismatched = sum(tick.page != hex_rgb(tick.declared) for tick in self.ticks)
        last = self.ticks[-1]
        return (
            f"{self.describe()}; {len(self.ticks)} renders, interval median "
            f"{float(np.median(intervals)):.0f} ms, max {float(intervals.max()):.0f} ms, "
            f"{last.late} late, {last.dropped} ticks dropped; {lit} renders saw a colour, "
            f"{mismatched} where the overlay's pixels and body[data-light] disagreed"
        )


def draw_delay(rng: random.Random) -> int:
    """A camera delay for one run, uniformly among ``DELAY_FRAMES``."""
    return rng.randint(*DELAY_FRAMES)
