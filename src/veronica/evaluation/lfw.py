"""LFW-style verification evaluation over the real engine.

Each distinct image is embedded once. An image where no face is found is a
"failure to enroll": its pairs get no score and count as wrong, never dropped
(dropping them would flatter the accuracy).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError
from veronica.evaluation.csvfile import csv_records
from veronica.evaluation.metrics import VerificationReport, verification_report
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions

REQUIRED_COLUMNS = ("img1", "img2", "same")
_TRUE = {"1", "true", "yes", "same"}
_FALSE = {"0", "false", "no", "different"}

# No quality gate: the LFW protocol scores every pair; only "no face" is a failure.
EVAL_OPTIONS = AnalysisOptions(gate=None, pad=False)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PairRow:
    img1: Path
    img2: Path
    same: bool


def read_pairs(csv_path: Path, root: Path, limit: int | None = None) -> list[PairRow]:
    """Read ``img1,img2,same`` rows; paths are relative to ``root``. Every file must exist."""
    rows: list[PairRow] = []
    for line, record in csv_records(csv_path, REQUIRED_COLUMNS):
        rows.append(_parse_row(csv_path, line, record, root))
        if limit is not None and len(rows) >= limit:
            break
    if not rows:
        raise BadInputError(f"{csv_path}: no pairs")
    return rows


def _parse_row(csv_path: Path, line: int, record: dict[str, str], root: Path) -> PairRow:
    img1, img2, same = (record[c] for c in REQUIRED_COLUMNS)
    if not (img1 and img2 and same):
        raise BadInputError(f"{csv_path}:{line}: empty img1, img2 or same")
    flag = same.lower()
    if flag not in _TRUE | _FALSE:
        raise BadInputError(f"{csv_path}:{line}: 'same' must be 1 or 0, got {same!r}")
    paths = (root / img1, root / img2)
    for path in paths:
        if not path.is_file():
            raise BadInputError(f"{csv_path}:{line}: image {path} does not exist")
    return PairRow(paths[0], paths[1], flag in _TRUE)


def embed_images(
    engine: FaceEngine, paths: list[Path], progress: ProgressFn | None = None
) -> dict[Path, NDArray[np.float32] | None]:
    """Embedding per image, ``None`` where no face was found."""
    embeddings: dict[Path, NDArray[np.float32] | None] = {}
    for done, path in enumerate(paths, start=1):
        analysis = engine.analyze(path.read_bytes(), EVAL_OPTIONS)
        embeddings[path] = analysis.embedding
        if progress is not None:
            progress(done, len(paths))
    return embeddings


def pair_scores(
    rows: list[PairRow], embeddings: dict[Path, NDArray[np.float32] | None]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Cosine similarity per pair; NaN where either image had no face."""
    scores = np.full(len(rows), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        a, b = embeddings[row.img1], embeddings[row.img2]
        if a is not None and b is not None:
            scores[i] = float(np.dot(a, b))
    labels = np.array([row.same for row in rows], dtype=bool)
    return scores, labels


def run_lfw(
    engine: FaceEngine,
    rows: list[PairRow],
    folds: int,
    progress: ProgressFn | None = None,
    fixed_threshold: float | None = None,
) -> tuple[VerificationReport, NDArray[np.float64], NDArray[np.bool_]]:
    """Embed, score and report. ``fixed_threshold`` scores every fold at that
    threshold instead of tuning one on the other folds."""
    start = time.perf_counter()
    paths = sorted({p for row in rows for p in (row.img1, row.img2)})
    embeddings = embed_images(engine, paths, progress)
    scores, labels = pair_scores(rows, embeddings)
    failures = sum(1 for v in embeddings.values() if v is None)
    report = verification_report(
        scores,
        labels,
        folds=folds,
        seconds=time.perf_counter() - start,
        failures_to_enroll=failures,
        fixed_threshold=fixed_threshold,
    )
    return report, scores, labels
