"""Binding the client's claimed capture times to the server's clock.

A client says when it captured each frame; a hostile one can say anything, for
example claim 100 ms per frame while it spends seconds rendering an answer to
each step it has just learnt. The session therefore runs on the server's clock
(each frame's arrival time) and uses the claimed times for one thing only:
their offset from the arrival times may vary by no more than the jitter an
honest stop-and-wait client produces. A claimed clock that runs slow or fast
against the server's drifts out of that band within a few frames, and the
session ends refused (``clock_drift``), with both clocks in the audit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from veronica.liveness.state import optional_float
from veronica.liveness.types import Check


@dataclass(frozen=True)
class ClockLimits:
    max_drift_s: float = 0.5
    """Largest spread, over a session, of (arrival − claimed capture time): the
    encoding, upload and queueing time of a frame may vary by this much between
    frames. The page's stop-and-wait loop in Chromium measured a spread of at
    most 0.043 s on loopback, 0.030 s with 5 ± 5 ms and 0.100 s with 40 ± 20 ms
    of emulated network delay each way (4 sessions per path, on a loaded 2-core
    machine: benchmarks/CLOCK_RESULTS.md); 0.5 s leaves room for a phone on a busy
    network, and any claimed clock 10 % off the real one leaves it within ~5 s,
    before the challenges end."""


@dataclass
class ClockBinding:
    """Running spread of (arrival − claimed) over one session's frames."""

    limits: ClockLimits
    first_arrival_s: float | None = None
    first_claimed_s: float | None = None
    last_arrival_s: float = 0.0
    last_claimed_s: float = 0.0
    min_offset_s: float = math.inf
    max_offset_s: float = -math.inf
    frames: int = 0

    def observe(self, arrival_s: float, claimed_s: float | None) -> None:
        """One frame that arrived at ``arrival_s`` (server seconds) and claims to
        have been captured at ``claimed_s`` (client seconds; None: no claim, e.g.
        a recorded video, whose frame times are the only clock)."""
        if claimed_s is None:
            return
        if self.first_arrival_s is None or self.first_claimed_s is None:
            self.first_arrival_s, self.first_claimed_s = arrival_s, claimed_s
        offset = (arrival_s - self.first_arrival_s) - (claimed_s - self.first_claimed_s)
        self.min_offset_s = min(self.min_offset_s, offset)
        self.max_offset_s = max(self.max_offset_s, offset)
        self.last_arrival_s, self.last_claimed_s = arrival_s, claimed_s
        self.frames += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "first": [self.first_arrival_s, self.first_claimed_s],
            "last": [self.last_arrival_s, self.last_claimed_s],
            "offsets": [self.min_offset_s, self.max_offset_s] if self.frames else None,
            "frames": self.frames,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        first, last = data["first"], data["last"]
        self.first_arrival_s, self.first_claimed_s = (
            optional_float(first[0]),
            optional_float(first[1]),
        )
        self.last_arrival_s, self.last_claimed_s = float(last[0]), float(last[1])
        offsets = data["offsets"]
        if offsets is not None:
            self.min_offset_s, self.max_offset_s = float(offsets[0]), float(offsets[1])
        self.frames = int(data["frames"])

    @property
    def spread_s(self) -> float:
        return self.max_offset_s - self.min_offset_s if self.frames else 0.0

    @property
    def drifted(self) -> bool:
        return self.spread_s > self.limits.max_drift_s

    def check(self) -> Check:
        """``clock_drift``: the spread against its limit, with both clocks' spans."""
        if self.first_arrival_s is None or self.first_claimed_s is None:
            # Deliberately passing: only sources without a client clock (recorded
            # videos, where frame times are the clock) have no claimed times.
            return Check("clock_drift", 0.0, self.limits.max_drift_s, True, "no claimed times")
        claimed = self.last_claimed_s - self.first_claimed_s
        arrived = self.last_arrival_s - self.first_arrival_s
        detail = (
            f"{self.frames} frames: claimed {claimed:.3f} s, arrived over {arrived:.3f} s "
            f"(server clock); offset spread {self.spread_s:.3f} s"
        )
        return Check(
            "clock_drift", self.spread_s, self.limits.max_drift_s, not self.drifted, detail
        )
