"""Every liveness limit in one object.

Each field is a frozen dataclass defined beside the code that uses it, where
every default is documented with the reason for it. The session reads limits
only from here, so a deployment changes behaviour in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from veronica.liveness.challenges import ChallengeLimits
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
from veronica.pipeline.quality import QualityPolicy


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
    """Actions in a session without the light challenge (instead of 2–3), one of
    them a blink: the light challenge is the main defence against a late
    replay, so its absence is paid for with more steps a replay must hit in
    their windows. Measured on its own (docs/LIVENESS.md)."""

    def for_light(self, light: bool) -> LivenessPolicy:
        """This policy for a session with the light challenge, or its compensating
        policy for one without (what the server runs in each case)."""
        return self if light else self.without_light()

    def without_light(self) -> LivenessPolicy:
        """The compensating policy for sessions without the light challenge: more
        actions, a blink always (``opt_out_actions``)."""
        low, high = self.opt_out_actions
        return replace(
            self,
            challenges=replace(
                self.challenges, light=False, min_actions=low, max_actions=high, require_blink=True
            ),
        )
