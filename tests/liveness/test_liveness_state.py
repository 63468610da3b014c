"""A liveness session as plain data: snapshot, JSON, restore, continue."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from support import face_path
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.session import LivenessDecision, LivenessSession
from veronica.liveness.state import pack_array, pack_grey, unpack_array, unpack_grey
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import FaceEngine
from veronica.simulation import GenuineActor, make_actor

POLICY = LivenessPolicy()


def through_json(session: LivenessSession, engine: FaceEngine) -> LivenessSession:
    """What a store does between two instances: snapshot, JSON, restore."""
    data = json.loads(json.dumps(session.snapshot(), allow_nan=False))
    session.close()
    return LivenessSession.restore(engine, POLICY, data)


def drive(
    engine: FaceEngine, species: str, seed: int, move_every: int | None, fps: float = 10.0
) -> LivenessDecision:
    session = LivenessSession(engine, POLICY, rng=random.Random(seed))
    actor = make_actor(
        species, session.script, seed, [face_path("obama", 2), face_path("biden", 1)], 1.0
    )
    action: Action | None = None
    light: RGB | None = None
    for i in range(260):
        if move_every is not None and i and i % move_every == 0:
            session = through_json(session, engine)
        t = i / fps
        state = session.update(t + 0.05, actor.frame(t, action, light), claimed=t)
        if state.decision is not None:
            return state.decision
        action, light = state.action, state.light
    return session.finish()


def test_arrays_and_images_round_trip_exactly() -> None:
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(192).astype(np.float32)
    assert np.array_equal(unpack_array(json.loads(json.dumps(pack_array(vector)))), vector)
    noise = rng.integers(0, 256, size=(40, 30), dtype=np.uint8)
    assert np.array_equal(unpack_grey(pack_grey(noise)), noise)  # lossless: noise survives


def test_a_snapshot_restores_to_the_same_snapshot(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(205))
    actor = GenuineActor.from_photo(face_path("obama", 2), 205)
    state = None
    for i in range(40):  # into the challenge
        state = session.update(i / 10, actor.frame(i / 10, state.action if state else None,
                                                   state.light if state else None))  # fmt: skip
    first = json.loads(json.dumps(session.snapshot(), allow_nan=False))
    restored = LivenessSession.restore(face_engine, POLICY, first)
    assert json.loads(json.dumps(restored.snapshot(), allow_nan=False)) == first
    assert restored.phase is session.phase and restored.script == session.script
    restored.close()
    session.close()


@pytest.mark.parametrize("move_every", [1, 7])
def test_a_session_moved_between_processes_still_decides_the_same_way(
    face_engine: FaceEngine, move_every: int
) -> None:
    """Moved every frame (the worst case) or every 7th: a genuine person is still
    live and a face swap still refused, with a fresh tracker after each move."""
    genuine = drive(face_engine, "genuine", 205, move_every)
    assert genuine.live, genuine.failed
    swap = drive(face_engine, "face_swap", 100, move_every)
    assert not swap.live and "identity" in {c.name for c in swap.failed}


def test_a_decided_session_has_no_snapshot(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(1))
    session.finish()
    with pytest.raises(ValueError):
        session.snapshot()


def test_a_snapshot_that_does_not_fit_is_refused(face_engine: FaceEngine) -> None:
    session = LivenessSession(face_engine, POLICY, rng=random.Random(1))
    data = session.snapshot()
    session.close()
    with pytest.raises(ValueError, match="format"):
        LivenessSession.restore(face_engine, POLICY, {**data, "format": 99})
    signals = {k: v for k, v in data["signals"].items() if k != "light"}
    with pytest.raises(ValueError, match="do not match"):
        LivenessSession.restore(face_engine, POLICY, {**data, "signals": signals})
