"""Source photos for simulated users: reading a set, splitting it by identity,
and the quality gate that picks usable photos.

A set is a folder with one subfolder per identity (``lfw-view1/images``) or a
CSV with ``path`` and ``identity`` columns, paths relative to the CSV's folder
(``people/identities.csv``). Identities are split once, by a rule nobody can
tune: the fixture identities are calibration, every other identity goes to
calibration or report by the parity of the SHA-256 of its normalised name, so
a person in two sets (LFW and ``people/``) is on the same side in both.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from veronica.errors import BadInputError
from veronica.pipeline.detect import MeshDetector, choose_face
from veronica.pipeline.quality import STRICT_ENROLLMENT, QualityPolicy, assess_quality
from veronica.simulation.actors import default_photos
from veronica.simulation.head import PhotoError, build_head

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


class Split(StrEnum):
    CALIBRATION = "calibration"
    """Identities any choice (a limit, a range) may be made on."""
    REPORT = "report"
    """Identities no choice touched: the numbers that are reported."""
    ALL = "all"


@dataclass(frozen=True)
class SourcePhoto:
    identity: str
    path: Path


@dataclass(frozen=True)
class PhotoSet:
    """The photos that passed the gate, and why the others did not."""

    usable: tuple[SourcePhoto, ...]
    rejected: tuple[tuple[str, str], ...]
    """(path, reason) of every photo the gate refused."""
    split: Split

    @property
    def identities(self) -> int:
        return len({p.identity for p in self.usable})

    def to_json_dict(self) -> dict[str, object]:
        return {
            "split": self.split.value,
            "identities": self.identities,
            "usable_photos": len(self.usable),
            "rejected_photos": [{"path": p, "reason": r} for p, r in self.rejected],
        }


def normalise_identity(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").split())


def fixture_identities() -> frozenset[str]:
    return frozenset(normalise_identity(p.parent.name) for p in default_photos())


def identity_split(identity: str) -> Split:
    """Calibration or report for ``identity`` (fixture identities: calibration)."""
    name = normalise_identity(identity)
    if name in fixture_identities():
        return Split.CALIBRATION
    digest = hashlib.sha256(name.encode()).digest()
    return Split.CALIBRATION if digest[-1] % 2 == 0 else Split.REPORT


def read_photo_set(source: Path) -> list[SourcePhoto]:
    """Every photo of ``source`` (a folder of identity folders, or a CSV), sorted."""
    if source.is_dir():
        photos = [
            SourcePhoto(folder.name, path)
            for folder in sorted(p for p in source.iterdir() if p.is_dir())
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in PHOTO_SUFFIXES
        ]
    elif source.is_file() and source.suffix.lower() == ".csv":
        photos = _read_csv(source)
    else:
        raise BadInputError(
            f"{source}: give a folder with one subfolder per identity, or a CSV "
            "with path and identity columns"
        )
    if not photos:
        raise BadInputError(f"{source}: no photos ({', '.join(PHOTO_SUFFIXES)}) found")
    return photos


def _read_csv(path: Path) -> list[SourcePhoto]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        if not {"path", "identity"} <= fields:
            raise BadInputError(f"{path}: the CSV needs the columns path and identity")
        rows = [(row["path"], row["identity"]) for row in reader]
    return sorted(
        (SourcePhoto(identity, path.parent / rel) for rel, identity in rows if rel and identity),
        key=lambda p: (p.identity, str(p.path)),
    )


def read_identity_list(path: Path) -> set[str]:
    """Identities listed in ``path``, one per line (``#`` starts a comment), normalised."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the identity list ({exc.strerror})") from exc
    names = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return {normalise_identity(name) for name in names if name}


def choose_split(photos: Iterable[SourcePhoto], split: Split) -> list[SourcePhoto]:
    if split is Split.ALL:
        return list(photos)
    return [p for p in photos if identity_split(p.identity) is split]


def gate_photos(
    photos: Sequence[SourcePhoto],
    split: Split,
    max_photos: int | None = None,
    policy: QualityPolicy = STRICT_ENROLLMENT,
) -> PhotoSet:
    """Keep the photos a simulated head can be built from: one face, of enrollment
    quality (``STRICT_ENROLLMENT``: near frontal, sharp, big enough, eyes open),
    meshed with a measurable iris. With ``max_photos``, the gate stops once that
    many passed (photos in a fixed order spread over identities: the first
    photo of every identity, then the second, ...)."""
    ordered = _interleave(photos)
    usable: list[SourcePhoto] = []
    rejected: list[tuple[str, str]] = []
    detector = MeshDetector(max_faces=2, tracking=False)
    try:
        for photo in ordered:
            if max_photos is not None and len(usable) >= max_photos:
                break
            reason = _photo_problem(photo.path, detector, policy)
            if reason is None:
                usable.append(photo)
            else:
                rejected.append((str(photo.path), reason))
    finally:
        detector.close()
    return PhotoSet(tuple(usable), tuple(rejected), split)


def _interleave(photos: Sequence[SourcePhoto]) -> list[SourcePhoto]:
    by_identity: dict[str, list[SourcePhoto]] = {}
    for photo in photos:
        by_identity.setdefault(photo.identity, []).append(photo)
    rounds = max((len(v) for v in by_identity.values()), default=0)
    return [v[i] for i in range(rounds) for v in by_identity.values() if i < len(v)]


def _photo_problem(path: Path, detector: MeshDetector, policy: QualityPolicy) -> str | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return "not a readable image"
    bgr = np.asarray(image, dtype=np.uint8)
    faces = detector.detect(bgr)
    if len(faces) != 1:
        return "no face" if not faces else "more than one face"
    choice = choose_face(faces)
    if choice is None:
        return "no face"
    issues = assess_quality(bgr, choice.face).issues(policy)
    if issues:
        return "quality: " + ", ".join(sorted(str(i) for i in issues))
    try:
        build_head(bgr, detector)
    except PhotoError as exc:
        return str(exc)
    return None


def link_by_identity(photos: Sequence[SourcePhoto], folder: Path) -> tuple[Path, ...]:
    """Symlinks ``folder/<identity>/<n><suffix>`` to ``photos``: the simulator
    takes a photo's folder name as its identity (``attacks._others``)."""
    out = []
    for n, photo in enumerate(photos):
        target = folder / normalise_identity(photo.identity)
        target.mkdir(parents=True, exist_ok=True)
        link = target / f"{n}{photo.path.suffix.lower()}"
        os.symlink(photo.path.resolve(), link)
        out.append(link)
    return tuple(out)
