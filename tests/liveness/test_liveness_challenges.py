"""Challenge scripts: random, unpredictable, within their limits."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from veronica.liveness.challenges import (
    CHALLENGE_ACTIONS,
    GENTLE_GREY,
    GENTLE_PALETTE,
    LIGHT_PALETTE,
    ChallengeLimits,
    gentle_light,
    plan_script,
    script_end,
)
from veronica.liveness.types import Action, mix_srgb, srgb_to_linear


def test_script_respects_the_limits() -> None:
    limits = ChallengeLimits()
    for seed in range(200):
        script = plan_script(limits, random.Random(seed))
        assert limits.min_actions <= len(script.challenges) <= limits.max_actions
        assert 5 <= len(script.light) <= 6
        actions = [s.action for s in script.challenges]
        assert all(a != b for a, b in itertools.pairwise(actions))
        # Steps never overlap and the light phase comes first.
        times = [(s.start_s, s.end_s) for s in (*script.light, *script.challenges)]
        assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(times))
        assert all(s.rgb in LIGHT_PALETTE for s in script.light)
        # The head stays still while the light check still records the skin.
        still_s = script.challenges[0].start_s - script.light[-1].end_s
        assert still_s >= limits.light_settle_s + limits.min_gap_s
        assert script_end(script) < 21.5


@pytest.mark.parametrize(("min_actions", "blink"), [(2, False), (3, False), (3, True)])
def test_every_script_has_a_turn_and_a_look_up(min_actions: int, blink: bool) -> None:
    limits = ChallengeLimits(
        min_actions=min_actions, max_actions=4, actions=tuple(Action), require_blink=blink
    )
    for seed in range(300):
        actions = [s.action for s in plan_script(limits, random.Random(seed)).challenges]
        assert {Action.TURN_LEFT, Action.TURN_RIGHT} & set(actions), actions
        assert Action.LOOK_UP in actions
        assert not blink or Action.BLINK in actions
        assert all(a != b for a, b in itertools.pairwise(actions))


def test_required_steps_can_be_turned_off() -> None:
    limits = ChallengeLimits(
        min_actions=1, max_actions=1, require_turn=False, require_look_up=False
    )
    actions = {plan_script(limits, random.Random(s)).challenges[0].action for s in range(200)}
    assert actions == set(CHALLENGE_ACTIONS)


def test_scripts_with_light_ask_for_no_blink() -> None:
    # With a turn and a look-up in every script a blink stopped nothing more;
    # it stays in the script without light (LivenessPolicy.for_light(NONE)).
    for seed in range(300):
        actions = [c.action for c in plan_script(ChallengeLimits(), random.Random(seed)).challenges]
        assert Action.BLINK not in actions


def test_scripts_vary_in_order_and_timing() -> None:
    scripts = [plan_script(ChallengeLimits(), random.Random(seed)) for seed in range(300)]
    firsts = Counter(s.challenges[0].action for s in scripts)
    assert set(firsts) == set(CHALLENGE_ACTIONS)  # every action can come first
    # Every script has a look-up and a turn; which comes first is a coin flip.
    assert max(firsts.values()) < 0.55 * len(scripts)
    orders = Counter(tuple(c.action for c in s.challenges) for s in scripts)
    assert len(orders) > 20
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
        {"min_actions": 1},
        {"min_actions": 2, "require_blink": True},
        {"actions": (Action.LOOK_UP, Action.BLINK)},
        {"actions": (Action.TURN_LEFT, Action.BLINK)},
        {"light_palette": ((255, 0, 0),)},
        {"light_fade_s": 0.5},
        {"light_fade_s": -0.1},
    ],
)
def test_bad_limits(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ChallengeLimits(**kwargs)  # type: ignore[arg-type]


def relative_luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (srgb_to_linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_gentle_palette_has_one_luminance_and_no_saturated_red() -> None:
    # WCAG 2.x (2.3.1): a flash needs opposing luminance changes of 10 % or more;
    # a "saturated red" has R / (R + G + B) >= 0.8.
    for rgb in (*GENTLE_PALETTE, GENTLE_GREY):
        assert relative_luminance(rgb) == pytest.approx(0.24, abs=0.01), rgb
        assert rgb[0] / sum(rgb) < 0.8, rgb


def test_the_gentle_light_glides_without_a_flash() -> None:
    limits = gentle_light(ChallengeLimits())
    for seed in range(100):
        script = plan_script(limits, random.Random(seed))
        assert script.gentle
        assert script.light[0].rgb == GENTLE_GREY == script.light[-1].rgb
        assert 4 <= len(script.light) - 2 <= 5
        assert all(s.rgb in (*GENTLE_PALETTE, GENTLE_GREY) for s in script.light)
        colours = [script.light_at(script.light[0].start_s + i * 0.02) for i in range(400)]
        shown = [c for c in colours if c is not None]
        levels = [relative_luminance(c) for c in shown]
        assert max(levels) - min(levels) < 0.1
        # Never a cut: 20 ms apart, no channel's light changes by a tenth.
        assert all(
            max(abs(srgb_to_linear(x) - srgb_to_linear(y)) for x, y in zip(a, b, strict=True)) < 0.1
            for a, b in itertools.pairwise(shown)
        )


def test_a_flash_script_cuts_between_colours() -> None:
    script = plan_script(ChallengeLimits(), random.Random(4))
    assert not script.gentle
    second = script.light[1]
    assert script.light_at(second.start_s + 1e-6) == second.rgb


def test_mix_in_linear_light() -> None:
    assert mix_srgb((0, 0, 0), (255, 255, 255), 0.0) == (0, 0, 0)
    assert mix_srgb((0, 0, 0), (255, 255, 255), 1.0) == (255, 255, 255)
    # Half of white's light is sRGB 188, not 128.
    assert mix_srgb((0, 0, 0), (255, 255, 255), 0.5) == (188, 188, 188)
    half = mix_srgb((0, 158, 0), (237, 0, 237), 0.5)
    assert relative_luminance(half) == pytest.approx(0.24, abs=0.01)
