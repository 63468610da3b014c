"""Challenge scripts for the simulator's own sessions, and the session timeline.

Scripts come from the real session's planner, seeded, so a replayed "other"
session looks exactly like one the server could have planned.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.types import RGB, Action, SessionScript


def server_script(seed: int, light: LightMode | bool = LightMode.FLASH) -> SessionScript:
    """The script a server with this challenge seed plans for a session showing
    ``light``. A bool is what a recorded video can answer: True the light
    challenge, False no light at all (``LightMode.NONE``; a recording cannot
    follow the opt-out's gentle light either)."""
    if isinstance(light, bool):
        light = LightMode.FLASH if light else LightMode.NONE
    return plan_script(LivenessPolicy().for_light(light).challenges, random.Random(seed))


def random_script(rng: np.random.Generator, light: bool = True) -> SessionScript:
    """A script drawn exactly as the real session draws one (``plan_script``),
    seeded from ``rng`` so simulations are reproducible."""
    return server_script(int(rng.integers(0, 2**62)), light)


@dataclass(frozen=True)
class Timeline:
    """A script placed in video time: the first ``positioning_s`` seconds are
    positioning (no action, no light); script times count from its end."""

    script: SessionScript
    positioning_s: float = 1.5

    def session_t(self, t: float) -> float | None:
        """Script time at video time ``t`` (None while positioning)."""
        return None if t < self.positioning_s else t - self.positioning_s

    def at(self, t: float) -> tuple[Action | None, RGB | None]:
        """What the page asks (action) and shows (light) at video time ``t``."""
        s = self.session_t(t)
        if s is None:
            return None, None
        return self.script.action_at(s), self.script.light_at(s)

    @property
    def end_s(self) -> float:
        """Video time when the last step (action or light) ends."""
        ends = [c.end_s for c in self.script.challenges] + [x.end_s for x in self.script.light]
        return self.positioning_s + max(ends, default=0.0)

    def to_json(self, **extra: Any) -> str:
        """The timeline as JSON for consumers of a simulated video."""
        doc: dict[str, Any] = {
            "simulated": True,
            "positioning_s": self.positioning_s,
            "challenges": [
                {"action": c.action.value, "start_s": c.start_s, "window_s": c.window_s}
                for c in self.script.challenges
            ],
            "light": [
                {"rgb": list(x.rgb), "start_s": x.start_s, "duration_s": x.duration_s}
                for x in self.script.light
            ],
            **extra,
        }
        return json.dumps(doc, indent=2)
