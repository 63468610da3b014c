"""``FaceEngine``: owns the loaded models and is the one entry point the API,
the CLI and the evaluations call. Build it once at start-up; it is safe to share
between threads (each model guards its own state)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError, VeronicaError
from veronica.pipeline.decode import DecodeLimits, decode_image
from veronica.pipeline.detect import FaceDetector, MeshDetector
from veronica.pipeline.embed import Embedder, Vector, build_embedder
from veronica.pipeline.models import execution_providers
from veronica.pipeline.pad import MiniFasNetPad, PadScorer
from veronica.pipeline.runner import AnalysisOptions, FrameAnalysis, FramePipeline
from veronica.pipeline.types import RejectReason
from veronica.settings import Settings

logger = logging.getLogger(__name__)


class FaceRejectedError(VeronicaError):
    """An image was readable but holds no usable face; ``reason`` says why."""

    status = 422

    def __init__(self, reason: RejectReason, message: str | None = None) -> None:
        super().__init__(message or _REASON_TEXT.get(reason, reason.value))
        self.reason = reason
        self.code = reason.value


_REASON_TEXT = {
    RejectReason.NO_FACE: "no face found in the image",
    RejectReason.MULTIPLE_FACES: "more than one face in the image; only one person may be visible",
    RejectReason.FACE_CUT_OFF: "the face is partly outside the image",
    RejectReason.FACE_TOO_SMALL: "the face is too small; move closer or use a larger photo",
    RejectReason.TOO_DARK: "the face is too dark; add light",
    RejectReason.TOO_BRIGHT: "the face is overexposed",
    RejectReason.POSE_OUT_OF_RANGE: "the head is turned too far; look straight at the camera",
    RejectReason.BLURRED: "the face is blurred",
    RejectReason.EYES_CLOSED: "the eyes are closed",
}


@dataclass(frozen=True)
class EngineConfig:
    models_dir: Path
    embedder: str = "mobilefacenet"
    with_pad: bool = True
    camera_hfov_deg: float = 60.0
    max_faces: int = 4
    threads: int = 1
    execution_provider: str = "cpu"
    """ONNX Runtime provider of the ONNX models (``models.EXECUTION_PROVIDERS``);
    unavailable → CPU with one warning. Face Mesh and MobileFaceNet: LiteRT on CPU."""
    decode_limits: DecodeLimits = DecodeLimits()

    @classmethod
    def from_settings(cls, settings: Settings, with_pad: bool = True) -> EngineConfig:
        return cls(
            models_dir=settings.resolved_models_dir,
            embedder=settings.embedder,
            with_pad=with_pad,
            camera_hfov_deg=settings.camera_hfov_deg,
            max_faces=settings.max_faces,
            threads=settings.inference_threads,
            execution_provider=settings.execution_provider,
        )


class FaceEngine:
    def __init__(
        self,
        config: EngineConfig,
        detector: FaceDetector,
        embedder: Embedder,
        pad: PadScorer | None,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.pad = pad
        self.pipeline = FramePipeline(detector, embedder, pad, config.camera_hfov_deg)

    @classmethod
    def load(cls, config: EngineConfig) -> FaceEngine:
        """Load (and hash-check) every model. Raises ``ModelError`` if one is unusable."""
        detector = MeshDetector(max_faces=config.max_faces, tracking=False)
        providers = execution_providers(config.execution_provider)
        embedder = build_embedder(config.embedder, config.models_dir, config.threads, providers)
        pad = (
            MiniFasNetPad(config.models_dir, config.threads, providers) if config.with_pad else None
        )
        logger.info("face engine loaded: embedder=%s pad=%s", embedder.model_id, pad is not None)
        return cls(config, detector, embedder, pad)

    def tracking_detector(self) -> MeshDetector:
        """A fresh Face Mesh in tracking mode for one video session (not shared).

        It tracks one face: MediaPipe skips its face detector only while it
        tracks ``max_faces`` faces, so with more it would detect on every frame
        (measured 4.9 ms vs 3.8 ms per frame). A session looks for a second face
        with the static detector (``analyze`` without ``detector``) on some frames.
        """
        return MeshDetector(max_faces=1, tracking=True)

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def default_threshold(self) -> float:
        return self.embedder.default_threshold

    def analyze(
        self,
        image: bytes | NDArray[np.uint8],
        options: AnalysisOptions = AnalysisOptions(),
        detector: FaceDetector | None = None,
    ) -> FrameAnalysis:
        """Run the pipeline on encoded image bytes or a BGR array."""
        return self.pipeline.run(self._to_bgr(image), options, detector)

    def embed_analysis(self, analysis: FrameAnalysis) -> FrameAnalysis:
        """``analysis`` with the embedding of its aligned face added (unchanged if
        it has one already or no aligned face)."""
        return self.pipeline.embed(analysis)

    def embed(
        self, image: bytes | NDArray[np.uint8], options: AnalysisOptions | None = None
    ) -> Vector:
        """The face's unit embedding; raises ``FaceRejectedError`` if there is none."""
        opts = options or AnalysisOptions(pad=False)
        analysis = self.analyze(image, opts)
        if analysis.rejection is not None:
            raise FaceRejectedError(analysis.rejection)
        assert analysis.embedding is not None  # embed=True in options
        return analysis.embedding

    @staticmethod
    def compare(a: Vector, b: Vector) -> float:
        """Cosine similarity in [-1, 1] of two unit embeddings from the same model."""
        if a.shape != b.shape:
            raise BadInputError(f"embeddings differ in shape: {a.shape} vs {b.shape}")
        return float(np.dot(a, b))

    def close(self) -> None:
        self.pipeline.detector.close()

    def _to_bgr(self, image: bytes | NDArray[np.uint8]) -> NDArray[np.uint8]:
        if isinstance(image, bytes | bytearray | memoryview):
            return decode_image(bytes(image), self.config.decode_limits).bgr
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise BadInputError("expected an H×W×3 uint8 BGR image")
        return image
