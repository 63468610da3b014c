"""The sign-in session manager: creates sessions, feeds them frames, ends them.

Time: everything that matters runs on the server's clock (``clock``): the TTL,
the idle limits, and each frame's arrival time, which is the liveness session's
clock. The client's claimed capture time is only checked against it. The clock
is the wall clock (``time.time``), not the process's monotonic one: it is the
clock a session can keep when its state outlives one process (a shared store,
several instances); NTP slews it smoothly, and a step in the middle of a session
fails that session as ``clock_drift`` rather than passing it.

Admission (``sessions/admission.py``): a session holds a slot (and a Face Mesh
graph) while it streams. One that gets no frame within ``first_frame_timeout_s``
of its creation, or none for ``idle_timeout_s``, is ended ``inactive`` and counts
as a failure against its address; one address may hold
``max_sessions_per_address`` slots. Addresses are keyed by
``security.addresses.address_key`` (an IPv6 /64 is one).

State: a session is a plain ``SessionRecord`` in the ``SessionStore``; the live
``LivenessSession`` (with its tracking Face Mesh) is this process's runtime,
cached per session and rebuilt from the record's snapshot when the record was
advanced elsewhere (another instance) or the cache does not have it. With a
shared store the snapshot is saved after every frame; every save is a
compare-and-set on the record's version, so two instances never both advance
one session.

Concurrency: frames of one session run one at a time under the store's lock
for it, and a frame that arrives while another is being processed is dropped
(server-side frame skipping: the client is never more than one frame behind).
Different sessions run in parallel on the caller's threads; the shared engine is
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
from veronica.liveness.policy import LightMode, LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession, Phase
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis
from veronica.security.addresses import address_key
from veronica.security.csrf import csrf_matches, new_csrf_token
from veronica.security.lockout import Lockout
from veronica.security.ratelimit import RateLimiter
from veronica.sessions.admission import Admission
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
from veronica.sessions.store import SessionRecord, SessionStore
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
LOCK_TTL_S = 10.0
"""Longest a frame may hold its session (a frame takes ~30 ms; an instance that
died holding the lock frees it after this)."""
KEPT_FRAMES = 3
"""Frames a session keeps for the audit of a refusal (``keep_frames``)."""


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
    nonce: str | None = None
    """The relying site's nonce for the result token (``return_to`` flow)."""
    oidc_request: str | None = None
    """An OpenID Connect authorization request id, already checked against the
    browser that asks (``oidc.provider.Provider.check_request``)."""


@dataclass
class _Runtime:
    """This process's live part of a session: what cannot be stored."""

    liveness: LivenessSession
    version: int
    """The record version the live object has caught up with."""


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
        admission: Admission,
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
        self.admission = admission
        self.config = config
        self.policy = policy or LivenessPolicy()
        self.clock = clock
        self.observer = observer
        self._engine = ObservedEngine(engine, self._on_analysis) if observer else engine
        self._runtimes: dict[str, _Runtime] = {}
        self._runtimes_lock = threading.Lock()
        self._reap_lock = threading.Lock()

    # -- creation ------------------------------------------------------------------------

    def light_for(self, requested: bool | None) -> LightMode:
        """Which light a session shows, given what the client asked: the light
        challenge, the gentle light for someone who opted out of it (under
        ``optional``), or none (``off``)."""
        policy = self.config.light
        if policy == "off":
            return LightMode.NONE
        if requested is False:
            if policy == "required":
                raise LightChallengeRequiredError(
                    "this service requires the light challenge; it cannot be turned off"
                )
            return LightMode.GENTLE
        return LightMode.FLASH

    def create(self, request: NewSession, client_ip: str) -> SessionRecord:
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
            if request.oidc_request is not None:
                raise BadInputError("an enrollment does not answer a sign-in request")
            username: str | None = self.links.peek(request.enrollment_token)
            purpose = Purpose.ENROLL
        else:
            username = validate_user_name(request.username) if request.username else None
            purpose = Purpose.LOGIN
        keys = [f"ip:{address}"] + ([f"user:{username}"] if username else [])
        self.lockout.check(keys, now)
        if purpose is Purpose.LOGIN and username is None:
            self.outcomes.check_identification()
        session_id = secrets.token_urlsafe(18)
        first_frame_by = min(now + cfg.first_frame_timeout_s, now + cfg.ttl_s)
        admitted = self.admission.admit(
            session_id,
            address,
            first_frame_by,
            max_total=cfg.max_active,
            max_per_address=cfg.max_sessions_per_address,
            now=now,
        )
        if admitted.reason == "busy":
            raise BusyError("too many sign-ins in progress; try again shortly", BUSY_RETRY_AFTER_S)
        if admitted.reason == "address":
            raise TooManySessionsError(
                "too many sign-ins in progress from this address; finish one first",
                cfg.idle_timeout_s,
            )
        seed = cfg.challenge_seed
        liveness = LivenessSession(
            self._engine,
            self.policy.for_light(light),
            rng=random.Random(seed) if seed is not None else None,
        )
        record = SessionRecord(
            id=session_id,
            purpose=purpose,
            username=username,
            csrf_token=new_csrf_token(),
            cookie_secret=secrets.token_urlsafe(32),
            client_ip=client_ip,
            address=address,
            created_at=now,
            expires_at=now + cfg.ttl_s,
            state=FrameState(seq=0, phase=Phase.POSITIONING),
            oval=liveness.oval,
            enrollment_token=request.enrollment_token,
            return_to=return_to,
            oidc_request=request.oidc_request,
            nonce=request.nonce,
            light=light,
            liveness=liveness.snapshot() if self.store.shared else None,
        )
        try:
            self.store.add(record)
        except BaseException:
            liveness.close()
            self.admission.release(session_id, address)
            raise
        self._keep_runtime(record, liveness)
        logger.info("session %s created (%s, light=%s)", record.id, purpose.value, light)
        return record

    # -- access --------------------------------------------------------------------------

    def get(self, session_id: str) -> SessionRecord:
        record = self.store.get(session_id)
        if record is None:
            raise SessionNotFoundError("no such sign-in session")
        return record

    def authorize(self, session_id: str, cookie: str | None) -> SessionRecord:
        """The session if ``cookie`` is its secret (cookies are bound to one session)."""
        record = self.get(session_id)
        if not csrf_matches(record.cookie_secret, cookie):
            raise SessionForbiddenError("this sign-in session belongs to another browser")
        return record

    @staticmethod
    def check_csrf(session: SessionRecord, token: str | None) -> None:
        if not csrf_matches(session.csrf_token, token):
            raise CsrfInvalidError("missing or wrong CSRF token")

    def check_open(self, session_id: str) -> None:
        """Raise if the session can take no more frames (expired, idle or decided).
        An undecided session past a time limit is ended here (tracker closed,
        audited), so call it from a worker thread."""
        self._check_open(self.get(session_id), self.clock())

    def liveness_of(self, session_id: str) -> LivenessSession | None:
        """This process's live liveness session of an open session, if it has one
        (tests and diagnostics; frames go through ``process``)."""
        with self._runtimes_lock:
            runtime = self._runtimes.get(session_id)
        return None if runtime is None else runtime.liveness

    # -- frames --------------------------------------------------------------------------

    def process(
        self, session_id: str, t_ms: float, data: bytes, arrived_at: float | None = None
    ) -> FrameState | None:
        """Feed one JPEG frame that arrived at ``arrived_at`` (server clock,
        default now) and claims capture time ``t_ms`` (client clock, checked
        against the arrival times). Returns the new state, or None when the frame
        was dropped: another frame of the same session is being processed (here or
        on another instance), or another instance saved the session first."""
        cfg = self.config
        now = self.clock()
        arrival = now if arrived_at is None else min(arrived_at, now)
        self._check_open(self.get(session_id), arrival)
        limit = max(1, math.ceil(cfg.max_frame_rate * FRAME_RATE_WINDOW_S))
        self._rate(f"frames:{session_id}", limit, FRAME_RATE_WINDOW_S, now)
        with self.store.lock(session_id, LOCK_TTL_S) as held:
            if not held:
                return None
            record = self.get(session_id)  # fresh: it may have moved on elsewhere
            self._check_open(record, arrival)
            t = frame_seconds(t_ms, record.last_t)
            bgr = decode_frame(data, cfg.max_frame_bytes)
            liveness = self._runtime(record)
            # Arrival times never go back, even if two frames were stamped out of order.
            arrival = max(arrival, record.last_arrival or arrival)
            answered = record.last_answer_at
            wait = max(0.0, arrival - answered) if answered is not None else None
            state = liveness.update(arrival - record.created_at, bgr, claimed=t, wait_s=wait)
            record.last_t = t
            record.last_arrival = arrival
            record.frames += 1
            if cfg.keep_frames:
                record.recent_frames = [*record.recent_frames[-(KEPT_FRAMES - 1) :], data]
            placed = state.phase is Phase.CHALLENGE or (
                state.phase is Phase.POSITIONING and not state.hints
            )
            record.placed_ever = record.placed_ever or placed
            result: SessionResult | None = None
            if state.decision is not None:
                self._drop_runtime(record.id)  # the decision closed its tracker
                record.liveness = None
                result = self._resolve(record, state.decision, now)
            elif self.store.shared:
                record.liveness = liveness.snapshot()
            record.state = FrameState(
                seq=record.state.seq + 1,
                phase=state.phase,
                action=state.action,
                light=state.light,
                hints=state.hints,
                placed=placed,
                progress=state.progress,
                result=result,
                acknowledged=state.acknowledged,
            )
            record.last_answer_at = self.clock()
            if not self.store.save(record):
                # Another instance advanced the session first: this frame never
                # happened, and our live copy is stale.
                self._drop_runtime(record.id)
                return None
            if result is not None:
                self.admission.release(record.id, record.address)
                self._on_result(result)
            else:
                self._caught_up(record)
                self.admission.refresh(record.id, record.address, self.deadline(record))
            return record.state

    def _resolve(
        self, record: SessionRecord, decision: LivenessDecision, now: float
    ) -> SessionResult:
        try:
            return self.outcomes.resolve(record, decision, now)
        except Exception:
            # The session cannot go on (its tracker is closed): end it refused, and
            # let the caller answer with the error.
            record.state = replace(
                record.state,
                seq=record.state.seq + 1,
                phase=Phase.DECIDED,
                result=SessionResult(Status.REFUSED, Reason.LIVENESS_FAILED),
            )
            record.liveness = None
            self.store.save(record)
            self.admission.release(record.id, record.address)
            raise

    # -- the per-process runtime ---------------------------------------------------------

    def _runtime(self, record: SessionRecord) -> LivenessSession:
        """The live session for ``record``: the cached one if it is up to date,
        else one restored from the record's snapshot (a fresh tracker)."""
        with self._runtimes_lock:
            runtime = self._runtimes.get(record.id)
        if runtime is not None and runtime.version == record.version:
            return runtime.liveness
        self._drop_runtime(record.id)
        if record.liveness is None:
            raise SessionFinishedError("this sign-in session cannot continue; start a new one")
        started = time.perf_counter()
        liveness = LivenessSession.restore(
            self._engine, self.policy.for_light(record.light), record.liveness
        )
        if self.observer is not None:
            self.observer.on_restore(time.perf_counter() - started)
        logger.info("session %s continued here from version %d", record.id, record.version)
        self._keep_runtime(record, liveness)
        return liveness

    def _keep_runtime(self, record: SessionRecord, liveness: LivenessSession) -> None:
        with self._runtimes_lock:
            old = self._runtimes.pop(record.id, None)
            self._runtimes[record.id] = _Runtime(liveness, record.version)
        if old is not None and old.liveness is not liveness:
            old.liveness.close()

    def _caught_up(self, record: SessionRecord) -> None:
        with self._runtimes_lock:
            runtime = self._runtimes.get(record.id)
            if runtime is not None:
                runtime.version = record.version

    def _drop_runtime(self, session_id: str) -> None:
        with self._runtimes_lock:
            runtime = self._runtimes.pop(session_id, None)
        if runtime is not None:
            runtime.liveness.close()

    def runtime_count(self) -> int:
        """Live trackers this process holds."""
        with self._runtimes_lock:
            return len(self._runtimes)

    # -- time limits ---------------------------------------------------------------------

    def deadline(self, session: SessionRecord) -> float:
        """Server time at which the session ends unless a frame arrives: its TTL,
        or the first-frame / idle limit, whichever comes first."""
        cfg = self.config
        if session.last_arrival is None:
            idle = session.created_at + cfg.first_frame_timeout_s
        else:
            idle = session.last_arrival + cfg.idle_timeout_s
        return min(session.expires_at, idle)

    def _overdue(self, session: SessionRecord, now: float) -> Reason | None:
        """Why an undecided session must end at ``now``, or None."""
        if session.result is not None:
            return None
        if now >= session.expires_at:
            return Reason.SESSION_EXPIRED
        if now >= self.deadline(session):
            return Reason.INACTIVE
        return None

    def _check_open(self, session: SessionRecord, now: float) -> None:
        if self._overdue(session, now) is not None:
            session = self.end_overdue(session.id, now)
        result = session.result
        if result is not None:
            if result.reason is Reason.SESSION_EXPIRED:
                raise SessionExpiredError("this sign-in session has expired; start a new one")
            raise SessionFinishedError("this sign-in session is over; start a new one")

    def end_overdue(self, session_id: str, now: float | None = None) -> SessionRecord:
        """End an undecided session past its TTL (``session_expired``) or its idle
        limit (``inactive``), idempotently; returns the record as it stands. A
        session busy with a frame is left alone (that frame checks the limits)."""
        at = self.clock() if now is None else now
        with self.store.lock(session_id, LOCK_TTL_S) as held:
            record = self.get(session_id)
            reason = self._overdue(record, at)
            if held and reason is not None:
                self._end(record, reason, at)
            return record

    def _end(self, record: SessionRecord, reason: Reason, now: float) -> None:
        self._drop_runtime(record.id)
        result = SessionResult(Status.REFUSED, reason)
        record.liveness = None
        record.state = FrameState(
            seq=record.state.seq + 1, phase=Phase.DECIDED, progress=1.0, result=result
        )
        if not self.store.save(record):
            return  # another instance ended (or advanced) it first
        self.admission.release(record.id, record.address)
        logger.info("session %s ended %s after %d frame(s)", record.id, reason, record.frames)
        self._on_result(result)
        try:
            self.outcomes.ended(record, reason, now)
        except Exception:
            logger.exception("could not record the end of session %s", record.id)

    def reap(self) -> int:
        """End sessions past their TTL or idle limit and forget those past their
        tombstone time; drop live trackers of sessions this process no longer
        serves. Returns how many sessions were ended or forgotten."""
        with self._reap_lock:
            return self._reap(self.clock())

    def _reap(self, now: float) -> int:
        count = 0
        open_ids: set[str] = set()
        for record in self.store.all():
            if self._overdue(record, now) is not None and self.end_overdue(record.id, now).decided:
                count += 1
                continue
            if record.result is None:
                open_ids.add(record.id)
            elif now >= record.expires_at + self.config.tombstone_s:
                self.store.remove(record.id)
                count += 1
        with self._runtimes_lock:
            gone = [sid for sid in self._runtimes if sid not in open_ids]
        for sid in gone:
            self._drop_runtime(sid)
        return count

    def active_count(self, address: str | None = None) -> int:
        """Sessions holding an admission slot (what ``max_active`` caps), all or one
        address's (``max_sessions_per_address``), across every instance sharing
        the admission."""
        return self.admission.count(self.clock(), address)

    def close(self) -> None:
        """Release every tracker this process holds (shutdown). Records stay in a
        shared store, so another instance can continue them."""
        with self._runtimes_lock:
            ids = list(self._runtimes)
        for sid in ids:
            self._drop_runtime(sid)
        if not self.store.shared:
            for record in self.store.all():
                self.admission.release(record.id, record.address)
                self.store.remove(record.id)

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
