"""Challenge scripts: random, unpredictable, within their limits."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from veronica.liveness.challenges import (
    LIGHT_PALETTE,
    POSE_ACTIONS,
    ChallengeLimits,
    plan_script,
    script_end,
)
from veronica.liveness.types import Action


def test_script_respects_the_limits() -> None:
    limits = ChallengeLimits()
    for seed in range(200):
        script = plan_script(limits, random.Random(seed))
        assert limits.min_actions <= len(script.challenges) <= limits.max_actions
        assert 4 <= len(script.light) <= 6
        actions = [s.action for s in script.challenges]
        assert all(a != b for a, b in itertools.pairwise(actions))
        # Steps never overlap and the light phase comes first.
        times = [(s.start_s, s.end_s) for s in (*script.light, *script.challenges)]
        assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(times))
        assert all(s.rgb in LIGHT_PALETTE for s in script.light)
        assert script_end(script) < 14.0


@pytest.mark.parametrize(("min_actions", "blink"), [(1, False), (2, False), (2, True)])
def test_every_script_has_a_pose_step(min_actions: int, blink: bool) -> None:
    limits = ChallengeLimits(min_actions=min_actions, max_actions=3, require_blink=blink)
    for seed in range(300):
        actions = [s.action for s in plan_script(limits, random.Random(seed)).challenges]
        assert any(a in POSE_ACTIONS for a in actions), actions
        assert not blink or Action.BLINK in actions
        assert all(a != b for a, b in itertools.pairwise(actions))


def test_pose_step_can_be_turned_off() -> None:
    limits = ChallengeLimits(min_actions=1, max_actions=1, require_pose=False)
    actions = {plan_script(limits, random.Random(s)).challenges[0].action for s in range(200)}
    assert actions == set(Action)


def test_scripts_vary_in_order_and_timing() -> None:
    scripts = [plan_script(ChallengeLimits(), random.Random(seed)) for seed in range(300)]
    firsts = Counter(s.challenges[0].action for s in scripts)
    assert set(firsts) == set(Action)  # every action can come first
    assert max(firsts.values()) < 0.35 * len(scripts)
    starts = {round(s.challenges[0].start_s, 2) for s in scripts}
    assert len(starts) > 50  # timing is not predictable either


def test_default_rng_is_cryptographic_and_unseeded() -> None:
    a, b = plan_script(ChallengeLimits()), plan_script(ChallengeLimits())
    assert a != b


def test_light_off() -> None:
    script = plan_script(ChallengeLimits(light=False), random.Random(1))
    assert script.light == ()
    assert script.light_at(0.1) is None


def test_action_and_light_lookup() -> None:
    script = plan_script(ChallengeLimits(), random.Random(3))
    step = script.challenges[0]
    assert script.action_at(step.start_s) is step.action
    assert script.action_at(step.end_s - 1e-6) is step.action
    assert script.action_at(0.0) is None
    first_light = script.light[0]
    assert script.light_at(first_light.start_s + 0.01) == first_light.rgb


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_actions": 0},
        {"min_actions": 3, "max_actions": 2},
        {"actions": (Action.BLINK,)},
        {"actions": (Action.BLINK, Action.APPROACH)},
        {"min_actions": 1, "require_blink": True},
    ],
)
def test_bad_limits(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ChallengeLimits(**kwargs)  # type: ignore[arg-type]
