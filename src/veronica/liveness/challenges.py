"""The random challenge script of one session.

Drawn from a cryptographic RNG per session (``secrets.SystemRandom``), so the
client cannot predict the order, the timing or the light colours; it learns
each step only when it is due. Tests and the simulator pass a seeded
``random.Random`` instead; the service accepts a fixed seed only in the test
environment.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, replace

from veronica.liveness.types import RGB, Action, ChallengeStep, LightStep, SessionScript

LIGHT_PALETTE: tuple[RGB, ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 0),
    (255, 255, 255),
)
"""Saturated colours: the skin's reflected colour changes most between them."""


@dataclass(frozen=True)
class ChallengeLimits:
    min_actions: int = 2
    max_actions: int = 3
    """2–3 actions keep the whole check near 10 s while making a pre-recorded
    answer a 1-in-(5·4·4) guess before timing is even considered."""
    actions: tuple[Action, ...] = tuple(Action)
    window_s: float = 2.5
    """Time to do one action: a person reacts in 0.3–0.7 s and a turn takes ~1 s."""
    min_gap_s: float = 0.4
    max_gap_s: float = 0.9
    """A random pause between steps so a replay cannot be aligned by counting."""
    light: bool = True
    """The light challenge; off for photosensitive users who opted out (where the
    operator allows it) and when the operator turned it off: then
    ``LivenessPolicy.without_light`` asks for more actions instead."""
    require_blink: bool = False
    """At least one step is a blink (the compensating script without light)."""
    light_colours: tuple[int, int] = (4, 6)
    light_step_s: tuple[float, float] = (0.25, 0.4)
    """4–6 colours of 250–400 ms: long enough for a 15–30 fps camera to see each,
    short enough that the phase lasts under 2.5 s."""
    first_step_s: tuple[float, float] = (0.3, 0.8)

    def __post_init__(self) -> None:
        if not 1 <= self.min_actions <= self.max_actions:
            raise ValueError("need 1 <= min_actions <= max_actions")
        if len(set(self.actions)) < 2:
            raise ValueError("need at least two different actions")
        if self.require_blink and Action.BLINK not in self.actions:
            raise ValueError("require_blink needs blink among the actions")


def plan_script(limits: ChallengeLimits, rng: random.Random | None = None) -> SessionScript:
    """A random script: the light phase first (the face is still and frontal),
    then the actions, no action twice in a row."""
    draw = rng if rng is not None else secrets.SystemRandom()
    t = draw.uniform(*limits.first_step_s)
    light: list[LightStep] = []
    if limits.light:
        previous: RGB | None = None
        for _ in range(draw.randint(*limits.light_colours)):
            rgb = draw.choice([c for c in LIGHT_PALETTE if c != previous])
            duration = draw.uniform(*limits.light_step_s)
            light.append(LightStep(rgb=rgb, start_s=t, duration_s=duration))
            t += duration
            previous = rgb
        t += draw.uniform(limits.min_gap_s, limits.max_gap_s)
    steps: list[ChallengeStep] = []
    last: Action | None = None
    for _ in range(draw.randint(limits.min_actions, limits.max_actions)):
        action = draw.choice([a for a in limits.actions if a != last])
        steps.append(ChallengeStep(action=action, start_s=t, window_s=limits.window_s))
        t += limits.window_s + draw.uniform(limits.min_gap_s, limits.max_gap_s)
        last = action
    if limits.require_blink and all(s.action is not Action.BLINK for s in steps):
        # No blink was drawn, so no neighbour is one: any step can become it.
        i = draw.randrange(len(steps))
        steps[i] = replace(steps[i], action=Action.BLINK)
    return SessionScript(challenges=tuple(steps), light=tuple(light))


def script_end(script: SessionScript) -> float:
    """Session time at which the last step is over."""
    ends = [s.end_s for s in script.challenges] + [s.end_s for s in script.light]
    return max(ends, default=0.0)
