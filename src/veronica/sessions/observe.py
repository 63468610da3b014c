"""Hooks the manager reports to (metrics), and an engine view that reports each
frame's per-stage timings without touching the shared engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from veronica.pipeline.detect import FaceDetector
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import AnalysisOptions, FrameAnalysis
from veronica.sessions.state import SessionResult


class SessionObserver(Protocol):
    def on_analysis(self, analysis: FrameAnalysis) -> None:
        """A frame went through the pipeline (``analysis.timings`` per stage)."""
        ...

    def on_result(self, result: SessionResult) -> None:
        """A session ended (decided or expired)."""
        ...

    def on_restore(self, seconds: float) -> None:
        """A session continued in this process from its stored snapshot (it was
        advanced elsewhere, or this process restarted): how long rebuilding took."""
        ...


class ObservedEngine(FaceEngine):
    """The same loaded models as ``base`` (nothing is copied or reloaded), with
    ``observe`` called after every analysis. ``LivenessSession`` calls
    ``engine.analyze`` itself, so this is where its frames' timings can be seen."""

    def __init__(self, base: FaceEngine, observe: Callable[[FrameAnalysis], None]) -> None:
        super().__init__(base.config, base.pipeline.detector, base.embedder, base.pad)
        self._observe = observe

    def analyze(
        self,
        image: bytes | NDArray[np.uint8],
        options: AnalysisOptions = AnalysisOptions(),
        detector: FaceDetector | None = None,
    ) -> FrameAnalysis:
        analysis = super().analyze(image, options, detector)
        self._observe(analysis)
        return analysis

    def embed_analysis(self, analysis: FrameAnalysis) -> FrameAnalysis:
        embedded = super().embed_analysis(analysis)
        added = embedded.timings[len(analysis.timings) :]
        if added:
            self._observe(replace(embedded, timings=added))  # only the new stage
        return embedded

    def close(self) -> None:
        """Nothing to release: ``base`` owns the models."""
