"""Blinks from the eye aspect ratio (EAR) over time.

A blink is a short dip of the EAR below the running open-eye baseline: deep
(≥ ``min_dip`` of the baseline) and short (the eye is back open within
``max_closed_s``). Each eye has its own baseline and a frame's dip is the
deeper eye's: a spectacle rim or a glare can hide one lid from the tracker, and
both eyes shut together, so the deeper one is the better witness. The baseline
is a high percentile of the recent open-eye frames, so it follows slow changes
(looking up or sideways narrows the eye) but not the blink itself. A closure
longer than a blink restarts the baseline, so a baseline lifted by a turned
head (a foreshortened eye reads wider) cannot hold the eyes "closed" for the
rest of the session. Keeps ~1 s of EAR scalars and the blink events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from veronica.liveness.signals._common import SessionClock
from veronica.liveness.state import Snapshot, optional_float
from veronica.liveness.types import Check, FrameInput


@dataclass(frozen=True)
class BlinkLimits:
    min_dip: float = 0.4
    """Relative EAR dip (1 − EAR / baseline, the deeper eye) that counts as
    closed. Measured: real blinks dip 0.55–0.79 (talking-head video), a moved
    photo ≤ 0.20 and tracker noise ≈ 0.05, so 0.4 leaves margin on both sides.
    0.3 would pass more of the simulator's weak blinks, but it reads the real
    video's head moving after its two blinks as one 0.7 s closure; the blink is
    asked for only without any light (docs/results/pad_calibration.md)."""
    max_closed_s: float = 0.7
    """Longest closure that is still a blink. Spontaneous blinks last 100–400 ms,
    a blink someone was asked for is slower (up to ~600 ms, of which the lid is
    below the dip threshold for most); longer is eyes held shut or a lost
    track. A photo cannot close its eyes at all, so the length is no defence."""
    baseline_window_s: float = 1.0
    """Open-eye frames the baseline is taken from: long enough to hold many
    frames, short enough to follow a change of pose."""
    baseline_percentile: float = 75.0
    """High percentile of the open-eye EARs: robust to a few half-closed frames."""
    min_baseline_frames: int = 5
    """Frames needed before a baseline exists (no blink is seen before it)."""
    min_blinks: int = 1
    """Passive mode: blinks needed in a session. People blink every 2–10 s; a
    session of a few seconds usually holds one (the video: 3 in 4 s)."""


@dataclass(frozen=True)
class BlinkEvent:
    start_t: float
    """Time of the first frame below the dip threshold (``FrameInput.t``)."""
    end_t: float
    """Time of the first frame open again."""
    depth: float
    """Deepest relative dip during the blink."""


class BlinkSignal:
    """Counts blinks; ``blinked_between`` answers a blink challenge."""

    name = "blink"

    def __init__(self, limits: BlinkLimits | None = None) -> None:
        self.limits = limits or BlinkLimits()
        self._open: deque[tuple[float, float, float]] = deque()
        self._baseline: tuple[float, float] | None = None
        self._closed_since: float | None = None
        self._closed_depth = 0.0
        self._events: list[BlinkEvent] = []
        self._deepest = 0.0
        self._dips: list[tuple[float, float]] = []
        self._clock = SessionClock()

    @property
    def events(self) -> tuple[BlinkEvent, ...]:
        return tuple(self._events)

    @property
    def blink_count(self) -> int:
        return len(self._events)

    @property
    def deepest_dip(self) -> float:
        """Deepest relative EAR dip seen (in or outside a counted blink)."""
        return self._deepest

    def update(self, frame: FrameInput) -> None:
        self._clock.observe(frame)
        quality = frame.analysis.quality
        if quality is None:
            # No face: a closure cannot be followed across the gap.
            self._closed_since = None
            return
        self._observe(frame.t, quality.eye_aspect_ratios)

    def _observe(self, t: float, ears: tuple[float, float]) -> None:
        baseline = self._baseline
        dip = self.dip(ears)
        self._deepest = max(self._deepest, dip)
        self._dips.append((t, dip))
        if baseline is not None and dip >= self.limits.min_dip:
            if self._closed_since is None:
                self._closed_since = t
                self._closed_depth = dip
            elif t - self._closed_since > self.limits.max_closed_s:
                # Closed for longer than a blink: eyes held shut, or a baseline
                # taken while the head was turned (one simulated turn lifted an
                # eye's baseline from 0.31 to 0.61, after which every frontal
                # frame read as closed). Start again from the frames to come.
                self._restart_baseline()
                return
            self._closed_depth = max(self._closed_depth, dip)
            return
        if self._closed_since is not None:
            self._close(t)
        self._add_open(t, ears)

    def _restart_baseline(self) -> None:
        self._closed_since = None
        self._open.clear()
        self._baseline = None

    def _close(self, t: float) -> None:
        assert self._closed_since is not None
        if t - self._closed_since <= self.limits.max_closed_s:
            self._events.append(BlinkEvent(self._closed_since, t, self._closed_depth))
        self._closed_since = None

    def _add_open(self, t: float, ears: tuple[float, float]) -> None:
        lim = self.limits
        self._open.append((t, *ears))
        while self._open and self._open[0][0] < t - lim.baseline_window_s:
            self._open.popleft()
        if len(self._open) >= lim.min_baseline_frames:
            left, right = np.percentile(
                [(a, b) for _, a, b in self._open], lim.baseline_percentile, axis=0
            )
            self._baseline = (float(left), float(right))

    def dip(self, eye_aspect_ratios: tuple[float, float]) -> float:
        """Relative dip of the deeper eye below its open-eye baseline (0 before a
        baseline exists), for a frame not yet fed: ``(image-left, image-right)``
        eye aspect ratios."""
        if self._baseline is None:
            return 0.0
        pairs = zip(eye_aspect_ratios, self._baseline, strict=True)
        dips = [1.0 - e / b for e, b in pairs if b > 0]
        return max(0.0, *dips)

    def blinked_between(self, t0: float, t1: float) -> bool:
        """Whether a blink began in [t0, t1], given in session time (as ``ChallengeStep``)."""
        c0, c1 = self._clock.to_capture(t0), self._clock.to_capture(t1)
        return any(c0 <= e.start_t <= c1 for e in self._events)

    def deepest_between(self, t0: float, t1: float) -> float:
        """Deepest relative dip on frames in [t0, t1] session time (0 if none):
        how close a missed blink step came to the limit."""
        c0, c1 = self._clock.to_capture(t0), self._clock.to_capture(t1)
        return max((d for t, d in self._dips if c0 <= t <= c1), default=0.0)

    def snapshot(self) -> Snapshot:
        return {
            "open": [list(v) for v in self._open],
            "baseline": None if self._baseline is None else list(self._baseline),
            "closed_since": self._closed_since,
            "closed_depth": self._closed_depth,
            "events": [[e.start_t, e.end_t, e.depth] for e in self._events],
            "deepest": self._deepest,
            "dips": [list(v) for v in self._dips],
            "offset": self._clock.offset,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        self._open = deque((float(t), float(a), float(b)) for t, a, b in data["open"])
        baseline = data["baseline"]
        self._baseline = None if baseline is None else (float(baseline[0]), float(baseline[1]))
        self._closed_since = optional_float(data["closed_since"])
        self._closed_depth = float(data["closed_depth"])
        self._events = [BlinkEvent(float(a), float(b), float(d)) for a, b, d in data["events"]]
        self._deepest = float(data["deepest"])
        self._dips = [(float(t), float(d)) for t, d in data["dips"]]
        self._clock.offset = float(data["offset"])

    def checks(self) -> tuple[Check, ...]:
        count = self.blink_count
        need = self.limits.min_blinks
        detail = f"deepest dip {self._deepest:.2f} (blink dip ≥ {self.limits.min_dip})"
        return (Check("blinks", float(count), float(need), count >= need, detail),)
