"""The realistic population and the webcam chain (all simulated)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from support import face_path
from veronica.liveness.types import RGB, Action
from veronica.simulation.actors import GenuineActor, load_head
from veronica.simulation.camera import SensorEffects
from veronica.simulation.glasses import Glasses
from veronica.simulation.population import (
    AMBIENT_LEVELS,
    FPS_RANGE,
    LATENCY_S,
    CameraChain,
    CameraConditions,
    draw_conditions,
)

QUIET = SensorEffects(noise_sigma=0.0, exposure_drift=0.0, blur_sigma_px=0.0, jitter_px=0.0)


class LightProbe:
    """Unit-test stand-in for an actor: a flat grey picture tinted by the light
    it is shown, and its own clock written in the first pixel."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def frame(self, t: float, action: Action | None, light: RGB | None) -> NDArray[np.uint8]:
        self.times.append(t)
        image = np.full((480, 640, 3), 120, dtype=np.uint8)
        if light is not None:
            image[:, :, 2] = 120 + light[0] // 4  # red light tints the red channel
        return image


def chain_conditions(**overrides: float) -> CameraConditions:
    values: dict[str, float] = {
        "latency_s": 0.2, "fps": 10.0, "drop_rate": 0.0, "jpeg_quality": 95,
        "ae_time_constant_s": 1e9, "awb_time_constant_s": 1e9, "awb_strength": 0.0,
    }  # fmt: skip
    values.update(overrides)
    return CameraConditions(effects=QUIET, **values)  # type: ignore[arg-type]


def test_conditions_are_deterministic_and_inside_their_ranges() -> None:
    assert draw_conditions(5) == draw_conditions(5)
    drawn = [draw_conditions(seed) for seed in range(200)]
    assert {c.ambient for c in drawn} == set(AMBIENT_LEVELS)
    for c in drawn:
        low, high = AMBIENT_LEVELS[c.ambient]
        assert low <= c.screen_fraction <= high
        assert LATENCY_S[0] <= c.camera.latency_s <= LATENCY_S[1]
        assert FPS_RANGE[0] <= c.camera.fps <= FPS_RANGE[1]
        assert c.behaviour.turn_deg[0] >= 17.0 and c.behaviour.latency_s[1] <= 1.65
        lighting = c.lighting
        share = lighting.screen_gain / (lighting.screen_gain + float(np.mean(lighting.room_bgr)))
        assert abs(share - c.screen_fraction) < 0.01
    glasses = sum(c.glasses is not None for c in drawn)
    assert 40 <= glasses <= 100  # about a third wear glasses
    assert any(c.behaviour.blink_depth[0] < 0.85 for c in drawn)  # partial blinks exist
    labels = drawn[0].labels()
    assert {"ambient", "latency", "glasses", "frame_rate", "reaction", "turn", "blink"} <= set(
        labels
    )


def test_the_camera_shows_the_light_of_latency_ago() -> None:
    probe = LightProbe()
    chain = CameraChain(probe, chain_conditions(latency_s=0.2))
    red: RGB = (255, 0, 0)
    reds = []
    for i in range(10):
        t = i / 10
        shown = red if t >= 0.3 else None  # the page turns red at 0.3 s
        reds.append(int(chain.frame(t, None, shown)[240, 320, 2]))
    assert probe.times[4] == 0.2  # the frame sent at 0.4 s shows the scene of 0.2 s
    first_red = next(i for i, v in enumerate(reds) if v > 150)
    assert first_red == 5  # 0.3 s + 0.2 s latency


def test_injected_frames_skip_the_webcam_but_not_the_jpeg() -> None:
    probe = LightProbe()
    chain = CameraChain(probe, chain_conditions(latency_s=0.2), injected=True)
    chain.frame(0.5, None, None)
    assert probe.times == [0.5]


def test_auto_exposure_and_white_balance_work_against_the_page_colour() -> None:
    quick = chain_conditions(
        latency_s=0.0, ae_time_constant_s=0.3, awb_time_constant_s=0.3, awb_strength=0.8
    )
    adapting = CameraChain(LightProbe(), quick)
    fixed = CameraChain(LightProbe(), chain_conditions(latency_s=0.0))
    red: RGB = (255, 0, 0)
    for chain in (adapting, fixed):
        chain.frame(0.0, None, None)
    late = 2.0
    tinted_fixed = fixed.frame(late, None, red)[240, 320].astype(int)
    tinted_adapting = adapting.frame(late, None, red)[240, 320].astype(int)
    # Both still see a red cast, the adapting camera a weaker one.
    assert tinted_fixed[2] - tinted_fixed[0] > tinted_adapting[2] - tinted_adapting[0] > 0


def test_glasses_change_only_the_eye_region() -> None:
    head = load_head(face_path("biden", 1))
    rims = Glasses(lens_width=0.9, lens_height=0.55, drop=0.1, rim=0.08, colour=(20.0, 20.0, 20.0))
    plain = GenuineActor(head, 3, effects=QUIET).frame(0.0, None, None)
    worn = GenuineActor(head, 3, effects=QUIET, glasses=rims).frame(0.0, None, None)
    changed = np.argwhere(np.abs(plain.astype(int) - worn.astype(int)).max(axis=2) > 30)
    assert len(changed) > 200
    rows = changed[:, 0]
    assert rows.max() - rows.min() < 80  # a band at eye height, not the whole face
