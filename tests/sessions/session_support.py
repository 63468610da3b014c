"""The session layer wired to real components (engine, SQLite, signer, audit),
without HTTP, and a few frames to feed it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from support import face_path, models_dir
from veronica.api.services import Services, build_services
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine
from veronica.security.lockout import Lockout
from veronica.security.tokens import ResultSigner
from veronica.service import FaceService
from veronica.sessions import FrameState, OutcomeResolver, SessionManager, SessionRecord
from veronica.settings import Settings
from veronica.storage import generate_key
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
    """The session layer as the app builds it (``api/services.build_services``),
    on a fake clock, and a few views into it."""

    services: Services
    clock: FakeClock

    @property
    def service(self) -> FaceService:
        return self.services.service

    @property
    def signer(self) -> ResultSigner:
        return self.services.signer

    @property
    def lockout(self) -> Lockout:
        return self.services.lockout

    @property
    def audit(self) -> AuditLog:
        return self.services.audit

    @property
    def links(self) -> EnrollmentLinks:
        return self.services.links

    @property
    def manager(self) -> SessionManager:
        return self.services.sessions

    @property
    def outcomes(self) -> OutcomeResolver:
        return self.services.sessions.outcomes


def build_stack(
    data_dir: Path, engine: FaceEngine, clock: FakeClock | None = None, **overrides: Any
) -> Stack:
    """``overrides``: settings (``max_active_sessions=1``, ``light_challenge="off"``, …);
    ``clock``: one shared with another stack (two instances), else a new one."""
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": data_dir,
        "models_dir": models_dir(),
        "template_key": generate_key(),
        "max_frame_rate": 120.0,
        "challenge_seed": 205,
        "audit_keep_images": True,
        "public_url": ISSUER,
    }
    values.update(overrides)
    clock = clock if clock is not None else FakeClock()
    return Stack(build_services(Settings(**values), engine, clock), clock)


def feed(stack: Stack, session: SessionRecord, t_s: float, frame: bytes) -> FrameState | None:
    """A frame ``t_s`` seconds into the session on both clocks: it arrives then
    (the fake clock is moved on to it if behind) and claims that capture time."""
    arrival = session.created_at + t_s
    stack.clock.now = max(stack.clock.now, arrival)
    return stack.manager.process(session.id, t_s * 1000.0, frame, arrived_at=arrival)


def end_quickly(stack: Stack, session: SessionRecord) -> FrameState | None:
    """Decide a session at once: a second frame claiming a capture one second after
    the first while both arrive together is a drifting clock (``clock_drift``)."""
    stack.manager.process(session.id, 0.0, blank_jpeg())
    return stack.manager.process(session.id, 1000.0, blank_jpeg())


def blank_jpeg() -> bytes:
    ok, buffer = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))
    assert ok
    return buffer.tobytes()


def embeddings(engine: FaceEngine, *refs: tuple[str, int]) -> tuple[Vector, ...]:
    return tuple(engine.embed(face_path(person, n).read_bytes()) for person, n in refs)
