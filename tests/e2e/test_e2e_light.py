"""The page's lights end to end, answered by a camera the harness injects
(``light_camera.py``): the simulated head, rendered at every camera tick lit by what
the page's light overlay emits at that moment, delivered 2 frames late. The server
runs with ``VERONICA_LIGHT_CHALLENGE=optional``: a person who keeps the page's
default gets the light challenge (flashing colours, as everyone does under the
server's default ``required``), one who ticks the photosensitivity opt-out the
gentle light (tints of one brightness gliding into each other, the overlay fading
in and out).

The light challenge: a genuine person signs in; the same head lit by colours that
do not follow the page (the page's own colours 0.6 s late, or another session's
colours) is refused by a light check. The gentle light: a genuine person signs in
and the overlay was never cut in or out; the same head lit by a plain grey while
the tints glide (a recording made elsewhere) is refused by a light check.
Screenshots in ``tests/e2e/screenshots/<test>/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_support import (
    ENROLLED,
    ENROLLMENT_PHOTO,
    ENVIRONMENT_CHECKS,
    VIDEO_SEED,
    Outcome,
    Server,
    Shots,
    catalogue,
    describe_script,
    face,
    running_server,
    sign_in,
    sign_in_decisively,
)
from light_camera import (
    LIGHT_CHALLENGE_SEED,
    InjectedCamera,
    LateLight,
    LightSource,
    PageLight,
    ReplayedLight,
    SteadyLight,
    unrelated_replay,
)

from veronica.liveness.challenges import GENTLE_GREY
from veronica.liveness.policy import LightMode
from veronica.liveness.types import RGB
from veronica.security.tokens import verify_result_token
from veronica.simulation.scripts import server_script

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

logger = logging.getLogger(__name__)
MESSAGES = catalogue("en")
PHOTO = face("obama", 2)
"""The camera shows a head built from another photo than the enrolled one."""
DELAY_FRAMES = 2
"""Mid-range of a webcam's 1–3 frames (``benchmarks/light_lag.py`` draws among them)."""
SCRIPT = server_script(LIGHT_CHALLENGE_SEED, light=True)
"""What the server asks with the light challenge (see ``LIGHT_CHALLENGE_SEED`` for
why that seed); the benchmark ``benchmarks/light_lag.py`` keeps random scripts."""
GENTLE_SCRIPT = server_script(LIGHT_CHALLENGE_SEED, LightMode.GENTLE)
"""What the same server asks someone who opted out."""
LATE_S = 0.6
"""The page's colours this late: beyond the light lag limit even with the camera's
own delay at 0."""
REPLAY_SEEDS = range(100, 1000)
"""Where another session's colours are drawn from: the first whose chroma
correlation with this server's, at lags within the limit, stays below 0.02 for any
start offset from −0.3 to +0.5 s and frame intervals of 60–100 ms (a model of skin
tinted by the page: ``light_camera.replay_correlation``), so the refusal does not
hang on timing. How often random replays pass is the simulated suite's number
(docs/LIVENESS.md), not this test's."""


def replayed_light() -> LightSource:
    seed = unrelated_replay(SCRIPT, REPLAY_SEEDS)
    logger.info("replaying the colours of challenge seed %d", seed)
    return ReplayedLight(server_script(seed, light=True).light)


ATTACK_LIGHT: dict[str, Callable[[], LightSource]] = {
    "late": lambda: LateLight(LATE_S),
    "replayed": replayed_light,
}


@pytest.fixture(scope="module")
def light_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``veronica serve`` where the opt-out is offered (``optional``), the fixed
    challenge seed ``LIGHT_CHALLENGE_SEED``, one enrolled user. A session that keeps
    the page's default is a session under the default ``required``: the light
    challenge (one server for both lights keeps the suite short)."""
    with running_server(
        tmp_path_factory.mktemp("light-server"),
        challenge_seed=LIGHT_CHALLENGE_SEED,
        extra_env={"VERONICA_LIGHT_CHALLENGE": "optional"},
    ) as server:
        server.create_user(ENROLLED, [ENROLLMENT_PHOTO])
        config = httpx.get(f"{server.url}/api/v1/auth/config", timeout=10).json()
        assert config == {"light_challenge": "optional"}
        yield server


class Cameras:
    """A fresh injected camera for each browser context (each attempt)."""

    def __init__(self, light: Callable[[], LightSource]) -> None:
        self.light = light
        self.made: list[InjectedCamera] = []

    def install(self, context: BrowserContext) -> None:
        camera = InjectedCamera(PHOTO, VIDEO_SEED, delay_frames=DELAY_FRAMES, light=self.light())
        self.made.append(camera)
        camera.install(context)

    @property
    def last(self) -> InjectedCamera:
        return self.made[-1]


def followed(seen: list[RGB], script: list[RGB]) -> bool:
    """``seen`` is the script's colours in order, at most one missing (a starved
    camera may render no frame during one colour; the server then sees the face
    lit by the others)."""
    rest = iter(script)
    in_order = all(rgb in rest for rgb in seen)  # ``in`` consumes: a subsequence
    return in_order and len(seen) >= len(script) - 1


def light_checks(server: Server, outcome: Outcome) -> dict[str, tuple[float, bool, str]]:
    """The session's light checks from the audit log: name → (value, passed, detail)."""
    assert outcome.session_id, outcome.describe()
    record = server.audit(outcome.session_id)
    assert record is not None, f"no audit event for session {outcome.session_id}"
    return {
        c.name: (c.value, c.passed, c.detail)
        for c in record.event.checks
        if c.name.startswith("light_")
    }


def test_genuine_person_answers_the_light_challenge(
    light_server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    # Fewer colours leave too few lit frames on a starved machine (LIGHT_CHALLENGE_SEED).
    assert len(SCRIPT.light) >= 6, f"choose another LIGHT_CHALLENGE_SEED: {SCRIPT.light}"
    logger.info("the server asks: %s", describe_script(SCRIPT))
    outcome, camera = sign_in_lit_by_the_page(
        light_server, browser_for, shots, record_outcome, opt_out=False
    )
    assert outcome.light_mode == "flash"
    assert outcome.result_page_user == MESSAGES["resultpage.user"].format(username=ENROLLED)

    # The camera saw the page's colours in the server's order: the head was lit by the
    # page itself, not by a script the harness knows. (A starved camera may render no
    # frame during one colour; the server then sees the face lit by the others.)
    seen = [rgb for _, rgb in camera.light_changes() if rgb is not None]
    assert followed(seen, [step.rgb for step in SCRIPT.light]), camera.light_changes()
    # Cut in and out: never part-way through a fade.
    assert camera.fading() == 0 and outcome.page.overlay_faded == 0, outcome.page
    assert_token_lists_the_light(light_server, outcome)


def sign_in_lit_by_the_page(
    server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
    *,
    opt_out: bool,
) -> tuple[Outcome, InjectedCamera]:
    """The enrolled person signs in, the injected camera's head lit by whatever the
    page shows; both light checks must have run and passed."""
    cameras = Cameras(PageLight)
    outcome = sign_in_decisively(
        lambda: browser_for(None),
        server,
        shots_for=shots,
        record=record_outcome,
        username=ENROLLED,
        opt_out=opt_out,
        prepare=cameras.install,
    )
    camera = cameras.last
    checks = light_checks(server, outcome)
    logger.info("%s; light checks %s; page %s", camera.summary(), checks, outcome.page)
    assert outcome.state == "signed_in", f"{outcome.describe()}; {checks}; {camera.summary()}"
    assert outcome.reason == "ok"
    assert all(checks[name][1] for name in ("light_challenge", "light_lag")), checks
    return outcome, camera


def assert_token_lists_the_light(server: Server, outcome: Outcome) -> None:
    """The result token says the light challenge ran and passed."""
    assert outcome.token
    claims = verify_result_token(
        outcome.token, server.jwks(), issuer=server.url, audience=server.url
    )
    assert claims["sub"] == ENROLLED
    assert {"challenge", "light", "pad", "consistency", "match"} <= set(claims["checks"])


@pytest.mark.parametrize("attack", list(ATTACK_LIGHT))
def test_head_lit_by_other_colours_is_refused(
    attack: str,
    light_server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    """The same live head, following the actions, lit by colours that do not follow
    the page. One attempt: a refusal is the expected outcome, and a retry could only
    hide a light check that let it through."""
    cameras = Cameras(ATTACK_LIGHT[attack])
    outcome = sign_in(
        browser_for(None),
        light_server,
        shots=shots(),
        username=ENROLLED,
        prepare=cameras.install,
    )
    record_outcome(outcome)
    checks = light_checks(light_server, outcome)
    logger.info("%s: %s; light checks %s", attack, cameras.last.summary(), checks)
    assert (outcome.state, outcome.reason) == ("refused", "liveness_failed"), (
        f"{outcome.describe()}; {checks}"
    )
    assert outcome.light_mode == "flash"
    assert_refused_by_the_light(outcome, checks)


def assert_refused_by_the_light(
    outcome: Outcome, checks: dict[str, tuple[float, bool, str]]
) -> None:
    assert outcome.message == MESSAGES["reason.liveness_failed"]
    assert outcome.audit_reason == "liveness_failed"
    assert outcome.token is None
    light_failed = [name for name in outcome.failed_checks if name.startswith("light_")]
    assert light_failed, f"refused, but by no light check: {outcome.describe()}; {checks}"
    # Only the light gives it away (a starved machine may add the frame timing).
    others = set(outcome.failed_checks) - set(light_failed) - ENVIRONMENT_CHECKS
    assert not others, outcome.describe()


# -- the gentle light (the photosensitivity opt-out) -------------------------------------


def test_opted_out_person_signs_in_under_the_gentle_light(
    light_server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    """The opt-out ticked: the tints glide (the server mixes each into the next) and
    the overlay fades in and out; the head lit by what the screen emits follows
    them, so the light checks pass and the token lists the light."""
    logger.info("the server asks: %s", describe_script(GENTLE_SCRIPT))
    outcome, camera = sign_in_lit_by_the_page(
        light_server, browser_for, shots, record_outcome, opt_out=True
    )
    assert outcome.light_mode == "gentle"

    # The page showed the server's tints, in order, between greys (and in between
    # them, the glides: colours that are none of the script's).
    script = [step.rgb for step in GENTLE_SCRIPT.light]
    assert script[0] == script[-1] == GENTLE_GREY
    held = [tick.page for tick in camera.ticks if tick.page in script]
    seen = [rgb for i, rgb in enumerate(held) if i == 0 or rgb != held[i - 1]]
    assert followed(seen, script), seen
    assert any(tick.page is not None and tick.page not in script for tick in camera.ticks)

    # Never cut: the overlay faded in to full and out to nothing (opacity
    # transitions that ran to their end), was shown once and hidden only after
    # the decision, and was seen part-way through a fade (by the page's own
    # sampling or by the camera that lit the head).
    page = outcome.page
    assert page.faded_to() == ["1", "0"], page.overlay_transitions
    assert page.overlay_hidden == (True, False, True), page.overlay_hidden
    assert page.overlay_faded + camera.fading() > 0, (page, camera.summary())

    # This person reacts to the page: once the server had seen a response the
    # prompt went and the page said "Good."
    assert page.acknowledged >= 1 and MESSAGES["status.step_done"] in page.instructions, page
    assert_token_lists_the_light(light_server, outcome)


def test_gentle_light_replayed_under_a_plain_grey_is_refused(
    light_server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    """The same live head, following the actions, lit by a plain grey of the tints'
    brightness while the page's tints glide: nothing in the skin follows them. One
    attempt, as for the colours."""
    cameras = Cameras(lambda: SteadyLight(GENTLE_GREY))
    outcome = sign_in(
        browser_for(None),
        light_server,
        shots=shots(),
        username=ENROLLED,
        opt_out=True,
        prepare=cameras.install,
    )
    record_outcome(outcome)
    checks = light_checks(light_server, outcome)
    logger.info("plain grey: %s; light checks %s", cameras.last.summary(), checks)
    assert (outcome.state, outcome.reason) == ("refused", "liveness_failed"), (
        f"{outcome.describe()}; {checks}"
    )
    assert outcome.light_mode == "gentle"
    assert_refused_by_the_light(outcome, checks)
