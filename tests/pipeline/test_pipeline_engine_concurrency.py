"""The engine is shared by parallel sign-in sessions: analyses run on several
threads at once must equal the same analyses run one by one.

MediaPipe's graph and the LiteRT interpreter (MobileFaceNet) keep state between
calls, so each guards itself with a lock (``MeshDetector``, ``MobileFaceNetEmbedder``);
onnxruntime's ``InferenceSession.run`` is thread-safe by design (PAD, fr_feature).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from support import face_path
from veronica.pipeline.decode import decode_image
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.runner import FrameAnalysis

PHOTOS = [("obama", 1), ("obama", 2), ("biden", 1), ("biden", 2), ("rose_leslie", 1)]


def summary(analysis: FrameAnalysis) -> tuple[object, ...]:
    assert analysis.face is not None and analysis.embedding is not None
    assert analysis.pad is not None
    return (
        analysis.rejection,
        analysis.face.points.round(3).tobytes(),
        analysis.embedding.round(5).tobytes(),
        round(analysis.pad.live, 5),
    )


def test_parallel_analyses_equal_sequential_ones(face_engine: FaceEngine) -> None:
    images = [decode_image(face_path(p, n).read_bytes()).bgr for p, n in PHOTOS]
    sequential = [summary(face_engine.analyze(image)) for image in images]
    jobs = images * 4
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda image: summary(face_engine.analyze(image)), jobs))
    assert parallel == sequential * 4


def test_parallel_tracking_sessions_are_independent(face_engine: FaceEngine) -> None:
    """Each session's tracking mesh is its own graph; the static one is shared."""
    image = decode_image(face_path("obama", 1).read_bytes()).bgr

    def track(_: int) -> bytes:
        tracker = face_engine.tracking_detector()
        try:
            points = [face_engine.analyze(image, detector=tracker).face for _ in range(5)]
            return np.stack([p.points for p in points if p is not None]).round(2).tobytes()
        finally:
            tracker.close()

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(track, range(3)))
    assert results[0] == results[1] == results[2]
