"""The attacker harness: hostile clients against a running server's real HTTP and
WebSocket API, one attack per security claim of the sign-in protocol.

Every attacker is simulated (``simulation.hostile``: heads rendered from photos,
never a recording of a person) and every report says so. An attack runs
``tries`` times; a try is *accepted* when the attacker got what it wanted (a
token for the victim, the victim locked out, a limit dodged …); otherwise the
server's deciding answer (a result reason, or an HTTP status and error code)
says how it was stopped. A try the harness could not set up (a server busy with
other tries, an own sign-in the attack needs refused) is *inconclusive*, never counted as
stopped. ``genuine_control`` is the bona fide control (the victim signing in
honestly from another photo than the enrolled one, BPCER-style), not an attack.
A *residual* probe (``fast_relay``) measures an attack the protocol does not
claim to stop; it is reported apart and never counted as a broken claim.

Clients act as distinct machines: on loopback every 127.x.y.z address is the
local host, so each simulated client binds a source address of its own (a fresh
one per try, so a lockout earned by one try never stops the next; the lockout
attacks pick their addresses on purpose). Each try that signs a victim in uses a
victim user of its own, enrolled through the admin API for that try (1:1 sign-in),
so a per-user lockout earned by one try cannot stop another either.

Clients behave like the page unless the attack says otherwise: stop-and-wait
(the next frame after the previous answer), about 10 frames/s, the steps and
colours followed as each answer reveals them, capture times from a clock with an
arbitrary origin (``performance.now()``).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import select
import socket
import ssl
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
from numpy.typing import NDArray
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from veronica.errors import VeronicaError
from veronica.evaluation.intervals import clopper_pearson
from veronica.liveness.types import RGB, Action
from veronica.simulation.actors import Actor, GenuineActor, default_photos, load_head
from veronica.simulation.attacks import print_actor
from veronica.simulation.head import HeadModel
from veronica.simulation.hostile import (
    DelayedRelay,
    EmptyRoom,
    NoFaceDuringLight,
    NoisyFrozenActor,
    ProxyActor,
    ProxySchedule,
)

logger = logging.getLogger(__name__)

COOKIE = "veronica_session"
SESSIONS_PATH = "/api/v1/auth/sessions"
ADMIN_USERS_PATH = "/api/v1/admin/users"
JPEG_QUALITY = 80
"""The page encodes at quality 0.8."""
FPS = 10.0
"""The page's pace (10–15 frames/s)."""
CONTROL = "genuine_control"

SLOW_RELAY_DELAY_S = 1.0
SLOW_CLOCK_RATE = 0.6
"""Claimed seconds per real second. The relay's 1 s plus the victim's own 0.3–0.7 s
reaction read as 0.8–1.0 s of reaction on the claimed clock, inside a 2.5 s step
window, and 1 s of relay delay shrinks to 0.6 s."""
SLOW_CLOCK_FPS = 15.0
"""Real frames/s of the slow-clock relay, so its slowed clock still claims 9 frames/s
(the old server refused a stream under 5 frames/s); under the 20 frames/s limit."""
FAST_CLOCK_RATE = 2.0
OFFLINE_STEP_S = 0.1
OFFLINE_RENDER_S = (1.0, 1.4)
"""Real seconds the offline renderer takes per frame: a session of ~120 frames then
lasts 120–170 s, under the default 180 s session TTL, so the TTL is not what
stops it."""
LATE_RELAY_S = (0.5, 1.0)
"""Delays of the relay the light lag must refuse: from the lag limit
(``LightLimits.max_lag_s``) up. A relay adds its delay to the victim's own lag
(simulated genuine lags 0.14–0.49 s, docs/results/pad_suite_required.jsonl), so one
this late lags ≥ 0.6 s whatever the victim's webcam. A shorter delay overlaps with
slow webcams on lag alone: ``FAST_RELAY_S``."""
FAST_RELAY_S = (0.1, 0.5)
"""Delays of the residual probe: a real-time relay of the victim (a phishing proxy)
adds about a network round trip, which no lag limit genuine users pass can tell
from a slower webcam (docs/SECURITY.md, "Residual risk: a real-time relay of the
victim")."""
PROXY_SCHEDULES = (
    ProxySchedule(2, 0),
    ProxySchedule(3, 0),
    ProxySchedule(5, 0),
    ProxySchedule(10, 0),
    ProxySchedule(old_sampling=True),
    ProxySchedule(2, 1),
    ProxySchedule(3, 2),
    ProxySchedule(5, 3),
    ProxySchedule(10, 7),
)
"""Cycled over the tries; the first five cover every k and the old sampling.
``5, 0`` shows the victim on every frame the old server could embed (a superset
of ``old_sampling``, which shows it only on those of them where the client saw
no step and no colour)."""
FROZEN_SIGMAS = (1.0, 2.0, 3.0)
CLOCK_JUMP_S = 60.0
"""The cheapest way to end a session: a face-less frame, then one claiming to be
this much later (past the 20 s positioning timeout of the old server; a
server-clock server sees the claimed clock run away from its own)."""
ABANDON_WAIT_S = 6.0
"""An abandoned session is left this long before the next one ("a few seconds"
without a frame ends it on a server that reaps idle sessions)."""
HOARD_ATTEMPTS = 40
HOARD_REFUSALS = 3
"""Hoarding stops after this many refusals in a row."""
TRICKLE_S = 1.0
BUSY_RETRIES = 6
BUSY_WAIT_S = 2.0
"""A try that meets ``503 busy`` (other tries hold the slots) waits at most this long
(or the server's shorter ``Retry-After``) and tries again, ``BUSY_RETRIES`` times."""
GENUINE_RETRIES = 3
"""A person refused ``busy`` tries again a few times before giving up."""
OVERSIZED_BYTES = 1_000_000
METRICS_METHODS = 50
TRUSTED_PEER = "127.0.0.1"
"""The address uvicorn trusts ``X-Forwarded-For`` from by default (a proxy on the same
host): the first ``spoofed_forwarded_for`` try comes from it."""
SESSION_LIMIT_S = 200.0
"""A session the server has not decided after this long (its TTL is 180 s by
default) is given up as a harness failure."""

LightPolicy = Literal["avoid", "on", "off"]
"""``avoid``: ask for no light challenge and take it only if the server insists (an
attacker takes every advantage it is given); ``on``: the page's default; ``off``:
only without (no fallback)."""


# -- errors ------------------------------------------------------------------------------


class AdversaryInputError(VeronicaError):
    """A bad server URL, attack name or option."""

    code = "bad_input"
    status = 400


class ServerUnreachableError(VeronicaError):
    code = "server_unreachable"
    status = 400


class AdminKeyRejectedError(VeronicaError):
    code = "admin_key_invalid"
    status = 401


class HarnessSetupError(VeronicaError):
    """The server refused what the harness needs (enrolling its simulated people)."""

    code = "harness_setup_failed"
    status = 502


# -- the people --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """The simulated people of a run, from the project's fixture photos: each
    enrolled person is enrolled from one photo and simulated from another."""

    victim: tuple[Path, Path]
    """(enrolled from, simulated from)."""
    attacker: tuple[Path, Path]
    """The attacker's own account (``success_clears_address_counter``)."""
    accomplice: Path
    """The live person of the proxy attack; never enrolled."""
    lock_victim: tuple[Path, Path]
    """The user a stranger tries to lock out (another person than the victim)."""


def fixture_cast() -> Cast:
    """The cast from ``tests/data/faces`` (MIT-licensed fixture photos)."""
    photos = {(p.parent.name, p.name): p for p in default_photos()}

    def photo(person: str, n: int) -> Path:
        found = photos.get((person, f"{n}.jpg"))
        if found is None:
            raise HarnessSetupError(f"fixture photo {person}/{n}.jpg not found")
        return found

    return Cast(
        victim=(photo("obama", 1), photo("obama", 2)),
        attacker=(photo("alex_lacamoire", 1), photo("alex_lacamoire", 2)),
        accomplice=photo("biden", 2),
        lock_victim=(photo("rose_leslie", 1), photo("rose_leslie", 2)),
    )


@dataclass(frozen=True)
class Heads:
    victim: HeadModel
    attacker: HeadModel
    accomplice: HeadModel
    lock_victim: HeadModel

    @classmethod
    def load(cls, cast: Cast) -> Heads:
        return cls(
            victim=load_head(cast.victim[1]),
            attacker=load_head(cast.attacker[1]),
            accomplice=load_head(cast.accomplice),
            lock_victim=load_head(cast.lock_victim[1]),
        )


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one try came to."""

    accepted: bool
    answer: str
    """The server's deciding answer: a result reason (``clock_drift``) or an HTTP
    status and code (``429 too_many_sessions``)."""
    detail: str = ""
    inconclusive: bool = False


@dataclass(frozen=True, order=True)
class TryRecord:
    attack: str
    index: int
    seed: int
    accepted: bool
    answer: str
    detail: str
    inconclusive: bool
    seconds: float

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed": self.seed,
            "accepted": self.accepted,
            "inconclusive": self.inconclusive,
            "answer": self.answer,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class AttackResult:
    """One attack over its tries (or the control's sessions)."""

    name: str
    claim: str
    """The security claim the attack tries to break."""
    control: bool
    records: tuple[TryRecord, ...]
    residual: bool = False
    """A residual probe: measured, not claimed (never counted as a broken claim)."""

    @property
    def tries(self) -> int:
        return len(self.records)

    @property
    def accepted(self) -> int:
        """Tries in which the attacker got what it wanted (control: signed in)."""
        return sum(1 for r in self.records if r.accepted)

    @property
    def inconclusive(self) -> int:
        return sum(1 for r in self.records if r.inconclusive and not r.accepted)

    @property
    def conclusive(self) -> int:
        return self.tries - self.inconclusive

    @property
    def stopped(self) -> tuple[tuple[str, int], ...]:
        """How the server stopped the tries it stopped: answer → count, most first."""
        counts = Counter(r.answer for r in self.records if not r.accepted and not r.inconclusive)
        return tuple(counts.most_common())

    @property
    def accepted_answers(self) -> tuple[tuple[str, int], ...]:
        counts = Counter(r.answer for r in self.records if r.accepted)
        return tuple(counts.most_common())

    def rate_ci95(self) -> tuple[float, float] | None:
        """Clopper–Pearson 95 % interval of the accepted share of conclusive tries
        (attack: an APCER-like rate; control: the sign-in rate, 1 − BPCER)."""
        n = self.conclusive
        return clopper_pearson(self.accepted, n) if n else None

    def summary(self) -> str:
        """The "how it was stopped" cell: stopped answers, then accepted and
        inconclusive ones."""
        parts = [f"{answer} ×{n}" for answer, n in self.stopped]
        if self.accepted:
            label = "signed in" if self.control else "accepted" if self.residual else "ACCEPTED"
            shown = "; ".join(f"{a} ×{n}" for a, n in self.accepted_answers)
            details = sorted({r.detail.split(";")[0] for r in self.records if r.accepted})
            parts.append(f"{label}: {shown}" + (f" [{', '.join(details)}]" if details else ""))
        if self.inconclusive:
            unsure = Counter(r.answer for r in self.records if r.inconclusive and not r.accepted)
            parts.append("inconclusive: " + "; ".join(f"{a} ×{n}" for a, n in unsure.items()))
        return "; ".join(parts) or "-"

    def to_json_dict(self) -> dict[str, Any]:
        ci = self.rate_ci95()
        return {
            "name": self.name,
            "claim": self.claim,
            "control": self.control,
            "residual": self.residual,
            "tries": self.tries,
            "accepted": self.accepted,
            "inconclusive": self.inconclusive,
            "accepted_rate_ci95": None if ci is None else [round(ci[0], 4), round(ci[1], 4)],
            "stopped": dict(self.stopped),
            "accepted_answers": dict(self.accepted_answers),
            "records": [r.to_json_dict() for r in self.records],
        }


def _is_claim(result: AttackResult) -> bool:
    return not result.control and not result.residual


def _row_name(result: AttackResult) -> str:
    if result.control:
        return f"{result.name} (control)"
    return f"{result.name} (residual)" if result.residual else result.name


@dataclass(frozen=True)
class AdversaryReport:
    server: str
    seed: int
    tries: int
    concurrency: int
    started_at: str
    seconds: float
    results: tuple[AttackResult, ...]

    @property
    def attacks_accepted(self) -> int:
        """Accepted tries over all attacks (the control and residual probes excluded)."""
        return sum(r.accepted for r in self.results if _is_claim(r))

    @property
    def accepted_attacks(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if _is_claim(r) and r.accepted)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(attack, tries, accepted, how it was stopped) per attack; residual
        probes after the attacks, the control last."""
        ordered = (
            [r for r in self.results if _is_claim(r)]
            + [r for r in self.results if r.residual]
            + [r for r in self.results if r.control]
        )
        rows = []
        for result in ordered:
            name = _row_name(result)
            accepted = f"{result.accepted}/{result.conclusive}"
            ci = result.rate_ci95()
            if ci is not None:
                accepted += f" (95 % CI {100 * ci[0]:.0f}–{100 * ci[1]:.0f} %)"
            rows.append((name, str(result.tries), accepted, result.summary()))
        return rows

    def table(self) -> str:
        """The plain-text table."""
        header = ("attack", "tries", "accepted", "how it was stopped")
        rows = [header, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = []
        for n, row in enumerate(rows):
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join([*cells, row[3]]))
            if n == 0:
                lines.append("  ".join(["-" * w for w in widths] + ["-" * 18]))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A Markdown section with the table, for docs (``--markdown``)."""
        lines = [
            f"Simulated attackers against `{self.server}`, seed {self.seed}, "
            f"{self.tries} tries per attack (concurrency {self.concurrency}), "
            f"{self.started_at}, {self.seconds:.0f} s. Produced by "
            f"`veronica eval adversary --server URL --admin-key KEY --tries {self.tries} "
            f"--seed {self.seed}`. *Accepted* counts conclusive tries in which the attacker "
            "got what it wanted (control: the victim signed in); the interval is "
            "Clopper–Pearson 95 %. A *residual* row measures an attack the protocol "
            "does not claim to stop; it is not counted as a broken claim.",
            "",
            "| attack | claim | tries | accepted | how it was stopped |",
            "|---|---|---|---|---|",
        ]
        claims = {r.name: r.claim for r in self.results}
        for name, tries, accepted, stopped in self.rows():
            claim = claims.get(name.split(" (")[0], "")
            cells = (f"`{name}`", claim, tries, accepted, stopped)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "simulated": True,
            "note": "every attacker and the control are simulated heads rendered from photos",
            "server": self.server,
            "seed": self.seed,
            "tries": self.tries,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 1),
            "attacks_accepted": self.attacks_accepted,
            "results": [r.to_json_dict() for r in self.results],
        }


# -- the wire ----------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """``scheme://host[:port]`` of the server, or AdversaryInputError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdversaryInputError(f"not a server URL (http:// or https://host[:port]): {url!r}")
    try:
        _ = parts.port
    except ValueError as exc:
        raise AdversaryInputError(f"bad port in {url!r}") from exc
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise AdversaryInputError(f"give the server's origin only, without a path: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


class AddressPool:
    """Source addresses for simulated clients. Against a loopback server every
    127.x.y.z is this host, so each client gets its own; otherwise all share the
    machine's address (None)."""

    def __init__(self, loopback: bool, block: int) -> None:
        self.loopback = loopback
        self._block = block
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> str | None:
        if not self.loopback:
            return None
        with self._lock:
            n = self._next
            self._next += 1
        return f"127.{self._block}.{(n // 250) % 256}.{n % 250 + 2}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return isinstance(address, IPv4Address) and address.is_loopback


@dataclass(frozen=True)
class Refused:
    """A request the server refused (or the harness could not make: status 0)."""

    status: int
    code: str
    retry_after_s: float | None = None

    @property
    def answer(self) -> str:
        return self.code if self.status == 0 else f"{self.status} {self.code}"

    @property
    def harness(self) -> bool:
        return self.status == 0


def refused(response: httpx.Response) -> Refused:
    code = "-"
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code", "-"))
    except ValueError:
        pass
    retry: float | None = None
    with suppress(KeyError, ValueError):
        retry = float(response.headers["retry-after"])
    return Refused(response.status_code, code, retry)


@dataclass(frozen=True)
class Created:
    session_id: str
    csrf_token: str
    cookie: str
    frames_url: str
    stream_url: str
    light: bool
    """Whether the session has the light challenge (the server's ``light_challenge``
    when it says; otherwise what was asked)."""
    created_at: float
    """Monotonic time of creation (the trickle's honest clock)."""


class Client:
    """One simulated client machine: its own source address and no shared cookies."""

    def __init__(self, base: str, address: str | None, timeout_s: float) -> None:
        self.base = base
        self.address = address
        self.timeout_s = timeout_s
        transport = (
            httpx.HTTPTransport(local_address=address)
            if address is not None
            else httpx.HTTPTransport()
        )
        self.http = httpx.Client(
            base_url=base, transport=transport, timeout=timeout_s, trust_env=False
        )

    def close(self) -> None:
        self.http.close()

    def create(
        self,
        *,
        username: str | None = None,
        light: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Created | Refused:
        """``POST /api/v1/auth/sessions``."""
        body: dict[str, Any] = {"light": light}
        if username is not None:
            body["username"] = username
        try:
            response = self.http.post(SESSIONS_PATH, json=body, headers=headers or {})
        except httpx.HTTPError as exc:
            return Refused(0, f"harness: {type(exc).__name__}")
        if response.status_code != 201:
            return refused(response)
        data = response.json()
        cookie = response.cookies.get(COOKIE)
        self.http.cookies.clear()  # each session's cookie is sent explicitly
        if cookie is None:
            return Refused(0, "harness: no session cookie")
        declared = data.get("light_challenge")
        return Created(
            session_id=str(data["session_id"]),
            csrf_token=str(data["csrf_token"]),
            cookie=cookie,
            frames_url=str(data["frames_url"]),
            stream_url=str(data["stream_url"]),
            light=declared if isinstance(declared, bool) else light,
            created_at=time.monotonic(),
        )


@dataclass(frozen=True)
class Ended:
    """The end of a session as the client saw it."""

    answer: str
    status: str | None = None
    """``signed_in`` / ``enrolled`` / ``refused`` when a result came."""
    username: str | None = None

    @property
    def harness(self) -> bool:
        return self.answer.startswith("harness")


def _result(state: dict[str, Any]) -> Ended | None:
    result = state.get("result")
    if not isinstance(result, dict):
        return None
    return Ended(str(result.get("reason")), str(result.get("status")), result.get("username"))


class HttpFrames:
    """``POST …/frames`` with the session's cookie, CSRF token and ``X-Frame-Time``."""

    def __init__(self, client: Client, created: Created) -> None:
        self.client = client
        self.created = created

    def send(self, t_ms: float, jpeg: bytes) -> dict[str, Any] | Ended:
        headers = {
            "Content-Type": "image/jpeg",
            "X-CSRF-Token": self.created.csrf_token,
            "X-Frame-Time": repr(float(t_ms)),
            "Cookie": f"{COOKIE}={self.created.cookie}",
        }
        try:
            response = self.client.http.post(self.created.frames_url, content=jpeg, headers=headers)
        except httpx.HTTPError as exc:
            return Ended(f"harness: {type(exc).__name__}")
        if response.status_code != 200:
            return Ended(refused(response).answer)
        state: dict[str, Any] = response.json()
        return state

    def close(self) -> None:
        pass


class WsFrames:
    """The WebSocket stream: hello with the CSRF token, then binary frames
    (little-endian float64 capture time in ms + JPEG), one JSON answer each."""

    def __init__(self, client: Client, created: Created) -> None:
        self.timeout_s = client.timeout_s
        uri = client.base.replace("http", "ws", 1) + created.stream_url
        extra: dict[str, Any] = {}
        if client.address is not None:
            extra["source_address"] = (client.address, 0)
        self.ws: ClientConnection = connect(
            uri,
            origin=Origin(client.base),
            additional_headers={"Cookie": f"{COOKIE}={created.cookie}"},
            compression=None,
            proxy=None,
            open_timeout=client.timeout_s,
            close_timeout=2.0,
            legacy=True,  # a plain connection object (closed by ``close``)
            **extra,
        )
        self.ws.send(json.dumps({"type": "hello", "csrf_token": created.csrf_token}))

    def send(self, t_ms: float, jpeg: bytes) -> dict[str, Any] | Ended:
        try:
            self.ws.send(struct.pack("<d", t_ms) + jpeg)
            text = self.ws.recv(timeout=self.timeout_s)
        except ConnectionClosed as exc:
            close = exc.rcvd
            if close is None:
                return Ended("ws closed without a close frame")
            return Ended(f"ws close {close.code} {close.reason}".rstrip())
        except TimeoutError:
            return Ended(f"harness: no answer within {self.timeout_s:.0f} s")
        message = json.loads(text)
        if isinstance(message, dict) and message.get("type") == "error":
            return Ended(f"ws {message.get('code')}")
        if not isinstance(message, dict):
            return Ended("harness: unexpected message")
        return message

    def close(self) -> None:
        self.ws.close()


Frames = HttpFrames | WsFrames


def open_frames(client: Client, created: Created, transport: str) -> Frames | Ended:
    if transport == "http":
        return HttpFrames(client, created)
    try:
        return WsFrames(client, created)
    except InvalidStatus as exc:
        return Ended(f"ws handshake {exc.response.status_code}")
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        return Ended(f"harness: ws {type(exc).__name__}")


def encode_jpeg(bgr: NDArray[np.uint8]) -> bytes:
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VeronicaError("could not encode a frame")
    return bytes(buffer.tobytes())


def parse_action(value: object) -> Action | None:
    if not isinstance(value, str):
        return None
    try:
        return Action(value)
    except ValueError:
        return None  # a step this simulator cannot perform


def parse_light(value: object) -> RGB | None:
    if not isinstance(value, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return None
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


@dataclass(frozen=True)
class ClaimedClock:
    """What capture time a client claims per frame, and which clock its actor
    lives on. The honest default: the real time since the first frame."""

    rate: float = 1.0
    """Claimed seconds per real second."""
    step_s: float | None = None
    """A fixed claimed step per frame (then real time is ignored)."""
    actor_on_claimed: bool = False
    """The actor is a renderer on the claimed timeline (not a camera in real time)."""
    render_s: tuple[float, float] = (0.0, 0.0)
    """Real seconds of rendering per frame, between capture and sending."""

    def claimed_s(self, real_s: float, index: int) -> float:
        """Claimed time of frame ``index`` (1-based) captured ``real_s`` after the first."""
        if self.step_s is not None:
            return self.step_s * (index - 1)
        return self.rate * real_s


HONEST = ClaimedClock()


@dataclass(frozen=True)
class SessionEnd:
    answer: str
    status: str | None
    username: str | None
    frames: int
    seconds: float
    light_seen: bool

    @property
    def signed_in(self) -> bool:
        return self.status == "signed_in"

    @property
    def harness(self) -> bool:
        return self.answer.startswith("harness")


@dataclass(frozen=True)
class _Shot:
    index: int
    """1-based, as the server counts a session's frames."""
    captured: float
    """Monotonic seconds."""
    claimed_s: float
    jpeg: bytes


def drive(
    client: Client,
    created: Created,
    actor: Actor,
    *,
    transport: str,
    rng: np.random.Generator,
    clock: ClaimedClock = HONEST,
    fps: float = FPS,
    max_s: float = SESSION_LIMIT_S,
) -> SessionEnd:
    """Run one session to its end, stop-and-wait like the page: after each answer
    the next frame is captured (rendered: the page grabs its camera's current
    frame) and sent, at most ``fps`` frames per second, showing the reaction to
    the step and colour the answers revealed. Capturing only after the answer
    keeps an honest claimed time within a render (tens of ms) of the sending time,
    as a browser's is; an offline renderer (``clock.render_s``) also takes its
    time after each answer."""
    start = time.monotonic()
    opened = open_frames(client, created, transport)
    if isinstance(opened, Ended):
        return SessionEnd(opened.answer, None, None, 0, time.monotonic() - start, False)
    origin_ms = float(rng.uniform(500.0, 5000.0))  # performance.now() at the first frame
    action: Action | None = None
    light: RGB | None = None
    light_seen = False
    count = 0

    def shoot(not_before: float) -> _Shot | None:
        nonlocal count
        pause = not_before - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        captured = time.monotonic()
        real_s = captured - start
        if real_s > max_s:
            return None
        count += 1
        claimed = clock.claimed_s(real_s, count)
        image = actor.frame(claimed if clock.actor_on_claimed else real_s, action, light)
        jpeg = encode_jpeg(image)
        if clock.render_s[1] > 0:
            time.sleep(float(rng.uniform(*clock.render_s)))
        return _Shot(count, captured, claimed, jpeg)

    sent = 0
    ended = Ended(f"harness: no decision after {max_s:.0f} s")
    try:
        shot = shoot(start)
        while shot is not None:
            reply = opened.send(origin_ms + 1000.0 * shot.claimed_s, shot.jpeg)
            sent = shot.index
            if isinstance(reply, Ended):
                ended = reply
                break
            result = _result(reply)
            if result is not None:
                ended = result
                break
            action = parse_action(reply.get("action"))
            light = parse_light(reply.get("light"))
            light_seen = light_seen or light is not None
            shot = shoot(shot.captured + 1.0 / fps)
    finally:
        try:
            opened.close()
        except Exception:  # a socket the server already closed
            logger.debug("closing the frame stream failed", exc_info=True)
    seconds = time.monotonic() - start
    return SessionEnd(ended.answer, ended.status, ended.username, sent, seconds, light_seen)


@dataclass(frozen=True)
class RawAnswer:
    status: int
    code: str

    @property
    def answer(self) -> str:
        return f"{self.status} {self.code}"


def raw_request(
    base: str,
    address: str | None,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    chunked: bool,
    timeout_s: float,
) -> RawAnswer | None:
    """One HTTP/1.1 request over a plain socket, reading the answer as soon as the
    server gives one (a server refusing a large body may answer and close before
    it is all sent, which an ordinary client reports as a write error). None when
    the connection closed without an answer."""
    parts = urlsplit(base)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    source = (address, 0) if address is not None else None
    sock: socket.socket = socket.create_connection(
        (host, port), timeout=timeout_s, source_address=source
    )
    if https:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        piece = 65_536
        wait_s = 0.3  # a refusal on the declared length comes at once
        try:
            for offset in range(0, len(body), piece):
                if select.select([sock], [], [], wait_s)[0]:
                    break  # the server answered before the body was all sent
                wait_s = 0.005
                chunk = body[offset : offset + piece]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # what the server said before closing may still be in the socket
        received = b""
        try:
            while len(received) < 65_536:
                data = sock.recv(65_536)
                if not data:
                    break  # the request said Connection: close
                received += data
        except OSError:  # reset or timed out: keep what arrived
            pass
    finally:
        sock.close()
    match = re.match(rb"HTTP/1\.[01] (\d{3})", received)
    if match is None:
        return None
    code = re.search(rb'"code"\s*:\s*"([^"]+)"', received)
    return RawAnswer(int(match.group(1)), code.group(1).decode() if code else "-")


# -- the harness -------------------------------------------------------------------------


@dataclass(frozen=True)
class AdversaryConfig:
    server: str
    admin_key: str
    tries: int = 20
    seed: int = 0
    attacks: tuple[str, ...] = ()
    """Empty: every attack and the control."""
    concurrency: int = 2
    """Tries in flight at once (the server shares the machine: 2–3 on 2 cores)."""
    fps: float = FPS
    lockout_failures: int = 5
    """The server's ``VERONICA_LOCKOUT_FAILURES`` (its default)."""
    timeout_s: float = 30.0
    """Per request (a frame's answer included)."""
    cast: Cast | None = None
    """Default: ``fixture_cast()``."""


class Harness:
    """A run against one server: the admin client, the simulated people and their
    heads, client addresses, and the users to delete at the end."""

    def __init__(self, config: AdversaryConfig) -> None:
        if config.tries < 1 or config.concurrency < 1:
            raise AdversaryInputError("tries and concurrency must be at least 1")
        if not config.admin_key.strip():
            raise AdversaryInputError("an admin key is required")
        self.config = config
        self.base = normalise_url(config.server)
        self.run_id = secrets.token_hex(3)
        host = urlsplit(self.base).hostname or ""
        self.addresses = AddressPool(is_loopback(host), 16 + secrets.randbelow(200))
        self.cast = config.cast or fixture_cast()
        self.admin = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {config.admin_key.strip()}"},
            timeout=config.timeout_s,
            trust_env=False,
        )
        self._users: list[str] = []
        self._lock = threading.Lock()
        self._heads: Heads | None = None
        self._blank: bytes | None = None

    # -- set-up and clean-up

    def __enter__(self) -> Harness:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Check the server and the key, load the simulated heads."""
        try:
            ready = self.admin.get("/readyz")
        except httpx.HTTPError as exc:
            raise ServerUnreachableError(
                f"cannot reach {self.base}: {type(exc).__name__} ({exc})"
            ) from exc
        if ready.status_code != 200:
            raise ServerUnreachableError(f"{self.base} is not ready (/readyz {ready.status_code})")
        users = self.admin.get(ADMIN_USERS_PATH)
        if users.status_code in (401, 403):
            raise AdminKeyRejectedError(f"{self.base} refused the admin key ({users.status_code})")
        if users.status_code != 200:
            raise HarnessSetupError(f"{ADMIN_USERS_PATH} answered {users.status_code}")
        self._heads = Heads.load(self.cast)
        room = EmptyRoom(GenuineActor(self._heads.victim, 1))
        self._blank = encode_jpeg(room.frame(0.0, None, None))

    def close(self) -> None:
        with self._lock:
            users, self._users = self._users, []
        for name in users:
            self._delete(name)
        self.admin.close()

    @property
    def heads(self) -> Heads:
        if self._heads is None:
            raise HarnessSetupError("the harness is not open")
        return self._heads

    @property
    def blank(self) -> bytes:
        if self._blank is None:
            raise HarnessSetupError("the harness is not open")
        return self._blank

    def user_name(self, role: str) -> str:
        return f"adv-{self.run_id}-{role}"

    def enroll(self, role: str, photo: Path) -> str:
        """A fresh user enrolled from ``photo`` through the admin API; deleted by
        ``forget`` or at the end of the run."""
        name = self.user_name(role)
        created = self.admin.post(ADMIN_USERS_PATH, json={"username": name})
        if created.status_code != 201:
            raise HarnessSetupError(f"could not create {name}: {refused(created).answer}")
        with self._lock:
            self._users.append(name)
        files = [("images", (photo.name, photo.read_bytes(), "image/jpeg"))]
        added = self.admin.post(f"{ADMIN_USERS_PATH}/{name}/images", files=files)
        if added.status_code != 201:
            raise HarnessSetupError(f"could not enroll {name}: {refused(added).answer}")
        return name

    def forget(self, name: str) -> None:
        with self._lock:
            if name not in self._users:
                return
            self._users.remove(name)
        self._delete(name)

    def _delete(self, name: str) -> None:
        try:
            answer = self.admin.delete(f"{ADMIN_USERS_PATH}/{name}")
            if answer.status_code not in (204, 404):
                logger.warning("could not delete %s: %s", name, answer.status_code)
        except httpx.HTTPError as exc:
            logger.warning("could not delete %s: %s", name, exc)

    @contextmanager
    def victim(self, role: str, photo: Path) -> Iterator[str]:
        name = self.enroll(role, photo)
        try:
            yield name
        finally:
            self.forget(name)

    # -- clients and sessions

    def client(self, address: str | None = None) -> Client:
        """A new simulated machine (a fresh source address unless one is given)."""
        source = address if address is not None else self.addresses.take()
        return Client(self.base, source, self.config.timeout_s)

    def open_session(
        self,
        client: Client,
        *,
        username: str | None = None,
        light: LightPolicy = "avoid",
        busy_retries: int = BUSY_RETRIES,
        headers: dict[str, str] | None = None,
    ) -> Created | Refused:
        """Create a session; ``busy`` (other tries hold the slots) is waited out."""
        want_light = light == "on"
        busy = 0
        while True:
            made = client.create(username=username, light=want_light, headers=headers)
            if isinstance(made, Created):
                return made
            if made.code == "light_challenge_required" and light == "avoid" and not want_light:
                want_light = True
                continue
            if made.status == 503 and made.code == "busy" and busy < busy_retries:
                busy += 1
                time.sleep(min(made.retry_after_s or BUSY_WAIT_S, BUSY_WAIT_S))
                continue
            return made

    def end_quickly(self, client: Client, created: Created) -> str:
        """End a session at once: a face-less frame, then one claiming to come
        ``CLOCK_JUMP_S`` later. Returns the server's answer. Capture times count
        from the session's creation, so they follow any frame sent before (the
        trickle's)."""
        frames = HttpFrames(client, created)
        origin = 1000.0 * (time.monotonic() - created.created_at) + 1.0
        for t_ms in (origin, origin + 1000.0 * CLOCK_JUMP_S):
            reply = frames.send(t_ms, self.blank)
            if isinstance(reply, Ended):
                return reply.answer
            result = _result(reply)
            if result is not None:
                return result.answer
        return "open after a clock jump"

    def release(self, client: Client, sessions: Sequence[Created]) -> list[str]:
        """End sessions a try left open (so they do not hold slots for the next)."""
        return [self.end_quickly(client, created) for created in sessions]

    def room_check(self) -> str | None:
        """None if a fresh client can open a session now (it is ended at once);
        otherwise the refusal: the server is full before an attack even starts."""
        client = self.client()
        try:
            made = client.create(light=True)
            if isinstance(made, Refused):
                return made.answer
            self.end_quickly(client, made)
            return None
        finally:
            client.close()

    def genuine(self, head: HeadModel, seed: int) -> GenuineActor:
        return GenuineActor(head, seed)


@dataclass(frozen=True)
class TryContext:
    attack: str
    index: int
    seed: int

    @property
    def transport(self) -> str:
        """Both frame paths are attacked: WebSocket on even tries, HTTP on odd ones."""
        return "ws" if self.index % 2 == 0 else "http"

    def rng(self, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, 101, stream])


def try_seed(seed: int, attack: str, index: int) -> int:
    """A try's seed from the run's seed, the attack's name and the try's index."""
    state = np.random.SeedSequence([seed, zlib.crc32(attack.encode()), index])
    return int(state.generate_state(1)[0])


# -- liveness attacks (one try each) -----------------------------------------------------


def _liveness(
    h: Harness,
    ctx: TryContext,
    actor: Actor,
    *,
    detail: str,
    clock: ClaimedClock = HONEST,
    fps: float | None = None,
    light: LightPolicy = "avoid",
    head_photo: Path | None = None,
) -> Outcome:
    """Sign in as a fresh victim (1:1) with ``actor`` in front of the camera."""
    client = h.client()
    try:
        with h.victim(f"{ctx.attack}-{ctx.index}", head_photo or h.cast.victim[0]) as name:
            created = h.open_session(client, username=name, light=light)
            if isinstance(created, Refused):
                unsure = created.harness or created.status in (429, 503)
                return Outcome(False, created.answer, detail, inconclusive=unsure)
            end = drive(
                client,
                created,
                actor,
                transport=ctx.transport,
                rng=ctx.rng(),
                clock=clock,
                fps=fps or h.config.fps,
            )
            rate = end.frames / end.seconds if end.seconds > 0 else 0.0
            note = (
                f"{detail}; {ctx.transport}, light {'on' if created.light else 'off'}, "
                f"{end.frames} frames at {rate:.1f}/s"
            )
            return Outcome(end.signed_in, end.answer, note, inconclusive=end.harness)
    finally:
        client.close()


def slow_claimed_clock(h: Harness, ctx: TryContext) -> Outcome:
    """The victim through a relay 1 s late; the claimed clock runs slow (×0.6) so the
    late answers look on time on the clock the client claims."""
    actor = DelayedRelay(h.genuine(h.heads.victim, ctx.seed), SLOW_RELAY_DELAY_S)
    clock = ClaimedClock(rate=SLOW_CLOCK_RATE)
    detail = f"relay {SLOW_RELAY_DELAY_S:.1f} s late, clock ×{SLOW_CLOCK_RATE}"
    return _liveness(h, ctx, actor, detail=detail, clock=clock, fps=SLOW_CLOCK_FPS)


def fast_claimed_clock(h: Harness, ctx: TryContext) -> Outcome:
    """A renderer of the victim on a claimed clock running twice as fast as real
    time (the session's timeline passes in half the real time)."""
    actor = h.genuine(h.heads.victim, ctx.seed)
    clock = ClaimedClock(rate=FAST_CLOCK_RATE, actor_on_claimed=True)
    return _liveness(h, ctx, actor, detail=f"clock ×{FAST_CLOCK_RATE}", clock=clock)


def offline_response(h: Harness, ctx: TryContext) -> Outcome:
    """The victim rendered offline after each answer (1–1.4 s of real time per frame)
    while claiming 100 ms per frame."""
    actor = h.genuine(h.heads.victim, ctx.seed)
    clock = ClaimedClock(step_s=OFFLINE_STEP_S, actor_on_claimed=True, render_s=OFFLINE_RENDER_S)
    lo, hi = OFFLINE_RENDER_S
    detail = f"{lo:.1f}–{hi:.1f} s per frame, claims {1000 * OFFLINE_STEP_S:.0f} ms"
    return _liveness(h, ctx, actor, detail=detail, clock=clock)


def _relay(h: Harness, ctx: TryContext, delays: tuple[float, float]) -> Outcome:
    delay = float(ctx.rng(1).uniform(*delays))
    actor = DelayedRelay(h.genuine(h.heads.victim, ctx.seed), delay)
    return _liveness(h, ctx, actor, detail=f"relay {delay:.2f} s late")


def late_relay(h: Harness, ctx: TryContext) -> Outcome:
    """The victim through a relay 0.5–1 s late, with an honest clock."""
    return _relay(h, ctx, LATE_RELAY_S)


def fast_relay(h: Harness, ctx: TryContext) -> Outcome:
    """Residual probe: the victim through a relay only 0.1–0.5 s late."""
    return _relay(h, ctx, FAST_RELAY_S)


def liveness_by_proxy(h: Harness, ctx: TryContext) -> Outcome:
    """An accomplice performs the challenges; the victim's face is swapped in on
    every k-th frame at phase p (or the old server's identity frames)."""
    schedule = PROXY_SCHEDULES[ctx.index % len(PROXY_SCHEDULES)]
    actor = ProxyActor(h.heads.victim, h.heads.accomplice, ctx.seed, schedule)
    return _liveness(h, ctx, actor, detail=schedule.label)


def no_face_during_light(h: Harness, ctx: TryContext) -> Outcome:
    """The genuine victim, out of the picture whenever a colour is shown."""
    actor = NoFaceDuringLight(h.genuine(h.heads.victim, ctx.seed))
    return _liveness(h, ctx, actor, detail="no face while coloured", light="on")


def frozen_frame_noise(h: Harness, ctx: TryContext) -> Outcome:
    """One frame of the victim injected again and again with fresh noise (σ 1, 2, 3)."""
    sigma = FROZEN_SIGMAS[ctx.index % len(FROZEN_SIGMAS)]
    still = h.genuine(h.heads.victim, ctx.seed).frame(0.0, None, None)
    actor = NoisyFrozenActor(still, sigma, ctx.seed)
    return _liveness(h, ctx, actor, detail=f"σ {sigma:.0f}")


def genuine_control(h: Harness, ctx: TryContext) -> Outcome:
    """The victim, simulated from another photo than the enrolled one, following the
    revealed steps and colours honestly: must sign in."""
    actor = h.genuine(h.heads.victim, ctx.seed)
    return _liveness(h, ctx, actor, detail="honest", light="on")


def light_opt_out_under_required(h: Harness, ctx: TryContext) -> Outcome:
    """Ask for a session without the light challenge (``light: false``)."""
    client = h.client()
    try:
        created = client.create(light=False)
        if isinstance(created, Refused):
            return Outcome(False, created.answer, inconclusive=created.harness)
        h.end_quickly(client, created)
        if created.light:
            return Outcome(False, "201 light challenge kept", "opt-out ignored")
        return Outcome(True, "201 light off")
    finally:
        client.close()


# -- abuse attacks -----------------------------------------------------------------------


STRANGER_MEANS = ("no_face", "print", "abandoned")
"""Cycled over the tries: the cheapest failures a stranger can produce."""


VICTIM_ATTEMPTS = 3
"""Sign-ins the victim tries after the stranger's failures before a try counts as
inconclusive (each refused for something other than a lockout)."""


def stranger_locks_out_victim(h: Harness, ctx: TryContext) -> Outcome:
    """A stranger at one address fails ``lockout_failures + 1`` sessions for the
    victim's user name (no face, a print, or abandoned sessions), then the victim
    signs in genuinely from another address (twice if refused for another reason).
    Accepted: the victim is locked out."""
    means = STRANGER_MEANS[ctx.index % len(STRANGER_MEANS)]
    failures = h.config.lockout_failures + 1
    stranger = h.client()
    victim = h.client()
    left_open: list[Created] = []
    answers: Counter[str] = Counter()
    try:
        with h.victim(f"lock-{ctx.index}", h.cast.lock_victim[0]) as name:
            for n in range(failures):
                created = h.open_session(stranger, username=name, light="on")
                if isinstance(created, Refused):
                    answers[created.answer] += 1
                    continue
                if means == "abandoned":
                    left_open.append(created)
                    answers["abandoned"] += 1
                    time.sleep(ABANDON_WAIT_S)
                elif means == "no_face":
                    answers[h.end_quickly(stranger, created)] += 1
                else:
                    card = print_actor(h.heads.lock_victim, ctx.seed + n, moving=False)
                    end = drive(stranger, created, card, transport="http", rng=ctx.rng(n))
                    answers[end.answer] += 1
            stranger_said = ", ".join(f"{a} ×{k}" for a, k in answers.most_common())
            detail = f"{means}; stranger: {stranger_said}"
            answer = "-"
            # A person refused for another reason (a starved machine's timing) tries
            # again, as people do.
            for attempt in range(VICTIM_ATTEMPTS):
                created = h.open_session(victim, username=name, light="on")
                if isinstance(created, Refused):
                    locked = created.code == "locked_out"
                    return Outcome(locked, created.answer, detail, inconclusive=not locked)
                person = h.genuine(h.heads.lock_victim, ctx.seed + attempt)
                end = drive(victim, created, person, transport=ctx.transport, rng=ctx.rng(99))
                if end.answer == "locked_out":
                    return Outcome(True, end.answer, detail)
                if end.signed_in:
                    return Outcome(False, end.answer, detail)
                answer = end.answer
            refused = f"victim refused {VICTIM_ATTEMPTS} times: {answer}"
            return Outcome(False, refused, detail, inconclusive=True)
    finally:
        h.release(stranger, left_open)
        stranger.close()
        victim.close()


def _hoard(
    h: Harness, client: Client, headers: Callable[[], dict[str, str]]
) -> tuple[list[Created], Counter[str]]:
    """Open sessions as fast as the server allows, until it refuses
    ``HOARD_REFUSALS`` times in a row (or ``HOARD_ATTEMPTS`` in all)."""
    held: list[Created] = []
    refusals: Counter[str] = Counter()
    in_a_row = 0
    for _ in range(HOARD_ATTEMPTS):
        made = client.create(light=True, headers=headers())
        if isinstance(made, Created):
            held.append(made)
            in_a_row = 0
            continue
        refusals[made.answer] += 1
        in_a_row += 1
        if in_a_row >= HOARD_REFUSALS:
            break
    return held, refusals


def _trickle(
    h: Harness, client: Client, sessions: Sequence[Created], stop: threading.Event
) -> None:
    """One face-less frame per session every ``TRICKLE_S``, honest capture times."""
    streams = [HttpFrames(client, created) for created in sessions]
    while not stop.wait(TRICKLE_S):
        for stream, created in zip(streams, sessions, strict=True):
            stream.send(1000.0 * (time.monotonic() - created.created_at), h.blank)


def admission_exhaustion(h: Harness, ctx: TryContext) -> Outcome:
    """One address opens sessions as fast as allowed and leaves them idle (even
    tries) or trickles frames into them (odd tries); meanwhile a genuine user at
    another address signs in. Accepted: the genuine user is turned away (429/503
    when starting). A genuine session refused for another reason (a liveness
    failure the attacker did not cause) is inconclusive."""
    full = h.room_check()
    if full is not None:
        return Outcome(False, f"server full before the attack: {full}", inconclusive=True)
    trickle = ctx.index % 2 == 1
    attacker = h.client()
    person = h.client()
    stop = threading.Event()
    held: list[Created] = []
    try:
        held, refusals = _hoard(h, attacker, lambda: {})
        if not held:
            top = refusals.most_common(1)[0][0] if refusals else "-"
            return Outcome(False, f"attacker held nothing ({top})", inconclusive=True)
        worker = None
        if trickle and held:
            worker = threading.Thread(target=_trickle, args=(h, attacker, held, stop), daemon=True)
            worker.start()
        top = refusals.most_common(1)[0][0] if refusals else "no refusal"
        detail = f"{'trickle' if trickle else 'idle'}; attacker held {len(held)}, then {top}"
        try:
            with h.victim(f"admission-{ctx.index}", h.cast.victim[0]) as name:
                created = h.open_session(
                    person, username=name, light="on", busy_retries=GENUINE_RETRIES
                )
                if isinstance(created, Refused):
                    answer = f"genuine {created.answer}"
                    turned_away = created.status in (429, 503)
                    return Outcome(turned_away, answer, detail, inconclusive=not turned_away)
                actor = h.genuine(h.heads.victim, ctx.seed)
                end = drive(person, created, actor, transport=ctx.transport, rng=ctx.rng())
                turned_away = end.answer in ("busy", "429 too_many_sessions", "503 busy")
                unsure = not turned_away and not end.signed_in
                return Outcome(turned_away, f"genuine {end.answer}", detail, inconclusive=unsure)
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=10.0)
    finally:
        h.release(attacker, held)
        attacker.close()
        person.close()


def success_clears_address_counter(h: Harness, ctx: TryContext) -> Outcome:
    """From one address: failures for other names, a genuine sign-in to the
    attacker's own account once ``lockout_failures − 2`` failures are in (a
    refused sign-in is one more failure; it is tried twice), more failures up to
    ``lockout_failures``, then one more session. Accepted: that session opens
    (more failures than the lockout allows, and no lock)."""
    limit = h.config.lockout_failures
    client = h.client()
    failures = 0

    def fail_once() -> Refused | None:
        nonlocal failures
        made = h.open_session(client, username=h.user_name(f"other-{ctx.index}-{failures}"))
        if isinstance(made, Refused):
            return made
        h.end_quickly(client, made)
        failures += 1
        return None

    def stopped(refusal: Refused, stage: str) -> Outcome:
        answer = f"{refusal.answer} ({stage} after {failures} failures)"
        locked = refusal.code == "locked_out"
        return Outcome(False, answer, f"limit {limit}", inconclusive=not locked)

    try:
        with h.victim(f"own-{ctx.index}", h.cast.attacker[0]) as own:
            while failures < limit - 2:
                refusal = fail_once()
                if refusal is not None:
                    return stopped(refusal, "failure")
            signed_in = False
            for _ in range(2):
                created = h.open_session(client, username=own, light="on")
                if isinstance(created, Refused):
                    return stopped(created, "own sign-in")
                actor = h.genuine(h.heads.attacker, ctx.seed + failures)
                end = drive(client, created, actor, transport=ctx.transport, rng=ctx.rng())
                if end.signed_in:
                    signed_in = True
                    break
                failures += 1
            if not signed_in:
                return Outcome(False, "own sign-in refused twice", inconclusive=True)
            while failures < limit:
                refusal = fail_once()
                if refusal is not None:
                    return stopped(refusal, "failure")
            refusal = fail_once()  # one more than the lockout allows
            if refusal is not None:
                return stopped(refusal, "probe")
            return Outcome(True, f"201 after {failures - 1} failures", f"limit {limit}")
    finally:
        client.close()


def spoofed_forwarded_for(h: Harness, ctx: TryContext) -> Outcome:
    """A random ``X-Forwarded-For`` per request. First the per-address cap is
    measured from a plain fresh address; then the spoofing client opens as many
    sessions as it can and fails past the lockout. Accepted: it held more sessions
    than the plain client, or was never locked. The first try comes from
    127.0.0.1 (what uvicorn trusts by default), the others from fresh addresses."""
    rng = ctx.rng(3)

    def spoof() -> dict[str, str]:
        octets = rng.integers(1, 255, size=4)
        return {"X-Forwarded-For": ".".join(str(int(v)) for v in octets)}

    full = h.room_check()
    if full is not None:
        return Outcome(False, f"server full before the attack: {full}", inconclusive=True)
    limit = h.config.lockout_failures
    plain = h.client()
    liar = h.client(TRUSTED_PEER if ctx.index == 0 and h.addresses.loopback else None)
    try:
        base_held, _ = _hoard(h, plain, lambda: {})
        h.release(plain, base_held)
        if not base_held:
            return Outcome(False, "the plain client held nothing", inconclusive=True)
        held, refusals = _hoard(h, liar, spoof)
        h.release(liar, held)  # every release is a failure, keyed as the server saw it
        failures = len(held)
        while failures <= limit:
            made = liar.create(light=True, headers=spoof())
            if isinstance(made, Refused):
                break
            h.end_quickly(liar, made)
            failures += 1
        probe = liar.create(light=True, headers=spoof())
        if isinstance(probe, Created):
            h.end_quickly(liar, probe)
        top = refusals.most_common(1)[0][0] if refusals else "no refusal"
        source = liar.address or "this host"
        detail = (
            f"from {source}; plain client held {len(base_held)}, spoofing client "
            f"{len(held)}, then {top}"
        )
        dodged = []
        if len(held) > len(base_held):
            dodged.append(f"held {len(held)} > {len(base_held)} sessions")
        if isinstance(probe, Created) and failures > limit:
            dodged.append(f"201 after {failures} failures")
        if dodged:
            return Outcome(True, "; ".join(dodged), detail)
        if isinstance(probe, Created):  # refused before the lockout could be reached
            return Outcome(False, "lockout not reached", detail, inconclusive=True)
        # Only a lock stops this attack; any other refusal leaves it unjudged.
        return Outcome(False, probe.answer, detail, inconclusive=probe.code != "locked_out")
    finally:
        plain.close()
        liar.close()


def oversized_json(h: Harness, ctx: TryContext) -> Outcome:
    """A 1 MB JSON body to the session endpoint (declared length on even tries,
    chunked on odd ones). Accepted: any answer but 413."""
    chunked = ctx.index % 2 == 1
    body = json.dumps({"username": "adv", "padding": "x" * OVERSIZED_BYTES}).encode()
    address = h.addresses.take()
    headers = {"Content-Type": "application/json"}
    answer = raw_request(
        h.base,
        address,
        "POST",
        SESSIONS_PATH,
        headers,
        body,
        chunked=chunked,
        timeout_s=h.config.timeout_s,
    )
    detail = "chunked" if chunked else "Content-Length"
    if answer is None:
        return Outcome(False, "closed without an answer", detail, inconclusive=True)
    return Outcome(answer.status != 413, answer.answer, detail)


def metrics_methods(h: Harness, ctx: TryContext) -> Outcome:
    """50 requests with invented methods (``FOO1`` …) to ``/metrics`` and other paths,
    then ``/metrics`` without and with the admin key. Accepted: a series labelled
    with an invented method, or ``/metrics`` readable without the key."""
    client = h.client()
    first = ctx.index * METRICS_METHODS + 1
    methods = [f"FOO{n}" for n in range(first, first + METRICS_METHODS)]
    paths = ("/metrics", SESSIONS_PATH, "/healthz", f"/no-such-page-{ctx.index}")
    try:
        for n, method in enumerate(methods):
            with suppress(httpx.HTTPError):  # a server may drop what it cannot parse
                client.http.request(method, paths[n % len(paths)])
        anonymous = client.http.get("/metrics")
    except httpx.HTTPError as exc:
        return Outcome(False, f"harness: {type(exc).__name__}", inconclusive=True)
    finally:
        client.close()
    keyed = h.admin.get("/metrics")
    labels = set(re.findall(r'method="([^"]*)"', keyed.text)) if keyed.status_code == 200 else set()
    invented = sorted(labels & set(methods))
    if anonymous.status_code == 200:
        open_answer = "200 without the key"
    else:
        open_answer = refused(anonymous).answer
    series = f"{len(invented)} invented method labels" if invented else "no invented label"
    if keyed.status_code != 200:
        series = f"metrics not readable here with the key ({keyed.status_code})"
    accepted = anonymous.status_code == 200 or bool(invented)
    return Outcome(accepted, f"{open_answer}; {series}")


# -- the registry and the runner ---------------------------------------------------------


@dataclass(frozen=True)
class AttackSpec:
    name: str
    run: Callable[[Harness, TryContext], Outcome]
    claim: str
    exclusive: bool = False
    """Runs alone (it fills the server's slots or measures its caps)."""
    control: bool = False
    residual: bool = False
    """Measured, not claimed: an attack the protocol does not stop by design."""


SPECS: dict[str, AttackSpec] = {
    spec.name: spec
    for spec in (
        AttackSpec(
            "slow_claimed_clock",
            slow_claimed_clock,
            "claimed capture times are bound to the server clock: a late relay cannot "
            "hide behind a slow clock",
        ),
        AttackSpec(
            "fast_claimed_clock", fast_claimed_clock, "claimed time cannot run ahead of real time"
        ),
        AttackSpec(
            "offline_response",
            offline_response,
            "an answer rendered after seeing the step comes too late on server time",
        ),
        AttackSpec(
            "late_relay",
            late_relay,
            "a victim relayed 0.5–1 s late (from the light lag limit up) is refused",
        ),
        AttackSpec(
            "liveness_by_proxy",
            liveness_by_proxy,
            "the recognised face is the face that performed the challenges",
        ),
        AttackSpec(
            "light_opt_out_under_required",
            light_opt_out_under_required,
            "the light challenge cannot be skipped when the operator requires it",
        ),
        AttackSpec(
            "no_face_during_light",
            no_face_during_light,
            "a face must be on camera while the colours are shown",
        ),
        AttackSpec(
            "frozen_frame_noise",
            frozen_frame_noise,
            "a still frame with fresh noise is not a live face",
        ),
        AttackSpec(
            "stranger_locks_out_victim",
            stranger_locks_out_victim,
            "a stranger cannot lock a user out without presenting a live face",
            exclusive=True,
        ),
        AttackSpec(
            "admission_exhaustion",
            admission_exhaustion,
            "one address cannot take every session slot from genuine users",
            exclusive=True,
        ),
        AttackSpec(
            "success_clears_address_counter",
            success_clears_address_counter,
            "an address's own successes do not reset its failure count",
        ),
        AttackSpec(
            "spoofed_forwarded_for",
            spoofed_forwarded_for,
            "a client's X-Forwarded-For is not trusted unless configured",
            exclusive=True,
        ),
        AttackSpec(
            "oversized_json",
            oversized_json,
            "a JSON body over 16 KiB is refused with 413 before it is read",
        ),
        AttackSpec(
            "metrics_methods",
            metrics_methods,
            "/metrics needs the admin key and labels only known methods",
        ),
        AttackSpec(
            "fast_relay",
            fast_relay,
            "residual, not claimed: a victim relayed only 0.1–0.5 s late, as fast as a slow webcam",
            residual=True,
        ),
        AttackSpec(
            CONTROL,
            genuine_control,
            "control: the victim signs in honestly (BPCER-style)",
            control=True,
        ),
    )
}
ATTACKS: tuple[str, ...] = tuple(
    name for name, spec in SPECS.items() if not spec.control and not spec.residual
)
"""Every attack (a claim), in report order; ``CONTROL`` is the bona fide control."""
RESIDUALS: tuple[str, ...] = tuple(name for name, spec in SPECS.items() if spec.residual)
"""Residual probes: measured and reported, not claimed."""


def check_attacks(names: Sequence[str]) -> tuple[str, ...]:
    """The names in registry order, or AdversaryInputError for an unknown one."""
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise AdversaryInputError(f"unknown attack {unknown[0]!r}; choose from {', '.join(SPECS)}")
    chosen = set(names) if names else set(SPECS)
    return tuple(n for n in SPECS if n in chosen)


def _one_try(h: Harness, spec: AttackSpec, index: int, seed: int) -> TryRecord:
    ctx = TryContext(spec.name, index, try_seed(seed, spec.name, index))
    start = time.monotonic()
    try:
        outcome = spec.run(h, ctx)
    except Exception as exc:  # recorded as the harness's failure, never as a refusal
        logger.exception("%s try %d failed", spec.name, index)
        outcome = Outcome(False, f"harness: {type(exc).__name__}: {exc}", inconclusive=True)
    return TryRecord(
        spec.name,
        index,
        ctx.seed,
        outcome.accepted,
        outcome.answer,
        outcome.detail,
        outcome.inconclusive,
        time.monotonic() - start,
    )


def _run_tries(
    h: Harness,
    jobs: Sequence[tuple[AttackSpec, int]],
    workers: int,
    seed: int,
    progress: Callable[[TryRecord], None] | None,
) -> list[TryRecord]:
    records: list[TryRecord] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_one_try, h, spec, index, seed) for spec, index in jobs]
        for future in as_completed(futures):
            record = future.result()
            records.append(record)
            if progress is not None:
                progress(record)
    return records


def run_attacks(
    h: Harness,
    names: Sequence[str],
    tries: int,
    *,
    seed: int = 0,
    concurrency: int = 2,
    progress: Callable[[TryRecord], None] | None = None,
) -> tuple[AttackResult, ...]:
    """Run ``tries`` of each named attack on an open harness. Tries of the ordinary
    attacks are interleaved, ``concurrency`` at a time; exclusive attacks run
    afterwards, one try at a time with nothing else in flight."""
    chosen = check_attacks(names)
    specs = [SPECS[n] for n in chosen]
    shared = [(s, i) for i in range(tries) for s in specs if not s.exclusive]
    records = _run_tries(h, shared, concurrency, seed, progress)
    for spec in specs:
        if spec.exclusive:
            jobs = [(spec, i) for i in range(tries)]
            records += _run_tries(h, jobs, 1, seed, progress)
    return tuple(
        AttackResult(
            spec.name,
            spec.claim,
            spec.control,
            tuple(sorted(r for r in records if r.attack == spec.name)),
            spec.residual,
        )
        for spec in specs
    )


def run_attack(
    h: Harness, name: str, tries: int, *, seed: int = 0, concurrency: int = 2
) -> AttackResult:
    """One attack (or the control) on an open harness."""
    (result,) = run_attacks(h, [name], tries, seed=seed, concurrency=concurrency)
    return result


def run_adversary(
    config: AdversaryConfig, progress: Callable[[TryRecord], None] | None = None
) -> AdversaryReport:
    """Check the server and key, run the chosen attacks (default: all, and the
    control), delete every user the run created, and report."""
    names = check_attacks(config.attacks)
    started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    start = time.monotonic()
    with Harness(config) as h:
        results = run_attacks(
            h,
            names,
            config.tries,
            seed=config.seed,
            concurrency=config.concurrency,
            progress=progress,
        )
        server = h.base
    return AdversaryReport(
        server=server,
        seed=config.seed,
        tries=config.tries,
        concurrency=config.concurrency,
        started_at=started,
        seconds=time.monotonic() - start,
        results=results,
    )


__all__ = [
    "ATTACKS",
    "CONTROL",
    "RESIDUALS",
    "SPECS",
    "AdversaryConfig",
    "AdversaryReport",
    "AttackResult",
    "Cast",
    "Harness",
    "TryRecord",
    "run_adversary",
    "run_attack",
    "run_attacks",
]
