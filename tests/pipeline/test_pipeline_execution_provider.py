"""``VERONICA_EXECUTION_PROVIDER``: the ONNX models run on the chosen ONNX Runtime
provider, or on CPU with one warning when this onnxruntime build lacks it.

Only the fallback can be tested here (the pinned onnxruntime is the CPU build and
the machine has no GPU): the provider asked for is one this build does not have."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest
from pydantic import ValidationError

from support import face_path, models_dir
from veronica.errors import ModelError
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.pipeline.models import (
    CPU_PROVIDER,
    EXECUTION_PROVIDERS,
    FR_LIVENESS,
    execution_providers,
    onnx_session,
    verified_path,
)
from veronica.settings import Settings

LOGGER = "veronica.pipeline.models"


def absent_provider() -> str:
    """A setting whose provider this onnxruntime build lacks (no build has them all:
    CoreML is macOS-only, DirectML Windows-only)."""
    available = set(ort.get_available_providers())
    return next(name for name, ep in EXECUTION_PROVIDERS.items() if ep not in available)


def fallback_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING and "on CPU" in r.getMessage()
    ]


def test_cpu_is_the_default_and_needs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert Settings(_env_file=None).execution_provider == "cpu"  # type: ignore[call-arg]
    assert execution_providers("cpu") == (CPU_PROVIDER,)
    assert fallback_lines(caplog) == []


def test_missing_provider_falls_back_to_cpu_with_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = absent_provider()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert execution_providers(name) == (CPU_PROVIDER,)
    lines = fallback_lines(caplog)
    assert len(lines) == 1
    assert name in lines[0] and EXECUTION_PROVIDERS[name] in lines[0]


def test_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="unknown execution provider 'gpu'"):
        execution_providers("gpu")
    with pytest.raises(ValidationError):
        Settings(execution_provider="gpu", _env_file=None)  # type: ignore[arg-type, call-arg]


def test_setting_reaches_the_engine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERONICA_EXECUTION_PROVIDER", "cuda")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert EngineConfig.from_settings(settings).execution_provider == "cuda"


def test_session_on_cpu_only_is_not_a_fallback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    session = onnx_session(verified_path(FR_LIVENESS, models_dir()), 1)
    assert session.get_providers() == [CPU_PROVIDER]
    assert fallback_lines(caplog) == []


def test_engine_with_a_missing_provider_runs_its_onnx_models_on_cpu(
    caplog: pytest.LogCaptureFixture, face_engine: FaceEngine
) -> None:
    """Both ONNX models (PAD and fr_feature) load, one warning for the engine, and
    they compute what the CPU engine computes."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    config = EngineConfig(
        models_dir=models_dir(), embedder="fr_feature", execution_provider=absent_provider()
    )
    engine = FaceEngine.load(config)
    try:
        assert len(fallback_lines(caplog)) == 1
        image = face_path("obama", 1).read_bytes()
        fallback = engine.analyze(image)
        reference = face_engine.analyze(image)
        assert fallback.ok and fallback.pad is not None and reference.pad is not None
        assert fallback.pad.live == pytest.approx(reference.pad.live, abs=1e-6)
        vector = engine.embed(image)
        assert vector.shape == (512,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    finally:
        engine.close()
