"""Audit log of sign-in and enrollment decisions, with optional encrypted frames.

Every decision is recorded with its checks, so an operator can answer "why was I
refused?" and spot attacks. Frames of refused attempts are kept only when the
operator opts in (``audit_keep_images``), encrypted with the template key, and
deleted after ``audit_image_retention_days`` (by ``purge_expired_images`` and at
every ``record``). Events themselves are kept: they hold no biometric data, only
names, addresses and scores.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, select

from veronica.errors import BadInputError, NotFoundError
from veronica.storage.crypto import TemplateCipher
from veronica.storage.db import SQLITE_BEGIN_OPTION, session_factory
from veronica.storage.orm import (
    DECISION_MAX_CHARS,
    IP_MAX_CHARS,
    PURPOSE_MAX_CHARS,
    REASON_MAX_CHARS,
    SESSION_ID_MAX_CHARS,
    USER_NAME_MAX_CHARS,
    AuditEventRow,
    AuditImage,
    utcnow,
)

logger = logging.getLogger(__name__)

DECISIONS = frozenset({"accepted", "refused"})
MAX_RECENT = 1000
MAX_DETAIL_CHARS = 300
"""A check's detail is a short sentence; longer is cut (events are kept for good)."""
AUDIT_IMAGE_AAD_PREFIX = b"veronica/audit-image/v1:"


def audit_image_aad(event_id: int, seq: int) -> bytes:
    """Binds a frame's ciphertext to its event and position: a frame copied onto
    another event does not decrypt."""
    return AUDIT_IMAGE_AAD_PREFIX + f"{event_id}:{seq}".encode()


@dataclass(frozen=True)
class AuditCheck:
    name: str
    value: float
    limit: float
    passed: bool
    detail: str = ""
    """What the check saw, in words (e.g. both clocks of ``clock_drift``)."""
    deciding: bool = True
    """False for advisory checks (reported, not deciding)."""


@dataclass(frozen=True)
class AuditEvent:
    session_id: str
    purpose: str
    client_ip: str | None
    username: str | None
    decision: str
    """"accepted" or "refused"."""
    reason: str
    checks: tuple[AuditCheck, ...] = ()
    time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class AuditEventRecord:
    """A stored event, as read back."""

    id: int
    event: AuditEvent
    image_count: int


def _bounded(value: str | None, what: str, limit: int, *, optional: bool = False) -> str | None:
    if value is None:
        if optional:
            return None
        raise BadInputError(f"audit {what} is required")
    if not isinstance(value, str) or len(value) > limit:
        raise BadInputError(f"audit {what} must be a string of at most {limit} characters")
    return value


def _finite_or_none(x: float) -> float | None:
    # JSON has no NaN/inf; a check that produced no number is stored as null.
    return float(x) if math.isfinite(x) else None


def _checks_json(checks: Sequence[AuditCheck]) -> str:
    return json.dumps(
        [
            {
                "name": c.name,
                "value": _finite_or_none(c.value),
                "limit": _finite_or_none(c.limit),
                "passed": bool(c.passed),
                "detail": c.detail[:MAX_DETAIL_CHARS],
                "deciding": bool(c.deciding),
            }
            for c in checks
        ],
        allow_nan=False,
    )


def _checks_from_json(text: str) -> tuple[AuditCheck, ...]:
    return tuple(
        AuditCheck(
            name=str(item["name"]),
            value=math.nan if item["value"] is None else float(item["value"]),
            limit=math.nan if item["limit"] is None else float(item["limit"]),
            passed=bool(item["passed"]),
            detail=str(item.get("detail", "")),
            deciding=bool(item.get("deciding", True)),
        )
        for item in json.loads(text)
    )


class AuditLog:
    def __init__(
        self, db: Engine, cipher: TemplateCipher, *, keep_images: bool, retention_days: int
    ) -> None:
        if retention_days < 1:
            raise BadInputError("audit image retention must be at least one day")
        self._sessions = session_factory(db)
        self._cipher = cipher
        self._keep_images = keep_images
        self._retention = timedelta(days=retention_days)

    def record(self, event: AuditEvent, images: Sequence[bytes] = ()) -> int:
        """Store ``event``; returns its id.

        ``images`` (encoded frames) are stored, encrypted, only when keeping images is
        on and the attempt was refused: an accepted sign-in needs no review, and every
        kept face photo is a liability.
        """
        if event.decision not in DECISIONS:
            raise BadInputError(f"audit decision must be one of {sorted(DECISIONS)}")
        _bounded(event.session_id, "session id", SESSION_ID_MAX_CHARS)
        _bounded(event.purpose, "purpose", PURPOSE_MAX_CHARS)
        _bounded(event.client_ip, "client address", IP_MAX_CHARS, optional=True)
        _bounded(event.username, "user name", USER_NAME_MAX_CHARS, optional=True)
        _bounded(event.reason, "reason", REASON_MAX_CHARS)
        _bounded(event.decision, "decision", DECISION_MAX_CHARS)
        keep = self._keep_images and event.decision == "refused"
        frames = [bytes(img) for img in images if img] if keep else []
        with self._sessions.begin() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            row = AuditEventRow(
                time=event.time,
                session_id=event.session_id,
                purpose=event.purpose,
                client_ip=event.client_ip,
                username=event.username,
                decision=event.decision,
                reason=event.reason,
                checks=_checks_json(event.checks),
            )
            now = utcnow()
            # Retention is enforced here too, so it holds even if no one schedules
            # purge_expired_images: one indexed DELETE per decision.
            result = session.execute(delete(AuditImage).where(AuditImage.expires_at <= now))
            purged = int(result.rowcount)  # type: ignore[attr-defined]
            session.add(row)
            session.flush()
            event_id = row.id
            for seq, frame in enumerate(frames):
                session.add(
                    AuditImage(
                        event_id=event_id,
                        seq=seq,
                        ciphertext=self._cipher.encrypt_bytes(
                            frame, audit_image_aad(event_id, seq)
                        ),
                        created_at=now,
                        expires_at=now + self._retention,
                    )
                )
        if purged:
            logger.info("purged %d expired audit image(s)", purged)
        logger.info(
            "audit %s %s (%s) user=%r ip=%s frames=%d",
            event.purpose,
            event.decision,
            event.reason,
            event.username,
            event.client_ip,
            len(frames),
        )
        return event_id

    def recent(self, limit: int = 100, username: str | None = None) -> list[AuditEventRecord]:
        """Newest first; only ``username``'s events when given."""
        limit = max(1, min(limit, MAX_RECENT))
        image_count = (
            select(func.count(AuditImage.id))
            .where(AuditImage.event_id == AuditEventRow.id)
            .scalar_subquery()
        )
        stmt = select(AuditEventRow, image_count).order_by(
            AuditEventRow.time.desc(), AuditEventRow.id.desc()
        )
        if username is not None:
            stmt = stmt.where(AuditEventRow.username == username)
        with self._sessions.begin() as session:
            rows = session.execute(stmt.limit(limit)).all()
            return [
                AuditEventRecord(
                    id=row.id,
                    event=AuditEvent(
                        session_id=row.session_id,
                        purpose=row.purpose,
                        client_ip=row.client_ip,
                        username=row.username,
                        decision=row.decision,
                        reason=row.reason,
                        checks=_checks_from_json(row.checks),
                        time=row.time,
                    ),
                    image_count=int(count),
                )
                for row, count in rows
            ]

    def purge_expired_images(self, now: datetime | None = None) -> int:
        """Delete frames past their retention time; returns how many went."""
        at = now or utcnow()
        with self._sessions.begin() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            result = session.execute(delete(AuditImage).where(AuditImage.expires_at <= at))
            removed = int(result.rowcount)  # type: ignore[attr-defined]
        if removed:
            logger.info("purged %d expired audit image(s)", removed)
        return removed

    def images(self, event_id: int, now: datetime | None = None) -> list[bytes]:
        """The decrypted frames of an event still within retention, in order."""
        at = now or utcnow()
        with self._sessions.begin() as session:
            if session.get(AuditEventRow, event_id) is None:
                raise NotFoundError(f"no audit event {event_id}")
            rows = session.execute(
                select(AuditImage.seq, AuditImage.ciphertext)
                .where(AuditImage.event_id == event_id, AuditImage.expires_at > at)
                .order_by(AuditImage.seq)
            ).all()
        return [
            self._cipher.decrypt_bytes(blob, audit_image_aad(event_id, seq)) for seq, blob in rows
        ]
