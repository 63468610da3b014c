"""The simulated person's moves: reaction, a second try while a prompt stays."""

from __future__ import annotations

from veronica.liveness.types import Action
from veronica.simulation.motion import Behaviour, Performer

STEADY = Behaviour(
    latency_s=(0.5, 0.5),
    move_s=(0.5, 0.5),
    hold_s=(1.0, 1.0),
    turn_deg=(20.0, 20.0),
    blink_s=(0.3, 0.3),
    sway_deg=0.0,
    sway_mm=0.0,
    notice_s=(0.4, 0.4),
    push=(1.4, 1.4),
)
"""No randomness left: every draw is a point."""
FPS = 20.0


def yaws(performer: Performer, shown: list[Action | None]) -> list[float]:
    return [performer.pose(i / FPS, action).yaw for i, action in enumerate(shown)]


def test_a_turn_that_is_acknowledged_returns_to_rest() -> None:
    # Shown for 1.2 s (withdrawn once the server saw it), then nothing.
    shown = [Action.TURN_LEFT] * 24 + [None] * 40
    turn = yaws(Performer(1, STEADY), shown)
    assert 19.0 < max(turn) <= 20.0
    assert abs(turn[-1]) < 0.5


def test_a_prompt_that_stays_is_answered_by_turning_further() -> None:
    # Reached 20° at 1.0 s; still asked at 1.4 s: on to 28° by 1.9 s; still
    # asked at 2.3 s: on towards 39.2°, but no further than 35°; no fourth try.
    turn = yaws(Performer(1, STEADY), [Action.TURN_LEFT] * 80)
    assert max(turn[:28]) <= 20.0 + 1e-9
    assert 27.0 < max(turn[:46]) <= 28.0 + 1e-9
    assert 34.5 < max(turn) <= 35.0 + 1e-9


def test_a_second_try_stays_within_a_comfortable_turn() -> None:
    far = Behaviour(**{**STEADY.__dict__, "turn_deg": (30.0, 30.0)})
    turn = yaws(Performer(1, far), [Action.TURN_RIGHT] * 60)
    assert min(turn) >= -35.0 - 1e-9 and min(turn) < -34.0


def test_a_blink_prompt_that_stays_gets_another_blink() -> None:
    performer = Performer(2, STEADY)
    closed = [performer.pose(i / FPS, Action.BLINK).eyes_closed for i in range(60)]
    shut = [i for i, c in enumerate(closed) if c > 0.5]
    # A blink from 0.5 s for 0.3 s; noticed 0.4 s after it ended; again, and again.
    starts = [i for i in shut if i - 1 not in shut]
    assert len(starts) == 1 + STEADY.retries
    assert starts[0] / FPS < 0.7 < starts[1] / FPS


def test_no_second_blink_once_acknowledged() -> None:
    performer = Performer(2, STEADY)
    shown = [Action.BLINK] * 18 + [None] * 42
    closed = [performer.pose(i / FPS, a).eyes_closed for i, a in enumerate(shown)]
    shut = [i for i, c in enumerate(closed) if c > 0.5]
    assert shut and all(i < 18 for i in shut)
