"""Passive PAD over a session: a robust aggregate of the per-frame model scores.

The model (``pipeline.pad``) is one signal among several: it mostly reacts to
card edges and bezels, its scores shift between cameras, and a single frame can
swing. A trimmed mean over many frames is steadier than any one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from veronica.liveness.state import Snapshot
from veronica.liveness.types import Check, FrameInput


@dataclass(frozen=True)
class PadLimits:
    min_live: float = 0.1
    """Aggregate live score to pass. Live faces on the talking-head video score
    ≈ 1.0, prints on full frames ≈ 0.0001. On simulated sessions of calibration
    identities (a rendered face from a 110 px LFW photo, which the model likes
    much less than a webcam's picture) 0.5, the model's neutral class boundary
    used until then, refused 11 % of bona fide sessions, 0.15 2.7 % and 0.1
    1.3 % (374 sessions); with a turn and a look-up in every script no
    simulated attack was refused by PAD alone (96 presentations, run 69000;
    earlier, bent prints without a look-up step scored 0–0.106).
    docs/results/pad_calibration.md; the real NUAA crops' rates at this limit
    are in docs/MODELS.md. The model never decides alone."""
    min_frames: int = 5
    """Frames with a score needed before the aggregate means anything."""
    trim: float = 0.2
    """Share of the lowest and of the highest scores dropped before averaging:
    robust to a few frames with a bad crop (motion blur, a hand)."""
    max_scores: int = 2000
    """Scores kept (scalars): far more than a session's frames."""


def trimmed_mean(values: list[float], trim: float) -> float:
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(len(ordered) * trim)
    kept = ordered[cut : len(ordered) - cut] if len(ordered) > 2 * cut else ordered
    return float(kept.mean())


class PadSignal:
    name = "pad"

    def __init__(self, limits: PadLimits | None = None) -> None:
        self.limits = limits or PadLimits()
        self._scores: list[float] = []

    def update(self, frame: FrameInput) -> None:
        pad = frame.analysis.pad
        if pad is not None and len(self._scores) < self.limits.max_scores:
            self._scores.append(pad.live)

    def snapshot(self) -> Snapshot:
        return {"scores": list(self._scores)}

    def restore(self, data: Mapping[str, Any]) -> None:
        self._scores = [float(v) for v in data["scores"]]

    @property
    def frame_count(self) -> int:
        return len(self._scores)

    @property
    def aggregate(self) -> float | None:
        """Trimmed mean of the live scores, or ``None`` before ``min_frames``."""
        if len(self._scores) < self.limits.min_frames:
            return None
        return trimmed_mean(self._scores, self.limits.trim)

    def checks(self) -> tuple[Check, ...]:
        limit = self.limits.min_live
        value = self.aggregate
        if value is None:
            detail = f"{len(self._scores)} scored frames < {self.limits.min_frames}"
            return (Check("pad", 0.0, limit, False, detail),)
        detail = f"trimmed mean of {len(self._scores)} frames"
        return (Check("pad", value, limit, value >= limit, detail),)
