"""Encrypted template store: users, their face templates, optional enrollment images.

Every public method runs in one transaction, so a failure part-way (a bad key, a
crash while encrypting the image, a constraint violation) leaves the database as it
was. Templates are only ever decrypted after the key fingerprint check has passed.
"""

from __future__ import annotations

import hmac
import logging
import math
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from veronica.errors import (
    BadInputError,
    ConfigurationError,
    ReenrollmentRequiredError,
    TemplateKeyError,
    UserExistsError,
    UserNotFoundError,
)
from veronica.recognition.matcher import Gallery, unit_vector
from veronica.storage.crypto import TemplateCipher, image_aad, template_aad
from veronica.storage.db import SQLITE_BEGIN_OPTION, session_factory
from veronica.storage.errors import NotEnrolledError, TemplateCorruptError
from veronica.storage.orm import (
    KEY_CHECK_ROW_ID,
    MODEL_ID_MAX_CHARS,
    SUBJECT_MAX_CHARS,
    USER_NAME_MAX_CHARS,
    EnrollmentImage,
    EnrollmentLink,
    KeyCheck,
    Template,
    User,
    utcnow,
)

logger = logging.getLogger(__name__)

# Control characters and line/paragraph separators break logs, CLIs and HTML; format
# characters (Cf, e.g. the zero-width non-joiner in Persian names) are legitimate.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


@dataclass(frozen=True)
class UserRecord:
    """A user as seen from outside the store. ``created_at`` is timezone-aware UTC."""

    name: str
    created_at: datetime
    template_count: int
    subject: str = ""
    """OpenID Connect ``sub``: stable and random (``orm.new_subject``)."""


def validate_user_name(name: str) -> str:
    """Return the canonical form of ``name`` (stripped, NFC) or raise BadInputError.

    NFC normalisation makes "é" typed as one code point or as e + accent the same user.
    Names are case-sensitive: "Ana" and "ana" are different users.
    """
    if not isinstance(name, str):
        raise BadInputError("user name must be a string")
    canonical = unicodedata.normalize("NFC", name.strip())
    if not canonical:
        raise BadInputError("user name must not be empty")
    if len(canonical) > USER_NAME_MAX_CHARS:
        raise BadInputError(
            f"user name must be at most {USER_NAME_MAX_CHARS} characters, got {len(canonical)}"
        )
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in canonical):
        raise BadInputError("user name must not contain control characters or line breaks")
    return canonical


def _validate_model_id(model_id: str) -> str:
    if not isinstance(model_id, str) or not model_id or model_id != model_id.strip():
        raise BadInputError("model_id must be a non-empty string without surrounding spaces")
    if len(model_id) > MODEL_ID_MAX_CHARS or not model_id.isprintable():
        raise BadInputError(f"model_id must be at most {MODEL_ID_MAX_CHARS} printable characters")
    return model_id


def _validate_quality(quality: float) -> float:
    if isinstance(quality, bool) or not isinstance(quality, int | float | np.floating):
        raise BadInputError(f"quality must be a number, got {type(quality).__name__}")
    if not math.isfinite(quality):
        raise BadInputError("quality must be finite")
    return float(quality)


@dataclass(frozen=True, eq=False)
class NewTemplate:
    """A template to store: the embedding, its quality score, and optionally the photo."""

    vector: npt.NDArray[np.generic]
    quality: float
    image: bytes | None = None


class TemplateStore:
    """Users and their encrypted templates, on SQLite or PostgreSQL.

    Pass an Engine (a session factory is made from it) or an existing sessionmaker.
    The schema must already be migrated (``veronica.storage.upgrade_database``).
    """

    def __init__(self, db: Engine | sessionmaker[Session], cipher: TemplateCipher) -> None:
        self._sessions = session_factory(db) if isinstance(db, Engine) else db
        bind = self._sessions.kw.get("bind")
        if not isinstance(bind, Engine):
            raise ConfigurationError("TemplateStore needs a sessionmaker bound to an Engine")
        self._engine = bind
        self._cipher = cipher
        self._key_checked = False  # per instance: the check runs once, then is cached

    @property
    def engine(self) -> Engine:
        """The Engine behind the store (e.g. for a readiness probe)."""
        return self._engine

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A transaction that will write: on SQLite it takes the write lock up front."""
        with self._sessions.begin() as session:
            session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            yield session

    # -- key check -------------------------------------------------------------------

    def check_key(self) -> None:
        """Verify the configured key is the one this database's templates use.

        On first use the key's fingerprint is recorded. If templates already exist
        without a recorded fingerprint, one is decrypted first, so a wrong key is never
        recorded as the right one. Raises TemplateKeyError on mismatch.
        """
        try:
            self._check_key_once()
        except IntegrityError:
            # Another process recorded the fingerprint at the same moment; compare to it.
            self._check_key_once()
        self._key_checked = True

    def _check_key_once(self) -> None:
        with self._writing() as session:
            row = session.get(KeyCheck, KEY_CHECK_ROW_ID)
            if row is None:
                self._trial_decrypt(session)
                session.add(KeyCheck(id=KEY_CHECK_ROW_ID, fingerprint=self._cipher.fingerprint))
                logger.info("recorded template key fingerprint %s", self._cipher.fingerprint)
                return
            if not hmac.compare_digest(row.fingerprint, self._cipher.fingerprint):
                raise TemplateKeyError(
                    "template key does not match the one these templates were encrypted "
                    f"with (database key id {row.fingerprint}, configured key id "
                    f"{self._cipher.fingerprint}); set VERONICA_TEMPLATE_KEY back to the original "
                    "key: without it the stored templates cannot be used"
                )

    def _trial_decrypt(self, session: Session) -> None:
        template = session.scalars(select(Template).order_by(Template.id).limit(1)).first()
        if template is not None:
            self._decrypt_template(
                template.user_id, template.model_id, template.dim, template.ciphertext
            )

    def _ensure_key(self) -> None:
        if not self._key_checked:
            self.check_key()

    # -- users -----------------------------------------------------------------------

    def create_user(self, name: str) -> UserRecord:
        """Create a user with no templates. UserExistsError if the name is taken."""
        canonical = validate_user_name(name)
        try:
            with self._writing() as session:
                if session.scalar(select(User.id).where(User.name == canonical)) is not None:
                    raise UserExistsError(f"user {canonical!r} already exists")
                user = User(name=canonical, created_at=utcnow())
                session.add(user)
                session.flush()
                record = UserRecord(
                    name=user.name,
                    created_at=user.created_at,
                    template_count=0,
                    subject=user.subject,
                )
        except IntegrityError as exc:  # lost a race with a concurrent create
            raise UserExistsError(f"user {canonical!r} already exists") from exc
        logger.info("created user %r", canonical)
        return record

    def _user_records(self, session: Session, name: str | None = None) -> list[UserRecord]:
        stmt = (
            select(User.name, User.created_at, User.subject, func.count(Template.id))
            .outerjoin(Template, Template.user_id == User.id)
            .group_by(User.id, User.name, User.created_at, User.subject)
            .order_by(User.name)
        )
        if name is not None:
            stmt = stmt.where(User.name == name)
        return [
            UserRecord(
                name=row_name, created_at=created_at, template_count=int(count), subject=subject
            )
            for row_name, created_at, subject, count in session.execute(stmt)
        ]

    def get_user(self, name: str) -> UserRecord | None:
        """The user called ``name``, or None if there is none (BadInputError if invalid)."""
        canonical = validate_user_name(name)
        with self._sessions.begin() as session:
            records = self._user_records(session, canonical)
        return records[0] if records else None

    def user_by_subject(self, subject: str) -> UserRecord | None:
        """The user whose OpenID Connect ``sub`` is ``subject``, or None."""
        if not isinstance(subject, str) or not subject or len(subject) > SUBJECT_MAX_CHARS:
            return None
        with self._sessions.begin() as session:
            name = session.scalar(select(User.name).where(User.subject == subject))
            records = self._user_records(session, name) if name is not None else []
        return records[0] if records else None

    def list_users(self) -> list[UserRecord]:
        """All users, ordered by name, with how many templates each has."""
        with self._sessions.begin() as session:
            return self._user_records(session)

    def delete_user(self, name: str) -> int:
        """Erase a user, their templates, images and enrollment links; returns how many
        templates went.

        Children are deleted explicitly rather than left to ON DELETE CASCADE, so the
        erasure holds even on a SQLite connection where foreign keys are off.
        """
        canonical = validate_user_name(name)
        with self._writing() as session:
            user_id = self._user_id(session, canonical)
            removed = session.scalar(
                select(func.count(Template.id)).where(Template.user_id == user_id)
            )
            session.execute(delete(Template).where(Template.user_id == user_id))
            session.execute(delete(EnrollmentImage).where(EnrollmentImage.user_id == user_id))
            session.execute(delete(EnrollmentLink).where(EnrollmentLink.user_id == user_id))
            session.execute(delete(User).where(User.id == user_id))
        count = int(removed or 0)
        logger.info("deleted user %r and %d template(s)", canonical, count)
        return count

    @staticmethod
    def _user_id(session: Session, name: str) -> int:
        user_id = session.scalar(select(User.id).where(User.name == name))
        if user_id is None:
            raise UserNotFoundError(f"no user named {name!r}")
        return user_id

    # -- templates -------------------------------------------------------------------

    def add_template(
        self,
        name: str,
        vector: npt.NDArray[np.generic],
        model_id: str,
        quality: float,
        keep_image: bytes | None = None,
    ) -> int:
        """Store an encrypted, L2-normalised template for an existing user; returns its id.

        ``vector`` must be a 1-D finite float embedding; ``quality`` is the caller's
        quality score (stored as given). ``keep_image`` (encoded image bytes) is stored,
        encrypted, only when given: by default no photo of anyone's face is kept.
        """
        return self._add_templates(
            name, model_id, [NewTemplate(vector, quality, keep_image)], create=False
        )[0]

    def enroll(self, name: str, model_id: str, templates: Sequence[NewTemplate]) -> list[int]:
        """Create ``name`` if new and add all ``templates`` in one transaction: either
        every template is stored or none is (a failure leaves the database as it was)."""
        if not templates:
            raise BadInputError("no templates to enroll")
        return self._add_templates(name, model_id, templates, create=True)

    def _add_templates(
        self, name: str, model_id: str, templates: Sequence[NewTemplate], create: bool
    ) -> list[int]:
        canonical = validate_user_name(name)
        model = _validate_model_id(model_id)
        prepared = [
            (unit_vector(t.vector, "template vector"), _validate_quality(t.quality), t.image)
            for t in templates
        ]
        for _, _, image in prepared:
            if image is not None and (not isinstance(image, bytes) or not image):
                raise BadInputError("keep_image must be non-empty bytes or None")
        self._ensure_key()
        ids: list[int] = []
        with self._writing() as session:
            user_id = session.scalar(select(User.id).where(User.name == canonical))
            if user_id is None:
                if not create:
                    raise UserNotFoundError(f"no user named {canonical!r}")
                user = User(name=canonical, created_at=utcnow())
                session.add(user)
                session.flush()
                user_id = user.id
            now = utcnow()
            for unit, score, image in prepared:
                dim = int(unit.shape[0])
                self._check_model_dim(session, model, dim)
                template = Template(
                    user_id=user_id,
                    model_id=model,
                    dim=dim,
                    quality=score,
                    ciphertext=self._cipher.encrypt(unit, template_aad(user_id, model, dim)),
                    created_at=now,
                )
                session.add(template)
                session.flush()
                ids.append(template.id)
                if image is not None:
                    blob = self._cipher.encrypt_bytes(image, image_aad(user_id))
                    session.add(EnrollmentImage(user_id=user_id, ciphertext=blob, created_at=now))
        logger.info("added %d template(s) (%s) for user %r", len(ids), model, canonical)
        return ids

    @staticmethod
    def _check_model_dim(session: Session, model_id: str, dim: int) -> None:
        other = session.scalar(
            select(Template.dim).where(Template.model_id == model_id, Template.dim != dim).limit(1)
        )
        if other is not None:
            raise BadInputError(
                f"templates from model {model_id!r} have {other} dimensions, this vector has {dim}"
            )

    def _decrypt_template(
        self, user_id: int, model_id: str, dim: int, blob: bytes
    ) -> npt.NDArray[np.float32]:
        return self._cipher.decrypt(blob, template_aad(user_id, model_id, dim), dim)

    def user_templates(self, name: str, model_id: str) -> npt.NDArray[np.float32]:
        """Decrypted templates of ``name`` for ``model_id`` as a (k, dim) float32 matrix.

        NotEnrolledError if the user has no templates at all; ReenrollmentRequiredError
        if all their templates come from other models (scores across models mean nothing).
        """
        canonical = validate_user_name(name)
        model = _validate_model_id(model_id)
        self._ensure_key()
        with self._sessions.begin() as session:
            user_id = self._user_id(session, canonical)
            rows = session.execute(
                select(Template.dim, Template.ciphertext)
                .where(Template.user_id == user_id, Template.model_id == model)
                .order_by(Template.id)
            ).all()
            if not rows:
                self._raise_not_enrolled(session, user_id, canonical, model)
            vectors = [self._decrypt_template(user_id, model, dim, blob) for dim, blob in rows]
        return _stack(vectors)

    @staticmethod
    def _raise_not_enrolled(session: Session, user_id: int, name: str, model_id: str) -> None:
        others = session.scalars(
            select(Template.model_id).where(Template.user_id == user_id).distinct()
        ).all()
        if not others:
            raise NotEnrolledError(f"user {name!r} has no enrolled face templates")
        raise ReenrollmentRequiredError(
            f"user {name!r} was enrolled with {', '.join(sorted(others))}, not {model_id}; "
            "enroll them again with the current model"
        )

    def count_users(self, model_id: str) -> int:
        """Users with at least one template for ``model_id``: one SQL count, nothing
        decrypted (1:N sessions check the gallery size before they start)."""
        model = _validate_model_id(model_id)
        with self._sessions.begin() as session:
            count = session.scalar(
                select(func.count(func.distinct(Template.user_id))).where(
                    Template.model_id == model
                )
            )
        return int(count or 0)

    def gallery(self, model_id: str) -> Gallery:
        """Every user's templates for ``model_id``, decrypted once, as one Gallery.

        Users enrolled only with other models are absent (they must re-enroll).
        """
        model = _validate_model_id(model_id)
        self._ensure_key()
        with self._sessions.begin() as session:
            rows = session.execute(
                select(Template.user_id, User.name, Template.dim, Template.ciphertext)
                .join(User, User.id == Template.user_id)
                .where(Template.model_id == model)
                .order_by(User.name, Template.id)
            ).all()
        if not rows:
            return Gallery.empty()
        matrix = _stack(
            [self._decrypt_template(uid, model, dim, blob) for uid, _, dim, blob in rows]
        )
        return Gallery(names=tuple(row_name for _, row_name, _, _ in rows), matrix=matrix)


def _stack(vectors: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    if len({v.shape[0] for v in vectors}) != 1:
        raise TemplateCorruptError("stored templates for one model have different dimensions")
    return np.stack(vectors).astype(np.float32, copy=False)
