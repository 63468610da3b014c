from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from liveness_signal_support import run, talking_head

from veronica.liveness.signals.light import (
    LightLimits,
    LightSignal,
    chroma,
    detrended,
    rgb_chroma,
)
from veronica.liveness.types import RGB, FrameInput
from veronica.pipeline.engine import FaceEngine

PALETTE: tuple[RGB, ...] = (
    (255, 60, 60), (60, 255, 60), (60, 60, 255), (255, 255, 60), (255, 60, 255), (60, 255, 255),
)  # fmt: skip
STEP_FRAMES = 10  # 0.4 s per colour at 25 fps


@pytest.fixture(scope="module")
def video(shared_data: Path, face_engine: FaceEngine) -> tuple[FrameInput, ...]:
    return talking_head(shared_data, face_engine)


def colour_sequence(seed: int, n: int) -> list[RGB]:
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, len(PALETTE), size=n // STEP_FRAMES + 1)
    return [PALETTE[int(steps[i // STEP_FRAMES])] for i in range(n)]


def tint(bgr: np.ndarray, rgb: RGB, strength: float = 0.15) -> np.ndarray:
    """The face lit by the page: each channel scaled by the page's colour."""
    gain = 1.0 - strength + 2 * strength * np.array(rgb[::-1], np.float32) / 255.0
    return np.clip(bgr.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def lit(
    video: tuple[FrameInput, ...],
    shown: list[RGB] | list[RGB | None],
    lighting: list[RGB] | None,
    lag: int = 0,
) -> list[FrameInput]:
    """Frames where the page shows ``shown`` and the face is lit by ``lighting``
    delayed by ``lag`` frames (``None``: the face is not lit by the page)."""
    frames = []
    for i, frame in enumerate(video):
        bgr = frame.bgr
        if lighting is not None and i >= lag:
            bgr = tint(bgr, lighting[i - lag])
        frames.append(replace(frame, bgr=bgr, light=shown[i]))
    return frames


def test_chroma() -> None:
    assert chroma(0.0, 0.0, 0.0) == (0.0, 0.0)
    # A page colour's chromaticity is that of the light it emits (linear light):
    # sRGB 200 is 0.578 of full light, 100 is 0.127.
    r, b = rgb_chroma((200, 100, 100))
    total = 255 * (0.5776 + 2 * 0.1274) + 1
    assert r == pytest.approx(255 * 0.5776 / total, rel=1e-3)
    assert b == pytest.approx(255 * 0.1274 / total, rel=1e-3)
    # The flash palette's full and empty channels are the same either way.
    assert rgb_chroma((255, 0, 255)) == pytest.approx((255 / 511, 255 / 511))


def test_detrended_removes_the_mean_and_a_drift_only() -> None:
    t = np.arange(8, dtype=np.float64)
    line = np.stack([0.4 + 0.01 * t, 0.3 - 0.002 * t], axis=1)
    assert np.allclose(detrended(line), 0.0)
    step = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])[:, None]
    # A step keeps what a line cannot explain (slope 8/42 per frame comes out),
    # the jump of ~0.81 in its middle most of all.
    assert detrended(step + line[:, :1]).ravel() == pytest.approx(
        [0.1667, -0.0238, -0.2143, -0.4048, 0.4048, 0.2143, 0.0238, -0.1667], abs=1e-4
    )


@pytest.mark.shared_data
def test_no_lit_frame_with_a_face_fails(video: tuple[FrameInput, ...]) -> None:
    # The signal runs only when the script shows colours: seeing none is a failure,
    # never "not applicable" (a client that hides the face while the colours show).
    corr, lag = run(LightSignal(), video[:10]).checks()
    assert corr.name == "light_challenge" and not corr.passed
    assert lag.name == "light_lag" and not lag.passed


@pytest.mark.shared_data
def test_face_lit_by_the_page_correlates(video: tuple[FrameInput, ...]) -> None:
    colours = colour_sequence(1, len(video))
    signal = run(LightSignal(), lit(video, colours, colours, lag=2))
    corr, lag = signal.checks()
    assert corr.passed and corr.value > 0.8
    assert lag.passed and lag.value == pytest.approx(0.08)


@pytest.mark.shared_data
def test_a_weak_response_under_a_drifting_white_balance_correlates(
    video: tuple[FrameInput, ...],
) -> None:
    # A bright office: the page tints the face by a few per cent while the
    # webcam's white balance pulls the red down steadily, by a fifth over the
    # record. With the mean alone removed the drift won (0.40 against 0.70 here);
    # a drift is close to a line, the colours are not.
    colours = colour_sequence(1, len(video))
    shown: list[RGB | None] = [*colours[:60], *([None] * (len(video) - 60))]
    lighting = [*colours[:60], *([(255, 255, 255)] * (len(video) - 60))]
    frames = []
    for i, frame in enumerate(video):
        bgr = tint(frame.bgr, lighting[i - 2], strength=0.05) if i >= 2 else frame.bgr
        drifted = bgr.astype(np.float32)
        drifted[..., 2] *= 1.0 - 0.2 * i / len(video)
        frames.append(replace(frame, bgr=np.clip(drifted, 0, 255).astype(np.uint8), light=shown[i]))
    corr, lag = run(LightSignal(), frames).checks()
    assert corr.passed and lag.passed and lag.value == pytest.approx(0.08)


@pytest.mark.shared_data
def test_replay_under_another_sequence_does_not_correlate(video: tuple[FrameInput, ...]) -> None:
    shown = colour_sequence(1, len(video))
    recorded = colour_sequence(2, len(video))
    corr, _ = run(LightSignal(), lit(video, shown, recorded)).checks()
    assert not corr.passed and corr.value < 0.4


@pytest.mark.shared_data
def test_shuffled_colours_do_not_correlate(video: tuple[FrameInput, ...]) -> None:
    shown = colour_sequence(1, len(video))
    shuffled = list(shown)
    np.random.default_rng(3).shuffle(shuffled)  # type: ignore[arg-type]
    corr, _ = run(LightSignal(), lit(video, shown, shuffled)).checks()
    assert not corr.passed


@pytest.mark.shared_data
def test_late_replay_has_the_wrong_lag(video: tuple[FrameInput, ...]) -> None:
    # As in a session: 2.4 s of colours, then the page is neutral while the
    # replay, 0.6 s late, still shows the colours it recorded.
    colours = colour_sequence(1, len(video))
    shown: list[RGB | None] = [*colours[:60], *([None] * (len(video) - 60))]
    recorded = [*colours[:60], *([(255, 255, 255)] * (len(video) - 60))]
    corr, lag = run(LightSignal(), lit(video, shown, recorded, lag=15)).checks()
    assert corr.value > 0.8
    assert not lag.passed and lag.value == pytest.approx(0.6)


@pytest.mark.shared_data
def test_a_prompt_response_wins_over_chance_at_long_lags(video: tuple[FrameInput, ...]) -> None:
    colours = colour_sequence(3, len(video))
    shown: list[RGB | None] = [*colours[:60], *([None] * (len(video) - 60))]
    recorded = [*colours[:60], *([(255, 255, 255)] * (len(video) - 60))]
    corr, lag = run(LightSignal(), lit(video, shown, recorded, lag=2)).checks()
    assert corr.passed and lag.passed and lag.value == pytest.approx(0.08)


@pytest.mark.shared_data
def test_a_relay_behind_a_glossy_screen_has_the_wrong_lag(video: tuple[FrameInput, ...]) -> None:
    # A live relay 2 s late on a glossy screen held before the camera: the glass
    # reflects the page's colours at once, and the relayed face answers them 2 s
    # later, after the page went neutral. Scored over the colours' span alone
    # (a variant tried in stop 19), the reflection's short lag won and simulated
    # relays were accepted: the neutral page after the colours must count.
    colours = colour_sequence(1, len(video))
    shown: list[RGB | None] = [*colours[:40], *([None] * (len(video) - 40))]
    other = [
        PALETTE[int(k)] for k in np.random.default_rng(5).integers(0, len(PALETTE), len(video))
    ]
    frames = []
    for i, frame in enumerate(video):
        bgr = frame.bgr
        if 2 <= i < 42:
            bgr = tint(bgr, colours[i - 2], strength=0.2)  # the reflection
        if 50 <= i < 90:
            # The relayed face, also tinted by other light on the victim's side.
            bgr = tint(tint(bgr, colours[i - 50], strength=0.1), other[i], strength=0.08)
        frames.append(replace(frame, bgr=bgr, light=shown[i]))
    corr, lag = run(LightSignal(), frames).checks()
    assert corr.passed, "the relayed face does follow the colours"
    assert not lag.passed and lag.value == pytest.approx(2.0)


@pytest.mark.shared_data
def test_screen_emitting_its_own_light_does_not_correlate(video: tuple[FrameInput, ...]) -> None:
    colours = colour_sequence(1, len(video))
    corr, _ = run(LightSignal(), lit(video, colours, None)).checks()
    assert not corr.passed


@pytest.mark.shared_data
def test_too_few_light_frames_fail(video: tuple[FrameInput, ...]) -> None:
    colours = colour_sequence(1, 5)
    signal = LightSignal(LightLimits(min_frames=10))
    corr, lag = run(signal, lit(video[:5], colours, colours)).checks()
    assert not corr.passed and not lag.passed
