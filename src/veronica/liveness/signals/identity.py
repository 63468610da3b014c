"""Identity across the session: every embedded frame shows the same person.

The session embeds frames the server picks after they arrive (a cryptographic
draw) plus every frame that carries a challenge response (``sampling.py``), so
a client cannot know which frames will be compared: showing the victim on some
frames while another person performs the challenges ("liveness by proxy")
puts both faces among the samples. Each frontal sample is compared with the session's
reference (its first frontal sample, taken while positioning); a frame during
a turn, a look-up or a blink is compared with the session's verified frontal
samples (those that matched the reference at the frontal limit; the closest
one counts) at a lower, measured limit, because the embedder is less stable
off-pose and a frame pitched 9° is a better likeness of a look-up than the
first straight-on frame. The samples themselves (embedding, pose,
quality) go to the decision: recognition uses the best frontal ones and checks
every one against the recognised user.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from veronica.liveness.state import Snapshot, pack_array, unpack_array
from veronica.liveness.types import Check, FrameInput
from veronica.pipeline.embed import Vector

OPEN_EYE_FALLBACK = 0.15 / 0.7
"""Open-eye level assumed before a session has frames: a frame below the
enrollment gate's 0.15 counts as closing."""


@dataclass(frozen=True)
class IdentityLimits:
    min_similarity: float = 0.5
    """Cosine similarity of a frontal, open-eyed sample to the session's reference.
    Frames of one session share camera, light and day: in the talking-head clip
    no frame falls below 0.62 against its first frame (simulated sessions
    0.84–0.99), while a stranger's frame exceeds 0.50 with probability ~2.5e-4
    whatever the pose (LFW View 1; docs/MODELS.md, "Identity under pose and
    blinks")."""
    min_similarity_posed: float = 0.45
    """The same for a posed sample (turned, looking up, eyes closing), against the
    closest of the session's verified frontal samples. The clip's closed-eye and
    turned frames keep ≥ 0.62 (the lowest genuine frame of all); a stranger
    passes 0.45 with probability ~1e-3 per frame (the p99.9 of different-person
    LFW pairs at every pose, same table). A little lower than the frontal limit
    because the clip is one person (thin evidence), and a proxy attacker's
    responses are several posed frames that must each pass. Against the first
    frontal sample alone, rendered look-ups of 17–24° fell to 0.37–0.45 while
    the same frames matched a frontal sample of the same session pitched 7–9° at
    0.48–0.82 (docs/results/pad_calibration.md, "Stop 18")."""
    posed_yaw_deg: float = 12.0
    posed_pitch_deg: float = 10.0
    """A sample is posed when its head pose is at least this far from frontal
    (the positioning gate lets frames within these through as frontal)."""
    closing_eye_fraction: float = 0.7
    """A sample is posed (a closing eye) when its eye aspect ratio is below this
    share of the person's own open-eye level (the 75th percentile of the
    session's frames so far): open eyes measure 0.15–0.4 depending on the
    person (``pipeline/quality.py``), so a fixed 0.18 made every frame of a
    narrow-eyed simulated user "closing" and left no frontal reference."""
    open_eye_frames: int = 5
    """Frames needed before the open-eye level is known; until then it is
    ``QualityPolicy``'s enrollment minimum, 0.15."""
    min_samples: int = 4
    """Fewer embedded frames than this is a failure, never "not applicable":
    a session of ~100 frames draws about 30."""


@dataclass(frozen=True)
class FaceSample:
    """One embedded frame, as recognition needs it."""

    t: float
    embedding: Vector
    quality: float
    yaw_deg: float
    pitch_deg: float
    posed: bool
    lit: bool
    """A colour was shown (the skin is tinted): recognition prefers unlit samples."""
    similarity: float
    """To the session's reference (1.0 for the reference itself; NaN until the
    reference exists)."""


class IdentitySignal:
    name = "identity"

    def __init__(self, limits: IdentityLimits | None = None) -> None:
        self.limits = limits or IdentityLimits()
        self._reference: Vector | None = None
        self._samples: list[FaceSample] = []
        self._pending: list[FaceSample] = []
        """Posed samples that came before any frontal one (compared once it does)."""
        self._ears: deque[float] = deque(maxlen=60)
        """The last frames' eye aspect ratios (the person's open-eye level)."""

    @property
    def samples(self) -> tuple[FaceSample, ...]:
        return tuple(self._samples)

    @property
    def open_eye_level(self) -> float:
        """This person's open-eye aspect ratio so far."""
        if len(self._ears) < self.limits.open_eye_frames:
            return OPEN_EYE_FALLBACK
        return float(np.percentile(list(self._ears), 75.0))

    def is_posed(self, yaw_deg: float, pitch_deg: float, eye_aspect_ratio: float) -> bool:
        lim = self.limits
        return (
            abs(yaw_deg) >= lim.posed_yaw_deg
            or abs(pitch_deg) >= lim.posed_pitch_deg
            or eye_aspect_ratio < lim.closing_eye_fraction * self.open_eye_level
        )

    def update(self, frame: FrameInput) -> None:
        analysis = frame.analysis
        if analysis.quality is not None:
            self._ears.append(analysis.quality.eye_aspect_ratio)
        if analysis.embedding is None or analysis.quality is None:
            return
        pose = analysis.quality.pose
        sample = FaceSample(
            t=frame.t,
            embedding=analysis.embedding,
            quality=analysis.quality_score,
            yaw_deg=pose.yaw,
            pitch_deg=pose.pitch,
            posed=self.is_posed(pose.yaw, pose.pitch, analysis.quality.eye_aspect_ratio),
            lit=frame.light is not None,
            similarity=math.nan,
        )
        if self._reference is None:
            if sample.posed:
                # Held until a frontal sample sets the reference (a posed first
                # sample would make a poor reference).
                self._pending.append(sample)
                return
            self._reference = sample.embedding
            self._add(sample)
            for held in self._pending:
                self._add(held)
            self._pending.clear()
            return
        self._add(sample)

    def _add(self, sample: FaceSample) -> None:
        assert self._reference is not None
        similarity = float(np.dot(self._reference, sample.embedding))
        self._samples.append(replace(sample, similarity=similarity))

    def snapshot(self) -> Snapshot:
        return {
            "reference": None if self._reference is None else pack_array(self._reference),
            "samples": [_pack_sample(s) for s in self._samples],
            "pending": [_pack_sample(s) for s in self._pending],
            "ears": list(self._ears),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        reference = data["reference"]
        self._reference = None if reference is None else unpack_array(reference)
        self._samples = [_unpack_sample(s) for s in data["samples"]]
        self._pending = [_unpack_sample(s) for s in data["pending"]]
        self._ears = deque((float(v) for v in data["ears"]), maxlen=self._ears.maxlen)

    def limit_for(self, sample: FaceSample) -> float:
        return self.limits.min_similarity_posed if sample.posed else self.limits.min_similarity

    def matches(self) -> list[float]:
        """Each sample's match, in sample order: a frontal sample's similarity to
        the reference; a posed sample's highest similarity to a verified frontal
        sample (one that passed the frontal limit against the reference, the
        reference itself included). Every anchor is then the reference's person
        at the strict limit, so a posed frame cannot borrow a likeness from a
        frame that was itself someone else."""
        if not self._samples:
            return []
        # Never empty: the reference is the first frontal sample (similarity 1.0).
        stacked = np.stack(
            [
                s.embedding
                for s in self._samples
                if not s.posed and s.similarity >= self.limits.min_similarity
            ]
        )
        return [
            float(np.max(stacked @ s.embedding)) if s.posed else s.similarity for s in self._samples
        ]

    def checks(self) -> tuple[Check, ...]:
        lim = self.limits
        count = len(self._samples) + len(self._pending)
        if self._reference is None or len(self._samples) < lim.min_samples:
            detail = f"{count} embedded frames (need {lim.min_samples}, one of them frontal)"
            return (Check("identity", 0.0, lim.min_similarity, False, detail),)
        matched = zip(self.matches(), self._samples, strict=True)
        value, weakest = min(matched, key=lambda m: m[0] - self.limit_for(m[1]))
        limit = self.limit_for(weakest)
        posed = sum(s.posed for s in self._samples)
        detail = (
            f"{len(self._samples)} samples ({posed} posed); weakest at t={weakest.t:.2f} s"
            f"{' (posed, against the closest verified frontal sample)' if weakest.posed else ''}"
        )
        value = value if math.isfinite(value) else -1.0
        return (Check("identity", value, limit, value >= limit, detail),)


def _pack_sample(sample: FaceSample) -> Snapshot:
    similarity = None if math.isnan(sample.similarity) else sample.similarity
    return {
        "t": sample.t,
        "embedding": pack_array(sample.embedding),
        "quality": sample.quality,
        "yaw": sample.yaw_deg,
        "pitch": sample.pitch_deg,
        "posed": sample.posed,
        "lit": sample.lit,
        "similarity": similarity,
    }


def _unpack_sample(data: Mapping[str, Any]) -> FaceSample:
    similarity = data["similarity"]
    return FaceSample(
        t=float(data["t"]),
        embedding=unpack_array(data["embedding"]).astype(np.float32),
        quality=float(data["quality"]),
        yaw_deg=float(data["yaw"]),
        pitch_deg=float(data["pitch"]),
        posed=bool(data["posed"]),
        lit=bool(data["lit"]),
        similarity=math.nan if similarity is None else float(similarity),
    )
