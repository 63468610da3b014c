"""The one decision rule (``liveness.decision.decide``)."""

from __future__ import annotations

import pytest

from veronica.liveness.decision import DecisionReason, decide, passed_families
from veronica.liveness.types import Check, CheckFamily


def check(family: CheckFamily, passed: bool, *, deciding: bool = True, value: float = 1.0) -> Check:
    return Check(family.value, value, 0.5, passed, family=family, deciding=deciding)


LIVE = [check(CheckFamily.CHALLENGE, True), check(CheckFamily.PAD, True, value=0.9)]


def test_every_deciding_check_passed_is_live() -> None:
    verdict = decide(LIVE, reached=True)
    assert verdict.live and verdict.reason is DecisionReason.LIVE
    assert verdict.score == pytest.approx(min(c.margin for c in LIVE))


def test_a_failed_liveness_check_refuses() -> None:
    verdict = decide([*LIVE, check(CheckFamily.IDENTITY, False)], reached=True)
    assert not verdict.live and verdict.reason is DecisionReason.LIVENESS_FAILED
    assert verdict.score < 0


def test_a_failed_match_alone_is_not_recognized() -> None:
    verdict = decide([*LIVE, check(CheckFamily.MATCH, False)], reached=True)
    assert verdict.reason is DecisionReason.NOT_RECOGNIZED and not verdict.live


def test_liveness_failure_wins_over_a_match_failure() -> None:
    checks = [*LIVE, check(CheckFamily.MATCH, False), check(CheckFamily.LIGHT, False)]
    assert decide(checks, reached=True).reason is DecisionReason.LIVENESS_FAILED


def test_clock_drift_wins_over_everything() -> None:
    checks = [*LIVE, check(CheckFamily.CLOCK, False), check(CheckFamily.MATCH, False)]
    verdict = decide(checks, reached=False)
    assert verdict.reason is DecisionReason.CLOCK_DRIFT and verdict.score == -1.0


def test_positioning_that_never_ended_is_a_timeout() -> None:
    verdict = decide(LIVE, reached=False)
    assert verdict.reason is DecisionReason.TIMEOUT and verdict.score == -1.0


def test_advisory_checks_never_decide() -> None:
    verdict = decide([*LIVE, check(CheckFamily.GEOMETRY, False, deciding=False)], reached=True)
    assert verdict.live


def test_nothing_measured_is_never_live() -> None:
    verdict = decide([check(CheckFamily.GEOMETRY, True, deciding=False)], reached=True)
    assert not verdict.live and verdict.reason is DecisionReason.LIVENESS_FAILED


def test_token_families_are_those_that_ran_and_passed() -> None:
    checks = [
        *LIVE,
        check(CheckFamily.CONSISTENCY, True),
        check(CheckFamily.CONSISTENCY, False),
        check(CheckFamily.GEOMETRY, True, deciding=False),
    ]
    assert passed_families(checks) == (CheckFamily.CHALLENGE, CheckFamily.PAD)
