"""A session that runs out of time, end to end: a server whose sessions live 10 s
(the settings' minimum) and a camera that never shows a face (Chromium's own test
pattern), so positioning (20 s limit, server clock) cannot end the session first;
the page keeps sending frames, so the idle limit does not either."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from e2e_support import (
    WAIT_MS,
    Server,
    Shots,
    catalogue,
    start_server,
    state_selector,
    text_of,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TTL_S = 10
MESSAGES = catalogue("en")


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("short-lived"),
        extra_env={"VERONICA_SESSION_TTL_S": str(TTL_S)},
    )
    try:
        yield server
    finally:
        server.stop()


def test_expired_session_says_start_again(
    short_lived: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
) -> None:
    browser = browser_for(None)
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        page = context.new_page()
        page.goto(short_lived.url + "/")
        page.wait_for_selector(state_selector("idle"), state="attached")
        page.click('[data-testid="start-button"]')
        page.wait_for_selector(state_selector("positioning"), state="attached", timeout=WAIT_MS)
        folder = shots()
        # The page shows "Place your face inside the oval." until the first frame's
        # answer arrives: wait for the state that answer sets, not for any text.
        page.wait_for_selector('body[data-hint="no_face"]', state="attached", timeout=WAIT_MS)
        assert text_of(page, "instruction") == MESSAGES["hint.no_face"]
        folder.take(page, "positioning-no-face")
        # The server ends the session at its TTL and says so in the last state; the
        # page's own timer (TTL + 3 s) is only a backstop with the same message.
        page.wait_for_selector(
            state_selector("refused", "error"), state="attached", timeout=WAIT_MS
        )
        data = page.evaluate("({...document.body.dataset})")
        folder.take(page, data["state"])
        assert (data["state"], data.get("reason")) == ("refused", "session_expired"), data
        assert text_of(page, "outcome-message") == MESSAGES["reason.session_expired"]
        assert page.locator('[data-testid="retry-button"]').is_visible()
    finally:
        context.close()
