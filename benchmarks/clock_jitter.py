"""How far an honest page's claimed capture clock strays from the server's clock.

The server binds each frame's claimed capture time to its own arrival time and
refuses a session whose offset (arrival − claimed) spreads by more than
``ClockLimits.max_drift_s`` (``liveness/clock.py``). This measures the spread the
real page produces: genuine simulated sessions in Debian's Chromium (fake camera
from ``veronica simulate``), the page's own stop-and-wait loop over its
WebSocket, against ``veronica serve`` (``VERONICA_LIGHT_CHALLENGE=off``: a
recording cannot answer a light), read back from each session's audit record
(the ``clock_drift`` check's value).

Three paths: loopback; and through a delaying TCP proxy in front of the server
that holds every chunk of each direction for a random delay (order kept), to
stand in for a LAN/Wi-Fi (5 ± 5 ms each way) and a broadband/4G path
(40 ± 20 ms each way). The proxy works above TCP; real networks also lose
packets, which adds retransmission stalls this does not model.

    .venv/bin/python benchmarks/clock_jitter.py --runs 4 --out benchmarks/CLOCK_RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from web_common import REPO, load_average, machine_info, table, use_e2e_harness

use_e2e_harness()

from e2e_support import (  # noqa: E402 (the harness is on the path from here on)
    CHALLENGE_SEED,
    ENROLLED,
    ENROLLMENT_PHOTO,
    GENUINE,
    Server,
    VideoCache,
    describe_script,
    free_port,
    launch,
    running_server,
    sign_in,
)

from veronica.liveness.clock import ClockLimits  # noqa: E402
from veronica.simulation.scripts import server_script  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

VIDEO_CACHE = REPO / ".pytest_cache" / "d" / "veronica-e2e-videos"


@dataclass(frozen=True)
class NetworkPath:
    name: str
    delay_ms: float
    """Mean one-way delay the proxy adds (0: no proxy)."""
    jitter_ms: float
    """Half-width of the uniform spread around it."""


PATHS = (
    NetworkPath("loopback", 0.0, 0.0),
    NetworkPath("LAN / Wi-Fi (emulated)", 5.0, 5.0),
    NetworkPath("broadband / 4G (emulated)", 40.0, 20.0),
)


class DelayProxy:
    """TCP proxy on 127.0.0.1 that delays each chunk per direction, keeping order."""

    def __init__(
        self, port: int, target_port: int, delay_ms: float, jitter_ms: float, seed: int
    ) -> None:
        self.port = port
        self.target_port = target_port
        self.delay_s = delay_ms / 1000.0
        self.jitter_s = jitter_ms / 1000.0
        self.rng = random.Random(seed)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DelayProxy:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shut() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(shut()))
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:
            # Shutting down (``__exit__``): end as a finished task, which asyncio's
            # stream callback would otherwise log with a traceback per connection.
            return

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        release = 0.0
        try:
            while data := await reader.read(65536):
                now = self.loop.time()
                delay = max(0.0, self.delay_s + self.rng.uniform(-self.jitter_s, self.jitter_s))
                release = max(release, now + delay)  # a later chunk never overtakes
                await asyncio.sleep(release - now)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@dataclass(frozen=True)
class Sample:
    path: str
    state: str
    reason: str | None
    failed: tuple[str, ...]
    spread_s: float | None
    max_gap_s: float | None


def measure(
    playwright: Playwright, server: Server, video: Path, path: NetworkPath, port: int, run: int
) -> Sample:
    """One sign-in over ``path`` (through a proxy on ``port`` unless loopback)."""
    browser = launch(playwright, video)
    try:
        if path.delay_ms == 0:
            outcome = sign_in(browser, server, shots=None, username=ENROLLED)
        else:
            target = int(server.url.rsplit(":", 1)[1])
            with DelayProxy(port, target, path.delay_ms, path.jitter_ms, run):
                via = replace(server, url=f"http://127.0.0.1:{port}")
                outcome = sign_in(browser, via, shots=None, username=ENROLLED)
    finally:
        browser.close()
    record = server.audit(outcome.session_id) if outcome.session_id else None
    checks = {c.name: c for c in (record.event.checks if record else ())}
    spread = checks["clock_drift"].value if "clock_drift" in checks else None
    gap = checks["timing"].value if "timing" in checks else None
    return Sample(path.name, outcome.state, outcome.reason, outcome.failed_checks, spread, gap)


def summary(samples: list[Sample]) -> list[list[str]]:
    rows = []
    for path in PATHS:
        mine = [s for s in samples if s.path == path.name]
        spreads = [s.spread_s for s in mine if s.spread_s is not None]
        gaps = [s.max_gap_s for s in mine if s.max_gap_s is not None]
        signed = sum(s.state == "signed_in" for s in mine)
        rows.append(
            [
                path.name,
                f"{len(mine)}",
                f"{signed}",
                f"{statistics.median(spreads):.3f}" if spreads else "–",
                f"{max(spreads):.3f}" if spreads else "–",
                f"{max(gaps):.3f}" if gaps else "–",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="sessions per path")
    parser.add_argument("--out", type=Path, help="write the results (Markdown) here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        videos = VideoCache(VIDEO_CACHE if VIDEO_CACHE.parent.exists() else Path(tmp) / "videos")
        videos.prefetch([GENUINE])
        # The page's origin is the proxy's: the server must allow it on its WebSocket.
        ports = [free_port() for _ in PATHS]
        origins = json.dumps([f"http://127.0.0.1:{p}" for p in ports])
        # The harness's server shows no light (VERONICA_LIGHT_CHALLENGE=off): the
        # recorded video follows that script.
        with running_server(
            Path(tmp) / "server", extra_env={"VERONICA_ALLOWED_ORIGINS": origins}
        ) as base:
            base.create_user(ENROLLED, [ENROLLMENT_PHOTO])
            videos.wait_all()
            video = videos.get(GENUINE)
            samples: list[Sample] = []
            with sync_playwright() as playwright:
                for run in range(args.runs):
                    for path, port in zip(PATHS, ports, strict=True):
                        sample = measure(playwright, base, video, path, port, run)
                        print(sample, file=sys.stderr)
                        samples.append(sample)
        videos.close()
    limit = ClockLimits().max_drift_s
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join([".venv/bin/python", "benchmarks/clock_jitter.py", *sys.argv[1:]])
    machine = machine_info()
    lines = [
        "# Clock binding: how far an honest page's claimed clock strays",
        "",
        f"Written by `benchmarks/clock_jitter.py` on {when}. Command: `{command}`.",
        f"Machine: {machine['CPU']}, {machine['nproc']} cores, {machine['Chromium']}; "
        f"load average at the end {load_average()}.",
        "",
        "Genuine simulated sessions (the E2E genuine video) through the real page in "
        "Chromium, its stop-and-wait WebSocket loop, against `veronica serve` "
        f"(`VERONICA_LIGHT_CHALLENGE=off`; challenge seed {CHALLENGE_SEED}: "
        f"{describe_script(server_script(CHALLENGE_SEED, light=False))}). Spread = "
        "the largest minus the smallest (arrival − claimed capture time) over a session, "
        "from its audit record; the limit is "
        f"`ClockLimits.max_drift_s` = {limit} s. The emulated paths go through a TCP proxy "
        "that delays each chunk per direction (no packet loss modelled).",
        "",
        *table(
            [
                "path",
                "sessions",
                "signed in",
                "median spread (s)",
                "max spread (s)",
                "max frame gap (s)",
            ],
            summary(samples),
        ),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
