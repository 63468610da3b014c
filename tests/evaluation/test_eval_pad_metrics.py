"""ISO/IEC 30107-3 PAD metrics against hand-computed values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from veronica.errors import BadInputError
from veronica.evaluation.pad_metrics import (
    acer,
    apcer,
    apcer_at_bpcer,
    bpcer,
    pad_det_curve,
    pad_report,
    threshold_at_bpcer,
)

EXACT = 1e-12

# Scores are bona-fide likelihoods; accepted as bona fide when score >= 0.5.
PRINT_ATTACKS = np.array([0.9, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2])  # 1 of 10 accepted
REPLAY_ATTACKS = np.array([0.9, 0.6, 0.5, 0.3, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2])  # 3 of 10 accepted
BONAFIDE = np.array([0.4] + [0.8] * 19)  # 1 of 20 rejected


def test_apcer_counts_attacks_accepted_as_bona_fide() -> None:
    attacks = [0.9, 0.7, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4, 0.1]  # 2 of 10 accepted

    assert apcer(attacks, 0.5) == pytest.approx(0.2, abs=EXACT)


def test_score_equal_to_threshold_is_bona_fide() -> None:
    assert apcer([0.5, 0.4], 0.5) == pytest.approx(0.5, abs=0)
    assert bpcer([0.5, 0.4], 0.5) == pytest.approx(0.5, abs=0)


def test_bpcer_counts_bona_fide_rejected() -> None:
    assert bpcer(BONAFIDE, 0.5) == pytest.approx(0.05, abs=EXACT)


def test_nan_is_never_bona_fide() -> None:
    assert apcer([math.nan, 0.9], 0.5) == pytest.approx(0.5, abs=0)  # NaN attack: detected
    assert bpcer([math.nan, 0.9], 0.5) == pytest.approx(0.5, abs=0)  # NaN bona fide: error
    assert apcer([math.nan], -math.inf) == pytest.approx(0.0, abs=0)


def test_acer_is_the_mean_of_apcer_and_bpcer() -> None:
    assert acer(0.3, 0.05) == pytest.approx(0.175, abs=EXACT)


def test_pad_report_uses_the_worst_species() -> None:
    report = pad_report(BONAFIDE, {"print": PRINT_ATTACKS, "replay": REPLAY_ATTACKS}, 0.5)

    assert report.apcer_by_species == pytest.approx({"print": 0.1, "replay": 0.3}, abs=EXACT)
    assert report.apcer == pytest.approx(0.3, abs=EXACT)  # worst, not the 0.2 average
    assert report.worst_species == "replay"
    assert report.bpcer == pytest.approx(0.05, abs=EXACT)
    assert report.acer == pytest.approx(0.175, abs=EXACT)
    assert report.threshold == pytest.approx(0.5, abs=0)
    assert report.bonafide_presentations == 20
    assert report.attack_presentations_by_species == {"print": 10, "replay": 10}


def test_pad_report_worst_species_tie_goes_to_the_first() -> None:
    report = pad_report(BONAFIDE, {"mask": PRINT_ATTACKS, "print": PRINT_ATTACKS}, 0.5)

    assert report.worst_species == "mask"


def test_threshold_at_bpcer_is_the_highest_meeting_the_target() -> None:
    bonafide = np.arange(100) / 100  # 0.00, 0.01, ..., 0.99

    assert threshold_at_bpcer(bonafide, 0.01) == pytest.approx(0.01, abs=0)  # rejects 0.00
    assert threshold_at_bpcer(bonafide, 0.05) == pytest.approx(0.05, abs=0)  # rejects 5
    assert threshold_at_bpcer(bonafide, 0.0) == pytest.approx(0.0, abs=0)  # rejects none
    assert threshold_at_bpcer(bonafide, 0.29) == pytest.approx(0.29, abs=0)  # no float slip
    assert threshold_at_bpcer(bonafide, 1.0) == math.inf


def test_threshold_at_bpcer_on_random_scores_meets_the_target_tightly() -> None:
    bonafide = np.random.default_rng(3).normal(size=1000)
    for target in (0.001, 0.01, 0.05, 0.2):
        threshold = threshold_at_bpcer(bonafide, target)
        assert bpcer(bonafide, threshold) <= target
        next_score = bonafide[bonafide > threshold].min()
        assert bpcer(bonafide, next_score) > target


def test_threshold_at_bpcer_with_ties_does_not_exceed_the_target() -> None:
    bonafide = [0.1, 0.5, 0.5, 0.5, 0.9]  # rejecting 0.5 would reject three at once

    threshold = threshold_at_bpcer(bonafide, 0.4)

    assert threshold == pytest.approx(0.5, abs=0)
    assert bpcer(bonafide, threshold) == pytest.approx(0.2, abs=EXACT)


def test_threshold_at_bpcer_is_nan_when_missing_faces_exceed_the_target() -> None:
    bonafide = np.r_[[math.nan, math.nan], np.linspace(0.1, 0.9, 98)]

    assert math.isnan(threshold_at_bpcer(bonafide, 0.01))
    threshold = threshold_at_bpcer(bonafide, 0.05)
    assert threshold == pytest.approx(bonafide[2 + 3], abs=0)
    assert bpcer(bonafide, threshold) == pytest.approx(0.05, abs=EXACT)


def test_apcer_at_bpcer_by_hand() -> None:
    bonafide = np.arange(100) / 100
    attacks = [0.005, 0.5, 0.02]

    assert apcer_at_bpcer(bonafide, attacks, 0.01) == pytest.approx(2 / 3, abs=EXACT)
    assert apcer_at_bpcer(bonafide, attacks, 0.05) == pytest.approx(1 / 3, abs=EXACT)
    assert math.isnan(apcer_at_bpcer([math.nan, 0.5], attacks, 0.1))


def test_pad_report_apcer_at_bpcer_targets_use_the_worst_species() -> None:
    bonafide = np.arange(100) / 100
    report = pad_report(bonafide, {"print": [0.0, 0.02], "replay": [0.03, 0.2]}, 0.5)

    assert report.apcer_at_bpcer_1pct == pytest.approx(1.0, abs=EXACT)  # replay, t = 0.01
    assert report.apcer_at_bpcer_5pct == pytest.approx(0.5, abs=EXACT)  # replay, t = 0.05
    assert report.apcer == pytest.approx(0.0, abs=0)


def test_pad_report_json_dict() -> None:
    report = pad_report(BONAFIDE, {"print": PRINT_ATTACKS}, 0.5)
    data = report.to_json_dict()

    assert data["apcer_by_species"] == {"print": pytest.approx(0.1, abs=EXACT)}
    assert data["worst_species"] == "print"
    json.loads(json.dumps(data, allow_nan=False))


def test_pad_det_curve_by_hand() -> None:
    curve = pad_det_curve([0.4, 0.8], [0.2, 0.6])

    assert curve.thresholds.tolist() == [0.2, 0.4, 0.6, 0.8, math.inf]
    assert curve.apcer.tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]
    assert curve.bpcer.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


def test_pad_det_curve_never_accepts_nan() -> None:
    curve = pad_det_curve([math.nan, 0.8], [math.nan, 0.6])

    assert curve.apcer.max() == pytest.approx(0.5, abs=0)
    assert curve.bpcer.min() == pytest.approx(0.5, abs=0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: apcer([], 0.5),
        lambda: apcer([0.1], math.nan),
        lambda: bpcer([0.1, math.inf], 0.5),
        lambda: acer(1.5, 0.1),
        lambda: acer(0.1, -0.1),
        lambda: threshold_at_bpcer([0.1], 1.01),
        lambda: pad_report([0.9], {}, 0.5),
        lambda: pad_report([0.9], {"": [0.1]}, 0.5),
        lambda: pad_report([0.9], {"print": []}, 0.5),
        lambda: pad_report([], {"print": [0.1]}, 0.5),
    ],
)
def test_pad_functions_reject_bad_input(call: Callable[[], object]) -> None:
    with pytest.raises(BadInputError):
        call()
