"""Face-verification metrics for the LFW pair protocol.

Conventions used by every function here:

* ``scores`` are similarities: higher means "more likely the same person".
* ``labels`` are booleans: True = the two images show the same person.
* A pair is accepted ("same") when ``score >= threshold``.
* All rates (FAR, TAR, FRR, EER, accuracy) are proportions in [0, 1], not percent.
* A NaN score means no comparison was possible because one of the images had no
  detectable face (failure to enroll). Such a pair must count against the system:

  - accuracy functions treat NaN as "no decision", which is wrong for both classes;
  - ROC, AUC, EER and TAR@FAR treat NaN as the lowest possible score (-inf), so
    no finite threshold ever accepts it. A NaN genuine pair is therefore a false
    reject at every operating point, and a NaN impostor pair a correct reject.
    Only the trivial "accept everything" end of the ROC (threshold -inf) counts
    them as accepted, which keeps the curve ending at (1, 1) and makes the AUC
    equal to the Mann-Whitney probability with NaN ranked last.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError
from veronica.evaluation._validation import (
    BoolArray,
    FloatArray,
    as_labels,
    as_rate,
    as_threshold,
    scores_and_labels,
)

__all__ = [
    "KFoldResult",
    "RocCurve",
    "VerificationReport",
    "accuracy",
    "auc",
    "best_threshold",
    "eer",
    "kfold_accuracy",
    "lfw_folds",
    "min_measurable_far",
    "roc_curve",
    "tar_at_far",
    "verification_report",
]


@dataclass(frozen=True, eq=False)
class RocCurve:
    """Operating points of a verification system, ordered by decreasing threshold.

    ``far[i]`` and ``tar[i]`` are the false-accept and true-accept rates when
    accepting ``score >= thresholds[i]``. The first point is always threshold
    +inf (nothing accepted, FAR = TAR = 0); the last point accepts everything
    (FAR = TAR = 1), at threshold -inf when some scores were NaN. Arrays are
    read-only so the curve stays consistent once built.
    """

    far: FloatArray
    tar: FloatArray
    thresholds: FloatArray

    def __post_init__(self) -> None:
        if not self.far.shape == self.tar.shape == self.thresholds.shape:
            raise BadInputError("far, tar and thresholds must have the same length")
        if self.far.ndim != 1 or self.far.size < 2:
            raise BadInputError("a ROC curve needs at least two operating points")
        for array in (self.far, self.tar, self.thresholds):
            array.setflags(write=False)

    @property
    def frr(self) -> FloatArray:
        """False-reject rate at each threshold: 1 - TAR."""
        return 1.0 - self.tar


@dataclass(frozen=True)
class KFoldResult:
    """Accuracy under k-fold cross-validation (LFW "View 2" protocol).

    ``std`` is the population standard deviation (ddof=0) of the per-fold
    accuracies: the "±" most LFW papers and reference code report.
    The LFW README itself asks for the standard error of the mean, which is
    ``standard_error`` (sample std with ddof=1, divided by sqrt(k)).
    """

    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    mean: float
    std: float
    mean_threshold: float

    @property
    def standard_error(self) -> float:
        """Standard error of the mean accuracy as the LFW README defines it; NaN for k=1."""
        k = len(self.fold_accuracies)
        if k < 2:
            return math.nan
        return float(np.std(self.fold_accuracies, ddof=1) / math.sqrt(k))


@dataclass(frozen=True)
class VerificationReport:
    """The verification summary the CLI prints as JSON (see ``to_json_dict``).

    Rates are proportions in [0, 1]; ``threshold`` is in score units (the mean
    of the per-fold thresholds); ``seconds`` is wall-clock time of the run;
    ``pairs`` counts all pairs, including the NaN (no face) ones.
    """

    accuracy_mean: float
    accuracy_std: float
    auc: float
    eer: float
    tar_at_far_1e_3: float
    tar_at_far_1e_4: float
    threshold: float
    failures_to_enroll: int
    pairs: int
    seconds: float
    fold_accuracies: tuple[float, ...]

    def to_json_dict(self) -> dict[str, float | int | list[float]]:
        """Plain JSON-ready dict; the TAR keys use the hyphenated names ``tar_at_far_1e-3``."""
        return {
            "accuracy_mean": self.accuracy_mean,
            "accuracy_std": self.accuracy_std,
            "auc": self.auc,
            "eer": self.eer,
            "tar_at_far_1e-3": self.tar_at_far_1e_3,
            "tar_at_far_1e-4": self.tar_at_far_1e_4,
            "threshold": self.threshold,
            "failures_to_enroll": self.failures_to_enroll,
            "pairs": self.pairs,
            "seconds": self.seconds,
            "fold_accuracies": list(self.fold_accuracies),
        }


def roc_curve(scores: npt.ArrayLike, labels: npt.ArrayLike) -> RocCurve:
    """ROC operating points at every distinct score (NaN ranked as -inf, see module doc).

    Tied scores share one threshold, so they are accepted together and give a
    single (diagonal) step; this is what makes the AUC count ties as one half.

    Raises:
        BadInputError: lengths differ, only one class present, a score is
            ±inf, or every score is NaN.
    """
    score_array, label_array = scores_and_labels(scores, labels, both_classes=True)
    if np.isnan(score_array).all():
        raise BadInputError("every score is NaN (no face in any pair): nothing to evaluate")
    ranked = _nan_as_lowest(score_array)
    order = np.argsort(-ranked, kind="stable")
    sorted_scores = ranked[order]
    sorted_labels = label_array[order]
    true_accepts = np.cumsum(sorted_labels)
    false_accepts = np.cumsum(~sorted_labels)
    # Keep the last index of each run of equal scores; compare with != rather
    # than np.diff because -inf - -inf is NaN.
    run_ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), ranked.size - 1)
    positives = int(true_accepts[-1])
    negatives = int(false_accepts[-1])
    return RocCurve(
        far=np.concatenate(([0.0], false_accepts[run_ends] / negatives)),
        tar=np.concatenate(([0.0], true_accepts[run_ends] / positives)),
        thresholds=np.concatenate(([np.inf], sorted_scores[run_ends])),
    )


def auc(roc: RocCurve) -> float:
    """Area under the ROC curve (trapezoidal, so ties count one half), in [0, 1]."""
    widths = np.diff(roc.far)
    heights = (roc.tar[1:] + roc.tar[:-1]) / 2.0
    return float(np.sum(widths * heights))


def eer(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs: ``(eer, threshold)``.

    Finite data rarely has a threshold where FAR == FRR exactly, so both are
    interpolated linearly between the two ROC points that bracket the crossing
    (the same straight segment the AUC integrates). The threshold is therefore
    a score between two observed scores, not one that realises the EER exactly.
    When one bracketing point is the ±inf end of the curve, the finite one is
    returned as the threshold.
    """
    return _eer_from_roc(roc_curve(scores, labels))


def min_measurable_far(labels: npt.ArrayLike) -> float:
    """Smallest non-zero FAR the data can show: 1 / number of negative pairs.

    Any FAR target below this can only be met at an observed FAR of exactly 0,
    which says little (e.g. LFW has 3000 negatives, so FAR=1e-4 is not measurable).
    """
    negatives = int(np.count_nonzero(~as_labels(labels)))
    if negatives == 0:
        raise BadInputError("no negative (different-person) pairs: FAR cannot be measured")
    return 1.0 / negatives


def tar_at_far(scores: npt.ArrayLike, labels: npt.ArrayLike, far: float) -> float:
    """Largest TAR among operating points whose observed FAR is <= ``far``.

    This is the TAR at the most permissive threshold that still meets the FAR
    target. With N negative pairs FAR moves in steps of 1/N
    (see ``min_measurable_far``): for a target below 1/N the answer is the TAR
    at observed FAR = 0, i.e. with the threshold just above the best impostor.
    """
    target = as_rate(far, "far")
    return _tar_at_far_from_roc(roc_curve(scores, labels), target)


def accuracy(scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float) -> float:
    """Fraction of pairs decided correctly when accepting ``score >= threshold``.

    NaN scores (no face) are "no decision" and count as wrong for both classes.
    Needs no particular class balance, so it works on a single test fold.
    """
    score_array, label_array = scores_and_labels(scores, labels, both_classes=False)
    return _accuracy(score_array, label_array, as_threshold(threshold))


def best_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Threshold (score units) that maximises ``accuracy`` on these pairs.

    Candidates are the midpoints between consecutive distinct finite scores,
    plus the smallest score (accept all) and the next float above the largest
    (reject all). Among equally accurate candidates the highest threshold wins:
    it is deterministic and, for a login system, prefers fewer false accepts.
    NaN pairs are wrong at any threshold, so they do not affect the choice.

    Raises:
        BadInputError: invalid input (see ``roc_curve``) or every score is NaN.
    """
    score_array, label_array = scores_and_labels(scores, labels, both_classes=True)
    return _best_threshold(score_array, label_array)


def lfw_folds(n_pairs: int, folds: int = 10) -> npt.NDArray[np.int64]:
    """Fold index of each pair: ``row // (n_pairs / folds)``.

    LFW's pairs.txt lists the pairs fold after fold (300 same + 300 different
    per fold in View 2), so folds are contiguous blocks of equal size.

    Raises:
        BadInputError: ``folds`` < 1, ``n_pairs`` < ``folds``, or ``n_pairs``
            not divisible by ``folds``.
    """
    n_pairs, folds = _count(n_pairs, "n_pairs"), _count(folds, "folds")
    if folds < 1:
        raise BadInputError(f"folds must be at least 1, got {folds}")
    if n_pairs < folds:
        raise BadInputError(f"need at least one pair per fold: {n_pairs} pairs, {folds} folds")
    if n_pairs % folds != 0:
        raise BadInputError(
            f"{n_pairs} pairs cannot be split into {folds} equal folds "
            f"({n_pairs} % {folds} = {n_pairs % folds}); LFW folds must be the same size"
        )
    return np.arange(n_pairs, dtype=np.int64) // (n_pairs // folds)


def kfold_accuracy(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    folds: int = 10,
    fixed_threshold: float | None = None,
) -> KFoldResult:
    """LFW-protocol accuracy: for each fold, pick the threshold on the others, test on it.

    With ``fixed_threshold`` nothing is tuned: every fold is scored at that
    threshold (how a deployed system with a calibrated threshold performs).

    The threshold of fold i is ``best_threshold`` on the pairs of all other
    folds, so no fold is scored with a threshold tuned on itself. ``folds=1``
    means no cross-validation: the threshold is tuned and tested on all pairs,
    which is optimistic (an upper bound, not an estimate of unseen accuracy).

    Raises:
        BadInputError: invalid scores/labels, folds not dividing the pairs
            (see ``lfw_folds``), or a training split with a single class.
    """
    score_array, label_array = scores_and_labels(scores, labels, both_classes=True)
    fold_of_pair = lfw_folds(score_array.size, folds)
    accuracies: list[float] = []
    thresholds: list[float] = []
    for fold in range(folds):
        test = fold_of_pair == fold
        train = ~test if folds > 1 else test
        threshold = (
            _best_threshold(score_array[train], label_array[train])
            if fixed_threshold is None
            else fixed_threshold
        )
        thresholds.append(threshold)
        accuracies.append(_accuracy(score_array[test], label_array[test], threshold))
    return KFoldResult(
        fold_accuracies=tuple(accuracies),
        fold_thresholds=tuple(thresholds),
        mean=float(np.mean(accuracies)),
        std=float(np.std(accuracies)),
        mean_threshold=float(np.mean(thresholds)),
    )


def verification_report(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    folds: int,
    seconds: float,
    failures_to_enroll: int,
    fixed_threshold: float | None = None,
) -> VerificationReport:
    """Everything the CLI reports for one verification run.

    ``failures_to_enroll`` is the caller's count of images with no face; the
    corresponding pairs must carry NaN scores so that they count as errors
    (see module doc). ``seconds`` is the run's wall-clock time.
    """
    if isinstance(failures_to_enroll, bool) or failures_to_enroll < 0:
        raise BadInputError(f"failures_to_enroll must be a count >= 0, got {failures_to_enroll}")
    if not math.isfinite(seconds) or seconds < 0:
        raise BadInputError(f"seconds must be a finite duration >= 0, got {seconds}")
    score_array, label_array = scores_and_labels(scores, labels, both_classes=True)
    kfold = kfold_accuracy(score_array, label_array, folds, fixed_threshold)
    roc = roc_curve(score_array, label_array)
    return VerificationReport(
        accuracy_mean=kfold.mean,
        accuracy_std=kfold.std,
        auc=auc(roc),
        eer=_eer_from_roc(roc)[0],
        tar_at_far_1e_3=_tar_at_far_from_roc(roc, 1e-3),
        tar_at_far_1e_4=_tar_at_far_from_roc(roc, 1e-4),
        threshold=kfold.mean_threshold,
        failures_to_enroll=int(failures_to_enroll),
        pairs=int(score_array.size),
        seconds=float(seconds),
        fold_accuracies=kfold.fold_accuracies,
    )


def _count(value: int, name: str) -> int:
    # operator.index takes Python and numpy integers and refuses floats (10.0 pairs).
    if isinstance(value, bool):
        raise BadInputError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError as exc:
        raise BadInputError(f"{name} must be an integer, got {value!r}") from exc


def _nan_as_lowest(scores: FloatArray) -> FloatArray:
    """Rank NaN (no face) below every real score, so it is never accepted."""
    return np.where(np.isnan(scores), -np.inf, scores)


def _accuracy(scores: FloatArray, labels: BoolArray, threshold: float) -> float:
    decided = ~np.isnan(scores)
    correct = decided & ((scores >= threshold) == labels)
    return float(np.mean(correct))


def _best_threshold(scores: FloatArray, labels: BoolArray) -> float:
    if not labels.any() or labels.all():
        raise BadInputError(
            "cannot choose a threshold from pairs of a single class "
            "(need both same and different pairs)"
        )
    decided = ~np.isnan(scores)
    if not decided.any():
        raise BadInputError("every score is NaN (no face in any pair): no threshold to choose")
    values, index = np.unique(scores[decided], return_inverse=True)
    kept_labels = labels[decided]
    positives_per_value = np.bincount(index[kept_labels], minlength=values.size)
    negatives_per_value = np.bincount(index[~kept_labels], minlength=values.size)
    # Cut k accepts values[k:]: correct = positives at or above + negatives below.
    positives_below = np.concatenate(([0], np.cumsum(positives_per_value)))
    negatives_below = np.concatenate(([0], np.cumsum(negatives_per_value)))
    correct = (positives_below[-1] - positives_below) + negatives_below
    lower, upper = values[:-1], values[1:]
    midpoints = 0.5 * lower + 0.5 * upper  # halves first: cannot overflow
    # Adjacent floats can round the midpoint down onto `lower`, which would
    # accept it; the upper value gives the same cut in that case.
    midpoints = np.where(midpoints > lower, midpoints, upper)
    candidates = np.concatenate(([values[0]], midpoints, [np.nextafter(values[-1], np.inf)]))
    best = int(np.flatnonzero(correct == correct.max())[-1])
    return float(candidates[best])


def _eer_from_roc(roc: RocCurve) -> tuple[float, float]:
    # FAR - FRR rises strictly from -1 (threshold +inf) to +1 (accept all):
    # every step accepts at least one more pair, so the crossing is unique.
    gap = roc.far - roc.frr
    after = int(np.argmax(gap >= 0.0))
    before = after - 1
    if gap[after] == 0.0:
        return float(roc.far[after]), float(roc.thresholds[after])
    weight = -gap[before] / (gap[after] - gap[before])
    rate = roc.far[before] + weight * (roc.far[after] - roc.far[before])
    high, low = roc.thresholds[before], roc.thresholds[after]
    if not math.isfinite(high):
        return float(rate), float(low)
    if not math.isfinite(low):
        return float(rate), float(high)
    return float(rate), float(high + weight * (low - high))


def _tar_at_far_from_roc(roc: RocCurve, target: float) -> float:
    # TAR never decreases along the curve, so the last point within the
    # target is the best one; the first point (FAR 0) always qualifies.
    return float(roc.tar[roc.far <= target].max())
