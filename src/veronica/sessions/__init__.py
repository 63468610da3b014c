"""Sign-in and enrollment sessions: the auth state machine on top of the
liveness session (see ``manager.py``), independent of HTTP."""

from veronica.sessions.manager import NewSession, SessionConfig, SessionManager
from veronica.sessions.outcome import OutcomeConfig, OutcomeResolver
from veronica.sessions.state import FrameState, Purpose, Reason, SessionResult, Status
from veronica.sessions.store import InMemorySessionStore, SessionRecord, SessionStore

__all__ = [
    "FrameState",
    "InMemorySessionStore",
    "NewSession",
    "OutcomeConfig",
    "OutcomeResolver",
    "Purpose",
    "Reason",
    "SessionConfig",
    "SessionManager",
    "SessionRecord",
    "SessionResult",
    "SessionStore",
    "Status",
]
