"""Load on the sign-in API over loopback: N concurrent sessions, each sending real
JPEG frames the way the page does (stop-and-wait over the WebSocket, or the HTTP
fallback, at most the session's ``max_fps``), a new session as soon as one is
decided. Measures the frames per second the server processes, the answer time
(p50/p95) and counts server errors (5xx, WebSocket ``internal_error``), for a few
server configurations, on this machine's cores.

    .venv/bin/python benchmarks/web_load.py --out benchmarks/WEB_RESULTS.md

The frames are the E2E suite's genuine video (simulated), JPEG-encoded once at the
page's width and quality; each session plays them from its start in real time, so
sessions position, follow the server's fixed script and sign in, as in the browser.
The server runs in a subprocess (``--serve``: ``create_app`` under uvicorn, with the
configuration's threadpool size and WebSocket compression).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from web_common import (
    REPO,
    RESULTS,
    IdleWaiter,
    LoadMeter,
    load_average,
    machine_info,
    table,
    tree_cpu_seconds,
    use_e2e_harness,
    write_section,
)

use_e2e_harness()

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
from e2e_support import (  # noqa: E402 (the harness is on the path from here on)
    CHALLENGE_SEED,
    ENROLLED,
    ENROLLMENT_PHOTO,
    GENUINE,
    HEIGHT,
    WIDTH,
    Server,
    VideoCache,
    free_port,
)

from veronica.storage import TemplateCipher, generate_key, make_engine  # noqa: E402
from veronica.storage.audit import AuditLog  # noqa: E402

VIDEO_CACHE = REPO / ".pytest_cache" / "d" / "veronica-e2e-videos"
TARGET_FPS = 60.0
JPEG_QUALITY = 80
"""The page encodes at 0.8 (``limits.jpeg_quality``)."""
RATE_MARGIN = 1.1
"""The page stays this much under ``max_fps`` (frames.js)."""
HEADER = struct.Struct("<d")


@dataclass(frozen=True)
class ServerConfig:
    name: str
    inference_threads: int = 1
    threadpool: int = 40
    """anyio's default limiter is 40 threads: every frame can run at once."""
    deflate: bool = True
    """uvicorn's per-message deflate, which browsers negotiate by default."""

    def describe(self) -> str:
        deflate = "on" if self.deflate else "off"
        return (
            f"`VERONICA_INFERENCE_THREADS={self.inference_threads}`, threadpool "
            f"{self.threadpool}, WebSocket per-message deflate {deflate}, 1 uvicorn worker"
        )


CONFIGS = {
    "default": ServerConfig("default"),
    "pool2": ServerConfig("pool2", threadpool=2),
    "pool4": ServerConfig("pool4", threadpool=4),
    "threads2": ServerConfig("threads2", inference_threads=2),
    "nodeflate": ServerConfig("nodeflate", deflate=False),
    "pool4-nodeflate": ServerConfig("pool4-nodeflate", threadpool=4, deflate=False),
}


# -- the server (subprocess) -------------------------------------------------------------


def serve_main(port: int, threadpool: int, deflate: bool) -> int:
    """``--serve``: the app from ``VERONICA_*`` settings under uvicorn, one worker."""
    import anyio.to_thread
    import uvicorn

    from veronica.api.app import create_app
    from veronica.settings import Settings

    settings = Settings()
    app = create_app(settings)

    async def run() -> None:
        # Frames run in anyio's default thread pool (starlette's run_in_threadpool).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threadpool
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws_per_message_deflate=deflate,
            ws_max_size=settings.max_frame_bytes + 8,  # as `veronica serve`
        )
        await uvicorn.Server(config).serve()

    asyncio.run(run())
    return 0


def start_bench_server(data_dir: Path, config: ServerConfig) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    admin_key, template_key = os.urandom(16).hex(), generate_key()
    models = Path(os.environ.get("VERONICA_MODELS_DIR", REPO / "var" / "models"))
    settings = {
        "VERONICA_ENVIRONMENT": "test",
        "VERONICA_DATA_DIR": str(data_dir),
        "VERONICA_MODELS_DIR": str(models),
        "VERONICA_CHALLENGE_SEED": str(CHALLENGE_SEED),
        "VERONICA_ADMIN_KEY": admin_key,
        "VERONICA_TEMPLATE_KEY": template_key,
        "VERONICA_PUBLIC_URL": url,
        "VERONICA_INFERENCE_THREADS": str(config.inference_threads),
        # One client address opens every session: per-IP limits would measure themselves.
        "VERONICA_SESSIONS_PER_MINUTE_PER_IP": "1000000",
        "VERONICA_LOCKOUT_FAILURES": "1000000",
        # A recorded video cannot follow any light (the flash or the opt-out's
        # gentle one): the sessions run the script of a service without light.
        "VERONICA_LIGHT_CHALLENGE": "off",
    }
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("VERONICA_")}
    env.update(settings)
    log_path = data_dir / "server.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        str(port),
        "--threadpool",
        str(config.threadpool),
        "--deflate" if config.deflate else "--no-deflate",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(url, admin_key, template_key, data_dir, process, log_path, settings)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server.log_tail()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"server not ready:\n{server.log_tail()}")


# -- frames ------------------------------------------------------------------------------


def jpeg_frames(video: Path) -> tuple[list[bytes], int]:
    """Every frame of a .y4m video as the page's JPEG (640 px wide, quality 0.8)."""
    raw = video.read_bytes()
    header_end = raw.index(b"\n") + 1
    fps = int(raw[:header_end].split(b" F")[1].split(b":")[0])
    size = WIDTH * HEIGHT * 3 // 2
    step = len(b"FRAME\n") + size
    out = []
    for offset in range(header_end, len(raw) - step + 1, step):
        yuv = np.frombuffer(raw, np.uint8, size, offset + 6).reshape(HEIGHT * 3 // 2, WIDTH)
        bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        assert ok
        out.append(data.tobytes())
    return out, fps


# -- the load ----------------------------------------------------------------------------


@dataclass
class Tally:
    answered: int = 0
    unanswered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    server_errors: int = 0
    """HTTP ≥ 500 and WebSocket ``internal_error`` (close 1011)."""
    other_errors: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    counting: bool = False

    def unanswer(self) -> None:
        if self.counting:
            self.unanswered += 1

    def answer(self, latency_ms: float) -> None:
        if self.counting:
            self.answered += 1
            self.latencies_ms.append(latency_ms)


async def one_session(
    http: httpx.AsyncClient,
    url: str,
    frames: list[bytes],
    fps: int,
    transport: str,
    tally: Tally,
    stop: asyncio.Event,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Create a session and feed it frames until it is decided (or the run stops).
    ``ssl_context``: for an ``https://`` server (the stream is then ``wss://``)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    http.cookies.clear()
    created = await http.post(f"{url}/api/v1/auth/sessions", json={"username": ENROLLED})
    # 503 `busy` is the admission limit refusing a session by design (the client
    # is told to come back), not a server failure: listed, not counted as 5xx.
    busy = created.status_code == 503 and created.json().get("error", {}).get("code") == "busy"
    if created.status_code >= 500 and not busy:
        tally.server_errors += 1
    if created.status_code != 201:
        tally.other_errors[f"create {created.status_code}"] += 1
        await asyncio.sleep(0.5)
        return
    body = created.json()
    tally.sessions += 1
    cookie = f"veronica_session={created.cookies['veronica_session']}"
    min_interval = RATE_MARGIN / float(body["limits"]["max_fps"])
    started = time.monotonic()
    rtt: float | None = None

    def next_frame() -> tuple[float, bytes]:
        elapsed = time.monotonic() - started
        return elapsed * 1000.0, frames[int(elapsed * fps) % len(frames)]

    def timeout_s() -> float:
        return min(5.0, max(1.0, 4 * rtt)) if rtt is not None else 2.0

    if transport == "http":
        headers = {
            "X-CSRF-Token": body["csrf_token"],
            "Content-Type": "image/jpeg",
            "Cookie": cookie,
        }
        while not stop.is_set():
            t_ms, jpeg = next_frame()
            sent = time.monotonic()
            try:
                answer = await http.post(
                    url + body["frames_url"],
                    content=jpeg,
                    headers={**headers, "X-Frame-Time": f"{t_ms:.3f}"},
                    timeout=timeout_s(),
                )
            except httpx.TimeoutException:
                tally.unanswer()
                continue
            if answer.status_code >= 500:
                tally.server_errors += 1
            if answer.status_code != 200:
                tally.other_errors[f"frame {answer.status_code}"] += 1
                return
            rtt = time.monotonic() - sent
            tally.answer(rtt * 1000.0)
            state = answer.json()
            if state.get("result"):
                tally.results[state["result"]["reason"]] += 1
                return
            await asyncio.sleep(max(0.0, sent + min_interval - time.monotonic()))
        return

    ws_url = url.replace("https://", "wss://").replace("http://", "ws://") + body["stream_url"]
    try:
        async with connect(
            ws_url,
            origin=Origin(url),
            additional_headers={"Cookie": cookie},
            max_size=None,
            proxy=None,
            ssl=ssl_context,
        ) as socket:
            await socket.send(json.dumps({"type": "hello", "csrf_token": body["csrf_token"]}))
            while not stop.is_set():
                t_ms, jpeg = next_frame()
                sent = time.monotonic()
                await socket.send(HEADER.pack(t_ms) + jpeg)
                try:
                    message = await asyncio.wait_for(socket.recv(), timeout_s())
                except TimeoutError:
                    tally.unanswer()
                    continue
                rtt = time.monotonic() - sent
                state = json.loads(message)
                if state.get("type") == "error":
                    if state.get("code") == "internal_error":
                        tally.server_errors += 1
                    tally.other_errors[f"ws {state.get('code')}"] += 1
                    return
                tally.answer(rtt * 1000.0)
                if state.get("result"):
                    tally.results[state["result"]["reason"]] += 1
                    return
                await asyncio.sleep(max(0.0, sent + min_interval - time.monotonic()))
    except ConnectionClosed as closed:
        if closed.rcvd is not None and closed.rcvd.code == 1011:
            tally.server_errors += 1
        tally.other_errors[f"closed {closed.rcvd.code if closed.rcvd else '?'}"] += 1


async def client_loop(
    url: str,
    frames: list[bytes],
    fps: int,
    transport: str,
    tally: Tally,
    stop: asyncio.Event,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    verify: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
    async with httpx.AsyncClient(timeout=30, verify=verify, trust_env=False) as http:
        while not stop.is_set():
            await one_session(http, url, frames, fps, transport, tally, stop, ssl_context)


def refusal_checks(server: Server) -> Counter[str]:
    """Failed deciding checks over the refused sessions of the server's audit log."""
    engine = make_engine(f"sqlite:///{server.data_dir / 'veronica.db'}")
    try:
        log = AuditLog(
            engine,
            TemplateCipher.from_setting(server.template_key),
            keep_images=False,
            retention_days=7,
        )

        counts: Counter[str] = Counter()
        for record in log.recent(1000):
            if record.event.decision == "refused":
                counts.update(c.name for c in record.event.checks if not c.passed and c.deciding)
        return counts
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Measurement:
    config: ServerConfig
    transport: str
    sessions: int
    seconds: float
    tally: Tally
    server_cores: float
    client_cores: float
    other_cores: float

    @property
    def fps(self) -> float:
        return self.tally.answered / self.seconds

    @property
    def cpu_ms_per_frame(self) -> float:
        """Server CPU per answered frame: what the frame rate would be limited by on
        idle cores, whatever else ran during this measurement."""
        return self.server_cores * 1000.0 / self.fps if self.fps else math.nan

    @property
    def projected_fps(self) -> float:
        """Frames/s if the server and this load generator had every core to
        themselves at this CPU cost per frame (a projection, not a measurement)."""
        if not self.fps:
            return math.nan
        per_frame_s = (self.server_cores + self.client_cores) / self.fps
        return (os.cpu_count() or 1) / per_frame_s

    def percentile(self, q: int) -> float:
        values = self.tally.latencies_ms
        if len(values) < 2:
            return values[0] if values else math.nan
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def load(
    url: str,
    frames: list[bytes],
    fps: int,
    transport: str,
    sessions: int,
    warmup_s: float,
    seconds: float,
    server_pids: int | list[int],
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[Tally, float, float, float]:
    """N clients for ``warmup_s``, then ``seconds`` measured; the CPU of the server
    processes (``server_pids`` and their children) is measured over the same time."""
    tally = Tally()
    stop = asyncio.Event()
    pids = [server_pids] if isinstance(server_pids, int) else server_pids
    tasks = [
        asyncio.create_task(client_loop(url, frames, fps, transport, tally, stop, ssl_context))
        for _ in range(sessions)
    ]
    await asyncio.sleep(warmup_s)
    meter = LoadMeter()
    meter.start()
    server_cpu = sum(tree_cpu_seconds(pid) for pid in pids)
    own = time.process_time()
    tally.counting = True
    started = time.monotonic()
    await asyncio.sleep(seconds)
    tally.counting = False
    wall = time.monotonic() - started
    server_cores = (sum(tree_cpu_seconds(pid) for pid in pids) - server_cpu) / wall
    client_cores = (time.process_time() - own) / wall
    other = meter.other_cores()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally, server_cores, client_cores, other


# -- report ------------------------------------------------------------------------------


def row(m: Measurement) -> list[str]:
    errors = ", ".join(f"{k} ×{v}" for k, v in sorted(m.tally.other_errors.items())) or "–"
    results = ", ".join(f"{k} ×{v}" for k, v in sorted(m.tally.results.items())) or "–"
    return [
        m.config.name,
        m.transport,
        str(m.sessions),
        f"**{m.fps:.1f}**",
        f"{m.percentile(50):.0f}",
        f"{m.percentile(95):.0f}",
        str(m.tally.server_errors),
        str(m.tally.unanswered),
        results,
        errors,
        f"{m.server_cores:.2f}",
        f"{m.cpu_ms_per_frame:.1f}",
        f"{m.projected_fps:.0f}",
        f"{m.client_cores:.2f}",
        f"{m.other_cores:.2f}",
    ]


def report(
    measurements: list[Measurement],
    args: argparse.Namespace,
    idle: IdleWaiter,
    refusals: dict[str, Counter[str]],
) -> list[str]:
    machine = machine_info()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", "benchmarks/web_load.py", *sys.argv[1:]])
    best = max(measurements, key=lambda m: m.fps)
    errors = sum(m.tally.server_errors for m in measurements)
    verdict = "pass" if best.fps >= TARGET_FPS and errors == 0 else "FAIL"
    configs = sorted({m.config for m in measurements}, key=lambda c: c.name)
    return [
        "## Load: frames per second on the server",
        "",
        f"Written by `benchmarks/web_load.py` on {when}. Command: `{command}`.",
        "",
        f"Machine: {machine['CPU']}, nproc {machine['nproc']}, {machine['RAM']}, "
        f"{machine['OS']}, Python {machine['Python']}. Server and load generator share "
        f"the machine's {machine['nproc']} cores. Load average at the end (1/5/15 min): "
        f"{load_average()}; {idle.waited_s:.0f} s spent waiting for an idle machine.",
        "",
        f"Each row: the server freshly started per configuration, then N clients for "
        f"{args.warmup:.0f} s of warm-up and {args.seconds:.0f} s measured. A client opens a "
        "session (1:1 for the enrolled user, colours off) and sends the E2E suite's "
        f"simulated genuine video ({WIDTH}×{HEIGHT}, JPEG quality {JPEG_QUALITY}, "
        f"~{statistics.median(len(f) for f in FRAMES_FOR_REPORT) / 1000:.0f} kB) in real "
        "time from the session's start: stop-and-wait, ≤ max_fps / 1.1 = 18 frames/s "
        'per session like the page, a new session when one is decided. "frames/s" '
        "counts answered frames; latency is send → answer.",
        "",
        f"**Best: {best.fps:.1f} frames/s ({best.config.name}, {best.transport}, "
        f"{best.sessions} sessions), p50 {best.percentile(50):.0f} ms, p95 "
        f"{best.percentile(95):.0f} ms; server errors (5xx) in all runs: {errors}; target "
        f"≥ {TARGET_FPS:.0f} frames/s with no 5xx: {verdict}.** Other processes used "
        f"{best.other_cores:.2f} cores meanwhile; at this run's CPU cost per frame "
        f"({best.cpu_ms_per_frame:.1f} ms server + "
        f"{best.client_cores * 1000 / best.fps:.1f} ms load generator), the machine's "
        f"{machine['nproc']} cores alone would give ~{best.projected_fps:.0f} frames/s "
        "(projection).",
        "",
        "Configurations:",
        "",
        *(f"- **{c.name}**: {c.describe()}" for c in configs),
        "",
        *table(
            [
                "config",
                "transport",
                "sessions",
                "frames/s",
                "p50 ms",
                "p95 ms",
                "5xx",
                "unanswered",
                "sessions ended",
                "other answers",
                "server cores",
                "server CPU ms/frame",
                "projected frames/s",
                "client cores",
                "other load",
            ],
            [row(m) for m in measurements],
        ),
        '"server CPU ms/frame": the server\'s CPU time (all its threads) per answered '
        "frame. \"projected frames/s\": the machine's cores divided by the server's and "
        "the load generator's CPU per frame, i.e. the rate if nothing else ran (a "
        "projection, not a measurement). "
        '"unanswered": frames whose answer did not come within the page\'s timeout (4 × '
        'round trip, 1–5 s). "other load": CPU used by processes other than the server '
        "and this load generator, in cores (above ~0.3 the numbers are pessimistic). "
        "Failed liveness checks of the refused sessions, per configuration (from the "
        "server's audit log, all session counts together): "
        + "; ".join(
            f"{name}: " + (", ".join(f"{k} ×{v}" for k, v in counts.most_common()) or "none")
            for name, counts in refusals.items()
        )
        + ". One process with the embedded defaults: sessions live in the process that "
        "created them (`InMemorySessionStore`); several instances need the Redis session "
        "store (benchmarks/cluster_load.py).",
        "",
    ]


FRAMES_FOR_REPORT: list[bytes] = []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--threadpool", type=int, default=40, help=argparse.SUPPRESS)
    parser.add_argument(
        "--deflate", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS
    )
    parser.add_argument("--configs", default="default,pool4,threads2,nodeflate,pool4-nodeflate")
    parser.add_argument("--sessions", default="1,4,8,12", help="concurrent sessions to try")
    parser.add_argument("--transport", default="websocket", choices=("websocket", "http", "both"))
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--out", type=Path, default=None, help=f"write the section into this file ({RESULTS.name})"
    )
    parser.add_argument("--wait-idle", type=float, default=300.0)
    parser.add_argument("--videos", type=Path, default=VIDEO_CACHE)
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve_main(args.serve, args.threadpool, args.deflate)

    videos = VideoCache(args.videos)
    try:
        video = videos.get(GENUINE)
    finally:
        videos.close()
    frames, fps = jpeg_frames(video)
    FRAMES_FOR_REPORT.extend(frames)
    transports = ("websocket", "http") if args.transport == "both" else (args.transport,)
    counts = [int(n) for n in args.sessions.split(",")]
    idle = IdleWaiter(deadline=time.monotonic() + args.wait_idle)
    measurements: list[Measurement] = []
    refusals: dict[str, Counter[str]] = {}
    for name in args.configs.split(","):
        config = CONFIGS[name]
        with tempfile.TemporaryDirectory(prefix="veronica-load-") as tmp:
            server = start_bench_server(Path(tmp), config)
            try:
                server.create_user(ENROLLED, [ENROLLMENT_PHOTO])
                for transport in transports:
                    for n in counts:
                        idle.wait()
                        tally, server_cores, client_cores, other = asyncio.run(
                            load(
                                server.url,
                                frames,
                                fps,
                                transport,
                                n,
                                args.warmup,
                                args.seconds,
                                server.process.pid,
                            )
                        )
                        m = Measurement(
                            config,
                            transport,
                            n,
                            args.seconds,
                            tally,
                            server_cores,
                            client_cores,
                            other,
                        )
                        measurements.append(m)
                        print(" | ".join(row(m)), flush=True)
                refusals[name] = refusal_checks(server)
            finally:
                server.stop()
    lines = report(measurements, args, idle, refusals)
    print("\n".join(lines))
    if args.out is not None:
        write_section(args.out, "web_load", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
