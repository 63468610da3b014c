"""False match rate calibration over every pair of a face set (``veronica eval fmr``).

Every image under ``<root>/images/<Name>/*.jpg`` is embedded once, exactly as a
sign-in frame is (``FaceEngine.analyze`` without a quality gate); images with no
face are left out and counted. Then **all** different-person pairs (false-match
trials) and all same-person pairs (false-non-match trials) are scored — for LFW
View 1, 12.4 million and 3,192 — with a few blocked matrix products. For a grid of
thresholds the table gives FMR and FNMR with Clopper–Pearson 95 % intervals.

A pair matches when ``score >= threshold`` (as ``recognition.verify``). Rates are
proportions in [0, 1].

The held-out check splits identities in two halves by a hash of the name: the
threshold for a target FMR is chosen on half A's pairs, and FMR and FNMR at that
threshold are reported on half B's pairs (pairs within B only). No choice touches B.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError
from veronica.evaluation.intervals import clopper_pearson
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.models import (
    FACE_DETECTOR,
    FACE_LANDMARKS,
    FR_FEATURE,
    MOBILEFACENET,
    ModelSpec,
)
from veronica.pipeline.runner import AnalysisOptions
from veronica.recognition.operating_point import (
    TABLE_FORMAT,
    UnreachableFmrError,
    parse_table,
    threshold_for_fmr,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ProgressFn = Callable[[int, int], None]

# As sign-in frames are embedded, minus the gate: every detected face is a trial.
CALIBRATION_OPTIONS = AnalysisOptions(gate=None, pad=False)
DEFAULT_GRID = tuple(round(0.20 + 0.005 * i, 3) for i in range(151))
"""0.20 to 0.95 by 0.005: below 0.20 nearly everything matches, above 0.95 nothing."""
SUMMARY_FMRS = (1e-3, 1e-4, 1e-5)
EMBEDDER_FILES: dict[str, tuple[ModelSpec, ...]] = {
    "mobilefacenet": (MOBILEFACENET,),
    "fr_feature": (FR_FEATURE,),
    "fusion": (MOBILEFACENET, FR_FEATURE),
}
HALF_RULE = "an identity is in half A when the first byte of SHA-256(UTF-8 name) is even, else in B"


# -- the face set ----------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityImage:
    identity: str
    path: Path


def list_identity_images(root: Path) -> list[IdentityImage]:
    """``<root>/images/<Name>/*.jpg``, sorted by name then file."""
    folder = root / "images"
    if not root.is_dir():
        raise BadInputError(f"{root}: no such folder")
    if not folder.is_dir():
        raise BadInputError(f"{root}: no images/ folder (expected images/<Name>/*.jpg)")
    images = [
        IdentityImage(person.name, path)
        for person in sorted(p for p in folder.iterdir() if p.is_dir())
        for path in sorted(person.glob("*.jpg"))
    ]
    if not images:
        raise BadInputError(f"{folder}: no <Name>/*.jpg images")
    return images


def half_of(identity: str) -> str:
    """``"A"`` or ``"B"``: a fixed split of identities that needs no list (see HALF_RULE)."""
    return "A" if hashlib.sha256(identity.encode("utf-8")).digest()[0] % 2 == 0 else "B"


@dataclass(frozen=True, eq=False)
class EmbeddedSet:
    """Unit embeddings (rows of ``matrix``) of the images where a face was found."""

    images: tuple[IdentityImage, ...]
    matrix: npt.NDArray[np.float32]
    excluded: tuple[IdentityImage, ...]
    """Images with no face found: not part of any pair."""
    extras: tuple[Any, ...] = field(default=())
    """Per embedded image, whatever the caller's ``keep`` returned (e.g. the pose)."""

    @property
    def identities(self) -> tuple[str, ...]:
        return tuple(image.identity for image in self.images)

    def labels(self) -> IntArray:
        """Identity index per row (identities numbered in sorted order)."""
        names = sorted(set(self.identities))
        index = {name: i for i, name in enumerate(names)}
        return np.array([index[name] for name in self.identities], dtype=np.int64)


def embed_identity_images(
    engine: FaceEngine,
    images: Sequence[IdentityImage],
    progress: ProgressFn | None = None,
    keep: Callable[[Any], Any] | None = None,
) -> EmbeddedSet:
    """Embed every image once with ``CALIBRATION_OPTIONS``. ``keep(analysis)`` may
    return something to keep per embedded image (``EmbeddedSet.extras``)."""
    kept: list[IdentityImage] = []
    vectors: list[npt.NDArray[np.float32]] = []
    extras: list[Any] = []
    excluded: list[IdentityImage] = []
    for done, image in enumerate(images, start=1):
        analysis = engine.analyze(image.path.read_bytes(), CALIBRATION_OPTIONS)
        if analysis.embedding is None:
            excluded.append(image)
        else:
            kept.append(image)
            vectors.append(analysis.embedding)
            if keep is not None:
                extras.append(keep(analysis))
        if progress is not None:
            progress(done, len(images))
    if not vectors:
        raise BadInputError("no face was found in any image")
    matrix = np.stack(vectors).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return EmbeddedSet(tuple(kept), matrix, tuple(excluded), tuple(extras))


# -- scoring every pair ----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GroupScores:
    """Pair statistics of one group of identities (all, half A, half B)."""

    different_pairs: int
    at_or_above: IntArray
    """Different-person pairs scoring ``>= grid[i]``."""
    same_scores: FloatArray
    """Every same-person pair's score (a few thousand: kept for exact FNMR)."""

    def false_non_matches(self, grid: Sequence[float]) -> IntArray:
        ordered = np.sort(self.same_scores)
        below: IntArray = np.searchsorted(ordered, np.asarray(grid), side="left").astype(np.int64)
        return below


def score_all_pairs(
    matrix: npt.NDArray[np.float32],
    labels: IntArray,
    groups: dict[str, npt.NDArray[np.bool_]],
    grid: Sequence[float] = DEFAULT_GRID,
    block: int = 512,
) -> dict[str, GroupScores]:
    """Count, per group, different-person pairs at or above each grid threshold and
    collect same-person scores. Each unordered pair ``(i, j)``, ``i < j``, counts once;
    a pair belongs to a group when both images do."""
    thresholds = np.asarray(grid, dtype=np.float64)
    if thresholds.ndim != 1 or np.any(np.diff(thresholds) <= 0):
        raise BadInputError("the threshold grid must increase strictly")
    n = matrix.shape[0]
    columns = np.arange(n)
    bins = {name: np.zeros(len(thresholds) + 1, dtype=np.int64) for name in groups}
    different = dict.fromkeys(groups, 0)
    same: dict[str, list[FloatArray]] = {name: [] for name in groups}
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        scores = (matrix[rows] @ matrix.T).astype(np.float64)
        upper = columns[np.newaxis, :] > rows[:, np.newaxis]
        same_person = labels[rows][:, np.newaxis] == labels[np.newaxis, :]
        for name, member in groups.items():
            inside = upper & member[rows][:, np.newaxis] & member[np.newaxis, :]
            impostor = scores[inside & ~same_person]
            # searchsorted(side="right") = how many grid values are <= the score.
            bins[name] += np.bincount(
                np.searchsorted(thresholds, impostor, side="right"),
                minlength=len(thresholds) + 1,
            )
            different[name] += int(impostor.size)
            same[name].append(scores[inside & same_person])
    result: dict[str, GroupScores] = {}
    for name in groups:
        # Scores with at least i+1 grid values <= them are >= grid[i].
        at_or_above = np.cumsum(bins[name][::-1])[::-1][1:].astype(np.int64)
        result[name] = GroupScores(
            different_pairs=different[name],
            at_or_above=at_or_above,
            same_scores=np.concatenate(same[name]) if same[name] else np.zeros(0),
        )
    return result


def table_rows(grid: Sequence[float], scores: GroupScores) -> list[dict[str, Any]]:
    """JSON rows (threshold, false matches, FMR + CI, false non-matches, FNMR + CI)."""
    if scores.different_pairs == 0 or scores.same_scores.size == 0:
        raise BadInputError("need both different-person and same-person pairs for a table")
    non_matches = scores.false_non_matches(grid)
    n_same = int(scores.same_scores.size)
    rows = []
    for i, threshold in enumerate(grid):
        k_fm, k_fnm = int(scores.at_or_above[i]), int(non_matches[i])
        rows.append(
            {
                "threshold": float(threshold),
                "false_matches": k_fm,
                "fmr": k_fm / scores.different_pairs,
                "fmr_ci95": list(clopper_pearson(k_fm, scores.different_pairs)),
                "false_non_matches": k_fnm,
                "fnmr": k_fnm / n_same,
                "fnmr_ci95": list(clopper_pearson(k_fnm, n_same)),
            }
        )
    return rows


def _table_json(model_id: str, scores: GroupScores, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": TABLE_FORMAT,
        "model_id": model_id,
        "pairs": {"different": scores.different_pairs, "same": int(scores.same_scores.size)},
        "rows": rows,
    }


def _operating_points(model_id: str, scores: GroupScores, rows: list[dict[str, Any]]) -> list[Any]:
    table = parse_table(_table_json(model_id, scores, rows))
    summary: list[Any] = []
    for target in SUMMARY_FMRS:
        try:
            row = table.row_at(threshold_for_fmr(table, target))
        except UnreachableFmrError as exc:
            summary.append({"target_fmr": target, "threshold": None, "reason": exc.message})
            continue
        summary.append(
            {
                "target_fmr": target,
                "threshold": row.threshold,
                "false_matches": row.false_matches,
                "fmr": row.fmr,
                "fmr_ci95": list(row.fmr_ci),
                "fnmr": row.fnmr,
                "fnmr_ci95": list(row.fnmr_ci),
            }
        )
    return summary


def held_out_check(
    model_id: str, grid: Sequence[float], half_a: GroupScores, half_b: GroupScores
) -> list[dict[str, Any]]:
    """Per summary target: the threshold chosen on A's pairs, the rates measured on B's."""
    table_a = parse_table(_table_json(model_id, half_a, table_rows(grid, half_a)))
    rows_b = {row["threshold"]: row for row in table_rows(grid, half_b)}
    results: list[dict[str, Any]] = []
    for target in SUMMARY_FMRS:
        try:
            threshold = threshold_for_fmr(table_a, target)
        except UnreachableFmrError as exc:
            results.append({"target_fmr": target, "threshold_from_A": None, "reason": exc.message})
            continue
        on_b = rows_b[threshold]
        results.append(
            {
                "target_fmr": target,
                "threshold_from_A": threshold,
                "A_fmr_upper": table_a.row_at(threshold).fmr_upper,
                "B_false_matches": on_b["false_matches"],
                "B_fmr": on_b["fmr"],
                "B_fmr_ci95": on_b["fmr_ci95"],
                "B_false_non_matches": on_b["false_non_matches"],
                "B_fnmr": on_b["fnmr"],
                "B_fnmr_ci95": on_b["fnmr_ci95"],
                "B_meets_target": on_b["fmr"] <= target,
            }
        )
    return results


@dataclass(frozen=True)
class FmrCalibration:
    """The table JSON (``to_json_dict``) and the numbers the CLI prints."""

    data: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        return self.data


def run_fmr(
    engine: FaceEngine,
    root: Path,
    embedder: str,
    command: str,
    progress: ProgressFn | None = None,
    images: Sequence[IdentityImage] | None = None,
    grid: Sequence[float] = DEFAULT_GRID,
) -> FmrCalibration:
    """Embed the set, score every pair, build the table with its held-out check.

    ``images`` restricts the run to a subset (tests); default: everything under root.
    """
    start = time.perf_counter()
    chosen = list(images) if images is not None else list_identity_images(root)
    embedded = embed_identity_images(engine, chosen, progress)
    halves = np.array([half_of(name) for name in embedded.identities])
    groups = {
        "all": np.ones(len(halves), dtype=bool),
        "A": halves == "A",
        "B": halves == "B",
    }
    scores = score_all_pairs(embedded.matrix, embedded.labels(), groups, grid)
    overall = scores["all"]
    rows = table_rows(grid, overall)
    model_id = engine.model_id

    def describe(name: str) -> dict[str, Any]:
        member = groups[name]
        return {
            "identities": len({n for n, m in zip(embedded.identities, member, strict=True) if m}),
            "embedded_images": int(member.sum()),
            "pairs": {
                "different": scores[name].different_pairs,
                "same": int(scores[name].same_scores.size),
            },
        }

    data: dict[str, Any] = {
        "format": TABLE_FORMAT,
        "model_id": model_id,
        "embedder": embedder,
        "model_files": [
            {"name": s.name, "package": f"{s.package}@{s.version}", "sha256": s.sha256}
            for s in (*EMBEDDER_FILES.get(embedder, ()), FACE_DETECTOR, FACE_LANDMARKS)
        ],
        "dataset": {
            "name": root.name,
            "layout": "images/<Name>/*.jpg",
            "images": len(chosen),
            "identities": len({image.identity for image in chosen}),
            "embedded_images": len(embedded.images),
            "excluded_no_face": [_relative(image.path, root) for image in embedded.excluded],
        },
        "pairs": {"different": overall.different_pairs, "same": int(overall.same_scores.size)},
        "method": {
            "embedding": "FaceEngine.analyze(image, AnalysisOptions(gate=None, pad=False)), "
            "as sign-in frames are embedded, without the quality gate",
            "pairs": "every unordered pair of embedded images once: different-person pairs "
            "are false-match trials, same-person pairs false-non-match trials",
            "decision": "score >= threshold is a match (cosine similarity)",
            "interval": "Clopper-Pearson, 95 % two-sided",
            "threshold_rule": "threshold_for_fmr: smallest grid threshold whose FMR upper 95 % "
            "bound is <= the target",
        },
        "command": command,
        "date": datetime.now(UTC).date().isoformat(),
        "seconds": round(time.perf_counter() - start, 1),
        "operating_points": _operating_points(model_id, overall, rows),
        "held_out": {
            "split": HALF_RULE,
            "calibrated_on": "A",
            "reported_on": "B",
            "A": describe("A"),
            "B": describe("B"),
            "results": held_out_check(model_id, grid, scores["A"], scores["B"]),
        },
        "rows": rows,
    }
    return FmrCalibration(data)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
