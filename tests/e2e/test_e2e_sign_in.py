"""Sign-in end to end: Chromium's fake camera plays a simulated session into the
real page, against the real server (``veronica serve``, no light: a recording cannot
answer one) and its real engine.

Each test saves screenshots of the states it passes through in
``tests/e2e/screenshots/<test>/``, and every attempt's measured alignment of the
video with the server's script in ``tests/e2e/screenshots/timing.jsonl``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from e2e_support import (
    ATTACK_SPECIES,
    ATTACKS,
    ENROLLED,
    ENVIRONMENT_CHECKS,
    GENUINE,
    UNKNOWN,
    Outcome,
    Server,
    Shots,
    VideoCache,
    catalogue,
    describe_check,
    sign_in_decisively,
    state_selector,
    text_of,
)

from veronica.liveness.types import Action
from veronica.security.tokens import verify_result_token

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

logger = logging.getLogger(__name__)
MESSAGES = catalogue("en")


def test_enrolled_person_signs_in_and_the_token_verifies(
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    video = videos.get(GENUINE)
    outcome = sign_in_decisively(
        lambda: browser_for(video),
        server,
        shots_for=shots,
        record=record_outcome,
        username=ENROLLED,
        video=GENUINE,
    )
    assert outcome.state == "signed_in", outcome.describe()
    assert outcome.reason == "ok"
    assert outcome.title == MESSAGES["result.signed_in.title"]
    assert outcome.light_mode == "none"
    assert outcome.alignment is not None, "the stamped frame numbers were not read back"
    logger.info("alignment: %s", outcome.alignment.describe())
    record = server.audit(outcome.session_id) if outcome.session_id else None
    checks = record.event.checks if record is not None else ()
    logger.info(
        "recognition: %s", [describe_check(c) for c in checks if c.name.startswith("match")]
    )

    # The server withdrew a prompt once it had seen the response, and the page said
    # so; the next prompt replaced the words.
    page = outcome.page
    logger.info("instructions: %s; acknowledged %d", page.instructions, page.acknowledged)
    assert page.acknowledged >= 1, page
    done = MESSAGES["status.step_done"]
    assert done in page.instructions, page.instructions
    actions = {MESSAGES[f"action.{a.value}"] for a in Action}
    assert page.instructions[page.instructions.index(done) - 1] in actions, page.instructions

    # The result page: this tab's token, verified by the server, names the person.
    assert outcome.result_page_user == MESSAGES["resultpage.user"].format(username=ENROLLED)
    # And a relying site verifies the same token itself against the published keys.
    assert outcome.token
    # No return_to: the token is for this service's own result page (its origin).
    claims = verify_result_token(
        outcome.token, server.jwks(), issuer=server.url, audience=server.url
    )
    assert claims["sub"] == ENROLLED
    assert claims["purpose"] == "login"
    assert claims["jti"] == outcome.session_id
    assert claims["amr"] == ["face", "liveness"]
    assert {"challenge", "pad", "consistency", "match"} <= set(claims["checks"])
    assert "light" not in claims["checks"], "this server shows no light"


ATTACK_FAMILIES = {
    # What catches each species without the light in the simulated suite
    # (docs/LIVENESS.md): the refusal must come from one of these, not from a
    # starved machine's timing.
    "print_moving": ("challenge_", "pad"),
    "screen_replay_wrong": ("challenge_", "pad"),
    "frozen_frame": ("frozen_frames", "challenge_"),
}


@pytest.mark.parametrize("species", ATTACK_SPECIES)
def test_presentation_attacks_are_refused(
    species: str,
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    spec = ATTACKS[species]
    video = videos.get(spec)
    outcome = sign_in_decisively(
        lambda: browser_for(video),
        server,
        shots_for=shots,
        record=record_outcome,
        username=ENROLLED,
        video=spec,
    )
    # The API documents attacks as `liveness_failed` (the person was placed and the
    # checks ran); it never says which check failed.
    assert (outcome.state, outcome.reason) == ("refused", "liveness_failed"), outcome.describe()
    assert outcome.message == MESSAGES["reason.liveness_failed"]
    assert outcome.token is None
    caught_by = [
        name
        for name in outcome.failed_checks
        if name not in ENVIRONMENT_CHECKS and name.startswith(ATTACK_FAMILIES[species])
    ]
    assert caught_by, f"refused, but not by a check that catches {species}: {outcome.describe()}"


def test_unknown_person_is_not_recognized(
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    """A live person who is not enrolled, 1:N (no username): liveness passes,
    recognition does not."""
    video = videos.get(UNKNOWN)
    outcome = sign_in_decisively(
        lambda: browser_for(video),
        server,
        shots_for=shots,
        record=record_outcome,
        username=None,
        video=UNKNOWN,
    )
    assert (outcome.state, outcome.reason) == ("refused", "not_recognized"), outcome.describe()
    assert outcome.message == MESSAGES["reason.not_recognized"]
    assert outcome.token is None
    # Liveness passed; only the match did not (the audit has the score, the page never).
    assert outcome.failed_checks == ("match",), outcome.describe()


def test_camera_permission_denied_says_how_to_allow_it(
    server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
) -> None:
    """No fake permission UI and a context that grants nothing: the browser says no."""
    browser = browser_for(None, permission_ui=False)
    context = browser.new_context(viewport={"width": 900, "height": 1000}, permissions=[])
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_selector(state_selector("idle"), state="attached")
        page.click('[data-testid="start-button"]')
        page.wait_for_selector(state_selector("error", "positioning"), state="attached")
        folder = shots()
        folder.take(page, "camera-denied")
        assert page.evaluate("document.body.dataset.reason") == "camera_denied"
        assert text_of(page, "outcome-title") == MESSAGES["result.error.title"]
        assert text_of(page, "outcome-message") == MESSAGES["error.camera_denied"]
        assert page.locator('[data-testid="retry-button"]').is_visible()
    finally:
        context.close()
