"""FMR calibration, simulated 1:N galleries and the pose/blink identity measurement:
the statistics on hand-built numbers, the commands on the project's fixture photos
laid out like LFW View 1 (``images/<Name>/*.jpg``)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_support import one_error_line, run_cli
from support import DATA
from veronica.cli import EXIT_BAD_INPUT
from veronica.errors import BadInputError
from veronica.evaluation.fmr import (
    DEFAULT_GRID,
    EmbeddedSet,
    IdentityImage,
    half_of,
    run_fmr,
    score_all_pairs,
)
from veronica.evaluation.identification import simulate_direction
from veronica.evaluation.intervals import clopper_pearson
from veronica.pipeline.engine import FaceEngine

PEOPLE = {"alex_lacamoire": 3, "biden": 2, "obama": 3, "rose_leslie": 2}
SAME_PAIRS = 3 + 1 + 3 + 1
ALL_PAIRS = 10 * 9 // 2


# -- Clopper–Pearson ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Reference values: scipy.stats.beta.ppf (and the closed forms at k = 0, n).
        (0, 10, 0.0, 0.30849710781876),
        (5, 10, 0.18708602844740, 0.81291397155260),
        (10, 10, 0.69150289218124, 1.0),
        (1, 3192, 7.9316126499480e-06, 1.7442528575408e-03),
        (40, 3192, 8.9672457149267e-03, 1.7025380892248e-02),
        (0, 12_400_000, 0.0, 2.9749023430735e-07),
        (50_000, 12_400_000, 3.9970612510414e-03, 4.0676867584510e-03),
    ],
)
def test_clopper_pearson_known_values(k: int, n: int, low: float, high: float) -> None:
    got = clopper_pearson(k, n)
    assert got[0] == pytest.approx(low, rel=1e-7, abs=1e-15)
    assert got[1] == pytest.approx(high, rel=1e-7)


def test_clopper_pearson_with_zero_errors_is_the_rule_of_three_point_seven() -> None:
    _, high = clopper_pearson(0, 1_000_000)
    assert high == pytest.approx(-math.log(0.025) / 1_000_000, rel=1e-5)


@pytest.mark.parametrize(("k", "n"), [(-1, 10), (11, 10), (0, 0), (True, 10)])
def test_clopper_pearson_refuses_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(BadInputError):
        clopper_pearson(k, n)


# -- pair scoring -------------------------------------------------------------------------


def test_score_all_pairs_counts_each_pair_once_per_group() -> None:
    # Four unit vectors on a circle: cosines are the cosines of the angle differences.
    angles = np.radians([0.0, 30.0, 90.0, 180.0])
    matrix = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    labels = np.array([0, 0, 1, 2])  # images 0 and 1 show the same person
    groups = {"all": np.ones(4, dtype=bool), "first_three": np.array([1, 1, 1, 0], dtype=bool)}
    grid = (-0.5, 0.0, 0.5)
    scores = score_all_pairs(matrix, labels, groups, grid, block=3)
    everyone = scores["all"]
    # Different-person cosines: 0-2: 0, 0-3: -1, 1-2: 0.5, 1-3: -0.866, 2-3: 0.
    assert everyone.different_pairs == 5
    assert everyone.at_or_above.tolist() == [3, 3, 1]
    assert everyone.same_scores.tolist() == pytest.approx([math.cos(math.radians(30))])
    assert everyone.false_non_matches(grid).tolist() == [0, 0, 0]
    assert everyone.false_non_matches((0.9,)).tolist() == [1]
    three = scores["first_three"]
    assert three.different_pairs == 2 and three.at_or_above.tolist() == [2, 2, 1]


def test_score_all_pairs_refuses_a_grid_that_does_not_increase() -> None:
    matrix = np.eye(2, dtype=np.float32)
    with pytest.raises(BadInputError, match="increase"):
        score_all_pairs(matrix, np.array([0, 1]), {"all": np.ones(2, dtype=bool)}, (0.5, 0.5))


def test_the_identity_split_is_fixed_and_about_half() -> None:
    assert [half_of(n) for n in PEOPLE] == ["B", "A", "A", "B"]
    names = [f"person_{i}" for i in range(2000)]
    share = sum(half_of(n) == "A" for n in names) / len(names)
    assert 0.45 < share < 0.55


# -- simulated galleries ------------------------------------------------------------------


def clustered_set(identities: int, per_identity: int, spread: float, seed: int) -> EmbeddedSet:
    """Random identity centres in 64-d, each image its centre plus a little noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(identities, 64))
    images, vectors = [], []
    for i, centre in enumerate(centres):
        for j in range(per_identity):
            images.append(IdentityImage(f"id{i:03d}", Path(f"id{i:03d}/{j}.jpg")))
            vectors.append(centre / np.linalg.norm(centre) + spread * rng.normal(size=64) / 8)
    matrix = np.stack(vectors).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return EmbeddedSet(tuple(images), matrix, ())


def test_simulated_galleries_count_searches_and_the_margin_only_removes_answers() -> None:
    embedded = clustered_set(identities=120, per_identity=3, spread=1.0, seed=1)
    halves = np.array([half_of(n) for n in embedded.identities])
    a, b = halves == "A", halves == "B"
    margins = (0.0, 0.05, 0.2, 0.5)
    report = simulate_direction(
        "toy",
        embedded,
        a,
        b,
        fpir=0.05,
        match_fmr=0.01,
        sizes=(10,),
        margins=margins,
        repetitions=3,
        seed=0,
    )
    b_identities = len({n for n, m in zip(embedded.identities, b, strict=True) if m})
    assert report["simulated_identities"] == b_identities
    rows = [r for r in report["results"] if r.get("threshold_kind") == "gallery"]
    small = [r for r in rows if r["gallery_size"] == 10]
    assert [r["margin"] for r in small] == list(margins)
    for row in small:
        assert row["draws"] == 3
        assert row["fnir"]["trials"] == 3 * 10 * 2  # two non-enrolled images per identity
        assert row["fpir"]["trials"] == 3 * int(b.sum())  # every image, leave-one-out
    fnir = [r["fnir"]["errors"] for r in small]
    fpir = [r["fpir"]["errors"] for r in small]
    assert fnir == sorted(fnir) and fpir == sorted(fpir, reverse=True)
    assert fnir[0] == 0  # tight clusters: every mate found without a margin
    assert small[-1]["fnir"]["rate"] > 0.5  # a 0.5 margin refuses most searches
    full = [r for r in rows if r["gallery_size"] == b_identities]
    assert full and all(r["draws"] == 1 for r in full)


# -- the commands on fixture photos -------------------------------------------------------


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    """The fixture faces laid out like lfw-view1: images/<Name>/<Name>_000N.jpg."""
    root = tmp_path / "tiny-lfw"
    for person, count in PEOPLE.items():
        folder = root / "images" / person
        folder.mkdir(parents=True)
        for n in range(1, count + 1):
            shutil.copy(DATA / "faces" / person / f"{n}.jpg", folder / f"{person}_{n:04d}.jpg")
    return root


def test_run_fmr_on_the_fixture_faces(face_engine: FaceEngine, tiny_root: Path) -> None:
    data = run_fmr(face_engine, tiny_root, "mobilefacenet", "test command").to_json_dict()
    assert data["model_id"] == face_engine.model_id
    assert data["pairs"] == {"different": ALL_PAIRS - SAME_PAIRS, "same": SAME_PAIRS}
    assert data["dataset"]["images"] == 10 and data["dataset"]["identities"] == 4
    assert data["dataset"]["excluded_no_face"] == []
    assert data["command"] == "test command"
    assert [row["threshold"] for row in data["rows"]] == list(DEFAULT_GRID)
    matches = [row["false_matches"] for row in data["rows"]]
    misses = [row["false_non_matches"] for row in data["rows"]]
    assert matches == sorted(matches, reverse=True) and misses == sorted(misses)
    assert misses[-1] == SAME_PAIRS  # nothing matches at 0.95
    for row in data["rows"]:
        low, high = row["fmr_ci95"]
        assert low <= row["fmr"] <= high
    held = data["held_out"]
    assert held["A"]["identities"] == 2 and held["B"]["identities"] == 2  # biden, obama | others
    assert held["A"]["pairs"] == {"different": 6, "same": 4}
    # Six different-person pairs cannot show an FMR of 1e-3: said, not guessed.
    assert all(r["threshold_from_A"] is None for r in held["results"])
    assert "below what calibration table" in held["results"][0]["reason"]


def test_eval_fmr_command_writes_the_table(tmp_path: Path, tiny_root: Path) -> None:
    out = tmp_path / "table.json"
    result = run_cli(tmp_path, "eval", "fmr", "--root", tiny_root, "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["pairs"]["different"] == ALL_PAIRS - SAME_PAIRS
    assert (
        data["command"]
        == f"veronica eval fmr --root {tiny_root} --embedder mobilefacenet --out {out}"
    )
    assert data["model_files"][0]["sha256"] == (
        "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b"
    )
    assert "held-out check: calibrated on half A, reported on half B" in result.stdout


def test_eval_fmr_with_an_image_without_a_face(face_engine: FaceEngine, tiny_root: Path) -> None:
    shutil.copy(DATA / "no_face.jpg", tiny_root / "images" / "obama" / "obama_0009.jpg")
    data = run_fmr(face_engine, tiny_root, "mobilefacenet", "x").to_json_dict()
    assert data["dataset"]["excluded_no_face"] == ["images/obama/obama_0009.jpg"]
    assert data["pairs"]["same"] == SAME_PAIRS  # the excluded image pairs with nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("eval", "fmr", "--root", "{tmp}/missing"), "{tmp}/missing: no such folder"),
        (("eval", "fmr", "--root", "{tmp}"), "{tmp}: no images/ folder"),
        (("eval", "fmr", "--root", "{root}", "--embedder", "dlib"), "unknown embedder 'dlib'"),
        (
            ("eval", "identification", "--root", "{tmp}/missing", "--out", "{tmp}/x.json"),
            "{tmp}/missing: no such folder",
        ),
        (
            ("eval", "identification", "--root", "{root}", "--out", "{tmp}/x.json"),
            "the calibration half is too small",
        ),
        (
            ("eval", "pose-identity", "--root", "{tmp}/missing", "--out", "{tmp}/x.json"),
            "{tmp}/missing: no such folder",
        ),
        (
            (
                "eval",
                "pose-identity",
                "--root",
                "{root}",
                "--out",
                "{tmp}/x.json",
                "--people",
                "{tmp}/p.csv",
            ),
            "--people and --people-root go together",
        ),
        (
            (
                "eval",
                "pose-identity",
                "--root",
                "{root}",
                "--out",
                "{tmp}/x.json",
                "--video",
                "{tmp}/none.mp4",
            ),
            "{tmp}/none.mp4: no such file",
        ),
    ],
    ids=[
        "fmr-missing-root",
        "fmr-no-images",
        "fmr-embedder",
        "identification-missing-root",
        "identification-too-small",
        "pose-missing-root",
        "pose-people-alone",
        "pose-no-video",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, tiny_root: Path, args: tuple[str, ...], message: str
) -> None:
    filled = [a.format(tmp=tmp_path, root=tiny_root) for a in args]
    result = run_cli(tmp_path, *filled)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert message.format(tmp=tmp_path, root=tiny_root) in one_error_line(result)


def test_eval_pose_identity_on_the_fixture_faces(tmp_path: Path, tiny_root: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(
        "path,identity\n"
        + "".join(f"faces/{p}/{n}.jpg,{p}\n" for p, c in PEOPLE.items() for n in range(1, c + 1))
    )
    out = tmp_path / "pose.json"
    result = run_cli(
        tmp_path,
        "eval",
        "pose-identity",
        "--root",
        tiny_root,
        "--people",
        people,
        "--people-root",
        DATA,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for name in ("tiny-lfw", "people"):
        block = data[name]
        assert block["embedded"] == 10
        bins = block["by_abs_yaw"]
        assert [b["bin_deg"] for b in bins] == [[0, 10], [10, 20], [20, 30], [30, 45], [45, 90]]
        assert sum(b["probes"] for b in bins) == 10  # every probe falls in one bin
        frontal = bins[0]
        assert frontal["same_person"]["n"] > 0
        assert frontal["same_person"]["p1"] <= frontal["same_person"]["median"]
        assert [lim["limit"] for lim in frontal["limits"]] == data["limits"]
    assert data["command"].startswith(f"veronica eval pose-identity --root {tiny_root}")
