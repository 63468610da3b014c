"""The Validator: one pure function from checks to a decision.

The liveness session calls it with its own checks when it ends; the session
layer calls it again with the recognition checks added (``sessions/outcome.py``),
so one rule decides every session and a reviewer finds it in one place:

1. a claimed clock that drifted from the server's → ``clock_drift`` (nothing
   the client sent can be trusted then);
2. positioning never completed → ``timeout``;
3. any deciding liveness check failed → ``liveness_failed``;
4. any deciding recognition check failed → ``not_recognized``;
5. otherwise ``live``.

Nothing measured is never live: a decision without a single deciding check is
``liveness_failed``. Advisory checks are reported and never decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from veronica.liveness.types import Check, CheckFamily


class DecisionReason(StrEnum):
    LIVE = "live"
    LIVENESS_FAILED = "liveness_failed"
    TIMEOUT = "timeout"
    """Positioning did not complete within its time (server clock)."""
    CLOCK_DRIFT = "clock_drift"
    NOT_RECOGNIZED = "not_recognized"


@dataclass(frozen=True)
class Verdict:
    live: bool
    reason: DecisionReason
    score: float
    """In [-1, 1]: the smallest margin (``Check.margin``) of the deciding checks;
    -1 when the session was not judged (timeout, clock drift). ``live`` is
    exactly ``score >= 0`` for a judged session."""


def decide(checks: Sequence[Check], *, reached: bool) -> Verdict:
    """The decision over ``checks``. ``reached``: the session got past
    positioning (a recorded video always has)."""
    deciding = [c for c in checks if c.deciding]
    failed = [c for c in deciding if not c.passed]
    if any(c.family is CheckFamily.CLOCK for c in failed):
        return Verdict(False, DecisionReason.CLOCK_DRIFT, -1.0)
    if not reached:
        return Verdict(False, DecisionReason.TIMEOUT, -1.0)
    if not deciding:
        return Verdict(False, DecisionReason.LIVENESS_FAILED, -1.0)
    score = min(c.margin for c in deciding)
    if any(c.family is not CheckFamily.MATCH for c in failed):
        return Verdict(False, DecisionReason.LIVENESS_FAILED, score)
    if failed:
        return Verdict(False, DecisionReason.NOT_RECOGNIZED, score)
    return Verdict(True, DecisionReason.LIVE, score)


def passed_families(checks: Sequence[Check]) -> tuple[CheckFamily, ...]:
    """The families whose deciding checks all ran and passed, in a fixed order:
    what a result token may say was checked."""
    families: list[CheckFamily] = []
    for family in CheckFamily:
        mine = [c for c in checks if c.family is family and c.deciding]
        if mine and all(c.passed for c in mine):
            families.append(family)
    return tuple(families)
