from __future__ import annotations

import dataclasses

import pytest

from veronica.liveness import signals as s
from veronica.liveness.types import Signal

SIGNALS: list[type[Signal]] = [
    s.BlinkSignal,
    s.ConsistencySignal,
    s.HeadMotionSignal,
    s.LightSignal,
    s.PadSignal,
    s.PlanaritySignal,
    s.ZoomSignal,
]
LIMITS = [
    s.BlinkLimits,
    s.ConsistencyLimits,
    s.HeadMotionLimits,
    s.LightLimits,
    s.PadLimits,
    s.PlanarityLimits,
    s.ZoomLimits,
]


@pytest.mark.parametrize("cls", SIGNALS)
def test_every_signal_has_a_name_and_checks_before_any_frame(cls: type[Signal]) -> None:
    signal = cls()
    assert isinstance(signal.name, str) and signal.name
    assert isinstance(signal.checks(), tuple)


@pytest.mark.parametrize("limits", LIMITS)
def test_limits_are_frozen_and_documented_defaults(limits: type) -> None:
    value = limits()
    assert dataclasses.is_dataclass(value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, dataclasses.fields(value)[0].name, 0)
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(value))
