"""The signal registry: which signals a session runs and how their checks are tagged."""

from __future__ import annotations

import random

from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.registry import SIGNALS, build_signals
from veronica.liveness.types import CheckFamily, Mode, SessionScript

POLICY = LivenessPolicy()


def names(script: SessionScript, mode: Mode = Mode.CHALLENGE) -> list[str]:
    return [a.spec.name for a in build_signals(POLICY, script, mode)]


def test_names_are_unique() -> None:
    assert len({s.name for s in SIGNALS}) == len(SIGNALS)


def test_light_runs_only_when_the_script_shows_colours() -> None:
    lit = plan_script(POLICY.challenges, random.Random(1))
    gentle = plan_script(POLICY.for_light(LightMode.GENTLE).challenges, random.Random(1))
    dark = plan_script(POLICY.for_light(LightMode.NONE).challenges, random.Random(1))
    assert lit.light and gentle.light and not dark.light
    assert "light" in names(lit) and "light" in names(gentle) and "light" not in names(dark)


def test_challenge_steps_in_live_sessions_blinks_in_recorded_videos() -> None:
    script = plan_script(POLICY.challenges, random.Random(2))
    live = names(script)
    passive = names(SessionScript((), ()), Mode.PASSIVE)
    assert "challenge" in live and "blink" not in live
    assert "blink" in passive and "challenge" not in passive


def test_checks_carry_family_and_role() -> None:
    script = plan_script(POLICY.challenges, random.Random(3))
    for active in build_signals(POLICY, script, Mode.CHALLENGE):
        for check in active.checks():
            assert check.family is active.spec.family
            assert check.deciding is active.spec.deciding


def test_geometry_is_advisory() -> None:
    geometry = [s for s in SIGNALS if s.family is CheckFamily.GEOMETRY]
    assert geometry and all(not s.deciding for s in geometry)
    assert all(s.deciding for s in SIGNALS if s.family is not CheckFamily.GEOMETRY)
