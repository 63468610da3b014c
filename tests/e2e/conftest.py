"""Fixtures of the end-to-end tests: Chromium (Debian's, driven by Playwright), the
simulated camera videos (rendered once, kept in pytest's cache), and the real
server with one enrolled person. See ``e2e_support`` for how the videos line up
with the server's challenge script."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from e2e_support import (
    ALL_VIDEOS,
    CHROMIUM,
    ENROLLED,
    ENROLLMENT_PHOTO,
    Outcome,
    Server,
    Shots,
    VideoCache,
    launch,
    start_server,
)

from support import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    """The screenshots and timings of this run only (the folder is git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path in SCREENSHOTS.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif path.name != ".gitignore":
            path.unlink()


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> None:
    """Before anything starts: without the browser there is nothing to test (a skip
    locally, a failure with CI=true)."""
    if shutil.which(str(CHROMIUM)) is None:
        unavailable(f"{CHROMIUM} is not installed (scripts/system-deps.sh installs it)")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Per module, so it never overlaps another suite's own Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def videos(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VideoCache]:
    """Every video of the suite, rendered in the background from the first use on
    (they take ~10 s each; the cache keeps them while the simulator is unchanged)."""
    cache = getattr(request.config, "cache", None)
    root = (
        cache.mkdir("veronica-e2e-videos")
        if cache is not None
        else tmp_path_factory.mktemp("videos")
    )
    videos = VideoCache(Path(root))
    videos.prefetch(ALL_VIDEOS)
    yield videos
    videos.close()
    videos.prune()


@pytest.fixture(scope="session")
def server(videos: VideoCache, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service as deployed (``veronica serve``), test environment, fixed
    challenge seed, one enrolled user. The videos render while the engine loads,
    and are all ready before any session runs."""
    running = start_server(tmp_path_factory.mktemp("server"))
    try:
        running.create_user(ENROLLED, [ENROLLMENT_PHOTO])
        videos.wait_all()
        yield running
    finally:
        running.stop()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[..., Shots]:
    """``shots(attempt=1)``: a fresh folder of screenshots for this test (and attempt)."""

    def folder(attempt: int = 1) -> Shots:
        name = request.node.name.replace("[", "-").replace("]", "")
        suffix = "" if attempt == 1 else f"-attempt{attempt}"
        return Shots(SCREENSHOTS / f"{name}{suffix}")

    return folder


@pytest.fixture
def browser_for(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
    """``browser_for(video, permission_ui=True)``: a Chromium whose fake camera plays
    ``video``; closed after the test."""
    launched: list[Browser] = []

    def start(video: Path | None, *, permission_ui: bool = True) -> Browser:
        browser = launch(playwright, video, permission_ui=permission_ui)
        launched.append(browser)
        return browser

    yield start
    for browser in launched:
        if browser.is_connected():
            browser.close()


@pytest.fixture
def record_outcome(request: pytest.FixtureRequest) -> Callable[[Outcome], None]:
    """Append an attempt's outcome and measured alignment to ``screenshots/timing.jsonl``."""

    def write(outcome: Outcome) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        alignment = outcome.alignment
        line = {
            "test": request.node.nodeid,
            "state": outcome.state,
            "reason": outcome.reason,
            "failed_checks": list(outcome.failed_checks),
            "seconds_to_decision": round(outcome.seconds_to_decision, 3),
            "offset_s": None if alignment is None else round(alignment.offset_s, 3),
            "alignment": None if alignment is None else alignment.describe(),
        }
        with (SCREENSHOTS / "timing.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    return write
