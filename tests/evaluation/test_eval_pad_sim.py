"""The simulated-suite report from session outcomes (no engine needed)."""

from __future__ import annotations

import json

import pytest

from veronica.errors import BadInputError
from veronica.evaluation.pad_sim import SessionOutcome, suite_report
from veronica.liveness.types import Check


def outcome(
    species: str,
    seed: int,
    score: float,
    weakest: str = "pad",
    reason: str | None = None,
    conditions: tuple[tuple[str, str], ...] = (),
) -> SessionOutcome:
    live = score >= 0.0 and reason is None
    failed = () if live else (weakest,)
    why = reason or ("live" if live else "liveness_failed")
    return SessionOutcome(species, seed, live, why, failed, 100, score, weakest,
                          conditions=conditions)  # fmt: skip


def test_rates_at_the_policy_point_and_from_scores() -> None:
    genuine = [outcome("genuine", i, 0.5) for i in range(19)]
    genuine.append(outcome("genuine", 19, -0.1, "challenge_2_blink"))
    prints = [outcome("print_still", i, -0.9) for i in range(20)]
    swaps = [outcome("face_swap", i, -0.5, "identity") for i in range(19)]
    swaps.append(outcome("face_swap", 119, 0.1, "identity"))
    report = suite_report(genuine + prints + swaps, seed=0, fps=15.0, seconds=1.0)
    assert report.bpcer == pytest.approx(0.05)
    assert report.pad.apcer_by_species == {"print_still": 0.0, "face_swap": 0.05}
    assert report.worst_apcer == 0.05 and report.worst_species == "face_swap"
    # At BPCER 5 % the threshold is the lowest kept genuine score (0.5): the swap is refused.
    assert report.pad.apcer_at_bpcer_5pct == 0.0
    assert report.accepted_attacks == {"print_still": [], "face_swap": [119]}
    assert report.rejected_bonafide == [19]
    assert report.failed_checks["genuine"] == {"challenge_blink": 1}
    assert report.weakest_checks["face_swap"] == {"identity": 20}
    data = report.to_json_dict()
    assert data["simulated"] is True and "acer" not in data
    # Clopper-Pearson: 1 of 20 is [0.13 %, 24.9 %].
    low, high = data["apcer"]["face_swap"]["ci95"]  # type: ignore[index]
    assert low == pytest.approx(0.00127, abs=1e-4) and high == pytest.approx(0.2487, abs=1e-3)


def test_non_responses_are_counted_apart_from_classification() -> None:
    """ISO/IEC 30107-3: a presentation never processed (positioning timed out) is
    a non-response; APCER and BPCER are over the processed ones."""
    genuine = [outcome("genuine", i, 0.4) for i in range(8)]
    genuine += [outcome("genuine", 8, -1.0, "timeout", reason="timeout")]
    genuine += [outcome("genuine", 9, -0.2, "challenge_1_blink")]
    screens = [outcome("screen_close", i, -1.0, "timeout", reason="timeout") for i in range(3)]
    screens += [outcome("screen_close", 3, 0.2), outcome("screen_close", 4, -0.3)]
    report = suite_report(genuine + screens, seed=0, fps=None, seconds=1.0)
    assert (report.bpcer_rate.errors, report.bpcer_rate.presentations) == (1, 9)
    assert (report.bpnrr.errors, report.bpnrr.presentations) == (1, 10)
    assert (report.refused.errors, report.refused.presentations) == (2, 10)
    apcer, apnrr = report.apcer["screen_close"], report.apnrr["screen_close"]
    assert (apcer.errors, apcer.presentations) == (1, 2)
    assert (apnrr.errors, apnrr.presentations) == (3, 5)


def test_bpcer_per_condition() -> None:
    office = (("ambient", "office"), ("glasses", "glasses"))
    dim = (("ambient", "dim"), ("glasses", "no glasses"))
    genuine = [outcome("genuine", 0, -0.1, conditions=office)]
    genuine += [outcome("genuine", i, 0.3, conditions=office) for i in (1, 2, 3)]
    genuine += [outcome("genuine", i, 0.3, conditions=dim) for i in (4, 5)]
    report = suite_report([*genuine, outcome("print_still", 0, -0.5)], 0, None, 1.0)
    ambient = report.bpcer_by_condition["ambient"]
    assert (ambient["office"].errors, ambient["office"].presentations) == (1, 4)
    assert (ambient["dim"].errors, ambient["dim"].presentations) == (0, 2)
    assert set(report.bpcer_by_condition["glasses"]) == {"glasses", "no glasses"}


def test_needs_both_bona_fide_and_attacks() -> None:
    with pytest.raises(BadInputError):
        suite_report([outcome("genuine", 1, 0.2)], seed=0, fps=15.0, seconds=0.0)
    with pytest.raises(BadInputError):
        suite_report([outcome("print_still", 1, -0.2)], seed=0, fps=15.0, seconds=0.0)
    timed_out = outcome("genuine", 1, -1.0, "timeout", reason="timeout")
    with pytest.raises(BadInputError, match="no processed session"):
        suite_report([timed_out, outcome("print_still", 1, -0.2)], 0, None, 0.0)


def test_an_outcome_read_back_from_its_record_line_reports_the_same() -> None:
    """``eval pad --resume`` rebuilds outcomes from ``--outcomes`` lines."""
    refused = SessionOutcome(
        "genuine", 7, False, "liveness_failed", ("challenge_1_look_up", "geometry"), 88, -0.3,
        "challenge_1_look_up",
        checks=(
            Check("challenge_1_look_up", 9.0, 13.0, False, "48 frames"),
            Check("geometry", 0.1, 0.2, False, deciding=False),
            Check("pad", 0.9, 0.1, True),
        ),
        conditions=(("ambient", "dim"), ("glasses", "none")),
        identity="someone",
    )  # fmt: skip
    outcomes = [refused, outcome("genuine", 8, 0.4), outcome("print_still", 7, -0.9)]
    lines = [json.dumps(o.to_json_dict()) for o in outcomes]
    back = [SessionOutcome.from_json_dict(json.loads(line)) for line in lines]
    assert back[0].failed_checks == refused.failed_checks and back[0].frames == 88
    assert back[0].checks == (refused.checks[0],)  # only failed deciding checks are kept
    assert back[0].conditions == refused.conditions and back[0].identity == "someone"
    first = suite_report(outcomes, seed=7, fps=None, seconds=1.0).to_json_dict()
    second = suite_report(back, seed=7, fps=None, seconds=1.0).to_json_dict()
    assert first == second


def test_a_tie_at_the_worst_apcer_names_the_least_measured_species() -> None:
    genuine = [outcome("genuine", i, 0.5) for i in range(4)]
    many = [outcome("print_still", i, -0.9) for i in range(40)]
    few = [outcome("screen_close", i, -0.9) for i in range(10)]
    report = suite_report(genuine + many + few, seed=0, fps=None, seconds=1.0)
    assert report.worst_apcer == 0.0
    assert report.worst_species == "screen_close"  # 0/10: upper bound 30.8 %, not 8.8 %
