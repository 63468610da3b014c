"""Simulated session videos on disk: ``.mp4`` (OpenCV, mp4v) or ``.y4m``
(YUV4MPEG2 4:2:0, what Chromium's fake camera reads), plus the timeline as
JSON next to the video (``video.mp4.json``) so a consumer knows the actions
and light colours. Every file is labelled simulated."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from numpy.typing import NDArray

from veronica.errors import BadInputError
from veronica.liveness.types import SessionScript
from veronica.simulation.actors import Actor
from veronica.simulation.attacks import SPECIES, make_actor
from veronica.simulation.camera import HEIGHT, WIDTH
from veronica.simulation.scripts import Timeline, random_script, server_script

Y4M_HEADER = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 Ip A1:1 C420jpeg\n"
TAIL_S = 1.0
"""Video after the last step, so a late reaction is still on tape."""


def frames(
    actor: Actor, timeline: Timeline, duration_s: float, fps: float
) -> Iterator[NDArray[np.uint8]]:
    """The actor's frames at ``fps`` while the page follows ``timeline``."""
    for i in range(math.ceil(duration_s * fps)):
        t = i / fps
        action, light = timeline.at(t)
        yield actor.frame(t, action, light)


def write_video(
    actor: Actor,
    duration_s: float,
    fps: float,
    path: Path,
    timeline: Timeline | None = None,
) -> int:
    """Write ``duration_s`` seconds of ``actor`` to ``path`` (.mp4 or .y4m, by
    suffix) while the page follows ``timeline`` (default: no actions, no light).
    Returns the number of frames written."""
    line = timeline or Timeline(_empty_script(), positioning_s=duration_s)
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".y4m"):
        raise BadInputError(f"unsupported video type {suffix!r}: use .mp4 or .y4m")
    stream = frames(actor, line, duration_s, fps)
    count = _write_y4m(stream, fps, path) if suffix == ".y4m" else _write_mp4(stream, fps, path)
    return count


def simulate_to_file(
    species: str,
    seed: int,
    out_path: Path,
    duration_s: float | None = None,
    fps: int = 30,
    photos: Sequence[Path] | None = None,
    challenge_seed: int | None = None,
    light: bool = True,
    positioning_s: float | None = None,
) -> Path:
    """Simulate one session of ``species`` ("genuine" or one of ``SPECIES``);
    writes the video and ``<video>.json`` (the timeline). Returns the JSON path.

    The script is random from ``seed``, or, with ``challenge_seed``, exactly the
    one a server whose challenge seed is fixed (test environment) will ask for —
    so a browser's fake camera can play a session that follows it.
    ``positioning_s`` is the video time before the script starts."""
    if species != "genuine" and species not in SPECIES:
        raise BadInputError(
            f"unknown species {species!r}; expected genuine or {', '.join(SPECIES)}"
        )
    if challenge_seed is not None:
        script = server_script(challenge_seed, light)
    else:
        script = random_script(np.random.default_rng([seed, 23]), light=light)
    timeline = Timeline(script) if positioning_s is None else Timeline(script, positioning_s)
    actor = make_actor(species, script, seed, photos, timeline.positioning_s)
    duration = duration_s if duration_s is not None else timeline.end_s + TAIL_S
    count = write_video(actor, duration, fps, out_path, timeline)
    meta = out_path.with_name(out_path.name + ".json")
    meta.write_text(
        timeline.to_json(species=species, seed=seed, fps=fps, frames=count, duration_s=duration),
        encoding="utf-8",
    )
    return meta


def _empty_script() -> SessionScript:
    return SessionScript(challenges=(), light=())


def _write_mp4(stream: Iterator[NDArray[np.uint8]], fps: float, path: Path) -> int:
    fourcc = cv2.VideoWriter.fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, float(fps), (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"cannot open {path} for writing")
    count = 0
    try:
        for frame in stream:
            writer.write(frame)
            count += 1
    finally:
        writer.release()
    return count


def _write_y4m(stream: Iterator[NDArray[np.uint8]], fps: float, path: Path) -> int:
    header = Y4M_HEADER.replace("F30:1", f"F{round(fps)}:1")
    count = 0
    with path.open("wb") as out:
        out.write(header.encode("ascii"))
        for frame in stream:
            _write_y4m_frame(out, frame)
            count += 1
    return count


def _write_y4m_frame(out: BinaryIO, bgr: NDArray[np.uint8]) -> None:
    """``FRAME`` then the Y, U, V planes (I420: U and V at half resolution)."""
    out.write(b"FRAME\n")
    out.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
