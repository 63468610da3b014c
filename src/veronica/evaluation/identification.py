"""Simulated 1:N galleries: FPIR and FNIR at the gallery-size threshold, and what the
margin rule changes (``veronica eval identification``).

The identities are split in two halves by a hash of the name (as ``eval fmr``). The
thresholds are calibrated on one half's pairs only; the galleries are simulated on
the other half, so no choice is tuned on the searches it is judged by. Both
directions are run (A→B and B→A).

On the simulation half, every identity enrolls its first image (one template each).

* **Mated searches**: every other image of an enrolled identity, searched against a
  gallery that holds it. A miss (counts towards FNIR) is any answer other than the
  right user at rank 1, at or above the threshold, clearing the margin.
* **Non-mated searches**: every image of the half, searched against the gallery
  without its own identity. A false positive (FPIR) is any user returned.

Galleries of N users are random subsets of the half (``repetitions`` draws per N,
seeded); counts are pooled over the draws. The draws share images, so the
Clopper–Pearson intervals (which assume independent trials) are nominal there.
Each search uses one probe image; the service's lower median over several frames
only makes a false positive harder.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from veronica.errors import BadInputError
from veronica.evaluation.fmr import (
    DEFAULT_GRID,
    HALF_RULE,
    EmbeddedSet,
    ProgressFn,
    embed_identity_images,
    half_of,
    list_identity_images,
    score_all_pairs,
    table_rows,
)
from veronica.evaluation.intervals import clopper_pearson
from veronica.pipeline.engine import FaceEngine
from veronica.recognition.operating_point import (
    TABLE_FORMAT,
    CalibrationTable,
    UnreachableFmrError,
    identification_threshold,
    parse_table,
    threshold_for_fmr,
)

DEFAULT_SIZES = (10, 30, 100, 300, 1000)
DEFAULT_MARGINS = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15)
FIXED_THRESHOLD = 0.40
"""The old accuracy-optimal default, for contrast: the margin's effect at a loose threshold."""


@dataclass(frozen=True, eq=False)
class _Half:
    """One half's searches: similarity of every image to every identity's template."""

    scores: npt.NDArray[np.float32]
    """(images, identities): cosine of image i to identity j's template."""
    owner: npt.NDArray[np.int64]
    """Identity index of each image."""
    is_template: npt.NDArray[np.bool_]
    identities: int


def _half(embedded: EmbeddedSet, member: npt.NDArray[np.bool_]) -> _Half:
    rows = np.flatnonzero(member)
    names = [embedded.identities[i] for i in rows]
    distinct = sorted(set(names))
    index = {name: j for j, name in enumerate(distinct)}
    owner = np.array([index[name] for name in names], dtype=np.int64)
    # The first image of each identity (sorted file order) is its template.
    first = np.array([int(np.flatnonzero(owner == j)[0]) for j in range(len(distinct))])
    is_template = np.zeros(len(rows), dtype=bool)
    is_template[first] = True
    matrix = embedded.matrix[rows]
    return _Half(matrix @ matrix[first].T, owner, is_template, len(distinct))


def _top_two(scores: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.intp], Any, Any]:
    """Per row: index of the best column, its score, and the second-best score."""
    best = np.argmax(scores, axis=1)
    top = scores[np.arange(scores.shape[0]), best]
    if scores.shape[1] < 2:
        return best, top, np.full(scores.shape[0], -np.inf, dtype=np.float32)
    second = np.partition(scores, scores.shape[1] - 2, axis=1)[:, -2]
    return best, top, second


@dataclass
class _Counts:
    mated: int = 0
    misses: int = 0
    wrong_user: int = 0
    non_mated: int = 0
    false_positives: int = 0


def _search(
    half: _Half,
    gallery: npt.NDArray[np.int64],
    thresholds: dict[str, float],
    margins: Sequence[float],
    counts: dict[tuple[str, float], _Counts],
) -> None:
    """Run the mated and non-mated searches of one gallery draw and add to ``counts``."""
    in_gallery = np.zeros(half.identities, dtype=bool)
    in_gallery[gallery] = True
    column_of = np.full(half.identities, -1, dtype=np.int64)
    column_of[gallery] = np.arange(gallery.size)
    sub = half.scores[:, gallery]

    mated_rows = np.flatnonzero(in_gallery[half.owner] & ~half.is_template)
    mated_best, mated_top, mated_second = _top_two(sub[mated_rows])
    right = gallery[mated_best] == half.owner[mated_rows]

    masked = sub.copy()
    own = column_of[half.owner]
    has_own = own >= 0
    masked[np.flatnonzero(has_own), own[has_own]] = -np.inf  # leave-one-out
    _, other_top, other_second = _top_two(masked)

    for kind, threshold in thresholds.items():
        for margin in margins:
            tally = counts.setdefault((kind, margin), _Counts())
            accepted = (mated_top >= threshold) & (mated_top - mated_second >= margin)
            tally.mated += int(mated_rows.size)
            tally.misses += int(np.count_nonzero(~(accepted & right)))
            tally.wrong_user += int(np.count_nonzero(accepted & ~right))
            positive = (other_top >= threshold) & (other_top - other_second >= margin)
            tally.non_mated += int(other_top.size)
            tally.false_positives += int(np.count_nonzero(positive))


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"errors": k, "trials": n, "rate": k / n, "ci95": list(clopper_pearson(k, n))}


def _table_from(
    model_id: str, embedded: EmbeddedSet, member: npt.NDArray[np.bool_]
) -> CalibrationTable:
    everyone = {"all": np.ones(int(member.sum()), dtype=bool)}
    scores = score_all_pairs(embedded.matrix[member], embedded.labels()[member], everyone)["all"]
    return parse_table(
        {
            "format": TABLE_FORMAT,
            "model_id": model_id,
            "pairs": {"different": scores.different_pairs, "same": int(scores.same_scores.size)},
            "rows": table_rows(DEFAULT_GRID, scores),
        }
    )


def simulate_direction(
    model_id: str,
    embedded: EmbeddedSet,
    calibrate: npt.NDArray[np.bool_],
    simulate: npt.NDArray[np.bool_],
    fpir: float,
    match_fmr: float,
    sizes: Sequence[int],
    margins: Sequence[float],
    repetitions: int,
    seed: int,
) -> dict[str, Any]:
    """Thresholds from the ``calibrate`` images' pairs; galleries from ``simulate``."""
    table = _table_from(model_id, embedded, calibrate)
    try:
        floor = threshold_for_fmr(table, match_fmr)
    except UnreachableFmrError as exc:
        raise BadInputError(f"the calibration half is too small: {exc.message}") from exc
    half = _half(embedded, simulate)
    rng = np.random.default_rng(seed)
    results: list[dict[str, Any]] = []
    for size in sorted({min(s, half.identities) for s in sizes} | {half.identities}):
        try:
            gallery_threshold = max(floor, identification_threshold(table, fpir, size))
        except UnreachableFmrError as exc:
            results.append({"gallery_size": size, "threshold": None, "reason": exc.message})
            continue
        thresholds = {"gallery": gallery_threshold, "fixed_0.40": FIXED_THRESHOLD}
        counts: dict[tuple[str, float], _Counts] = {}
        draws = 1 if size == half.identities else repetitions
        for _ in range(draws):
            gallery = np.sort(rng.choice(half.identities, size=size, replace=False))
            _search(half, gallery.astype(np.int64), thresholds, margins, counts)
        for kind, threshold in thresholds.items():
            for margin in margins:
                tally = counts[(kind, margin)]
                results.append(
                    {
                        "gallery_size": size,
                        "draws": draws,
                        "threshold_kind": kind,
                        "threshold": threshold,
                        "margin": margin,
                        "fnir": _rate(tally.misses, tally.mated),
                        "mated_wrong_user": tally.wrong_user,
                        "fpir": _rate(tally.false_positives, tally.non_mated),
                    }
                )
    return {
        "calibration_table": table.table_id,
        "calibration_pairs": {"different": table.different_pairs, "same": table.same_pairs},
        "one_to_one_threshold": floor,
        "simulated_identities": half.identities,
        "simulated_images": int(simulate.sum()),
        "results": results,
    }


def run_identification(
    engine: FaceEngine,
    root: Path,
    command: str,
    fpir: float,
    match_fmr: float,
    sizes: Sequence[int] = DEFAULT_SIZES,
    margins: Sequence[float] = DEFAULT_MARGINS,
    repetitions: int = 20,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Embed the set once and simulate both directions; returns the JSON report."""
    if repetitions < 1 or not sizes or not margins:
        raise BadInputError("need at least one gallery size, one margin and one repetition")
    start = time.perf_counter()
    embedded = embed_identity_images(engine, list_identity_images(root), progress)
    halves = np.array([half_of(name) for name in embedded.identities])
    a, b = halves == "A", halves == "B"
    directions = {
        "calibrated_on_A_simulated_on_B": simulate_direction(
            engine.model_id, embedded, a, b, fpir, match_fmr, sizes, margins, repetitions, seed
        ),
        "calibrated_on_B_simulated_on_A": simulate_direction(
            engine.model_id, embedded, b, a, fpir, match_fmr, sizes, margins, repetitions, seed
        ),
    }
    return {
        "model_id": engine.model_id,
        "dataset": root.name,
        "split": HALF_RULE,
        "fpir_target": fpir,
        "match_fmr": match_fmr,
        "threshold_rule": "gallery: max(1:1 threshold for match_fmr, threshold for FMR = "
        "fpir / N), both from the calibration half's table; fixed_0.40: the old default",
        "design": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        "excluded_no_face": len(embedded.excluded),
        "command": command,
        "seconds": round(time.perf_counter() - start, 1),
        "directions": directions,
    }
