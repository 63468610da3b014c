"""How a person follows the page: reaction latency, smooth moves, return to rest.

The actor only sees what the page shows at each frame (as a real user does);
each change of the shown action starts an *episode* with its own random
latency, amplitude and hold time, and the pose is the sum of all episodes'
eased envelopes plus a small idle sway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from veronica.liveness.types import Action


@dataclass(frozen=True)
class Behaviour:
    """Ranges the random draws come from (seconds, degrees, millimetres)."""

    latency_s: tuple[float, float] = (0.3, 0.7)
    move_s: tuple[float, float] = (0.4, 0.7)
    """Ease-in/out time of a turn, look-up or approach."""
    hold_s: tuple[float, float] = (0.8, 1.3)
    """How long the pose is held before returning (sooner if the step ends)."""
    turn_deg: tuple[float, float] = (25.0, 35.0)
    look_up_deg: tuple[float, float] = (15.0, 25.0)
    rest_distance_mm: tuple[float, float] = (470.0, 530.0)
    approach_distance_mm: tuple[float, float] = (280.0, 320.0)
    blink_s: tuple[float, float] = (0.2, 0.4)
    """A blink done on request is voluntary, and voluntary blinks last longer
    (≈ 200–400 ms) than spontaneous ones (≈ 100–250 ms)."""
    blink_depth: tuple[float, float] = (1.0, 1.0)
    """Lid closure at the deepest point of a blink (1: shut; less: a partial blink)."""
    sway_deg: float = 2.0
    sway_mm: float = 3.0


@dataclass(frozen=True)
class Pose:
    """Head pose in ``pipeline.pose``'s convention, plus position (mm) of the face
    centre in the camera frame and eyelid closure (0 open … 1 shut)."""

    yaw: float
    pitch: float
    roll: float
    x_mm: float
    y_mm: float
    distance_mm: float
    eyes_closed: float


@dataclass
class _Episode:
    action: Action
    start: float
    """When the movement starts (shown + latency)."""
    move: float
    hold: float
    amplitude: float
    depth: float = 1.0
    """Blinks: lid closure at the deepest point."""
    end: float | None = None
    """When the page stopped showing the action (None while it still does)."""


def smoothstep(x: float) -> float:
    """Ease in/out on [0, 1]."""
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


@dataclass
class Performer:
    """Turns the sequence of shown actions into a pose per time. Stateful: call
    ``pose`` with non-decreasing ``t``. Deterministic from ``seed``."""

    seed: int
    behaviour: Behaviour = Behaviour()
    _episodes: list[_Episode] = field(default_factory=list)
    _shown: Action | None = None
    _rest: float = 0.0
    _sway: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, 7])
        self._rest = float(rng.uniform(*self.behaviour.rest_distance_mm))
        self._sway = tuple(float(v) for v in rng.uniform(0.0, 2.0 * math.pi, size=10))

    def pose(self, t: float, action: Action | None) -> Pose:
        self._observe(t, action)
        yaw = pitch = closed = 0.0
        distance = self._rest
        for ep in self._episodes:
            level = self._envelope(ep, t)
            if ep.action is Action.TURN_LEFT:
                yaw += ep.amplitude * level  # the person's left = image right = yaw > 0
            elif ep.action is Action.TURN_RIGHT:
                yaw -= ep.amplitude * level
            elif ep.action is Action.LOOK_UP:
                pitch += ep.amplitude * level
            elif ep.action is Action.APPROACH:
                distance += (ep.amplitude - self._rest) * level
            elif ep.action is Action.BLINK:
                closed = max(closed, self._blink(ep, t))
        sway = self._idle(t)
        return Pose(
            yaw=yaw + sway[0],
            pitch=pitch + sway[1],
            roll=sway[2],
            x_mm=sway[3],
            y_mm=sway[4],
            distance_mm=distance,
            eyes_closed=closed,
        )

    def _observe(self, t: float, action: Action | None) -> None:
        if action == self._shown:
            return
        if self._episodes and self._episodes[-1].end is None:
            self._episodes[-1].end = t
        self._shown = action
        if action is None:
            return
        b = self.behaviour
        rng = np.random.default_rng([self.seed, 11, len(self._episodes)])
        latency = float(rng.uniform(*b.latency_s))
        amplitude = {
            Action.TURN_LEFT: b.turn_deg,
            Action.TURN_RIGHT: b.turn_deg,
            Action.LOOK_UP: b.look_up_deg,
            Action.APPROACH: b.approach_distance_mm,
            Action.BLINK: b.blink_s,
        }[action]
        self._episodes.append(
            _Episode(
                action=action,
                start=t + latency,
                move=float(rng.uniform(*b.move_s)),
                hold=float(rng.uniform(*b.hold_s)),
                amplitude=float(rng.uniform(*amplitude)),
                depth=float(rng.uniform(*b.blink_depth)),
            )
        )

    @staticmethod
    def _envelope(ep: _Episode, t: float) -> float:
        """0 → 1 (ease) → hold → 1 → 0 (ease); the return starts after the hold or
        when the page stops asking, whichever is first."""
        if t < ep.start:
            return 0.0
        release = ep.start + ep.move + ep.hold
        if ep.end is not None:
            release = min(release, max(ep.end, ep.start + ep.move))
        if t < release:
            return smoothstep((t - ep.start) / ep.move)
        peak = smoothstep((release - ep.start) / ep.move)
        return peak * (1.0 - smoothstep((t - release) / ep.move))

    @staticmethod
    def _blink(ep: _Episode, t: float) -> float:
        """Lid closure of one blink lasting ``amplitude`` seconds (fast close, hold, open)."""
        x = (t - ep.start) / ep.amplitude
        if x < 0.0 or x > 1.0:
            return 0.0
        return ep.depth * min(1.0, 5.0 * min(x, 1.0 - x))  # 20 % closing, 60 % shut, 20 % opening

    def _idle(self, t: float) -> tuple[float, float, float, float, float]:
        """Small sway (± ``sway_deg``) and drift (± ``sway_mm``): two sines per axis."""
        p = self._sway
        b = self.behaviour

        def wave(i: int, f: float) -> float:
            return 0.6 * math.sin(2 * math.pi * f * t + p[i]) + 0.4 * math.sin(
                2 * math.pi * 2.3 * f * t + p[i + 5]
            )

        return (
            b.sway_deg * wave(0, 0.21),
            b.sway_deg * 0.7 * wave(1, 0.17),
            b.sway_deg * 0.5 * wave(2, 0.13),
            b.sway_mm * wave(3, 0.11),
            b.sway_mm * wave(4, 0.09),
        )
