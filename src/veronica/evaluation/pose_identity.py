"""Identity under head turns and blinks (``veronica eval pose-identity``).

A liveness session embeds frames while the head turns and the eyes blink, and asks
each of them to match the session's first frames and the recognised user. This
measures how cosine similarity behaves on such frames, so that per-frame limits can
cite numbers:

* **Photos** (LFW View 1, optionally the people set): same-person and
  different-person pairs whose reference image is frontal (|yaw| and |pitch|
  < 10°), binned by the probe's absolute yaw, and separately by absolute pitch,
  from the project's own pose estimate (``FrameAnalysis.quality.pose``).
* **Video** (the talking-head clip): every frame embedded through a tracking Face
  Mesh as in a session; frames are open-eye, closing or closed by the relative dip
  of the eye aspect ratio below the clip's open-eye baseline (as
  ``liveness/signals/blink.py``), and turned when |yaw| >= 10°. Each is compared to
  the first open-eye frontal frame and to every open-eye frontal frame.

Same-person percentiles are the low ones (1st, 5th, median: what a genuine frame
may fall to), different-person ones the high ones (95th, 99th, 99.9th: how high a
stranger reaches). For candidate limits, per-frame FNMR and FMR per bin with
Clopper–Pearson 95 % intervals. Embedding is ``FaceEngine.analyze`` without a
quality gate, so no bin is emptied by the login gate's pose limits.
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
    CALIBRATION_OPTIONS,
    EmbeddedSet,
    IdentityImage,
    ProgressFn,
    embed_identity_images,
    list_identity_images,
)
from veronica.evaluation.intervals import clopper_pearson
from veronica.evaluation.people import read_identities
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis

YAW_BINS: tuple[tuple[float, float], ...] = ((0, 10), (10, 20), (20, 30), (30, 45), (45, 90))
PITCH_BINS: tuple[tuple[float, float], ...] = ((0, 10), (10, 20), (20, 30), (30, 90))
FRONTAL_DEG = 10.0
LIMITS = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
CLOSING_DIP = 0.2
"""Relative EAR dip from which an eye counts as closing (tracker noise is ~0.05)."""
CLOSED_DIP = 0.4
"""As ``BlinkLimits.min_dip``: the dip a blink must reach."""
BASELINE_PERCENTILE = 75.0
"""As ``BlinkLimits.baseline_percentile``, over the whole clip (8 s, head steady)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FramePose:
    yaw: float
    pitch: float
    ear: float


def _pose_of(analysis: FrameAnalysis) -> FramePose:
    quality = analysis.quality
    assert quality is not None  # every analysis with an embedding has one
    return FramePose(quality.pose.yaw, quality.pose.pitch, quality.eye_aspect_ratio)


def _low(scores: FloatArray) -> dict[str, Any]:
    if scores.size == 0:
        return {"n": 0}
    p1, p5, p50 = np.percentile(scores, [1, 5, 50])
    return {
        "n": int(scores.size),
        "min": float(scores.min()),
        "p1": float(p1),
        "p5": float(p5),
        "median": float(p50),
    }


def _high(scores: FloatArray) -> dict[str, Any]:
    if scores.size == 0:
        return {"n": 0}
    p95, p99, p999 = np.percentile(scores, [95, 99, 99.9])
    return {
        "n": int(scores.size),
        "p95": float(p95),
        "p99": float(p99),
        "p99.9": float(p999),
        "max": float(scores.max()),
    }


def _rate(k: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"errors": 0, "trials": 0}
    return {"errors": k, "trials": n, "rate": k / n, "ci95": list(clopper_pearson(k, n))}


def _limits(same: FloatArray, different: FloatArray, limits: Sequence[float]) -> list[Any]:
    return [
        {
            "limit": limit,
            "fnmr": _rate(int(np.count_nonzero(same < limit)), int(same.size)),
            "fmr": _rate(int(np.count_nonzero(different >= limit)), int(different.size)),
        }
        for limit in limits
    ]


def binned_pairs(
    embedded: EmbeddedSet,
    angle: FloatArray,
    bins: Sequence[tuple[float, float]],
    frontal: npt.NDArray[np.bool_],
    limits: Sequence[float] = LIMITS,
) -> list[dict[str, Any]]:
    """Same- and different-person scores of (frontal reference, probe) pairs, by the
    probe's ``angle`` (absolute degrees) bin. A pair never pairs an image with itself."""
    labels = embedded.labels()
    refs = np.flatnonzero(frontal)
    out: list[dict[str, Any]] = []
    for low, high in bins:
        probes = np.flatnonzero((angle >= low) & (angle < high))
        if probes.size == 0 or refs.size == 0:
            out.append({"bin_deg": [low, high], "probes": 0})
            continue
        scores = (embedded.matrix[refs] @ embedded.matrix[probes].T).astype(np.float64)
        same_person = labels[refs][:, np.newaxis] == labels[probes][np.newaxis, :]
        itself = refs[:, np.newaxis] == probes[np.newaxis, :]
        same = scores[same_person & ~itself]
        different = scores[~same_person]
        out.append(
            {
                "bin_deg": [low, high],
                "probes": int(probes.size),
                "same_person": _low(same),
                "different_person": _high(different),
                "limits": _limits(same, different, limits),
            }
        )
    return out


def photo_report(embedded: EmbeddedSet, limits: Sequence[float] = LIMITS) -> dict[str, Any]:
    poses: list[FramePose] = list(embedded.extras)
    yaw = np.abs(np.array([p.yaw for p in poses], dtype=np.float64))
    pitch = np.abs(np.array([p.pitch for p in poses], dtype=np.float64))
    frontal = (yaw < FRONTAL_DEG) & (pitch < FRONTAL_DEG)
    return {
        "images": len(embedded.images) + len(embedded.excluded),
        "embedded": len(embedded.images),
        "frontal_references": int(frontal.sum()),
        "by_abs_yaw": binned_pairs(embedded, yaw, YAW_BINS, frontal, limits),
        "by_abs_pitch": binned_pairs(embedded, pitch, PITCH_BINS, frontal, limits),
    }


def video_report(
    engine: FaceEngine, video: Path, limits: Sequence[float] = LIMITS
) -> dict[str, Any]:
    """Per-frame similarity of a talking-head clip by eye state and pose."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    if not capture.isOpened() or fps <= 0:
        raise BadInputError(f"{video}: not a readable video")
    tracker = engine.tracking_detector()
    vectors: list[npt.NDArray[np.float32]] = []
    poses: list[FramePose] = []
    frames = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames += 1
            analysis = engine.analyze(np.asarray(bgr, dtype=np.uint8), CALIBRATION_OPTIONS, tracker)
            if analysis.embedding is not None:
                vectors.append(analysis.embedding)
                poses.append(_pose_of(analysis))
    finally:
        capture.release()
        tracker.close()
    if len(vectors) < 2:
        raise BadInputError(f"{video}: fewer than two frames with a face")
    matrix = np.stack(vectors).astype(np.float64)
    ear = np.array([p.ear for p in poses])
    yaw = np.abs(np.array([p.yaw for p in poses]))
    pitch = np.abs(np.array([p.pitch for p in poses]))
    baseline = float(np.percentile(ear, BASELINE_PERCENTILE))
    dip = 1.0 - ear / baseline
    frontal = (yaw < FRONTAL_DEG) & (pitch < FRONTAL_DEG)
    open_frontal = np.flatnonzero((dip < CLOSING_DIP) & frontal)
    if open_frontal.size == 0:
        raise BadInputError(f"{video}: no open-eye frontal frame to compare with")
    first = int(open_frontal[0])
    categories = {
        "open_frontal": (dip < CLOSING_DIP) & frontal,
        "closing": (dip >= CLOSING_DIP) & (dip < CLOSED_DIP),
        "closed": dip >= CLOSED_DIP,
        "turned_10_20": (yaw >= 10) & (yaw < 20),
        "turned_20_plus": yaw >= 20,
        "pitched_10_plus": pitch >= FRONTAL_DEG,
    }
    report: dict[str, Any] = {
        "video": video.name,
        "fps": fps,
        "frames": frames,
        "frames_with_face": len(vectors),
        "ear_baseline": baseline,
        "abs_yaw_max": float(yaw.max()),
        "abs_pitch_max": float(pitch.max()),
        "deepest_dip": float(dip.max()),
        "reference_frame": first,
        "categories": {},
    }
    for name, member in categories.items():
        rows = np.flatnonzero(member)
        rows = rows[rows != first]
        to_first = matrix[rows] @ matrix[first]
        pairs = matrix[rows] @ matrix[open_frontal].T
        to_open = pairs[rows[:, np.newaxis] != open_frontal[np.newaxis, :]]
        report["categories"][name] = {
            "frames": int(rows.size),
            "to_first_open_frame": _low(to_first),
            "to_every_open_frame": _low(to_open),
            "fnmr_to_first_open_frame": [
                {"limit": limit, **_rate(int(np.count_nonzero(to_first < limit)), int(rows.size))}
                for limit in limits
            ],
        }
    return report


def _people_set(csv_path: Path, root: Path) -> list[IdentityImage]:
    return [
        IdentityImage(identity, path)
        for identity, paths in sorted(read_identities(csv_path, root).items())
        for path in paths
    ]


def run_pose_identity(
    engine: FaceEngine,
    root: Path,
    command: str,
    people: tuple[Path, Path] | None = None,
    video: Path | None = None,
    progress: ProgressFn | None = None,
    images: Sequence[IdentityImage] | None = None,
) -> dict[str, Any]:
    """The whole report: LFW (or ``images``), the people set, the video."""
    start = time.perf_counter()
    chosen = list(images) if images is not None else list_identity_images(root)
    lfw = embed_identity_images(engine, chosen, progress, keep=_pose_of)
    report: dict[str, Any] = {
        "model_id": engine.model_id,
        "command": command,
        "method": __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        "frontal_reference": f"|yaw| < {FRONTAL_DEG}° and |pitch| < {FRONTAL_DEG}°",
        "limits": list(LIMITS),
        root.name: photo_report(lfw),
    }
    if people is not None:
        embedded = embed_identity_images(engine, _people_set(*people), keep=_pose_of)
        report["people"] = photo_report(embedded)
    if video is not None:
        if not video.is_file():
            raise BadInputError(f"{video}: no such file")
        report["video"] = video_report(engine, video)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
