"""From a liveness decision to a result: recognition, enrollment, lockout, token,
audit. Real engine embeddings of the fixture photos stand in for a session's
best frames; the decisions are built here (the unit under test is the resolver)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from session_support import ISSUER, Stack, embeddings

from support import face_path
from veronica.errors import EnrollmentLinkInvalidError
from veronica.liveness.decision import DecisionReason
from veronica.liveness.session import LivenessDecision
from veronica.liveness.signals import FaceSample
from veronica.liveness.types import Check, CheckFamily
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine
from veronica.security.tokens import verify_result_token
from veronica.sessions import NewSession, Reason, SessionRecord, Status
from veronica.sessions.outcome import token_checks

LIVE_CHECKS = (
    Check("challenge_1_turn_left", 20.0, 12.0, True, family=CheckFamily.CHALLENGE),
    Check("challenge_2_blink", 0.1, 0.05, True, family=CheckFamily.CHALLENGE),
    Check("light_challenge", 0.8, 0.5, True, "40 frames", family=CheckFamily.LIGHT),
    Check("pad", 0.9, 0.5, True, family=CheckFamily.PAD),
    Check("frozen_frames", 0.0, 0.2, True, family=CheckFamily.CONSISTENCY),
    Check("identity", 0.9, 0.5, True, family=CheckFamily.IDENTITY),
    Check("clock_drift", 0.05, 0.5, True, family=CheckFamily.CLOCK),
)
FAMILIES = ["challenge", "light", "pad", "consistency", "identity", "clock"]


def samples(vectors: Sequence[Vector], posed: bool = False) -> tuple[FaceSample, ...]:
    return tuple(
        FaceSample(
            t=i * 0.1, embedding=v, quality=0.8, yaw_deg=25.0 if posed else 0.0,
            pitch_deg=0.0, posed=posed, lit=False, similarity=0.9,
        )
        for i, v in enumerate(vectors)
    )  # fmt: skip


def live(vectors: Sequence[Vector], extra: Sequence[Vector] = ()) -> LivenessDecision:
    """A live session whose best frames are ``vectors``; ``extra``: more embedded
    frames (the session's other samples)."""
    return LivenessDecision(
        live=True,
        checks=LIVE_CHECKS,
        reason=DecisionReason.LIVE,
        embeddings=tuple(vectors),
        samples=samples([*vectors, *extra]),
        score=0.5,
    )


def refused(reason: str) -> LivenessDecision:
    return LivenessDecision(live=False, checks=LIVE_CHECKS[:2], reason=DecisionReason(reason))


def session(stack: Stack, **request: object) -> SessionRecord:
    return stack.manager.create(NewSession(**request), "203.0.113.7")  # type: ignore[arg-type]


def enroll(stack: Stack, name: str, *refs: tuple[str, int]) -> None:
    stack.service.enroll(name, [face_path(p, n).read_bytes() for p, n in refs])


def failures(stack: Stack, key: str) -> int:
    return stack.lockout.state([key], stack.clock.now).failures


def test_one_to_one_match_signs_in(stack: Stack, face_engine: FaceEngine) -> None:
    enroll(stack, "obama", ("obama", 1))
    s = session(stack, username="obama", return_to=f"{ISSUER}/result")
    result = stack.outcomes.resolve(
        s, live(embeddings(face_engine, ("obama", 2), ("obama", 3))), stack.clock.now
    )
    assert (result.status, result.reason, result.username) == (Status.SIGNED_IN, Reason.OK, "obama")
    assert result.token is not None
    assert result.redirect == f"{ISSUER}/result#token={result.token}"
    claims = verify_result_token(result.token, stack.signer.jwks(), issuer=ISSUER, audience=ISSUER)
    assert claims["sub"] == "obama" and claims["jti"] == s.id
    assert claims["checks"] == [*FAMILIES, "match"]
    event = stack.audit.recent()[0].event
    assert (event.decision, event.reason, event.username) == ("accepted", "ok", "obama")
    match = next(c for c in event.checks if c.name == "match")
    assert match.passed and match.limit == stack.service.threshold


def test_one_to_one_mismatch_is_not_recognized_and_counts(
    stack: Stack, face_engine: FaceEngine
) -> None:
    enroll(stack, "obama", ("obama", 1))
    s = session(stack, username="obama")
    result = stack.outcomes.resolve(s, live(embeddings(face_engine, ("biden", 1))), stack.clock.now)
    assert (result.status, result.reason) == (Status.REFUSED, Reason.NOT_RECOGNIZED)
    assert result.username is None and result.token is None  # never says whose face
    assert failures(stack, "user:obama") == 1 and failures(stack, "ip:203.0.113.7") == 1
    event = stack.audit.recent()[0].event
    assert (event.decision, event.username) == ("refused", "obama")
    assert not next(c for c in event.checks if c.name == "match").passed


def test_unknown_user_looks_like_a_mismatch(stack: Stack, face_engine: FaceEngine) -> None:
    s = session(stack, username="nobody")
    result = stack.outcomes.resolve(s, live(embeddings(face_engine, ("obama", 1))), stack.clock.now)
    assert (result.status, result.reason, result.username) == (
        Status.REFUSED,
        Reason.NOT_RECOGNIZED,
        None,
    )


def test_most_best_frames_must_match(stack: Stack, face_engine: FaceEngine) -> None:
    enroll(stack, "obama", ("obama", 1))
    barely = embeddings(face_engine, ("obama", 2), ("biden", 1), ("biden", 2))
    now = stack.clock.now
    result = stack.outcomes.resolve(session(stack, username="obama"), live(barely), now)
    assert result.reason is Reason.NOT_RECOGNIZED
    match = next(c for c in stack.audit.recent()[0].event.checks if c.name == "match")
    assert not match.passed


def test_every_embedded_frame_must_match_the_user(stack: Stack, face_engine: FaceEngine) -> None:
    """Liveness by proxy: the best frames are the victim, another embedded frame
    (a challenge response) is someone else."""
    enroll(stack, "obama", ("obama", 1))
    best = embeddings(face_engine, ("obama", 2), ("obama", 3))
    now = stack.clock.now
    assert stack.outcomes.resolve(session(stack, username="obama"), live(best), now).ok
    proxy = live(best, extra=embeddings(face_engine, ("biden", 1)))
    result = stack.outcomes.resolve(session(stack, username="obama"), proxy, now)
    assert (result.status, result.reason) == (Status.REFUSED, Reason.NOT_RECOGNIZED)
    every = next(c for c in stack.audit.recent()[0].event.checks if c.name == "match_every_frame")
    assert not every.passed and "t=0.20" in every.detail
    assert failures(stack, "user:obama") == 1  # a live face that did not match


def test_identification(stack: Stack, face_engine: FaceEngine) -> None:
    enroll(stack, "obama", ("obama", 1))
    enroll(stack, "biden", ("biden", 1))
    now = stack.clock.now
    found = stack.outcomes.resolve(session(stack), live(embeddings(face_engine, ("biden", 2))), now)
    assert (found.status, found.username) == (Status.SIGNED_IN, "biden")
    stranger = live(embeddings(face_engine, ("rose_leslie", 1)))
    nobody = stack.outcomes.resolve(session(stack), stranger, now)
    assert (nobody.reason, nobody.username) == (Reason.NOT_RECOGNIZED, None)
    assert stack.audit.recent()[0].event.username is None


def test_identification_honours_the_identified_users_lockout(
    stack: Stack, face_engine: FaceEngine
) -> None:
    enroll(stack, "obama", ("obama", 1))
    enroll(stack, "biden", ("biden", 1))
    for _ in range(5):
        stack.lockout.record_failure(["user:biden"], stack.clock.now)
    found = stack.outcomes.resolve(
        session(stack), live(embeddings(face_engine, ("biden", 2))), stack.clock.now
    )
    assert (found.status, found.reason) == (Status.REFUSED, Reason.LOCKED_OUT)


def test_identification_counts_failures_against_the_identified_user(
    stack: Stack, face_engine: FaceEngine
) -> None:
    enroll(stack, "obama", ("obama", 1))
    enroll(stack, "biden", ("biden", 1))
    best = embeddings(face_engine, ("biden", 2))
    proxy = live(best, extra=embeddings(face_engine, ("rose_leslie", 1)))
    result = stack.outcomes.resolve(session(stack), proxy, stack.clock.now)
    assert result.reason is Reason.NOT_RECOGNIZED
    assert failures(stack, "user:biden") == 1 and failures(stack, "ip:203.0.113.7") == 1


def test_live_without_samples_is_not_recognized(stack: Stack) -> None:
    result = stack.outcomes.resolve(session(stack), live(()), stack.clock.now)
    assert result.reason is Reason.NOT_RECOGNIZED


@pytest.mark.parametrize(
    ("reason", "placed", "expected"),
    [
        ("timeout", False, Reason.NO_FACE),
        ("timeout", True, Reason.TIMEOUT),
        ("liveness_failed", True, Reason.LIVENESS_FAILED),
        ("clock_drift", True, Reason.CLOCK_DRIFT),
    ],
)
def test_refusal_categories(stack: Stack, reason: str, placed: bool, expected: Reason) -> None:
    s = session(stack, username="obama")
    s.placed_ever = placed
    result = stack.outcomes.resolve(s, refused(reason), stack.clock.now)
    assert (result.status, result.reason, result.username) == (Status.REFUSED, expected, None)
    # No live face was presented: the address counts the failure, the user does not
    # (a stranger's timeouts cannot lock a user out).
    assert failures(stack, "user:obama") == 0 and failures(stack, "ip:203.0.113.7") == 1
    event = stack.audit.recent()[0].event
    assert event.reason == expected.value
    assert [c.name for c in event.checks] == [c.name for c in LIVE_CHECKS[:2]]


def test_locked_at_decision_time(stack: Stack, face_engine: FaceEngine) -> None:
    enroll(stack, "obama", ("obama", 1))
    s = session(stack, username="obama")  # opened before the lockout
    for _ in range(5):
        stack.lockout.record_failure(["user:obama"], stack.clock.now)
    result = stack.outcomes.resolve(s, live(embeddings(face_engine, ("obama", 2))), stack.clock.now)
    assert (result.status, result.reason, result.token) == (Status.REFUSED, Reason.LOCKED_OUT, None)
    assert failures(stack, "user:obama") == 5  # not counted again


def test_success_clears_the_users_counter_not_the_addresss(
    stack: Stack, face_engine: FaceEngine
) -> None:
    enroll(stack, "obama", ("obama", 1))
    stack.lockout.record_failure(["user:obama", "ip:203.0.113.7"], stack.clock.now)
    s = session(stack, username="obama")
    assert stack.outcomes.resolve(
        s, live(embeddings(face_engine, ("obama", 2))), stack.clock.now
    ).ok
    assert failures(stack, "user:obama") == 0 and failures(stack, "ip:203.0.113.7") == 1


def test_enrollment_by_link_is_single_use(stack: Stack, face_engine: FaceEngine) -> None:
    stack.service.store.create_user("obama")
    token, _ = stack.links.issue("obama", 3600)
    first, second = session(stack, enrollment_token=token), session(stack, enrollment_token=token)
    samples = embeddings(face_engine, ("obama", 1), ("obama", 2))
    result = stack.outcomes.resolve(first, live(samples), stack.clock.now)
    assert (result.status, result.username) == (Status.ENROLLED, "obama")
    claims = verify_result_token(
        result.token or "", stack.signer.jwks(), issuer=ISSUER, audience=ISSUER
    )
    assert claims["purpose"] == "enroll" and "match" not in claims["checks"]
    assert stack.service.store.get_user("obama").template_count == 2  # type: ignore[union-attr]
    with pytest.raises(EnrollmentLinkInvalidError):
        stack.links.peek(token)
    # The second session was opened with the same link before it was spent.
    again = stack.outcomes.resolve(second, live(samples), stack.clock.now)
    assert (again.status, again.reason) == (Status.REFUSED, Reason.NOT_RECOGNIZED)
    assert stack.service.store.get_user("obama").template_count == 2  # type: ignore[union-attr]


def test_enrollment_must_match_existing_templates(stack: Stack, face_engine: FaceEngine) -> None:
    enroll(stack, "obama", ("obama", 1))
    token, _ = stack.links.issue("obama", 3600)
    s = session(stack, enrollment_token=token)
    result = stack.outcomes.resolve(s, live(embeddings(face_engine, ("biden", 1))), stack.clock.now)
    assert (result.status, result.reason) == (Status.REFUSED, Reason.NOT_RECOGNIZED)
    assert stack.service.store.get_user("obama").template_count == 1  # type: ignore[union-attr]


def test_refused_frames_are_kept_for_review(stack: Stack) -> None:
    s = session(stack)
    s.recent_frames.extend([b"\xff\xd8\xffone", b"\xff\xd8\xfftwo"])
    stack.outcomes.resolve(s, refused("liveness_failed"), stack.clock.now)
    record = stack.audit.recent()[0]
    assert record.image_count == 2
    assert stack.audit.images(record.id) == [b"\xff\xd8\xffone", b"\xff\xd8\xfftwo"]


def test_token_checks_name_only_families_that_ran_and_passed() -> None:
    assert token_checks(LIVE_CHECKS) == FAMILIES
    no_light = tuple(c for c in LIVE_CHECKS if c.family is not CheckFamily.LIGHT)
    assert "light" not in token_checks(no_light)
    weak_pad = tuple(replace(c, passed=False) if c.name == "pad" else c for c in LIVE_CHECKS)
    assert "pad" not in token_checks(weak_pad)
    assert token_checks(()) == []
