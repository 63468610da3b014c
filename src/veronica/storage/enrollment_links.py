"""One-time enrollment links: an admin issues one, the person follows it once.

Only the SHA-256 of the token is stored: someone who reads the database (a backup, a
replica) cannot turn the rows back into working links. The token has 256 random
bits, so a fast hash is enough.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from veronica.errors import BadInputError, EnrollmentLinkInvalidError, UserNotFoundError
from veronica.storage.db import SQLITE_BEGIN_OPTION, session_factory
from veronica.storage.orm import EnrollmentLink, User, utcnow
from veronica.storage.store import validate_user_name

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128
_INVALID = "this enrollment link is unknown, already used or expired"


def hash_link_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _usable_hash(token: str) -> str:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise EnrollmentLinkInvalidError(_INVALID)
    return hash_link_token(token)


class EnrollmentLinks:
    def __init__(self, db: Engine) -> None:
        self._sessions = session_factory(db)

    def issue(self, username: str, ttl_s: int, now: datetime | None = None) -> tuple[str, datetime]:
        """A new link token for an existing user and when it expires.

        The token is returned once and never stored. Earlier links stay valid until
        used or expired.
        """
        if ttl_s <= 0:
            raise BadInputError("enrollment link lifetime must be positive")
        canonical = validate_user_name(username)
        created = now or utcnow()
        expires = created + timedelta(seconds=ttl_s)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._sessions.begin() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            user_id = session.scalar(select(User.id).where(User.name == canonical))
            if user_id is None:
                raise UserNotFoundError(f"no user named {canonical!r}")
            session.add(
                EnrollmentLink(
                    user_id=user_id,
                    token_hash=hash_link_token(token),
                    created_at=created,
                    expires_at=expires,
                )
            )
        logger.info("issued an enrollment link for %r, expires %s", canonical, expires)
        return token, expires

    def peek(self, token: str, now: datetime | None = None) -> str:
        """The user a valid (unused, unexpired) link names; does not use it up."""
        token_hash = _usable_hash(token)
        at = now or utcnow()
        with self._sessions.begin() as session:
            name = session.scalar(
                select(User.name)
                .join(EnrollmentLink, EnrollmentLink.user_id == User.id)
                .where(
                    EnrollmentLink.token_hash == token_hash,
                    EnrollmentLink.used_at.is_(None),
                    EnrollmentLink.expires_at > at,
                )
            )
        if name is None:
            raise EnrollmentLinkInvalidError(_INVALID)
        return name

    def redeem(self, token: str, now: datetime | None = None) -> str:
        """Use the link up and return its user. The conditional UPDATE makes this
        atomic: of two concurrent redeems exactly one succeeds."""
        token_hash = _usable_hash(token)
        at = now or utcnow()
        with self._sessions.begin() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            result = session.execute(
                update(EnrollmentLink)
                .where(
                    EnrollmentLink.token_hash == token_hash,
                    EnrollmentLink.used_at.is_(None),
                    EnrollmentLink.expires_at > at,
                )
                .values(used_at=at)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise EnrollmentLinkInvalidError(_INVALID)
            name = session.scalar(
                select(User.name)
                .join(EnrollmentLink, EnrollmentLink.user_id == User.id)
                .where(EnrollmentLink.token_hash == token_hash)
            )
        if name is None:  # the user was deleted in between; the cascade took the link
            raise EnrollmentLinkInvalidError(_INVALID)
        logger.info("enrollment link for %r redeemed", name)
        return name
