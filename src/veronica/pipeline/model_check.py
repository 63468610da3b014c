"""``veronica models check``: each model file has its pinned hash, loads, and
gives the known output on a known image (a shipped face photo, MIT licence).

The expected outputs in ``reference/expected.json`` were recorded with the
pinned model versions by ``python -m veronica.pipeline.model_check --record``;
a changed runtime or a corrupted file shows up as a drift beyond tolerance.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from veronica.errors import VeronicaError
from veronica.pipeline.align import align_face
from veronica.pipeline.decode import decode_image
from veronica.pipeline.detect import MeshDetector, choose_face
from veronica.pipeline.embed import Embedder, FrFeatureEmbedder, MobileFaceNetEmbedder
from veronica.pipeline.models import (
    ALL_MODELS,
    FACE_DETECTOR,
    FACE_LANDMARKS,
    FR_FEATURE,
    FR_LIVENESS,
    MOBILEFACENET,
    ModelSpec,
    verified_path,
)
from veronica.pipeline.pad import MiniFasNetPad
from veronica.pipeline.types import FaceLandmarks

LANDMARK_TOLERANCE_PX = 2.0
"""Mesh points move < 1 px between runs of the same build; 2 px allows for
another CPU's float rounding, while a wrong model would be off by far more."""
EMBEDDING_MIN_COSINE = 0.99
PAD_TOLERANCE = 0.05


@dataclass(frozen=True)
class ModelCheck:
    name: str
    source: str
    hash_ok: bool
    loads: bool | None
    output_ok: bool | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.loads is not False and self.output_ok is not False


def reference_image() -> bytes:
    return resources.files("veronica.pipeline").joinpath("reference/face.jpg").read_bytes()


def _expected() -> dict[str, Any]:
    text = resources.files("veronica.pipeline").joinpath("reference/expected.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _reference_face() -> tuple[np.ndarray[Any, Any], FaceLandmarks]:
    bgr = decode_image(reference_image()).bgr
    detector = MeshDetector(max_faces=1)
    try:
        choice = choose_face(detector.detect(bgr))
    finally:
        detector.close()
    if choice is None:
        raise VeronicaError("Face Mesh found no face in the reference image")
    return bgr, choice.face


def measure(models_dir: Path) -> dict[str, Any]:
    """Outputs of every model on the reference image (what --record stores)."""
    bgr, face = _reference_face()
    crop = align_face(bgr, face).crop
    return {
        "five_points": face.five_points().astype(np.float64).round(2).tolist(),
        "mobilefacenet": MobileFaceNetEmbedder(models_dir)
        .embed(crop)
        .astype(np.float64)
        .round(5)
        .tolist(),
        "fr_feature": FrFeatureEmbedder(models_dir)
        .embed(crop)
        .astype(np.float64)
        .round(5)
        .tolist(),
        "fr_liveness": round(MiniFasNetPad(models_dir).score(bgr, face.box).live, 5),
    }


def _hash_check(spec: ModelSpec, models_dir: Path) -> tuple[bool, str]:
    try:
        verified_path(spec, models_dir)
    except VeronicaError as exc:
        return False, exc.message
    return True, ""


def check_models(models_dir: Path) -> list[ModelCheck]:
    expected = _expected()
    hashes = {spec.name: _hash_check(spec, models_dir) for spec in ALL_MODELS}
    results: list[ModelCheck] = []

    def source(spec: ModelSpec) -> str:
        return f"{spec.registry}:{spec.package}@{spec.version}"

    # Face Mesh: the detector and landmark models run together inside mediapipe.
    mesh_ok, mesh_detail = True, ""
    face: FaceLandmarks | None = None
    bgr: np.ndarray[Any, Any] | None = None
    try:
        bgr, face = _reference_face()
        drift = float(np.abs(face.five_points() - np.array(expected["five_points"])).max())
        mesh_ok = drift <= LANDMARK_TOLERANCE_PX
        mesh_detail = f"5-point drift {drift:.2f} px (≤ {LANDMARK_TOLERANCE_PX})"
    except VeronicaError as exc:
        mesh_ok, mesh_detail = False, exc.message
    for spec in (FACE_DETECTOR, FACE_LANDMARKS):
        ok, why = hashes[spec.name]
        results.append(
            ModelCheck(spec.name, source(spec), ok, face is not None, mesh_ok, why or mesh_detail)
        )

    crop = align_face(bgr, face).crop if bgr is not None and face is not None else None
    embedders: list[tuple[ModelSpec, type[MobileFaceNetEmbedder] | type[FrFeatureEmbedder]]] = [
        (MOBILEFACENET, MobileFaceNetEmbedder),
        (FR_FEATURE, FrFeatureEmbedder),
    ]
    for spec, cls in embedders:
        ok, why = hashes[spec.name]
        if not ok or crop is None:
            results.append(ModelCheck(spec.name, source(spec), ok, None, None, why or "no face"))
            continue
        try:
            embedder: Embedder = cls(models_dir)
            vector = embedder.embed(crop)
        except VeronicaError as exc:
            results.append(ModelCheck(spec.name, source(spec), ok, False, None, exc.message))
            continue
        cosine = float(np.dot(vector, np.array(expected[spec.name], dtype=np.float32)))
        results.append(
            ModelCheck(
                spec.name,
                source(spec),
                ok,
                True,
                cosine >= EMBEDDING_MIN_COSINE,
                f"cosine to reference {cosine:.4f} (≥ {EMBEDDING_MIN_COSINE})",
            )
        )

    ok, why = hashes[FR_LIVENESS.name]
    if not ok or bgr is None or face is None:
        results.append(ModelCheck(FR_LIVENESS.name, source(FR_LIVENESS), ok, None, None, why))
    else:
        try:
            live = MiniFasNetPad(models_dir).score(bgr, face.box).live
            diff = abs(live - float(expected["fr_liveness"]))
            results.append(
                ModelCheck(
                    FR_LIVENESS.name,
                    source(FR_LIVENESS),
                    ok,
                    True,
                    diff <= PAD_TOLERANCE,
                    f"live score {live:.3f}, reference {expected['fr_liveness']:.3f}",
                )
            )
        except VeronicaError as exc:
            results.append(
                ModelCheck(FR_LIVENESS.name, source(FR_LIVENESS), ok, False, None, exc.message)
            )
    return results


if __name__ == "__main__":  # developer tool: re-record after a deliberate model change
    if sys.argv[1:2] == ["--record"] and len(sys.argv) == 3:
        target = Path(__file__).parent / "reference" / "expected.json"
        target.write_text(json.dumps(measure(Path(sys.argv[2])), indent=1) + "\n")
    else:
        sys.exit("usage: python -m veronica.pipeline.model_check --record MODELS_DIR")
