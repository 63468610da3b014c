"""The random challenge script of one session.

Drawn from a cryptographic RNG per session (``secrets.SystemRandom``), so the
client cannot predict the order, the timing or the light colours; it learns
each step only when it is due. Tests and the simulator pass a seeded
``random.Random`` instead; the service accepts a fixed seed only in the test
environment.
"""

from __future__ import annotations

import itertools
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

GENTLE_GREY: RGB = (134, 134, 134)
"""Where the gentle light starts and ends: a grey of the tints' luminance."""

GENTLE_PALETTE: tuple[RGB, ...] = (
    (255, 52, 52),
    (140, 140, 0),
    (0, 158, 0),
    (0, 150, 150),
    (118, 118, 255),
    (237, 0, 237),
)
"""Tints of one relative luminance (0.24 ± 0.01, sRGB), for people who opted out
of the flashing colours: gliding between them changes the hue of the light on
the face but not its brightness, so no change is a flash in WCAG 2.x's sense
(2.3.1: opposing luminance changes of 10 % or more; a "saturated red" has
R/(R+G+B) ≥ 0.8, the red tint here 0.71). Computed in
``tests/liveness/test_liveness_challenges.py``."""


POSE_ACTIONS = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP)
"""Actions that change the head's pose (what a flat card cannot fake well)."""
TURNS = (Action.TURN_LEFT, Action.TURN_RIGHT)
CHALLENGE_ACTIONS = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP, Action.APPROACH)
"""The actions a script with light draws from. A blink is not among them: with
a turn and a look-up in every script it stopped no simulated attack the pose
steps had not (a cut-out print blinks with real eyes), while it was the step
genuine users failed most (partial blinks, glasses, 8 frames/s;
docs/results/pad_calibration.md). It stays in the script without light."""


@dataclass(frozen=True)
class ChallengeLimits:
    min_actions: int = 2
    max_actions: int = 3
    """2–3 actions keep the flash script under 21.5 s (colours, the still pause,
    the action windows; most people end each step well before its window
    closes) while making a pre-recorded answer a 1-in-(5·4·4) guess before
    timing is even considered."""
    actions: tuple[Action, ...] = CHALLENGE_ACTIONS
    window_s: float = 4.0
    """Time to do one action: reading the prompt and reacting takes 0.3–1.5 s,
    the webcam 0.06–0.25 s, a turn 0.4–0.7 s; a person who barely turned sees
    the prompt stay (it is withdrawn once the response is seen) and needs
    another ~0.3–0.6 s to notice and 0.4–0.7 s to turn further. With 2.5 s a
    slow user had no second try, with 3.5 s the second try of the slowest
    arrived as the window closed (simulated calibration runs,
    docs/results/pad_calibration.md)."""
    min_gap_s: float = 0.4
    max_gap_s: float = 0.9
    """A random pause between steps so a replay cannot be aligned by counting."""
    light: bool = True
    """The light challenge; off for photosensitive users who opted out (where the
    operator allows it) and when the operator turned it off: then
    ``LivenessPolicy.without_light`` asks for more actions instead."""
    require_blink: bool = False
    """At least one step is a blink (the compensating script without light)."""
    require_turn: bool = True
    """At least one step is a turn (left or right). A blink and an approach alone
    can be answered by a print with eye holes held still (a simulated
    ``print_cutout`` with such a script was accepted, docs/LIVENESS.md); a
    flat card turned reads as a much smaller turn than a head does."""
    require_look_up: bool = True
    """At least one step is a look-up. Paper bends one way at a time (it is a
    developable surface): a print bent round a cylinder to fake a turn stays
    flat the other way, so it reads as a look-up of a few degrees. Simulated
    bent prints answered 46 of 98 turns but 2 of 47 look-ups (calibration runs,
    docs/results/pad_calibration.md); a session whose script had no look-up
    and no blink rested on the passive PAD model alone."""
    light_colours: tuple[int, int] = (5, 6)
    light_step_s: tuple[float, float] = (0.3, 0.4)
    """5–6 colours of 300–400 ms: a phase of 1.5–2.4 s holds at least 12 frames at
    the 8 frames/s of a busy laptop (the light check needs 10; with 4 colours of
    250 ms a simulated 8 fps session had too few, docs/results/pad_calibration.md),
    and each colour is seen on 2–6 frames at 8–15 fps."""
    light_palette: tuple[RGB, ...] = LIGHT_PALETTE
    light_fade_s: float = 0.0
    """Each colour glides in from the previous one over this long (0: cuts).
    With a fade the phase starts and ends on ``GENTLE_GREY``."""
    first_step_s: tuple[float, float] = (0.3, 0.8)
    light_settle_s: float = 2.5
    """Still time after the last colour before the first action is asked (the
    random gap comes on top): the light check records the skin for 3 s after
    the colours (``LightLimits.search_lag_s``, the relay defence), and a head
    turning in a bright room moves the warm room light over the skin patches
    more than the page's colours change it (stop 19's refused offices,
    docs/results/pad_calibration.md). With the fastest reaction (0.3 s) and
    webcam (0.06 s) the head starts to move 3.2 s after the colours at the
    earliest."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_actions <= self.max_actions:
            raise ValueError("need 1 <= min_actions <= max_actions")
        if len(set(self.actions)) < 2:
            raise ValueError("need at least two different actions")
        if self.require_blink and Action.BLINK not in self.actions:
            raise ValueError("require_blink needs blink among the actions")
        if self.require_turn and not set(TURNS) & set(self.actions):
            raise ValueError("require_turn needs a turn among the actions")
        if self.require_look_up and Action.LOOK_UP not in self.actions:
            raise ValueError("require_look_up needs look_up among the actions")
        if len(self.required_kinds) > self.min_actions:
            raise ValueError("min_actions is below the number of required actions")
        if len(set(self.light_palette)) < 2:
            raise ValueError("need at least two light colours")
        if self.light_settle_s < 0.0:
            raise ValueError("need light_settle_s >= 0")
        if self.light_fade_s < 0.0 or self.light_fade_s > self.light_step_s[0]:
            raise ValueError("need 0 <= light_fade_s <= the shortest light step")

    @property
    def required_kinds(self) -> tuple[str, ...]:
        """The kinds of step every script has (a turn is either direction)."""
        kinds = (("turn", self.require_turn), ("look_up", self.require_look_up))
        return tuple(k for k, on in (*kinds, ("blink", self.require_blink)) if on)


def gentle_light(limits: ChallengeLimits) -> ChallengeLimits:
    """``limits`` with the gentle light: 4–5 tints of ``GENTLE_PALETTE``, each
    gliding in over 0.4 s and held to 0.7–1.0 s, between greys (about one change
    a second)."""
    return replace(
        limits,
        light=True,
        light_palette=GENTLE_PALETTE,
        light_fade_s=0.4,
        light_step_s=(0.7, 1.0),
        light_colours=(4, 5),
    )


def plan_script(limits: ChallengeLimits, rng: random.Random | None = None) -> SessionScript:
    """A random script: the light phase first (the face is still and frontal),
    a still pause while the light check still records, then the actions, no
    action twice in a row."""
    draw = rng if rng is not None else secrets.SystemRandom()
    t = draw.uniform(*limits.first_step_s)
    light: list[LightStep] = []
    if limits.light:
        light, t = _plan_light(limits, draw, t)
        t += limits.light_settle_s + draw.uniform(limits.min_gap_s, limits.max_gap_s)
    steps = []
    for action in _plan_actions(limits, draw):
        steps.append(ChallengeStep(action=action, start_s=t, window_s=limits.window_s))
        t += limits.window_s + draw.uniform(limits.min_gap_s, limits.max_gap_s)
    return SessionScript(challenges=tuple(steps), light=tuple(light))


def _plan_actions(limits: ChallengeLimits, draw: random.Random) -> list[Action]:
    """The required actions plus random ones, in a random order with no action
    twice in a row (redrawn until it has none)."""
    required: list[Action] = []
    if limits.require_turn:
        required.append(draw.choice([a for a in TURNS if a in limits.actions]))
    if limits.require_look_up:
        required.append(Action.LOOK_UP)
    if limits.require_blink:
        required.append(Action.BLINK)
    n = draw.randint(limits.min_actions, limits.max_actions)
    for _ in range(1000):
        order = required + [draw.choice(limits.actions) for _ in range(n - len(required))]
        draw.shuffle(order)
        if all(a is not b for a, b in itertools.pairwise(order)):
            return order
    raise ValueError("these limits leave no script without an action twice in a row")


def _plan_light(
    limits: ChallengeLimits, draw: random.Random, t: float
) -> tuple[list[LightStep], float]:
    """The colours from session time ``t``, and the time they end."""
    fade = limits.light_fade_s
    colours: list[RGB] = []
    for _ in range(draw.randint(*limits.light_colours)):
        last = colours[-1] if colours else None
        colours.append(draw.choice([c for c in limits.light_palette if c != last]))
    if fade > 0.0:
        # Glide in from grey and back to it: the page never cuts to a tint.
        colours = [GENTLE_GREY, *colours, GENTLE_GREY]
    light = []
    for i, rgb in enumerate(colours):
        duration = draw.uniform(*limits.light_step_s)
        light.append(LightStep(rgb=rgb, start_s=t, duration_s=duration, fade_s=fade if i else 0.0))
        t += duration
    return light, t


def script_end(script: SessionScript) -> float:
    """Session time at which the last step is over."""
    ends = [s.end_s for s in script.challenges] + [s.end_s for s in script.light]
    return max(ends, default=0.0)
