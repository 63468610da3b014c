"""Fixtures of the API tests: an app on the shared engine, a fake clock, and
frames of a simulated person (rendered once)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import ACTOR_PHOTO, FPS, SEED, FakeClock, encode_jpeg, make_settings, running
from fastapi.testclient import TestClient

from postgres_support import fresh_schema
from redis_support import redis_url, shared_redis
from veronica.liveness.challenges import ChallengeLimits, plan_script
from veronica.oidc import keys
from veronica.pipeline.engine import FaceEngine
from veronica.settings import Settings
from veronica.simulation import make_actor


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in the top conftest)."""


RSA_POOL = 3
"""Distinct keys handed out in turn: apps started one after another in a test
still get different RS256 keys."""


@pytest.fixture(scope="session")
def _rsa_pems() -> list[bytes]:
    return [keys.generate_rsa_pem() for _ in range(RSA_POOL)]


@pytest.fixture(scope="module", autouse=True)
def _pregenerated_rsa_keys(_rsa_pems: list[bytes]) -> Iterator[None]:
    """Every app start here writes and loads its data folder's RS256 key
    (``ensure_key_file``), and the 2048-bit prime search takes 0.05–0.3 s, ~300
    times in these tests. The keys come from a pool made once instead; the file is
    still written and loaded as at any start. Key generation itself is tested in
    tests/oidc/test_oidc_keys.py."""
    pool = itertools.cycle(_rsa_pems)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keys, "generate_rsa_pem", lambda: next(pool))
        yield


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
