"""Helpers the tests import (``pythonpath = tests`` in pyproject)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI must never silently skip a test."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


def models_dir() -> Path:
    return Path(os.environ.get("VERONICA_MODELS_DIR", REPO / "var" / "models"))


def shared_data_dir() -> Path:
    return Path(os.environ.get("VERONICA_SHARED_DATA", REPO.parent / "shared" / "data"))


def face_path(person: str, n: int) -> Path:
    return DATA / "faces" / person / f"{n}.jpg"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()
