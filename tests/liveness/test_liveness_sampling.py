"""Which frames are embedded: a random draw plus every response frame."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from veronica.liveness.challenges import ChallengeLimits, plan_script
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.sampling import EmbeddingSampler, SamplingLimits
from veronica.liveness.types import Action

LIGHT_FIELDS = ("light", "light_palette", "light_fade_s", "light_step_s", "light_colours")


def test_the_draw_hits_at_its_probability() -> None:
    limits = SamplingLimits(embed_probability=0.3, positioning_probability=0.6)
    sampler = EmbeddingSampler(limits, random.Random(7))
    hits = sum(sampler.draw() for _ in range(10_000))
    assert 2800 < hits < 3200
    placing = sum(sampler.draw(positioning=True) for _ in range(10_000))
    assert 5800 < placing < 6200


def test_the_service_draws_from_a_cryptographic_rng() -> None:
    import secrets

    sampler = EmbeddingSampler(SamplingLimits())
    assert isinstance(sampler._rng, secrets.SystemRandom)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_limits_are_validated(bad: float) -> None:
    with pytest.raises(ValueError):
        SamplingLimits(embed_probability=bad)
    with pytest.raises(ValueError):
        SamplingLimits(response_fraction=bad)
    with pytest.raises(ValueError):
        SamplingLimits(positioning_probability=bad)


def test_the_gentle_light_keeps_the_actions_of_the_light_challenge() -> None:
    flash, gentle = (LivenessPolicy().for_light(m) for m in (LightMode.FLASH, LightMode.GENTLE))
    assert replace(
        gentle.challenges, **{f: getattr(flash.challenges, f) for f in LIGHT_FIELDS}
    ) == (flash.challenges)
    for seed in range(50):
        script = plan_script(gentle.challenges, random.Random(seed))
        assert script.gentle and 2 <= len(script.challenges) <= 3


def test_the_script_without_light_has_more_actions_and_a_blink() -> None:
    policy = LivenessPolicy().for_light(LightMode.NONE)
    low, high = policy.opt_out_actions
    for seed in range(200):
        script = plan_script(policy.challenges, random.Random(seed))
        assert not script.light
        assert low <= len(script.challenges) <= high
        actions = [s.action for s in script.challenges]
        assert Action.BLINK in actions
        assert all(a != b for a, b in itertools.pairwise(actions))


def test_require_blink_needs_blink_among_the_actions() -> None:
    with pytest.raises(ValueError):
        ChallengeLimits(require_blink=True, actions=(Action.TURN_LEFT, Action.TURN_RIGHT))
