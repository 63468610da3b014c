"""Input checks shared by the metric modules.

Every check raises ``BadInputError`` with a message that says what was wrong,
because these functions sit behind a CLI that shows the message to a person.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def as_scores(scores: npt.ArrayLike, name: str = "scores") -> FloatArray:
    """Return ``scores`` as a 1-D float64 array; NaN is allowed, ±inf is not.

    NaN marks a comparison that could not be made (no face found); infinities
    would silently pass every threshold, so they are treated as a bug upstream.
    """
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{name} must be numbers: {exc}") from exc
    if array.ndim != 1:
        raise BadInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if np.isinf(array).any():
        raise BadInputError(f"{name} must be finite or NaN (no decision); got ±inf")
    return array


def as_labels(labels: npt.ArrayLike) -> BoolArray:
    """Return ``labels`` as a 1-D bool array (True = same person).

    Integers are accepted only when every value is 0 or 1, so that a column of
    identity numbers passed by mistake is refused rather than read as booleans.
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise BadInputError(f"labels must be one-dimensional, got shape {array.shape}")
    if array.dtype == np.bool_ or array.size == 0:
        return array.astype(np.bool_)
    if np.issubdtype(array.dtype, np.integer) and np.isin(array, (0, 1)).all():
        return array.astype(np.bool_)
    raise BadInputError("labels must be booleans (or 0/1 integers): True = same person")


def scores_and_labels(
    scores: npt.ArrayLike, labels: npt.ArrayLike, *, both_classes: bool
) -> tuple[FloatArray, BoolArray]:
    """Validate a (scores, labels) pair: same non-zero length, optionally both classes."""
    score_array = as_scores(scores)
    label_array = as_labels(labels)
    if score_array.shape != label_array.shape:
        raise BadInputError(
            f"scores and labels differ in length: {score_array.size} vs {label_array.size}"
        )
    if score_array.size == 0:
        raise BadInputError("no pairs given: scores and labels are empty")
    if both_classes and (label_array.all() or not label_array.any()):
        raise BadInputError(
            "labels need at least one positive (same) and one negative (different) pair"
        )
    return score_array, label_array


def as_rate(value: float, name: str) -> float:
    """Check that ``value`` is a proportion in [0, 1] and return it as a float."""
    number = _as_float(value, name)
    if not 0.0 <= number <= 1.0:  # also rejects NaN
        raise BadInputError(f"{name} must be a proportion in [0, 1], got {value!r}")
    return number


def as_threshold(value: float) -> float:
    """Check that a decision threshold is a number (±inf allowed: accept/reject all)."""
    number = _as_float(value, "threshold")
    if math.isnan(number):
        raise BadInputError("threshold must be a number, got NaN")
    return number


def _as_float(value: float, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"{name} must be a number, got {value!r}") from exc
