"""Enroll → verify → identify over a folder of people (``veronica eval people``).

Runs the product path end to end: the real ``FaceService`` with its quality
gates and an encrypted store. Per identity, the first photo that passes the
enrollment gate is enrolled; every other photo of every enrolled identity is a
genuine probe, checked 1:1 against its own identity and against every other
enrolled identity (impostor attempts), and identified 1:N. Identities whose
photos were all used up or never enrolled are not probed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veronica.errors import BadInputError, VeronicaError
from veronica.evaluation.csvfile import csv_records
from veronica.service import PROBE_OPTIONS, FaceService

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PeopleReport:
    identities: int
    enrolled: int
    failures_to_enroll: int
    """Identities none of whose photos passed the enrollment gate."""
    genuine_attempts: int
    false_rejects: int
    """Genuine 1:1 attempts refused (below threshold or rejected by a quality gate)."""
    impostor_attempts: int
    false_accepts: int
    rank1_correct: int
    """Genuine probes whose 1:N answer is the right person, at the gallery-size
    threshold and margin the service uses (0 when 1:N refuses the gallery)."""
    threshold: float
    """The 1:1 threshold (verify and the impostor attempts)."""
    seconds: float
    identification_threshold: float | None = None
    """The 1:N threshold for this gallery; None when the gallery is too large."""

    @property
    def frr(self) -> float:
        return self.false_rejects / self.genuine_attempts if self.genuine_attempts else 0.0

    @property
    def far(self) -> float:
        return self.false_accepts / self.impostor_attempts if self.impostor_attempts else 0.0

    @property
    def rank1(self) -> float:
        return self.rank1_correct / self.genuine_attempts if self.genuine_attempts else 0.0

    def to_json_dict(self) -> dict[str, float | int | None]:
        return {
            "identities": self.identities,
            "enrolled": self.enrolled,
            "failures_to_enroll": self.failures_to_enroll,
            "genuine_attempts": self.genuine_attempts,
            "false_rejects": self.false_rejects,
            "frr": self.frr,
            "impostor_attempts": self.impostor_attempts,
            "false_accepts": self.false_accepts,
            "far": self.far,
            "rank1_identification": self.rank1,
            "threshold": self.threshold,
            "identification_threshold": self.identification_threshold,
            "seconds": self.seconds,
        }


def read_identities(csv_path: Path, root: Path) -> dict[str, list[Path]]:
    """``path,identity,...`` rows → photos per identity, in file order."""
    people: dict[str, list[Path]] = defaultdict(list)
    for line, record in csv_records(csv_path, ("path", "identity")):
        path = root / record["path"]
        if not record["identity"] or not record["path"] or not path.is_file():
            raise BadInputError(f"{csv_path}:{line}: missing identity or image {path}")
        people[record["identity"]].append(path)
    if not people:
        raise BadInputError(f"{csv_path}: no rows")
    return dict(people)


def run_people_eval(
    service: FaceService, people: dict[str, list[Path]], progress: ProgressFn | None = None
) -> PeopleReport:
    start = time.perf_counter()
    probes: list[tuple[str, Path]] = []
    enrolled: list[str] = []
    for identity, photos in people.items():
        for index, photo in enumerate(photos):
            try:
                service.enroll(identity, [photo.read_bytes()])
            except VeronicaError:
                continue
            enrolled.append(identity)
            probes.extend((identity, p) for p in photos[index + 1 :])
            break

    genuine = rejects = impostor = accepts = rank1 = 0
    gallery = service.store.gallery(service.engine.model_id)
    try:
        one_to_n: float | None = service.identification_threshold(len(gallery.users))
    except VeronicaError:
        one_to_n = None  # 1:N refuses this gallery: no probe is identified
    margin = service.identification.min_margin if service.identification else 0.0
    for done, (identity, photo) in enumerate(probes, start=1):
        genuine += 1
        if progress is not None:
            progress(done, len(probes))
        try:
            probe = service.engine.embed(photo.read_bytes(), PROBE_OPTIONS)
        except VeronicaError:
            rejects += 1  # a photo refused by the quality gate fails its owner
            continue
        similarities = dict(
            zip(gallery.users, gallery.user_similarities(probe).tolist(), strict=True)
        )
        for name, similarity in similarities.items():
            if name == identity:
                rejects += similarity < service.threshold
            else:
                impostor += 1
                accepts += similarity >= service.threshold
        ranked = sorted(similarities.values(), reverse=True)
        best = max(similarities, key=lambda n: similarities[n])
        clear = len(ranked) < 2 or ranked[0] - ranked[1] >= margin
        rank1 += best == identity and one_to_n is not None and ranked[0] >= one_to_n and clear
    return PeopleReport(
        identities=len(people),
        enrolled=len(enrolled),
        failures_to_enroll=len(people) - len(enrolled),
        genuine_attempts=genuine,
        false_rejects=rejects,
        impostor_attempts=impostor,
        false_accepts=accepts,
        rank1_correct=rank1,
        threshold=service.threshold,
        seconds=time.perf_counter() - start,
        identification_threshold=one_to_n,
    )
