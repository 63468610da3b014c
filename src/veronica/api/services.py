"""The application's object graph, built in one place.

``build_services(settings, engine, clock)`` makes every long-lived object the
routes use — the face service, the token signer, admin keys, the audit log,
enrollment links, lockout, rate limits, admission, one-time use and the session
manager — with shared state in Redis when ``VERONICA_REDIS_URL`` is set and in
this process otherwise. The app stores the result once (``app.state.services``);
the tests build theirs with the same function.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from veronica.oidc.clients import ClientRegistry
from veronica.oidc.grants import GrantStore, InMemoryGrantStore, RedisGrantStore
from veronica.oidc.keys import ProviderKeys
from veronica.oidc.provider import Provider, ProviderConfig
from veronica.pipeline.engine import FaceEngine
from veronica.security.apikeys import AdminKeys
from veronica.security.lockout import (
    InMemoryLockoutStore,
    Lockout,
    LockoutPolicy,
    LockoutStore,
    RedisLockoutStore,
)
from veronica.security.once import InMemoryOneTimeUse, OneTimeUse, RedisOneTimeUse
from veronica.security.ratelimit import InMemoryRateLimiter, RateLimiter, RedisRateLimiter
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions import OutcomeConfig, OutcomeResolver, SessionConfig, SessionManager
from veronica.sessions.admission import Admission, InMemoryAdmission, RedisAdmission
from veronica.sessions.observe import SessionObserver
from veronica.sessions.store import InMemorySessionStore, RedisSessionStore, SessionStore
from veronica.settings import Settings
from veronica.state.gallery import GalleryFeed
from veronica.state.redis import RedisState, connect_from_settings
from veronica.storage import TemplateCipher
from veronica.storage.audit import AuditLog
from veronica.storage.enrollment_links import EnrollmentLinks

Clock = Callable[[], float]


@dataclass(frozen=True)
class Services:
    service: FaceService
    signer: ResultSigner
    admin_keys: AdminKeys
    audit: AuditLog
    links: EnrollmentLinks
    lockout: Lockout
    limiter: RateLimiter
    once: OneTimeUse
    sessions: SessionManager
    oidc: Provider
    """The OpenID Provider (``/oidc/...``)."""
    redis: RedisState | None
    """The shared Redis, or None when state lives in this process."""
    gallery: GalleryFeed | None = None
    """With Redis: tells the other instances about enrollments and deletions."""

    def close(self) -> None:
        """Release the session trackers and the Redis connections (the engine is
        the caller's)."""
        self.sessions.close()
        if self.gallery is not None:
            self.gallery.close()
        if self.redis is not None:
            self.redis.close()


def build_services(
    settings: Settings,
    engine: FaceEngine,
    clock: Clock = time.time,
    observer: SessionObserver | None = None,
) -> Services:
    """Open the database (migrating it), load the signing key, connect (lazily) to
    Redis if configured, and wire the session manager."""
    service = FaceService.open(settings, engine)
    db = service.store.engine
    cipher = TemplateCipher.from_setting(settings.template_key)
    redis = connect_from_settings(settings)
    lockout_store: LockoutStore
    limiter: RateLimiter
    admission: Admission
    once: OneTimeUse
    store: SessionStore
    grants: GrantStore
    if redis is not None:
        lockout_store = RedisLockoutStore(redis)
        limiter = RedisRateLimiter(redis)
        admission = RedisAdmission(redis, horizon_s=settings.session_ttl_s)
        once = RedisOneTimeUse(redis)
        store = RedisSessionStore(redis, cipher, retention_s=settings.session_ttl_s)
        grants = RedisGrantStore(redis)
    else:
        lockout_store = InMemoryLockoutStore()
        limiter = InMemoryRateLimiter()
        admission = InMemoryAdmission()
        once = InMemoryOneTimeUse()
        store = InMemorySessionStore()
        grants = InMemoryGrantStore()
    signer = ResultSigner.load(settings)
    oidc = Provider(
        ProviderConfig(
            issuer=settings.public_url.rstrip("/"),
            code_ttl_s=settings.oidc_code_ttl_s,
            request_ttl_s=settings.oidc_request_ttl_s,
            id_token_ttl_s=settings.id_token_ttl_s,
            access_token_ttl_s=settings.oidc_access_token_ttl_s,
        ),
        registry=ClientRegistry(db),
        keys=ProviderKeys.load(settings),
        store=grants,
        users=service.store,
    )
    audit = AuditLog(
        db,
        cipher,
        keep_images=settings.audit_keep_images,
        retention_days=settings.audit_image_retention_days,
    )
    links = EnrollmentLinks(db)
    lockout = Lockout(lockout_store, LockoutPolicy.from_settings(settings))
    outcomes = OutcomeResolver(
        service=service,
        signer=signer,
        lockout=lockout,
        audit=audit,
        links=links,
        config=OutcomeConfig(issuer=settings.public_url, token_ttl_s=settings.result_token_ttl_s),
    )
    sessions = SessionManager(
        engine=engine,
        outcomes=outcomes,
        limiter=limiter,
        lockout=lockout,
        links=links,
        store=store,
        admission=admission,
        config=SessionConfig.from_settings(settings),
        clock=clock,
        observer=observer,
    )
    gallery = None
    if redis is not None:
        gallery = GalleryFeed(redis, service)
        gallery.start()
    return Services(
        service=service,
        signer=signer,
        admin_keys=AdminKeys(db, dev_key=settings.admin_key),
        audit=audit,
        links=links,
        lockout=lockout,
        limiter=limiter,
        once=once,
        sessions=sessions,
        oidc=oidc,
        redis=redis,
        gallery=gallery,
    )
