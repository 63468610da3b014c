"""Storage-specific errors, all subclasses of the shared domain errors."""

from __future__ import annotations

from veronica.errors import NotFoundError, TemplateKeyError


class NotEnrolledError(NotFoundError):
    """The user exists but has no templates at all, so there is nothing to match against."""

    code = "not_enrolled"


class TemplateCorruptError(TemplateKeyError):
    """A stored ciphertext is structurally wrong (truncated, wrong length).

    Subclasses ``TemplateKeyError`` so a single ``except`` covers every case in which
    we refuse to decrypt rather than hand back garbage vectors.
    """

    code = "template_corrupt"
