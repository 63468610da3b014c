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


POSE_ACTIONS = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP)
"""Actions that change the head's pose (what a flat card cannot fake well)."""


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
    require_pose: bool = True
    """At least one step is a turn or a look-up. A blink and an approach alone
    can be answered by a print with eye holes held still (a simulated
    ``print_cutout`` with such a script was accepted, docs/LIVENESS.md); a
    flat card turned reads as a much smaller turn than a head does."""
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
        if self.require_pose and not set(POSE_ACTIONS) & set(self.actions):
            raise ValueError("require_pose needs a turn or look-up among the actions")
        if self.require_blink and self.require_pose and self.min_actions < 2:
            raise ValueError("require_blink with require_pose needs min_actions >= 2")


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
    if limits.require_pose:
        _ensure_pose(steps, limits, draw)
    if limits.require_blink and all(s.action is not Action.BLINK for s in steps):
        # No blink was drawn, so no neighbour is one: any step can become it,
        # except the only pose step when one is required.
        poses = [i for i, s in enumerate(steps) if s.action in POSE_ACTIONS]
        keep = poses if limits.require_pose and len(poses) == 1 else []
        i = draw.choice([i for i in range(len(steps)) if i not in keep])
        steps[i] = replace(steps[i], action=Action.BLINK)
    return SessionScript(challenges=tuple(steps), light=tuple(light))


def _ensure_pose(steps: list[ChallengeStep], limits: ChallengeLimits, draw: random.Random) -> None:
    """Turn one step into a turn or look-up when none was drawn. A blink step
    is kept when it is the only one (another requirement may rest on it)."""
    if any(s.action in POSE_ACTIONS for s in steps):
        return
    blinks = [i for i, s in enumerate(steps) if s.action is Action.BLINK]
    keep = blinks if len(blinks) == 1 and len(steps) > 1 else []
    i = draw.choice([i for i in range(len(steps)) if i not in keep])
    # No pose step exists, so no neighbour is one: any pose action can go here.
    pose = draw.choice([a for a in POSE_ACTIONS if a in limits.actions])
    steps[i] = replace(steps[i], action=pose)


def script_end(script: SessionScript) -> float:
    """Session time at which the last step is over."""
    ends = [s.end_s for s in script.challenges] + [s.end_s for s in script.light]
    return max(ends, default=0.0)
