"""Every liveness limit in one object.

Each field is a frozen dataclass defined beside the code that uses it, where
every default is documented with the reason for it. The session reads limits
only from here, so a deployment changes behaviour in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from veronica.liveness.challenges import ChallengeLimits, gentle_light
from veronica.liveness.clock import ClockLimits
from veronica.liveness.positioning import PositioningLimits
from veronica.liveness.sampling import SamplingLimits
from veronica.liveness.signals import (
    BlinkLimits,
    ConsistencyLimits,
    HeadMotionLimits,
    IdentityLimits,
    LightLimits,
    PadLimits,
    PlanarityLimits,
    ZoomLimits,
)
from veronica.liveness.types import Action
from veronica.pipeline.quality import QualityPolicy


class LightMode(StrEnum):
    """Which light a session shows the face (``for_light``)."""

    FLASH = "flash"
    """The light challenge: saturated colours, cut one to the next."""
    GENTLE = "gentle"
    """For someone who opted out of the flashing colours: tints of one
    brightness gliding into each other (no flash in WCAG 2.x's sense)."""
    NONE = "none"
    """No light at all (the operator turned it off)."""


@dataclass(frozen=True)
class LivenessPolicy:
    challenges: ChallengeLimits = field(default_factory=ChallengeLimits)
    positioning: PositioningLimits = field(default_factory=PositioningLimits)
    quality: QualityPolicy = field(default_factory=QualityPolicy)
    """Quality gate while positioning (the challenges themselves move the head)."""
    clock: ClockLimits = field(default_factory=ClockLimits)
    sampling: SamplingLimits = field(default_factory=SamplingLimits)
    blink: BlinkLimits = field(default_factory=BlinkLimits)
    head: HeadMotionLimits = field(default_factory=HeadMotionLimits)
    planarity: PlanarityLimits = field(default_factory=PlanarityLimits)
    zoom: ZoomLimits = field(default_factory=ZoomLimits)
    light: LightLimits = field(default_factory=LightLimits)
    pad: PadLimits = field(default_factory=PadLimits)
    consistency: ConsistencyLimits = field(default_factory=ConsistencyLimits)
    identity: IdentityLimits = field(default_factory=IdentityLimits)
    pad_every: int = 2
    """Passive PAD on every n-th frame: its score is a trimmed mean over the
    session (dozens of frames either way), and the model is a third of the
    per-frame cost."""
    second_face_every: int = 10
    """The tracking mesh follows one face; every n-th frame the static detector
    looks for a second one."""
    capture_frames: int = 3
    """Best frames (by quality score) handed to recognition."""
    tail_s: float = 0.3
    """Frames still accepted after the last step, for late blinks to finish."""
    passive_min_frames: int = 40
    """A passive check (recorded video, no challenge) needs ~1.5 s of frames."""
    opt_out_actions: tuple[int, int] = (3, 4)
    """Actions in a session with no light at all (the operator's ``off``;
    instead of 2–3), one of them a blink: the light is the main defence against
    a late replay, so its absence is paid for with more steps a replay must hit
    in their windows. That does not stop a relay of the session itself
    (docs/LIVENESS.md, docs/SECURITY.md)."""

    def for_light(self, mode: LightMode) -> LivenessPolicy:
        """This policy for a session with the flashing light challenge
        (``FLASH``); with the gentle light instead, for someone who opted out
        of the flashing colours (``GENTLE``: tints of one brightness, gliding,
        ``challenges.gentle_light``; the same actions, since the gentle light
        stops a relay as the colours do); or the compensating script of a
        session with no light at all (``NONE``: more actions, a blink always,
        ``opt_out_actions``)."""
        if mode is LightMode.FLASH:
            return self
        if mode is LightMode.GENTLE:
            return replace(self, challenges=gentle_light(self.challenges))
        low, high = self.opt_out_actions
        challenges = replace(
            self.challenges,
            light=False,
            min_actions=low,
            max_actions=high,
            actions=tuple(Action),
            require_blink=True,
        )
        return replace(self, challenges=challenges)
