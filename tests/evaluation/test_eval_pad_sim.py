"""The simulated-suite report from session outcomes (no engine needed)."""

from __future__ import annotations

import pytest

from veronica.errors import BadInputError
from veronica.evaluation.pad_sim import SessionOutcome, suite_report


def outcome(species: str, seed: int, score: float, weakest: str = "pad") -> SessionOutcome:
    live = score >= 0.0
    failed = () if live else (weakest,)
    return SessionOutcome(species, seed, live, "live" if live else "liveness_failed", failed, 100,
                          score, weakest)  # fmt: skip


def test_rates_at_the_policy_point_and_from_scores() -> None:
    genuine = [outcome("genuine", i, 0.5) for i in range(19)]
    genuine.append(outcome("genuine", 19, -0.1, "challenge_2_blink"))
    prints = [outcome("print_still", i, -0.9) for i in range(20)]
    swaps = [outcome("face_swap", i, -0.5, "identity") for i in range(19)]
    swaps.append(outcome("face_swap", 119, 0.1, "identity"))
    report = suite_report(genuine + prints + swaps, seed=0, fps=15.0, seconds=1.0)
    assert report.bpcer == pytest.approx(0.05)
    assert report.pad.apcer_by_species == {"print_still": 0.0, "face_swap": 0.05}
    assert report.apcer == 0.05 and report.pad.worst_species == "face_swap"
    # At BPCER 5 % the threshold is the lowest kept genuine score (0.5): the swap is refused.
    assert report.pad.apcer_at_bpcer_5pct == 0.0
    assert report.accepted_attacks == {"print_still": [], "face_swap": [119]}
    assert report.rejected_bonafide == [19]
    assert report.failed_checks["genuine"] == {"challenge_blink": 1}
    assert report.weakest_checks["face_swap"] == {"identity": 20}
    data = report.to_json_dict()
    assert data["simulated"] is True and data["threshold"] == 0.0


def test_needs_both_bona_fide_and_attacks() -> None:
    with pytest.raises(BadInputError):
        suite_report([outcome("genuine", 1, 0.2)], seed=0, fps=15.0, seconds=0.0)
    with pytest.raises(BadInputError):
        suite_report([outcome("print_still", 1, -0.2)], seed=0, fps=15.0, seconds=0.0)
