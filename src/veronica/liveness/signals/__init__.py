"""Streaming liveness signals: each implements ``liveness.types.Signal`` and takes
its limits from a frozen dataclass defined beside it. Which signals a session
runs, and what their checks decide, is ``liveness/registry.py``."""

from veronica.liveness.signals.blink import BlinkEvent, BlinkLimits, BlinkSignal
from veronica.liveness.signals.consistency import ConsistencyLimits, ConsistencySignal
from veronica.liveness.signals.head_motion import (
    ChallengeResponse,
    HeadMotionLimits,
    HeadMotionSignal,
)
from veronica.liveness.signals.identity import FaceSample, IdentityLimits, IdentitySignal
from veronica.liveness.signals.light import LightLimits, LightSignal
from veronica.liveness.signals.pad import PadLimits, PadSignal
from veronica.liveness.signals.planarity import PlanarityLimits, PlanaritySignal, SegmentResult
from veronica.liveness.signals.steps import ChallengeSteps
from veronica.liveness.signals.zoom import ZoomLimits, ZoomResult, ZoomSignal

__all__ = [
    "BlinkEvent",
    "BlinkLimits",
    "BlinkSignal",
    "ChallengeResponse",
    "ChallengeSteps",
    "ConsistencyLimits",
    "ConsistencySignal",
    "FaceSample",
    "HeadMotionLimits",
    "HeadMotionSignal",
    "IdentityLimits",
    "IdentitySignal",
    "LightLimits",
    "LightSignal",
    "PadLimits",
    "PadSignal",
    "PlanarityLimits",
    "PlanaritySignal",
    "SegmentResult",
    "ZoomLimits",
    "ZoomResult",
    "ZoomSignal",
]
