"""How a person follows the page: reaction latency, smooth moves, return to rest.

The actor only sees what the page shows at each frame (as a real user does);
each change of the shown action starts an *episode* with its own random
latency, amplitude and hold time, and the pose is the sum of all episodes'
eased envelopes plus a small idle sway. The page withdraws a prompt once the
server has seen the response; a person who still sees it after doing what
they meant to do tries harder: turns further, or blinks again.
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
    notice_s: tuple[float, float] = (0.3, 0.6)
    """How long after reaching their pose (or finishing a blink) a person takes to
    notice that the prompt is still there: a glance at the page and a simple
    reaction (~0.25 s)."""
    push: tuple[float, float] = (1.2, 1.5)
    """How much further a person goes on each further try (a turn, look-up or
    approach 20–50 % larger than the last), up to ``furthest``."""
    tries: int = 3
    """Tries in all while a prompt stays (the first and two further ones)."""
    furthest: tuple[float, float, float] = (35.0, 25.0, 250.0)
    """The furthest turn (°), look-up (°) and approach (mm from the camera) a
    further try goes to: beyond them a person at a laptop no longer sees the
    screen that asks, and the face would leave the picture."""
    retries: int = 2
    """Further blinks while the blink prompt stays."""


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
    notice: float = 0.4
    """Delay before a prompt that stays is noticed (``Behaviour.notice_s``)."""
    push: float = 1.0
    """Factor of each further try (``Behaviour.push``)."""
    cap: float = 1.0
    """The largest overall factor (``Behaviour.furthest`` over the first try)."""
    pushes: list[float] = field(default_factory=list)
    """When each further try began."""
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
    _tries: int = 0
    """Episodes started for the prompt shown now."""
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
            if action is not None:
                self._try_again(t, action)
            return
        if self._episodes and self._episodes[-1].end is None:
            self._episodes[-1].end = t
        self._shown = action
        self._tries = 0
        if action is not None:
            self._start(t, action, retry=False)

    def _start(self, t: float, action: Action, retry: bool) -> None:
        self._tries += 1
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
        depth = float(rng.uniform(*b.blink_depth))
        notice = float(rng.uniform(*b.notice_s))
        push = float(rng.uniform(*b.push))
        size = float(rng.uniform(*amplitude))
        turn_max, look_up_max, nearest = b.furthest
        cap = 1.0
        if action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            cap = max(1.0, turn_max / size)
        elif action is Action.LOOK_UP:
            cap = max(1.0, look_up_max / size)
        elif action is Action.APPROACH:
            # The level scales the way from rest to the target distance.
            cap = max(1.0, (self._rest - nearest) / max(1.0, self._rest - size))
        if retry:
            # Already attending to the page: the second blink follows at once,
            # and is more deliberate (at least as deep as the first).
            latency, depth = 0.0, float(rng.uniform(depth, 1.0))
        self._episodes.append(
            _Episode(
                action=action,
                start=t + latency,
                move=float(rng.uniform(*b.move_s)),
                hold=float(rng.uniform(*b.hold_s)),
                amplitude=size,
                depth=depth,
                notice=notice,
                push=push,
                cap=cap,
            )
        )

    def _try_again(self, t: float, action: Action) -> None:
        """The prompt is still shown: after the first try (and a moment to notice),
        go further, or blink again."""
        ep = self._episodes[-1]
        if action is Action.BLINK:
            again = self._tries <= self.behaviour.retries
            if again and t >= ep.start + ep.amplitude + ep.notice:
                self._start(t, action, retry=True)
            return
        last = ep.pushes[-1] if ep.pushes else ep.start
        more = len(ep.pushes) + 1 < self.behaviour.tries
        if more and t >= last + ep.move + ep.notice:
            ep.pushes.append(t)

    @staticmethod
    def _envelope(ep: _Episode, t: float) -> float:
        """0 → 1 (ease) → hold → 1 → 0 (ease); the return starts after the hold or
        when the page stops asking, whichever is first. Each further try eases
        on by ``push`` (up to ``cap`` in all) and holds again."""
        if t < ep.start:
            return 0.0

        def level(x: float) -> float:
            factor = 1.0
            for at in ep.pushes:
                factor *= 1.0 + (ep.push - 1.0) * smoothstep((x - at) / ep.move)
            return smoothstep((x - ep.start) / ep.move) * min(factor, ep.cap)

        release = ep.start + ep.move + ep.hold
        if ep.pushes:
            release = max(release, ep.pushes[-1] + ep.move + ep.hold)
        if ep.end is not None:
            release = min(release, max(ep.end, ep.start + ep.move))
        if t < release:
            return level(t)
        return level(release) * (1.0 - smoothstep((t - release) / ep.move))

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
