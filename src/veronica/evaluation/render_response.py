"""How the face tracker reads the simulator's rendered poses and eyelids
(``veronica eval render``).

Every number here is *simulated*: a head built from one photo, rendered through
the simulator's camera and read back by the real engine (``FaceEngine.analyze``
with a tracking Face Mesh, as a session does). It measures the simulator and the
tracker together, not people.

* **Pose gain**: each face frontal and turned / pitched by known angles at
  500 mm; the measured yaw and pitch change from the frontal render. A session's
  head-motion check compares the pose with the one just before the step, so the
  change, not the absolute angle, is what a rendered turn has to deliver.
* **Eyelid dip**: each face frontal with the lids at several closures, with and
  without drawn glasses; the blink signal's dip (1 − EAR / open-eye EAR, the
  deeper eye of the two, as ``BlinkSignal.dip``) against an open-eye baseline
  read from frames of their own, so closure 0 shows the tracker's noise.

Each condition is read by a fresh tracking Face Mesh: one warm-up frame (the
detector's first guess) and then ``frames`` tracked frames with fresh camera
shake and sensor noise, whose median is the condition's reading. Room, webcam
and camera are the simulator's baseline (``ROOM``, ``WEBCAM``); only the glasses
are drawn as the realistic population draws them (``draw_conditions``), so the
readings depend on the face and the glasses alone and repeat exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.quality import QualityReport
from veronica.pipeline.runner import AnalysisOptions
from veronica.pipeline.types import Point
from veronica.simulation.actors import GenuineActor, HeadCache, default_photos
from veronica.simulation.camera import finish_frame, frame_rng
from veronica.simulation.glasses import Glasses
from veronica.simulation.motion import Pose
from veronica.simulation.photos import (
    PhotoSet,
    SourcePhoto,
    Split,
    choose_split,
    gate_photos,
    read_photo_set,
)
from veronica.simulation.population import draw_conditions

ProgressFn = Callable[[int, int], None]
Axis = Literal["yaw", "pitch"]

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
ANALYSIS = AnalysisOptions(gate=None, target=Point(320, 240), embed=False, pad=False)
"""Quality measured, never gated: a turned or shut-eyed frame must still be read."""
LABEL = (
    "simulated: heads rendered from one photo each through the simulator's camera, "
    "read by the real engine (tracking Face Mesh); not recordings of people"
)


@dataclass(frozen=True)
class PoseTarget:
    """A rendered head rotation away from frontal (``pipeline.pose``'s signs:
    yaw > 0 towards the image's right, pitch > 0 looking up)."""

    axis: Axis
    degrees: float

    @property
    def name(self) -> str:
        return f"{self.axis} {self.degrees:+g}"

    def pose(self, distance_mm: float) -> Pose:
        yaw = self.degrees if self.axis == "yaw" else 0.0
        pitch = self.degrees if self.axis == "pitch" else 0.0
        return Pose(yaw, pitch, 0.0, 0.0, 0.0, distance_mm, 0.0)


POSE_TARGETS: tuple[PoseTarget, ...] = (
    *(PoseTarget("yaw", s * d) for d in (17.0, 25.0, 35.0) for s in (1.0, -1.0)),
    PoseTarget("pitch", 12.0),
    PoseTarget("pitch", 20.0),
)
"""17° is the smallest turn the realistic population draws (the turn check asks
for 15°), 12° its smallest look-up (the check asks for 10°); 35° / 25° the largest."""
CLOSURES = (0.0, 0.75, 0.85, 1.0)
"""Open; the shallowest partial blink the population draws (75 %); 85 %; shut."""


@dataclass(frozen=True)
class RenderOptions:
    distance_mm: float = 500.0
    frames: int = 3
    """Tracked frames per condition (after one warm-up frame)."""
    seed: int = 0
    """Face ``i`` renders with actor seed ``seed + i``."""
    targets: tuple[PoseTarget, ...] = POSE_TARGETS
    closures: tuple[float, ...] = CLOSURES

    def to_json_dict(self) -> dict[str, object]:
        return {
            "distance_mm": self.distance_mm,
            "frames_per_condition": self.frames,
            "warm_up_frames": 1,
            "seed": self.seed,
            "pose_targets": [t.name for t in self.targets],
            "closures": list(self.closures),
            "room_and_webcam": "simulator baseline (ROOM, WEBCAM), exposure gain 1",
            "glasses": "the i-th glasses draw of draw_conditions(seed + n), n = 0, 1, ...",
        }


@dataclass(frozen=True)
class Spread:
    """Percentiles over faces of one measure; ``missed``: faces the tracker lost."""

    values: tuple[float, ...]
    missed: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Spread:
        kept = tuple(v for v in values if v is not None)
        return cls(kept, len(values) - len(kept))

    def percentile(self, q: float) -> float:
        if not self.values:
            return float("nan")
        return float(np.percentile(self.values, q))

    def to_json_dict(self, digits: int) -> dict[str, object]:
        out: dict[str, object] = {"n": len(self.values), "missed": self.missed}
        if self.values:
            out["min"] = round(min(self.values), digits)
            out.update({f"p{q}": round(self.percentile(q), digits) for q in PERCENTILES})
            out["max"] = round(max(self.values), digits)
        return out


@dataclass(frozen=True)
class PoseReading:
    target: PoseTarget
    yaw_change: float | None
    """Measured yaw minus the frontal render's (None: the tracker lost the face)."""
    pitch_change: float | None

    @property
    def along(self) -> float | None:
        """The change on the target's own axis."""
        return self.yaw_change if self.target.axis == "yaw" else self.pitch_change


@dataclass(frozen=True)
class PoseResponse:
    identity: str
    photo: Path
    seed: int
    frontal: tuple[float, float] | None
    """Measured (yaw, pitch) of the frontal render."""
    readings: tuple[PoseReading, ...]

    def to_json_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "photo": str(self.photo),
            "seed": self.seed,
            "frontal_yaw_pitch": _rounded(self.frontal, 2),
            "changes": {
                r.target.name: {
                    "yaw": _rounded(r.yaw_change, 2),
                    "pitch": _rounded(r.pitch_change, 2),
                }
                for r in self.readings
            },
        }


@dataclass(frozen=True)
class LidReading:
    closure: float
    eye_aspect_ratios: tuple[float, float] | None
    dip: float | None


@dataclass(frozen=True)
class LidResponse:
    identity: str
    photo: Path
    seed: int
    glasses: Glasses | None
    glasses_seed: int | None
    """The ``draw_conditions`` seed the glasses come from."""
    open_eye_aspect_ratios: tuple[float, float] | None
    """The baseline: (image-left, image-right) EAR of the open-eye frames."""
    readings: tuple[LidReading, ...]

    def dip_at(self, closure: float) -> float | None:
        return next((r.dip for r in self.readings if r.closure == closure), None)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "identity": self.identity,
            "photo": str(self.photo),
            "seed": self.seed,
            "glasses": None if self.glasses is None else asdict(self.glasses),
            "glasses_seed": self.glasses_seed,
            "open_eye_aspect_ratios": _rounded(self.open_eye_aspect_ratios, 4),
            "dips": {f"{r.closure:g}": _rounded(r.dip, 3) for r in self.readings},
        }


@dataclass(frozen=True)
class RenderResponseReport:
    photos: PhotoSet
    sources: tuple[str, ...]
    options: RenderOptions
    poses: tuple[PoseResponse, ...]
    lids: tuple[LidResponse, ...]
    seconds: float
    command: str | None = None

    def pose_spread(self, target: PoseTarget) -> Spread:
        """Measured change along ``target``'s axis over faces."""
        return Spread.of([_reading(p, target).along for p in self.poses])

    def turn_spread(self, degrees: float) -> Spread:
        """Both sides of a ``degrees`` turn pooled, signed towards the turn (a
        reading below zero went the wrong way)."""
        values: list[float | None] = []
        for side in (1.0, -1.0):
            target = PoseTarget("yaw", side * degrees)
            for pose in self.poses:
                along = _reading(pose, target).along
                values.append(None if along is None else side * along)
        return Spread.of(values)

    def lid_spread(self, glasses: bool, closure: float) -> Spread:
        return Spread.of(
            [r.dip_at(closure) for r in self.lids if (r.glasses is not None) == glasses]
        )

    def to_json_dict(self) -> dict[str, object]:
        yaws = {t.degrees for t in self.options.targets if t.axis == "yaw"}
        turns = sorted(d for d in yaws if d > 0 and -d in yaws)
        return {
            "label": LABEL,
            "simulated": True,
            "command": self.command,
            "seconds": round(self.seconds, 1),
            "photos": {"sources": list(self.sources), **self.photos.to_json_dict()},
            "faces": len(self.poses),
            "identities": sorted({p.identity for p in self.poses}),
            "options": self.options.to_json_dict(),
            "pose": {
                "measure": "measured change from the frontal render along the rendered "
                "axis (degrees), percentiles over faces",
                "by_target": {
                    t.name: self.pose_spread(t).to_json_dict(2) for t in self.options.targets
                },
                "turn_both_sides": {f"{d:g}": self.turn_spread(d).to_json_dict(2) for d in turns},
                "faces": [p.to_json_dict() for p in self.poses],
            },
            "lids": {
                "measure": "blink dip 1 - EAR / open-eye EAR, the deeper eye (BlinkSignal.dip), "
                "percentiles over faces",
                "no_glasses": {
                    f"{c:g}": self.lid_spread(False, c).to_json_dict(3)
                    for c in self.options.closures
                },
                "glasses": {
                    f"{c:g}": self.lid_spread(True, c).to_json_dict(3)
                    for c in self.options.closures
                },
                "faces": [r.to_json_dict() for r in self.lids],
            },
        }


def select_photos(
    sources: Sequence[Path], split: str, max_photos: int | None
) -> tuple[PhotoSet, tuple[str, ...]]:
    """The gated source faces, as ``eval pad --suite simulated`` takes them;
    without ``sources``, the project's fixture faces."""
    try:
        chosen = Split(split)
    except ValueError:
        raise BadInputError(f"unknown split {split!r}; choose calibration, report or all") from None
    if not sources:
        if chosen is not Split.ALL or max_photos is not None:
            raise BadInputError("--split and --max-photos need --photos")
        fixtures = [SourcePhoto(p.parent.name, p) for p in default_photos()]
        return gate_photos(fixtures, Split.ALL), ("fixtures",)
    entries = [p for source in sources for p in read_photo_set(source)]
    gated = gate_photos(choose_split(entries, chosen), chosen, max_photos)
    if not gated.usable:
        raise BadInputError(f"no {chosen.value} photo passed the photo gate")
    return gated, tuple(str(s) for s in sources)


def lid_dip(ears: tuple[float, float], open_ears: tuple[float, float]) -> float:
    """``BlinkSignal.dip`` with ``open_ears`` as its per-eye baseline."""
    dips = [1.0 - e / b for e, b in zip(ears, open_ears, strict=True) if b > 0]
    return max(0.0, *dips)


def glasses_draws(seed: int, count: int) -> list[tuple[int, Glasses]]:
    """The first ``count`` glasses of ``draw_conditions(seed + n)``, n = 0, 1, …:
    realistic frames, and face ``i``'s pair does not depend on how many faces run."""
    out: list[tuple[int, Glasses]] = []
    n = seed
    while len(out) < count:
        glasses = draw_conditions(n).glasses
        if glasses is not None:
            out.append((n, glasses))
        n += 1
    return out


def run_render_response(
    engine: FaceEngine,
    photos: PhotoSet,
    sources: Sequence[str],
    options: RenderOptions = RenderOptions(),
    progress: ProgressFn | None = None,
    command: str | None = None,
) -> RenderResponseReport:
    """Pose gain and eyelid dip of every usable photo of ``photos``."""
    if options.frames < 1:
        raise BadInputError("frames per condition must be at least 1")
    start = time.perf_counter()
    faces = photos.usable
    pairs = glasses_draws(options.seed, len(faces))
    poses: list[PoseResponse] = []
    lids: list[LidResponse] = []
    heads = HeadCache(size=2)
    try:
        for i, photo in enumerate(faces):
            seed = options.seed + i
            head = heads(photo.path)
            plain = GenuineActor(head, seed)
            poses.append(measure_pose(engine, plain, photo, options))
            lids.append(measure_lids(engine, plain, photo, None, options))
            glasses_seed, glasses = pairs[i]
            worn = GenuineActor(head, seed, glasses=glasses)
            lids.append(measure_lids(engine, worn, photo, glasses_seed, options))
            if progress is not None:
                progress(i + 1, len(faces))
    finally:
        heads.close()
    return RenderResponseReport(
        photos,
        tuple(sources),
        options,
        tuple(poses),
        tuple(lids),
        time.perf_counter() - start,
        command,
    )


def measure_pose(
    engine: FaceEngine, actor: GenuineActor, photo: SourcePhoto, options: RenderOptions
) -> PoseResponse:
    straight = Pose(0.0, 0.0, 0.0, 0.0, 0.0, options.distance_mm, 0.0)
    frontal = _median_pose(read_condition(engine, actor, straight, 0, options))
    readings = []
    for n, target in enumerate(options.targets, start=1):
        measured = _median_pose(
            read_condition(engine, actor, target.pose(options.distance_mm), n, options)
        )
        if frontal is None or measured is None:
            readings.append(PoseReading(target, None, None))
        else:
            readings.append(PoseReading(target, measured[0] - frontal[0], measured[1] - frontal[1]))
    return PoseResponse(photo.identity, photo.path, actor.seed, frontal, tuple(readings))


def measure_lids(
    engine: FaceEngine,
    actor: GenuineActor,
    photo: SourcePhoto,
    glasses_seed: int | None,
    options: RenderOptions,
) -> LidResponse:
    # Streams apart from the pose conditions', and the baseline apart from the
    # closure-0 reading, so an open lid's dip is tracker and sensor noise.
    base = 100 if actor.glasses is None else 200

    def lids_at(closure: float, stream: int) -> tuple[float, float] | None:
        pose = Pose(0.0, 0.0, 0.0, 0.0, 0.0, options.distance_mm, closure)
        return _median_ears(read_condition(engine, actor, pose, base + stream, options))

    baseline = lids_at(0.0, 0)
    readings = []
    for n, closure in enumerate(options.closures, start=1):
        ears = lids_at(closure, n)
        dip = None if ears is None or baseline is None else lid_dip(ears, baseline)
        readings.append(LidReading(closure, ears, dip))
    return LidResponse(
        photo.identity,
        photo.path,
        actor.seed,
        actor.glasses,
        glasses_seed,
        baseline,
        tuple(readings),
    )


def read_condition(
    engine: FaceEngine, actor: GenuineActor, pose: Pose, stream: int, options: RenderOptions
) -> list[QualityReport]:
    """Quality reports of the tracked frames of one held ``pose`` (a fresh
    tracking Face Mesh: readings do not depend on the condition before)."""
    detector = engine.tracking_detector()
    reports: list[QualityReport] = []
    try:
        for k in range(options.frames + 1):
            analysis = engine.analyze(
                render_frame(actor, pose, actor.seed, k * 0.1, stream), ANALYSIS, detector
            )
            if k > 0 and analysis.quality is not None:
                reports.append(analysis.quality)
    finally:
        detector.close()
    return reports


def render_frame(
    actor: GenuineActor, pose: Pose, seed: int, t: float, stream: int
) -> NDArray[np.uint8]:
    """One camera frame of ``actor`` held at ``pose``: shake and noise fixed by
    (seed, t, stream), no exposure drift (a still head, not a session)."""
    rng = frame_rng(seed, t, stream)
    shift = actor.shake(rng)
    canvas = actor.backdrop(shift)
    actor.draw(canvas, pose, None, shift)
    return finish_frame(canvas, actor.effects, actor.noise, rng, 1.0)


def _median_pose(reports: Sequence[QualityReport]) -> tuple[float, float] | None:
    if not reports:
        return None
    yaw = float(np.median([r.pose.yaw for r in reports]))
    pitch = float(np.median([r.pose.pitch for r in reports]))
    return yaw, pitch


def _median_ears(reports: Sequence[QualityReport]) -> tuple[float, float] | None:
    if not reports:
        return None
    left, right = np.median([r.eye_aspect_ratios for r in reports], axis=0)
    return float(left), float(right)


def _reading(pose: PoseResponse, target: PoseTarget) -> PoseReading:
    return next((r for r in pose.readings if r.target == target), PoseReading(target, None, None))


def _rounded(value: float | tuple[float, float] | None, digits: int) -> float | list[float] | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return [round(v, digits) for v in value]
    return round(value, digits)
