"""One settings object for the whole service, read from ``VERONICA_*`` env vars.

Outside ``development``/``test`` it refuses to start with a missing or default
secret: a face-login server with a well-known key protects nothing.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A fixed, publicly known key so that `make run` works with zero set-up. It is
# refused in production (see `_refuse_default_secrets`).
DEVELOPMENT_TEMPLATE_KEY = "dmVyb25pY2EtZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM="


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


EmbedderName = Literal["mobilefacenet", "fr_feature", "fusion"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERONICA_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("var")
    """Holds the SQLite database and the fetched model files by default."""
    database_url: str | None = None
    """SQLAlchemy URL; default: SQLite file ``<data_dir>/veronica.db``."""
    models_dir: Path | None = None
    """Default: ``<data_dir>/models``."""
    template_key: str = DEVELOPMENT_TEMPLATE_KEY
    """32 bytes, urlsafe base64: AES-256-GCM key for templates at rest (never stored in the DB)."""

    embedder: EmbedderName = "mobilefacenet"
    """Chosen on LFW by accuracy and speed; see docs/MODELS.md."""
    match_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    """Cosine similarity at or above which two faces are the same person.
    ``None`` uses the embedder's calibrated default (docs/MODELS.md)."""
    keep_enrollment_images: bool = False
    """Off by default: a template is all we need; the photo is more sensitive."""

    camera_hfov_deg: float = Field(default=60.0, gt=10.0, lt=170.0)
    """Horizontal field of view of the client camera; typical laptop webcams are 55–78°."""
    max_faces: int = Field(default=4, ge=1, le=16)
    """Faces the mesh looks for, so we can choose one and notice a second."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    inference_threads: int = Field(default=1, ge=1, le=64)
    """Threads per model session; 1 keeps per-request latency stable under concurrency."""

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'veronica.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION and (
            not self.template_key.strip() or self.template_key == DEVELOPMENT_TEMPLATE_KEY
        ):
            raise ValueError(
                "VERONICA_TEMPLATE_KEY must be set to a secret 32-byte key in production "
                "(generate one with `veronica keygen`)"
            )
        return self
