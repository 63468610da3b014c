"""Matcher: cosine similarity, verify (1:1) and identify (1:N) on hand-built vectors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from veronica.errors import BadInputError
from veronica.recognition import (
    Candidate,
    Gallery,
    IdentifyResult,
    cosine_similarity,
    identify,
    unit_vector,
    verify,
)

E1 = np.array([1.0, 0.0, 0.0], dtype=np.float32)


def at_cos(c: float) -> npt.NDArray[Any]:
    """A unit vector whose cosine similarity with E1 is exactly ``c`` (in float64)."""
    return np.array([c, math.sqrt(1.0 - c * c), 0.0], dtype=np.float32)


def gallery_of(rows: list[tuple[str, float]]) -> Gallery:
    return Gallery(
        names=tuple(name for name, _ in rows),
        matrix=np.stack([at_cos(c) for _, c in rows]),
    )


# -- cosine similarity ---------------------------------------------------------------


def test_cosine_similarity_known_values() -> None:
    assert cosine_similarity(E1, at_cos(0.6)) == pytest.approx(0.6, abs=1e-6)
    assert cosine_similarity(E1, np.array([0.0, 1.0, 0.0])) == pytest.approx(0.0, abs=1e-7)
    assert cosine_similarity(E1, -E1) == -1.0
    assert cosine_similarity(E1, E1) == 1.0


def test_cosine_similarity_ignores_length() -> None:
    a = np.array([3.0, 4.0], dtype=np.float32)  # |a| = 5
    b = np.array([10.0, 0.0], dtype=np.float64)
    assert cosine_similarity(a, b) == pytest.approx(0.6, abs=1e-6)


@pytest.mark.parametrize(
    "b",
    [
        np.ones(4, dtype=np.float32),
        np.zeros(3, dtype=np.float32),
        np.array([np.nan, 0.0, 0.0]),
        np.ones((1, 3), dtype=np.float32),
        np.ones(3, dtype=np.int32),
    ],
    ids=["dim", "zero", "nan", "2d", "int"],
)
def test_cosine_similarity_rejects_bad_vectors(b: npt.NDArray[Any]) -> None:
    with pytest.raises(BadInputError):
        cosine_similarity(E1, b)


def test_dimension_mismatch_message_is_clear() -> None:
    with pytest.raises(BadInputError, match="probe has 3 values but the templates have 4"):
        verify(E1, np.ones((2, 4), dtype=np.float32), 0.5)


def test_unit_vector_normalises_in_float32() -> None:
    unit = unit_vector(np.array([3.0, 4.0]))
    assert unit.dtype == np.float32
    assert np.allclose(unit, [0.6, 0.8])


# -- verify --------------------------------------------------------------------------


def test_verify_uses_the_best_template_not_the_mean() -> None:
    templates = np.stack([at_cos(0.6), at_cos(0.0), at_cos(-0.2)])
    result = verify(E1, templates, threshold=0.5)
    assert result.matched
    assert result.similarity == pytest.approx(0.6, abs=1e-6)  # the mean would be ~0.13
    assert result.threshold == 0.5


def test_verify_rejects_below_threshold() -> None:
    result = verify(E1, np.stack([at_cos(0.6)]), threshold=0.61)
    assert not result.matched
    assert result.similarity == pytest.approx(0.6, abs=1e-6)


def test_threshold_boundary_counts_as_a_match() -> None:
    templates = np.stack([at_cos(0.6)])
    similarity = verify(E1, templates, threshold=0.0).similarity
    assert verify(E1, templates, threshold=similarity).matched
    assert not verify(E1, templates, threshold=float(np.nextafter(similarity, 2.0))).matched


def test_verify_normalises_unnormalised_inputs() -> None:
    result = verify(E1 * 5, np.stack([at_cos(0.6) * 0.01]), threshold=0.5)
    assert result.similarity == pytest.approx(0.6, abs=1e-6)


def test_identical_vectors_report_at_most_one() -> None:
    v = np.random.default_rng(3).standard_normal(512).astype(np.float32)
    assert verify(v, np.stack([v, v]), 0.9).similarity <= 1.0


@pytest.mark.parametrize(
    "templates",
    [
        np.zeros((0, 3), dtype=np.float32),
        at_cos(0.6),
        np.array([[np.inf, 0.0, 0.0]]),
        np.zeros((1, 3), dtype=np.float32),
    ],
    ids=["none", "1d", "inf", "zero-row"],
)
def test_verify_rejects_bad_templates(templates: npt.NDArray[Any]) -> None:
    with pytest.raises(BadInputError):
        verify(E1, templates, 0.5)


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), True, "0.5", None])
def test_verify_rejects_bad_thresholds(threshold: float) -> None:
    with pytest.raises(BadInputError):
        verify(E1, np.stack([E1]), threshold)


# -- identify ------------------------------------------------------------------------

ROWS = [
    ("bob", 0.8),
    ("alice", 0.6),
    ("alice", 0.9),
    ("carol", -0.5),
    ("dave", 0.3),
    ("alice", 0.1),
]


def test_identify_aggregates_each_user_by_max_and_orders_candidates() -> None:
    result = identify(E1, gallery_of(ROWS), threshold=0.85, top_k=5)
    assert [c.name for c in result.candidates] == ["alice", "bob", "dave", "carol"]
    expected = [0.9, 0.8, 0.3, -0.5]
    for candidate, similarity in zip(result.candidates, expected, strict=True):
        assert candidate.similarity == pytest.approx(similarity, abs=1e-6)
    assert result.best == result.candidates[0]
    assert isinstance(result.best, Candidate) and result.best.name == "alice"


def test_identify_accepts_numpy_scalars() -> None:
    top_k = np.int64(2)  # what an argparse/numpy caller may hand over
    result = identify(E1, gallery_of(ROWS), np.float64(0.5), top_k=top_k)  # type: ignore[arg-type]
    assert [c.name for c in result.candidates] == ["alice", "bob"]


def test_identify_top_k_limits_candidates() -> None:
    result = identify(E1, gallery_of(ROWS), threshold=0.5, top_k=2)
    assert [c.name for c in result.candidates] == ["alice", "bob"]
    assert [c.name for c in identify(E1, gallery_of(ROWS), 0.5, top_k=1).candidates] == ["alice"]


def test_identify_below_threshold_still_lists_candidates() -> None:
    result = identify(E1, gallery_of(ROWS), threshold=0.95)
    assert result.best is None
    assert result.candidates[0].name == "alice"


def test_identify_threshold_boundary() -> None:
    gallery = gallery_of(ROWS)
    top = identify(E1, gallery, threshold=0.0).candidates[0].similarity
    assert identify(E1, gallery, threshold=top).best is not None
    assert identify(E1, gallery, threshold=float(np.nextafter(top, 2.0))).best is None


def test_margin_rule_rejects_close_calls() -> None:
    gallery = gallery_of(ROWS)  # alice 0.9 vs bob 0.8: margin 0.1
    assert identify(E1, gallery, 0.5, min_margin=0.05).best is not None
    assert identify(E1, gallery, 0.5, min_margin=0.2).best is None
    # The runner-up counts even when top_k hides it.
    assert identify(E1, gallery, 0.5, top_k=1, min_margin=0.2).best is None


def test_margin_with_a_single_user() -> None:
    gallery = gallery_of([("solo", 0.9), ("solo", 0.2)])
    result = identify(E1, gallery, 0.5, min_margin=0.5)
    assert result.best is not None and result.best.name == "solo"


def test_ties_are_broken_by_name() -> None:
    gallery = gallery_of([("zed", 0.7), ("amy", 0.7), ("kim", 0.7)])
    assert [c.name for c in identify(E1, gallery, 0.5).candidates] == ["amy", "kim", "zed"]


def test_empty_gallery_has_no_best() -> None:
    for gallery in (Gallery.empty(), Gallery.empty(dim=3)):
        assert identify(E1, gallery, 0.5) == IdentifyResult(best=None, candidates=())


def test_identify_dimension_mismatch() -> None:
    with pytest.raises(BadInputError, match="dimension mismatch"):
        identify(np.ones(4, dtype=np.float32), gallery_of(ROWS), 0.5)


@pytest.mark.parametrize(
    ("top_k", "min_margin"), [(0, 0.0), (-1, 0.0), (True, 0.0), (5, -0.1), (5, float("nan"))]
)
def test_identify_rejects_bad_options(top_k: int, min_margin: float) -> None:
    with pytest.raises(BadInputError):
        identify(E1, gallery_of(ROWS), 0.5, top_k=top_k, min_margin=min_margin)


# -- Gallery -------------------------------------------------------------------------


def test_gallery_normalises_and_freezes_its_matrix() -> None:
    gallery = Gallery(names=("a", "b"), matrix=np.array([[3.0, 4.0], [0.0, 2.0]]))
    assert gallery.matrix.dtype == np.float32
    assert np.allclose(gallery.matrix, [[0.6, 0.8], [0.0, 1.0]])
    assert not gallery.matrix.flags.writeable
    assert (len(gallery), gallery.dim, gallery.users) == (2, 2, ("a", "b"))
    assert repr(gallery) == "Gallery(users=2, rows=2, dim=2)"


@pytest.mark.parametrize(
    ("names", "matrix"),
    [
        (("a",), np.ones((2, 3), dtype=np.float32)),
        (("a", "b"), np.ones(3, dtype=np.float32)),
        (("a",), np.array([[np.nan, 1.0]])),
        (("a",), np.zeros((1, 3), dtype=np.float32)),
        (("",), np.ones((1, 3), dtype=np.float32)),
    ],
    ids=["count", "1d", "nan", "zero-row", "empty-name"],
)
def test_gallery_rejects_inconsistent_input(
    names: tuple[str, ...], matrix: npt.NDArray[Any]
) -> None:
    with pytest.raises(BadInputError):
        Gallery(names=names, matrix=matrix)


def test_vectorised_identify_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(2024)
    rows, dim, users = 100_000, 128, 3_000
    owners = rng.integers(0, users, size=rows)
    names = tuple(f"user{i:05d}" for i in owners)
    matrix = rng.standard_normal((rows, dim)).astype(np.float32)
    gallery = Gallery(names=names, matrix=matrix)
    probe = (gallery.matrix[12_345] + 0.05 * rng.standard_normal(dim)).astype(np.float32)
    unit = probe / np.linalg.norm(probe)

    result = identify(probe, gallery, threshold=0.5, top_k=10)

    # Naive reference: a Python loop over the rows of a random subset of users
    # plus the ten reported ones.
    subset = set(rng.choice(gallery.users, size=200, replace=False).tolist())
    subset |= {c.name for c in result.candidates}
    naive: dict[str, float] = {}
    for row, name in enumerate(gallery.names):
        if name in subset:
            score = float(np.dot(gallery.matrix[row], unit))
            naive[name] = max(naive.get(name, -2.0), score)
    scores = dict(zip(gallery.users, gallery.user_similarities(probe).tolist(), strict=True))
    for name, score in naive.items():
        assert scores[name] == pytest.approx(score, abs=1e-5)
    for candidate in result.candidates:
        assert candidate.similarity == pytest.approx(naive[candidate.name], abs=1e-5)

    # The reported top 10 really are the 10 best users overall.
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert [c.name for c in result.candidates] == [name for name, _ in ranked]
    assert result.best is not None and result.best.name == names[12_345]
