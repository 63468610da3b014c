"""One settings object for the whole service, read from ``VERONICA_*`` env vars.

Outside ``development``/``test`` it refuses to start with a missing or default
secret: a face-login server with a well-known key protects nothing.
"""

from __future__ import annotations

import os
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

    # --- web sessions (issue 5) ---
    public_url: str = "http://127.0.0.1:8000"
    """Where browsers reach the service; enrollment links and the token issuer use it."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Extra origins allowed by CORS and on the WebSocket (the service's own is always allowed)."""
    session_ttl_s: float = Field(default=180.0, ge=10.0, le=3600.0)
    """A sign-in session lives 3 minutes: enough to place the face and follow
    the challenges twice over, short enough that a stolen session id is stale."""
    max_active_sessions: int | None = Field(default=None, ge=1, le=10_000)
    """Sessions served at once; beyond this, new sessions get 503 ``busy``.
    Default: 4 per CPU core. A session needs ~10 frames/s at ~25 ms of CPU per
    frame, so a core serves about 4; past that every session's frames come too
    far apart and genuine users fail the timing check instead of hearing
    "busy" (benchmarks/WEB_RESULTS.md). Each also holds a tracking Face Mesh
    graph (~30 MB)."""
    max_frame_bytes: int = Field(default=300_000, ge=10_000, le=10_000_000)
    """One JPEG frame; 640×480 at quality 0.8 is ~40–80 kB."""
    max_frame_rate: float = Field(default=20.0, gt=0.0, le=120.0)
    """Frames per second accepted per session; the page sends 10–15."""
    sessions_per_minute_per_ip: int = Field(default=20, ge=1)
    lockout_failures: int = Field(default=5, ge=1)
    """Failed attempts (per user and per IP) before a lockout."""
    lockout_base_s: float = Field(default=30.0, gt=0.0)
    """First lockout; each further failure doubles it."""
    lockout_max_s: float = Field(default=3600.0, gt=0.0)
    result_token_ttl_s: int = Field(default=120, ge=10, le=3600)
    """The signed result token is for the relying site to check at once, not a login session."""
    signing_key_path: Path | None = None
    """PEM EC P-256 private key for result tokens. Default: ``<data_dir>/signing_key.pem``,
    generated on first start in development/test only."""
    admin_key: str | None = None
    """Development/test only: an admin API key accepted without the database.
    Production keys are created with ``veronica admin create-key`` (stored hashed)."""
    enrollment_link_ttl_s: int = Field(default=86_400, ge=60)
    audit_keep_images: bool = False
    """Keep (encrypted) frames of failed attempts for review; off by default."""
    audit_image_retention_days: int = Field(default=7, ge=1, le=365)
    challenge_seed: int | None = None
    """Test environment only: a fixed challenge seed so a recorded video can follow
    the script. Refused in any other environment (it would make challenges predictable)."""
    light_challenge: bool = True
    """The page may still opt a user out (photosensitivity); this turns it off for all."""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    """``veronica serve`` serves HTTPS directly when both are set."""

    @property
    def resolved_max_active_sessions(self) -> int:
        if self.max_active_sessions is not None:
            return self.max_active_sessions
        return 4 * (os.cpu_count() or 1)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def resolved_signing_key_path(self) -> Path:
        return (
            self.signing_key_path
            if self.signing_key_path is not None
            else self.data_dir / "signing_key.pem"
        )

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
        if self.challenge_seed is not None and self.environment is not Environment.TEST:
            raise ValueError(
                "VERONICA_CHALLENGE_SEED is only allowed when VERONICA_ENVIRONMENT=test: "
                "a fixed seed makes every challenge predictable"
            )
        if self.environment is Environment.PRODUCTION:
            if self.admin_key is not None:
                raise ValueError(
                    "VERONICA_ADMIN_KEY is for development only; create production keys "
                    "with `veronica admin create-key`"
                )
            if self.signing_key_path is None:
                raise ValueError(
                    "VERONICA_SIGNING_KEY_PATH must name the result-token signing key in "
                    "production (generate one with `veronica keygen --signing`)"
                )
            if not self.public_url.startswith("https://"):
                raise ValueError("VERONICA_PUBLIC_URL must be https:// in production")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "set both VERONICA_TLS_CERT_FILE and VERONICA_TLS_KEY_FILE, or neither"
            )
        return self
