"""Fixtures of the session tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from session_support import Stack, build_stack

from veronica.pipeline.engine import FaceEngine


@pytest.fixture(autouse=True)
def _isolated(isolated_env: None) -> None:
    """Settings come from the test alone (see ``isolated_env`` in the top conftest)."""


@pytest.fixture
def stack(tmp_path: Path, face_engine: FaceEngine) -> Iterator[Stack]:
    built = build_stack(tmp_path / "data", face_engine)
    yield built
    built.manager.close()
