"""Sign in with Veronica, end to end: the example relying site
(``examples/relying_party/app.py``, Authlib's OpenID Connect client) in a
subprocess, Veronica (``veronica serve``) as its OpenID Provider, and Debian's
Chromium between them, its fake camera playing a simulated session.

The site → ``/oidc/authorize`` → Veronica's sign-in page naming the site → the
face login → ``/oidc/authorize/finish`` → the site's ``/callback`` (code, token,
ID token verified by Authlib against the JWKS) → the site shows who signed in; a
refused face login or a cancel comes back as ``access_denied``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from e2e_support import (
    ATTACKS,
    DECIDED,
    ENROLLED,
    ENVIRONMENT_CHECKS,
    GENUINE,
    MAX_ATTEMPTS,
    RECORDER,
    REPO,
    WAIT_MS,
    NavigationGate,
    Outcome,
    Server,
    Shots,
    VideoCache,
    VideoSpec,
    body_data,
    catalogue,
    describe_check,
    failed_checks,
    free_port,
    measure_alignment,
    page_timeline,
    session_id_of,
    state_selector,
    text_of,
)

from server_support import log_tail, stop_process
from veronica.storage import TemplateCipher, make_engine
from veronica.storage.store import TemplateStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

logger = logging.getLogger(__name__)

APP = REPO / "examples" / "relying_party" / "app.py"
SITE_NAME = "Example site"
SITE_READY_S = 60.0
SITE_STATES = ("signed_out", "signed_in", "denied", "error")
ATTACK = "print_moving"
"""Refused by the action challenge (``test_e2e_sign_in``)."""
MESSAGES = catalogue("en")


@dataclass
class RelyingSite:
    url: str
    client_id: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log_path, chars)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture(scope="module")
def site(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelyingSite]:
    """The example site on a free loopback port, registered with the e2e server as a
    confidential client (as a site owner would: the admin API, then the app)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registered = httpx.post(
        f"{server.url}/api/v1/admin/clients",
        headers=server.admin_headers,
        json={"name": SITE_NAME, "redirect_uris": [f"{url}/callback"], "confidential": True},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    log_path = tmp_path_factory.mktemp("relying-site") / "site.log"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("OIDC_", "SITE_"))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(APP),
                # ``--name=value``: a random id or secret may start with "-".
                f"--issuer={server.url}",
                f"--client-id={client['client_id']}",
                f"--client-secret={client['client_secret']}",
                f"--port={port}",
            ],
            env=env,
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RelyingSite(url, client["client_id"], process, log_path)
    try:
        _wait_ready(running)
        yield running
    finally:
        running.stop()


def _wait_ready(site: RelyingSite) -> None:
    deadline = time.monotonic() + SITE_READY_S
    while time.monotonic() < deadline:
        if site.process.poll() is not None:
            raise RuntimeError(
                f"the example site exited ({site.process.returncode}):\n{site.log_tail()}"
            )
        try:
            if httpx.get(f"{site.url}/", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the example site did not answer in {SITE_READY_S:.0f} s")


# -- one sign-in at the site -------------------------------------------------------------


@dataclass(frozen=True)
class SiteOutcome:
    """One attempt: what Veronica's page decided, then what the site showed."""

    veronica: Outcome
    site_state: str
    """``body[data-rp-state]`` of the site's page at the end: signed_in, denied, …"""
    site_user: str | None = None
    site_sub: str | None = None
    site_url: str = ""

    def describe(self) -> str:
        return (
            f"veronica: {self.veronica.describe()}; site: state={self.site_state} "
            f"user={self.site_user!r} sub={self.site_sub!r} url={self.site_url}"
        )


def _site_selector(*states: str) -> str:
    return ", ".join(f'body[data-rp-state="{s}"]' for s in states)


def _open_veronica(page: Page, site: RelyingSite, server: Server, shots: Shots) -> None:
    """The site's sign-in link → Veronica's sign-in page, which names the site."""
    page.goto(f"{site.url}/")
    page.wait_for_selector(_site_selector("signed_out"), state="attached", timeout=WAIT_MS)
    shots.take(page, "site-signed-out")
    page.click('[data-testid="rp-sign-in"]')
    page.wait_for_selector(
        'body[data-oidc="ready"], body[data-oidc="invalid"]', state="attached", timeout=WAIT_MS
    )
    assert page.url.startswith(f"{server.url}/?oidc="), page.url
    assert body_data(page).get("oidc") == "ready", text_of(page, "outcome-message")
    asks = MESSAGES["oidc.asks"].format(site=SITE_NAME, host=site.url.removeprefix("http://"))
    assert text_of(page, "oidc-client-name") == asks
    page.wait_for_selector(state_selector("idle"), state="attached", timeout=WAIT_MS)


def sign_in_at_site(
    browser: Browser,
    site: RelyingSite,
    server: Server,
    *,
    video: VideoSpec,
    shots: Shots,
) -> SiteOutcome:
    """From the site's home page through Veronica's face login and back to the site."""
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        context.add_init_script(RECORDER)
        page = context.new_page()
        gate = NavigationGate()
        page.route("**/oidc/authorize/finish*", gate.hold)
        _open_veronica(page, site, server, shots)
        page.fill('[data-testid="username-input"]', ENROLLED)
        shots.take(page, "veronica-idle")
        page.click('[data-testid="start-button"]')
        page.wait_for_selector(state_selector(*DECIDED), state="attached", timeout=WAIT_MS)
        shots.take(page, "veronica-decided")
        data = body_data(page)
        state = data.get("state", "")
        session_id = session_id_of(page)
        title, message = text_of(page, "outcome-title"), text_of(page, "outcome-message")
        alignment = (
            measure_alignment(page, video.positioning_s, video.fps) if video.stamped else None
        )
        timeline = page_timeline(page)
        gate.release()  # the page now goes back to the site by itself
        site_state, user, sub = "", None, None
        if state in ("signed_in", "refused"):  # an error stays on Veronica's page
            page.wait_for_selector(
                _site_selector(*SITE_STATES[1:]), state="attached", timeout=WAIT_MS
            )
            shots.take(page, "site-after")
            site_state = body_data(page).get("rpState", "")
            if site_state == "signed_in":
                user, sub = text_of(page, "rp-name"), text_of(page, "rp-sub")
        record = server.audit(session_id) if session_id else None
        failed = failed_checks(record)
        veronica = Outcome(
            state=state,
            reason=data.get("reason"),
            title=title,
            message=message,
            session_id=session_id,
            failed_checks=tuple(c.name for c in failed),
            failures=tuple(describe_check(c) for c in failed),
            alignment=alignment,
            audit_reason=record.event.reason if record else None,
            seconds_to_decision=timeline.get(state, float("nan")) / 1000.0,
            timeline=timeline,
            screenshots=tuple(shots.taken),
        )
        return SiteOutcome(veronica, site_state, user, sub, page.url)
    finally:
        context.close()


def sign_in_at_site_decisively(
    launch_browser: Callable[[], Browser],
    site: RelyingSite,
    server: Server,
    *,
    video: VideoSpec,
    shots_for: Callable[[int], Shots],
    record: Callable[[Outcome], None],
) -> SiteOutcome:
    """``sign_in_at_site`` (each attempt a fresh authorization from the site) until
    the outcome says something about the product: a refusal whose only failed
    checks are ENVIRONMENT_CHECKS (a starved machine) is tried again."""
    outcome: SiteOutcome | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        browser = launch_browser()
        try:
            outcome = sign_in_at_site(browser, site, server, video=video, shots=shots_for(attempt))
        finally:
            browser.close()
        logger.info("attempt %d: %s", attempt, outcome.describe())
        record(outcome.veronica)
        if not outcome.veronica.environment_only:
            return outcome
        logger.warning(
            "attempt %d refused only for frame timing (the machine starved the server); again",
            attempt,
        )
    assert outcome is not None
    return outcome


def _subject(server: Server, username: str) -> str:
    engine = make_engine(f"sqlite:///{server.data_dir / 'veronica.db'}")
    try:
        store = TemplateStore(engine, TemplateCipher.from_setting(server.template_key))
        user = store.get_user(username)
        assert user is not None
        return user.subject
    finally:
        engine.dispose()


# -- the tests ---------------------------------------------------------------------------


def _run(
    spec: VideoSpec,
    *,
    site: RelyingSite,
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> SiteOutcome:
    video = videos.get(spec)
    return sign_in_at_site_decisively(
        lambda: browser_for(video),
        site,
        server,
        video=spec,
        shots_for=shots,
        record=record_outcome,
    )


def test_enrolled_person_signs_in_to_the_site(
    site: RelyingSite,
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    outcome = _run(
        GENUINE,
        site=site,
        server=server,
        videos=videos,
        browser_for=browser_for,
        shots=shots,
        record_outcome=record_outcome,
    )
    assert (outcome.veronica.state, outcome.veronica.reason) == ("signed_in", "ok"), (
        outcome.describe()
    )
    # Back at the site, which redeemed the code and verified the ID token (Authlib).
    assert outcome.site_state == "signed_in", outcome.describe()
    assert outcome.site_url == f"{site.url}/", outcome.describe()
    assert outcome.site_user == ENROLLED  # the ID token's `name` (scope profile)
    # `sub` is the user's stable random subject, never the name.
    assert outcome.site_sub == _subject(server, ENROLLED)
    assert outcome.site_sub != ENROLLED


def test_presentation_attack_comes_back_as_access_denied(
    site: RelyingSite,
    server: Server,
    videos: VideoCache,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
    record_outcome: Callable[[Outcome], None],
) -> None:
    outcome = _run(
        ATTACKS[ATTACK],
        site=site,
        server=server,
        videos=videos,
        browser_for=browser_for,
        shots=shots,
        record_outcome=record_outcome,
    )
    assert (outcome.veronica.state, outcome.veronica.reason) == ("refused", "liveness_failed"), (
        outcome.describe()
    )
    caught_by = [c for c in outcome.veronica.failed_checks if c not in ENVIRONMENT_CHECKS]
    assert caught_by, f"refused only for the machine's timing: {outcome.describe()}"
    assert outcome.site_state == "denied", outcome.describe()
    assert outcome.site_url.startswith(f"{site.url}/callback?"), outcome.describe()
    assert "error=access_denied" in outcome.site_url


def test_cancel_comes_back_as_access_denied(
    site: RelyingSite,
    server: Server,
    browser_for: Callable[..., Browser],
    shots: Callable[..., Shots],
) -> None:
    """The person goes back to the site without a face login."""
    browser = browser_for(None)
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    try:
        page = context.new_page()
        folder = shots()
        _open_veronica(page, site, server, folder)
        page.click('[data-testid="oidc-cancel"]')
        page.wait_for_selector(_site_selector(*SITE_STATES[1:]), state="attached", timeout=WAIT_MS)
        folder.take(page, "site-denied")
        assert body_data(page).get("rpState") == "denied", page.url
        assert page.url.startswith(f"{site.url}/callback?"), page.url
        assert "error=access_denied" in page.url
        # The site still offers to sign in again.
        assert page.locator('[data-testid="rp-sign-in"]').is_visible()
    finally:
        context.close()
