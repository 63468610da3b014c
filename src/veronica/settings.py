"""One settings object for the whole service, read from ``VERONICA_*`` env vars.

The default environment is ``production``. Construction checks only consistency
rules, so commands that need no secrets (``models``, ``eval``, ``keygen`` …) run
with no settings at all; what a server needs in production (no well-known key, a
signing key, ``https://``) is listed by ``Settings.production_problems``, which
``veronica serve`` and ``create_app`` refuse to start without: a face-login
server with a well-known key protects nothing. ``veronica serve --dev`` is the
explicit development mode.
"""

from __future__ import annotations

import ipaddress
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A fixed, publicly known key so that `make run` works with zero set-up. It is
# refused in production (see `Settings.production_problems`).
DEVELOPMENT_TEMPLATE_KEY = "dmVyb25pY2EtZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZXM="


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


EmbedderName = Literal["mobilefacenet", "fr_feature", "fusion"]
LightPolicy = Literal["required", "optional", "off"]
ExecutionProviderName = Literal["cpu", "cuda", "tensorrt", "rocm", "openvino", "directml", "coreml"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERONICA_", env_file=".env", extra="ignore")

    environment: Environment = Environment.PRODUCTION
    """Safe by default; ``veronica serve --dev`` (or ``veronica --dev …``) selects development."""
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
    match_fmr: float = Field(default=1e-4, ge=1e-7, le=1e-1)
    """False match rate of 1:1 verification: the threshold is the calibration table's
    for this FMR (``recognition/calibration/<model>.json``, smallest grid threshold
    whose upper 95 % bound meets it). 1e-4 is NIST SP 800-63B's 1:10,000 (docs/MODELS.md)."""
    match_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)
    """Explicit 1:1 cosine-similarity threshold; it **bypasses the table** (and
    ``match_fmr``), so whatever FMR it gives is the operator's to measure. ``None``
    (default): the table's threshold for ``match_fmr``. 1:N always uses the table."""
    identify_fpir: float = Field(default=1e-3, ge=1e-6, le=1e-1)
    """False positive identification rate allowed for 1:N sign-in (no user name):
    the chance that a face that is not enrolled is identified as someone. 1e-3 is
    SP 800-63B's 1:1,000 applied to the whole search; each comparison then meets
    FMR 1e-3 / N. A stricter 1e-4 would leave 1:N for 3 users with MobileFaceNet
    (docs/MODELS.md, "1:N identification")."""
    identify_max_fnir: float = Field(default=0.05, gt=0.0, lt=1.0)
    """Largest tolerable 1:N miss rate (a genuine user not recognised). The gallery
    may grow while the table's FNMR at the gallery's threshold stays within it;
    beyond, 1:N is refused (``gallery_too_large``). 5 % is the 1:1 FNMR at FMR 1e-4
    (3.0 %, upper bound 3.7 %) plus room for 1:N's stricter threshold: 39 users with
    MobileFaceNet; 10 % would allow 173 (docs/MODELS.md)."""
    identify_min_margin: float = Field(default=0.05, ge=0.0, le=0.5)
    """1:N: the best user's similarity must beat the second-best user's by this much
    (cosine units). Measured (docs/results/identification_margin.json, galleries of
    10–300, both held-out directions): at the gallery threshold a margin up to 0.05
    cost no genuine identification anywhere, turned 2 of 4 wrong-user answers into
    refusals and 1 false positive of ~50,000; from 0.08 it costs FNIR. The threshold
    does the real work; 0.05 is the largest margin that was free."""
    index_exact_max_rows: int = Field(default=7_500, ge=0, le=100_000_000)
    """1:N search: galleries up to this many template rows are searched exactly
    (numpy), larger ones through the HNSW index (faiss), which re-scores its
    candidates exactly. 7,500 is the measured crossover: exact as fast as HNSW up
    to there, 1.8× slower at 10,000 (benchmarks/IDENTIFY_RESULTS.md, "Crossover";
    ``recognition.index.EXACT_MAX_ROWS``)."""
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
    execution_provider: ExecutionProviderName = "cpu"
    """ONNX Runtime execution provider of the ONNX models (passive PAD, and the
    ``fr_feature`` embedder when chosen): ``cpu``, or ``cuda``/``tensorrt``/``rocm``/
    ``openvino``/``directml``/``coreml`` with an onnxruntime build that has it. A
    provider this build lacks (or that fails to start) falls back to CPU with one
    warning. MediaPipe Face Mesh and MobileFaceNet run on LiteRT, always on CPU
    (docs/DEPLOY.md, "GPU hosts")."""

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
    max_sessions_per_address: int = Field(default=3, ge=1, le=1000)
    """Sessions one address (an IPv6 /64) may have open at once; more get 429
    ``too_many_sessions``. A household or office behind one NAT address rarely
    signs in three people in the same ten seconds; one client cannot hold
    every admission slot."""
    first_frame_timeout_s: float = Field(default=8.0, ge=1.0, le=60.0)
    """A session with no frame this long after its creation is ended
    (``inactive``) and frees its admission slot. The page creates a session only
    once the camera runs and sends its first frame right after connecting."""
    idle_timeout_s: float = Field(default=5.0, ge=1.0, le=60.0)
    """A session whose last frame is this old is ended (``inactive``): the page
    sends ~10 frames per second, so 5 s is a connection that is gone."""
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
    rsa_signing_key_path: Path | None = None
    """PEM RSA (2048+ bit) private key for RS256 ID tokens (OpenID Connect Discovery
    requires RS256). Default: ``<data_dir>/rsa_signing_key.pem``, generated on first
    start in development/test only."""
    retired_signing_keys: list[Path] = Field(default_factory=list)
    """Keys taken out of service (PEM, private or public): still published in the
    JWKS so tokens they signed verify until they expire, never used to sign
    (docs/OIDC.md, "Rotating keys")."""
    oidc_code_ttl_s: int = Field(default=60, ge=5, le=60)
    """Life of an authorization code; RFC 9700 and OIDC want it short."""
    oidc_request_ttl_s: int = Field(default=600, ge=60, le=3600)
    """How long a person has, from the relying site's redirect, to finish the face login."""
    id_token_ttl_s: int = Field(default=300, ge=60, le=3600)
    oidc_access_token_ttl_s: int = Field(default=300, ge=60, le=3600)
    """Access tokens only open ``/oidc/userinfo``; there are no refresh tokens."""
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
    light_challenge: LightPolicy = "required"
    """``required``: every session runs the colour challenge and a request to opt
    out is refused (400 ``light_challenge_required``). ``optional``: a user may
    opt out (photosensitivity) and gets the gentle light instead (tints of one
    brightness gliding, no flash; measured on its own in docs/LIVENESS.md).
    ``off``: nobody gets any light, everyone the compensating script (more
    actions, a blink always), which does not stop a relay of the session."""
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    """``veronica serve`` serves HTTPS directly when both are set."""

    # --- HTTP layer limits and exposure (docs/SECURITY.md) ---
    max_json_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    """Largest request body outside the frame and photo uploads (which keep their own
    limits), in bytes. The largest valid bodies: a token check with a token and an
    audience at their limits (8192 and 2048 characters), 10,269 bytes, and a client
    registration with 5 redirect URIs of 2048 characters, under 11,000 bytes
    (tests/api/test_api_limits.py; docs/SECURITY.md, "Request bodies")."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Serve ``/metrics`` on this separate port only (for the scraper's network); then
    the main listener answers 404 there. Default: on the main listener, admin key required."""
    metrics_host: str = "127.0.0.1"
    """Bind address of the metrics listener."""
    api_docs: bool | None = None
    """Serve ``/docs``, ``/redoc``, ``/openapi.json``. Default: in development and test
    only (the schema maps every endpoint for an attacker; operators rarely need it live)."""
    proxy_headers: bool = False
    """Take the client address from ``X-Forwarded-For`` (and the scheme from
    ``X-Forwarded-Proto``), only when the peer is in ``forwarded_allow_ips``."""
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Addresses or networks of the reverse proxies (``10.0.0.5,10.1.0.0/16`` or a JSON
    list). Empty by default: uvicorn's own default would trust 127.0.0.1."""

    # --- shared state (issue 11; docs/SECURITY.md, "Shared state") ---
    redis_url: str | None = None
    """``redis://``, ``rediss://`` (TLS) or ``unix://`` URL of the Redis that holds the
    rate limits, lockouts, admission slots and one-time uses of every instance: one
    primary (Redis Cluster and Sentinel URLs are not supported; for failover, an
    endpoint that follows the primary). None (default): they live in this process,
    which is right for one instance only (with N instances each keeps its own
    counters and a stranger gets N× every budget)."""
    redis_prefix: str = Field(default="veronica:", min_length=1, max_length=64)
    """Prefix of every key, so several deployments can share one Redis."""
    redis_socket_timeout_s: float = Field(default=0.5, gt=0.0, le=10.0)
    """Longest wait for one Redis answer. The scripts answered in 0.2–0.3 ms at p50,
    ≤ 23 ms at p99 and 89 ms at worst with 8 threads on a 2-core machine at load 10
    (benchmarks/SHARED_STATE_RESULTS.md), so 0.5 s ends a Redis that is hung, not
    one that is busy; a request must not hang."""
    redis_connect_timeout_s: float = Field(default=0.5, gt=0.0, le=10.0)
    """Longest wait for a TCP connection to Redis (a refused one fails at once)."""
    redis_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a command after a connection error or timeout, with exponential
    backoff (50 ms, then 100 ms, capped at 0.5 s): a dropped connection or a Redis
    restart costs a retry, not a refused sign-in. Measured with these defaults: one
    operation fails (503 ``state_unavailable``) 0.15 s after a stopped Redis refuses
    it and 1.7 s after a hung one stops answering (benchmarks/SHARED_STATE_RESULTS.md)."""

    @property
    def resolved_max_active_sessions(self) -> int:
        if self.max_active_sessions is not None:
            return self.max_active_sessions
        return 4 * (os.cpu_count() or 1)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def resolved_api_docs(self) -> bool:
        return self.api_docs if self.api_docs is not None else not self.is_production

    def production_problems(self) -> list[str]:
        """What this configuration lacks to serve in production, one sentence each
        (empty: ready). Checked by ``veronica serve`` and ``create_app``; commands that
        need no secrets never call it. Does not look at the database (admin keys)."""
        problems = []
        if not self.template_key.strip() or self.template_key == DEVELOPMENT_TEMPLATE_KEY:
            problems.append(
                "VERONICA_TEMPLATE_KEY must be set to a secret 32-byte key "
                "(generate one with `veronica keygen`)"
            )
        if self.signing_key_path is None:
            problems.append(
                "VERONICA_SIGNING_KEY_PATH must name the result-token signing key "
                "(generate one with `veronica keygen --signing --out PATH`)"
            )
        elif not self.signing_key_path.is_file():
            problems.append(
                f"VERONICA_SIGNING_KEY_PATH: {self.signing_key_path} does not exist "
                "(generate it with `veronica keygen --signing --out PATH`)"
            )
        if self.rsa_signing_key_path is None:
            problems.append(
                "VERONICA_RSA_SIGNING_KEY_PATH must name the RS256 ID-token key "
                "(generate one with `veronica keygen --rsa --out PATH`)"
            )
        elif not self.rsa_signing_key_path.is_file():
            problems.append(
                f"VERONICA_RSA_SIGNING_KEY_PATH: {self.rsa_signing_key_path} does not exist "
                "(generate it with `veronica keygen --rsa --out PATH`)"
            )
        if self.admin_key is not None:
            problems.append(
                "VERONICA_ADMIN_KEY is for development only; create production keys "
                "with `veronica admin create-key`"
            )
        if not self.public_url.startswith("https://"):
            problems.append("VERONICA_PUBLIC_URL must be https://")
        return problems

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("VERONICA_REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        # An environment variable may be a JSON list or comma-separated addresses.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in (p.strip() for p in text.split(",")) if part]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_addresses(cls, value: list[str]) -> list[str]:
        checked = []
        for entry in value:
            text = entry.strip()
            if text == "*":
                raise ValueError(
                    "'*' would trust X-Forwarded-For from anyone (any client could pick "
                    "its own address); list the proxies' addresses"
                )
            try:
                parsed = ipaddress.ip_network(text) if "/" in text else ipaddress.ip_address(text)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an IP address or network: {exc}") from exc
            checked.append(str(parsed))
        return checked

    @property
    def resolved_signing_key_path(self) -> Path:
        return (
            self.signing_key_path
            if self.signing_key_path is not None
            else self.data_dir / "signing_key.pem"
        )

    @property
    def resolved_rsa_signing_key_path(self) -> Path:
        return (
            self.rsa_signing_key_path
            if self.rsa_signing_key_path is not None
            else self.data_dir / "rsa_signing_key.pem"
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
    def _check_consistency(self) -> Settings:
        # Only rules that hold in every environment; production readiness is
        # `production_problems` (so commands needing no secrets work unconfigured).
        if self.challenge_seed is not None and self.environment is not Environment.TEST:
            raise ValueError(
                "VERONICA_CHALLENGE_SEED is only allowed when VERONICA_ENVIRONMENT=test: "
                "a fixed seed makes every challenge predictable"
            )
        if self.proxy_headers and not self.forwarded_allow_ips:
            raise ValueError(
                "VERONICA_PROXY_HEADERS (--proxy-headers) needs VERONICA_FORWARDED_ALLOW_IPS "
                "(--forwarded-allow-ips, the reverse proxies' addresses): trusting "
                "X-Forwarded-For from anyone lets a client pick its own address"
            )
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("VERONICA_METRICS_PORT must differ from VERONICA_PORT")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "set both VERONICA_TLS_CERT_FILE and VERONICA_TLS_KEY_FILE, or neither"
            )
        return self
