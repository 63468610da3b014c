"""What a session costs when it moves to another instance: snapshot size, the
Redis round trip of the encrypted record, the restore (a fresh Face Mesh graph
plus every signal's state) and the first frame after it, against a frame of a
session that stays put.

    .venv/bin/python benchmarks/session_restore.py --out benchmarks/RESTORE_RESULTS.md

A simulated genuine person (``GenuineActor`` from a fixture photo) runs
``--sessions`` sessions in-process, following the server's steps. At each
``--move-at`` frame the session is snapshotted, written to and read back from
Redis as the ``RedisSessionStore`` does (AES-GCM with a fresh template key), and
restored into a new ``LivenessSession``; the next frame is timed against the
same frame of an identical session that did not move.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shlex
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from web_common import REPO, load_average, machine_info, table

sys.path.insert(0, str(REPO / "tests"))

from support import face_path
from veronica.liveness.policy import LivenessPolicy
from veronica.liveness.session import LivenessSession
from veronica.liveness.types import RGB, Action
from veronica.pipeline.engine import EngineConfig, FaceEngine
from veronica.simulation import GenuineActor
from veronica.storage import TemplateCipher, generate_key

POLICY = LivenessPolicy()
FPS = 10.0


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000.0


def one_session(
    engine: FaceEngine, seed: int, move_at: int, cipher: TemplateCipher, client: redis.Redis
) -> dict[str, float] | None:
    """Two identical sessions; one moves at frame ``move_at``. None if the session
    decided before then."""
    stay = LivenessSession(engine, POLICY, rng=random.Random(seed))
    moved = LivenessSession(engine, POLICY, rng=random.Random(seed))
    actor = GenuineActor.from_photo(face_path("obama", 2), seed)
    action: Action | None = None
    light: RGB | None = None
    try:
        for i in range(move_at):
            t = i / FPS
            frame = actor.frame(t, action, light)
            state = stay.update(t + 0.05, frame, claimed=t)
            moved.update(t + 0.05, frame, claimed=t)
            if state.decision is not None:
                return None
            action, light = state.action, state.light
        snapshot, snap_ms = timed(moved.snapshot)
        text, json_ms = timed(lambda: json.dumps(snapshot, allow_nan=False))
        key = f"veronica-bench:{uuid.uuid4().hex}"
        # As RedisSessionStore seals a record: AES-GCM bound to the key, base64.
        sealed = base64.b64encode(cipher.encrypt_bytes(text.encode(), key.encode()))

        def round_trip() -> bytes:
            client.set(key, sealed, px=60_000)
            got = client.get(key)
            client.delete(key)
            assert isinstance(got, bytes)
            return got

        blob, redis_ms = timed(round_trip)
        data = json.loads(cipher.decrypt_bytes(base64.b64decode(blob), key.encode()))
        moved.close()
        restored, restore_ms = timed(lambda: LivenessSession.restore(engine, POLICY, data))
        t = move_at / FPS
        frame = actor.frame(t, action, light)
        _, stay_ms = timed(lambda: stay.update(t + 0.05, frame, claimed=t))
        _, first_ms = timed(lambda: restored.update(t + 0.05, frame, claimed=t))
        restored.close()
        return {
            "bytes": float(len(text)),
            "sealed_bytes": float(len(sealed)),
            "snapshot_ms": snap_ms + json_ms,
            "redis_ms": redis_ms,
            "restore_ms": restore_ms,
            "first_frame_ms": first_ms,
            "stay_frame_ms": stay_ms,
        }
    finally:
        stay.close()


def summary(values: list[float], unit: str) -> str:
    if not values:
        return "–"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{statistics.median(ordered):.1f} / {p95:.1f} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--move-at", default="10,40", help="frames before the move")
    parser.add_argument(
        "--redis-url", default=os.environ.get("VERONICA_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    engine = FaceEngine.load(EngineConfig(models_dir=REPO / "var" / "models"))
    cipher = TemplateCipher.from_setting(generate_key())
    client = redis.Redis.from_url(args.redis_url)
    rows = []
    try:
        for move_at in (int(n) for n in args.move_at.split(",")):
            runs = [
                r
                for seed in range(args.sessions)
                if (r := one_session(engine, 300 + seed, move_at, cipher, client)) is not None
            ]
            column = {k: [r[k] for r in runs] for k in (runs[0] if runs else {})}
            rows.append(
                [
                    f"{move_at} ({move_at / FPS:.1f} s)",
                    str(len(runs)),
                    summary([v / 1000 for v in column.get("bytes", [])], "kB"),
                    summary(column.get("snapshot_ms", []), "ms"),
                    summary(column.get("redis_ms", []), "ms"),
                    summary(column.get("restore_ms", []), "ms"),
                    summary(column.get("first_frame_ms", []), "ms"),
                    summary(column.get("stay_frame_ms", []), "ms"),
                ]
            )
    finally:
        client.close()
        engine.close()
    machine = machine_info()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", "benchmarks/session_restore.py", *sys.argv[1:]])
    lines = [
        "# A session moving to another instance: what it costs",
        "",
        f"Written by `benchmarks/session_restore.py` on {when}. Command: `{command}`.",
        "",
        f"Machine: {machine['CPU']}, nproc {machine['nproc']}, {machine['RAM']}, "
        f"{machine['OS']}, Python {machine['Python']}; Redis on loopback. Load average at "
        f"the end (1/5/15 min): {load_average()}.",
        "",
        "Each cell: median / p95 over the sessions (simulated genuine person, seeds from "
        "300). *Snapshot*: `LivenessSession.snapshot()` plus JSON; *Redis*: SET and GET of "
        "the AES-GCM sealed record; *restore*: `LivenessSession.restore` (a new Face Mesh "
        "graph, every signal's state); *first frame*: the frame after the move on the "
        "restored session; *same frame, not moved*: that frame on a twin session that "
        "stayed (the tracker warm). The move's extra cost is restore + first frame - same "
        "frame.",
        "",
        *table(
            [
                "moved after frame",
                "sessions",
                "snapshot size",
                "snapshot",
                "Redis round trip",
                "restore",
                "first frame",
                "same frame, not moved",
            ],
            rows,
        ),
        "",
        "A frame on the instance that holds the session also saves its snapshot to Redis "
        "(the snapshot and the Redis columns), so those are paid on every frame in a "
        "cluster, not only on a move.",
        "",
    ]
    text = "\n".join(lines)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
