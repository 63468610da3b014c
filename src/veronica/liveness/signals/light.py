"""Light challenge: the skin's colour must follow the colours the page showed.

Per frame we take the mean colour of skin patches (both cheeks and the
forehead, placed and sized from the mesh), as chromaticity (r = R/(R+G+B),
b = B/(R+G+B): independent of brightness, so exposure changes do not matter).
Over the light phase, the skin chroma change is correlated with the page
colour's chroma at lags 0..K frames. A replay recorded under other colours does
not correlate, a late replay correlates at the wrong lag, and a screen showing
the face emits its own light and barely changes. Keeps four scalars per light
frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from veronica.liveness.state import Snapshot, optional_float
from veronica.liveness.types import RGB, Check, FrameInput, srgb_to_linear
from veronica.pipeline.types import FaceLandmarks

SKIN_POINTS = (50, 280, 151)
"""Mesh points at the middle of the image-left cheek, image-right cheek and forehead."""


@dataclass(frozen=True)
class LightLimits:
    min_correlation: float = 0.5
    """Normalised cross-correlation needed at the best lag. Tinted skin follows
    the page well above it (synthetic: > 0.9; simulated calibration sessions
    with detrended series: ≥ 0.53 flash, ≥ 0.68 gentle, the lowest in bright
    offices, docs/results/pad_calibration.md "Stop 20"); an unrelated colour
    sequence gives |r| ≲ 0.3 over a few seconds of frames."""
    max_lag_s: float = 0.5
    """Latest plausible response: the page paints a colour after the server's
    answer, then the camera's latency (60–250 ms for webcams) and one frame
    interval (67–125 ms at 8–15 fps) pass. On the realistic simulated
    population's calibration identities, genuine lags reached 0.44 s (0.35 s,
    the earlier limit, refused 7 of 47 genuine sessions) while relays of this
    session's colours 0.3–1 s late lagged ≥ 0.75 s (docs/LIVENESS.md,
    "Calibration"; docs/results/pad_calibration.md). A relay without cameras of
    its own lags about its delay + 0.15 s, so one ≲ 0.35 s late passes this
    check (docs/SECURITY.md): on lag alone they overlap with slow webcams."""
    search_lag_s: float = 3.0
    """Lags searched, well beyond ``max_lag_s``, so a late replay is seen as late
    rather than matched by chance at a short lag. Skin colour is recorded this
    long after the last colour too (the page is neutral then), so a response
    that comes after the light phase is still on record. With the action
    steps' 4 s windows a relay must be under ~3.3 s late to answer a step at
    all (a 0.3 s reaction and a 0.4 s move at best); between 3 and 3.3 s its
    late colours are not searched as a lag but still lie in the record, against
    the neutral page (not measured on its own: docs/SECURITY.md)."""
    min_frames: int = 10
    """Overlapping frames needed for a correlation at a lag."""
    patch_iod: float = 0.25
    """Side of each square skin patch, in inter-ocular distances: inside the
    cheek/forehead at any pose we accept, yet tens of pixels to average noise."""


NEUTRAL = (1.0 / 3.0, 1.0 / 3.0)
"""Page chromaticity after the light phase: no colour shown."""


def chroma(b: float, g: float, r: float) -> tuple[float, float]:
    """(r, b) chromaticity; +1 keeps black defined."""
    total = r + g + b + 1.0
    return r / total, b / total


def rgb_chroma(rgb: RGB) -> tuple[float, float]:
    """Chromaticity of the light a page colour emits (linear light, as the
    skin reflects it; the same as the sRGB values' for the flash palette)."""
    red, green, blue = (255.0 * srgb_to_linear(c) for c in rgb)
    return chroma(blue, green, red)


def skin_colour(
    bgr: NDArray[np.uint8], face: FaceLandmarks, patch_iod: float
) -> NDArray[np.float64] | None:
    """Mean BGR of the skin patches, or ``None`` if they fall outside the image."""
    half = max(1, round(face.interocular_px * patch_iod / 2))
    h, w = bgr.shape[:2]
    sums = np.zeros(3)
    count = 0
    for idx in SKIN_POINTS:
        x, y = (round(float(v)) for v in face.points[idx, :2])
        x0, x1, y0, y1 = max(0, x - half), min(w, x + half), max(0, y - half), min(h, y + half)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = bgr[y0:y1, x0:x1].reshape(-1, 3)
        sums += patch.sum(axis=0)
        count += len(patch)
    return sums / count if count else None


def detrended(series: NDArray[np.float64]) -> NDArray[np.float64]:
    """``series`` (frames × channels) less each channel's least-squares line
    over the frames (its mean and a linear drift)."""
    x = np.arange(len(series), dtype=np.float64)
    x -= x.mean()
    centred: NDArray[np.float64] = np.asarray(series - series.mean(axis=0), dtype=np.float64)
    spread = float((x * x).sum())
    if spread == 0.0:
        return centred
    slope = (x[:, None] * centred).sum(axis=0) / spread
    return np.asarray(centred - x[:, None] * slope, dtype=np.float64)


def normalized_xcorr(skin: NDArray[np.float64], page: NDArray[np.float64], lag: int) -> float:
    """Correlation of ``skin[i + lag]`` with ``page[i]`` over both chroma channels.

    Each channel loses its own straight line over the overlap (``detrended``),
    then both channels are pooled. The mean is the skin's own colour; the
    slope is a drift the page did not cause: a webcam's white balance and
    exposure settling over seconds, a slow sway in a bright room. In a bright
    office that drift (~0.01–0.03 in r over the record) outweighed the
    response to the colours (~0.005–0.01) and refused genuine faces; a colour
    sequence of 4–6 steps is far from a line, so its response survives
    (docs/results/pad_calibration.md, "Stop 20").
    """
    n = len(page) - lag
    x = detrended(skin[lag : lag + n])
    y = detrended(page[:n])
    denom = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else 0.0


class LightSignal:
    name = "light"

    def __init__(self, limits: LightLimits | None = None) -> None:
        self.limits = limits or LightLimits()
        self._t: list[float] = []
        self._skin: list[tuple[float, float]] = []
        self._page: list[tuple[float, float]] = []
        self._last_light_t: float | None = None

    def update(self, frame: FrameInput) -> None:
        if frame.light is not None:
            self._last_light_t = frame.t
        elif self._last_light_t is None or frame.t - self._last_light_t > self.limits.search_lag_s:
            return  # before the light phase, or long after it
        face = frame.analysis.face
        if face is None:
            return
        colour = skin_colour(frame.bgr, face, self.limits.patch_iod)
        if colour is None:
            return
        self._t.append(frame.t)
        self._skin.append(chroma(*(float(v) for v in colour)))
        self._page.append(rgb_chroma(frame.light) if frame.light is not None else NEUTRAL)

    def snapshot(self) -> Snapshot:
        return {
            "t": list(self._t),
            "skin": [list(v) for v in self._skin],
            "page": [list(v) for v in self._page],
            "last_light_t": self._last_light_t,
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        self._t = [float(t) for t in data["t"]]
        self._skin = [(float(r), float(b)) for r, b in data["skin"]]
        self._page = [(float(r), float(b)) for r, b in data["page"]]
        self._last_light_t = optional_float(data["last_light_t"])

    def best_lag(self) -> tuple[float, int] | None:
        """(max correlation, its lag in frames), or ``None`` with too few frames.

        Every lag is scored over an overlap that holds (nearly) all the coloured
        frames: with a short overlap a long lag would correlate well by chance
        and hide the true, short one."""
        n = len(self._t)
        lit = sum(1 for page in self._page if page != NEUTRAL)
        if lit < self.limits.min_frames:
            return None
        interval = self._frame_interval()
        overlap = max(self.limits.min_frames, lit - round(self.limits.max_lag_s / interval))
        max_lag = min(round(self.limits.search_lag_s / interval), n - overlap)
        skin = np.asarray(self._skin, dtype=np.float64)
        page = np.asarray(self._page, dtype=np.float64)
        scores = [(normalized_xcorr(skin, page, lag), lag) for lag in range(max_lag + 1)]
        return max(scores)

    def _frame_interval(self) -> float:
        dt = np.diff(np.asarray(self._t))
        dt = dt[dt > 0]
        return float(np.median(dt)) if len(dt) else 1.0

    def checks(self) -> tuple[Check, ...]:
        lim = self.limits
        # The signal runs only when the script shows colours (``liveness/registry.py``),
        # so too few lit frames with a face is a failure, never "not applicable".
        best = self.best_lag()
        if best is None:
            detail = f"too few light frames with a face (< {lim.min_frames})"
            return (
                Check("light_challenge", 0.0, lim.min_correlation, False, detail),
                Check("light_lag", lim.search_lag_s, lim.max_lag_s, False, "no lag measured"),
            )
        corr, lag = best
        interval = self._frame_interval()
        lag_s = lag * interval
        # Both factors, so an audit shows whether a long lag is many frames or slow ones.
        lag_detail = f"{lag} frames × {interval * 1000:.0f} ms median frame interval"
        return (
            Check("light_challenge", corr, lim.min_correlation, corr >= lim.min_correlation,
                  f"{len(self._t)} frames, best lag {lag} frames"),
            Check("light_lag", lag_s, lim.max_lag_s, lag_s <= lim.max_lag_s, lag_detail),
        )  # fmt: skip
