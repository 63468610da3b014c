"""The pages in a real browser (Debian's chromium, driven by Playwright) against
a scripted stand-in for the sessions API: the state machine, the WebSocket
framing and its HTTP fallback, the light overlay, i18n, and the error pages.

The stand-in answers each frame with the next state of a fixed script, so the
page's behaviour is checked without the face engine (the end-to-end test runs
the real one). The real security headers are on, so a CSP violation shows.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.websockets import WebSocketDisconnect
from web_support import web_app

from support import unavailable
from veronica.security.headers import SecurityHeadersMiddleware
from veronica.web import STATIC_DIR

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
]
CSRF = "csrf-123"
TOKEN = "header.claims.signature"
WAIT_MS = 20_000
OVAL = {"cx": 0.5, "cy": 0.45, "rx": 0.22, "ry": 0.36}


def state(phase: str = "positioning", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "state",
        "seq": 0,
        "phase": phase,
        "action": None,
        "light": None,
        "hints": [],
        "placed": False,
        "progress": 0.0,
        "acknowledged": 0,
        "result": None,
    }
    body.update(fields)
    return body


def decided(
    status: str, reason: str, username: str | None = None, redirect: str | None = None
) -> dict[str, Any]:
    token = TOKEN if status == "signed_in" else None
    result = {"status": status, "reason": reason, "username": username, "token": token}
    if redirect is not None:
        result["redirect"] = redirect
    return state("decided", progress=1.0, result=result)


SIGN_IN = [
    state(hints=["move_closer", "more_light"]),
    state(placed=True, progress=0.0),
    state("challenge", light="#ff0000", progress=0.2),
    state("challenge", action="turn_left", progress=0.6),
    decided("signed_in", "ok", "alice"),
]
LIGHT_STEP = 2
GENTLE_GREY, GENTLE_TINT = "#868686", "#ed00ed"
GENTLE = [
    state(placed=True),
    state("challenge", light=GENTLE_GREY, progress=0.05),
    state("challenge", light=GENTLE_TINT, progress=0.1),
    state("challenge", progress=0.2),
    state("challenge", action="turn_left", progress=0.3),
    # The server saw the turn: the prompt is withdrawn for the rest of its window.
    state("challenge", progress=0.4, acknowledged=1),
    state("challenge", progress=0.5, acknowledged=1),
    state("challenge", action="look_up", progress=0.6, acknowledged=1),
    decided("signed_in", "ok", "erin"),
]
"""An opted-out session (gentle light, then two actions) as the server states it."""
GENTLE_TINT_STEP, GENTLE_OFF_STEP, ACKNOWLEDGED_STEP = 2, 3, 6


@dataclass
class Frame:
    transport: str
    time_ms: float
    jpeg: bytes


@dataclass
class FakeAuthApi:
    """Stands in for /api/v1/auth: one session whose states follow ``script``.

    ``hold_at``: the script stays on each of these states until ``release(index)``.
    """

    script: list[dict[str, Any]]
    websocket: bool = True
    ws_breaks_after: int | None = None
    """Close the socket abnormally (1011) after this many answers."""
    create_error: tuple[int, str] | None = None
    light_policy: str = "optional"
    """What ``GET /api/v1/auth/config`` says (the page offers the opt-out only
    under ``optional``)."""
    expires_in_s: float = 180.0
    hold_at: tuple[int, ...] = ()
    released: set[int] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    ws_connections: int = 0
    position: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_state(self) -> dict[str, Any]:
        with self.lock:
            index = min(self.position, len(self.script) - 1)
            if index not in self.hold_at or index in self.released:
                self.position += 1
            return {**self.script[index], "seq": self.position}

    def release(self, index: int) -> None:
        """Let the script go on past the held state ``index``."""
        with self.lock:
            self.released.add(index)

    def app(self) -> FastAPI:
        app = web_app()
        app.add_middleware(SecurityHeadersMiddleware, production=False)
        base = "/api/v1/auth/sessions/s1"

        @app.get("/api/v1/auth/config")
        async def config() -> dict[str, str]:
            return {"light_challenge": self.light_policy}

        @app.post("/api/v1/auth/sessions")
        async def create(request: Request) -> JSONResponse:
            self.requests.append(await request.json())
            if self.create_error is not None:
                status, code = self.create_error
                return JSONResponse({"error": {"code": code, "message": code}}, status)
            expires = time.time() + self.expires_in_s
            asked = self.requests[-1]
            # As the service decides it (``SessionManager.light_for``).
            light = {"off": "none", "optional": "flash", "required": "flash"}[self.light_policy]
            if self.light_policy == "optional" and asked.get("light") is False:
                light = "gentle"
            body = {
                "session_id": "s1",
                "csrf_token": CSRF,
                "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
                "purpose": "enroll" if asked.get("enrollment_token") else "login",
                "light_challenge": light == "flash",
                "light": light,
                "oval": OVAL,
                "state": state(),
                "stream_url": f"{base}/stream",
                "frames_url": f"{base}/frames",
                "limits": {"max_frame_bytes": 300_000, "max_fps": 20, "width": 640,
                           "jpeg_quality": 0.8},
            }  # fmt: skip
            response = JSONResponse(body, 201)
            response.set_cookie("veronica_session", "secret", path="/api/v1/auth", httponly=True)
            return response

        @app.websocket(f"{base}/stream")
        async def stream(websocket: WebSocket) -> None:
            if not self.websocket:
                await websocket.close(code=1008)  # refused during the handshake
                return
            await websocket.accept()
            self.ws_connections += 1
            hello = json.loads(await websocket.receive_text())
            if hello != {"type": "hello", "csrf_token": CSRF}:
                await websocket.close(code=1008, reason="csrf_invalid")
                return
            answered = 0
            while True:
                try:
                    data = await websocket.receive_bytes()
                except WebSocketDisconnect:
                    return
                (time_ms,) = struct.unpack("<d", data[:8])
                self.frames.append(Frame("websocket", time_ms, data[8:]))
                answer = self.next_state()
                await websocket.send_text(json.dumps(answer))
                answered += 1
                if answer["phase"] == "decided":
                    await websocket.close(code=1000)
                    return
                if self.ws_breaks_after is not None and answered >= self.ws_breaks_after:
                    await websocket.close(code=1011)
                    return

        @app.post(f"{base}/frames")
        async def frames(request: Request) -> JSONResponse:
            if request.headers.get("x-csrf-token") != CSRF:
                return JSONResponse({"error": {"code": "csrf_invalid", "message": "x"}}, 403)
            assert request.headers["content-type"] == "image/jpeg"
            time_ms = float(request.headers["x-frame-time"])
            self.frames.append(Frame("http", time_ms, await request.body()))
            return JSONResponse(self.next_state())

        @app.post("/api/v1/auth/tokens/verify")
        async def verify(request: Request) -> dict[str, Any]:
            token = (await request.json())["token"]
            if token != TOKEN:
                return {"valid": False, "reason": "bad signature"}
            return {"valid": True, "username": "alice", "exp": int(time.time()) + 120}

        return app


@dataclass
class Served:
    api: FakeAuthApi
    url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(api)`` runs the stand-in on a free port for the test's duration."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(api: FakeAuthApi) -> Served:
        port = free_port()
        config = uvicorn.Config(api.app(), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        while not server.started:
            if not thread.is_alive():
                pytest.fail("the test server did not start")
            time.sleep(0.02)
        return Served(api, f"http://127.0.0.1:{port}")

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


RECORDER = """
document.addEventListener('DOMContentLoaded', () => {
  const names = ['data-state', 'data-light', 'data-transport', 'data-reason'];
  const body = document.body;
  window.veronicaSeen(`page=${body.dataset.page}`);
  new MutationObserver((records) => {
    records.forEach((record, i) => {
      const name = record.attributeName;
      const next = records.slice(i + 1).find((r) => r.attributeName === name);
      const value = next ? next.oldValue : body.getAttribute(name);
      if (value !== null) window.veronicaSeen(`${name}=${value}`);
    });
  }).observe(body, { attributes: true, attributeOldValue: true, attributeFilter: names });
});
"""
"""Reports every value the body's test attributes take, across navigations."""


@dataclass
class Visit:
    page: Any
    seen: list[str]
    problems: list[str]
    """Uncaught exceptions and CSP violations."""

    def states(self) -> list[str]:
        return [s.removeprefix("data-state=") for s in self.seen if s.startswith("data-state=")]

    def wait_state(self, value: str, reason: str | None = None) -> None:
        selector = f'body[data-state="{value}"]'
        if reason is not None:
            selector += f'[data-reason="{reason}"]'
        self.page.wait_for_selector(selector, state="attached", timeout=WAIT_MS)

    def text(self, test_id: str) -> str:
        text: str = self.page.locator(f'[data-testid="{test_id}"]').inner_text()
        return text


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    """``visit(url, camera=True, ready="idle")``: a fresh browser context (own
    storage) on ``url``, once the page has reached the ``ready`` state."""
    contexts: list[Any] = []

    def open_page(url: str, *, camera: bool = True, ready: str | None = "idle") -> Visit:
        context = browser.new_context(viewport={"width": 800, "height": 900})
        contexts.append(context)
        if camera:
            context.grant_permissions(["camera"])
        seen: list[str] = []
        problems: list[str] = []
        context.expose_function("veronicaSeen", lambda value: seen.append(value))
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.goto(url)
        result = Visit(page, seen, problems)
        if ready is not None:
            result.wait_state(ready)
        return result

    yield open_page
    for context in contexts:
        context.close()


def in_order(seen: list[str], expected: list[str]) -> bool:
    """``expected`` is a subsequence of ``seen``."""
    rest = iter(seen)
    return all(any(item == s for s in rest) for item in expected)


def test_sign_in_over_the_websocket(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi(SIGN_IN, hold_at=(LIGHT_STEP,)))
    v = visit(f"{served.url}/?username=alice")
    assert v.page.input_value('[data-testid="username-input"]') == "alice"
    assert v.text("start-button") == "Start"
    v.page.click('[data-testid="start-button"]')

    # The light step holds until the screen is checked: red all around the oval.
    v.page.wait_for_selector('body[data-light="#ff0000"]', state="attached", timeout=WAIT_MS)
    assert v.text("instruction") == "Hold still while the colours change."
    screenshot = Image.open(io.BytesIO(v.page.screenshot())).convert("RGB")
    assert screenshot.getpixel((4, 4)) == (255, 0, 0)
    assert screenshot.getpixel((screenshot.width - 4, screenshot.height - 4)) == (255, 0, 0)
    box = v.page.locator('[data-testid="stage"]').bounding_box()
    centre = (int(box["x"] + box["width"] * 0.5), int(box["y"] + box["height"] * 0.45))
    assert screenshot.getpixel(centre) != (255, 0, 0), "the face stays visible in the oval"
    assert v.page.get_attribute("body", "data-light-mode") == "flash"
    served.api.release(LIGHT_STEP)

    v.page.wait_for_url("**/result", timeout=WAIT_MS)
    v.wait_state("signed_in")
    assert v.text("result-username") == "You are signed in as alice."
    assert "valid until" in v.text("result-expiry")

    assert served.api.requests == [{"username": "alice", "enrollment_token": None}]
    assert in_order(
        v.states(),
        ["idle", "camera", "session", "positioning", "challenge", "signed_in", "verifying"],
    )
    assert v.states()[-1] == "signed_in"
    assert "data-transport=websocket" in v.seen and "data-light=#ff0000" in v.seen
    frames = served.api.frames
    assert {f.transport for f in frames} == {"websocket"} and served.api.ws_connections == 1
    assert all(f.jpeg[:2] == b"\xff\xd8" for f in frames), "JPEG after the 8-byte time"
    assert [f.time_ms for f in frames] == sorted(f.time_ms for f in frames)
    assert Image.open(io.BytesIO(frames[0].jpeg)).width <= 640
    assert v.problems == []


OVERLAY_WATCH = """
() => {
  const overlay = document.querySelector('[data-testid="light-overlay"]');
  const seen = { transitions: [], hidden: [], instructions: [] };
  window.overlaySeen = seen;
  for (const type of ['transitionrun', 'transitionend']) {
    overlay.addEventListener(type, (event) => {
      seen.transitions.push([type, event.propertyName, getComputedStyle(overlay).opacity]);
    });
  }
  seen.hidden.push(overlay.hidden);
  new MutationObserver(() => {
    if (overlay.hidden !== seen.hidden.at(-1)) seen.hidden.push(overlay.hidden);
  }).observe(overlay, {
    attributes: true,
    attributeFilter: ['hidden'],
  });
  const instruction = document.querySelector('[data-testid="instruction"]');
  new MutationObserver(() => {
    const text = instruction.textContent;
    if (text && text !== seen.instructions.at(-1)) seen.instructions.push(text);
  }).observe(instruction, { childList: true, characterData: true, subtree: true });
}
"""
"""Records the overlay's opacity transitions, its ``hidden`` changes and every
instruction shown, from the moment it runs."""
OVERLAY = '[data-testid="light-overlay"]'
OPACITY = f"getComputedStyle(document.querySelector('{OVERLAY}')).opacity"
"""The overlay's opacity now (mid-transition: the animated value)."""
MESSAGES: dict[str, str] = json.loads((STATIC_DIR / "messages" / "en.json").read_text("utf-8"))


def test_gentle_light_fades_and_a_seen_step_says_good(serve: Any, visit: Any) -> None:
    """An opted-out person gets the gentle light: the overlay is never cut in or
    out (it fades, ``data-on``), with its own instruction; once the server has seen
    a step's response it withdraws the prompt and the page says "Good." until the
    next prompt."""
    served = serve(FakeAuthApi(GENTLE, hold_at=(GENTLE_TINT_STEP, ACKNOWLEDGED_STEP)))
    v = visit(f"{served.url}/?username=erin")
    v.page.wait_for_selector('body[data-light-policy="optional"]', state="attached")
    v.page.check('[data-testid="no-flash"]')
    v.page.evaluate(OVERLAY_WATCH)
    held: list[Any] = []  # the result page waits until the record is read
    v.page.route("**/result*", lambda route: held.append(route))
    with v.page.expect_websocket() as opened:
        v.page.click('[data-testid="start-button"]')
    socket = opened.value

    # The tint, held: faded in fully, all around the oval.
    v.page.wait_for_selector(f'body[data-light="{GENTLE_TINT}"]', state="attached")
    assert v.page.get_attribute("body", "data-light-mode") == "gentle"
    assert v.page.get_attribute(OVERLAY, "data-on") == "true"
    assert "gentle" in (v.page.get_attribute(OVERLAY, "class") or "").split()
    v.page.wait_for_function(f"() => {OPACITY} === '1'", timeout=WAIT_MS)
    assert v.text("instruction") == MESSAGES["status.gentle_light"]
    screenshot = Image.open(io.BytesIO(v.page.screenshot())).convert("RGB")
    assert screenshot.getpixel((4, 4)) == (0xED, 0x00, 0xED)
    served.api.release(GENTLE_TINT_STEP)

    # The light over: the overlay fades out and stays in the page, transparent.
    v.page.wait_for_selector(
        'body[data-acknowledged="1"]:not([data-light])', state="attached", timeout=WAIT_MS
    )
    v.page.wait_for_function(f"() => {OPACITY} === '0'", timeout=WAIT_MS)
    assert v.page.get_attribute(OVERLAY, "data-on") == "false"
    assert v.page.get_attribute(OVERLAY, "hidden") is None, "faded out, not hidden"
    # The withdrawn prompt: "Good." stays while the server repeats that state.
    for _ in range(3):
        socket.wait_for_event("framereceived", timeout=WAIT_MS)
    assert v.text("instruction") == MESSAGES["status.step_done"]
    assert v.page.get_attribute("body", "data-action") is None
    served.api.release(ACKNOWLEDGED_STEP)

    v.wait_state("signed_in", "ok")
    seen = v.page.evaluate("window.overlaySeen")
    for route in held:
        route.continue_()
    v.page.unroute("**/result*")
    # Faded in to 1 and out to 0 (transitions, not cuts); shown once at the
    # session's start and hidden only at its end, never in between.
    ends = [opacity for kind, name, opacity in seen["transitions"] if kind == "transitionend"]
    assert ends == ["1", "0"], seen["transitions"]
    assert seen["hidden"] == [True, False, True]
    # "Good." came after the turn and stayed until the next prompt.
    texts = seen["instructions"]
    good = texts.index(MESSAGES["status.step_done"])
    assert texts[good - 1 : good + 2] == [
        MESSAGES["action.turn_left"],
        MESSAGES["status.step_done"],
        MESSAGES["action.look_up"],
    ], texts
    assert served.api.requests[0]["light"] is False
    assert v.problems == []


def test_http_fallback_opt_out_of_colours_and_french(serve: Any, visit: Any) -> None:
    script = [state(hints=["look_straight"]), decided("refused", "not_recognized")]
    served = serve(FakeAuthApi(script, websocket=False))
    v = visit(f"{served.url}/?lang=fr")
    assert v.page.get_attribute("html", "lang") == "fr"
    assert v.text("start-button") == "Commencer"
    assert v.page.title() == "Connexion – Veronica"
    v.page.wait_for_selector('body[data-light-policy="optional"]', state="attached")
    v.page.check('[data-testid="no-flash"]')
    v.page.click('[data-testid="start-button"]')

    v.wait_state("refused", "not_recognized")
    assert v.text("outcome-message") == "Votre visage n'a pas été reconnu."
    assert v.page.is_visible('[data-testid="retry-button"]')
    assert served.api.requests[0]["light"] is False
    assert {f.transport for f in served.api.frames} == {"http"}
    assert "data-transport=http" in v.seen

    v.page.click('[data-testid="back-button"]')
    v.wait_state("idle")
    v.page.reload()
    v.wait_state("idle")
    assert v.page.is_checked('[data-testid="no-flash"]'), "the choice is remembered"
    assert v.problems == []


@pytest.mark.parametrize("policy", ["required", "off"])
def test_no_opt_out_is_offered_unless_the_service_allows_it(
    serve: Any, visit: Any, policy: str
) -> None:
    """Under ``required`` the page cannot switch the colours off (and a client that
    sends ``light: false`` anyway is refused by the server: tests/api); under
    ``off`` it does not warn about colours that never show."""
    served = serve(
        FakeAuthApi([state(), decided("refused", "not_recognized")], light_policy=policy)
    )
    v = visit(f"{served.url}/")
    v.page.wait_for_selector(f'body[data-light-policy="{policy}"]', state="attached")
    assert not v.page.is_visible('[data-testid="no-flash"]')
    assert v.page.is_visible('[data-testid="flash-warning"]') is (policy == "required")
    v.page.click('[data-testid="start-button"]')
    v.wait_state("refused", "not_recognized")
    assert "light" not in served.api.requests[0]  # the service's own policy applies
    assert v.problems == []


def test_return_to_follows_the_servers_redirect(serve: Any, visit: Any) -> None:
    api = FakeAuthApi([])
    served = serve(api)
    target = f"{served.url}/static/icons/favicon.svg#token={TOKEN}"
    api.script[:] = [state(), decided("signed_in", "ok", "dave", redirect=target)]
    v = visit(f"{served.url}/?return_to=https%3A%2F%2Frelying.example%2Fdone")
    v.page.click('[data-testid="start-button"]')
    v.page.wait_for_url(target, timeout=WAIT_MS)
    assert api.requests[0]["return_to"] == "https://relying.example/done"


def test_one_reconnect_then_http(serve: Any, visit: Any) -> None:
    script = [state(), state(), state(), state(), state(), decided("signed_in", "ok", "bob")]
    served = serve(FakeAuthApi(script, ws_breaks_after=1))
    v = visit(served.url)
    v.page.click('[data-testid="start-button"]')
    v.wait_state("signed_in")
    assert served.api.ws_connections == 2, "one reconnect after an abnormal close"
    transports = [f.transport for f in served.api.frames]
    assert transports[:2] == ["websocket", "websocket"] and transports[-1] == "http"
    assert v.text("outcome-message") == "Welcome, bob."


def test_enroll_through_a_link(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi([state(), decided("enrolled", "ok", "carol")]))
    v = visit(f"{served.url}/enroll?token=link-abc")
    assert v.page.url == f"{served.url}/enroll", "the one-time token leaves the address bar"
    v.page.click('[data-testid="start-button"]')
    v.wait_state("enrolled", "ok")
    assert served.api.requests[0]["enrollment_token"] == "link-abc"
    assert v.page.is_visible('[data-testid="signin-link"]')
    assert v.problems == []


def test_enroll_link_without_token(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi([state()]))
    v = visit(f"{served.url}/enroll", ready="error")
    assert v.page.get_attribute("body", "data-reason") == "enrollment_link_invalid"
    assert "not valid" in v.text("outcome-message")
    assert not v.page.is_visible('[data-testid="retry-button"]')


def test_camera_permission_denied_is_explained(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi([state()]))
    v = visit(served.url, camera=False)
    v.page.click('[data-testid="start-button"]')
    v.wait_state("error", "camera_denied")
    assert v.text("outcome-title") == "Something went wrong"
    assert v.text("outcome-message").startswith("Camera access is blocked.")
    assert v.page.is_visible('[data-testid="retry-button"]')
    assert served.api.requests == [], "no session without a camera"


def test_server_refusing_a_session(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi([state()], create_error=(503, "busy")))
    v = visit(served.url)
    v.page.click('[data-testid="start-button"]')
    v.wait_state("error", "busy")
    assert v.text("outcome-message") == "The service is busy. Try again in a moment."


def test_session_expiry_stops_the_page(serve: Any, visit: Any) -> None:
    # expires_at and the Date header have whole seconds, so a 1 s TTL left the page
    # 0-2 s (+3 s grace): on a loaded machine the first frame's answer could come
    # after the page's own timer. 3 s leaves the answer room; the test waits for it.
    served = serve(FakeAuthApi([state(hints=["no_face"])], expires_in_s=3.0, hold_at=(0,)))
    v = visit(served.url)
    v.page.click('[data-testid="start-button"]')
    # "Place your face inside the oval." shows until the first frame's answer
    # arrives: wait for the state that answer sets, not for the positioning state.
    v.page.wait_for_selector(
        'body[data-state="positioning"][data-hint="no_face"]', state="attached", timeout=WAIT_MS
    )
    assert v.text("instruction") == "No face found. Look at the camera."
    v.wait_state("error", "session_expired")
    assert v.page.is_visible('[data-testid="retry-button"]')


def test_result_page_without_a_sign_in(serve: Any, visit: Any) -> None:
    served = serve(FakeAuthApi([state()]))
    v = visit(f"{served.url}/result", ready="signed_out")
    assert v.text("result-status") == "No one is signed in on this tab."
    v.page.evaluate("sessionStorage.setItem('veronica.result_token', 'forged')")
    v.page.reload()
    v.wait_state("error", "token_invalid")
    assert v.page.evaluate("sessionStorage.getItem('veronica.result_token')") is None
