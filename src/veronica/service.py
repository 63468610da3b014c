"""``FaceService``: enroll, verify and identify over the engine and the template
store. The CLI and the API both call this, so they behave the same.

Thresholds come from the embedder's measured calibration table
(``recognition/calibration/<model>.json``): 1:1 uses the threshold for
``Settings.match_fmr`` unless ``match_threshold`` overrides it; 1:N uses a
threshold that grows with the number of enrolled users (FPIR ≤ ``identify_fpir``)
and refuses galleries too large for ``identify_max_fnir`` (docs/MODELS.md).

1:N searches one in-memory index per service (``recognition/index.py``): built
from the decrypted templates by :meth:`FaceService.load_index` (the app's
lifespan) or on first use, and kept in step by the service's own enroll and
delete methods; :meth:`FaceService.sync_user` and :meth:`FaceService.reload_index`
are for a listener that hears of other processes' changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError, ReenrollmentRequiredError, UserNotFoundError
from veronica.pipeline.embed import Vector
from veronica.pipeline.engine import FaceEngine, FaceRejectedError
from veronica.pipeline.quality import STRICT_ENROLLMENT, QualityPolicy
from veronica.pipeline.runner import AnalysisOptions
from veronica.pipeline.types import RejectReason
from veronica.recognition import IdentifyResult, VerifyResult, verify
from veronica.recognition.index import (
    EXACT_MAX_ROWS,
    AdaptiveIndex,
    GalleryChange,
    rank_users,
)
from veronica.recognition.matcher import Candidate
from veronica.recognition.operating_point import (
    CalibrationMissingError,
    CalibrationTable,
    IdentificationPolicy,
    OperatingPoint,
    load_table,
    threshold_for_fmr,
)
from veronica.settings import Settings
from veronica.storage import (
    NewTemplate,
    NotEnrolledError,
    TemplateCipher,
    TemplateStore,
    make_engine,
    upgrade_database,
)
from veronica.storage.store import validate_user_name

logger = logging.getLogger(__name__)

# Login frames: usual quality limits, refuse a second face half as large or more.
PROBE_OPTIONS = AnalysisOptions(gate=QualityPolicy(), max_second_face_ratio=0.5, pad=False)
ENROLL_OPTIONS = AnalysisOptions(gate=STRICT_ENROLLMENT, max_second_face_ratio=0.5, pad=False)
MAX_ENROLL_IMAGES = 10
MAX_INDEX_CORRECTIONS = 5
"""1:N searches repeated after correcting a stale index entry (another process
deleted or re-enrolled the best user) before refusing; one is the usual case."""


@dataclass(frozen=True)
class EnrollResult:
    name: str
    templates_added: int
    quality_scores: tuple[float, ...]


class FaceService:
    def __init__(
        self,
        engine: FaceEngine,
        store: TemplateStore,
        operating_point: OperatingPoint,
        identification: IdentificationPolicy | None,
        exact_max_rows: int = EXACT_MAX_ROWS,
    ) -> None:
        """``identification`` None: 1:N is unavailable (no calibration table).
        ``exact_max_rows``: the 1:N index searches exactly up to this many template
        rows and through HNSW beyond (``Settings.index_exact_max_rows``)."""
        self.engine = engine
        self.store = store
        self.operating_point = operating_point
        self.threshold = operating_point.threshold
        """The 1:1 threshold (cosine similarity); also what enrollment checks use."""
        self.identification = identification
        self.exact_max_rows = exact_max_rows
        self._index: AdaptiveIndex | None = None
        # Serialises building and updating the index; searches never take it.
        self._index_lock = threading.Lock()
        self.on_change: Callable[[str], None] | None = None
        """Told the user name after this process enrolled or deleted someone (the
        gallery feed tells the other instances, ``state/gallery.py``)."""

    @classmethod
    def open(cls, settings: Settings, engine: FaceEngine) -> FaceService:
        """Migrate the database, check the template key, and wrap it with the engine.

        Raises ``ConfigurationError`` (set-up problem) when the model has no
        calibration table and no ``match_threshold`` is set, or when ``match_fmr``
        is below what its table can show."""
        table: CalibrationTable | None
        try:
            table = load_table(engine.model_id)
        except CalibrationMissingError:
            if settings.match_threshold is None:
                raise
            table = None
        point = operating_point(settings, table)
        identification = (
            IdentificationPolicy(
                table,
                fpir=settings.identify_fpir,
                max_fnir=settings.identify_max_fnir,
                min_margin=settings.identify_min_margin,
                floor=point.threshold,
            )
            if table is not None
            else None
        )
        url = settings.resolved_database_url
        upgrade_database(url)
        store = TemplateStore(make_engine(url), TemplateCipher.from_setting(settings.template_key))
        store.check_key()
        return cls(engine, store, point, identification, settings.index_exact_max_rows)

    # -- 1:N limits --------------------------------------------------------------------

    def _identification(self) -> IdentificationPolicy:
        if self.identification is None:
            raise CalibrationMissingError(
                f"1:N identification needs a calibration table for {self.engine.model_id}; "
                "none ships with this version (sign in with a user name)"
            )
        return self.identification

    # -- the 1:N index ---------------------------------------------------------------

    def load_index(self) -> AdaptiveIndex:
        """Build (or rebuild) the 1:N index from every template of the current model,
        decrypted into this process's memory only. The app's lifespan calls it once at
        start; without that the first 1:N search does. Exact below
        ``exact_max_rows`` rows, HNSW above (a 1 M-template build takes minutes:
        benchmarks/IDENTIFY_RESULTS.md)."""
        with self._index_lock:
            return self._load_index_locked()

    def _load_index_locked(self) -> AdaptiveIndex:
        gallery = self.store.gallery(self.engine.model_id)
        if self._index is None:
            self._index = AdaptiveIndex(gallery, self.exact_max_rows)
        else:
            self._index.reload(gallery)
        logger.info(
            "1:N index (%s): %d users, %d templates",
            self._index.kind,
            self._index.user_count,
            self._index.row_count,
        )
        return self._index

    reload_index = load_index
    """For a listener that may have missed changes (e.g. after reconnecting)."""

    @property
    def index(self) -> AdaptiveIndex:
        """The 1:N index, built on first use if :meth:`load_index` was not called."""
        index = self._index
        if index is not None:
            return index
        with self._index_lock:  # two first searches at once build it once
            return self._index if self._index is not None else self._load_index_locked()

    def sync_user(self, name: str) -> None:
        """Make the index hold exactly what the store now has for ``name`` (nothing if
        the user is gone). Idempotent: what a listener for another process's enroll or
        delete (LISTEN/NOTIFY, pub/sub; the message carries the user name, never a
        template) calls. A no-op until the index exists: it will be built from the
        store then."""
        canonical = validate_user_name(name)
        with self._index_lock:
            if self._index is None:
                return
            self._index.apply(GalleryChange(canonical, self._stored_templates(canonical)))

    def _changed(self, name: str) -> None:
        self.sync_user(name)
        if self.on_change is not None:
            self.on_change(name)

    def _stored_templates(self, name: str) -> NDArray[np.float32]:
        try:
            return self.store.user_templates(name, self.engine.model_id)
        except (UserNotFoundError, NotEnrolledError, ReenrollmentRequiredError):
            return np.zeros((0, 0), dtype=np.float32)

    def delete_user(self, name: str) -> int:
        """Erase the user (templates, images, links; ``TemplateStore.delete_user``) and
        drop them from the index; returns how many templates went."""
        removed = self.store.delete_user(name)
        self._changed(name)
        return removed

    def check_identification(self) -> None:
        """Raise ``GalleryTooLargeError`` (409 ``gallery_too_large``) if 1:N sign-in
        cannot serve the enrolled users at the configured FPIR and miss rate; call it
        before starting a session that has no user name. Counts users in SQL and
        decrypts nothing: a client may call it as often as it may start sessions.

        If the count differs from the index's (another process enrolled or deleted
        someone) and the index is small enough to search exactly, it is reloaded
        here, as cheaply as every search decrypted the gallery before the index
        existed; a larger index relies on its listener (``sync_user``)."""
        users = self.store.count_users(self.engine.model_id)
        self._identification().check(users)
        index = self._index
        if index is not None and index.user_count != users:
            if index.row_count <= self.exact_max_rows:
                self.reload_index()
            else:
                logger.warning(
                    "1:N index holds %d users, the store %d: waiting for its listener",
                    index.user_count,
                    users,
                )

    def identification_threshold(self, users: int) -> float:
        """The 1:N threshold for a gallery of ``users`` users (see IdentificationPolicy)."""
        return self._identification().threshold(users)

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
        self._changed(name)
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
        self._changed(name)
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
        per-sample scores (see ``verify_embeddings``). The best user is accepted at
        the gallery-size threshold and only if they beat the second-best user by
        ``identify_min_margin``.

        The index proposes each sample's best users and every similarity is exact
        (``recognition/index.py``). Below ``exact_max_rows`` every user is scored,
        as before the index; above, users outside every sample's top few cannot
        win (recall: benchmarks/IDENTIFY_RESULTS.md). An accepted user is checked
        against the store first: if their templates changed or went (another
        process), the index is corrected and the search runs again.

        Raises:
            GalleryTooLargeError: more users than 1:N can serve (409).
        """
        if not probes:
            raise BadInputError("no face samples to identify")
        if top_k < 1:
            raise BadInputError("top_k must be at least 1")
        policy = self._identification()
        index = self.index
        for _ in range(MAX_INDEX_CORRECTIONS + 1):
            users = index.user_count
            policy.check(users)
            if users == 0:
                return IdentifyResult(best=None, candidates=())
            threshold = policy.threshold(users)
            matches = index.search_many(probes, max(top_k, 2))
            if not matches.users:  # emptied by a concurrent delete
                return IdentifyResult(best=None, candidates=())
            per_user = _lower_medians(matches.similarities)
            order = rank_users(per_user, max(top_k, 2))
            candidates = tuple(
                Candidate(matches.users[j], float(per_user[j])) for j in order[:top_k]
            )
            top = float(per_user[order[0]])
            runner_up = float(per_user[order[1]]) if len(order) > 1 else None
            clear = runner_up is None or top - runner_up >= policy.min_margin
            best = candidates[0] if top >= threshold and clear else None
            if best is None or self._index_agrees(best.name):
                return IdentifyResult(best=best, candidates=candidates, threshold=threshold)
            # The index was corrected for that user: search again.
        # Still correcting after that many passes: refuse rather than guess.
        logger.warning("1:N index kept disagreeing with the store; identification refused")
        return IdentifyResult(best=None, candidates=candidates, threshold=threshold)

    def _index_agrees(self, name: str) -> bool:
        """Does the index hold exactly ``name``'s stored templates? If not, fix it.
        One user's few templates are decrypted: the price of never identifying a
        user who was deleted, or re-enrolled, by another process."""
        stored = self._stored_templates(name)
        held = self.index.templates(name)
        # Same rows in any order (re-normalising may move the last bit).
        if (
            stored.shape[0] == held.shape[0] > 0
            and stored.shape[1] == held.shape[1]
            and bool(np.all(np.max(stored @ held.T, axis=1) >= 1.0 - 1e-5))
        ):
            return True
        logger.info("1:N index was stale for one user; corrected from the store")
        with self._index_lock:
            if self._index is not None:
                self._index.apply(GalleryChange(name, stored))
        return False

    def frame_similarities(self, name: str, probes: Sequence[Vector]) -> list[float]:
        """Each probe's best cosine similarity to ``name``'s templates (a session
        checks every embedded frame against the user it recognised)."""
        if not probes:
            return []
        templates = self.store.user_templates(name, self.engine.model_id)
        return [verify(probe, templates, self.threshold).similarity for probe in probes]

    # -- one photo ---------------------------------------------------------------------

    def verify(self, name: str, image: bytes) -> VerifyResult:
        templates = self.store.user_templates(name, self.engine.model_id)
        probe = self.engine.embed(image, PROBE_OPTIONS)
        return verify(probe, templates, self.threshold)

    def identify(self, image: bytes, top_k: int = 5) -> IdentifyResult:
        """1:N for one photo, with the same threshold and margin rules as
        ``identify_embeddings``; raises ``GalleryTooLargeError`` likewise (before
        the photo is even analysed)."""
        self._identification().check(self.index.user_count)
        probe = self.engine.embed(image, PROBE_OPTIONS)
        return self.identify_embeddings([probe], top_k=top_k)


def operating_point(settings: Settings, table: CalibrationTable | None) -> OperatingPoint:
    """The 1:1 operating point: ``match_threshold`` if set (bypassing the table),
    else the table's threshold for ``match_fmr``."""
    if settings.match_threshold is not None:
        return OperatingPoint(
            threshold=settings.match_threshold,
            fmr_target=None,
            table_id=table.table_id if table is not None else None,
            source="override",
        )
    if table is None:
        raise CalibrationMissingError("no calibration table and no VERONICA_MATCH_THRESHOLD")
    return OperatingPoint(
        threshold=threshold_for_fmr(table, settings.match_fmr),
        fmr_target=settings.match_fmr,
        table_id=table.table_id,
        source="table",
    )


def _lower_median(scores: NDArray[np.float32]) -> float:
    """The ``n // 2``-th highest score: the median for odd ``n``, the lower middle for even."""
    ranked = np.sort(scores)[::-1]
    return float(ranked[len(ranked) // 2])


def _lower_medians(per_sample: NDArray[np.float32]) -> NDArray[np.float32]:
    """:func:`_lower_median` of every column of a ``(samples, users)`` matrix."""
    ranked = np.sort(per_sample, axis=0)[::-1]
    median: NDArray[np.float32] = ranked[per_sample.shape[0] // 2]
    return median


__all__ = ["EnrollResult", "FaceService", "RejectReason", "operating_point"]
