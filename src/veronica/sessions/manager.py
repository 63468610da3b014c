"""The sign-in session manager: creates sessions, feeds them frames, ends them.

Time: everything that matters runs on the server's clock (``clock``): the TTL,
the idle limits, and each frame's arrival time, which is the liveness session's
clock. The client's claimed capture time is only checked against it. The clock
is the wall clock (``time.time``), not the process's monotonic one: it is the
clock a session can keep when its state outlives one process (a shared store,
several instances); NTP slews it smoothly, and a step in the middle of a session
fails that session as ``clock_drift`` rather than passing it.

Admission: a session holds a slot (and a Face Mesh graph) while it streams.
One that gets no frame within ``first_frame_timeout_s`` of its creation, or
none for ``idle_timeout_s``, is ended ``inactive`` and counts as a failure
against its address; one address may hold ``max_sessions_per_address`` slots.
Addresses are keyed by ``security.addresses.address_key`` (an IPv6 /64 is one).

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
from veronica.security.addresses import address_key
from veronica.security.csrf import csrf_matches, new_csrf_token
from veronica.security.lockout import Lockout
from veronica.security.ratelimit import RateLimiter
from veronica.sessions.errors import (
    BusyError,
    CsrfInvalidError,
    LightChallengeRequiredError,
    SessionExpiredError,
    SessionFinishedError,
    SessionForbiddenError,
    SessionNotFoundError,
    TooManySessionsError,
)
from veronica.sessions.frames import decode_frame, frame_seconds
from veronica.sessions.observe import ObservedEngine, SessionObserver
from veronica.sessions.outcome import OutcomeResolver
from veronica.sessions.return_to import allowed_origins, check_return_to
from veronica.sessions.state import FrameState, Purpose, Reason, SessionResult, Status
from veronica.sessions.store import AuthSession, SessionStore
from veronica.settings import LightPolicy, Settings
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
    max_sessions_per_address: int = 3
    first_frame_timeout_s: float = 8.0
    idle_timeout_s: float = 5.0
    light: LightPolicy = "required"
    """``settings.light_challenge``: required, optional (a user may opt out) or off."""
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
            max_sessions_per_address=settings.max_sessions_per_address,
            first_frame_timeout_s=settings.first_frame_timeout_s,
            idle_timeout_s=settings.idle_timeout_s,
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
    light: bool | None = None
    """False: the person asks to opt out of the colour challenge (photosensitivity);
    allowed only when the operator's light policy is ``optional``. None: the
    operator's default."""
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
        self._lock = threading.Lock()  # creation: the capacity checks and the add are one step

    # -- creation ------------------------------------------------------------------------

    def light_for(self, requested: bool | None) -> bool:
        """Whether a session runs the light challenge, given what the client asked."""
        policy = self.config.light
        if policy == "off":
            return False
        if requested is False:
            if policy == "required":
                raise LightChallengeRequiredError(
                    "this service requires the light challenge; it cannot be turned off"
                )
            return False
        return True

    def create(self, request: NewSession, client_ip: str) -> AuthSession:
        cfg = self.config
        now = self.clock()
        address = address_key(client_ip)
        self._rate(f"sessions:ip:{address}", cfg.sessions_per_minute_per_ip, 60.0, now)
        return_to = (
            check_return_to(request.return_to, cfg.return_origins)
            if request.return_to is not None
            else None
        )
        light = self.light_for(request.light)
        if request.enrollment_token is not None:
            if request.username is not None:
                raise BadInputError("give a username or an enrollment_token, not both")
            username: str | None = self.links.peek(request.enrollment_token)
            purpose = Purpose.ENROLL
        else:
            username = validate_user_name(request.username) if request.username else None
            purpose = Purpose.LOGIN
        keys = [f"ip:{address}"] + ([f"user:{username}"] if username else [])
        self.lockout.check(keys, now)
        if purpose is Purpose.LOGIN and username is None:
            self.outcomes.check_identification()
        policy = self.policy.for_light(light)
        seed = cfg.challenge_seed
        with self._lock:
            self._reap(now)
            if self.active_count() >= cfg.max_active:
                raise BusyError(
                    "too many sign-ins in progress; try again shortly", BUSY_RETRY_AFTER_S
                )
            if self.active_count(address) >= cfg.max_sessions_per_address:
                raise TooManySessionsError(
                    "too many sign-ins in progress from this address; finish one first",
                    cfg.idle_timeout_s,
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
                address=address,
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
        """Raise if the session can take no more frames (expired, idle or decided).
        An undecided session past a time limit is ended here (tracker closed,
        audited), so call it from a worker thread."""
        self._check_open(session, self.clock())

    # -- frames --------------------------------------------------------------------------

    def process(
        self, session: AuthSession, t_ms: float, data: bytes, arrived_at: float | None = None
    ) -> FrameState | None:
        """Feed one JPEG frame that arrived at ``arrived_at`` (server clock,
        default now) and claims capture time ``t_ms`` (client clock, checked
        against the arrival times). Returns the new state, or None when the frame
        was dropped because another frame of the same session is being processed."""
        cfg = self.config
        now = self.clock()
        arrival = now if arrived_at is None else min(arrived_at, now)
        self._check_open(session, arrival)
        limit = max(1, math.ceil(cfg.max_frame_rate * FRAME_RATE_WINDOW_S))
        self._rate(f"frames:{session.id}", limit, FRAME_RATE_WINDOW_S, now)
        if not session.lock.acquire(blocking=False):
            return None
        try:
            self._check_open(session, arrival)  # decided while we waited for the lock?
            t = frame_seconds(t_ms, session.last_t)
            bgr = decode_frame(data, cfg.max_frame_bytes)
            liveness = session.liveness
            assert liveness is not None  # open sessions have one
            # Arrival times never go back, even if two frames were stamped out of order.
            arrival = max(arrival, session.last_arrival or arrival)
            answered = session.last_answer_at
            wait = max(0.0, arrival - answered) if answered is not None else None
            state = liveness.update(arrival - session.created_at, bgr, claimed=t, wait_s=wait)
            session.last_t = t
            session.last_arrival = arrival
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
            session.last_answer_at = self.clock()
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

    # -- time limits ---------------------------------------------------------------------

    def deadline(self, session: AuthSession) -> float:
        """Server time at which the session ends unless a frame arrives: its TTL,
        or the first-frame / idle limit, whichever comes first."""
        cfg = self.config
        if session.last_arrival is None:
            idle = session.created_at + cfg.first_frame_timeout_s
        else:
            idle = session.last_arrival + cfg.idle_timeout_s
        return min(session.expires_at, idle)

    def _overdue(self, session: AuthSession, now: float) -> Reason | None:
        """Why an undecided session must end at ``now``, or None."""
        if session.result is not None:
            return None
        if now >= session.expires_at:
            return Reason.SESSION_EXPIRED
        if now >= self.deadline(session):
            return Reason.INACTIVE
        return None

    def _check_open(self, session: AuthSession, now: float) -> None:
        if self._overdue(session, now) is not None:
            self.end_overdue(session, now)
        result = session.result
        if result is not None:
            if result.reason is Reason.SESSION_EXPIRED:
                raise SessionExpiredError("this sign-in session has expired; start a new one")
            raise SessionFinishedError("this sign-in session is over; start a new one")

    def end_overdue(self, session: AuthSession, now: float | None = None) -> FrameState:
        """End an undecided session past its TTL (``session_expired``) or its idle
        limit (``inactive``), idempotently; returns its final (or current) state."""
        at = self.clock() if now is None else now
        with session.lock:
            reason = self._overdue(session, at)
            if reason is not None:
                self._end_locked(session, reason, at)
            return session.state

    def _end_locked(self, session: AuthSession, reason: Reason, now: float) -> None:
        if session.liveness is not None:
            session.liveness.close()
            session.liveness = None
        result = SessionResult(Status.REFUSED, reason)
        session.state = FrameState(
            seq=session.state.seq + 1, phase=Phase.DECIDED, progress=1.0, result=result
        )
        logger.info("session %s ended %s after %d frame(s)", session.id, reason, session.frames)
        self._on_result(result)
        try:
            self.outcomes.ended(session, reason, now)
        except Exception:
            logger.exception("could not record the end of session %s", session.id)

    def reap(self) -> int:
        """End sessions past their TTL or idle limit (closing their trackers) and
        forget those past their tombstone time. Returns how many were ended or
        forgotten."""
        with self._lock:
            return self._reap(self.clock())

    def _reap(self, now: float) -> int:
        count = 0
        for session in self.store.all():
            reason = self._overdue(session, now)
            if reason is not None:
                # A session busy with a frame is left for the next sweep (or its own
                # next frame, which checks the limits too).
                if session.lock.acquire(blocking=False):
                    try:
                        if self._overdue(session, now) is not None:
                            self._end_locked(session, reason, now)
                            count += 1
                    finally:
                        session.lock.release()
            elif session.result is not None and now >= session.expires_at + self.config.tombstone_s:
                self.store.remove(session.id)
                count += 1
        return count

    def active_count(self, address: str | None = None) -> int:
        """Sessions holding a live tracker (what ``max_active`` caps), all or one
        address's (``max_sessions_per_address``)."""
        return sum(
            1
            for s in self.store.all()
            if s.liveness is not None and (address is None or s.address == address)
        )

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
