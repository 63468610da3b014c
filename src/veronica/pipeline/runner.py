"""The per-frame pipeline: one place that runs the stages in order, times each,
and stops early with a typed reason.

decode → detect + landmarks → choose face → quality → iris depth → align →
embed → passive PAD. Later stages are skipped when the caller does not need
them (a positioning frame needs no embedding).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.align import AlignedFace, align_face
from veronica.pipeline.depth import IrisDepth, estimate_depth, focal_length_px
from veronica.pipeline.detect import FaceDetector, choose_face
from veronica.pipeline.embed import Embedder, Vector
from veronica.pipeline.pad import PadScore, PadScorer
from veronica.pipeline.quality import QualityPolicy, QualityReport, assess_quality
from veronica.pipeline.types import FaceLandmarks, Point, RejectReason

T = TypeVar("T")


@dataclass(frozen=True)
class AnalysisOptions:
    """What to compute for one frame and how strict to be."""

    gate: QualityPolicy | None = None
    """Stop at the first failed quality check; ``None`` measures quality but never stops."""
    target: Point | None = None
    """Where the face should be (the client's oval centre); default: image centre."""
    max_second_face_ratio: float | None = None
    """Reject if another face is at least this fraction of the chosen face's area.
    Login uses 0.5: a face half the size is a person near enough to matter; a
    tiny face on a poster in the background is not."""
    embed: bool = True
    pad: bool = True


@dataclass(frozen=True)
class StageTiming:
    stage: str
    ms: float


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    """All the pipeline learnt about one frame; ``rejection`` is set if it stopped early."""

    image_width: int
    image_height: int
    rejection: RejectReason | None = None
    face: FaceLandmarks | None = None
    face_count: int = 0
    second_face_ratio: float = 0.0
    quality: QualityReport | None = None
    quality_score: float = 0.0
    quality_issues: tuple[RejectReason, ...] = ()
    depth: IrisDepth | None = None
    aligned: AlignedFace | None = None
    embedding: Vector | None = None
    pad: PadScore | None = None
    timings: tuple[StageTiming, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.rejection is None

    @property
    def total_ms(self) -> float:
        return sum(t.ms for t in self.timings)


class _Timer:
    def __init__(self) -> None:
        self.timings: list[StageTiming] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings.append(StageTiming(name, (time.perf_counter() - start) * 1000.0))

    def run(self, name: str, fn: Callable[[], T]) -> T:
        with self.stage(name):
            return fn()


class FramePipeline:
    """Runs the stages over loaded models. Holds no per-frame state."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: Embedder,
        pad: PadScorer | None,
        camera_hfov_deg: float,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.pad = pad
        self.camera_hfov_deg = camera_hfov_deg

    def embed(self, analysis: FrameAnalysis) -> FrameAnalysis:
        """``analysis`` (made with ``embed=False``) with its aligned face embedded,
        timed as the ``embed`` stage: for callers that decide to embed a frame
        after seeing the rest of its analysis."""
        if analysis.embedding is not None or analysis.aligned is None:
            return analysis
        timer = _Timer()
        aligned = analysis.aligned
        embedding = timer.run("embed", lambda: self.embedder.embed(aligned.crop))
        return replace(
            analysis, embedding=embedding, timings=analysis.timings + tuple(timer.timings)
        )

    def run(
        self,
        bgr: NDArray[np.uint8],
        options: AnalysisOptions = AnalysisOptions(),
        detector: FaceDetector | None = None,
    ) -> FrameAnalysis:
        """Analyse one BGR frame. ``detector`` overrides the static one (e.g. a
        session's tracking mesh)."""
        timer = _Timer()
        height, width = bgr.shape[:2]
        result = FrameAnalysis(image_width=width, image_height=height)

        def finish(rejection: RejectReason | None = None) -> FrameAnalysis:
            return replace(result, rejection=rejection, timings=tuple(timer.timings))

        faces = timer.run("detect", lambda: (detector or self.detector).detect(bgr))
        choice = choose_face(faces, options.target)
        if choice is None:
            return finish(RejectReason.NO_FACE)
        face = choice.face
        result = replace(
            result,
            face=face,
            face_count=choice.face_count,
            second_face_ratio=choice.second_face_ratio,
        )
        limit = options.max_second_face_ratio
        if limit is not None and choice.second_face_ratio >= limit:
            return finish(RejectReason.MULTIPLE_FACES)

        quality = timer.run("quality", lambda: assess_quality(bgr, face))
        policy = options.gate or QualityPolicy()
        issues = quality.issues(policy)
        result = replace(
            result, quality=quality, quality_score=quality.score(policy), quality_issues=issues
        )
        if options.gate is not None and issues:
            return finish(issues[0])

        focal = focal_length_px(width, self.camera_hfov_deg)
        depth = timer.run("depth", lambda: estimate_depth(face, focal))
        aligned = timer.run("align", lambda: align_face(bgr, face))
        result = replace(result, depth=depth, aligned=aligned)
        if options.embed:
            result = replace(
                result, embedding=timer.run("embed", lambda: self.embedder.embed(aligned.crop))
            )
        pad = self.pad
        if options.pad and pad is not None:
            result = replace(result, pad=timer.run("pad", lambda: pad.score(bgr, face.box)))
        return finish()
