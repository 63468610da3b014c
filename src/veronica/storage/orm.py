"""Declarative models. Portable types only: the same schema runs on SQLite and PostgreSQL.

The migrations in ``storage/migrations`` are the source of truth for the database;
these models must stay in step with them (a test compares the two).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

USER_NAME_MAX_CHARS = 128
MODEL_ID_MAX_CHARS = 64
FINGERPRINT_MAX_CHARS = 64
KEY_CHECK_ROW_ID = 1
SHA256_HEX_CHARS = 64
LABEL_MAX_CHARS = 64
SESSION_ID_MAX_CHARS = 64
PURPOSE_MAX_CHARS = 16
IP_MAX_CHARS = 64
DECISION_MAX_CHARS = 16
REASON_MAX_CHARS = 64
SUBJECT_MAX_CHARS = 32
CLIENT_ID_MAX_CHARS = 64
CLIENT_NAME_MAX_CHARS = 128
ALG_MAX_CHARS = 16


def new_subject() -> str:
    """A user's OpenID Connect ``sub``: random, never reused, never the name (a name
    can be given to someone else after its user was deleted)."""
    return secrets.token_urlsafe(16)


# Deterministic constraint names: SQLite batch migrations can only alter named constraints.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and hands back naive values; storing naive UTC and
    re-attaching UTC on load keeps ``created_at`` comparable across backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(USER_NAME_MAX_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    subject: Mapped[str] = mapped_column(
        String(SUBJECT_MAX_CHARS), unique=True, default=new_subject
    )

    # passive_deletes: the database's ON DELETE CASCADE removes the children, so the
    # ORM need not load every ciphertext just to delete it.
    templates: Mapped[list[Template]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    images: Mapped[list[EnrollmentImage]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    enrollment_links: Mapped[list[EnrollmentLink]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (
        Index("ix_templates_user_id_model_id", "user_id", "model_id"),
        Index("ix_templates_model_id", "model_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(MODEL_ID_MAX_CHARS))
    dim: Mapped[int] = mapped_column(Integer)
    quality: Mapped[float] = mapped_column(Float)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="templates")


class EnrollmentImage(Base):
    """Encrypted copy of an enrollment photo; only written when the operator opts in."""

    __tablename__ = "enrollment_images"
    __table_args__ = (Index("ix_enrollment_images_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="images")


class KeyCheck(Base):
    """Single row holding the template key's fingerprint (never the key itself)."""

    __tablename__ = "key_check"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AdminKey(Base):
    """An admin API key: only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "admin_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_MAX_CHARS), unique=True)
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EnrollmentLink(Base):
    """A one-time enrollment link: only the token's SHA-256 is stored."""

    __tablename__ = "enrollment_links"
    __table_args__ = (Index("ix_enrollment_links_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_CHARS), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    user: Mapped[User] = relationship(back_populates="enrollment_links")


class AuditEventRow(Base):
    """One sign-in or enrollment decision. ``username`` is a plain string, not a
    foreign key: the history outlives the user's deletion."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "time"),
        Index("ix_audit_events_username_time", "username", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    session_id: Mapped[str] = mapped_column(String(SESSION_ID_MAX_CHARS))
    purpose: Mapped[str] = mapped_column(String(PURPOSE_MAX_CHARS))
    client_ip: Mapped[str | None] = mapped_column(String(IP_MAX_CHARS), nullable=True)
    username: Mapped[str | None] = mapped_column(String(USER_NAME_MAX_CHARS), nullable=True)
    decision: Mapped[str] = mapped_column(String(DECISION_MAX_CHARS))
    reason: Mapped[str] = mapped_column(String(REASON_MAX_CHARS))
    checks: Mapped[str] = mapped_column(Text)
    """JSON list of {name, value, limit, passed}: portable, and only ever read whole."""


class AuditImage(Base):
    """An encrypted frame of a refused attempt, deleted after its retention time."""

    __tablename__ = "audit_images"
    __table_args__ = (
        Index("ix_audit_images_event_id", "event_id"),
        Index("ix_audit_images_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcClient(Base):
    """A relying site registered for OpenID Connect (``veronica clients add``). A
    confidential client's secret is stored as its SHA-256 only (it is 256 random
    bits, so a slow hash would add nothing)."""

    __tablename__ = "oidc_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(CLIENT_ID_MAX_CHARS), unique=True)
    name: Mapped[str] = mapped_column(String(CLIENT_NAME_MAX_CHARS))
    redirect_uris: Mapped[str] = mapped_column(Text)
    """JSON list of exact redirect URIs."""
    secret_hash: Mapped[str | None] = mapped_column(String(SHA256_HEX_CHARS), nullable=True)
    """None: a public client (PKCE only)."""
    id_token_alg: Mapped[str] = mapped_column(String(ALG_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
