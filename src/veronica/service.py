"""``FaceService``: enroll, verify and identify over the engine and the template
store. The CLI and the API both call this, so they behave the same."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError, ReenrollmentRequiredError
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine, FaceRejectedError
from veronica.pipeline.quality import STRICT_ENROLLMENT, QualityPolicy
from veronica.pipeline.runner import AnalysisOptions
from veronica.pipeline.types import RejectReason
from veronica.recognition import IdentifyResult, VerifyResult, identify, verify
from veronica.recognition.matcher import Candidate
from veronica.settings import Settings
from veronica.storage import (
    NewTemplate,
    NotEnrolledError,
    TemplateCipher,
    TemplateStore,
    make_engine,
    upgrade_database,
)

logger = logging.getLogger(__name__)

# Login frames: usual quality limits, refuse a second face half as large or more.
PROBE_OPTIONS = AnalysisOptions(gate=QualityPolicy(), max_second_face_ratio=0.5, pad=False)
ENROLL_OPTIONS = AnalysisOptions(gate=STRICT_ENROLLMENT, max_second_face_ratio=0.5, pad=False)
MAX_ENROLL_IMAGES = 10


@dataclass(frozen=True)
class EnrollResult:
    name: str
    templates_added: int
    quality_scores: tuple[float, ...]


class FaceService:
    def __init__(self, engine: FaceEngine, store: TemplateStore, threshold: float) -> None:
        self.engine = engine
        self.store = store
        self.threshold = threshold

    @classmethod
    def open(cls, settings: Settings, engine: FaceEngine) -> FaceService:
        """Migrate the database, check the template key, and wrap it with the engine."""
        url = settings.resolved_database_url
        upgrade_database(url)
        store = TemplateStore(make_engine(url), TemplateCipher.from_setting(settings.template_key))
        store.check_key()
        threshold = (
            settings.match_threshold
            if settings.match_threshold is not None
            else engine.default_threshold
        )
        return cls(engine, store, threshold)

    def enroll(self, name: str, images: list[bytes], keep_images: bool = False) -> EnrollResult:
        """Enroll all images or none: each must pass the strict quality gate and
        show the same person as the others (a mixed-up photo would poison the template)."""
        if not images:
            raise BadInputError("give at least one image to enroll")
        if len(images) > MAX_ENROLL_IMAGES:
            raise BadInputError(f"at most {MAX_ENROLL_IMAGES} images per enrollment")
        analyses = []
        for index, image in enumerate(images):
            analysis = self.engine.analyze(image, ENROLL_OPTIONS)
            if analysis.rejection is not None:
                raise FaceRejectedError(
                    analysis.rejection,
                    f"image {index + 1}: {FaceRejectedError(analysis.rejection).message}",
                )
            analyses.append(analysis)
        vectors = [a.embedding for a in analyses if a.embedding is not None]
        for i in range(1, len(vectors)):
            similarity = self.engine.compare(vectors[0], vectors[i])
            if similarity < self.threshold:
                raise BadInputError(
                    f"image {i + 1} does not show the same person as image 1; "
                    "enroll one person at a time"
                )
        self._check_same_as_enrolled(name, vectors)
        self.store.enroll(
            name,
            self.engine.model_id,
            [
                NewTemplate(vector, analysis.quality_score, image if keep_images else None)
                for image, analysis, vector in zip(images, analyses, vectors, strict=True)
            ],
        )
        return EnrollResult(name, len(vectors), tuple(a.quality_score for a in analyses))

    def _check_same_as_enrolled(self, name: str, vectors: list[Vector]) -> None:
        """Adding photos to an existing user: they must match that user's templates,
        or anyone could append their own face to someone else's account."""
        if self.store.get_user(name) is None:
            return
        try:
            templates = self.store.user_templates(name, self.engine.model_id)
        except (NotEnrolledError, ReenrollmentRequiredError):
            return  # nothing comparable stored: this enrollment replaces the reference
        for index, vector in enumerate(vectors, start=1):
            if not verify(vector, templates, self.threshold).matched:
                raise BadInputError(
                    f"image {index} does not match the photos already enrolled for this user"
                )

    # -- several samples of one face (a liveness session's best frames) ---------------

    def enroll_embeddings(
        self, name: str, vectors: Sequence[Vector], qualities: Sequence[float] | None = None
    ) -> EnrollResult:
        """Enroll a session's embeddings, all or none, with the same rules as photos:
        the samples show one person, and that person matches any templates ``name``
        already has. ``qualities`` default to 0.0 (not measured)."""
        if not vectors:
            raise BadInputError("no face samples to enroll")
        if len(vectors) > MAX_ENROLL_IMAGES:
            raise BadInputError(f"at most {MAX_ENROLL_IMAGES} samples per enrollment")
        scores = tuple(qualities) if qualities is not None else (0.0,) * len(vectors)
        if len(scores) != len(vectors):
            raise BadInputError("give one quality score per sample")
        for i in range(1, len(vectors)):
            if self.engine.compare(vectors[0], vectors[i]) < self.threshold:
                raise BadInputError("the face samples do not all show the same person")
        self._check_same_as_enrolled(name, list(vectors))
        self.store.enroll(
            name,
            self.engine.model_id,
            [NewTemplate(v, q) for v, q in zip(vectors, scores, strict=True)],
        )
        return EnrollResult(name, len(vectors), scores)

    def verify_embeddings(self, name: str, probes: Sequence[Vector]) -> VerifyResult:
        """1:1 over several samples. The score is the lower median of the per-sample
        scores: most samples must match (for 2 samples, both), so one lucky frame is
        not enough and one odd frame does not fail a genuine user."""
        if not probes:
            raise BadInputError("no face samples to verify")
        templates = self.store.user_templates(name, self.engine.model_id)
        scores = [verify(probe, templates, self.threshold).similarity for probe in probes]
        similarity = _lower_median(np.asarray(scores, dtype=np.float32))
        return VerifyResult(similarity >= self.threshold, similarity, self.threshold)

    def identify_embeddings(self, probes: Sequence[Vector], top_k: int = 5) -> IdentifyResult:
        """1:N over several samples: each user's score is the lower median of their
        per-sample scores (see ``verify_embeddings``)."""
        if not probes:
            raise BadInputError("no face samples to identify")
        if top_k < 1:
            raise BadInputError("top_k must be at least 1")
        gallery = self.store.gallery(self.engine.model_id)
        if not gallery.users:
            return IdentifyResult(best=None, candidates=())
        per_sample = np.stack([gallery.user_similarities(probe) for probe in probes])
        per_user = [_lower_median(per_sample[:, j]) for j in range(per_sample.shape[1])]
        order = sorted(range(len(per_user)), key=lambda j: (-per_user[j], j))[:top_k]
        candidates = tuple(Candidate(gallery.users[j], per_user[j]) for j in order)
        best = candidates[0] if candidates[0].similarity >= self.threshold else None
        return IdentifyResult(best=best, candidates=candidates)

    # -- one photo ---------------------------------------------------------------------

    def verify(self, name: str, image: bytes) -> VerifyResult:
        templates = self.store.user_templates(name, self.engine.model_id)
        probe = self.engine.embed(image, PROBE_OPTIONS)
        return verify(probe, templates, self.threshold)

    def identify(self, image: bytes, top_k: int = 5) -> IdentifyResult:
        gallery = self.store.gallery(self.engine.model_id)
        probe = self.engine.embed(image, PROBE_OPTIONS)
        return identify(probe, gallery, self.threshold, top_k=top_k)


def _lower_median(scores: NDArray[np.float32]) -> float:
    """The ``n // 2``-th highest score: the median for odd ``n``, the lower middle for even."""
    ranked = np.sort(scores)[::-1]
    return float(ranked[len(ranked) // 2])


__all__ = ["EnrollResult", "FaceService", "RejectReason"]
