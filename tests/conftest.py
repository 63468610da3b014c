"""Shared fixtures: the fixture images, the real face engine (loaded once), and
the rule that with CI=true nothing is skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from redis_support import RedisServer, own_redis, shared_redis
from support import in_ci, models_dir, shared_data_dir, unavailable
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.state.redis import RedisState


@pytest.fixture(scope="session")
def face_engine() -> Iterator[FaceEngine]:
    engine = FaceEngine.load(EngineConfig(models_dir=models_dir()))
    yield engine
    engine.close()


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone: no VERONICA_* from the shell, no .env file."""
    for name in list(os.environ):
        if name.upper().startswith("VERONICA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not (root / "README.md").is_file():
        unavailable(f"shared data not found at {root}; set VERONICA_SHARED_DATA")
    return root


class _SkipGuard:
    """Counts skips; in CI any skip turns the run red, whatever produced it."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_SkipGuard(), "veronica-skip-guard")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = session.config.pluginmanager.get_plugin("veronica-skip-guard")
    if in_ci() and isinstance(guard, _SkipGuard) and guard.skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"CI=true: {len(guard.skipped)} test(s) skipped; failing the run:")
            for nodeid in guard.skipped:
                tr.write_line(f"  {nodeid}")


@pytest.fixture
def redis_state() -> Iterator[RedisState]:
    """The machine's Redis under a key prefix of this test's own (``redis_support``)."""
    with shared_redis() as state:
        yield state


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A ``redis-server`` of this test's own, to stop and start (``redis_support``)."""
    with own_redis(tmp_path / "redis") as server:
        yield server
