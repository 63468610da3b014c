"""The capture page as a person sees it: the oval over the live video on a desktop
window (also the README's screenshot) and on a phone held upright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from e2e_support import ATTACKS, REPO, WAIT_MS, Server, Shots, VideoCache, state_selector

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README_SCREENSHOT = REPO / "docs" / "images" / "login.png"
UPDATE_SCREENSHOTS = "VERONICA_UPDATE_SCREENSHOTS"
"""Set to 1 to rewrite ``docs/images/login.png`` (kept otherwise: it is committed)."""
STILL = ATTACKS["frozen_frame"]
"""One frame of the simulated person, held: the page looks exactly as with a live
face while placed, and the picture carries no frame-number stamp."""
PHONE = {"width": 390, "height": 844}

OVAL_PIXELS = """
() => {
  const canvas = document.querySelector('[data-testid="oval"]');
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  const alpha = (x, y) => context.getImageData(Math.round(x), Math.round(y), 1, 1).data[3];
  return {
    width, height,
    centre: alpha(width * 0.5, height * 0.45),   // inside the oval: a clear hole
    corner: alpha(2, 2),                         // outside: dimmed
    painted: context.getImageData(0, 0, width, height).data
      .filter((v, i) => i % 4 === 3 && v > 0).length,
  };
}
"""


def open_placed(browser: Browser, server: Server, **context_options: Any) -> Page:
    """The sign-in page with the camera on and the face placed in the oval."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector(state_selector("idle"), state="attached")
    page.click('[data-testid="start-button"]')
    page.wait_for_selector('body[data-placed="true"]', state="attached", timeout=WAIT_MS)
    # Let the video element paint the newest frame and the oval its green.
    page.wait_for_function(
        "document.querySelector('[data-testid=\"video\"]').readyState >= 2", timeout=WAIT_MS
    )
    return page


def box(page: Page, test_id: str) -> dict[str, float]:
    found = page.locator(f'[data-testid="{test_id}"]').bounding_box()
    assert found is not None, f"{test_id} is not rendered"
    return {"x": found["x"], "y": found["y"], "width": found["width"], "height": found["height"]}


def test_desktop_sign_in_page_shows_the_oval(
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
) -> None:
    browser = browser_for(videos.get(STILL))
    page = open_placed(browser, server, viewport={"width": 900, "height": 800})
    try:
        shot = shots().take(page, "placed")
        oval = page.evaluate(OVAL_PIXELS)
        assert oval["painted"] > 0 and oval["centre"] == 0 and oval["corner"] > 0, oval
        if os.environ.get(UPDATE_SCREENSHOTS) == "1" or not README_SCREENSHOT.exists():
            README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, README_SCREENSHOT)
    finally:
        page.context.close()


def test_phone_portrait_shows_the_video_and_the_oval(
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
) -> None:
    browser = browser_for(videos.get(STILL))
    page = open_placed(
        browser,
        server,
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        shots().take(page, "phone-placed")
        video, oval, stage = box(page, "video"), box(page, "oval"), box(page, "stage")
        width, height = PHONE["width"], PHONE["height"]
        # The video fills the column and fits on the screen, no sideways scrolling.
        assert video["x"] >= 0 and video["x"] + video["width"] <= width, video
        assert video["width"] >= 0.8 * width, video
        assert video["y"] >= 0 and video["y"] + video["height"] <= height, video
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The oval's canvas lies exactly over the video, inside the stage.
        for key in ("x", "y", "width", "height"):
            assert abs(oval[key] - video[key]) <= 1, (oval, video)
            assert abs(stage[key] - video[key]) <= 1, (stage, video)
        # The camera plays at the server's frame size; the oval is drawn on it.
        playing = page.evaluate(
            "(() => { const v = document.querySelector('[data-testid=\"video\"]');"
            " return [v.videoWidth, v.videoHeight, v.paused]; })()"
        )
        assert playing == [640, 480, False]
        pixels = page.evaluate(OVAL_PIXELS)
        assert pixels["painted"] > 0 and pixels["centre"] == 0 and pixels["corner"] > 0, pixels
        # The instruction sits above the video, readable without scrolling.
        instruction = box(page, "instruction")
        assert instruction["y"] >= 0 and instruction["y"] + instruction["height"] <= video["y"]
    finally:
        page.context.close()
