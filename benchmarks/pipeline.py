"""Speed and memory of the face pipeline, and of face_recognition on the same frames.

    .venv/bin/python benchmarks/pipeline.py --out benchmarks/RESULTS.md    # or: make bench

Every configuration runs in a fresh subprocess (this file again, with ``--worker``)
that pins itself to its cores with ``os.sched_setaffinity`` and sets the thread
variables *before* it imports numpy, mediapipe, onnxruntime or dlib, so every
thread those libraries start is confined to those cores. See benchmarks/README.md.

Targets are reported as pass/fail, never asserted: the script exits 0 whenever the
measurement ran. It exits non-zero only when the measurement could not run (the
Veronica engine failed, or face_recognition is missing without ``--skip-compare``).
"""

from __future__ import annotations

# Standard library only at module level: a worker must set its CPU affinity
# before numpy (or anything that starts a thread pool) is imported.
import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

REPO = Path(__file__).resolve().parent.parent
FACES_DIR = REPO / "tests" / "data" / "faces"
MODELS_DIR = REPO / "var" / "models"
VIDEO = Path("video") / "talking_head_blinks.mp4"

WIDTH, HEIGHT = 640, 480
FRAME_BYTES = WIDTH * HEIGHT * 3
FACE_WIDTH_RANGE = (150.0, 250.0)
"""Mesh face width (px) the stills are scaled to, spread evenly over the photos."""
HOLD_FRAMES = 20
"""Without the video, tracking mode sees each still held for this many frames."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
IDLE_LOAD = 0.1
"""Other processes' CPU use (cores) below which the machine counts as idle."""
IDLE_SAMPLE_S, IDLE_POLL_S = 3.0, 27.0
MAX_ATTEMPTS = 3
"""Runs of one configuration at most, while other processes disturb it."""
WORKER_TIMEOUT_S = 3600

STAGES = ("detect", "quality", "depth", "align", "embed", "pad")
STAGE_LABELS = {
    "detect": "detect + landmarks (MediaPipe Face Mesh)",
    "quality": "quality",
    "depth": "iris depth",
    "align": "alignment",
    "embed": "embedding (MobileFaceNet, LiteRT)",
    "pad": "passive PAD (MiniFASNet, onnxruntime)",
    "to_rgb": "BGR → RGB copy",
    "locations": 'face_locations(rgb, model="hog")',
    "encodings": "face_encodings(rgb, known_face_locations=locs)",
}

TARGET_P50_MS = 15.0
TARGET_SPEEDUP = 10.0
TARGET_RSS_MB = 400.0

VERSIONED_PACKAGES = (
    "mediapipe",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
    "opencv-contrib-python",
    "dlib-bin",
    "face_recognition",
    "face_recognition_models",
    "setuptools",
)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class FrameSet:
    name: str
    first: int
    """Index of its first frame in the frames file."""
    count: int
    description: str


@dataclass(frozen=True)
class Job:
    engine: str  # "veronica" | "face_recognition"
    cores: tuple[int, ...]
    mode: str  # "static" | "tracking"
    frames: FrameSet
    sequence: tuple[int, ...]

    @property
    def label(self) -> str:
        noun = "core" if len(self.cores) == 1 else "cores"
        return f"{self.engine}, {len(self.cores)} {noun}, {self.mode}, {self.frames.name}"


@dataclass(frozen=True)
class Stat:
    p50: float
    p95: float
    n: int


@dataclass(frozen=True)
class JobResult:
    job: Job
    data: dict[str, Any] | None
    error: str | None
    background_cores: float
    """CPU used by other processes during the job, in cores (0 = machine otherwise idle)."""
    attempts: int = 1


# ------------------------------------------------------------------ small helpers


def read_memory() -> dict[str, float]:
    """VmRSS, VmHWM (MB, 10^6 bytes) and thread count from /proc/self/status."""
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024 / 1e6
        elif key == "Threads":
            values[key] = float(rest.strip())
    return values


def cpu_busy_seconds() -> float:
    """Non-idle CPU time of the whole machine since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def background_load(seconds: float) -> float:
    """Cores' worth of CPU the rest of the machine uses, sampled over ``seconds``."""
    busy = cpu_busy_seconds()
    time.sleep(seconds)
    return max(0.0, (cpu_busy_seconds() - busy) / seconds)


@dataclass
class IdleWaiter:
    """Waits for the rest of the machine to go idle, within one time budget for the run."""

    deadline: float
    """``time.monotonic()`` after which nobody waits any more."""
    waited_s: float = 0.0

    @property
    def exhausted(self) -> bool:
        return time.monotonic() >= self.deadline

    def wait(self) -> float:
        """Poll every 30 s until other processes use ≤ IDLE_LOAD cores or the budget is
        spent; return the last sample."""
        started = time.monotonic()
        while True:
            load = background_load(IDLE_SAMPLE_S)
            if load <= IDLE_LOAD or self.exhausted:
                self.waited_s += time.monotonic() - started
                return load
            print(f"    waiting: other processes use {load:.2f} cores …", flush=True)
            time.sleep(min(IDLE_POLL_S, max(0.0, self.deadline - time.monotonic())))


def percentiles(values: list[float]) -> Stat | None:
    if not values:
        return None
    if len(values) == 1:
        return Stat(values[0], values[0], 1)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Stat(cuts[49], cuts[94], len(values))


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
    info = {
        "CPU": models[0] if models else platform.processor() or "unknown",
        "cores (online / usable by this process)": (
            f"{os.cpu_count()} / {len(os.sched_getaffinity(0))}"
        ),
        "RAM": f"{total_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    info.update({name: package_version(name) for name in VERSIONED_PACKAGES})
    return info


def shared_data_dir() -> Path:
    return Path(os.environ.get("VERONICA_SHARED_DATA", REPO.parent / "shared" / "data"))


# ------------------------------------------------------------------------- frames


def window_origin(center: float, size: int, window: int) -> int:
    """Left/top of a ``window``-long view on ``size`` pixels: centred on ``center``
    when the image is larger, centred on the image (negative = padding) when not."""
    if size <= window:
        return -((window - size) // 2)
    return min(max(round(center - window / 2), 0), size - window)


def paste(image: NDArray[np.uint8], x0: int, y0: int) -> NDArray[np.uint8]:
    """The 640×480 view of ``image`` whose top-left is (x0, y0); black outside it."""
    import numpy as np

    canvas = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    height, width = image.shape[:2]
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + WIDTH, width), min(y0 + HEIGHT, height)
    canvas[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return canvas


def as_uint8(image: Any) -> NDArray[np.uint8] | None:
    """OpenCV's result as a typed uint8 array (None stays None)."""
    import numpy as np

    return None if image is None else np.asarray(image, dtype=np.uint8)


def resize(image: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    import cv2
    import numpy as np

    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)
    return np.asarray(resized, dtype=np.uint8)


def still_frames() -> tuple[list[NDArray[np.uint8]], list[dict[str, Any]]]:
    """Each fixture photo scaled so its face is webcam-sized, on a 640×480 canvas."""
    import cv2

    from veronica.pipeline.detect import MeshDetector, choose_face

    paths = sorted(FACES_DIR.glob("*/*.jpg"))
    low, high = FACE_WIDTH_RANGE
    step = (high - low) / max(len(paths) - 1, 1)
    detector = MeshDetector(max_faces=4, tracking=False)
    frames: list[NDArray[np.uint8]] = []
    notes: list[dict[str, Any]] = []
    try:
        for number, path in enumerate(paths):
            image = as_uint8(cv2.imread(str(path)))
            choice = choose_face(detector.detect(image)) if image is not None else None
            if image is None or choice is None:
                print(f"warning: no face found in {path}; skipped", file=sys.stderr)
                continue
            target = low + step * number
            scale = target / choice.face.box.width
            scaled = resize(image, scale)
            cx, cy = (c * scale for c in choice.face.box.center)
            height, width = scaled.shape[:2]
            frame = paste(
                scaled, window_origin(cx, width, WIDTH), window_origin(cy, height, HEIGHT)
            )
            placed = choose_face(detector.detect(frame))
            frames.append(frame)
            notes.append(
                {
                    "file": str(path.relative_to(REPO)),
                    "size": f"{image.shape[1]}×{image.shape[0]}",
                    "source_face": choice.face.box.width,
                    "scale": scale,
                    "face": placed.face.box.width if placed else None,
                }
            )
    finally:
        detector.close()
    return frames, notes


def video_frames(path: Path) -> list[NDArray[np.uint8]]:
    """Every frame of the video, scaled to fit 640×480 and letterboxed (black bars)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames: list[NDArray[np.uint8]] = []
    try:
        while True:
            ok, raw = capture.read()
            frame = as_uint8(raw) if ok else None
            if frame is None:
                break
            height, width = frame.shape[:2]
            scaled = resize(frame, min(WIDTH / width, HEIGHT / height))
            frames.append(
                paste(
                    scaled,
                    window_origin(0, scaled.shape[1], WIDTH),
                    window_origin(0, scaled.shape[0], HEIGHT),
                )
            )
    finally:
        capture.release()
    return frames


def cycle(frames: FrameSet, total: int) -> tuple[int, ...]:
    return tuple(frames.first + i % frames.count for i in range(total))


def ping_pong(frames: FrameSet, total: int) -> tuple[int, ...]:
    """Forward then backward through the video, so motion stays continuous."""
    period = max(2 * frames.count - 2, 1)
    steps = (i % period for i in range(total))
    return tuple(frames.first + (k if k < frames.count else period - k) for k in steps)


def held(frames: FrameSet, total: int) -> tuple[int, ...]:
    return tuple(frames.first + (i // HOLD_FRAMES) % frames.count for i in range(total))


# ------------------------------------------------------------------------- worker


def read_frame(handle: BinaryIO, index: int) -> NDArray[np.uint8]:
    import numpy as np

    handle.seek(index * FRAME_BYTES)
    data = np.frombuffer(bytearray(handle.read(FRAME_BYTES)), dtype=np.uint8)
    return data.reshape(HEIGHT, WIDTH, 3)


def run_veronica(spec: dict[str, Any]) -> dict[str, Any]:
    from veronica.pipeline.engine import EngineConfig, FaceEngine
    from veronica.pipeline.runner import AnalysisOptions

    memory = {"after imports": read_memory()}
    started = time.perf_counter()
    config = EngineConfig(models_dir=Path(spec["models_dir"]), threads=len(spec["cores"]))
    engine = FaceEngine.load(config)
    detector = engine.tracking_detector() if spec["mode"] == "tracking" else None
    load_s = time.perf_counter() - started
    memory["after loading models"] = read_memory()

    options = AnalysisOptions()  # no quality gate: every stage runs when a face is found
    records: list[dict[str, Any]] = []
    with open(spec["frames_file"], "rb") as handle:
        for position, index in enumerate(spec["sequence"]):
            frame = read_frame(handle, index)
            start = time.perf_counter()
            analysis = engine.analyze(frame, options, detector=detector)
            wall_ms = (time.perf_counter() - start) * 1000.0
            if position < spec["warmup"]:
                continue
            face = analysis.face
            records.append(
                {
                    "wall": wall_ms,
                    "stages": {t.stage: t.ms for t in analysis.timings},
                    "complete": analysis.ok and "pad" in {t.stage for t in analysis.timings},
                    "face_width": face.box.width if face is not None else None,
                }
            )
    memory[f"after {len(records)} frames"] = read_memory()
    if detector is not None:
        detector.close()
    engine.close()
    return {"memory": memory, "load_s": load_s, "records": records}


def run_face_recognition(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    memory = {"after imports": read_memory()}
    started = time.perf_counter()
    import face_recognition  # loads dlib's detector, 5-point and ResNet models on import

    dlib = importlib.import_module("dlib")  # untyped; only its build flags are read

    load_s = time.perf_counter() - started
    memory["after loading models"] = read_memory()
    build = {
        "dlib": str(getattr(dlib, "__version__", "?")),
        "AVX": str(getattr(dlib, "USE_AVX_INSTRUCTIONS", "?")),
        "BLAS": str(getattr(dlib, "DLIB_USE_BLAS", "?")),
        "CUDA": str(getattr(dlib, "DLIB_USE_CUDA", "?")),
    }

    records: list[dict[str, Any]] = []
    with open(spec["frames_file"], "rb") as handle:
        for position, index in enumerate(spec["sequence"]):
            frame = read_frame(handle, index)
            t0 = time.perf_counter()
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            t1 = time.perf_counter()
            locations = face_recognition.face_locations(rgb, model="hog")
            t2 = time.perf_counter()
            face_recognition.face_encodings(rgb, known_face_locations=locations)
            t3 = time.perf_counter()
            if position < spec["warmup"]:
                continue
            widths = [right - left for _top, right, _bottom, left in locations]
            records.append(
                {
                    "wall": (t3 - t0) * 1000.0,
                    "stages": {
                        "to_rgb": (t1 - t0) * 1000.0,
                        "locations": (t2 - t1) * 1000.0,
                        "encodings": (t3 - t2) * 1000.0,
                    },
                    "complete": bool(locations),
                    "face_width": float(max(widths)) if widths else None,
                }
            )
    memory[f"after {len(records)} frames"] = read_memory()
    return {"memory": memory, "load_s": load_s, "records": records, "build": build}


def worker_main(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    cores = set(spec["cores"])
    # Before numpy/mediapipe/onnxruntime/dlib load: threads they start inherit this.
    os.sched_setaffinity(0, cores)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(len(cores))
    result: dict[str, Any] = {"start_memory": read_memory()}
    try:
        run = run_veronica if spec["engine"] == "veronica" else run_face_recognition
        result.update(run(spec))
    except Exception as exc:  # report any failure (e.g. a broken import) to the parent
        result["error"] = f"{type(exc).__name__}: {exc}"
        Path(spec["result_file"]).write_text(json.dumps(result))
        raise
    result["affinity"] = sorted(os.sched_getaffinity(0))
    Path(spec["result_file"]).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------- parent


def run_job(job: Job, frames_file: Path, workdir: Path, warmup: int) -> JobResult:
    name = f"{job.engine}-{len(job.cores)}-{job.mode}-{job.frames.name}"
    spec_file, result_file = workdir / f"{name}.spec.json", workdir / f"{name}.result.json"
    spec = {
        "engine": job.engine,
        "cores": list(job.cores),
        "mode": job.mode,
        "frames_file": str(frames_file),
        "sequence": list(job.sequence),
        "warmup": warmup,
        "models_dir": str(MODELS_DIR),
        "result_file": str(result_file),
    }
    spec_file.write_text(json.dumps(spec))
    print(f"  {job.label} (cores {set(job.cores)}) …", flush=True)
    busy, children, started = cpu_busy_seconds(), children_cpu_seconds(), time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=WORKER_TIMEOUT_S,
    )
    wall = max(time.monotonic() - started, 1e-6)
    other = (cpu_busy_seconds() - busy) - (children_cpu_seconds() - children)
    background = max(0.0, other / wall)
    data = json.loads(result_file.read_text()) if result_file.exists() else None
    error = data.get("error") if data else None
    if proc.returncode != 0 or data is None or error:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        return JobResult(job, None, error or f"worker exited {proc.returncode}: {tail}", background)
    return JobResult(job, data, None, background)


def measure(job: Job, frames_file: Path, workdir: Path, warmup: int, idle: IdleWaiter) -> JobResult:
    """Run one configuration on an idle machine; run it again (at most MAX_ATTEMPTS
    times in all) while other processes disturbed it, and keep the least disturbed run."""
    best: JobResult | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        idle.wait()
        result = replace(run_job(job, frames_file, workdir, warmup), attempts=attempt)
        if (
            best is None
            or best.error is not None
            or (result.error is None and result.background_cores < best.background_cores)
        ):
            best = result
        if result.error is not None or result.background_cores <= IDLE_LOAD or idle.exhausted:
            break
        print(f"    other processes used {result.background_cores:.2f} cores: again", flush=True)
    assert best is not None
    return best


def check_face_recognition() -> str | None:
    """None if face_recognition imports in this interpreter, else the reason."""
    proc = subprocess.run(
        [sys.executable, "-c", "import face_recognition"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"import exited {proc.returncode}"


def total_stat(result: JobResult) -> Stat | None:
    records = result.data["records"] if result.data else []
    return percentiles([r["wall"] for r in records if r["complete"]])


def stage_stat(result: JobResult, stage: str) -> Stat | None:
    records = result.data["records"] if result.data else []
    return percentiles([r["stages"][stage] for r in records if stage in r["stages"]])


# The stages that do what face_recognition does (find the face, its landmarks,
# align, encode); quality, iris depth and PAD are work it does not do at all.
LIKE_FOR_LIKE_STAGES = ("detect", "align", "embed")


def like_for_like_stat(result: JobResult) -> Stat | None:
    records = result.data["records"] if result.data else []
    return percentiles(
        [
            sum(r["stages"][s] for s in LIKE_FOR_LIKE_STAGES)
            for r in records
            if r["complete"] and all(s in r["stages"] for s in LIKE_FOR_LIKE_STAGES)
        ]
    )


def stage_sum_stat(result: JobResult) -> Stat | None:
    records = result.data["records"] if result.data else []
    return percentiles([sum(r["stages"].values()) for r in records if r["complete"]])


def peak_rss(result: JobResult) -> float:
    if not result.data:
        return float("nan")
    return float(max(point["VmHWM"] for point in result.data["memory"].values()))


def loaded_rss(result: JobResult) -> float:
    if not result.data:
        return float("nan")
    return float(result.data["memory"]["after loading models"]["VmRSS"])


def median_face_width(result: JobResult) -> float | None:
    records = result.data["records"] if result.data else []
    widths = [r["face_width"] for r in records if r["face_width"] is not None]
    return statistics.median(widths) if widths else None


def ms(stat: Stat | None) -> tuple[str, str]:
    if stat is None:
        return ("–", "–")
    return (f"{stat.p50:.2f}", f"{stat.p95:.2f}")


def disturbed(result: JobResult) -> str:
    return " ⚠ (not idle)" if result.background_cores > IDLE_LOAD else ""


def verdict(ok: bool) -> str:
    return "**pass**" if ok else "**FAIL**"


# ----------------------------------------------------------------------- markdown


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def job_section(result: JobResult, frames_total: int) -> list[str]:
    job = result.job
    lines = [f"### {job.label}", ""]
    if result.data is None:
        return [*lines, f"Did not run: `{result.error}`", ""]
    records = result.data["records"]
    complete = sum(1 for r in records if r["complete"])
    width = median_face_width(result)
    width_text = f"{width:.0f} px" if width is not None else "–"
    lines += [
        f"Cores {result.data['affinity']} (affinity read back in the worker), "
        f"{frames_total} timed frames after the warm-up; face found in {complete} "
        f"(totals use those); median face width {width_text}; models loaded in "
        f"{result.data['load_s']:.2f} s; other load on the machine during this run: "
        f"{result.background_cores:.2f} cores{disturbed(result)} (run {result.attempts} of "
        f"at most {MAX_ATTEMPTS}).",
        "",
    ]
    build = result.data.get("build")
    if build:
        flags = ", ".join(f"{key} {value}" for key, value in build.items())
        lines += [
            f"Build: {flags}. Defaults as in its README: HOG upsampled once, 5-point "
            "landmarks, 1 jitter.",
            "",
        ]
    stages = STAGES if job.engine == "veronica" else ("to_rgb", "locations", "encodings")
    rows = [
        (STAGE_LABELS[s], *ms(stage_stat(result, s)), str(_n(stage_stat(result, s))))
        for s in stages
    ]
    if job.engine == "veronica":
        rows.append(("sum of the stages", *ms(stage_sum_stat(result)), str(complete)))
    rows.append(("**total per frame** (wall clock)", *_bold(ms(total_stat(result))), str(complete)))
    lines += table(("stage", "p50 ms", "p95 ms", "frames"), rows)
    memory_rows = [
        (point, f"{values['VmRSS']:.0f}", f"{values['VmHWM']:.0f}", f"{values['Threads']:.0f}")
        for point, values in result.data["memory"].items()
    ]
    lines += table(("memory (MB = 10⁶ bytes)", "VmRSS", "VmHWM (peak)", "threads"), memory_rows)
    return lines


def _n(stat: Stat | None) -> int:
    return stat.n if stat else 0


def _bold(values: tuple[str, str]) -> tuple[str, str]:
    return (f"**{values[0]}**", f"**{values[1]}**")


def find(
    results: list[JobResult], engine: str, cores: int, mode: str, frames: str
) -> JobResult | None:
    for result in results:
        job = result.job
        if (job.engine, len(job.cores), job.mode, job.frames.name) == (engine, cores, mode, frames):
            return result
    return None


def target_rows(results: list[JobResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    one_core = [r for r in results if r.job.engine == "veronica" and len(r.job.cores) == 1]
    for result in one_core:
        stat = total_stat(result)
        if stat is not None:
            rows.append(
                (
                    f"per-frame pipeline p50 ≤ {TARGET_P50_MS:g} ms (1 core, 640×480)",
                    f"{result.job.mode}, {result.job.frames.name}{disturbed(result)}",
                    f"{stat.p50:.2f} ms",
                    verdict(stat.p50 <= TARGET_P50_MS),
                )
            )
    for result in one_core:
        theirs = find(results, "face_recognition", 1, "static", result.job.frames.name)
        ratio = speed_ratio(theirs, result) if theirs else None
        if ratio is not None:
            rows.append(
                (
                    f"≥ {TARGET_SPEEDUP:g}× faster than face_recognition (p50/p50, 1 core)",
                    f"{result.job.mode}, {result.job.frames.name}"
                    f"{disturbed(result)}{disturbed(theirs) if theirs else ''}",
                    f"{ratio:.1f}×",
                    verdict(ratio >= TARGET_SPEEDUP),
                )
            )
    if not any("faster than" in row[0] for row in rows):
        rows.append(
            (
                f"≥ {TARGET_SPEEDUP:g}× faster than face_recognition (p50/p50, 1 core)",
                "–",
                "not measured",
                "–",
            )
        )
    veronica = [r for r in results if r.job.engine == "veronica" and r.data]
    if veronica:
        worst = max(veronica, key=peak_rss)
        rows.append(
            (
                f"RSS with all models loaded ≤ {TARGET_RSS_MB:g} MB",
                f"highest peak (VmHWM) of all runs: {worst.job.label}",
                f"{peak_rss(worst):.0f} MB",
                verdict(peak_rss(worst) <= TARGET_RSS_MB),
            )
        )
    return rows


def speed_ratio(theirs: JobResult, ours: JobResult) -> float | None:
    their_stat, our_stat = total_stat(theirs), total_stat(ours)
    if their_stat is None or our_stat is None or our_stat.p50 <= 0:
        return None
    return their_stat.p50 / our_stat.p50


def overview_rows(results: list[JobResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for result in results:
        stat = total_stat(result)
        complete = sum(1 for r in result.data["records"] if r["complete"]) if result.data else 0
        rows.append(
            (
                result.job.engine,
                str(len(result.job.cores)),
                result.job.mode,
                result.job.frames.name,
                *ms(stat),
                str(complete),
                f"{loaded_rss(result):.0f}",
                f"{peak_rss(result):.0f}",
                f"{result.background_cores:.2f}{disturbed(result)}",
            )
        )
    return rows


def frames_section(
    sets: dict[str, FrameSet], notes: list[dict[str, Any]], video_path: Path, warmup: int
) -> list[str]:
    lines = ["## Frames", ""]
    for frame_set in sets.values():
        lines += [
            f"- **{frame_set.name}** ({frame_set.count} distinct frames): {frame_set.description}"
        ]
    if "video" not in sets:
        lines += [
            f"- The session video was **not found** at `{video_path}` (set "
            "`VERONICA_SHARED_DATA`): tracking mode ran on the stills held "
            f"{HOLD_FRAMES} frames each, a synthetic session."
        ]
    order = (
        "video frames play forward then backward (no jump for the tracker)"
        if "video" in sets
        else f"tracking mode holds each still for {HOLD_FRAMES} frames"
    )
    lines += [
        f"- Each configuration processes {warmup} warm-up frames (not timed), then the timed "
        f"frames; static-image mode cycles through the stills, {order}.",
        "",
    ]
    rows = [
        (
            f"`{n['file']}`",
            n["size"],
            f"{n['source_face']:.0f}",
            f"{n['scale']:.2f}",
            f"{n['face']:.0f}" if n["face"] is not None else "not found",
        )
        for n in notes
    ]
    lines += table(
        ("still", "photo size", "face px in photo", "scale", "face px in 640×480 frame"), rows
    )
    return lines


def render(
    results: list[JobResult],
    sets: dict[str, FrameSet],
    notes: list[dict[str, Any]],
    context: dict[str, Any],
) -> str:
    lines = [
        "# Pipeline benchmark results",
        "",
        f"Written by `benchmarks/pipeline.py` on {context['date']}. How to read this: "
        "[README.md](README.md).",
        "",
        f"Command: `{context['command']}`",
        "",
        "## Machine",
        "",
    ]
    lines += table(("", ""), [(k, v) for k, v in context["machine"].items()])
    lines += [
        f"Load average (1/5/15 min) at start: {context['load_start']}, at end: "
        f"{context['load_end']}. Other processes' CPU use sampled just before the run: "
        f"{context['background_start']:.2f} cores. Before each configuration the script "
        f"waited for other processes to use ≤ {IDLE_LOAD:g} cores and re-ran a configuration "
        f"they disturbed (up to {MAX_ATTEMPTS} runs, keeping the least disturbed one), within "
        f"a {context['wait_budget']:.0f} s budget; checking and waiting took "
        f"{context['waited']:.0f} s. "
        f"Configurations still measured under load: {context['disturbed']}.",
        "",
    ]
    lines += frames_section(sets, notes, context["video_path"], context["warmup"])
    lines += ["## Targets", ""]
    lines += table(("target", "configuration", "measured", "result"), target_rows(results))
    lines += [
        "Veronica's per-frame time is the wall clock of one `FaceEngine.analyze()` call on a "
        "decoded 640×480 BGR frame: Face Mesh + quality + iris depth + alignment + embedding + "
        "PAD. face_recognition's is BGR→RGB + `face_locations` (HOG) + `face_encodings`; it has "
        "no quality, depth or PAD stage.",
        "",
        "## Overview",
        "",
    ]
    lines += table(
        (
            "engine",
            "cores",
            "mode",
            "frames",
            "p50 ms",
            "p95 ms",
            "faces found",
            "RSS loaded MB",
            "peak RSS MB",
            "other load (cores)",
        ),
        overview_rows(results),
    )
    lines += ["## Speed ratio (1 core)", ""]
    ratio_rows = []
    for ours in (r for r in results if r.job.engine == "veronica" and len(r.job.cores) == 1):
        theirs = find(results, "face_recognition", 1, "static", ours.job.frames.name)
        ratio = speed_ratio(theirs, ours) if theirs else None
        if theirs is not None:
            same_work = like_for_like_stat(ours)
            their_p50 = total_stat(theirs)
            like_ratio = (
                their_p50.p50 / same_work.p50 if same_work and their_p50 and same_work.p50 else None
            )
            ratio_rows.append(
                (
                    f"{ours.job.mode}, {ours.job.frames.name}",
                    ms(total_stat(ours))[0],
                    ms(same_work)[0],
                    ms(their_p50)[0],
                    f"{ratio:.1f}×" if ratio is not None else "–",
                    f"{like_ratio:.1f}×" if like_ratio is not None else "–",
                )
            )
    if ratio_rows:
        lines += [
            "Full pipeline: every Veronica stage (including quality, iris depth and PAD, which "
            "face_recognition does not do). Same work: detect + align + embed only, the work "
            "face_recognition's `face_locations` + `face_encodings` do.",
            "",
        ]
        lines += table(
            (
                "Veronica configuration",
                "Veronica full p50 ms",
                "Veronica same-work p50 ms",
                "face_recognition p50 ms",
                "ratio, full pipeline",
                "ratio, same work",
            ),
            ratio_rows,
        )
    else:
        lines += [context["compare_note"], ""]
    lines += ["## Per configuration", ""]
    for result in results:
        lines += job_section(result, context["frames"])
    return "\n".join(lines).rstrip() + "\n"


def summary(results: list[JobResult]) -> list[str]:
    lines = []
    for result in results:
        stat = total_stat(result)
        if stat is None:
            lines.append(f"{result.job.label}: {result.error or 'no face found in any frame'}")
            continue
        lines.append(
            f"{result.job.label}: p50 {stat.p50:.2f} ms, p95 {stat.p95:.2f} ms, "
            f"peak RSS {peak_rss(result):.0f} MB "
            f"(other load {result.background_cores:.2f} cores{disturbed(result)})"
        )
    lines += [
        f"target: {row[0]} [{row[1]}]: {row[2]} → {row[3].strip('*')}"
        for row in target_rows(results)
    ]
    return lines


def build_frames(workdir: Path) -> tuple[Path, dict[str, FrameSet], list[dict[str, Any]], Path]:
    stills, notes = still_frames()
    if not stills:
        raise SystemExit(f"no usable face photos in {FACES_DIR}")
    video_path = shared_data_dir() / VIDEO
    videos = video_frames(video_path) if video_path.is_file() else []
    low, high = FACE_WIDTH_RANGE
    sets = {
        "stills": FrameSet(
            "stills",
            0,
            len(stills),
            f"the project's fixture photos `tests/data/faces/*/*.jpg` (MIT), each scaled so "
            f"its Face Mesh width is {low:.0f}–{high:.0f} px and placed on a black 640×480 "
            "canvas (a face-centred crop where the photo is larger, black bars where smaller)",
        )
    }
    if videos:
        sets["video"] = FrameSet(
            "video",
            len(stills),
            len(videos),
            f"`{video_path}` (talking head, natural blinks and small head motion), every "
            "frame scaled to fit 640×480 and letterboxed with black bars; the realistic "
            "session input for tracking mode",
        )
    frames_file = workdir / "frames.u8"
    with frames_file.open("wb") as handle:
        for frame in [*stills, *videos]:
            handle.write(frame.tobytes())
    return frames_file, sets, notes, video_path


def plan(sets: dict[str, FrameSet], total: int, compare: bool) -> list[Job]:
    usable = sorted(os.sched_getaffinity(0))
    core_sets = [tuple(usable[:1])] + ([tuple(usable[:2])] if len(usable) >= 2 else [])
    stills, video = sets["stills"], sets.get("video")
    jobs: list[Job] = []
    for cores in core_sets:
        jobs.append(Job("veronica", cores, "static", stills, cycle(stills, total)))
        if video is not None:
            jobs.append(Job("veronica", cores, "static", video, ping_pong(video, total)))
            jobs.append(Job("veronica", cores, "tracking", video, ping_pong(video, total)))
        else:
            jobs.append(Job("veronica", cores, "tracking", stills, held(stills, total)))
    if compare:
        jobs.append(Job("face_recognition", core_sets[0], "static", stills, cycle(stills, total)))
        if video is not None:
            jobs.append(
                Job("face_recognition", core_sets[0], "static", video, ping_pong(video, total))
            )
    return jobs


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="timed frames per configuration")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first")
    parser.add_argument("--out", type=Path, help="write the Markdown results here")
    parser.add_argument(
        "--skip-compare", action="store_true", help="do not measure face_recognition"
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="total time to spend waiting for other processes to go idle (default 600)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    if args.frames < 1 or args.warmup < 0 or args.wait_idle < 0:
        raise SystemExit("--frames must be ≥ 1, --warmup and --wait-idle ≥ 0")

    compare = not args.skip_compare
    compare_note = "face_recognition was not measured (`--skip-compare`)."
    if compare:
        problem = check_face_recognition()
        if problem is not None:
            print(
                f"error: face_recognition cannot be imported ({problem}).\n"
                "Install the comparison extra (see requirements-compare.lock), e.g. `make bench`, "
                "or run with --skip-compare to measure Veronica alone.",
                file=sys.stderr,
            )
            return 2

    context: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(sys.orig_argv),
        "machine": machine_info(),
        "load_start": " / ".join(f"{v:.2f}" for v in os.getloadavg()),
        "background_start": background_load(IDLE_SAMPLE_S),
        "wait_budget": args.wait_idle,
        "frames": args.frames,
        "warmup": args.warmup,
        "compare_note": compare_note,
    }
    total = args.warmup + args.frames
    with tempfile.TemporaryDirectory(prefix="veronica-bench-") as tmp:
        workdir = Path(tmp)
        print("preparing frames …", flush=True)
        frames_file, sets, notes, video_path = build_frames(workdir)
        context["video_path"] = video_path
        print("running configurations (each in a fresh, core-pinned subprocess):", flush=True)
        idle = IdleWaiter(deadline=time.monotonic() + args.wait_idle)
        results = [
            measure(job, frames_file, workdir, args.warmup, idle)
            for job in plan(sets, total, compare)
        ]
    context["load_end"] = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    context["waited"] = idle.waited_s
    noisy = [r.job.label for r in results if r.background_cores > IDLE_LOAD]
    context["disturbed"] = ", ".join(noisy) if noisy else "none"

    report = render(results, sets, notes, context)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    print()
    print("\n".join(summary(results)))
    if args.out is not None:
        print(f"results written to {args.out}")

    failed = [r for r in results if r.error is not None]
    for result in failed:
        print(f"error: {result.job.label}: {result.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
