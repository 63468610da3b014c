"""Where live sign-in sessions are kept, behind the ``SessionStore`` protocol.

A session holds live objects: its ``LivenessSession`` owns a MediaPipe tracking
graph and numpy signal state, which cannot be serialised. The in-process store
therefore keeps the objects themselves, and every frame of a session must reach
the process that created it. A multi-instance deployment needs either

* sticky routing: the load balancer pins ``/api/v1/auth/sessions/{id}/...`` to
  the instance that answered the POST (hash on the session id in the path, or a
  cookie-based affinity; the WebSocket is one connection and sticks by itself); or
* state handoff: a shared store (Redis) for everything but the tracker (ids,
  secrets, expiry, seq, result) plus re-creating the tracker and signals on the
  instance that receives a frame, which would need the signals to export and
  import their state. Not built; sticky routing is the simple answer.

Rate limits and lockouts must be shared between instances either way (their own
protocols, with Redis implementations in a later issue).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from veronica.liveness.positioning import Oval
from veronica.liveness.session import LivenessSession
from veronica.sessions.state import FrameState, Purpose, SessionResult


@dataclass(eq=False)
class AuthSession:
    """One sign-in or enrollment attempt. Mutable: only its manager changes it,
    and only while holding ``lock`` (frames of one session run one at a time)."""

    id: str
    purpose: Purpose
    username: str | None
    """Claimed user (1:1 login), the enrollment link's user, or None (1:N)."""
    csrf_token: str
    cookie_secret: str
    client_ip: str
    """The peer address as seen (audit)."""
    address: str
    """``address_key(client_ip)``: what per-address limits and lockouts count."""
    created_at: float
    expires_at: float
    liveness: LivenessSession | None
    """None once decided or expired (its tracker is closed then)."""
    state: FrameState
    oval: Oval = field(default_factory=Oval)
    enrollment_token: str | None = None
    return_to: str | None = None
    light: bool = True
    last_t: float | None = None
    """Claimed capture time of the last frame (client clock, seconds)."""
    last_arrival: float | None = None
    """Arrival time of the last frame (server clock)."""
    last_answer_at: float | None = None
    """When the last frame's answer was ready (server clock): the client's wait
    for the next frame starts there."""
    placed_ever: bool = False
    frames: int = 0
    recent_frames: deque[bytes] = field(default_factory=lambda: deque(maxlen=3))
    """Last frames as received, kept only when the audit keeps images of refusals."""
    lock: threading.RLock = field(default_factory=threading.RLock)
    """Held while a frame is processed; a frame that finds it taken is dropped."""

    @property
    def result(self) -> SessionResult | None:
        return self.state.result

    @property
    def decided(self) -> bool:
        return self.state.result is not None

    @property
    def address_lock_key(self) -> str:
        return f"ip:{self.address}"

    @property
    def lockout_keys(self) -> tuple[str, ...]:
        """Every key whose lock refuses this session: its address and claimed user."""
        keys = [self.address_lock_key]
        if self.username is not None:
            keys.insert(0, f"user:{self.username}")
        return tuple(keys)


class SessionStore(Protocol):
    """Sessions by id. Implementations must be safe to call from many threads."""

    def add(self, session: AuthSession) -> None: ...

    def get(self, session_id: str) -> AuthSession | None: ...

    def remove(self, session_id: str) -> AuthSession | None: ...

    def all(self) -> list[AuthSession]:
        """A snapshot of every stored session (for reaping and counting)."""
        ...

    def ping(self) -> bool:
        """Reachable (readiness probe)."""
        ...


class InMemorySessionStore:
    """A dict under a lock, in this process (see the module docstring for several)."""

    def __init__(self) -> None:
        self._sessions: dict[str, AuthSession] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def add(self, session: AuthSession) -> None:
        with self._lock:
            if session.id in self._sessions:
                raise ValueError("duplicate session id")
            self._sessions[session.id] = session

    def get(self, session_id: str) -> AuthSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def remove(self, session_id: str) -> AuthSession | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def all(self) -> list[AuthSession]:
        with self._lock:
            return list(self._sessions.values())

    def ping(self) -> bool:
        return True
