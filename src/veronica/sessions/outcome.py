"""From a liveness decision to the session's result: recognition or enrollment,
the validator's decision, the signed token, lockout counting and the audit.

Recognition adds its checks (family ``match``) to the liveness checks and the
whole set goes to the one decision rule, ``liveness.decision.decide``. Every
embedded frame of the session must match the recognised user, not only the
best ones: frames of another person among them ("liveness by proxy") refuse
the session.

Lockout counting: every refusal counts against the client's address; a refusal
counts against a user only when a live face was presented and did not match
that user (or matched a locked one), so a stranger's timeouts and failed
liveness cannot lock a user out. A success clears the user's counter, never the
address's.

The client learns only a reason category; the audit log gets every check with
its value, limit and detail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from veronica.errors import (
    BadInputError,
    EnrollmentLinkInvalidError,
    LockedOutError,
    NotFoundError,
    ReenrollmentRequiredError,
)
from veronica.liveness.decision import DecisionReason, decide, passed_families
from veronica.liveness.session import LivenessDecision
from veronica.liveness.signals import FaceSample
from veronica.liveness.types import Check, CheckFamily
from veronica.pipeline.embed import Vector
from veronica.security.lockout import Lockout
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions.return_to import origin_of
from veronica.sessions.state import Purpose, Reason, SessionResult, Status
from veronica.sessions.store import SessionRecord
from veronica.storage.audit import AuditCheck, AuditEvent, AuditLog
from veronica.storage.enrollment_links import EnrollmentLinks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameMatchLimits:
    """How well every embedded frame must match the recognised user's templates.

    The decision itself is the best frames' lower median against the operating
    threshold (``FaceService``); these per-frame limits only refuse a session
    whose other frames show someone else. They are lower than the threshold
    because they apply to every frame, including turned and blinking ones."""

    frontal: float = 0.35
    """Same-person LFW pairs (another day) with a frontal probe fall below 0.35 in
    fewer than 1 in 100 (p1 0.48); a stranger's frame exceeds it in ~1 in 100
    (p99 0.35). docs/MODELS.md, "Identity under pose and blinks"."""
    posed: float = 0.30
    """Turned (up to 45°) or pitched probes: same-person p1 0.34–0.46; a stranger
    exceeds 0.30 in a few per cent of frames. A proxy's several posed response
    frames must all pass, and each must also pass the session's own identity
    check (``IdentityLimits``), which is the strict one."""


def token_audience(return_to: str | None, issuer: str) -> str:
    """``aud`` of a result token: the origin of the site it goes to (``return_to``),
    or this service's own origin (its result page). A token for one site is then
    refused by every other site's verification."""
    return origin_of(return_to or "") or origin_of(issuer) or issuer


def token_checks(checks: Sequence[Check]) -> list[str]:
    """The check families a token vouches for: every deciding check of the family
    ran and passed (``decision.passed_families``)."""
    return [family.value for family in passed_families(checks)]


@dataclass(frozen=True)
class OutcomeConfig:
    issuer: str
    """The service's public URL (``iss`` of the tokens)."""
    token_ttl_s: int
    frame_match: FrameMatchLimits = field(default_factory=FrameMatchLimits)


@dataclass(frozen=True)
class _Recognition:
    username: str | None
    """Who the face is (login) or was enrolled as; None when refused."""
    reason: Reason
    checks: tuple[Check, ...] = ()
    detail: str = ""
    failed_user: str | None = None
    """The user a live face was presented for and did not match (lockout)."""


def _match_check(name: str, value: float, limit: float, detail: str = "") -> Check:
    return Check(name, value, limit, value >= limit, detail, family=CheckFamily.MATCH)


class OutcomeResolver:
    def __init__(
        self,
        *,
        service: FaceService,
        signer: ResultSigner,
        lockout: Lockout,
        audit: AuditLog,
        links: EnrollmentLinks,
        config: OutcomeConfig,
    ) -> None:
        self.service = service
        self.signer = signer
        self.lockout = lockout
        self.audit = audit
        self.links = links
        self.config = config

    def check_identification(self) -> None:
        """Raise ``GalleryTooLargeError`` when 1:N sign-in cannot meet its target."""
        self.service.check_identification()

    def resolve(
        self, session: SessionRecord, decision: LivenessDecision, now: float
    ) -> SessionResult:
        """The result of a decided session, with every side effect done."""
        at = datetime.fromtimestamp(now, UTC)
        if not decision.live:
            reason = self._refusal_reason(session, decision)
            self.lockout.record_failure([session.address_lock_key], now)
            result = SessionResult(Status.REFUSED, reason)
            self._audit(session, decision.checks, result, None, "", at)
            return result
        recognition = self._recognise(session, decision, now)
        checks = decision.checks + recognition.checks
        verdict = decide(checks, reached=True)
        if verdict.live and recognition.username is not None:
            result = self._success(session, checks, recognition.username, at)
        else:
            # Recognition's own reason (locked out, not recognised) unless it found
            # no fault and the validator did.
            reason = recognition.reason
            if reason is Reason.OK:
                reason = Reason.LIVENESS_FAILED
            result = SessionResult(Status.REFUSED, reason)
            keys = [session.address_lock_key]
            if recognition.failed_user is not None:
                keys.insert(0, f"user:{recognition.failed_user}")
            if reason is not Reason.LOCKED_OUT or recognition.failed_user is not None:
                self.lockout.record_failure(keys, now)
        self._audit(session, checks, result, recognition.username, recognition.detail, at)
        return result

    def ended(self, session: SessionRecord, reason: Reason, now: float) -> SessionResult:
        """An undecided session ran out of time (TTL) or stopped sending frames
        (``inactive``): audited; an idle session counts against its address, since
        holding sessions open without frames is how admission slots are hoarded."""
        result = SessionResult(Status.REFUSED, reason)
        if reason is Reason.INACTIVE:
            self.lockout.record_failure([session.address_lock_key], now)
        at = datetime.fromtimestamp(now, UTC)
        self._audit(session, (), result, None, "", at)
        return result

    @staticmethod
    def _refusal_reason(session: SessionRecord, decision: LivenessDecision) -> Reason:
        if decision.reason is DecisionReason.TIMEOUT:
            return Reason.TIMEOUT if session.placed_ever else Reason.NO_FACE
        if decision.reason is DecisionReason.CLOCK_DRIFT:
            return Reason.CLOCK_DRIFT
        return Reason.LIVENESS_FAILED

    def _recognise(
        self, session: SessionRecord, decision: LivenessDecision, now: float
    ) -> _Recognition:
        embeddings = decision.embeddings
        try:
            # Again at the decision: sessions opened in parallel before a lockout
            # must not finish after it.
            self.lockout.check(session.lockout_keys, now)
        except LockedOutError:
            return _Recognition(None, Reason.LOCKED_OUT, detail="locked at decision")
        if not embeddings:
            return _Recognition(None, Reason.NOT_RECOGNIZED, detail="no frontal face samples")
        if session.purpose is Purpose.ENROLL:
            return self._enroll(session, embeddings, decision.qualities)
        if session.username is not None:
            return self._verify(session.username, decision)
        return self._identify(decision, now)

    def _verify(self, username: str, decision: LivenessDecision) -> _Recognition:
        try:
            verified = self.service.verify_embeddings(username, decision.embeddings)
            every = self._every_frame(username, decision.samples)
        except (NotFoundError, ReenrollmentRequiredError) as exc:
            # Unknown user, nothing enrolled, or another model: all the same to the
            # client (the reason never tells who exists), and no user to count.
            return _Recognition(None, Reason.NOT_RECOGNIZED, detail=exc.code)
        match = _match_check("match", verified.similarity, verified.threshold)
        checks = (match, every)
        if match.passed and every.passed:
            return _Recognition(username, Reason.OK, checks)
        return _Recognition(None, Reason.NOT_RECOGNIZED, checks, failed_user=username)

    def _identify(self, decision: LivenessDecision, now: float) -> _Recognition:
        identified = self.service.identify_embeddings(decision.embeddings)
        threshold = identified.threshold if identified.threshold is not None else 1.0
        best = identified.best
        if best is None:
            top = identified.candidates[0].similarity if identified.candidates else -1.0
            match = _match_check("match", top, threshold, "1:N: nobody passed the threshold")
            return _Recognition(None, Reason.NOT_RECOGNIZED, (match,))
        try:
            self.lockout.check([f"user:{best.name}"], now)
        except LockedOutError:
            return _Recognition(None, Reason.LOCKED_OUT, detail="identified user is locked")
        match = _match_check("match", best.similarity, threshold, "1:N")
        every = self._every_frame(best.name, decision.samples)
        checks = (match, every)
        if every.passed:
            return _Recognition(best.name, Reason.OK, checks)
        return _Recognition(None, Reason.NOT_RECOGNIZED, checks, failed_user=best.name)

    def _every_frame(self, username: str, samples: Sequence[FaceSample]) -> Check:
        """``match_every_frame``: the weakest embedded frame against its limit."""
        limits = self.config.frame_match
        if not samples:
            return _match_check("match_every_frame", -1.0, limits.frontal, "no samples")
        scores = self.service.frame_similarities(username, [s.embedding for s in samples])
        margins = [
            (score - (limits.posed if s.posed else limits.frontal), score, s)
            for score, s in zip(scores, samples, strict=True)
        ]
        _, score, weakest = min(margins, key=lambda m: m[0])
        limit = limits.posed if weakest.posed else limits.frontal
        detail = f"{len(samples)} frames; weakest at t={weakest.t:.2f} s" + (
            " (posed)" if weakest.posed else ""
        )
        return _match_check("match_every_frame", score, limit, detail)

    def _enroll(
        self, session: SessionRecord, embeddings: Sequence[Vector], qualities: Sequence[float]
    ) -> _Recognition:
        assert session.username is not None and session.enrollment_token is not None
        try:
            # Used up before the templates are written: of two sessions racing on
            # one link, one enrolls. A face that does not match the user's existing
            # templates uses the link up too (it looks like someone else's face).
            name = self.links.redeem(session.enrollment_token)
        except EnrollmentLinkInvalidError:
            return _Recognition(None, Reason.NOT_RECOGNIZED, detail="link already used")
        try:
            self.service.enroll_embeddings(name, embeddings, qualities or None)
        except (BadInputError, NotFoundError) as exc:
            return _Recognition(None, Reason.NOT_RECOGNIZED, detail=exc.message)
        return _Recognition(name, Reason.OK)

    def _success(
        self, session: SessionRecord, checks: Sequence[Check], username: str, at: datetime
    ) -> SessionResult:
        # Only the user's counter: clearing the address's would let one address
        # interleave its own successes with attempts on other accounts.
        self.lockout.record_success([f"user:{username}"])
        login = session.purpose is Purpose.LOGIN
        if session.oidc_request is not None:
            # The relying site gets an authorization code (oidc.provider.finish) for
            # this result; a token readable by the page's scripts is not needed.
            return SessionResult(Status.SIGNED_IN, Reason.OK, username=username)
        token = self.signer.sign(
            subject=username,
            purpose=session.purpose.value,
            checks=token_checks(checks),
            session_id=session.id,
            issuer=self.config.issuer,
            audience=token_audience(session.return_to, self.config.issuer),
            ttl_s=self.config.token_ttl_s,
            now=at,
            nonce=session.nonce,
        )
        redirect = f"{session.return_to}#token={token}" if session.return_to else None
        return SessionResult(
            Status.SIGNED_IN if login else Status.ENROLLED,
            Reason.OK,
            username=username,
            token=token,
            redirect=redirect,
        )

    def _audit(
        self,
        session: SessionRecord,
        checks: Sequence[Check],
        result: SessionResult,
        username: str | None,
        detail: str,
        at: datetime,
    ) -> None:
        reason = result.reason.value
        if detail:
            logger.info("session %s: %s (%s)", session.id, reason, detail)
        self.audit.record(
            AuditEvent(
                session_id=session.id,
                purpose=session.purpose.value,
                client_ip=session.client_ip,
                username=username or session.username,
                decision="accepted" if result.ok else "refused",
                reason=reason,
                checks=tuple(
                    AuditCheck(c.name, c.value, c.limit, c.passed, c.detail, c.deciding)
                    for c in checks
                ),
                time=at,
            ),
            images=tuple(session.recent_frames),
        )
