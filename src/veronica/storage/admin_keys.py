"""Admin API keys in the database: label, SHA-256 of the key, created/revoked times."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from veronica.errors import AdminKeyExistsError, AdminKeyNotFoundError, BadInputError
from veronica.storage.db import SQLITE_BEGIN_OPTION, session_factory
from veronica.storage.orm import LABEL_MAX_CHARS, SHA256_HEX_CHARS, AdminKey, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdminKeyRecord:
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def validate_label(label: str) -> str:
    if not isinstance(label, str):
        raise BadInputError("key label must be a string")
    clean = label.strip()
    if not clean or len(clean) > LABEL_MAX_CHARS or not clean.isprintable():
        raise BadInputError(f"key label must be 1–{LABEL_MAX_CHARS} printable characters")
    return clean


class AdminKeyTable:
    """Rows of ``admin_keys``; knows hashes only, never keys."""

    def __init__(self, db: Engine) -> None:
        self._sessions = session_factory(db)

    def insert(self, label: str, key_hash: str) -> AdminKeyRecord:
        clean = validate_label(label)
        if len(key_hash) != SHA256_HEX_CHARS:
            raise BadInputError("key hash must be SHA-256 hex")
        try:
            with self._sessions.begin() as session:
                session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                if session.scalar(select(AdminKey.id).where(AdminKey.label == clean)):
                    raise AdminKeyExistsError(f"an admin key labelled {clean!r} already exists")
                row = AdminKey(label=clean, key_hash=key_hash, created_at=utcnow())
                session.add(row)
                session.flush()
                record = AdminKeyRecord(row.label, row.created_at, None)
        except IntegrityError as exc:  # lost a race with a concurrent insert
            raise AdminKeyExistsError(f"an admin key labelled {clean!r} already exists") from exc
        logger.info("created admin key %r", clean)
        return record

    def is_active(self, key_hash: str) -> bool:
        with self._sessions.begin() as session:
            found = session.scalar(
                select(AdminKey.id).where(
                    AdminKey.key_hash == key_hash, AdminKey.revoked_at.is_(None)
                )
            )
        return found is not None

    def list(self) -> list[AdminKeyRecord]:
        with self._sessions.begin() as session:
            rows = session.scalars(select(AdminKey).order_by(AdminKey.created_at, AdminKey.id))
            return [AdminKeyRecord(r.label, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, label: str) -> None:
        clean = validate_label(label)
        with self._sessions.begin() as session:
            result = session.execute(
                update(AdminKey)
                .where(AdminKey.label == clean, AdminKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise AdminKeyNotFoundError(f"no active admin key labelled {clean!r}")
        logger.info("revoked admin key %r", clean)
