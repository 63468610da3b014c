"""Consistency of the stream: no frozen/injected frames, a face on every
challenge frame, one continuous face track, plausible frame times, no second
face. (One identity across the frames is ``identity.py``.)

Each part is cheap (≈ 0.1 ms per frame at 640×480, dominated by the grey
conversion) and keeps only the previous grey frame and running counters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.liveness.state import Snapshot, optional_float, pack_grey, unpack_grey
from veronica.liveness.types import Check, FrameInput
from veronica.pipeline.types import Box


@dataclass(frozen=True)
class ConsistencyLimits:
    frozen_diff_grey: float = 0.05
    """Mean absolute grey difference (0–255) of the face region below which two
    consecutive frames count as identical. Measured: a repeated (injected) frame
    gives ≈ 0.003, anything a camera films ≥ 0.35 (sensor noise), so 0.05 sits
    far from both."""
    max_frozen_fraction: float = 0.2
    """Share of near-identical consecutive frame pairs allowed. Some webcam
    drivers repeat a frame now and then; an injected still repeats nearly all."""
    diff_size_px: int = 64
    """The face region is resampled to this square size before differencing, so
    the measure does not depend on the face size. Nearest/linear sampling keeps
    the sensor noise that tells a camera from a still (area averaging would
    smooth it away)."""
    keep_margin: float = 0.3
    """Of the previous frame only its face region is kept, widened by this share
    of the face box on each side: the next frame's box (moved ≤ 0.2 widths per
    frame for a fast head at 25 fps) falls inside it, and a session's state stays
    small enough to move between instances (``liveness/state.py``). A box that
    falls outside is not compared."""
    max_faceless_run: int = 3
    """Consecutive challenge frames without a face that end the track: ~0.3 s at
    the page's 10 frames/s. The tracking mesh keeps a face through blinks and
    the turns we ask for; a longer gap is time to swap what the camera sees."""
    max_faceless_fraction: float = 0.1
    """Share of challenge frames allowed without a face (dropouts add up)."""
    max_center_jump: float = 0.5
    """Largest move of the face box centre between consecutive face frames, in
    face widths. A head moving fast at 25 fps moves ≤ 0.2 widths per frame; a
    cut to another video or another face jumps further."""
    max_size_change: float = 1.3
    """Largest ratio of face widths between consecutive face frames, per
    ``size_change_per_s`` of server time between them. An approach at 25 fps
    changes the width by a few % per frame; a fast one (50 → 30 cm in 0.4 s)
    by up to ×1.27 in 0.125 s."""
    size_change_per_s: float = 0.1
    """The time ``max_size_change`` is allowed per: frames further apart may
    change more (×1.3 per 0.1 s), up to ``max_size_steps`` times that much
    (a dropped frame at 8 fps during an approach gave ×1.48 in 0.25 s)."""
    max_size_steps: float = 2.0
    """At most ×1.3² between any two face frames, however far apart (a longer
    gap fails ``timing`` anyway)."""
    min_fps: float = 5.0
    max_fps: float = 60.0
    """Plausible capture rates (median frame interval). Outside them the stream
    is not a live webcam feed as the client promised."""
    max_gap_s: float = 0.5
    """Longest allowed wait between frames: a longer gap leaves room to swap what
    the camera sees. Measured from the server's answer to the previous frame to
    this frame's arrival when the web layer knows it (``FrameInput.wait_s``),
    so that a slow server does not fail a client that keeps pace with it;
    otherwise between arrivals."""
    max_second_face_ratio: float = 0.5
    """Area of another face relative to the chosen one that fails the session
    (as login's ``AnalysisOptions.max_second_face_ratio``): a face half the size
    is a person close enough to help; a tiny poster face is not."""


def face_region_grey(grey: NDArray[np.uint8], box: Box, size: int) -> NDArray[np.float32] | None:
    """The box's pixels resampled to ``size``×``size`` (linear: keeps the noise)."""
    h, w = grey.shape[:2]
    x0, x1 = max(0, int(box.x0)), min(w, math.ceil(box.x1))
    y0, y1 = max(0, int(box.y0)), min(h, math.ceil(box.y1))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    crop = cv2.resize(grey[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_LINEAR)
    return crop.astype(np.float32)


def mean_abs_diff(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(np.mean(np.abs(a - b)))


@dataclass(frozen=True)
class FaceCrop:
    """The part of a grey frame around its face: pixel ``(x0, y0)`` of the frame
    is ``grey[0, 0]``."""

    x0: int
    y0: int
    grey: NDArray[np.uint8]
    frame_width: int
    frame_height: int

    @classmethod
    def around(cls, grey: NDArray[np.uint8], box: Box, margin: float) -> FaceCrop:
        h, w = grey.shape[:2]
        mx, my = box.width * margin, box.height * margin
        x0, y0 = max(0, int(box.x0 - mx)), max(0, int(box.y0 - my))
        x1, y1 = min(w, math.ceil(box.x1 + mx)), min(h, math.ceil(box.y1 + my))
        return cls(x0, y0, grey[y0:y1, x0:x1].copy(), w, h)

    def region(self, box: Box, size: int) -> NDArray[np.float32] | None:
        """``face_region_grey`` of the whole frame, if ``box`` lies inside the crop."""
        x0, x1 = max(0, int(box.x0)), min(self.frame_width, math.ceil(box.x1))
        y0, y1 = max(0, int(box.y0)), min(self.frame_height, math.ceil(box.y1))
        h, w = self.grey.shape[:2]
        if x0 < self.x0 or y0 < self.y0 or x1 > self.x0 + w or y1 > self.y0 + h:
            return None
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        part = self.grey[y0 - self.y0 : y1 - self.y0, x0 - self.x0 : x1 - self.x0]
        return cv2.resize(part, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)


class ConsistencySignal:
    """Streaming consistency checks over a session's frames."""

    name = "consistency"

    def __init__(self, limits: ConsistencyLimits | None = None) -> None:
        self.limits = limits or ConsistencyLimits()
        self._prev: FaceCrop | None = None
        self._pairs = 0
        self._frozen_pairs = 0
        self._min_diff = math.inf
        self._challenge_frames = 0
        self._faceless = 0
        self._faceless_run = 0
        self._max_faceless_run = 0
        self._last_box: Box | None = None
        self._last_box_t: float | None = None
        self._max_jump = 0.0
        self._max_size_change = 1.0
        self._last_t: float | None = None
        self._non_increasing = 0
        self._intervals = 0
        self._interval_sum = 0.0
        self._max_gap = 0.0
        self._max_second_face = 0.0

    def update(self, frame: FrameInput) -> None:
        self._update_timing(frame.t, frame.wait_s)
        analysis = frame.analysis
        if analysis.face_count > 1:
            self._max_second_face = max(self._max_second_face, analysis.second_face_ratio)
        face = analysis.face
        if frame.session_t is not None:
            self._update_presence(face is not None)
        if face is None:
            self._prev = None  # the next pair would compare a face with no face
            return
        grey: NDArray[np.uint8] = np.asarray(cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY))
        self._update_frozen(grey, face.box)
        self._update_track(face.box, frame.t)
        self._prev = FaceCrop.around(grey, face.box, self.limits.keep_margin)

    def _update_presence(self, present: bool) -> None:
        self._challenge_frames += 1
        if present:
            self._faceless_run = 0
            return
        self._faceless += 1
        self._faceless_run += 1
        self._max_faceless_run = max(self._max_faceless_run, self._faceless_run)

    def _update_timing(self, t: float, wait_s: float | None) -> None:
        if self._last_t is not None:
            dt = t - self._last_t
            if dt <= 0:
                self._non_increasing += 1
            else:
                self._intervals += 1
                self._interval_sum += dt
                gap = dt if wait_s is None else min(dt, wait_s)
                self._max_gap = max(self._max_gap, gap)
        self._last_t = t

    def _update_frozen(self, grey: NDArray[np.uint8], box: Box) -> None:
        prev = self._prev
        if prev is None or (prev.frame_height, prev.frame_width) != grey.shape[:2]:
            return
        # The same region of both frames: the tracker jitters even on a repeated
        # frame, so the current box is applied to both (pixels, not landmarks).
        size = self.limits.diff_size_px
        now = face_region_grey(grey, box, size)
        before = prev.region(box, size)
        if now is None or before is None:
            return
        diff = mean_abs_diff(now, before)
        self._pairs += 1
        self._min_diff = min(self._min_diff, diff)
        if diff < self.limits.frozen_diff_grey:
            self._frozen_pairs += 1

    def _update_track(self, box: Box, t: float) -> None:
        last, last_t = self._last_box, self._last_box_t
        self._last_box, self._last_box_t = box, t
        if last is None or last.width <= 0 or box.width <= 0:
            return
        (cx0, cy0), (cx1, cy1) = last.center, box.center
        jump = math.hypot(cx1 - cx0, cy1 - cy0) / last.width
        self._max_jump = max(self._max_jump, jump)
        ratio = max(box.width / last.width, last.width / box.width)
        # The change per allowed time step (server time), so that a dropped frame
        # during an approach is judged like two frames.
        lim = self.limits
        dt = t - last_t if last_t is not None else 0.0
        steps = min(max(1.0, dt / lim.size_change_per_s), lim.max_size_steps)
        self._max_size_change = max(self._max_size_change, ratio ** (1.0 / steps))

    def snapshot(self) -> Snapshot:
        prev = self._prev
        box = self._last_box
        return {
            "prev": None
            if prev is None
            else [prev.x0, prev.y0, pack_grey(prev.grey), prev.frame_width, prev.frame_height],
            "pairs": self._pairs,
            "frozen_pairs": self._frozen_pairs,
            "min_diff": None if math.isinf(self._min_diff) else self._min_diff,
            "challenge_frames": self._challenge_frames,
            "faceless": self._faceless,
            "faceless_run": self._faceless_run,
            "max_faceless_run": self._max_faceless_run,
            "last_box": None if box is None else [box.x0, box.y0, box.x1, box.y1],
            "last_box_t": self._last_box_t,
            "max_jump": self._max_jump,
            "max_size_change": self._max_size_change,
            "last_t": self._last_t,
            "non_increasing": self._non_increasing,
            "intervals": self._intervals,
            "interval_sum": self._interval_sum,
            "max_gap": self._max_gap,
            "max_second_face": self._max_second_face,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        prev = data["prev"]
        self._prev = (
            None
            if prev is None
            else FaceCrop(
                int(prev[0]), int(prev[1]), unpack_grey(prev[2]), int(prev[3]), int(prev[4])
            )
        )
        self._pairs = int(data["pairs"])
        self._frozen_pairs = int(data["frozen_pairs"])
        self._min_diff = math.inf if data["min_diff"] is None else float(data["min_diff"])
        self._challenge_frames = int(data["challenge_frames"])
        self._faceless = int(data["faceless"])
        self._faceless_run = int(data["faceless_run"])
        self._max_faceless_run = int(data["max_faceless_run"])
        box = data["last_box"]
        self._last_box = None if box is None else Box(*(float(v) for v in box))
        self._last_box_t = optional_float(data["last_box_t"])
        self._max_jump = float(data["max_jump"])
        self._max_size_change = float(data["max_size_change"])
        self._last_t = optional_float(data["last_t"])
        self._non_increasing = int(data["non_increasing"])
        self._intervals = int(data["intervals"])
        self._interval_sum = float(data["interval_sum"])
        self._max_gap = float(data["max_gap"])
        self._max_second_face = float(data["max_second_face"])

    @property
    def frozen_fraction(self) -> float:
        return self._frozen_pairs / self._pairs if self._pairs else 0.0

    @property
    def mean_fps(self) -> float:
        return self._intervals / self._interval_sum if self._interval_sum > 0 else 0.0

    def checks(self) -> tuple[Check, ...]:
        return (
            self._frozen_check(),
            self._presence_check(),
            self._track_check(),
            self._timing_check(),
            self._second_face_check(),
        )

    def _frozen_check(self) -> Check:
        lim = self.limits
        if self._pairs == 0:
            return Check("frozen_frames", 0.0, lim.max_frozen_fraction, False, "no face pairs")
        fraction = self.frozen_fraction
        detail = f"{self._frozen_pairs}/{self._pairs} pairs; min diff {self._min_diff:.3f}"
        return Check(
            "frozen_frames", fraction, lim.max_frozen_fraction,
            fraction <= lim.max_frozen_fraction, detail,
        )  # fmt: skip

    def _presence_check(self) -> Check:
        """``face_present``: the longest run of challenge frames without a face.
        A recorded video (no challenge) is judged on all its frames' track."""
        lim = self.limits
        frames = self._challenge_frames
        fraction = self._faceless / frames if frames else 0.0
        ok = (
            self._max_faceless_run <= lim.max_faceless_run and fraction <= lim.max_faceless_fraction
        )
        detail = f"{self._faceless}/{frames} challenge frames without a face"
        return Check("face_present", float(self._max_faceless_run), float(lim.max_faceless_run),
                     ok, detail)  # fmt: skip

    def _track_check(self) -> Check:
        lim = self.limits
        jump_ok = self._max_jump <= lim.max_center_jump
        size_ok = self._max_size_change <= lim.max_size_change
        detail = (
            f"max size change ×{self._max_size_change:.2f} per {lim.size_change_per_s} s "
            f"(limit ×{lim.max_size_change})"
        )
        return Check("face_track", self._max_jump, lim.max_center_jump, jump_ok and size_ok, detail)

    def _timing_check(self) -> Check:
        lim = self.limits
        fps = self.mean_fps
        problems = []
        if self._non_increasing:
            problems.append(f"{self._non_increasing} non-increasing timestamps")
        if self._intervals and not lim.min_fps <= fps <= lim.max_fps:
            problems.append(f"{fps:.1f} fps outside {lim.min_fps}–{lim.max_fps}")
        if self._max_gap > lim.max_gap_s:
            problems.append(f"gap {self._max_gap:.2f} s > {lim.max_gap_s} s")
        detail = "; ".join(problems) or f"{fps:.1f} fps, max gap {self._max_gap:.3f} s"
        return Check("timing", self._max_gap, lim.max_gap_s, not problems, detail)

    def _second_face_check(self) -> Check:
        limit = self.limits.max_second_face_ratio
        value = self._max_second_face
        return Check("second_face", value, limit, value < limit)
