"""Errors of the sign-in session layer, each with a stable ``code`` clients may switch on.

Rate limits and lockouts reuse ``RateLimitedError`` / ``LockedOutError`` from
``veronica.errors`` (they carry ``retry_after_s`` for the ``Retry-After`` header).
"""

from __future__ import annotations

from veronica.errors import BadInputError, ConflictError, NotFoundError, VeronicaError


class SessionNotFoundError(NotFoundError):
    code = "session_not_found"


class SessionExpiredError(VeronicaError):
    code = "session_expired"
    status = 410


class SessionFinishedError(ConflictError):
    """The session already has a decision: a session is single use."""

    code = "session_finished"


class SessionForbiddenError(VeronicaError):
    """The request does not carry this session's cookie (someone else's session id)."""

    code = "session_forbidden"
    status = 403


class CsrfInvalidError(VeronicaError):
    code = "csrf_invalid"
    status = 403


class BusyError(VeronicaError):
    """Too many live sessions: each holds a Face Mesh graph, so new ones wait."""

    code = "busy"
    status = 503

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManySessionsError(VeronicaError):
    """This address already has as many sessions open as it may."""

    code = "too_many_sessions"
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LightChallengeRequiredError(BadInputError):
    """The operator requires the light challenge; a session cannot opt out of it."""

    code = "light_challenge_required"


class ReturnToNotAllowedError(BadInputError):
    code = "return_to_not_allowed"


class FrameTimeInvalidError(BadInputError):
    code = "frame_time_invalid"
