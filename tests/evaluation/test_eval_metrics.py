"""Verification metrics against hand-computed values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from veronica.errors import BadInputError
from veronica.evaluation.metrics import (
    KFoldResult,
    VerificationReport,
    accuracy,
    auc,
    best_threshold,
    eer,
    kfold_accuracy,
    lfw_folds,
    min_measurable_far,
    roc_curve,
    tar_at_far,
    verification_report,
)

EXACT = 1e-12

# 4 genuine / 4 impostor pairs, interleaved when sorted:
# 0.9P 0.8P 0.7N 0.6P 0.5N 0.4P 0.3N 0.2N
SMALL_SCORES = np.array([0.9, 0.8, 0.6, 0.4, 0.7, 0.5, 0.3, 0.2])
SMALL_LABELS = np.array([True] * 4 + [False] * 4)


def test_small_example_roc_points() -> None:
    roc = roc_curve(SMALL_SCORES, SMALL_LABELS)

    assert roc.thresholds.tolist() == [math.inf, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert roc.far.tolist() == [0, 0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1]
    assert roc.tar.tolist() == [0, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1, 1]
    assert roc.frr.tolist() == [1, 0.75, 0.5, 0.5, 0.25, 0.25, 0, 0, 0]


def test_small_example_summary_values() -> None:
    # 13 of the 16 genuine/impostor pairs are ordered correctly.
    assert auc(roc_curve(SMALL_SCORES, SMALL_LABELS)) == pytest.approx(13 / 16, abs=EXACT)
    # At threshold 0.6: 0.7 falsely accepted (FAR 1/4), 0.4 falsely rejected (FRR 1/4).
    assert eer(SMALL_SCORES, SMALL_LABELS) == pytest.approx((0.25, 0.6), abs=EXACT)
    assert tar_at_far(SMALL_SCORES, SMALL_LABELS, 0.0) == pytest.approx(0.5, abs=EXACT)
    assert tar_at_far(SMALL_SCORES, SMALL_LABELS, 0.1) == pytest.approx(0.5, abs=EXACT)
    assert tar_at_far(SMALL_SCORES, SMALL_LABELS, 0.25) == pytest.approx(0.75, abs=EXACT)
    assert tar_at_far(SMALL_SCORES, SMALL_LABELS, 1.0) == pytest.approx(1.0, abs=EXACT)
    # Cuts at 0.75, 0.55 and 0.35 all get 6/8 right; the highest one wins.
    assert best_threshold(SMALL_SCORES, SMALL_LABELS) == pytest.approx(0.75, abs=EXACT)
    assert accuracy(SMALL_SCORES, SMALL_LABELS, 0.75) == pytest.approx(0.75, abs=EXACT)
    assert min_measurable_far(SMALL_LABELS) == pytest.approx(0.25, abs=EXACT)


def test_eer_is_interpolated_between_bracketing_points() -> None:
    # Points: (FAR, FRR) = (1/2, 2/3) at 0.7 and (1/2, 1/3) at 0.6; they cross halfway.
    scores = [0.9, 0.6, 0.5, 0.7, 0.2]
    labels = [True, True, True, False, False]

    assert eer(scores, labels) == pytest.approx((0.5, 0.65), abs=EXACT)


def test_perfectly_separable() -> None:
    scores = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1]
    labels = [True, True, True, False, False, False]

    assert auc(roc_curve(scores, labels)) == pytest.approx(1.0, abs=EXACT)
    assert eer(scores, labels) == pytest.approx((0.0, 0.7), abs=EXACT)
    assert tar_at_far(scores, labels, 0.0) == pytest.approx(1.0, abs=EXACT)
    assert best_threshold(scores, labels) == pytest.approx(0.5, abs=EXACT)
    assert accuracy(scores, labels, best_threshold(scores, labels)) == pytest.approx(1.0, abs=0)


def test_fully_inverted() -> None:
    scores = [0.1, 0.2, 0.8, 0.9]
    labels = [True, True, False, False]

    assert auc(roc_curve(scores, labels)) == pytest.approx(0.0, abs=EXACT)
    assert eer(scores, labels)[0] == pytest.approx(1.0, abs=EXACT)
    assert tar_at_far(scores, labels, 0.5) == pytest.approx(0.0, abs=EXACT)
    assert accuracy(scores, labels, 0.5) == pytest.approx(0.0, abs=0)
    # Accepting all or rejecting all is the best this system can do.
    threshold = best_threshold(scores, labels)
    assert threshold > 0.9
    assert accuracy(scores, labels, threshold) == pytest.approx(0.5, abs=EXACT)


def test_ties_share_one_operating_point_and_count_half() -> None:
    scores = [0.8, 0.5, 0.5, 0.1]  # a genuine and an impostor pair tie at 0.5
    labels = [True, True, False, False]
    roc = roc_curve(scores, labels)

    assert roc.thresholds.tolist() == [math.inf, 0.8, 0.5, 0.1]
    assert roc.far.tolist() == [0, 0, 0.5, 1]
    assert roc.tar.tolist() == [0, 0.5, 1, 1]
    assert auc(roc) == pytest.approx(3.5 / 4, abs=EXACT)  # the tie counts one half
    assert eer(scores, labels) == pytest.approx((0.25, 0.65), abs=EXACT)


def test_all_tied_scores_give_chance_auc() -> None:
    scores = [0.5] * 6
    labels = [True, False] * 3

    assert auc(roc_curve(scores, labels)) == pytest.approx(0.5, abs=EXACT)
    assert eer(scores, labels) == pytest.approx((0.5, 0.5), abs=EXACT)


def test_score_equal_to_threshold_is_accepted() -> None:
    assert accuracy([0.5, 0.5], [True, False], 0.5) == pytest.approx(0.5, abs=0)


def test_nan_counts_as_wrong_for_both_classes_in_accuracy() -> None:
    scores = [0.9, np.nan, 0.1, np.nan]
    labels = [True, True, False, False]

    assert accuracy(scores, labels, 0.5) == pytest.approx(0.5, abs=0)
    assert accuracy(scores, labels, -math.inf) == pytest.approx(0.25, abs=0)
    assert accuracy(scores, labels, math.inf) == pytest.approx(0.25, abs=0)


def test_nan_is_never_accepted_by_the_roc() -> None:
    scores = [0.9, np.nan, 0.5, np.nan]
    labels = [True, True, False, False]
    roc = roc_curve(scores, labels)

    assert roc.thresholds.tolist() == [math.inf, 0.9, 0.5, -math.inf]
    finite = np.isfinite(roc.thresholds)
    assert roc.tar[finite].max() == pytest.approx(0.5, abs=0)  # the NaN genuine pair
    assert roc.far[finite].max() == pytest.approx(0.5, abs=0)  # the NaN impostor pair
    # Mann-Whitney with NaN ranked last: 0.9>0.5, 0.9>NaN, NaN<0.5, NaN~NaN (half).
    assert auc(roc) == pytest.approx(2.5 / 4, abs=EXACT)
    assert eer(scores, labels) == pytest.approx((0.5, 0.5), abs=EXACT)
    assert tar_at_far(scores, labels, 0.5) == pytest.approx(0.5, abs=EXACT)


def test_nan_genuine_pair_lowers_tar_at_every_far() -> None:
    scores = [0.9, np.nan, 0.2, 0.1]
    labels = [True, True, False, False]

    assert tar_at_far(scores, labels, 0.0) == pytest.approx(0.5, abs=EXACT)
    assert tar_at_far(scores, labels, 0.99) == pytest.approx(0.5, abs=EXACT)


def test_best_threshold_ignores_nan_pairs() -> None:
    scores = [0.9, 0.8, np.nan, 0.3, 0.2, np.nan]
    labels = [True, True, True, False, False, False]

    assert best_threshold(scores, labels) == pytest.approx(0.55, abs=EXACT)


def test_best_threshold_midpoint_of_adjacent_floats_keeps_the_cut() -> None:
    low = 1.0
    high = float(np.nextafter(low, 2.0))
    threshold = best_threshold([high, low], [True, False])

    assert accuracy([high, low], [True, False], threshold) == pytest.approx(1.0, abs=0)


def test_roc_arrays_are_read_only() -> None:
    roc = roc_curve(SMALL_SCORES, SMALL_LABELS)

    with pytest.raises(ValueError, match="read-only"):
        roc.far[0] = 0.5


def test_lfw_folds_are_contiguous_equal_blocks() -> None:
    folds = lfw_folds(6000)

    assert folds.shape == (6000,)
    assert np.bincount(folds).tolist() == [600] * 10
    assert folds[:600].tolist() == [0] * 600
    assert folds[-1] == 9
    assert lfw_folds(8, 2).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("n_pairs", "folds"), [(6001, 10), (10, 3), (5, 10), (10, 0), (10.0, 2), (10, True)]
)
def test_lfw_folds_rejects_uneven_splits(n_pairs: int, folds: int) -> None:
    with pytest.raises(BadInputError):
        lfw_folds(n_pairs, folds)


def test_lfw_folds_message_explains_the_remainder() -> None:
    with pytest.raises(BadInputError, match=r"6001 pairs cannot be split into 10 equal folds"):
        lfw_folds(6001, 10)


def test_kfold_by_hand() -> None:
    # Fold 0 = first four rows, fold 1 = last four.
    scores = [0.9, 0.6, 0.4, 0.1, 0.8, 0.3, 0.5, 0.2]
    labels = [True, True, False, False, True, True, False, False]

    result = kfold_accuracy(scores, labels, folds=2)

    # Fold 0 uses fold 1's best cut: 0.25 and 0.65 tie at 3/4, the higher wins.
    # Fold 1 uses fold 0's separating cut 0.5 (and 0.5 itself is accepted).
    assert result.fold_thresholds == pytest.approx((0.65, 0.5), abs=EXACT)
    assert result.fold_accuracies == pytest.approx((0.75, 0.5), abs=EXACT)
    assert result.mean == pytest.approx(0.625, abs=EXACT)
    assert result.std == pytest.approx(0.125, abs=EXACT)  # population std (ddof=0)
    assert result.mean_threshold == pytest.approx(0.575, abs=EXACT)
    assert result.standard_error == pytest.approx(0.125, abs=EXACT)  # sqrt(0.03125)/sqrt(2)


def test_kfold_with_one_fold_tunes_on_everything() -> None:
    result = kfold_accuracy(SMALL_SCORES, SMALL_LABELS, folds=1)

    assert result == KFoldResult(
        fold_accuracies=(0.75,),
        fold_thresholds=(0.75,),
        mean=0.75,
        std=0.0,
        mean_threshold=0.75,
    )
    assert math.isnan(result.standard_error)


def _two_gaussians(
    pairs_per_fold: int, folds: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Genuine ~ N(+1, 1), impostor ~ N(-1, 1), each fold half genuine then half impostor."""
    rng = np.random.default_rng(seed)
    half = pairs_per_fold // 2
    fold_labels = np.array([True] * half + [False] * half)
    labels = np.tile(fold_labels, folds)
    scores = np.where(labels, 1.0, -1.0) + rng.standard_normal(labels.size)
    return scores, labels


def test_kfold_on_two_gaussians_finds_the_bayes_threshold() -> None:
    scores, labels = _two_gaussians(pairs_per_fold=1200, folds=10, seed=20240501)

    result = kfold_accuracy(scores, labels, folds=10)

    # Equal priors and variances: the optimal threshold is the midpoint 0 and
    # the optimal accuracy is Phi(1).
    bayes_accuracy = 0.5 * (1.0 + math.erf(1.0 / math.sqrt(2.0)))
    assert result.mean_threshold == pytest.approx(0.0, abs=0.15)
    assert all(abs(t) < 0.3 for t in result.fold_thresholds)
    assert result.mean == pytest.approx(bayes_accuracy, abs=0.015)
    assert 0.0 < result.std < 0.05
    assert len(result.fold_accuracies) == 10


def test_verification_report_fields_and_json_keys() -> None:
    scores, labels = _two_gaussians(pairs_per_fold=200, folds=10, seed=7)
    scores[[3, 1500]] = np.nan  # one genuine and one impostor pair without a face

    report = verification_report(scores, labels, folds=10, seconds=12.5, failures_to_enroll=2)
    data = report.to_json_dict()

    assert list(data) == [
        "accuracy_mean",
        "accuracy_std",
        "auc",
        "eer",
        "tar_at_far_1e-3",
        "tar_at_far_1e-4",
        "threshold",
        "failures_to_enroll",
        "pairs",
        "seconds",
        "fold_accuracies",
    ]
    assert data["tar_at_far_1e-3"] == report.tar_at_far_1e_3
    assert data["tar_at_far_1e-4"] == report.tar_at_far_1e_4
    assert report.pairs == 2000
    assert report.failures_to_enroll == 2
    assert report.seconds == pytest.approx(12.5, abs=0)
    assert len(report.fold_accuracies) == 10
    kfold = kfold_accuracy(scores, labels, folds=10)
    assert report.accuracy_mean == pytest.approx(kfold.mean, abs=0)
    assert report.threshold == pytest.approx(kfold.mean_threshold, abs=0)
    assert report.auc == pytest.approx(auc(roc_curve(scores, labels)), abs=0)
    assert report.eer == pytest.approx(eer(scores, labels)[0], abs=0)
    assert 0.8 < report.auc < 1.0
    json.loads(json.dumps(data, allow_nan=False))  # plain, strictly valid JSON


def test_verification_report_is_frozen() -> None:
    report = verification_report(SMALL_SCORES, SMALL_LABELS, 1, 1.0, 0)

    assert isinstance(report, VerificationReport)
    with pytest.raises(AttributeError):
        report.auc = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("failures", "seconds"), [(-1, 1.0), (True, 1.0), (0, -1.0), (0, math.nan)]
)
def test_verification_report_rejects_bad_counts(failures: int, seconds: float) -> None:
    with pytest.raises(BadInputError):
        verification_report(SMALL_SCORES, SMALL_LABELS, 1, seconds, failures)


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, 0.2, 0.3], [True, False], "differ in length"),
        ([0.1, 0.2], [True, True], "at least one positive"),
        ([0.1, 0.2], [False, False], "at least one positive"),
        ([0.1, math.inf], [True, False], "finite"),
        ([-math.inf, 0.2], [True, False], "finite"),
        ([math.nan, math.nan], [True, False], "every score is NaN"),
        ([], [], "empty"),
        ([[0.1, 0.2]], [[True, False]], "one-dimensional"),
        ([0.1, 0.2], [1, 2], "booleans"),
        (["a", "b"], [True, False], "numbers"),
    ],
)
def test_roc_curve_rejects_bad_input(scores: object, labels: object, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        roc_curve(scores, labels)  # type: ignore[arg-type]


def test_integer_labels_are_accepted_when_zero_or_one() -> None:
    roc = roc_curve(SMALL_SCORES, SMALL_LABELS.astype(int))

    assert auc(roc) == pytest.approx(13 / 16, abs=EXACT)


@pytest.mark.parametrize(
    "call",
    [
        lambda: eer([0.1, 0.2], [True, True]),
        lambda: tar_at_far([0.1, 0.2], [True, False], 1.5),
        lambda: tar_at_far([0.1, 0.2], [True, False], math.nan),
        lambda: best_threshold([0.1, 0.2], [False, False]),
        lambda: best_threshold([math.nan, 0.2], [True]),
        lambda: accuracy([0.1, 0.2], [True, False], math.nan),
        lambda: accuracy([0.1], [True, False], 0.5),
        lambda: kfold_accuracy(SMALL_SCORES, SMALL_LABELS, folds=3),
        lambda: kfold_accuracy([0.9, 0.8, 0.2, 0.1], [True, True, False, False], folds=2),
        lambda: min_measurable_far([True, True]),
    ],
)
def test_other_functions_reject_bad_input(call: Callable[[], object]) -> None:
    with pytest.raises(BadInputError):
        call()
