"""Operating points from a calibration table: a synthetic table with known rows, and
the table shipped for MobileFaceNet."""

from __future__ import annotations

import math
from typing import Any

import pytest

from veronica.errors import BadInputError, ConfigurationError, GalleryTooLargeError
from veronica.evaluation.intervals import clopper_pearson
from veronica.recognition.operating_point import (
    CalibrationMissingError,
    CalibrationTable,
    IdentificationPolicy,
    UnreachableFmrError,
    identification_threshold,
    load_table,
    max_gallery_size,
    parse_table,
    table_filename,
    threshold_for_fmr,
)

DIFFERENT = 1_000_000
SAME = 1_000
# threshold, false matches (of DIFFERENT), false non-matches (of SAME)
ROWS = [(0.3, 10_000, 1), (0.4, 1_000, 10), (0.5, 50, 40), (0.6, 0, 200)]


def synthetic(rows: list[tuple[float, int, int]] = ROWS) -> CalibrationTable:
    return parse_table(
        {
            "format": 1,
            "model_id": "toy-model",
            "pairs": {"different": DIFFERENT, "same": SAME},
            "rows": [
                {
                    "threshold": t,
                    "false_matches": fm,
                    "fmr_ci95": list(clopper_pearson(fm, DIFFERENT)),
                    "false_non_matches": fnm,
                    "fnmr_ci95": list(clopper_pearson(fnm, SAME)),
                }
                for t, fm, fnm in rows
            ],
        }
    )


def upper(false_matches: int) -> float:
    return clopper_pearson(false_matches, DIFFERENT)[1]


# -- the table ------------------------------------------------------------------------


def test_parsed_rows_carry_rates_and_intervals() -> None:
    table = synthetic()
    row = table.row_at(0.5)
    assert row.fmr == 50 / DIFFERENT and row.fnmr == 40 / SAME
    assert row.fmr_ci[0] < row.fmr < row.fmr_ci[1]
    assert table.min_fmr_upper == pytest.approx(-math.expm1(math.log(0.025) / DIFFERENT))
    assert table.table_id.startswith("toy-model@") and len(table.table_id) == len("toy-model@") + 12


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "unknown calibration table format"),
        ({"pairs": {"different": -1, "same": 3}}, "pairs.different must be a count"),
        ({"rows": []}, "at least one row"),
        ({"model_id": None, "rows": None}, "lacks a field"),
    ],
)
def test_malformed_tables_are_refused(change: dict[str, Any], message: str) -> None:
    data: dict[str, Any] = {
        "format": 1,
        "model_id": "toy",
        "pairs": {"different": 10, "same": 3},
        "rows": [
            {
                "threshold": 0.5,
                "false_matches": 1,
                "fmr_ci95": [0.0, 0.5],
                "false_non_matches": 0,
                "fnmr_ci95": [0.0, 0.7],
            }
        ],
    }
    data.update(change)
    with pytest.raises(BadInputError, match=message):
        parse_table(data)


def test_rows_must_increase_and_not_count_more_errors_than_pairs() -> None:
    with pytest.raises(BadInputError, match="strictly increasing"):
        synthetic([(0.5, 10, 1), (0.4, 5, 2)])
    row = {"threshold": 0.5, "false_matches": 11, "fmr_ci95": [0.0, 1.0]}
    row |= {"false_non_matches": 0, "fnmr_ci95": [0.0, 1.0]}
    data = {"format": 1, "model_id": "toy", "pairs": {"different": 10, "same": 3}, "rows": [row]}
    with pytest.raises(BadInputError, match="more errors than there are pairs"):
        parse_table(data)


# -- threshold_for_fmr ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.5, 0.3),  # everything qualifies: the lowest threshold
        (2e-3, 0.4),  # 1000 / 1e6 = 1e-3, upper bound 1.06e-3 <= 2e-3
        (1e-3, 0.5),  # the point estimate of 0.4 meets 1e-3, its upper bound does not
        (1e-4, 0.5),  # 50 / 1e6, upper bound 6.6e-5
        (1e-5, 0.6),  # zero false matches: upper bound 3.7e-6
    ],
)
def test_threshold_for_fmr_uses_the_upper_bound(target: float, expected: float) -> None:
    assert threshold_for_fmr(synthetic(), target) == expected


def test_an_unreachable_target_names_the_tables_limit() -> None:
    with pytest.raises(UnreachableFmrError) as caught:
        threshold_for_fmr(synthetic(), 1e-6)
    assert caught.value.code == "fmr_unreachable" and caught.value.status == 500
    assert "1,000,000 different-person pairs" in caught.value.message
    assert "3.69e-06" in caught.value.message


@pytest.mark.parametrize("bad", [0.0, 1.0, -1e-4, math.nan, True, "1e-4"])
def test_threshold_for_fmr_refuses_a_rate_outside_0_1(bad: Any) -> None:
    with pytest.raises(BadInputError):
        threshold_for_fmr(synthetic(), bad)


# -- 1:N ----------------------------------------------------------------------------------


def test_identification_threshold_is_the_threshold_for_fpir_over_n() -> None:
    table = synthetic()
    assert identification_threshold(table, 1e-3, 1) == threshold_for_fmr(table, 1e-3) == 0.5
    assert identification_threshold(table, 1e-3, 15) == 0.5  # 6.7e-5 >= upper(50) = 6.6e-5
    assert identification_threshold(table, 1e-3, 16) == 0.6  # 6.25e-5 < upper(50)
    with pytest.raises(UnreachableFmrError):
        identification_threshold(table, 1e-3, 1000)  # 1e-6 < 3.7e-6
    with pytest.raises(BadInputError):
        identification_threshold(table, 1e-3, 0)


def test_identification_threshold_never_falls_as_the_gallery_grows() -> None:
    table = synthetic()
    thresholds = [identification_threshold(table, 1e-2, n) for n in range(1, 200)]
    assert thresholds == sorted(thresholds)
    assert thresholds[0] == 0.4 and thresholds[-1] == 0.6


def test_max_gallery_size_known_values() -> None:
    table = synthetic()
    # FNMR <= 5 %: rows 0.3-0.5; the best bound there is row 0.5's.
    assert max_gallery_size(table, 1e-3, 0.05) == math.floor(1e-3 / upper(50)) == 15
    # FNMR <= 30 %: all rows; row 0.6 (zero false matches) bounds the FMR at 3.7e-6.
    assert max_gallery_size(table, 1e-3, 0.3) == math.floor(1e-3 / upper(0)) == 271
    # No row misses few enough genuine pairs: not even one user.
    assert max_gallery_size(table, 1e-3, 0.0005) == 0


def test_max_gallery_size_is_exactly_the_largest_gallery_that_qualifies() -> None:
    table = synthetic()
    for fpir, fnir in [(1e-3, 0.05), (1e-2, 0.02), (5e-4, 0.3), (1e-2, 0.5)]:
        size = max_gallery_size(table, fpir, fnir)
        assert size >= 1
        assert table.row_at(identification_threshold(table, fpir, size)).fnmr <= fnir
        try:
            beyond = identification_threshold(table, fpir, size + 1)
        except UnreachableFmrError:
            continue
        assert table.row_at(beyond).fnmr > fnir


def test_max_gallery_size_grows_with_fpir_and_the_tolerated_miss_rate() -> None:
    table = synthetic()
    by_fpir = [max_gallery_size(table, f, 0.05) for f in (1e-5, 1e-4, 1e-3, 1e-2)]
    by_fnir = [max_gallery_size(table, 1e-3, f) for f in (0.001, 0.01, 0.05, 0.3)]
    assert by_fpir == sorted(by_fpir) and by_fpir[0] < by_fpir[-1]
    assert by_fnir == sorted(by_fnir) and by_fnir[0] < by_fnir[-1]


def test_identification_policy_floors_at_the_1to1_threshold_and_refuses_big_galleries() -> None:
    policy = IdentificationPolicy(synthetic(), fpir=1e-3, max_fnir=0.05, min_margin=0.0, floor=0.55)
    assert policy.max_users == 15
    assert policy.threshold(1) == 0.55  # the table alone would give 0.5
    policy.check(15)
    with pytest.raises(GalleryTooLargeError) as caught:
        policy.threshold(16)
    error = caught.value
    assert (error.code, error.status, error.users, error.limit) == (
        "gallery_too_large",
        409,
        16,
        15,
    )
    assert "sign in with your user name" in error.message


# -- the shipped tables -------------------------------------------------------------------


def test_the_mobilefacenet_table_ships_in_the_package() -> None:
    table = load_table("mobilefacenet-expo-1.0.24")
    assert table.model_id == "mobilefacenet-expo-1.0.24"
    assert table.different_pairs > 12_000_000 and table.same_pairs > 3_000
    assert table.provenance["dataset"]["name"] == "lfw-view1"
    assert table.provenance["command"].startswith("veronica eval fmr ")
    thresholds = [row.threshold for row in table.rows]
    assert thresholds[0] == 0.2 and thresholds[-1] == 0.95
    fmr = [row.fmr for row in table.rows]
    fnmr = [row.fnmr for row in table.rows]
    assert fmr == sorted(fmr, reverse=True) and fnmr == sorted(fnmr)
    # Stricter targets give higher thresholds.
    points = [threshold_for_fmr(table, f) for f in (1e-3, 1e-4, 1e-5)]
    assert points == sorted(points) and len(set(points)) == 3


def test_a_model_without_a_table() -> None:
    with pytest.raises(CalibrationMissingError) as caught:
        load_table("no-such-model-0.0")
    assert isinstance(caught.value, ConfigurationError)
    assert "VERONICA_MATCH_THRESHOLD" in caught.value.message


def test_table_file_names_are_safe_for_fusion_ids() -> None:
    name = table_filename("fusion(mobilefacenet-expo-1.0.24+fr_feature-faceplugin-0.0.1)")
    assert name == "fusion_mobilefacenet-expo-1.0.24_fr_feature-faceplugin-0.0.1_.json"
