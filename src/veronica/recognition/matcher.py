"""Cosine-similarity matching of face embeddings.

All scores are cosine similarities in [-1, 1] (1 = same direction). Embeddings are
L2-normalised before comparison, so a cosine similarity is just a dot product, and a
whole gallery is scored with one matrix-vector product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError

FloatArray = npt.NDArray[np.float32]

DEFAULT_TOP_K = 5
"""Enough runners-up to show how close the call was, few enough to leak little."""

DEFAULT_MIN_MARGIN = 0.0
"""Margin rule off by default: the threshold alone is what accuracy was measured with."""


def _check_float_dtype(array: npt.NDArray[np.generic], what: str) -> None:
    # Embeddings are always floats; an int/bool array is almost surely a wrong argument.
    if not np.issubdtype(array.dtype, np.floating):
        raise BadInputError(f"{what} must be a float array, got dtype {array.dtype}")


def unit_vector(vector: npt.NDArray[np.generic], what: str = "vector") -> FloatArray:
    """Validate a 1-D finite non-zero float vector and return it L2-normalised (float32)."""
    if not isinstance(vector, np.ndarray):
        raise BadInputError(f"{what} must be a numpy array, got {type(vector).__name__}")
    if vector.ndim != 1 or vector.size == 0:
        raise BadInputError(f"{what} must be a non-empty 1-D vector, got shape {vector.shape}")
    _check_float_dtype(vector, what)
    as64 = vector.astype(np.float64)
    if not np.all(np.isfinite(as64)):
        raise BadInputError(f"{what} contains NaN or infinite values")
    norm = float(np.linalg.norm(as64))
    if norm == 0.0:
        raise BadInputError(f"{what} is all zeros and has no direction")
    return (as64 / norm).astype(np.float32)


def unit_rows(matrix: npt.NDArray[np.generic], what: str = "templates") -> FloatArray:
    """Validate a 2-D finite float matrix and return a copy with L2-normalised rows."""
    if not isinstance(matrix, np.ndarray):
        raise BadInputError(f"{what} must be a numpy array, got {type(matrix).__name__}")
    if matrix.ndim != 2:
        raise BadInputError(f"{what} must be a 2-D (rows, dim) matrix, got shape {matrix.shape}")
    _check_float_dtype(matrix, what)
    as32 = np.array(matrix, dtype=np.float32, order="C", copy=True)
    if as32.size == 0:
        return as32
    if not np.all(np.isfinite(as32)):
        raise BadInputError(f"{what} contain NaN or infinite values")
    norms = np.linalg.norm(as32.astype(np.float64), axis=1)
    if np.any(norms == 0.0):
        raise BadInputError(f"{what} contain an all-zero row")
    as32 /= norms[:, np.newaxis].astype(np.float32)
    return as32


def _check_dims(probe_dim: int, other_dim: int, what: str) -> None:
    if probe_dim != other_dim:
        raise BadInputError(
            f"dimension mismatch: the probe has {probe_dim} values but the {what} have "
            f"{other_dim}; were they produced by the same embedding model?"
        )


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _check_threshold(threshold: float) -> float:
    if not _is_real(threshold) or not math.isfinite(threshold):
        raise BadInputError(f"threshold must be a finite cosine similarity, got {threshold!r}")
    return float(threshold)


def _clip(similarity: float) -> float:
    # float32 rounding can give 1.0000001 for identical vectors; report within [-1, 1].
    return min(1.0, max(-1.0, similarity))


@dataclass(frozen=True, eq=False, repr=False)
class Gallery:
    """Every enrolled template for one embedding model.

    ``names[i]`` owns row ``i`` of ``matrix`` (shape ``(n, dim)``, float32); a user with
    several templates appears on several rows. Rows are re-normalised on construction
    and the matrix is made read-only, so a Gallery can be shared between threads.
    """

    names: tuple[str, ...]
    matrix: FloatArray
    users: tuple[str, ...] = field(init=False)
    """Distinct owners, sorted; index ``j`` matches the per-user score arrays."""
    _row_order: npt.NDArray[np.intp] = field(init=False)
    _group_starts: npt.NDArray[np.intp] = field(init=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        matrix = unit_rows(self.matrix, "gallery templates")
        if len(names) != matrix.shape[0]:
            raise BadInputError(
                f"gallery has {len(names)} names but {matrix.shape[0]} template rows"
            )
        if not all(isinstance(name, str) and name for name in names):
            raise BadInputError("gallery names must be non-empty strings")
        matrix.flags.writeable = False
        users, owner = _group_rows(names)
        # Sort rows by owner once, so scoring is a gather plus one reduceat per probe.
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(users))
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "_row_order", order)
        object.__setattr__(self, "_group_starts", starts)

    @classmethod
    def empty(cls, dim: int = 0) -> Gallery:
        """A gallery with no templates (nobody enrolled for this model yet)."""
        return cls(names=(), matrix=np.zeros((0, dim), dtype=np.float32))

    @property
    def dim(self) -> int:
        """Embedding dimension (0 for an empty gallery built without one)."""
        return int(self.matrix.shape[1])

    def __repr__(self) -> str:
        # Summary only: the matrix is large and names are personal data in logs.
        return f"Gallery(users={len(self.users)}, rows={len(self)}, dim={self.dim})"

    def __len__(self) -> int:
        """Number of template rows (not users)."""
        return int(self.matrix.shape[0])

    def user_similarities(self, probe: npt.NDArray[np.generic]) -> FloatArray:
        """Best cosine similarity of ``probe`` to each user in :attr:`users`, in [-1, 1]."""
        unit = unit_vector(probe, "probe")
        if not self.users:
            return np.zeros(0, dtype=np.float32)
        _check_dims(unit.shape[0], self.dim, "gallery templates")
        row_scores = self.matrix @ unit
        per_user = np.maximum.reduceat(row_scores[self._row_order], self._group_starts)
        return np.clip(per_user, -1.0, 1.0).astype(np.float32)


def _group_rows(names: tuple[str, ...]) -> tuple[tuple[str, ...], npt.NDArray[np.intp]]:
    """Distinct names (sorted) and, per row, the index of its owner in that tuple."""
    if not names:
        return (), np.zeros(0, dtype=np.intp)
    users, owner = np.unique(np.asarray(names, dtype=np.str_), return_inverse=True)
    return tuple(str(u) for u in users), owner.astype(np.intp).reshape(-1)


@dataclass(frozen=True)
class VerifyResult:
    """1:1 outcome. ``similarity`` is the best cosine similarity in [-1, 1]."""

    matched: bool
    similarity: float
    threshold: float


@dataclass(frozen=True)
class Candidate:
    """A user and their best cosine similarity to the probe, in [-1, 1]."""

    name: str
    similarity: float


@dataclass(frozen=True)
class IdentifyResult:
    """1:N outcome.

    ``candidates`` are the top users by similarity, best first, whether or not they pass
    the threshold; ``best`` is the first candidate only if it passed the threshold and
    the margin rule, else None.
    """

    best: Candidate | None
    candidates: tuple[Candidate, ...]
    threshold: float | None = None
    """The similarity threshold the search used (it grows with the gallery size in
    ``FaceService``); None when there was nobody to search."""


def cosine_similarity(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> float:
    """Cosine similarity of two 1-D float vectors, in [-1, 1]."""
    unit_a = unit_vector(a, "first vector")
    unit_b = unit_vector(b, "second vector")
    _check_dims(unit_a.shape[0], unit_b.shape[0], "second vector")
    return _clip(float(np.dot(unit_a.astype(np.float64), unit_b.astype(np.float64))))


def verify(
    probe: npt.NDArray[np.generic], templates: npt.NDArray[np.generic], threshold: float
) -> VerifyResult:
    """Does ``probe`` match one user whose templates are the rows of ``templates``?

    The score is the *maximum* cosine similarity over the templates, not the mean: each
    template records a different pose or lighting, and a genuine probe only needs to
    resemble the one taken in conditions like its own. The threshold was calibrated on
    single template-vs-probe pairs, which is exactly what the maximum compares; a mean
    would be dragged down by dissimilar-condition templates and reject genuine users.
    ``matched`` is ``similarity >= threshold`` (the boundary counts as a match).
    """
    limit = _check_threshold(threshold)
    unit = unit_vector(probe, "probe")
    rows = unit_rows(templates, "templates")
    if rows.shape[0] == 0:
        raise BadInputError("verify needs at least one template")
    _check_dims(unit.shape[0], rows.shape[1], "templates")
    similarity = _clip(float(np.max(rows @ unit)))
    return VerifyResult(matched=similarity >= limit, similarity=similarity, threshold=limit)


def _top_users(scores: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` highest scores, best first; ties go to the lower index."""
    if scores.shape[0] > k:
        chosen = np.argpartition(-scores, k - 1)[:k]
    else:
        chosen = np.arange(scores.shape[0], dtype=np.intp)
    # lexsort's last key is primary: score descending, then index (= name order).
    ranked: npt.NDArray[np.intp] = chosen[np.lexsort((chosen, -scores[chosen]))]
    return ranked


def identify(
    probe: npt.NDArray[np.generic],
    gallery: Gallery,
    threshold: float,
    top_k: int = DEFAULT_TOP_K,
    min_margin: float = DEFAULT_MIN_MARGIN,
) -> IdentifyResult:
    """Who, among everyone in ``gallery``, is ``probe``?

    Each user's score is the max over their templates (see :func:`verify` for why).
    ``best`` is the top user if their similarity is ``>= threshold`` and beats the
    second-best *user* by at least ``min_margin`` (cosine units). The margin defaults
    to 0.0 (off) because the threshold alone is what accuracy was measured with; raising
    it trades extra rejections for fewer confusions between look-alikes (e.g. siblings).
    An empty gallery gives ``best=None`` and no candidates.
    """
    limit = _check_threshold(threshold)
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise BadInputError(f"top_k must be a positive integer, got {top_k!r}")
    if not _is_real(min_margin) or not math.isfinite(min_margin) or min_margin < 0:
        raise BadInputError(f"min_margin must be a finite value >= 0, got {min_margin!r}")
    scores = gallery.user_similarities(probe)
    if scores.shape[0] == 0:
        return IdentifyResult(best=None, candidates=())
    ranked = _top_users(scores, max(int(top_k), 2))
    candidates = tuple(
        Candidate(name=gallery.users[i], similarity=float(scores[i])) for i in ranked[:top_k]
    )
    top = candidates[0]
    runner_up = float(scores[ranked[1]]) if ranked.shape[0] > 1 else None
    clear_margin = runner_up is None or top.similarity - runner_up >= min_margin
    best = top if top.similarity >= limit and clear_margin else None
    return IdentifyResult(best=best, candidates=candidates, threshold=limit)
