"""Streaming liveness signals: each implements ``liveness.types.Signal`` and takes
its limits from a frozen dataclass defined beside it."""

from veronica.liveness.signals.blink import BlinkEvent, BlinkLimits, BlinkSignal
from veronica.liveness.signals.consistency import ConsistencyLimits, ConsistencySignal
from veronica.liveness.signals.head_motion import (
    ChallengeResponse,
    HeadMotionLimits,
    HeadMotionSignal,
)
from veronica.liveness.signals.light import LightLimits, LightSignal
from veronica.liveness.signals.pad import PadLimits, PadSignal
from veronica.liveness.signals.planarity import PlanarityLimits, PlanaritySignal, SegmentResult
from veronica.liveness.signals.zoom import ZoomLimits, ZoomResult, ZoomSignal

__all__ = [
    "BlinkEvent",
    "BlinkLimits",
    "BlinkSignal",
    "ChallengeResponse",
    "ConsistencyLimits",
    "ConsistencySignal",
    "HeadMotionLimits",
    "HeadMotionSignal",
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
