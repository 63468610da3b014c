"""Passive PAD score on labelled single images (``veronica eval pad --labels``).

Each image is scored by the engine's passive PAD stage only: no challenge,
no motion. Two crop rules, because the data sets differ: an image that is
already a tight face crop (the face box spans at least ``TIGHT_CROP_SHARE`` of
its width, as NUAA's crops do) is scored as it is, since padding a tight crop
to the model's 2.7× context destroys its scores; a full frame is scored with
the stage's context crop. An image with no face gets no score (NaN): never
accepted as bona fide.

Each image is also checked for a display or print border around the face
(``pipeline.border``), which the model misses on a face filling a tablet. The
report gives the model alone and the model with that cue (an image with a
border is an attack whatever its model score), plus the verdict on each image
that is not a NUAA crop (the real poster, phone and tablet samples).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError, ModelError
from veronica.evaluation.csvfile import csv_records
from veronica.evaluation.metrics import auc, roc_curve
from veronica.evaluation.pad_metrics import PadReport, pad_report
from veronica.pipeline.border import BorderLimits, border_score
from veronica.pipeline.decode import decode_image
from veronica.pipeline.detect import choose_face
from veronica.pipeline.engine import FaceEngine

TIGHT_CROP_SHARE = 0.6
DEFAULT_THRESHOLD = 0.5
"""The session policy's PAD limit (``PadLimits.min_live``): the product's operating point."""
CALIBRATION_SOURCE = "nuaa_face_crop"
"""Images of this source may calibrate; the others are reported one by one."""
LABELS = ("live", "spoof")
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    live: bool
    attack_type: str
    source: str


@dataclass(frozen=True)
class ImagePadReport:
    auc: float
    """Area under the ROC of live vs spoof scores (1 = perfect ranking)."""
    threshold: float
    threshold_rule: str
    pad: PadReport
    no_face: int
    seconds: float
    distributions: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per label/attack type/source group: count, mean and percentiles of the live score."""

    with_border: PadReport | None = None
    """The same rates when a detected border also rejects an image."""
    auc_with_border: float = float("nan")
    samples: list[dict[str, object]] = field(default_factory=list)
    """Verdicts on every image that is not a calibration (NUAA crop) image."""

    def to_json_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc,
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "no_face": self.no_face,
            "seconds": self.seconds,
            **self.pad.to_json_dict(),
            "with_border": {
                "auc": self.auc_with_border,
                **(self.with_border.to_json_dict() if self.with_border else {}),
            },
            "samples": self.samples,
            "distributions": self.distributions,
        }


def read_labels(csv_path: Path, root: Path, limit: int | None = None) -> list[LabelledImage]:
    """Rows ``path,label,attack_type,source`` (only path and label are required)."""
    rows: list[LabelledImage] = []
    for line, record in csv_records(csv_path, ("path", "label")):
        label = record["label"].lower()
        if label not in LABELS:
            raise BadInputError(f"{csv_path}:{line}: label must be live or spoof")
        path = root / record["path"]
        if not record["path"] or not path.is_file():
            raise BadInputError(f"{csv_path}:{line}: image {path} does not exist")
        rows.append(
            LabelledImage(
                path=path,
                live=label == "live",
                attack_type="" if label == "live" else record.get("attack_type") or "unspecified",
                source=record.get("source") or "unknown",
            )
        )
        if limit is not None and len(rows) >= limit:
            break
    if not any(r.live for r in rows) or all(r.live for r in rows):
        raise BadInputError(f"{csv_path}: need both live and spoof images")
    return rows


def score_image(engine: FaceEngine, data: bytes) -> float:
    """Live score of the image's most central face, NaN if there is none."""
    return score_image_with_border(engine, data)[0]


def score_image_with_border(
    engine: FaceEngine, data: bytes, limits: BorderLimits | None = None
) -> tuple[float, float]:
    """(model live score, border score) of the most central face; NaNs if none.
    A tight crop has no surroundings, so its border score is 0."""
    if engine.pad is None:
        raise ModelError("the engine was built without the PAD model")
    bgr = decode_image(data, engine.config.decode_limits).bgr
    choice = choose_face(engine.pipeline.detector.detect(bgr))
    if choice is None:
        return float("nan"), float("nan")
    box = choice.face.box
    if box.width >= TIGHT_CROP_SHARE * bgr.shape[1]:
        return engine.pad.score_crop(bgr), 0.0
    return engine.pad.score(bgr, box).live, border_score(bgr, box, limits)


def _distribution(scores: NDArray[np.float64]) -> dict[str, float]:
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return {"count": float(scores.size), "no_face": float(scores.size)}
    p5, p25, p50, p75, p95 = np.percentile(finite, [5, 25, 50, 75, 95])
    return {
        "count": float(scores.size),
        "no_face": float(scores.size - finite.size),
        "mean": float(finite.mean()),
        "p5": float(p5),
        "p25": float(p25),
        "p50": float(p50),
        "p75": float(p75),
        "p95": float(p95),
    }


def run_pad_images(
    engine: FaceEngine,
    rows: list[LabelledImage],
    threshold: float | None = None,
    progress: ProgressFn | None = None,
) -> ImagePadReport:
    """Score every image at ``threshold`` (default: the session policy's PAD limit)."""
    start = time.perf_counter()
    limits = BorderLimits()
    scores = np.empty(len(rows), dtype=np.float64)
    borders = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        scores[i], borders[i] = score_image_with_border(engine, row.path.read_bytes(), limits)
        if progress is not None:
            progress(i + 1, len(rows))
    live = np.array([r.live for r in rows])
    rule = "given"
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
        rule = "the session policy's PAD limit (PadLimits.min_live)"
    # A border makes an image an attack: its fused score drops to 0.
    fused = np.where(borders >= limits.min_score, 0.0, scores)
    species: dict[str, list[float]] = defaultdict(list)
    groups: dict[str, list[float]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        if not row.live:
            species[row.attack_type].append(score)
        label = "live" if row.live else f"spoof/{row.attack_type}"
        groups[f"{label}/{row.source}"].append(score)
    report = pad_report(scores[live], {k: np.array(v) for k, v in species.items()}, threshold)
    fused_species: dict[str, list[float]] = defaultdict(list)
    for row, score in zip(rows, fused, strict=True):
        if not row.live:
            fused_species[row.attack_type].append(float(score))
    with_border = pad_report(
        fused[live], {k: np.array(v) for k, v in fused_species.items()}, threshold
    )
    samples: list[dict[str, object]] = [
        {
            "path": str(row.path.name),
            "source": row.source,
            "label": "live" if row.live else "spoof",
            "attack_type": row.attack_type,
            "model_score": float(scores[i]),
            "border_score": float(borders[i]),
            "accepted_as_live": bool(fused[i] >= threshold),
            "correct": bool((fused[i] >= threshold) == row.live),
        }
        for i, row in enumerate(rows)
        if row.source != CALIBRATION_SOURCE
    ]
    return ImagePadReport(
        auc=auc(roc_curve(scores, live)),
        threshold=float(threshold),
        threshold_rule=rule,
        pad=report,
        no_face=int(np.isnan(scores).sum()),
        seconds=time.perf_counter() - start,
        distributions={k: _distribution(np.array(v)) for k, v in sorted(groups.items())},
        with_border=with_border,
        auc_with_border=auc(roc_curve(fused, live)),
        samples=samples,
    )
