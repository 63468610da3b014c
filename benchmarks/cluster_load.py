"""Throughput through nginx (TLS) with 1 and with 2 Veronica instances on this
machine's cores, on PostgreSQL and Redis: ``scripts/cluster.sh`` starts each
cluster in a folder, database and Redis prefix of its own, and purges it after.

    .venv/bin/python benchmarks/cluster_load.py --out benchmarks/CLUSTER_RESULTS.md

The clients are ``web_load.py``'s: N concurrent sessions, each sending the E2E
suite's simulated genuine video in real time over the WebSocket (stop-and-wait, at
most ``max_fps`` / 1.1), a new session when one is decided. So that a recorded
video can sign in, the instances run with a fixed challenge seed
(``VERONICA_CLUSTER_BENCHMARK_SEED``: test environment, every session the same
script); the light is off (``VERONICA_LIGHT_CHALLENGE=off``: a recording can
follow neither the colours nor the opt-out's gentle light), as in
``web_load.py``. Everything else is the cluster's production wiring: Redis
session store (a snapshot saved after every frame), admission, rate limits and
lockout in Redis, PostgreSQL, nginx TLS and WebSocket proxying.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from web_common import (
    REPO,
    IdleWaiter,
    load_average,
    machine_info,
    table,
    use_e2e_harness,
)

use_e2e_harness()
sys.path.insert(0, str(REPO / "tests" / "deploy"))

from deploy_support import Cluster, running_cluster  # noqa: E402
from e2e_support import CHALLENGE_SEED, ENROLLED, ENROLLMENT_PHOTO, GENUINE, VideoCache  # noqa: E402

from web_load import VIDEO_CACHE, Tally, jpeg_frames, load  # noqa: E402

RESULTS = REPO / "benchmarks" / "CLUSTER_RESULTS.md"


def enroll(cluster: Cluster) -> None:
    with cluster.admin() as admin:
        made = admin.post("/api/v1/admin/users", json={"username": ENROLLED})
        if made.status_code != 201:
            raise RuntimeError(f"creating {ENROLLED}: {made.status_code} {made.text}")
        files = [("images", (ENROLLMENT_PHOTO.name, ENROLLMENT_PHOTO.read_bytes(), "image/jpeg"))]
        done = admin.post(f"/api/v1/admin/users/{ENROLLED}/images", files=files)
        if done.status_code != 201:
            raise RuntimeError(f"enrolling {ENROLLED}: {done.status_code} {done.text}")


def run(
    instances: int, sessions: list[int], frames: list[bytes], fps: int, args: argparse.Namespace
) -> list[tuple[int, int, Tally, float, float, float]]:
    extra = {
        "VERONICA_CLUSTER_BENCHMARK_SEED": str(CHALLENGE_SEED),
        "VERONICA_LIGHT_CHALLENGE": "off",
        # One client address opens every session: per-address limits would measure
        # themselves.
        "VERONICA_SESSIONS_PER_MINUTE_PER_IP": "1000000",
        "VERONICA_MAX_SESSIONS_PER_ADDRESS": "1000",
        "VERONICA_LOCKOUT_FAILURES": "1000000",
    }
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="veronica-cluster-bench-") as tmp,
        running_cluster(Path(tmp), instances, extra) as cluster,
    ):
        enroll(cluster)
        # nginx's master counts its workers (tree CPU): not the workers again.
        nginx = cluster.pid("nginx")
        pids = [*cluster.instance_pids().values(), *([nginx] if nginx else [])]
        for n in sessions:
            tally, server_cores, client_cores, other = asyncio.run(
                load(
                    cluster.url,
                    frames,
                    fps,
                    "websocket",
                    n,
                    args.warmup,
                    args.seconds,
                    pids,
                    ssl_context=cluster.ssl_context(),
                )
            )
            rows.append((instances, n, tally, server_cores, client_cores, other))
            print(
                f"{instances} instance(s), {n} sessions: {tally.answered / args.seconds:.1f} "
                f"frames/s, results {dict(tally.results)}",
                file=sys.stderr,
            )
    return rows


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def comparison(rows: list[tuple[int, int, Tally, float, float, float]], seconds: float) -> str:
    """The measured gain of the most instances over one, per session count."""
    fps = {(i, n): tally.answered / seconds for i, n, tally, *_ in rows}
    most = max((i for i, _ in fps), default=1)
    gains = [
        f"{n} sessions: {fps[(most, n)] / fps[(1, n)] - 1:+.0%}"
        for n in sorted({n for _, n in fps})
        if most > 1 and (1, n) in fps and (most, n) in fps and fps[(1, n)] > 0
    ]
    if not gains:
        return "No one-instance baseline in this run to compare with."
    return (
        f"Frames/s of {most} instances against 1 on the same cores: {', '.join(gains)}. "
        "Beyond one host's cores, capacity comes from more hosts (docs/DEPLOY.md, "
        '"Sizing"); a second instance is also a process to fail over to '
        "(tests/deploy/test_deploy_failover.py). Sessions over the admission limit (4 per "
        "core, counted in Redis for the whole cluster) are refused with 503 busy by design "
        'and their clients retry ("other answers").'
    )


def report(
    rows: list[tuple[int, int, Tally, float, float, float]],
    args: argparse.Namespace,
    idle: IdleWaiter,
) -> list[str]:
    machine = machine_info()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", "benchmarks/cluster_load.py", *sys.argv[1:]])
    body = []
    for instances, n, tally, server_cores, client_cores, other in rows:
        fps = tally.answered / args.seconds
        results = ", ".join(f"{k} ×{v}" for k, v in sorted(tally.results.items())) or "–"
        errors = ", ".join(f"{k} ×{v}" for k, v in sorted(tally.other_errors.items())) or "–"
        body.append(
            [
                str(instances),
                str(n),
                f"**{fps:.1f}**",
                f"{percentile(tally.latencies_ms, 50):.0f}",
                f"{percentile(tally.latencies_ms, 95):.0f}",
                str(tally.results.get("ok", 0)),
                results,
                str(tally.server_errors),
                str(tally.unanswered),
                errors,
                f"{server_cores:.2f}",
                f"{server_cores * 1000 / fps:.1f}" if fps else "–",
                f"{client_cores:.2f}",
                f"{other:.2f}",
            ]
        )
    return [
        "# Cluster throughput: nginx (TLS) in front of 1 and 2 instances",
        "",
        f"Written by `benchmarks/cluster_load.py` on {when}. Command: `{command}`.",
        "",
        f"Machine: {machine['CPU']}, nproc {machine['nproc']}, {machine['RAM']}, "
        f"{machine['OS']}, Python {machine['Python']}. nginx, the instances, PostgreSQL, "
        "Redis and the load generator share the same cores. Load average at the end "
        f"(1/5/15 min): {load_average()}; {idle.waited_s:.0f} s spent waiting for an idle "
        "machine.",
        "",
        f"Each row: N clients for {args.warmup:.0f} s of warm-up, then {args.seconds:.0f} s "
        "measured, through `https://127.0.0.1:<port>` (nginx, TLS 1.3, WebSocket proxied, "
        "`hash $veronica_session consistent`). The simulated genuine video (see "
        "`web_load.py`) signs in when the session follows the fixed script; 'signed in' "
        "counts sessions decided `ok` during the whole run of that row.",
        "",
        *table(
            [
                "instances",
                "sessions",
                "frames/s",
                "p50 ms",
                "p95 ms",
                "signed in",
                "sessions ended",
                "5xx",
                "unanswered",
                "other answers",
                "cluster cores",
                "cluster CPU ms/frame",
                "client cores",
                "other load",
            ],
            body,
        ),
        '"cluster cores": CPU used by nginx and every instance (all threads) during the '
        'measured seconds; "cluster CPU ms/frame" is that per answered frame. "other load": '
        "every process but the load generator, the cluster's included (so other load − "
        "cluster cores is PostgreSQL, Redis and the rest of the machine), in cores.",
        "",
        comparison(rows, args.seconds),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", default="1,2")
    parser.add_argument("--sessions", default="4,8")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--wait-idle", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--videos", type=Path, default=VIDEO_CACHE)
    args = parser.parse_args(argv)
    videos = VideoCache(args.videos)
    try:
        video = videos.get(GENUINE)
    finally:
        videos.close()
    frames, fps = jpeg_frames(video)
    idle = IdleWaiter(deadline=time.monotonic() + args.wait_idle)
    rows = []
    for instances in (int(n) for n in args.instances.split(",")):
        idle.wait()
        rows.extend(run(instances, [int(n) for n in args.sessions.split(",")], frames, fps, args))
    lines = report(rows, args, idle)
    text = "\n".join(lines)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
