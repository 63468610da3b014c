"""From a liveness decision to the session's result: recognition or enrollment,
the signed token, lockout counting and the audit record.

The client learns only a reason category; the audit log gets every check with
its value and limit, plus the recognition score.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from veronica.errors import (
    BadInputError,
    EnrollmentLinkInvalidError,
    LockedOutError,
    NotFoundError,
    ReenrollmentRequiredError,
)
from veronica.liveness.session import LivenessDecision
from veronica.liveness.types import Check
from veronica.pipeline.embed import Vector
from veronica.security.lockout import Lockout
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions.state import Purpose, Reason, SessionResult, Status
from veronica.sessions.store import AuthSession
from veronica.storage.audit import AuditCheck, AuditEvent, AuditLog
from veronica.storage.enrollment_links import EnrollmentLinks

logger = logging.getLogger(__name__)

_CONSISTENCY = ("frozen_frames", "identity", "face_track", "timing", "second_face")


def token_checks(checks: Sequence[Check], matched: bool) -> list[str]:
    """The check families a token vouches for: all of a family's checks passed."""
    by_name = {c.name: c for c in checks}
    families: list[str] = []
    steps = [c for c in checks if c.name.startswith("challenge_")]
    if steps and all(c.passed for c in steps):
        families.append("challenge")
    light = by_name.get("light_challenge")
    if light is not None and light.passed and light.detail != "off":
        families.append("light")
    pad = by_name.get("pad")
    if pad is not None and pad.passed:
        families.append("pad")
    consistency = [by_name[n] for n in _CONSISTENCY if n in by_name]
    if consistency and all(c.passed for c in consistency):
        families.append("consistency")
    if matched:
        families.append("match")
    return families


@dataclass(frozen=True)
class OutcomeConfig:
    issuer: str
    """The service's public URL (``iss`` of the tokens)."""
    token_ttl_s: int


@dataclass(frozen=True)
class _Recognition:
    username: str | None
    """Who the face is (login) or was enrolled as; None when refused."""
    reason: Reason
    score: float | None = None
    threshold: float | None = None
    detail: str = ""


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

    def resolve(
        self, session: AuthSession, decision: LivenessDecision, now: float
    ) -> SessionResult:
        """The result of a decided session, with every side effect done."""
        at = datetime.fromtimestamp(now, UTC)
        extra: list[AuditCheck] = []
        if not decision.live:
            reason = self._refusal_reason(session, decision)
            recognition = _Recognition(None, reason)
        else:
            recognition = self._recognise(session, decision, now)
            if recognition.score is not None and recognition.threshold is not None:
                extra.append(
                    AuditCheck(
                        "match",
                        recognition.score,
                        recognition.threshold,
                        recognition.reason is Reason.OK,
                    )
                )
        if recognition.reason is Reason.OK:
            result = self._success(session, decision, recognition, at)
        else:
            result = SessionResult(Status.REFUSED, recognition.reason)
            if recognition.reason is not Reason.LOCKED_OUT:
                self.lockout.record_failure(session.lockout_keys, now)
        self._audit(session, decision, result, recognition, extra, at)
        return result

    def expired(self, session: AuthSession, now: float) -> SessionResult:
        """An undecided session ran out of time: audited, not counted as a failure
        (abandoning a page is not an attempt at someone's account)."""
        result = SessionResult(Status.REFUSED, Reason.SESSION_EXPIRED)
        at = datetime.fromtimestamp(now, UTC)
        self._audit(session, None, result, _Recognition(None, Reason.SESSION_EXPIRED), [], at)
        return result

    @staticmethod
    def _refusal_reason(session: AuthSession, decision: LivenessDecision) -> Reason:
        if decision.reason == "timeout":
            return Reason.TIMEOUT if session.placed_ever else Reason.NO_FACE
        return Reason.LIVENESS_FAILED

    def _recognise(
        self, session: AuthSession, decision: LivenessDecision, now: float
    ) -> _Recognition:
        embeddings = decision.embeddings
        try:
            # Again at the decision: sessions opened in parallel before a lockout
            # must not finish after it.
            self.lockout.check(session.lockout_keys, now)
        except LockedOutError:
            return _Recognition(None, Reason.LOCKED_OUT, detail="locked at decision")
        if not embeddings:
            return _Recognition(None, Reason.NOT_RECOGNIZED, detail="no face samples")
        if session.purpose is Purpose.ENROLL:
            return self._enroll(session, embeddings, decision.qualities)
        threshold = self.service.threshold
        if session.username is not None:
            try:
                verified = self.service.verify_embeddings(session.username, embeddings)
            except (NotFoundError, ReenrollmentRequiredError) as exc:
                # Unknown user, nothing enrolled, or another model: all the same to
                # the client (the reason never tells who exists).
                return _Recognition(None, Reason.NOT_RECOGNIZED, detail=exc.code)
            reason = Reason.OK if verified.matched else Reason.NOT_RECOGNIZED
            name = session.username if verified.matched else None
            return _Recognition(name, reason, verified.similarity, threshold)
        identified = self.service.identify_embeddings(embeddings)
        if identified.best is not None:
            best = identified.best
            return _Recognition(best.name, Reason.OK, best.similarity, threshold)
        top = identified.candidates[0].similarity if identified.candidates else None
        return _Recognition(None, Reason.NOT_RECOGNIZED, top, threshold)

    def _enroll(
        self, session: AuthSession, embeddings: Sequence[Vector], qualities: Sequence[float]
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
        self,
        session: AuthSession,
        decision: LivenessDecision,
        recognition: _Recognition,
        at: datetime,
    ) -> SessionResult:
        assert recognition.username is not None
        self.lockout.record_success(
            tuple(dict.fromkeys((*session.lockout_keys, f"user:{recognition.username}")))
        )
        login = session.purpose is Purpose.LOGIN
        token = self.signer.sign(
            subject=recognition.username,
            purpose=session.purpose.value,
            checks=token_checks(decision.checks, matched=login),
            session_id=session.id,
            issuer=self.config.issuer,
            ttl_s=self.config.token_ttl_s,
            now=at,
        )
        redirect = f"{session.return_to}#token={token}" if session.return_to else None
        return SessionResult(
            Status.SIGNED_IN if login else Status.ENROLLED,
            Reason.OK,
            username=recognition.username,
            token=token,
            redirect=redirect,
        )

    def _audit(
        self,
        session: AuthSession,
        decision: LivenessDecision | None,
        result: SessionResult,
        recognition: _Recognition,
        extra: Sequence[AuditCheck],
        at: datetime,
    ) -> None:
        checks = tuple(
            AuditCheck(c.name, c.value, c.limit, c.passed)
            for c in (decision.checks if decision is not None else ())
        )
        reason = result.reason.value
        if recognition.detail:
            logger.info("session %s: %s (%s)", session.id, reason, recognition.detail)
        self.audit.record(
            AuditEvent(
                session_id=session.id,
                purpose=session.purpose.value,
                client_ip=session.client_ip,
                username=recognition.username or session.username,
                decision="accepted" if result.ok else "refused",
                reason=reason,
                checks=checks + tuple(extra),
                time=at,
            ),
            images=tuple(session.recent_frames),
        )
