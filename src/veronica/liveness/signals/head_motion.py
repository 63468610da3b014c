"""Challenge responses from the head pose and the iris depth.

For a step ``[t0, t1]`` the baseline is the median of the frames just before
``t0``; the response is the change from it inside the window. Pose signs follow
``pipeline.pose``: yaw > 0 when the face turns towards the image's right, which
is the person's own left in an unmirrored picture (``Action.TURN_LEFT``); pitch
> 0 looking up. Keeps a few scalars per frame for ``history_s`` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from veronica.liveness.signals._common import SessionClock, kth_largest
from veronica.liveness.state import Snapshot, optional_float
from veronica.liveness.types import Action, Check, FrameInput
from veronica.pipeline.runner import FrameAnalysis


@dataclass(frozen=True)
class HeadMotionLimits:
    min_turn_deg: float = 20.0
    """Yaw change a turn must reach. A comfortable turn is 20–30°; pose noise
    is 0.1–0.4°; the mesh reads a rendered 25° turn as 22° (median, 40 faces,
    docs/results/render_response.json). A bent print turned to fake it read
    15–17.5° in the simulated calibration runs (docs/results/pad_calibration.md),
    a flat card less. The prompt stays until the turn is seen, so a person
    who turned less goes further; 15° let bent prints through."""
    min_look_up_deg: float = 13.0
    """Pitch change for ``look_up``: people raise the head less than they turn it
    (the talking-head video moves ±10° unprompted); a rendered 20° look-up reads
    22° (median). A print bent round a vertical axis stays flat the other way:
    tilted back it read 6.8–10.4° (simulated calibration runs); 10° let one
    through."""
    max_wrong_deg: float = 8.0
    """A move at least this far the wrong way (e.g. right for ``turn_left``, down
    for ``look_up``) fails the step: a replay playing some other motion does."""
    min_approach: float = 0.2
    """Relative decrease of the iris distance for ``approach`` (e.g. 45 → 36 cm).
    Per-frame iris-depth noise is ≈ 3 % (talking-head video: sd 9 mm at 30 cm);
    the median filters below bring it to ~1 %."""
    max_retreat: float = 0.15
    """A move away by this fraction during ``approach`` fails the step."""
    baseline_s: float = 0.5
    """Frames before ``t0`` whose median is the baseline pose and distance."""
    min_frames_reached: int = 2
    """Frames that must reach the change (one noisy frame is not a response)."""
    history_s: float = 60.0
    """How long per-frame scalars are kept: longer than any session."""


@dataclass(frozen=True)
class ChallengeResponse:
    done: bool
    value: float
    """Change reached in the right direction (degrees, or relative distance decrease)."""
    limit: float
    detail: str = ""


@dataclass(frozen=True)
class _Sample:
    t: float
    yaw: float
    pitch: float
    distance_mm: float | None


class HeadMotionSignal:
    """Records pose and distance per frame; ``response`` judges one challenge step."""

    name = "head_motion"

    def __init__(self, limits: HeadMotionLimits | None = None) -> None:
        self.limits = limits or HeadMotionLimits()
        self._samples: deque[_Sample] = deque()
        self._clock = SessionClock()
        self._responses: list[tuple[Action, ChallengeResponse]] = []

    def update(self, frame: FrameInput) -> None:
        self._clock.observe(frame)
        analysis = frame.analysis
        if analysis.quality is None:
            return
        pose = analysis.quality.pose
        depth = analysis.depth.distance_mm if analysis.depth is not None else None
        self._samples.append(_Sample(frame.t, pose.yaw, pose.pitch, depth))
        while self._samples and self._samples[0].t < frame.t - self.limits.history_s:
            self._samples.popleft()

    def response(self, action: Action, t0: float, t1: float) -> ChallengeResponse:
        """Judge ``action`` due from ``t0`` to ``t1`` (session time, as ``ChallengeStep``).

        The result is also kept for ``checks()``.
        """
        result = self.evaluate(action, t0, t1)
        self._responses.append((action, result))
        return result

    def evaluate(self, action: Action, t0: float, t1: float) -> ChallengeResponse:
        """``response`` without keeping the result: also asked while the step is
        still due, on the frames so far."""
        c0, c1 = self._clock.to_capture(t0), self._clock.to_capture(t1)
        if action is Action.APPROACH:
            return self._approach(c0, c1)
        if action in (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP):
            return self._rotation(action, c0, c1)
        raise ValueError(f"{action} is not a head motion (blinks: BlinkSignal)")

    def progress(self, action: Action, c0: float, analysis: FrameAnalysis) -> float:
        """How far ``analysis`` (a frame not yet fed) has moved towards ``action``
        from the baseline before capture time ``c0``, as a fraction of the step's
        limit (0 when there is no baseline or no pose). Used to embed the frames
        that carry a response."""
        if analysis.quality is None:
            return 0.0
        lim = self.limits
        before, _ = self._window(c0, float("inf"))
        pose = analysis.quality.pose
        if action is Action.APPROACH:
            base_d = [s.distance_mm for s in before if s.distance_mm is not None]
            if not base_d or analysis.depth is None:
                return 0.0
            change = 1.0 - analysis.depth.distance_mm / float(np.median(base_d))
            return change / lim.min_approach
        if not before:
            return 0.0
        if action is Action.LOOK_UP:
            return (pose.pitch - float(np.median([s.pitch for s in before]))) / lim.min_look_up_deg
        if action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            sign = 1.0 if action is Action.TURN_LEFT else -1.0
            base = float(np.median([s.yaw for s in before]))
            return sign * (pose.yaw - base) / lim.min_turn_deg
        return 0.0

    def _window(self, c0: float, c1: float) -> tuple[list[_Sample], list[_Sample]]:
        before = [s for s in self._samples if c0 - self.limits.baseline_s <= s.t < c0]
        inside = [s for s in self._samples if c0 <= s.t <= c1]
        if not before and inside:
            # No frame before the step (e.g. it starts the session): its first frame.
            before = inside[:1]
        return before, inside

    def _rotation(self, action: Action, c0: float, c1: float) -> ChallengeResponse:
        lim = self.limits
        before, inside = self._window(c0, c1)
        limit = lim.min_look_up_deg if action is Action.LOOK_UP else lim.min_turn_deg
        if not before or not inside:
            return ChallengeResponse(False, 0.0, limit, "no face frames in the window")
        if action is Action.LOOK_UP:
            base = float(np.median([s.pitch for s in before]))
            changes = [s.pitch - base for s in inside]
        else:
            sign = 1.0 if action is Action.TURN_LEFT else -1.0
            base = float(np.median([s.yaw for s in before]))
            changes = [sign * (s.yaw - base) for s in inside]
        return self._judge(changes, limit, lim.max_wrong_deg, "°")

    def _approach(self, c0: float, c1: float) -> ChallengeResponse:
        lim = self.limits
        before, inside = self._window(c0, c1)
        before_d = [s.distance_mm for s in before if s.distance_mm is not None]
        inside_d = [s.distance_mm for s in inside if s.distance_mm is not None]
        if not before_d or not inside_d:
            return ChallengeResponse(False, 0.0, lim.min_approach, "no iris depth in the window")
        base = float(np.median(before_d))
        # A 3-frame running median: iris depth jitters ±3 % frame to frame.
        smooth = [float(np.median(inside_d[max(0, i - 1) : i + 2])) for i in range(len(inside_d))]
        changes = [1.0 - d / base for d in smooth]
        return self._judge(changes, lim.min_approach, lim.max_retreat, "")

    def _judge(
        self, changes: list[float], limit: float, wrong_limit: float, unit: str
    ) -> ChallengeResponse:
        k = self.limits.min_frames_reached
        reached = kth_largest(changes, k)
        wrong = kth_largest([-c for c in changes], k)
        if wrong >= wrong_limit:
            detail = f"moved the wrong way by {wrong:.2f}{unit}"
            return ChallengeResponse(False, reached, limit, detail)
        return ChallengeResponse(reached >= limit, reached, limit, f"{len(changes)} frames")

    def snapshot(self) -> Snapshot:
        samples = [[s.t, s.yaw, s.pitch, s.distance_mm] for s in self._samples]
        return {"samples": samples, "offset": self._clock.offset}

    def restore(self, data: Mapping[str, Any]) -> None:
        self._samples = deque(
            _Sample(float(t), float(yaw), float(pitch), optional_float(d))
            for t, yaw, pitch, d in data["samples"]
        )
        self._clock.offset = float(data["offset"])

    def checks(self) -> tuple[Check, ...]:
        """One check per judged step, in the order ``response`` was called."""
        return tuple(
            Check(f"challenge_{action.value}_{i}", r.value, r.limit, r.done, r.detail)
            for i, (action, r) in enumerate(self._responses)
        )
