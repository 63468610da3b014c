"""Which frames the session embeds for the identity checks.

Two rules, both applied by the server after a frame has arrived, so a client
cannot aim anything at them:

* a draw from a cryptographic RNG (``secrets.SystemRandom``) embeds each frame
  with a fixed probability, in every phase: positioning (more often: the
  session's reference comes from there), colours, actions;
* every frame that carries a challenge response (it reaches a fraction of the
  step's limit: a turn under way, an eye closing) is embedded, so the frames
  that pass a step are always among those compared with the session's person.

Tests and the simulator pass a seeded ``random.Random``; the service never does.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SamplingLimits:
    embed_probability: float = 0.3
    """Share of challenge frames embedded at random. A proxy attacker who shows
    another person on a fifth of a session's ~100 frames has all of them missed
    with probability 0.7^20 ≈ 1e-3; the embedding is ~12 ms of a ~25 ms frame,
    so this costs ~3.6 ms per frame on average."""
    positioning_probability: float = 0.6
    """The same while positioning, where the session's reference face comes from
    (the first frontal sample): the face placed in the oval must be among the
    samples, or a swap at the end of positioning goes unseen. At 0.3, 2 of 100
    simulated face swaps that switch faces as positioning ends drew no sample
    before the switch (0.7^10 ≈ 3 % for ~10 positioning frames); at 0.6 that is
    0.4^10 ≈ 1e-4. Positioning lasts ~1–2 s, so this costs little."""
    response_fraction: float = 0.5
    """A frame inside an action's window is embedded when its change reaches
    this fraction of the step's limit (a turn of 7.5° of the 15° needed, an
    eye half as closed as a blink must be): the frames that pass a step
    always reach it."""

    def __post_init__(self) -> None:
        if not 0.0 < self.embed_probability <= 1.0:
            raise ValueError("embed_probability must be in (0, 1]")
        if not 0.0 < self.positioning_probability <= 1.0:
            raise ValueError("positioning_probability must be in (0, 1]")
        if not 0.0 < self.response_fraction <= 1.0:
            raise ValueError("response_fraction must be in (0, 1]")


class EmbeddingSampler:
    def __init__(self, limits: SamplingLimits, rng: random.Random | None = None) -> None:
        self.limits = limits
        self._rng: random.Random = rng if rng is not None else secrets.SystemRandom()

    def snapshot(self) -> dict[str, Any]:
        """A cryptographic RNG has no state to keep; a seeded one (tests, the
        simulator) keeps its position so a moved session draws as it would have."""
        if isinstance(self._rng, secrets.SystemRandom):
            return {"seeded": None}
        version, internal, gauss = self._rng.getstate()
        return {"seeded": [version, list(internal), gauss]}

    def restore(self, data: Mapping[str, Any]) -> None:
        seeded = data["seeded"]
        if seeded is None:
            self._rng = secrets.SystemRandom()
            return
        version, internal, gauss = seeded
        rng = random.Random()
        rng.setstate((version, tuple(internal), gauss))
        self._rng = rng

    def draw(self, positioning: bool = False) -> bool:
        """Embed this frame? Call once per frame, after it has arrived."""
        lim = self.limits
        p = lim.positioning_probability if positioning else lim.embed_probability
        return self._rng.random() < p
