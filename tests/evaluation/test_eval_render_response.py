"""``veronica eval render``: how the tracker reads the simulator's rendered poses
and eyelids, run once on two of the project's fixture faces (no shared data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_support import one_error_line, run_cli
from support import DATA
from veronica.cli import EXIT_BAD_INPUT
from veronica.evaluation.render_response import PERCENTILES, glasses_draws, lid_dip
from veronica.liveness.signals.blink import BlinkSignal

FACES = 2


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One real run (render + Face Mesh) shared by the checks below: ~8 s."""
    tmp = tmp_path_factory.mktemp("render")
    out = tmp / "render.json"
    args = ("--photos", DATA / "faces", "--split", "calibration", "--max-photos", FACES)
    result = run_cli(tmp, "--dev", "eval", "render", *args, "--json", out)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_report_is_labelled_simulated_with_its_faces(report: dict[str, Any]) -> None:
    assert report["simulated"] is True and "simulated" in report["label"]
    assert report["faces"] == FACES
    assert report["photos"]["usable_photos"] == FACES
    assert report["photos"]["identities"] == len(report["identities"]) == FACES
    assert report["photos"]["split"] == "calibration"
    assert "--max-photos 2" in report["command"]
    assert len(report["pose"]["faces"]) == FACES
    # Each face twice: without glasses, then with its drawn pair.
    lids = report["lids"]["faces"]
    assert [f["glasses"] is None for f in lids] == [True, False] * FACES
    assert all(f["glasses_seed"] is not None for f in lids[1::2])


def test_rendered_turns_read_near_their_angle_with_the_pipeline_sign(
    report: dict[str, Any],
) -> None:
    # pipeline.pose: yaw > 0 towards the image's right, pitch > 0 looking up;
    # simulation.motion.Pose renders in the same convention.
    for face in report["pose"]["faces"]:
        changes = face["changes"]
        assert 15.0 <= changes["yaw +25"]["yaw"] <= 30.0, face
        assert -30.0 <= changes["yaw -25"]["yaw"] <= -15.0, face
        assert 10.0 <= changes["yaw +17"]["yaw"] <= 20.0, face
        assert -20.0 <= changes["yaw -17"]["yaw"] <= -10.0, face
        assert changes["yaw +17"]["yaw"] < changes["yaw +25"]["yaw"] < changes["yaw +35"]["yaw"]
        assert 5.0 <= changes["pitch +12"]["pitch"] <= 15.0, face
        assert changes["pitch +12"]["pitch"] < changes["pitch +20"]["pitch"] <= 25.0, face
        # A turn is read as a turn, not as a look up or down.
        for name in ("yaw +25", "yaw -25"):
            assert abs(changes[name]["pitch"]) < 6.0, face
        assert abs(changes["pitch +20"]["yaw"]) < 6.0, face
    pooled = report["pose"]["turn_both_sides"]["17"]
    assert pooled["n"] == 2 * FACES and pooled["missed"] == 0


def test_a_shut_lid_dips_far_more_than_an_open_one(report: dict[str, Any]) -> None:
    for face in report["lids"]["faces"]:
        if face["glasses"] is not None:
            continue
        dips = face["dips"]
        assert dips["0"] < 0.1, face  # tracker and sensor noise only
        assert dips["1"] - dips["0"] >= 0.3, face
    shut = report["lids"]["no_glasses"]["1"]
    assert shut["n"] == FACES and shut["p50"] >= 0.4


def test_percentiles_are_ordered(report: dict[str, Any]) -> None:
    keys = ["min", *(f"p{q}" for q in PERCENTILES), "max"]
    spreads = [
        *report["pose"]["by_target"].values(),
        *report["pose"]["turn_both_sides"].values(),
        *report["lids"]["no_glasses"].values(),
        *report["lids"]["glasses"].values(),
    ]
    assert len(spreads) == 8 + 3 + 4 + 4
    for spread in spreads:
        values = [spread[k] for k in keys]
        assert values == sorted(values), spread
        assert spread["n"] + spread["missed"] in (FACES, 2 * FACES)


def test_lid_dip_is_the_blink_signals_dip() -> None:
    signal = BlinkSignal()
    snapshot = dict(signal.snapshot())
    snapshot["baseline"] = [0.30, 0.25]
    signal.restore(snapshot)
    for ears in [(0.30, 0.25), (0.15, 0.20), (0.27, 0.05), (0.35, 0.30)]:
        assert lid_dip(ears, (0.30, 0.25)) == pytest.approx(signal.dip(ears))


def test_glasses_draws_repeat_and_do_not_depend_on_the_count() -> None:
    five = glasses_draws(3, 5)
    assert len(five) == 5 and five[:2] == glasses_draws(3, 2)
    seeds = [seed for seed, _ in five]
    assert seeds == sorted(set(seeds)) and seeds[0] >= 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--split", "report"), "need --photos"),
        (("--max-photos", "3"), "need --photos"),
        (("--photos", DATA / "faces", "--split", "everyone"), "unknown split 'everyone'"),
        (("--photos", DATA / "no_such_folder"), "give a folder"),
    ],
)
def test_bad_arguments_are_one_error_line(
    tmp_path: Path, args: tuple[object, ...], message: str
) -> None:
    result = run_cli(tmp_path, "eval", "render", *args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in one_error_line(result)
