"""Every liveness limit in one object.

Each field is a frozen dataclass defined beside the code that uses it, where
every default is documented with the reason for it. The session reads limits
only from here, so a deployment changes behaviour in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from veronica.liveness.challenges import ChallengeLimits
from veronica.liveness.positioning import PositioningLimits
from veronica.liveness.signals import (
    BlinkLimits,
    ConsistencyLimits,
    HeadMotionLimits,
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
    blink: BlinkLimits = field(default_factory=BlinkLimits)
    head: HeadMotionLimits = field(default_factory=HeadMotionLimits)
    planarity: PlanarityLimits = field(default_factory=PlanarityLimits)
    zoom: ZoomLimits = field(default_factory=ZoomLimits)
    light: LightLimits = field(default_factory=LightLimits)
    pad: PadLimits = field(default_factory=PadLimits)
    consistency: ConsistencyLimits = field(default_factory=ConsistencyLimits)
    embed_every: int = 5
    """Embed every n-th challenge frame for the identity check: enough samples
    to catch a face swap within ~0.2 s at 25 fps, at a fifth of the cost."""
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
    advisory_checks: frozenset[str] = frozenset({"planarity", "zoom"})
    """Reported in every decision but not deciding. Geometry from the mesh is
    regularised by a learned face shape: on simulated heads the zoom ratio came
    out 1.01–1.06 where the pinhole model expects 1.09–1.14, and texture-track
    planarity passes bent prints (field notes). They decide nothing until they
    are calibrated on real recordings of approaches and turns."""
