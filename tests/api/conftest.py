"""Fixtures of the API tests: an app on the shared engine, a fake clock, and
frames of a simulated person (rendered once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import ACTOR_PHOTO, FPS, SEED, FakeClock, encode_jpeg, make_settings, running
from fastapi.testclient import TestClient

from postgres_support import fresh_schema
from redis_support import redis_url, shared_redis
from veronica.liveness.challenges import ChallengeLimits, plan_script
from veronica.pipeline.engine import FaceEngine
from veronica.settings import Settings
from veronica.simulation import make_actor


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in the top conftest)."""


@pytest.fixture(params=["embedded", pytest.param("postgres_redis", marks=pytest.mark.postgres)])
def api_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Every test on ``api`` runs twice: on the embedded defaults (SQLite, state in
    the process) and as a cluster instance runs (PostgreSQL, Redis for sessions,
    limits, lockout, admission and one-time use)."""
    if request.param == "embedded":
        yield make_settings(tmp_path / "data")
        return
    with fresh_schema() as database_url, shared_redis() as state:
        yield make_settings(
            tmp_path / "data",
            database_url=database_url,
            redis_url=redis_url(),
            redis_prefix=state.prefix,
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(api_settings: Settings, face_engine: FaceEngine, clock: FakeClock) -> Iterator[TestClient]:
    with running(api_settings, face_engine, clock) as client:
        yield client


@pytest.fixture(scope="session")
def positioning_frames() -> list[bytes]:
    """2.5 s of a genuine face at 10 fps with nothing asked: enough to place the
    face and reach the challenge phase (positioning lasts at least 1 s)."""
    import random

    script = plan_script(ChallengeLimits(), random.Random(SEED))
    actor = make_actor("genuine", script, SEED, [ACTOR_PHOTO], positioning_s=1.0)
    return [encode_jpeg(actor.frame(i / FPS, None, None)) for i in range(25)]
