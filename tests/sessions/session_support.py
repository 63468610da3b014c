"""The session layer wired to real components (engine, SQLite, signer, audit),
without HTTP, and a few frames to feed it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from support import face_path, models_dir
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine
from veronica.security.lockout import InMemoryLockoutStore, Lockout, LockoutPolicy
from veronica.security.ratelimit import InMemoryRateLimiter
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions import (
    AuthSession,
    FrameState,
    InMemorySessionStore,
    OutcomeConfig,
    OutcomeResolver,
    SessionConfig,
    SessionManager,
)
from veronica.sessions.return_to import allowed_origins
from veronica.settings import Settings
from veronica.storage import TemplateCipher, generate_key
from veronica.storage.audit import AuditLog
from veronica.storage.enrollment_links import EnrollmentLinks

ISSUER = "http://127.0.0.1:8000"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stack:
    service: FaceService
    signer: ResultSigner
    lockout: Lockout
    audit: AuditLog
    links: EnrollmentLinks
    outcomes: OutcomeResolver
    manager: SessionManager
    clock: FakeClock


def build_stack(data_dir: Path, engine: FaceEngine, config: SessionConfig | None = None) -> Stack:
    settings = Settings(
        environment="test", data_dir=data_dir, models_dir=models_dir(), template_key=generate_key()
    )
    service = FaceService.open(settings, engine)
    db = service.store.engine
    signer = ResultSigner.load(settings)
    lockout = Lockout(InMemoryLockoutStore(), LockoutPolicy())
    audit = AuditLog(
        db, TemplateCipher.from_setting(settings.template_key), keep_images=True, retention_days=7
    )
    links = EnrollmentLinks(db)
    outcomes = OutcomeResolver(
        service=service,
        signer=signer,
        lockout=lockout,
        audit=audit,
        links=links,
        config=OutcomeConfig(issuer=ISSUER, token_ttl_s=120),
    )
    clock = FakeClock()
    manager = SessionManager(
        engine=engine,
        outcomes=outcomes,
        limiter=InMemoryRateLimiter(),
        lockout=lockout,
        links=links,
        store=InMemorySessionStore(),
        config=config
        or SessionConfig(
            max_frame_rate=120.0,
            challenge_seed=205,
            return_origins=allowed_origins(ISSUER, []),
        ),
        clock=clock,
    )
    return Stack(service, signer, lockout, audit, links, outcomes, manager, clock)


def feed(stack: Stack, session: AuthSession, t_s: float, frame: bytes) -> FrameState | None:
    """A frame ``t_s`` seconds into the session on both clocks: it arrives then
    (the fake clock is moved on to it if behind) and claims that capture time."""
    arrival = session.created_at + t_s
    stack.clock.now = max(stack.clock.now, arrival)
    return stack.manager.process(session, t_s * 1000.0, frame, arrived_at=arrival)


def end_quickly(stack: Stack, session: AuthSession) -> FrameState | None:
    """Decide a session at once: a second frame claiming a capture one second after
    the first while both arrive together is a drifting clock (``clock_drift``)."""
    stack.manager.process(session, 0.0, blank_jpeg())
    return stack.manager.process(session, 1000.0, blank_jpeg())


def blank_jpeg() -> bytes:
    ok, buffer = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))
    assert ok
    return buffer.tobytes()


def embeddings(engine: FaceEngine, *refs: tuple[str, int]) -> tuple[Vector, ...]:
    return tuple(engine.embed(face_path(person, n).read_bytes()) for person, n in refs)
