"""Shared vocabulary of the liveness session, its signals and the simulator.

A session is a stream of timestamped frames. The server plans a random
challenge script (actions and light colours); the client learns each step only
when it is due. Signals consume frames one at a time (streaming: no frame is
kept longer than a signal needs) and report checks with their value and limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.runner import FrameAnalysis


class CheckFamily(StrEnum):
    """What a check vouches for; the result token lists the families whose
    deciding checks all ran and passed. Values are stable token strings."""

    CHALLENGE = "challenge"
    """The random actions (or, for a recorded video, its blinks)."""
    LIGHT = "light"
    PAD = "pad"
    CONSISTENCY = "consistency"
    """One continuous, non-frozen, plausibly timed stream with one face."""
    IDENTITY = "identity"
    """Every embedded frame shows the session's one person."""
    CLOCK = "clock"
    """The client's capture times agree with the server's arrival times."""
    GEOMETRY = "geometry"
    """3D cues (planarity, perspective zoom): advisory until calibrated."""
    MATCH = "match"
    """Recognition: the face matches the claimed or identified user."""


class Mode(StrEnum):
    CHALLENGE = "challenge"
    """Live sign-in: positioning, random actions, light."""
    PASSIVE = "passive"
    """A recorded video with no challenge: blink, consistency, PAD, geometry if any."""


class Action(StrEnum):
    """What the person is asked to do. Values are stable API strings."""

    TURN_LEFT = "turn_left"
    """Turn the head to the person's own left (the face moves towards the image's right
    in an unmirrored camera picture; yaw > 0 in ``pipeline.pose``)."""
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    APPROACH = "approach"
    """Move the face closer to the camera (iris depth decreases)."""
    BLINK = "blink"


RGB = tuple[int, int, int]


def srgb_to_linear(c: int) -> float:
    """An 8-bit sRGB value as linear light, 0–1 (IEC 61966-2-1)."""
    v = c / 255.0
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def linear_to_srgb(v: float) -> int:
    """Linear light (0–1, clipped) as an 8-bit sRGB value."""
    v = min(1.0, max(0.0, v))
    s = 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
    return round(255.0 * s)


def mix_srgb(a: RGB, b: RGB, w: float) -> RGB:
    """``a`` moved ``w`` (0–1) of the way to ``b``, mixed in linear light: a glide
    between two colours of one luminance keeps that luminance (a mix of the sRGB
    values would darken half way, e.g. green to magenta)."""
    r, g, bl = (
        linear_to_srgb(srgb_to_linear(x) + (srgb_to_linear(y) - srgb_to_linear(x)) * w)
        for x, y in zip(a, b, strict=True)
    )
    return (r, g, bl)


@dataclass(frozen=True)
class ChallengeStep:
    """One action, due from ``start_s`` (session time) for ``window_s`` seconds."""

    action: Action
    start_s: float
    window_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.window_s


@dataclass(frozen=True)
class LightStep:
    """The page shows ``rgb`` around the oval for ``duration_s`` seconds from ``start_s``."""

    rgb: RGB
    start_s: float
    duration_s: float
    fade_s: float = 0.0
    """The first ``fade_s`` seconds glide from the previous step's colour to
    ``rgb`` (the gentle light: no abrupt change); 0 for a cut."""

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class SessionScript:
    """Everything the server decided for one session, in session time (seconds
    since positioning ended). Only the server holds it whole."""

    challenges: tuple[ChallengeStep, ...]
    light: tuple[LightStep, ...]
    """Empty when the light challenge is off (e.g. photosensitive users)."""

    def action_at(self, t: float) -> Action | None:
        for step in self.challenges:
            if step.start_s <= t < step.end_s:
                return step.action
        return None

    def light_at(self, t: float) -> RGB | None:
        for i, step in enumerate(self.light):
            if not step.start_s <= t < step.end_s:
                continue
            into = t - step.start_s
            if i == 0 or step.fade_s <= 0.0 or into >= step.fade_s:
                return step.rgb
            return mix_srgb(self.light[i - 1].rgb, step.rgb, into / step.fade_s)
        return None

    @property
    def gentle(self) -> bool:
        """Whether the light glides between colours (the opt-out's gentle light)."""
        return any(step.fade_s > 0.0 for step in self.light)


@dataclass(frozen=True, eq=False)
class FrameInput:
    """One frame as the liveness signals see it."""

    t: float
    """Time of the frame in seconds on the server's clock (its arrival: a client
    cannot move it). Recorded videos use their own frame times."""
    bgr: NDArray[np.uint8]
    """The frame itself; signals must not keep it beyond what they need."""
    analysis: FrameAnalysis
    """The engine's per-frame result (tracking-mode Face Mesh)."""
    session_t: float | None = None
    """Time since the challenge phase began (None while positioning)."""
    action: Action | None = None
    """The challenge action due at this frame, if any."""
    light: RGB | None = None
    """The colour the page is showing at this frame, if any."""
    wait_s: float | None = None
    """Server time from the answer to the previous frame to this frame's arrival:
    the client's own part of the frame interval (a stop-and-wait client sends
    the next frame after the answer). None when unknown (recorded videos)."""


MARGIN_SCALE_FLOOR = 1e-3
"""Smallest scale for a margin (limits of 0), and the smallest failing margin."""


@dataclass(frozen=True)
class Check:
    """One liveness check: what was measured, the limit, and whether it passed."""

    name: str
    value: float
    limit: float
    passed: bool
    detail: str = ""
    family: CheckFamily | None = None
    """Set by the session from the signal registry (``signals/registry.py``)."""
    deciding: bool = True
    """False for advisory checks: reported, never deciding."""

    @property
    def margin(self) -> float:
        """Signed distance from the limit in units of the limit, clipped to ±1:
        > 0 passed with room, < 0 failed by that much. The sign comes from
        ``passed``, so it needs no per-check direction; a failed check is never
        exactly 0, so ``margin >= 0`` is the same as ``passed``."""
        scale = max(abs(self.limit), MARGIN_SCALE_FLOOR)
        distance = min(1.0, abs(self.value - self.limit) / scale)
        if self.passed:
            return distance
        return -max(distance, MARGIN_SCALE_FLOOR)


class Signal(Protocol):
    """A streaming liveness signal."""

    name: str

    def update(self, frame: FrameInput) -> None: ...

    def checks(self) -> tuple[Check, ...]:
        """The signal's verdicts over all frames so far (may be called at any time)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """What the signal has accumulated, as JSON-able data (``liveness/state.py``)."""
        ...

    def restore(self, data: Mapping[str, Any]) -> None:
        """Take back a ``snapshot`` into a freshly built signal."""
        ...
