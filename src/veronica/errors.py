"""Domain errors.

Every error the service or CLI can report is a ``VeronicaError`` subclass with a
stable machine-readable ``code`` and the HTTP status it maps to, so one handler
(API) or one ``except`` (CLI) turns any of them into a clear answer without
leaking internals.
"""

from __future__ import annotations


class VeronicaError(Exception):
    """Base class: ``code`` is stable (clients may switch on it), ``status`` is HTTP."""

    code: str = "internal_error"
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInputError(VeronicaError):
    code = "bad_input"
    status = 400


class ImageDecodeError(BadInputError):
    code = "image_undecodable"
    status = 422


class ImageTooLargeError(BadInputError):
    code = "image_too_large"
    status = 413


class ImageTooSmallError(BadInputError):
    code = "image_too_small"
    status = 422


class NotFoundError(VeronicaError):
    code = "not_found"
    status = 404


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class ConflictError(VeronicaError):
    code = "conflict"
    status = 409


class UserExistsError(ConflictError):
    code = "user_exists"


class ReenrollmentRequiredError(ConflictError):
    """The user's templates were made by another embedding model: comparing
    vectors from two models would give meaningless scores, so we refuse."""

    code = "reenrollment_required"


class GalleryTooLargeError(ConflictError):
    """1:N identification is refused: more users are enrolled than this model can
    search at the configured FPIR without missing too many genuine users
    (docs/MODELS.md, "1:N"). The message is safe to show a user; ``users`` and
    ``limit`` are for the operator's logs."""

    code = "gallery_too_large"

    def __init__(self, users: int, limit: int) -> None:
        super().__init__(
            "sign-in without a user name is not available here; sign in with your user name"
        )
        self.users = users
        self.limit = limit


class TemplateKeyError(VeronicaError):
    """Missing or wrong template key: we refuse rather than return garbage matches."""

    code = "template_key_invalid"
    status = 500


class ModelError(VeronicaError):
    """A model file is missing, has the wrong hash, or fails to load."""

    code = "model_unavailable"
    status = 503


class ConfigurationError(VeronicaError):
    code = "configuration_invalid"
    status = 500


# --- security (issue 5) ---


class TokenInvalidError(VeronicaError):
    """A result token failed verification (signature, key id, algorithm, time, iss/aud).

    The message says which check failed; it never contains the token itself."""

    code = "token_invalid"
    status = 401


class AdminKeyInvalidError(VeronicaError):
    code = "admin_key_invalid"
    status = 401


class AdminKeyNotFoundError(NotFoundError):
    code = "admin_key_not_found"


class AdminKeyExistsError(ConflictError):
    code = "admin_key_exists"


class RetryLaterError(VeronicaError):
    """Base for refusals that lift by themselves: ``retry_after_s`` feeds ``Retry-After``."""

    code = "retry_later"
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LockedOutError(RetryLaterError):
    code = "locked_out"


class RateLimitedError(RetryLaterError):
    code = "rate_limited"


class UnavailableError(RetryLaterError):
    """A backing service is unreachable: the operation was not done (nothing was
    half-written) and may be retried once it is back. The message is written for
    clients and names no host."""

    status = 503


class StateUnavailableError(UnavailableError):
    """The shared state store (Redis) did not answer."""

    code = "state_unavailable"


class DatabaseUnavailableError(UnavailableError):
    """The database did not answer (or refused connections)."""

    code = "database_unavailable"


class EnrollmentLinkInvalidError(VeronicaError):
    """Unknown, used or expired enrollment link: one answer for all three, so the
    response does not tell a guesser which tokens once existed."""

    code = "enrollment_link_invalid"
    status = 410
