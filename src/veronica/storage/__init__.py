"""Encrypted face-template storage (SQLite or PostgreSQL, AES-256-GCM)."""

from veronica.storage.crypto import TemplateCipher, generate_key
from veronica.storage.db import make_engine, session_factory
from veronica.storage.errors import NotEnrolledError, TemplateCorruptError
from veronica.storage.migrate import current_revision, head_revision, upgrade_database
from veronica.storage.store import NewTemplate, TemplateStore, UserRecord, validate_user_name

__all__ = [
    "NewTemplate",
    "NotEnrolledError",
    "TemplateCipher",
    "TemplateCorruptError",
    "TemplateStore",
    "UserRecord",
    "current_revision",
    "generate_key",
    "head_revision",
    "make_engine",
    "session_factory",
    "upgrade_database",
    "validate_user_name",
]
