"""The sign-in session manager: creates sessions, feeds them frames, ends them.

Concurrency: frames of one session run one at a time under the session's lock,
and a frame that arrives while another is being processed is dropped (server-side
frame skipping: the client is never more than one frame behind). Different
sessions run in parallel on the caller's threads; the shared engine is
thread-safe (each model guards its own state, see ``pipeline/engine.py``).
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from veronica.errors import BadInputError, RateLimitedError
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession, Phase
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis
from veronica.security.csrf import csrf_matches, new_csrf_token
from veronica.security.lockout import Lockout
from veronica.security.ratelimit import RateLimiter
from veronica.sessions.errors import (
    BusyError,
    CsrfInvalidError,
    SessionExpiredError,
    SessionFinishedError,
    SessionForbiddenError,
    SessionNotFoundError,
)
from veronica.sessions.frames import decode_frame, frame_seconds
from veronica.sessions.observe import ObservedEngine, SessionObserver
from veronica.sessions.outcome import OutcomeResolver
from veronica.sessions.return_to import allowed_origins, check_return_to
from veronica.sessions.state import FrameState, Purpose, Reason, SessionResult, Status
from veronica.sessions.store import AuthSession, SessionStore
from veronica.settings import Settings
from veronica.storage import validate_user_name
from veronica.storage.enrollment_links import EnrollmentLinks

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

FRAME_RATE_WINDOW_S = 2.0
"""Frame rate is counted over 2 s so that network jitter (two frames close
together after a stall) does not trip a limit the client respects on average."""
BUSY_RETRY_AFTER_S = 10.0
"""A session usually ends within ~15 s; sooner than the TTL, a slot frees."""


@dataclass(frozen=True)
class SessionConfig:
    ttl_s: float = 180.0
    max_active: int = 32
    max_frame_rate: float = 20.0
    max_frame_bytes: int = 300_000
    sessions_per_minute_per_ip: int = 20
    light: bool = True
    """False turns the light challenge off for everyone (settings.light_challenge)."""
    challenge_seed: int | None = None
    """Test environment only (settings refuse it elsewhere): a fixed script."""
    return_origins: frozenset[str] = frozenset()
    keep_frames: bool = False
    """Keep a session's last frames for the audit log (audit_keep_images)."""
    tombstone_s: float = 180.0
    """After its TTL a finished or expired session still answers 409/410 this long
    (then 404), so a late or replayed request gets a precise answer."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionConfig:
        return cls(
            ttl_s=settings.session_ttl_s,
            max_active=settings.resolved_max_active_sessions,
            max_frame_rate=settings.max_frame_rate,
            max_frame_bytes=settings.max_frame_bytes,
            sessions_per_minute_per_ip=settings.sessions_per_minute_per_ip,
            light=settings.light_challenge,
            challenge_seed=settings.challenge_seed,
            return_origins=allowed_origins(settings.public_url, settings.allowed_origins),
            keep_frames=settings.audit_keep_images,
            tombstone_s=settings.session_ttl_s,
        )


@dataclass(frozen=True)
class NewSession:
    username: str | None = None
    enrollment_token: str | None = None
    light: bool = True
    """False: the person opted out of the colour challenge (photosensitivity)."""
    return_to: str | None = None


class SessionManager:
    def __init__(
        self,
        *,
        engine: FaceEngine,
        outcomes: OutcomeResolver,
        limiter: RateLimiter,
        lockout: Lockout,
        links: EnrollmentLinks,
        store: SessionStore,
        config: SessionConfig,
        policy: LivenessPolicy | None = None,
        clock: Clock = time.time,
        observer: SessionObserver | None = None,
    ) -> None:
        self.outcomes = outcomes
        self.limiter = limiter
        self.lockout = lockout
        self.links = links
        self.store = store
        self.config = config
        self.policy = policy or LivenessPolicy()
        self.clock = clock
        self.observer = observer
        self._engine = ObservedEngine(engine, self._on_analysis) if observer else engine
        self._lock = threading.Lock()  # creation: the capacity check and the add are one step

    # -- creation ------------------------------------------------------------------------

    def create(self, request: NewSession, client_ip: str) -> AuthSession:
        cfg = self.config
        now = self.clock()
        self._rate(f"sessions:ip:{client_ip}", cfg.sessions_per_minute_per_ip, 60.0, now)
        return_to = (
            check_return_to(request.return_to, cfg.return_origins)
            if request.return_to is not None
            else None
        )
        if request.enrollment_token is not None:
            if request.username is not None:
                raise BadInputError("give a username or an enrollment_token, not both")
            username: str | None = self.links.peek(request.enrollment_token)
            purpose = Purpose.ENROLL
        else:
            username = validate_user_name(request.username) if request.username else None
            purpose = Purpose.LOGIN
        keys = [f"ip:{client_ip}"] + ([f"user:{username}"] if username else [])
        self.lockout.check(keys, now)
        light = request.light and cfg.light
        policy = self.policy
        if not light:
            policy = replace(policy, challenges=replace(policy.challenges, light=False))
        seed = cfg.challenge_seed
        with self._lock:
            self._reap(now)
            if self.active_count() >= cfg.max_active:
                raise BusyError(
                    "too many sign-ins in progress; try again shortly", BUSY_RETRY_AFTER_S
                )
            liveness = LivenessSession(
                self._engine, policy, rng=random.Random(seed) if seed is not None else None
            )
            session = AuthSession(
                id=secrets.token_urlsafe(18),
                purpose=purpose,
                username=username,
                csrf_token=new_csrf_token(),
                cookie_secret=secrets.token_urlsafe(32),
                client_ip=client_ip,
                created_at=now,
                expires_at=now + cfg.ttl_s,
                liveness=liveness,
                state=FrameState(seq=0, phase=Phase.POSITIONING),
                oval=liveness.oval,
                enrollment_token=request.enrollment_token,
                return_to=return_to,
                light=light,
            )
            self.store.add(session)
        logger.info("session %s created (%s, light=%s)", session.id, purpose.value, light)
        return session

    # -- access --------------------------------------------------------------------------

    def authorize(self, session_id: str, cookie: str | None) -> AuthSession:
        """The session if ``cookie`` is its secret (cookies are bound to one session)."""
        session = self.store.get(session_id)
        if session is None:
            raise SessionNotFoundError("no such sign-in session")
        if not csrf_matches(session.cookie_secret, cookie):
            raise SessionForbiddenError("this sign-in session belongs to another browser")
        return session

    @staticmethod
    def check_csrf(session: AuthSession, token: str | None) -> None:
        if not csrf_matches(session.csrf_token, token):
            raise CsrfInvalidError("missing or wrong CSRF token")

    def check_open(self, session: AuthSession) -> None:
        """Raise if the session can take no more frames (expired or decided). An
        undecided session past its TTL is ended here (tracker closed, expiry
        audited), so call it from a worker thread."""
        self._check_open(session, self.clock())

    # -- frames --------------------------------------------------------------------------

    def process(self, session: AuthSession, t_ms: float, data: bytes) -> FrameState | None:
        """Feed one JPEG frame captured at ``t_ms`` (client clock). Returns the new
        state, or None when the frame was dropped because another frame of the same
        session is still being processed."""
        cfg = self.config
        now = self.clock()
        self._check_open(session, now)
        limit = max(1, math.ceil(cfg.max_frame_rate * FRAME_RATE_WINDOW_S))
        self._rate(f"frames:{session.id}", limit, FRAME_RATE_WINDOW_S, now)
        if not session.lock.acquire(blocking=False):
            return None
        try:
            self._check_open(session, self.clock())  # decided while we waited for the lock?
            t = frame_seconds(t_ms, session.last_t)
            bgr = decode_frame(data, cfg.max_frame_bytes)
            liveness = session.liveness
            assert liveness is not None  # open sessions have one
            state = liveness.update(t, bgr)
            session.last_t = t
            session.frames += 1
            if cfg.keep_frames:
                session.recent_frames.append(data)
            placed = state.phase is Phase.CHALLENGE or (
                state.phase is Phase.POSITIONING and not state.hints
            )
            session.placed_ever = session.placed_ever or placed
            result: SessionResult | None = None
            if state.decision is not None:
                session.liveness = None  # the decision closed its tracker
                result = self._resolve(session, state.decision, now)
            session.state = FrameState(
                seq=session.state.seq + 1,
                phase=state.phase,
                action=state.action,
                light=state.light,
                hints=state.hints,
                placed=placed,
                progress=state.progress,
                result=result,
            )
            if result is not None:
                self._on_result(result)
            return session.state
        finally:
            session.lock.release()

    def _resolve(
        self, session: AuthSession, decision: LivenessDecision, now: float
    ) -> SessionResult:
        try:
            return self.outcomes.resolve(session, decision, now)
        except Exception:
            # The session cannot go on (its tracker is closed): end it refused, and
            # let the caller answer with the error.
            session.state = replace(
                session.state,
                seq=session.state.seq + 1,
                phase=Phase.DECIDED,
                result=SessionResult(Status.REFUSED, Reason.LIVENESS_FAILED),
            )
            raise

    # -- expiry --------------------------------------------------------------------------

    def _check_open(self, session: AuthSession, now: float) -> None:
        if session.result is None and now >= session.expires_at:
            self.expire(session, now)
        result = session.result
        if result is not None:
            if result.reason is Reason.SESSION_EXPIRED:
                raise SessionExpiredError("this sign-in session has expired; start a new one")
            raise SessionFinishedError("this sign-in session is over; start a new one")

    def expire(self, session: AuthSession, now: float | None = None) -> FrameState:
        """End an undecided session past its TTL (idempotent); returns its final state."""
        at = self.clock() if now is None else now
        with session.lock:
            if session.result is None and at >= session.expires_at:
                self._expire_locked(session, at)
            return session.state

    def _expire_locked(self, session: AuthSession, now: float) -> None:
        if session.liveness is not None:
            session.liveness.close()
            session.liveness = None
        result = SessionResult(Status.REFUSED, Reason.SESSION_EXPIRED)
        session.state = FrameState(
            seq=session.state.seq + 1, phase=Phase.DECIDED, progress=1.0, result=result
        )
        logger.info("session %s expired after %d frame(s)", session.id, session.frames)
        self._on_result(result)
        try:
            self.outcomes.expired(session, now)
        except Exception:
            logger.exception("could not audit the expiry of session %s", session.id)

    def reap(self) -> int:
        """Expire sessions past their TTL (closing their trackers) and forget those
        past their tombstone time. Returns how many were expired or forgotten."""
        with self._lock:
            return self._reap(self.clock())

    def _reap(self, now: float) -> int:
        count = 0
        for session in self.store.all():
            if session.result is None and now >= session.expires_at:
                # A session busy with a frame is left for the next sweep (or its own
                # next frame, which checks the TTL too).
                if session.lock.acquire(blocking=False):
                    try:
                        if session.result is None:
                            self._expire_locked(session, now)
                            count += 1
                    finally:
                        session.lock.release()
            elif session.result is not None and now >= session.expires_at + self.config.tombstone_s:
                self.store.remove(session.id)
                count += 1
        return count

    def active_count(self) -> int:
        """Sessions holding a live tracker (what ``max_active`` caps)."""
        return sum(1 for s in self.store.all() if s.liveness is not None)

    def close(self) -> None:
        """Release every tracker (shutdown)."""
        for session in self.store.all():
            with session.lock:
                if session.liveness is not None:
                    session.liveness.close()
                    session.liveness = None
            self.store.remove(session.id)

    # -- helpers -------------------------------------------------------------------------

    def _rate(self, key: str, limit: int, window_s: float, now: float) -> None:
        decision = self.limiter.hit(key, limit, window_s, now)
        if not decision.allowed:
            raise RateLimitedError(
                "too many requests; slow down", retry_after_s=decision.retry_after_s
            )

    def _on_analysis(self, analysis: FrameAnalysis) -> None:
        if self.observer is not None:
            self.observer.on_analysis(analysis)

    def _on_result(self, result: SessionResult) -> None:
        if self.observer is not None:
            self.observer.on_result(result)
