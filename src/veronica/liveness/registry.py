"""The signal registry: which signals a session runs and what their checks mean.

Adding a signal touches its module (the signal and its limits dataclass), a
field of ``LivenessPolicy`` for the limits, and one ``SignalSpec`` here: its
name, how to build it for a session (or not: a signal with nothing to judge in
this session does not run, so it can never pass as "not applicable"), whether
its checks decide or only advise, and the check family it vouches for in the
result token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.signals import (
    BlinkSignal,
    ChallengeSteps,
    ConsistencySignal,
    IdentitySignal,
    LightSignal,
    PadSignal,
    PlanaritySignal,
    ZoomSignal,
)
from veronica.liveness.types import Check, CheckFamily, Mode, SessionScript, Signal

Builder = Callable[[LivenessPolicy, SessionScript, Mode], Signal | None]


@dataclass(frozen=True)
class SignalSpec:
    name: str
    family: CheckFamily
    deciding: bool
    """False: advisory (reported in every decision, never deciding)."""
    build: Builder
    """The signal for one session, or None when it has nothing to judge there."""


def _challenge(p: LivenessPolicy, s: SessionScript, m: Mode) -> Signal | None:
    return ChallengeSteps(s, p.head, p.blink) if m is Mode.CHALLENGE else None


def _blinks(p: LivenessPolicy, s: SessionScript, m: Mode) -> Signal | None:
    # Live sessions judge blinks as steps; a recorded video must simply blink.
    return BlinkSignal(p.blink) if m is Mode.PASSIVE else None


def _light(p: LivenessPolicy, s: SessionScript, m: Mode) -> Signal | None:
    return LightSignal(p.light) if s.light else None


SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec("challenge", CheckFamily.CHALLENGE, True, _challenge),
    SignalSpec("blink", CheckFamily.CHALLENGE, True, _blinks),
    SignalSpec("light", CheckFamily.LIGHT, True, _light),
    SignalSpec("pad", CheckFamily.PAD, True, lambda p, s, m: PadSignal(p.pad)),
    SignalSpec(
        "consistency",
        CheckFamily.CONSISTENCY,
        True,
        lambda p, s, m: ConsistencySignal(p.consistency),
    ),
    SignalSpec("identity", CheckFamily.IDENTITY, True, lambda p, s, m: IdentitySignal(p.identity)),
    # Geometry from the mesh is regularised by a learned face shape: on simulated
    # heads the zoom ratio came out 1.01–1.06 where the pinhole model expects
    # 1.09–1.14, and texture-track planarity does not separate bent prints
    # (docs/LIVENESS.md, the signals table).
    # Advisory until calibrated on real recordings of approaches and turns.
    SignalSpec(
        "planarity", CheckFamily.GEOMETRY, False, lambda p, s, m: PlanaritySignal(p.planarity)
    ),
    SignalSpec("zoom", CheckFamily.GEOMETRY, False, lambda p, s, m: ZoomSignal(p.zoom)),
)


@dataclass(frozen=True)
class ActiveSignal:
    spec: SignalSpec
    signal: Signal

    def checks(self) -> tuple[Check, ...]:
        """The signal's checks, tagged with its family and role."""
        return tuple(
            replace(c, family=self.spec.family, deciding=self.spec.deciding)
            for c in self.signal.checks()
        )


def build_signals(
    policy: LivenessPolicy, script: SessionScript, mode: Mode
) -> tuple[ActiveSignal, ...]:
    """The signals one session runs, in registry order."""
    active = []
    for spec in SIGNALS:
        signal = spec.build(policy, script, mode)
        if signal is not None:
            active.append(ActiveSignal(spec, signal))
    return tuple(active)
