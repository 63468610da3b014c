"""Attack species and determinism (all simulated)."""

from __future__ import annotations

import numpy as np
import pytest

from support import face_path
from veronica.liveness.types import Action
from veronica.pipeline.engine import FaceEngine
from veronica.pipeline.quality import eye_aspect_ratio
from veronica.pipeline.runner import AnalysisOptions
from veronica.simulation.attacks import SPECIES, LiveRelay, RelayActor, make_actor
from veronica.simulation.scripts import Timeline, random_script

NO_EMBED = AnalysisOptions(embed=False, pad=False)
PHOTOS = (face_path("rose_leslie", 1), face_path("obama", 2))
SCRIPT = random_script(np.random.default_rng(0))


@pytest.mark.parametrize("species", ("genuine", *SPECIES))
def test_species_frames_hold_a_face(face_engine: FaceEngine, species: str) -> None:
    actor = make_actor(species, SCRIPT, seed=11, photos=PHOTOS)
    timeline = Timeline(SCRIPT)
    found = 0
    times = np.arange(0.0, 4.0, 0.4)
    for t in times:
        frame = actor.frame(float(t), *timeline.at(float(t)))
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
        found += face_engine.analyze(frame, NO_EMBED).face is not None
    assert found >= 0.8 * len(times)


@pytest.mark.parametrize("species", ("genuine", "print_moving", "screen_replay_wrong"))
def test_same_seed_same_frames(species: str) -> None:
    timeline = Timeline(SCRIPT)
    a, b, c = (make_actor(species, SCRIPT, seed, PHOTOS) for seed in (5, 5, 6))
    for t in (0.0, 1.0, 2.5):
        fa, fb, fc = (x.frame(t, *timeline.at(t)) for x in (a, b, c))
        assert np.array_equal(fa, fb)
        assert not np.array_equal(fa, fc)


def test_frozen_frame_barely_changes(face_engine: FaceEngine) -> None:
    for seed in (1, 2):
        actor = make_actor("frozen_frame", SCRIPT, seed, PHOTOS)
        a, b = actor.frame(0.0, None, None), actor.frame(1 / 30, None, None)
        face = face_engine.analyze(a, NO_EMBED).face
        assert face is not None
        box = face.box
        crop = np.s_[int(box.y0) : int(box.y1), int(box.x0) : int(box.x1)]
        assert np.abs(a[crop].astype(float) - b[crop].astype(float)).mean() < 0.05


def ears_asked_to_blink(face_engine: FaceEngine, species: str) -> list[float]:
    """Eye aspect ratio of 24 frames at 15 fps; the page asks for a blink from frame 4."""
    actor = make_actor(species, SCRIPT, 3, PHOTOS)
    ears = []
    for i in range(24):
        frame = actor.frame(i / 15, Action.BLINK if i >= 4 else None, None)
        face = face_engine.analyze(frame, NO_EMBED).face
        assert face is not None
        ears.append(eye_aspect_ratio(face))
    return ears


def test_print_never_blinks(face_engine: FaceEngine) -> None:
    for species in ("print_still", "print_moving"):
        assert min(ears_asked_to_blink(face_engine, species)) > 0.18, species


def test_print_tints_uniformly_but_a_head_does_not(face_engine: FaceEngine) -> None:
    def centre_edge_ratio(species: str) -> float:
        actor = make_actor(species, SCRIPT, 4, PHOTOS)
        red, blue = actor.frame(0.0, None, (255, 0, 0)), actor.frame(0.0, None, (0, 0, 255))
        face = face_engine.analyze(red, NO_EMBED).face
        assert face is not None
        ratio = red[:, :, 2].astype(float) / np.maximum(blue[:, :, 2], 1)

        def gain(points: tuple[int, ...]) -> float:
            # Red-channel gain under red vs blue light, around mesh points: independent
            # of the albedo, proportional to n·l on a lit surface.
            values = []
            for index in points:
                x, y = (int(v) for v in face.points[index, :2])
                values.append(ratio[y - 3 : y + 4, x - 3 : x + 4].mean() - 1.0)
            return float(np.mean(values))

        centre = gain((4, 10, 50, 280))  # nose bridge, forehead, cheeks
        edge = gain((234, 454, 127, 356))  # the outline at eye height
        return edge / centre

    print_ratio = centre_edge_ratio("print_still")
    head_ratio = centre_edge_ratio("genuine")
    assert 0.8 < print_ratio < 1.25
    assert head_ratio < 0.75


def test_cutout_print_blinks_with_the_real_eyes_behind(face_engine: FaceEngine) -> None:
    ears = ears_asked_to_blink(face_engine, "print_cutout")
    assert min(ears) < 0.7 * max(ears[:4])  # unlike a plain print (test_print_never_blinks)


def test_noisy_frozen_frame_has_fresh_sensor_like_noise() -> None:
    actor = make_actor("frozen_frame_noisy", SCRIPT, 2, PHOTOS)
    a, b = (actor.frame(t, None, None).astype(float) for t in (0.0, 0.1))
    spread = float(np.std(a - b)) / np.sqrt(2.0)  # one frame's noise
    assert 0.7 < spread < 3.5  # σ 1–3 plus the page's JPEG


def test_identity_injection_shows_the_victim_on_some_frames(face_engine: FaceEngine) -> None:
    actor = make_actor("identity_injection", SCRIPT, 4, PHOTOS)
    fps = actor.fps  # type: ignore[attr-defined]
    every = actor.every  # type: ignore[attr-defined]
    embeddings = []
    for i in range(every * 2):
        analysis = face_engine.analyze(actor.frame(i / fps, None, None))
        assert analysis.embedding is not None
        embeddings.append(analysis.embedding)
    similarity = np.array([[float(np.dot(x, y)) for y in embeddings] for x in embeddings])
    victim = [i % every == actor.phase % every for i in range(every * 2)]  # type: ignore[attr-defined]
    across = [similarity[i, j] for i in range(len(victim)) for j in range(len(victim))
              if victim[i] != victim[j]]  # fmt: skip
    assert max(across) < 0.5  # two people take turns in front of the camera


class _Witness:
    """A victim that records what reached them, and when."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, Action | None, tuple[int, int, int] | None]] = []

    def frame(
        self, t: float, action: Action | None, light: tuple[int, int, int] | None
    ) -> np.ndarray:
        self.seen.append((t, action, light))
        return np.zeros((480, 640, 3), np.uint8)


def test_a_live_relay_is_never_early() -> None:
    # Our page asks turn_left from 1.0 s and shows red from 2.0 s; the relay
    # passes it on 0.2 s late and brings the victim back 0.3 s later.
    victim = _Witness()
    relay = LiveRelay(victim, forward_s=0.2, back_s=0.3)
    screen = RelayActor(relay, _Witness())
    for i in range(40):
        t = i / 10
        action = Action.TURN_LEFT if t >= 1.0 else None
        light = (255, 0, 0) if t >= 2.0 else None
        screen.frame(t, action, light)
        relay(t)
    first_turn = min(t for t, a, _ in victim.seen if a is Action.TURN_LEFT)
    first_red = min(t for t, _, c in victim.seen if c == (255, 0, 0))
    # Filmed (victim time) no earlier than 0.2 s after our page asked; shown on
    # the attacker's screen (our time) 0.3 s after that.
    assert first_turn == pytest.approx(1.2) and first_red == pytest.approx(2.2)
    assert max(t for t, _, _ in victim.seen) == pytest.approx(3.9 - 0.3)
