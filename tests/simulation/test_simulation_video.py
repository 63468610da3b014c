"""Video files and scripts of the simulator."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from support import face_path
from veronica.liveness.challenges import plan_script
from veronica.liveness.policy import LivenessPolicy
from veronica.simulation.attacks import make_actor
from veronica.simulation.scripts import Timeline, random_script
from veronica.simulation.video import Y4M_HEADER, simulate_to_file, write_video

PHOTOS = (face_path("rose_leslie", 1),)


def test_random_script_shape() -> None:
    script = random_script(np.random.default_rng(3))
    assert 2 <= len(script.challenges) <= 3
    assert len({c.action for c in script.challenges}) == len(script.challenges)
    assert 5 <= len(script.light) <= 6
    slot = script.light[-1].end_s - script.light[0].start_s
    assert 1.5 <= slot <= 2.4
    assert all(0.3 <= x.duration_s <= 0.4 for x in script.light)
    assert script.challenges[0].start_s >= 0.5


def test_mp4_reads_back(tmp_path: Path) -> None:
    actor = make_actor("frozen_frame", random_script(np.random.default_rng(1)), 1, PHOTOS)
    path = tmp_path / "clip.mp4"
    assert write_video(actor, 0.5, 30, path) == 15
    capture = cv2.VideoCapture(str(path))
    count = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (480, 640, 3)
        count += 1
    capture.release()
    assert count == 15


def test_y4m_layout(tmp_path: Path) -> None:
    actor = make_actor("frozen_frame", random_script(np.random.default_rng(1)), 1, PHOTOS)
    path = tmp_path / "clip.y4m"
    assert write_video(actor, 0.2, 30, path) == 6
    data = path.read_bytes()
    assert data.startswith(Y4M_HEADER.encode())
    frame_bytes = len(b"FRAME\n") + 640 * 480 * 3 // 2
    assert len(data) == len(Y4M_HEADER) + 6 * frame_bytes
    assert data.count(b"FRAME\n") >= 6


def test_simulate_to_file_writes_timeline(tmp_path: Path) -> None:
    out = tmp_path / "genuine.y4m"
    meta = simulate_to_file("genuine", 4, out, duration_s=0.3, photos=PHOTOS)
    doc = json.loads(meta.read_text())
    assert meta.name == "genuine.y4m.json"
    assert doc["simulated"] is True and doc["species"] == "genuine" and doc["frames"] == 9
    assert doc["challenges"] and doc["light"]
    assert (
        Timeline(random_script(np.random.default_rng([4, 23]))).positioning_s
        == doc["positioning_s"]
    )


def test_simulate_to_file_follows_a_fixed_challenge_seed(tmp_path: Path) -> None:
    # What a test-environment server with VERONICA_CHALLENGE_SEED=7 and the light
    # challenge switched off will ask for, step for step.
    expected = plan_script(LivenessPolicy().for_light(False).challenges, random.Random(7))
    out = tmp_path / "fixed.y4m"
    meta = simulate_to_file(
        "genuine", 1, out, duration_s=0.2, photos=PHOTOS, challenge_seed=7, light=False,
        positioning_s=2.0,
    )  # fmt: skip
    doc = json.loads(meta.read_text())
    assert doc["light"] == [] and doc["positioning_s"] == 2.0
    assert [c["action"] for c in doc["challenges"]] == [c.action.value for c in expected.challenges]
    assert [c["start_s"] for c in doc["challenges"]] == pytest.approx(
        [c.start_s for c in expected.challenges]
    )
